/* `dfabort`, a test plug-in (built with the others, never installed): a
 * data filter that ends each session it is attached to with
 * weir_session_abort() - inside attach (when = attach, the default), or
 * from a loop post while every socket of the session is idle
 * (when = post) - and goes on using its instance afterwards, as the
 * contract in include/weir/proxy.h allows until its callback returns.
 * Each detach writes one line to stderr: "dfabort: detached after the
 * abort", or "dfabort: detached INSIDE the abort" if that contract is
 * broken. tests/net/proxy.sh (dfabort) counts those lines, under ASan
 * too, where a detach inside the abort is also a use after free.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/io.h>
#include <weir/plugin.h>
#include <weir/proxy.h>

struct dfa_inst {
	struct weir_session *s;
	bool aborting;          /* inside weir_session_abort() */
	bool detached;
	bool post_pending;      /* on_post still owes its run */
};

static void end_session(struct dfa_inst *in, const char *why)
{
	in->aborting = true;
	weir_session_abort(in->s, why);
	/* The instance is still ours: detach comes later. */
	in->aborting = false;
}

static void on_post(void *arg, int status)
{
	struct dfa_inst *in = arg;

	in->post_pending = false;
	if (status == 0 && !in->detached)
		end_session(in, "dfabort: from a post");
	if (in->detached)
		free(in);
}

static int attach(void *priv, struct weir_session *s,
		  struct weir_sock *internal, struct weir_sock *external,
		  const char *params, void **ret_inst)
{
	struct dfa_inst *in = calloc(1, sizeof(*in));
	char when[16] = "attach";

	(void)priv, (void)internal, (void)external;
	if (!in)
		return -ENOMEM;
	in->s = s;
	weir_param_get(params, "when", when, sizeof(when));
	*ret_inst = in;
	if (!strcmp(when, "post")) {
		if (weir_loop_post(weir_session_loop(s), on_post, in) < 0) {
			free(in); /* refused: never detached */
			return -ENOMEM;
		}
		in->post_pending = true;
		return 0;
	}
	end_session(in, "dfabort: at attach");
	return 0;
}

static void detach(void *priv, void *inst)
{
	struct dfa_inst *in = inst;

	(void)priv;
	fprintf(stderr, "dfabort: detached %s\n",
		in->aborting ? "INSIDE the abort" : "after the abort");
	in->detached = true;
	if (!in->post_pending)
		free(in);
}

static int init(struct weir_engine *e, const char *params, void **ret)
{
	struct weir_datafilter df = { .name = "dfabort", .attach = attach,
				      .detach = detach };

	(void)params;
	*ret = NULL;
	return weir_datafilter_register(e, &df);
}

static void fini(struct weir_engine *e, void *state)
{
	(void)state;
	weir_datafilter_unregister(e, "dfabort");
}

const struct weir_plugin_ops *weir_plugin_entry(void);
const struct weir_plugin_ops *weir_plugin_entry(void)
{
	static const struct weir_plugin_ops ops = {
		.abi = WEIR_PLUGIN_ABI, .name = "dfabort",
		.description = "test: a data filter that aborts its sessions",
		.init = init, .fini = fini };
	return &ops;
}
