/* The `dnssink` callout: a DNS sinkhole. A query over UDP to port 53 for
 * a listed name is absorbed and answered with a forged response from
 * the resolver's address: a sink address, or NXDOMAIN. Other names, and
 * everything that is not a well-formed single-question query of class
 * IN, are not its business (it answers "continue").
 *
 * Parameters (the plug-in's block in the policy):
 *   names=LIST     patterns separated by spaces or commas:
 *                    ads.example      that name only
 *                    *.ads.example    every name below it, not itself
 *                    .ads.example     the name and every name below it
 *                  matched without regard to case; a trailing dot is
 *                  allowed
 *   list=PATH      more patterns, one per line; '#' starts a comment
 *   answer=sink    (default) A queries get `a`, AAAA queries get `aaaa`,
 *                  other types an empty answer (NODATA)
 *   answer=nxdomain  every query gets NXDOMAIN
 *   a=ADDR         the IPv4 sink (default 0.0.0.0)
 *   aaaa=ADDR      the IPv6 sink (default ::)
 *   ttl=N          TTL of the sink record (default 60)
 * At least one of names and list must be given.
 *
 * The response goes to the client into the receive path when the query
 * came from a local socket (outbound), else into the send path (a query
 * forwarded through weir's host, or one to a resolver on it). A query
 * whose answer cannot be injected is blocked all the same: a listed name
 * never resolves. Its own responses, when classified again (`weir
 * replay`), are permitted: the injection-state check.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/craft.h>
#include <weir/inject.h>
#include <weir/plugin.h>

#include "dns.h"

#define MATCH_EXACT 0x1u   /* the name itself */
#define MATCH_BELOW 0x2u   /* names below it */

struct pattern {
	char *name;         /* normalised (dns_name_normalize), NULL = free */
	uint8_t match;      /* MATCH_* */
};

/* The listed names: an open-addressing hash set, built in init and only
 * read afterwards, so classify needs no lock. */
struct sink_state {
	struct weir_inject_handle *h;
	struct pattern *set;
	uint32_t cap;       /* power of two */
	uint32_t count;
	bool nxdomain;
	uint8_t a[4], aaaa[16];
	uint32_t ttl;
};

/* ---- the name set ---------------------------------------------------- */

static uint32_t name_hash(const char *s, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 16777619u;
	return h;
}

static struct pattern *slot_of(const struct sink_state *st, const char *s,
			       size_t n)
{
	uint32_t i = name_hash(s, n) & (st->cap - 1);

	for (;; i = (i + 1) & (st->cap - 1)) {
		struct pattern *p = &st->set[i];

		if (!p->name || (strlen(p->name) == n && !memcmp(p->name, s, n)))
			return p;
	}
}

static int grow(struct sink_state *st)
{
	struct sink_state big = *st;

	big.cap = st->cap ? st->cap * 2 : 64;
	big.set = calloc(big.cap, sizeof(*big.set));
	if (!big.set)
		return -ENOMEM;
	for (uint32_t i = 0; i < st->cap; i++) {
		struct pattern *p = &st->set[i];

		if (p->name)
			*slot_of(&big, p->name, strlen(p->name)) = *p;
	}
	free(st->set);
	st->set = big.set;
	st->cap = big.cap;
	return 0;
}

/* Adds one pattern as typed ("x", "*.x" or ".x"). */
static int add_pattern(struct sink_state *st, const char *text)
{
	char name[DNS_NAME_TEXT_MAX];
	uint8_t match = MATCH_EXACT;
	struct pattern *p;

	if (!strncmp(text, "*.", 2))
		text += 2, match = MATCH_BELOW;
	else if (text[0] == '.')
		text += 1, match = MATCH_EXACT | MATCH_BELOW;
	if (!text[0] || dns_name_normalize(text, name, sizeof(name)) < 0 ||
	    !name[0])
		return -EINVAL;
	if ((st->count + 1) * 2 > st->cap && grow(st) < 0)
		return -ENOMEM;
	p = slot_of(st, name, strlen(name));
	if (!p->name) {
		if (!(p->name = strdup(name)))
			return -ENOMEM;
		st->count++;
	}
	p->match |= match;
	return 0;
}

static uint8_t match_of(const struct sink_state *st, const char *s, size_t n)
{
	const struct pattern *p;

	if (!st->cap)
		return 0;
	p = slot_of(st, s, n);
	return p->name ? p->match : 0;
}

/* The name or one of the names above it is listed. */
static bool listed(const struct sink_state *st, const char *name, size_t n)
{
	if (match_of(st, name, n) & MATCH_EXACT)
		return true;
	for (size_t i = 0; i < n; i++)
		if (name[i] == '.' &&
		    (match_of(st, name + i + 1, n - i - 1) & MATCH_BELOW))
			return true;
	return false;
}

/* Adds every pattern of a list separated by spaces, tabs or commas. */
static int add_list(struct sink_state *st, char *list)
{
	char *save = NULL;

	for (char *w = strtok_r(list, " \t,\r\n", &save); w;
	     w = strtok_r(NULL, " \t,\r\n", &save)) {
		if (add_pattern(st, w) < 0) {
			fprintf(stderr, "dnssink: bad name pattern '%s'\n", w);
			return -EINVAL;
		}
	}
	return 0;
}

static int add_file(struct sink_state *st, const char *path)
{
	FILE *f = fopen(path, "re");
	char line[1024];
	int rc = 0;

	if (!f) {
		rc = -errno;
		fprintf(stderr, "dnssink: %s: %s\n", path, strerror(-rc));
		return rc;
	}
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "#")] = '\0';
		rc = add_list(st, line);
	}
	fclose(f);
	return rc;
}

/* ---- answering --------------------------------------------------------- */

static int direction_of(const struct weir_classify_in *in)
{
	if (in->pkt->meta.direction != WEIR_DIR_NONE)
		return in->pkt->meta.direction;
	switch (in->layer) {
	case WEIR_LAYER_OUTBOUND_IPPACKET_V4:
	case WEIR_LAYER_OUTBOUND_IPPACKET_V6:
	case WEIR_LAYER_OUTBOUND_TRANSPORT_V4:
	case WEIR_LAYER_OUTBOUND_TRANSPORT_V6:
	case WEIR_LAYER_ALE_CONNECT_V4:
	case WEIR_LAYER_ALE_CONNECT_V6:
		return WEIR_DIR_OUTBOUND;
	default:
		return WEIR_DIR_FORWARD;
	}
}

static void answer_of(const struct sink_state *st,
		      const struct dns_question *q, struct dns_answer *a)
{
	memset(a, 0, sizeof(*a));
	a->ttl = st->ttl;
	if (st->nxdomain) {
		a->rcode = DNS_RCODE_NXDOMAIN;
	} else if (q->qtype == DNS_TYPE_A) {
		a->type = DNS_TYPE_A;
		memcpy(a->rdata, st->a, 4);
	} else if (q->qtype == DNS_TYPE_AAAA) {
		a->type = DNS_TYPE_AAAA;
		memcpy(a->rdata, st->aaaa, 16);
	} /* else NODATA: NOERROR without records */
}

/* The response datagram: from the resolver's address and port to the
 * client's. */
static int forge(const struct sink_state *st, const struct weir_pkt *pkt,
		 const struct dns_question *q, struct weir_pkt **ret)
{
	const struct weir_pdesc *pd = &pkt->pd;
	struct weir_udp_spec spec = { .family = pd->family,
				      .sport = pd->dport, .dport = pd->sport };
	uint8_t msg[DNS_HDR_LEN + DNS_NAME_WIRE_MAX + 4 + 12 + 16];
	struct dns_answer a;
	int n;

	answer_of(st, q, &a);
	n = dns_build_answer(pkt->data + pd->payload_off, pd->payload_len, q,
			     &a, msg, sizeof(msg));
	if (n < 0)
		return n;
	memcpy(spec.src, pd->dst, sizeof(spec.src));
	memcpy(spec.dst, pd->src, sizeof(spec.dst));
	return weir_build_udp(&spec, msg, (uint32_t)n, ret);
}

static void answer_done(void *ctx, struct weir_nbl *nbl)
{
	(void)ctx; /* a lost answer: the client asks again, and is absorbed */
	weir_nbl_unref(nbl);
}

static int inject(struct sink_state *st, const struct weir_pkt *query,
		  struct weir_pkt *resp, int dir)
{
	struct weir_nbl *nbl = weir_nbl_new();
	uint32_t cpt = query->meta.compartment;
	int rc;

	if (!nbl) {
		weir_pkt_free(resp);
		return -ENOMEM;
	}
	weir_nbl_add(nbl, resp);
	/* A local socket asked: the answer must arrive, as from the
	 * interface the query was leaving by. */
	if (dir == WEIR_DIR_OUTBOUND)
		rc = weir_inject_network_receive(st->h, 0, 0, cpt,
						 query->meta.ifindex_out, nbl,
						 answer_done, NULL);
	else
		rc = weir_inject_network_send(st->h, 0, 0, cpt, nbl,
					      answer_done, NULL);
	if (rc < 0)
		weir_nbl_unref(nbl);
	return rc;
}

/* The packet's query, when it is a complete UDP query to port 53. */
static bool query_of(const struct weir_pkt *pkt, struct dns_question *q)
{
	const struct weir_pdesc *pd = &pkt->pd;

	if (!(pd->flags & WEIR_PD_L4) || pd->proto != IPPROTO_UDP ||
	    pd->dport != 53 || (pd->flags & (WEIR_PD_FRAG | WEIR_PD_TRUNCATED)))
		return false;
	if (dns_parse_query(pkt->data + pd->payload_off, pd->payload_len,
			    q) < 0)
		return false;
	return q->qclass == DNS_CLASS_IN;
}

static void sink_classify(void *priv, const struct weir_classify_in *in,
			  const struct weir_filter_view *filter,
			  uint64_t flow_ctx, struct weir_callout_out *out)
{
	struct sink_state *st = priv;
	struct dns_question q;
	struct weir_pkt *resp;
	int dir;

	(void)filter, (void)flow_ctx;
	if (!in->pkt)
		return;
	switch (weir_injection_state(st->h, in->pkt, NULL)) {
	case WEIR_INJECTED_BY_SELF:
	case WEIR_PREVIOUSLY_INJECTED_BY_SELF:
		out->action = WEIR_ACTION_PERMIT; /* our answer */
		return;
	default:
		break;
	}
	if (!query_of(in->pkt, &q) || !listed(st, q.name, q.name_len))
		return;
	out->action = WEIR_ACTION_BLOCK;
	out->rights &= (uint8_t)~WEIR_RIGHT_ACTION_WRITE;
	dir = direction_of(in);
	if (forge(st, in->pkt, &q, &resp) == 0 &&
	    inject(st, in->pkt, resp, dir) == 0)
		out->flags |= WEIR_CLASSIFY_ABSORB;
}

/* ---- set-up ----------------------------------------------------------- */

static int parse_addr(const char *params, const char *key, int family,
		      void *addr)
{
	char buf[64];

	if (weir_param_get(params, key, buf, sizeof(buf)) < 0)
		return 0; /* the default stays */
	return inet_pton(family, buf, addr) == 1 ? 0 : -EINVAL;
}

static int parse_answer(struct sink_state *st, const char *params)
{
	char buf[32];

	st->ttl = 60;
	if (weir_param_get(params, "ttl", buf, sizeof(buf)) == 0) {
		char *end;
		unsigned long v = strtoul(buf, &end, 10);

		if (*end || end == buf || v > 0x7fffffff)
			return -EINVAL; /* RFC 2181 8 */
		st->ttl = (uint32_t)v;
	}
	if (weir_param_get(params, "answer", buf, sizeof(buf)) == 0) {
		if (!strcmp(buf, "nxdomain"))
			st->nxdomain = true;
		else if (strcmp(buf, "sink"))
			return -EINVAL;
	}
	if (parse_addr(params, "a", AF_INET, st->a) < 0 ||
	    parse_addr(params, "aaaa", AF_INET6, st->aaaa) < 0)
		return -EINVAL;
	return 0;
}

/* Adds the patterns of parameter `key` (a list, or a file naming them);
 * 0 when the parameter is absent. */
static int add_param(struct sink_state *st, const char *params,
		     const char *key, bool file, bool *any)
{
	size_t len = 65536;
	char *buf = malloc(len);
	int rc;

	if (!buf)
		return -ENOMEM;
	rc = weir_param_get(params, key, buf, len);
	if (rc == 0) {
		*any = true;
		rc = file ? add_file(st, buf) : add_list(st, buf);
	} else if (rc == -ENOENT) {
		rc = 0;
	} else {
		fprintf(stderr, "dnssink: %s= longer than 64 KiB\n", key);
	}
	free(buf);
	return rc;
}

static int parse_names(struct sink_state *st, const char *params)
{
	bool any = false;
	int rc = add_param(st, params, "names", false, &any);

	if (rc == 0)
		rc = add_param(st, params, "list", true, &any);
	if (rc == 0 && !any) {
		fprintf(stderr, "dnssink: no names= or list= given\n");
		rc = -EINVAL;
	}
	return rc;
}

static void sink_free(struct sink_state *st)
{
	for (uint32_t i = 0; i < st->cap; i++)
		free(st->set[i].name);
	free(st->set);
	free(st);
}

static int sink_init(struct weir_engine *engine, const char *params,
		     void **ret_state)
{
	struct sink_state *st = calloc(1, sizeof(*st));
	int rc;

	if (!st)
		return -ENOMEM;
	rc = parse_answer(st, params);
	if (rc == 0)
		rc = parse_names(st, params);
	if (rc == 0)
		rc = weir_inject_handle_create(engine, AF_UNSPEC,
					       WEIR_INJECT_NETWORK, &st->h);
	if (rc == 0)
		rc = weir_callout_register(engine, &(struct weir_callout){
			.name = "dnssink", .classify = sink_classify,
			.priv = st });
	if (rc < 0) {
		weir_inject_handle_destroy(st->h);
		sink_free(st);
		return rc;
	}
	*ret_state = st;
	return 0;
}

static void sink_fini(struct weir_engine *engine, void *state)
{
	struct sink_state *st = state;

	/* Nothing injects after the unregister; the answers in flight do
	 * not touch st (see tcpreset.c about -EDEADLK). */
	weir_callout_unregister(engine, "dnssink");
	weir_inject_handle_destroy(st->h);
	sink_free(st);
}

const struct weir_plugin_ops *weir_plugin_entry(void);

const struct weir_plugin_ops *weir_plugin_entry(void)
{
	static const struct weir_plugin_ops ops = {
		.abi = WEIR_PLUGIN_ABI,
		.name = "dnssink",
		.description = "answers DNS queries for listed names with a "
			       "sink address or NXDOMAIN",
		.init = sink_init,
		.fini = sink_fini,
	};

	return &ops;
}
