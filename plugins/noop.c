/* The `noop` callout: an inspection callout that does nothing. It
 * measures what invoking a callout costs the packet path (the packet
 * benchmark's row c), apart from any work a real callout does; `count`
 * and `log` allocate per flow or write per packet.
 *
 * No parameters.
 */

#include <weir/plugin.h>

static void noop_classify(void *priv, const struct weir_classify_in *in,
			  const struct weir_filter_view *filter,
			  uint64_t flow_ctx, struct weir_callout_out *out)
{
	/* Inspection: the action stays WEIR_ACTION_CONTINUE. */
}

static int noop_init(struct weir_engine *engine, const char *params,
		     void **ret_state)
{
	struct weir_callout c = { .name = "noop", .classify = noop_classify,
				  .flags = WEIR_CALLOUT_HEADERS_ONLY |
					   WEIR_CALLOUT_FLOWLESS };
	int rc = weir_callout_register(engine, &c);

	if (rc < 0)
		return rc;
	*ret_state = NULL;
	return 0;
}

static void noop_fini(struct weir_engine *engine, void *state)
{
	weir_callout_unregister(engine, "noop");
}

const struct weir_plugin_ops *weir_plugin_entry(void);

const struct weir_plugin_ops *weir_plugin_entry(void)
{
	static const struct weir_plugin_ops ops = {
		.abi = WEIR_PLUGIN_ABI,
		.name = "noop",
		.description = "an inspection callout that does nothing",
		.init = noop_init,
		.fini = noop_fini,
	};

	return &ops;
}
