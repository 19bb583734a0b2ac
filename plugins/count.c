/* The `count` callout: per-flow packet and byte counters kept in a flow
 * context; when the flow ends, flow_delete prints the totals. An
 * inspection callout: it never decides.
 *
 * Parameters: file=PATH (appended to; default standard error).
 * Line at flow end: {"flow":7,"layer":"ipforward-v4","packets":12,
 *                    "bytes":3456}
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <weir/plugin.h>

struct count_state {
	struct weir_engine *engine;  /* to associate contexts */
	FILE *out;                   /* weir_param_open() */
};

struct counters {
	atomic_ullong packets;
	atomic_ullong bytes;
};

static void count_classify(void *priv, const struct weir_classify_in *in,
			   const struct weir_filter_view *filter,
			   uint64_t flow_ctx, struct weir_callout_out *out)
{
	struct count_state *st = priv;
	struct counters *c = (struct counters *)(uintptr_t)flow_ctx;
	uint64_t len = in->fields->present & (1ull << WEIR_FIELD_IP_LEN)
		       ? in->fields->num[WEIR_FIELD_IP_LEN] : 0;

	(void)out; /* inspection */
	if (!in->flow_id)
		return;
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c || weir_flow_associate(st->engine, in->flow_id,
					      in->layer, filter,
					      (uint64_t)(uintptr_t)c) < 0) {
			free(c);
			return;
		}
	}
	atomic_fetch_add_explicit(&c->packets, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->bytes, len, memory_order_relaxed);
}

static void count_flow_delete(void *priv, int layer, uint64_t flow_id,
			      uint64_t ctx)
{
	struct count_state *st = priv;
	struct counters *c = (struct counters *)(uintptr_t)ctx;

	fprintf(st->out, "{\"flow\":%llu,\"layer\":\"%s\",\"packets\":%llu,"
		"\"bytes\":%llu}\n", (unsigned long long)flow_id,
		weir_layer_name(layer),
		(unsigned long long)atomic_load(&c->packets),
		(unsigned long long)atomic_load(&c->bytes));
	fflush(st->out);
	free(c);
}

static int count_init(struct weir_engine *engine, const char *params,
		      void **ret_state)
{
	struct count_state *st = calloc(1, sizeof(*st));
	/* Counts the IP header's length, not the bytes copied up. */
	struct weir_callout c = { .name = "count", .classify = count_classify,
				  .flow_delete = count_flow_delete,
				  .flags = WEIR_CALLOUT_HEADERS_ONLY };
	int rc;

	if (!st)
		return -ENOMEM;
	st->engine = engine;
	rc = weir_param_open(params, "file", stderr, &st->out);
	if (rc < 0) {
		free(st);
		return rc;
	}
	c.priv = st;
	rc = weir_callout_register(engine, &c);
	if (rc < 0) {
		weir_param_close(st->out, stderr);
		free(st);
		return rc;
	}
	*ret_state = st;
	return 0;
}

/* Contexts still held by live flows keep pointing at this state, so the
 * engine must be freed (ending its flows) before the plug-in unloads. */
static void count_fini(struct weir_engine *engine, void *state)
{
	struct count_state *st = state;

	weir_callout_unregister(engine, "count");
	weir_param_close(st->out, stderr);
	free(st);
}

const struct weir_plugin_ops *weir_plugin_entry(void);

const struct weir_plugin_ops *weir_plugin_entry(void)
{
	static const struct weir_plugin_ops ops = {
		.abi = WEIR_PLUGIN_ABI,
		.name = "count",
		.description = "per-flow packet and byte counters",
		.init = count_init,
		.fini = count_fini,
	};

	return &ops;
}
