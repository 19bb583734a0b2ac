/* A plug-in built for another ABI version: the loader must refuse it
 * without calling its init. */
#include <stdlib.h>

#include <weir/plugin.h>

static int bad_init(struct weir_engine *engine, const char *params,
		    void **ret_state)
{
	(void)engine, (void)params, (void)ret_state;
	abort(); /* never reached: the ABI check comes first */
}

const struct weir_plugin_ops *weir_plugin_entry(void);

const struct weir_plugin_ops *weir_plugin_entry(void)
{
	static const struct weir_plugin_ops ops = {
		.abi = WEIR_PLUGIN_ABI + 1, .name = "badabi",
		.init = bad_init };

	return &ops;
}
