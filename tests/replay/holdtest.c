/* The `holdtest` plug-in of the replay tests: its `hold` callout pends
 * and completes classifications on the packets' command, so that the
 * tests can drive every way a pend ends. The command is the first four
 * bytes of the transport payload:
 *   HOLD  pend this packet
 *   FREE  complete every held packet with permit
 *   KILL  complete every held packet with block
 *   SWAP  complete every held packet with permit and a copy of this
 *         packet as its replacement
 * Anything else continues. Held packets left over time out.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <weir/plugin.h>

#define MAX_HELD 64

struct hold_state {
	struct weir_engine *engine;
	pthread_mutex_t lock;
	uint64_t held[MAX_HELD];
	unsigned nheld;
};

static bool command_is(const struct weir_fields *f, const char *cmd)
{
	return f->packet && f->payload_off + 4 <= f->packet_len &&
	       !memcmp(f->packet + f->payload_off, cmd, 4);
}

/* Completes every held pend; with `swap`, each gets a copy of pkt. */
static void release(struct hold_state *st, uint8_t action,
		    const struct weir_pkt *swap)
{
	uint64_t ids[MAX_HELD];
	unsigned n;

	pthread_mutex_lock(&st->lock);
	n = st->nheld;
	memcpy(ids, st->held, sizeof(ids[0]) * n);
	st->nheld = 0;
	pthread_mutex_unlock(&st->lock);
	for (unsigned i = 0; i < n; i++) {
		struct weir_pkt *repl = swap ? weir_pkt_copy(swap) : NULL;

		if (weir_pend_complete(st->engine, ids[i], action, repl) < 0)
			weir_pkt_free(repl);
	}
}

static void hold_classify(void *priv, const struct weir_classify_in *in,
			  const struct weir_filter_view *filter,
			  uint64_t flow_ctx, struct weir_callout_out *out)
{
	struct hold_state *st = priv;
	uint64_t id;

	(void)flow_ctx;
	if (command_is(in->fields, "HOLD")) {
		pthread_mutex_lock(&st->lock);
		if (st->nheld < MAX_HELD &&
		    weir_pend(in, filter, out, &id) == 0)
			st->held[st->nheld++] = id;
		pthread_mutex_unlock(&st->lock);
	} else if (command_is(in->fields, "FREE")) {
		release(st, WEIR_ACTION_PERMIT, NULL);
	} else if (command_is(in->fields, "KILL")) {
		release(st, WEIR_ACTION_BLOCK, NULL);
	} else if (command_is(in->fields, "SWAP") && in->pkt) {
		release(st, WEIR_ACTION_PERMIT, in->pkt);
	}
}

static int hold_init(struct weir_engine *engine, const char *params,
		     void **ret_state)
{
	struct hold_state *st = calloc(1, sizeof(*st));
	struct weir_callout c = { .name = "hold", .classify = hold_classify };
	int rc;

	(void)params;
	if (!st)
		return -ENOMEM;
	st->engine = engine;
	pthread_mutex_init(&st->lock, NULL);
	c.priv = st;
	rc = weir_callout_register(engine, &c);
	if (rc < 0) {
		pthread_mutex_destroy(&st->lock);
		free(st);
		return rc;
	}
	*ret_state = st;
	return 0;
}

static void hold_fini(struct weir_engine *engine, void *state)
{
	struct hold_state *st = state;

	weir_callout_unregister(engine, "hold");
	pthread_mutex_destroy(&st->lock);
	free(st);
}

const struct weir_plugin_ops *weir_plugin_entry(void);

const struct weir_plugin_ops *weir_plugin_entry(void)
{
	static const struct weir_plugin_ops ops = {
		.abi = WEIR_PLUGIN_ABI,
		.name = "holdtest",
		.description = "pends and completes on command (replay tests)",
		.init = hold_init,
		.fini = hold_fini,
	};

	return &ops;
}
