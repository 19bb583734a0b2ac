/* The application tier's statements: protocol definitions, explicit
 * listeners, data- and session-filter bindings, interception.
 *
 *   "protocol" NAME ("tcp" | "udp") PORT { "," PORT } ";"
 *   "listen" NAME [ "tcp" | "udp" ] ADDRPORT "to" ADDRPORT
 *            [ "protocol" NAME ] ";"
 *   "datafilter" NAME [ "on" NAME { "," NAME } ] [ "priority" N ]
 *                [ PARAMS ] [ ";" ]
 *   "sessionfilter" NAME [ "on" NAME { "," NAME } ] [ PARAMS ] [ ";" ]
 *   "intercept" NAME { "," NAME } ";"      (TCP or UDP protocols)
 *
 * ADDRPORT is "1.2.3.4:80" or "[fd00::1]:80" (a string; the IPv4 form may
 * also be a bare word). A protocol is declared before a listener or data
 * filter names it, as a sublayer before its filters.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_internal.h"

#define APP_NAME_MAX 63
#define PORTS_MAX 64
#define ON_MAX 16

static const struct weir_policy_protocol *
find_proto(const struct weir_policy *pol, const char *name)
{
	for (uint32_t i = 0; i < pol->nproto; i++)
		if (!strcmp(pol->protos[i].name, name))
			return &pol->protos[i];
	return NULL;
}

/* Grows *v (n used, *cap room) by one element, in the policy arena. */
static void *push(struct weir_policy *pol, void **v, uint32_t *n,
		  uint32_t *cap, size_t elem)
{
	if (*n == *cap) {
		uint32_t nc = *cap ? *cap * 2 : 4;
		void *g = weir__grow(&pol->arena, *v, *n, nc, elem);

		if (!g)
			return NULL;
		*v = g;
		*cap = nc;
	}
	return (char *)*v + (size_t)(*n)++ * elem;
}

static int parse_port(struct weir__parser *p, uint16_t *ret)
{
	struct weir__tok t = weir__next(&p->lx);
	uint64_t v;

	if (t.kind != TK_WORD || weir__parse_u64(t.p, t.loc.len, &v) < 0 ||
	    v < 1 || v > 65535)
		return weir__error(p->src, t.loc, "a port is a number from 1 "
				   "to 65535");
	*ret = (uint16_t)v;
	return 0;
}

int weir__parse_protocol(struct weir__parser *p)
{
	struct weir_policy *pol = p->pol;
	uint16_t ports[PORTS_MAX];
	const struct weir_policy_protocol *old;
	struct weir_policy_protocol *pr;
	struct weir__loc loc;
	const char *name;
	uint16_t *copy;
	uint32_t n = 0;
	int tr;

	if (weir__parse_name(p, "protocol name", APP_NAME_MAX, true, &name,
			     &loc) < 0)
		return -EINVAL;
	if ((old = find_proto(pol, name)))
		return weir__error(p->src, loc, "protocol %s already defined "
				   "at line %u", name, old->line);
	if (weir__accept(&p->lx, "tcp"))
		tr = IPPROTO_TCP;
	else if (weir__accept(&p->lx, "udp"))
		tr = IPPROTO_UDP;
	else
		return weir__expected(&p->lx, weir__peek(&p->lx, 0),
				      "tcp or udp");
	do {
		const struct weir__tok *t = weir__peek(&p->lx, 0);

		if (n == PORTS_MAX)
			return weir__error(p->src, t->loc, "at most %d ports "
					   "per protocol", PORTS_MAX);
		if (parse_port(p, &ports[n++]) < 0)
			return -EINVAL;
	} while (weir__accept(&p->lx, ","));
	pr = push(pol, (void **)&pol->protos, &pol->nproto, &pol->capproto,
		  sizeof(*pr));
	if (!pr)
		return weir__oom(p->src, loc);
	*pr = (struct weir_policy_protocol){
		.name = weir__strndup(&pol->arena, name, strlen(name)),
		.transport = tr, .nports = n, .line = loc.line };
	copy = weir__grow(&pol->arena, NULL, 0, n, sizeof(uint16_t));
	if (!pr->name || !copy)
		return weir__oom(p->src, loc);
	memcpy(copy, ports, n * sizeof(uint16_t));
	pr->ports = copy;
	return weir__expect(&p->lx, ";");
}

/* "1.2.3.4:80" or "[v6]:80" into a sockaddr. 0 or -EINVAL. */
static int addrport(const char *s, size_t n, struct sockaddr_storage *ss,
		    socklen_t *len)
{
	char host[64];
	const char *colon, *hs = s, *he;
	char *end;
	unsigned long port;

	if (n == 0 || n >= 80)
		return -EINVAL;
	if (s[0] == '[') {
		he = memchr(s, ']', n);
		if (!he || he + 1 >= s + n || he[1] != ':')
			return -EINVAL;
		hs = s + 1;
		colon = he + 1;
	} else {
		colon = memrchr(s, ':', n);
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL;
		he = colon;
	}
	if ((size_t)(he - hs) >= sizeof(host) || colon + 1 >= s + n)
		return -EINVAL;
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	{
		char pbuf[8];
		size_t pl = (size_t)(s + n - colon - 1);

		if (pl >= sizeof(pbuf))
			return -EINVAL;
		memcpy(pbuf, colon + 1, pl);
		pbuf[pl] = '\0';
		port = strtoul(pbuf, &end, 10);
		if (*end || !pl || port < 1 || port > 65535)
			return -EINVAL;
	}
	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a);
		return inet_pton(AF_INET6, host, &a->sin6_addr) == 1 ? 0
								    : -EINVAL;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

	a4->sin_family = AF_INET;
	a4->sin_port = htons((uint16_t)port);
	*len = sizeof(*a4);
	return inet_pton(AF_INET, host, &a4->sin_addr) == 1 ? 0 : -EINVAL;
}

static int parse_addrport(struct weir__parser *p,
			  struct sockaddr_storage *ss, socklen_t *len)
{
	struct weir__tok t = weir__next(&p->lx);
	const char *s = t.kind == TK_STRING ? (const char *)t.str : t.p;
	size_t n = t.kind == TK_STRING ? t.slen : t.loc.len;

	if ((t.kind != TK_STRING && t.kind != TK_WORD) || !s ||
	    addrport(s, n, ss, len) < 0)
		return weir__error(p->src, t.loc, "an address and port is "
				   "\"1.2.3.4:80\" or \"[fd00::1]:80\"");
	return 0;
}

static const char *proto_ref(struct weir__parser *p)
{
	const struct weir_policy_protocol *pr;
	struct weir__loc loc;
	const char *name;

	if (weir__parse_name(p, "protocol name", APP_NAME_MAX, true, &name,
			     &loc) < 0)
		return NULL;
	pr = find_proto(p->pol, name);
	if (!pr) {
		weir__error(p->src, loc, "no protocol %s (define it first "
			    "with `protocol %s tcp PORT;`)", name, name);
		return NULL;
	}
	return pr->name;
}

int weir__parse_listen(struct weir__parser *p)
{
	struct weir_policy *pol = p->pol;
	struct weir_policy_listener l = { 0 }, *slot;
	struct weir__loc loc;
	const char *name;

	if (weir__parse_name(p, "listener name", APP_NAME_MAX, true, &name,
			     &loc) < 0)
		return -EINVAL;
	for (uint32_t i = 0; i < pol->nlsn; i++)
		if (!strcmp(pol->lsns[i].name, name))
			return weir__error(p->src, loc, "listener %s already "
					   "defined at line %u", name,
					   pol->lsns[i].line);
	l.transport = weir__accept(&p->lx, "udp") ? IPPROTO_UDP : IPPROTO_TCP;
	if (l.transport == IPPROTO_TCP)
		weir__accept(&p->lx, "tcp");
	if (parse_addrport(p, &l.listen, &l.listen_len) < 0 ||
	    weir__expect(&p->lx, "to") < 0 ||
	    parse_addrport(p, &l.upstream, &l.upstream_len) < 0)
		return -EINVAL;
	if (weir__accept(&p->lx, "protocol")) {
		const struct weir__tok *t = weir__peek(&p->lx, 0);
		struct weir__loc ploc = t->loc;

		if (!(l.protocol = proto_ref(p)))
			return -EINVAL;
		if (find_proto(pol, l.protocol)->transport != l.transport)
			return weir__error(p->src, ploc, "protocol %s is not "
					   "%s, as this listener", l.protocol,
					   l.transport == IPPROTO_UDP ? "UDP"
								      : "TCP");
	}
	l.line = loc.line;
	l.name = weir__strndup(&pol->arena, name, strlen(name));
	slot = push(pol, (void **)&pol->lsns, &pol->nlsn, &pol->caplsn,
		    sizeof(*slot));
	if (!slot || !l.name)
		return weir__oom(p->src, loc);
	*slot = l;
	return weir__expect(&p->lx, ";");
}

static int parse_on(struct weir__parser *p, struct weir_policy_datafilter *d)
{
	const char *on[ON_MAX];
	const char **copy;
	uint32_t n = 0;

	do {
		const struct weir__tok *t = weir__peek(&p->lx, 0);

		if (n == ON_MAX)
			return weir__error(p->src, t->loc, "at most %d "
					   "protocols per binding", ON_MAX);
		if (!(on[n++] = proto_ref(p)))
			return -EINVAL;
	} while (weir__accept(&p->lx, ","));
	copy = weir__grow(&p->pol->arena, NULL, 0, n, sizeof(*on));
	if (!copy)
		return -ENOMEM;
	memcpy(copy, on, n * sizeof(*on));
	d->protocols = copy;
	d->nprotocols = n;
	return 0;
}

static int parse_priority(struct weir__parser *p, uint32_t *ret)
{
	struct weir__tok t = weir__next(&p->lx);
	uint64_t v;

	if (t.kind != TK_WORD || weir__parse_u64(t.p, t.loc.len, &v) < 0 ||
	    v > 1000)
		return weir__error(p->src, t.loc, "a priority class is a "
				   "number from 0 to 1000");
	*ret = (uint32_t)v;
	return 0;
}

/* `datafilter` and `sessionfilter` after their keyword: the same shape,
 * but session filters run in policy order (no class: the data filters
 * they attach carry one). */
static int parse_binding(struct weir__parser *p, bool session)
{
	struct weir_policy *pol = p->pol;
	struct weir_policy_datafilter d = { .priority = 100, .params = "" };
	struct weir_policy_datafilter *slot;
	const struct weir__tok *t;
	struct weir__loc loc;
	const char *name;

	if (weir__parse_name(p, session ? "session filter name"
					: "data filter name",
			     APP_NAME_MAX, true, &name, &loc) < 0)
		return -EINVAL;
	if (weir__accept(&p->lx, "on") && parse_on(p, &d) < 0)
		return -EINVAL;
	t = weir__peek(&p->lx, 0);
	if (session && weir__tok_is(t, "priority"))
		return weir__error(p->src, t->loc, "session filters run in "
				   "policy order; the data filters they attach "
				   "have a priority class");
	if (weir__accept(&p->lx, "priority") &&
	    parse_priority(p, &d.priority) < 0)
		return -EINVAL;
	d.line = loc.line;
	d.name = weir__strndup(&pol->arena, name, strlen(name));
	if (weir__tok_is(weir__peek(&p->lx, 0), "{") &&
	    weir__parse_params(p, &d.params) < 0)
		return -EINVAL;
	slot = session ? push(pol, (void **)&pol->sfs, &pol->nsf, &pol->capsf,
			      sizeof(*slot))
		       : push(pol, (void **)&pol->dfs, &pol->ndf, &pol->capdf,
			      sizeof(*slot));
	if (!slot || !d.name)
		return weir__oom(p->src, loc);
	*slot = d;
	/* After a parameter block the ';' is optional, as for plug-ins. */
	if (d.params[0] || weir__tok_is(weir__peek(&p->lx, 0), ";"))
		return weir__accept(&p->lx, ";"), 0;
	return weir__expect(&p->lx, ";");
}

int weir__parse_datafilter(struct weir__parser *p)
{
	return parse_binding(p, false);
}

int weir__parse_sessionfilter(struct weir__parser *p)
{
	return parse_binding(p, true);
}

/* One intercepted protocol; a repeat is merged. */
static int intercept_one(struct weir__parser *p)
{
	struct weir_policy *pol = p->pol;
	const struct weir__tok *t = weir__peek(&p->lx, 0);
	struct weir__loc loc = t->loc;
	const char *name = proto_ref(p);
	uint32_t idx, *slot;

	if (!name)
		return -EINVAL;
	idx = (uint32_t)(find_proto(pol, name) - pol->protos);
	for (uint32_t i = 0; i < pol->nicpt; i++)
		if (pol->icpt[i] == idx)
			return 0;
	slot = push(pol, (void **)&pol->icpt, &pol->nicpt, &pol->capicpt,
		    sizeof(*slot));
	if (!slot)
		return weir__oom(p->src, loc);
	*slot = idx;
	return 0;
}

int weir__parse_intercept(struct weir__parser *p)
{
	do {
		if (intercept_one(p) < 0)
			return -EINVAL;
	} while (weir__accept(&p->lx, ","));
	return weir__expect(&p->lx, ";");
}

size_t weir_policy_intercept_count(const struct weir_policy *pol)
{
	return pol ? pol->nicpt : 0;
}

const struct weir_policy_protocol *
weir_policy_intercept_at(const struct weir_policy *pol, size_t i)
{
	return pol && i < pol->nicpt ? &pol->protos[pol->icpt[i]] : NULL;
}

size_t weir_policy_protocol_count(const struct weir_policy *pol)
{
	return pol ? pol->nproto : 0;
}

const struct weir_policy_protocol *
weir_policy_protocol_at(const struct weir_policy *pol, size_t i)
{
	return pol && i < pol->nproto ? &pol->protos[i] : NULL;
}

size_t weir_policy_listener_count(const struct weir_policy *pol)
{
	return pol ? pol->nlsn : 0;
}

const struct weir_policy_listener *
weir_policy_listener_at(const struct weir_policy *pol, size_t i)
{
	return pol && i < pol->nlsn ? &pol->lsns[i] : NULL;
}

size_t weir_policy_datafilter_count(const struct weir_policy *pol)
{
	return pol ? pol->ndf : 0;
}

const struct weir_policy_datafilter *
weir_policy_datafilter_at(const struct weir_policy *pol, size_t i)
{
	return pol && i < pol->ndf ? &pol->dfs[i] : NULL;
}

size_t weir_policy_sessionfilter_count(const struct weir_policy *pol)
{
	return pol ? pol->nsf : 0;
}

const struct weir_policy_datafilter *
weir_policy_sessionfilter_at(const struct weir_policy *pol, size_t i)
{
	return pol && i < pol->nsf ? &pol->sfs[i] : NULL;
}
