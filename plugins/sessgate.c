/* The `sessgate` session filter: admission control for proxied sessions,
 * and the reference for writing session filters (proxy.h).
 *
 * Each `sessionfilter sessgate [on P, ...] { ... }` binding configures:
 *   deny_client = PREFIX, ...   refuse sessions from these clients (ACCEPT)
 *   deny_dest = PREFIX, ...     refuse these destinations (TCP CONNECT,
 *                               UDP_DEST: the association then drops its
 *                               datagrams until idle)
 *   max_per_client = N          at most N sessions of this binding at
 *                               once per client address (counted until
 *                               TERMINATE)
 *   redirect = ADDR:PORT        send the sessions there instead
 *   attach = NAME[@CLASS], ...  run these data filters for the sessions
 *                               (class default 100)
 * PREFIX is 10.0.0.0/8, fd00::/8 or a plain address. The plug-in's own
 * parameters: log = PATH (or stderr): one JSON line per verdict and per
 * ended session (with its bytes and why it ended).
 *
 * A binding's text is parsed once, on first use, and kept by its content
 * (a reload brings new policy strings, maybe at a freed one's address).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/plugin.h>
#include <weir/proxy.h>

#define PREFIXES_MAX 32
#define ATTACH_MAX 4
#define CLIENTS_BUCKETS 1024

struct prefix {
	int family;
	uint8_t addr[16];
	unsigned bits;
};

struct conf {
	char *key;                      /* the binding's params (a copy) */
	struct prefix deny_client[PREFIXES_MAX], deny_dest[PREFIXES_MAX];
	unsigned ndeny_client, ndeny_dest;
	unsigned max_per_client;        /* 0: no limit */
	struct sockaddr_storage redirect;
	socklen_t redirect_len;         /* 0: none */
	char attach[ATTACH_MAX][64];
	unsigned attach_class[ATTACH_MAX], nattach;
	const char *error;              /* a bad binding refuses sessions */
	struct conf *next;
};

/* Sessions per client address and binding (max_per_client counts the
 * sessions of its own binding only). */
struct client {
	const struct conf *conf;
	uint8_t addr[16];
	int family;
	unsigned n;
	struct client *next;
};

struct gate {
	pthread_mutex_t lock;           /* workers share confs and clients */
	struct conf *confs;
	struct client *clients[CLIENTS_BUCKETS];
	FILE *log;
};

/* Per (session, binding): what TERMINATE must undo. */
struct sess {
	struct client *counted;         /* NULL: not counted */
};

/* ---- addresses ----------------------------------------------------------- */

static const uint8_t *addr_bytes(const struct sockaddr *sa, int *family)
{
	*family = sa->sa_family;
	if (sa->sa_family == AF_INET)
		return (const uint8_t *)&((const struct sockaddr_in *)sa)
			->sin_addr;
	if (sa->sa_family == AF_INET6)
		return ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	return NULL;
}

static bool in_prefix(const struct prefix *p, int family, const uint8_t *a)
{
	unsigned full = p->bits / 8, rest = p->bits % 8;

	if (family != p->family || memcmp(p->addr, a, full))
		return false;
	return !rest || !((p->addr[full] ^ a[full]) & (0xff00u >> rest));
}

static bool matches(const struct prefix *v, unsigned n,
		    const struct sockaddr *sa)
{
	int family;
	const uint8_t *a = sa ? addr_bytes(sa, &family) : NULL;

	for (unsigned i = 0; a && i < n; i++)
		if (in_prefix(&v[i], family, a))
			return true;
	return false;
}

/* ---- the binding's parameters -------------------------------------------- */

static int parse_prefix(char *s, struct prefix *p)
{
	char *slash = strchr(s, '/');
	unsigned max;

	if (slash)
		*slash = '\0';
	p->family = strchr(s, ':') ? AF_INET6 : AF_INET;
	max = p->family == AF_INET6 ? 128 : 32;
	if (inet_pton(p->family, s, p->addr) != 1)
		return -EINVAL;
	p->bits = max;
	if (slash) {
		char *end;
		unsigned long b = strtoul(slash + 1, &end, 10);

		if (*end || end == slash + 1 || b > max)
			return -EINVAL;
		p->bits = (unsigned)b;
	}
	return 0;
}

/* Splits a comma list in place; calls fn on each trimmed item. */
static int each_item(char *list, int (*fn)(char *item, void *arg), void *arg)
{
	for (char *save = NULL, *t = strtok_r(list, ",", &save); t;
	     t = strtok_r(NULL, ",", &save)) {
		char *e;

		while (*t == ' ')
			t++;
		e = t + strlen(t);
		while (e > t && e[-1] == ' ')
			*--e = '\0';
		if (*t && fn(t, arg) < 0)
			return -EINVAL;
	}
	return 0;
}

struct plist {
	struct prefix *v;
	unsigned *n;
};

static int add_prefix(char *item, void *arg)
{
	struct plist *l = arg;

	if (*l->n == PREFIXES_MAX || parse_prefix(item, &l->v[*l->n]) < 0)
		return -EINVAL;
	(*l->n)++;
	return 0;
}

static int add_attach(char *item, void *arg)
{
	struct conf *c = arg;
	char *at = strchr(item, '@');
	unsigned long cls = 100;

	if (c->nattach == ATTACH_MAX)
		return -EINVAL;
	if (at) {
		char *end;

		*at = '\0';
		cls = strtoul(at + 1, &end, 10);
		if (*end || end == at + 1 || cls > 1000)
			return -EINVAL;
	}
	if (strlen(item) >= sizeof(c->attach[0]))
		return -EINVAL;
	strcpy(c->attach[c->nattach], item);
	c->attach_class[c->nattach++] = (unsigned)cls;
	return 0;
}

static int parse_addrport(const char *s, struct sockaddr_storage *ss,
			  socklen_t *len)
{
	char host[64];
	const char *colon = strrchr(s, ':');
	char *end;
	unsigned long port;
	size_t hl;

	if (!colon)
		return -EINVAL;
	port = strtoul(colon + 1, &end, 10);
	hl = (size_t)(colon - s);
	if (*end || !port || port > 65535 || hl + 1 > sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;

		host[hl - 1] = '\0';
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*a6);
		return inet_pton(AF_INET6, host + 1, &a6->sin6_addr) == 1
			       ? 0 : -EINVAL;
	}
	((struct sockaddr_in *)ss)->sin_family = AF_INET;
	((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
	*len = sizeof(struct sockaddr_in);
	return inet_pton(AF_INET, host, &((struct sockaddr_in *)ss)->sin_addr)
		       == 1 ? 0 : -EINVAL;
}

static void parse_conf(struct conf *c, const char *params)
{
	char v[1024];
	struct plist dc = { c->deny_client, &c->ndeny_client };
	struct plist dd = { c->deny_dest, &c->ndeny_dest };

	if (!weir_param_get(params, "deny_client", v, sizeof(v)) &&
	    each_item(v, add_prefix, &dc) < 0)
		c->error = "bad deny_client";
	if (!weir_param_get(params, "deny_dest", v, sizeof(v)) &&
	    each_item(v, add_prefix, &dd) < 0)
		c->error = "bad deny_dest";
	if (!weir_param_get(params, "attach", v, sizeof(v)) &&
	    each_item(v, add_attach, c) < 0)
		c->error = "bad attach";
	if (!weir_param_get(params, "redirect", v, sizeof(v)) &&
	    parse_addrport(v, &c->redirect, &c->redirect_len) < 0)
		c->error = "bad redirect";
	if (!weir_param_get(params, "max_per_client", v, sizeof(v))) {
		char *end;
		unsigned long n = strtoul(v, &end, 10);

		if (*end || end == v || !n || n > 1000000)
			c->error = "bad max_per_client";
		c->max_per_client = (unsigned)n;
	}
}

static struct conf *new_conf(struct gate *g, const char *params)
{
	struct conf *c = calloc(1, sizeof(*c));

	if (c && !(c->key = strdup(params))) {
		free(c);
		return NULL;
	}
	if (c) {
		parse_conf(c, params);
		c->next = g->confs;
		g->confs = c;
	}
	return c;
}

/* The parsed binding (made on first use), or NULL without memory. */
static struct conf *conf_of(struct gate *g, const char *params)
{
	struct conf *c;

	pthread_mutex_lock(&g->lock);
	for (c = g->confs; c && strcmp(c->key, params); c = c->next)
		;
	if (!c)
		c = new_conf(g, params);
	pthread_mutex_unlock(&g->lock);
	return c;
}

/* ---- sessions per client ------------------------------------------------- */

static unsigned hash(const struct conf *conf, int family, const uint8_t *a)
{
	unsigned h = 2166136261u ^ (unsigned)((uintptr_t)conf >> 4);

	for (int i = 0; i < (family == AF_INET6 ? 16 : 4); i++)
		h = (h ^ a[i]) * 16777619u;
	return h % CLIENTS_BUCKETS;
}

/* Counts one more session of the client under c, unless it has c's
 * maximum. */
static struct client *client_take(struct gate *g, const struct conf *conf,
				  const struct sockaddr *sa)
{
	unsigned max = conf->max_per_client;
	int family;
	const uint8_t *a = addr_bytes(sa, &family);
	size_t alen = family == AF_INET6 ? 16 : 4;
	struct client **pp, *c;

	if (!a)
		return NULL;
	pthread_mutex_lock(&g->lock);
	pp = &g->clients[hash(conf, family, a)];
	for (c = *pp; c; c = c->next)
		if (c->conf == conf && c->family == family &&
		    !memcmp(c->addr, a, alen))
			break;
	if (!c && (c = calloc(1, sizeof(*c)))) {
		c->conf = conf;
		c->family = family;
		memcpy(c->addr, a, alen);
		c->next = *pp;
		*pp = c;
	}
	if (c && c->n >= max)
		c = NULL;
	else if (c)
		c->n++;
	pthread_mutex_unlock(&g->lock);
	return c;
}

/* One session of the client over; the entry goes with its last. */
static void client_put(struct gate *g, struct client *c)
{
	pthread_mutex_lock(&g->lock);
	if (--c->n == 0) {
		struct client **pp =
			&g->clients[hash(c->conf, c->family, c->addr)];

		while (*pp != c)
			pp = &(*pp)->next;
		*pp = c->next;
		free(c);
	}
	pthread_mutex_unlock(&g->lock);
}

/* ---- events -------------------------------------------------------------- */

static const char *event_name(enum weir_session_event k)
{
	switch (k) {
	case WEIR_SESSION_ACCEPT: return "accept";
	case WEIR_SESSION_CONNECT: return "connect";
	case WEIR_SESSION_UDP_DEST: return "udp_dest";
	case WEIR_SESSION_TERMINATE: return "terminate";
	}
	return "?";
}

static void log_event(struct gate *g, struct weir_session *s,
		      const struct weir_session_event_info *ev,
		      const char *verdict, const char *why)
{
	const struct weir_session_info *si = weir_session_info(s);

	char text[200];

	if (!g->log)
		return;
	/* A reason may be a data filter's text: escaped. */
	weir_json_escape(ev->kind == WEIR_SESSION_TERMINATE ? ev->reason
							     : si->protocol,
			 text, sizeof(text));
	pthread_mutex_lock(&g->lock);
	if (ev->kind == WEIR_SESSION_TERMINATE)
		fprintf(g->log, "{\"session\":%llu,\"event\":\"terminate\","
			"\"bytes_up\":%llu,\"bytes_down\":%llu,\"error\":%d,"
			"\"reason\":\"%s\"}\n",
			(unsigned long long)si->id,
			(unsigned long long)ev->bytes_up,
			(unsigned long long)ev->bytes_down, ev->error, text);
	else
		fprintf(g->log, "{\"session\":%llu,\"event\":\"%s\","
			"\"protocol\":\"%s\",\"verdict\":\"%s\",\"why\":\"%s\"}\n",
			(unsigned long long)si->id, event_name(ev->kind), text,
			verdict, why);
	fflush(g->log);
	pthread_mutex_unlock(&g->lock);
}

static enum weir_session_verdict on_accept(struct gate *g, struct conf *c,
					   struct weir_session *s,
					   struct sess *ss, const char **why)
{
	const struct weir_session_info *si = weir_session_info(s);
	const struct sockaddr *client = (const struct sockaddr *)&si->client;

	if (matches(c->deny_client, c->ndeny_client, client))
		return *why = "client denied", WEIR_SESSION_DENY;
	if (c->max_per_client &&
	    !(ss->counted = client_take(g, c, client)))
		return *why = "too many sessions", WEIR_SESSION_DENY;
	if (c->redirect_len &&
	    weir_session_set_upstream(s, (struct sockaddr *)&c->redirect,
				      c->redirect_len) < 0)
		return *why = "redirect refused", WEIR_SESSION_KILL;
	for (unsigned i = 0; i < c->nattach; i++)
		if (weir_session_attach(s, c->attach[i], c->attach_class[i],
					NULL) < 0)
			return *why = "attach failed", WEIR_SESSION_KILL;
	return WEIR_SESSION_CONTINUE;
}

static enum weir_session_verdict event(void *priv, struct weir_session *s,
				       const struct weir_session_event_info *ev,
				       const char *params, void **ctx)
{
	struct gate *g = priv;
	struct sess *ss = *ctx;
	struct conf *c;
	enum weir_session_verdict v = WEIR_SESSION_CONTINUE;
	const char *why = "";

	if (ev->kind == WEIR_SESSION_TERMINATE) {
		if (ss && ss->counted)
			client_put(g, ss->counted);
		free(ss);
		*ctx = NULL;
		log_event(g, s, ev, "", "");
		return v;
	}
	c = conf_of(g, params);
	if (!ss && !(ss = *ctx = calloc(1, sizeof(*ss))))
		return WEIR_SESSION_KILL;
	if (!c || c->error)
		v = WEIR_SESSION_KILL, why = c ? c->error : "out of memory";
	else if (ev->kind == WEIR_SESSION_ACCEPT)
		v = on_accept(g, c, s, ss, &why);
	else if (matches(c->deny_dest, c->ndeny_dest, ev->addr))
		v = WEIR_SESSION_DENY, why = "destination denied";
	log_event(g, s, ev, v == WEIR_SESSION_CONTINUE ? "continue"
			    : v == WEIR_SESSION_DENY ? "deny" : "kill", why);
	return v;
}

/* ---- the plug-in --------------------------------------------------------- */

static void free_gate(struct gate *g)
{
	while (g->confs) {
		struct conf *c = g->confs;

		g->confs = c->next;
		free(c->key);
		free(c);
	}
	for (unsigned i = 0; i < CLIENTS_BUCKETS; i++)
		while (g->clients[i]) {
			struct client *c = g->clients[i];

			g->clients[i] = c->next;
			free(c);
		}
	if (g->log)
		weir_param_close(g->log, stderr);
	pthread_mutex_destroy(&g->lock);
	free(g);
}

static int init(struct weir_engine *e, const char *params, void **ret)
{
	struct gate *g = calloc(1, sizeof(*g));
	struct weir_sessionfilter sf = { .name = "sessgate", .event = event };
	char path[512];
	int rc = 0;

	if (!g)
		return -ENOMEM;
	pthread_mutex_init(&g->lock, NULL);
	if (weir_param_get(params, "log", path, sizeof(path)) == 0)
		rc = !strcmp(path, "stderr")
			? (g->log = stderr, 0)
			: weir_param_open(params, "log", stderr, &g->log);
	if (!rc) {
		sf.priv = g;
		rc = weir_sessionfilter_register(e, &sf);
	}
	if (rc < 0) {
		free_gate(g);
		return rc;
	}
	*ret = g;
	return 0;
}

static void fini(struct weir_engine *e, void *state)
{
	weir_sessionfilter_unregister(e, "sessgate");
	free_gate(state);
}

const struct weir_plugin_ops *weir_plugin_entry(void);
const struct weir_plugin_ops *weir_plugin_entry(void)
{
	static const struct weir_plugin_ops ops = {
		.abi = WEIR_PLUGIN_ABI, .name = "sessgate",
		.description = "session filter: admission control, "
			       "redirect, per-session data filters",
		.init = init, .fini = fini };
	return &ops;
}
