/* The `portscan` callout: blocks a source that touches more than N
 * distinct destination ports within T seconds, for B seconds.
 *
 * Parameters: ports=N (default 20), window=T (seconds, default 10),
 * block=B (seconds, default 60), sources=S (table size, default 65536).
 * Time comes from the packet's capture timestamp when it has one (so
 * offline replay is deterministic), else from the real-time clock.
 *
 * State is a fixed-size table of sources; when a probe run of 8 slots is
 * full, the least recently seen source there is forgotten.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <weir/plugin.h>

#define PROBE 8
#define MAX_PORTS 256

struct source {
	uint8_t addr[16];
	uint8_t used;
	uint16_t nports;
	uint64_t window_start;
	uint64_t last_seen;
	uint64_t blocked_until;
	uint16_t ports[MAX_PORTS];
};

struct scan_state {
	pthread_mutex_t lock;
	uint32_t threshold;
	uint64_t window_ns, block_ns;
	uint32_t nsrc;               /* power of two */
	struct source *src;
};

static uint64_t now_of(const struct weir_classify_in *in)
{
	struct timespec ts;

	if (in->pkt && in->pkt->meta.timestamp_ns)
		return in->pkt->meta.timestamp_ns;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t addr_hash(const uint8_t *a)
{
	uint64_t w[2];

	memcpy(w, a, 16);
	return (uint32_t)(((w[0] * 0x9e3779b97f4a7c15ull) ^ w[1]) *
			  0xc2b2ae3d27d4eb4full >> 32);
}

/* The source's slot, claimed (or the stalest in its run taken over). */
static struct source *find(struct scan_state *st, const uint8_t *a)
{
	uint32_t h = addr_hash(a), mask = st->nsrc - 1;
	struct source *victim = NULL;

	for (uint32_t i = 0; i < PROBE; i++) {
		struct source *s = &st->src[(h + i) & mask];

		if (s->used && !memcmp(s->addr, a, 16))
			return s;
		if (!victim || !s->used ||
		    (victim->used && s->last_seen < victim->last_seen))
			victim = s;
	}
	memset(victim, 0, sizeof(*victim));
	memcpy(victim->addr, a, 16);
	victim->used = 1;
	return victim;
}

/* Records the port; true when the source just crossed the threshold. */
static bool record(struct scan_state *st, struct source *s, uint16_t port,
		   uint64_t now)
{
	if (now - s->window_start > st->window_ns) {
		s->window_start = now;
		s->nports = 0;
	}
	for (uint16_t i = 0; i < s->nports; i++)
		if (s->ports[i] == port)
			return false;
	if (s->nports < MAX_PORTS)
		s->ports[s->nports++] = port;
	return s->nports > st->threshold;
}

static void scan_classify(void *priv, const struct weir_classify_in *in,
			  const struct weir_filter_view *filter,
			  uint64_t flow_ctx, struct weir_callout_out *out)
{
	struct scan_state *st = priv;
	const struct weir_fields *f = in->fields;
	uint64_t now = now_of(in);
	struct source *s;

	(void)filter, (void)flow_ctx;
	if (!(f->present & (1ull << WEIR_FIELD_DST_PORT)))
		return;
	pthread_mutex_lock(&st->lock);
	s = find(st, f->src);
	s->last_seen = now;
	if (now >= s->blocked_until &&
	    record(st, s, (uint16_t)f->num[WEIR_FIELD_DST_PORT], now))
		s->blocked_until = now + st->block_ns;
	if (now < s->blocked_until)
		out->action = WEIR_ACTION_BLOCK;
	pthread_mutex_unlock(&st->lock);
}

static uint64_t param_u64(const char *params, const char *key, uint64_t def)
{
	char buf[32];

	if (weir_param_get(params, key, buf, sizeof(buf)) < 0)
		return def;
	return strtoull(buf, NULL, 10);
}

static int scan_init(struct weir_engine *engine, const char *params,
		     void **ret_state)
{
	struct scan_state *st = calloc(1, sizeof(*st));
	struct weir_callout c = { .name = "portscan",
				  .classify = scan_classify,
				  .flags = WEIR_CALLOUT_HEADERS_ONLY |
					   WEIR_CALLOUT_FLOWLESS };
	uint64_t n = param_u64(params, "sources", 65536);
	int rc;

	if (!st)
		return -ENOMEM;
	st->threshold = (uint32_t)param_u64(params, "ports", 20);
	st->window_ns = param_u64(params, "window", 10) * 1000000000u;
	st->block_ns = param_u64(params, "block", 60) * 1000000000u;
	for (st->nsrc = PROBE; st->nsrc < n && st->nsrc < (1u << 24);)
		st->nsrc *= 2;
	if (st->threshold == 0 || st->threshold >= MAX_PORTS) {
		free(st);
		return -EINVAL;
	}
	st->src = calloc(st->nsrc, sizeof(*st->src));
	pthread_mutex_init(&st->lock, NULL);
	c.priv = st;
	rc = st->src ? weir_callout_register(engine, &c) : -ENOMEM;
	if (rc < 0) {
		pthread_mutex_destroy(&st->lock);
		free(st->src);
		free(st);
		return rc;
	}
	*ret_state = st;
	return 0;
}

static void scan_fini(struct weir_engine *engine, void *state)
{
	struct scan_state *st = state;

	weir_callout_unregister(engine, "portscan");
	pthread_mutex_destroy(&st->lock);
	free(st->src);
	free(st);
}

const struct weir_plugin_ops *weir_plugin_entry(void);

const struct weir_plugin_ops *weir_plugin_entry(void)
{
	static const struct weir_plugin_ops ops = {
		.abi = WEIR_PLUGIN_ABI,
		.name = "portscan",
		.description = "block sources that touch many ports quickly",
		.init = scan_init,
		.fini = scan_fini,
	};

	return &ops;
}
