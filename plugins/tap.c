/* The `tap` data filter: a pass-through that counts the bytes of each
 * direction and, when asked, logs one JSON line per session when it ends.
 * Both directions go through weir_pump, so tap shows what a data filter
 * costs when it only forwards: the chain's zero-copy hand-off, nothing
 * else.
 *
 * Parameters: log = PATH (append one line per session), or log = stderr.
 * Without `log` it only counts (the totals are in each line; there is no
 * other output).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/plugin.h>
#include <weir/proxy.h>

#include "addr_text.h"

struct tap {
	FILE *log;                 /* NULL: count only */
	bool log_own;
};

struct tap_inst {
	struct tap *t;
	struct weir_session *s;
	uint64_t up, down;
};

static int attach(void *priv, struct weir_session *s,
		  struct weir_sock *internal, struct weir_sock *external,
		  const char *params, void **ret_inst)
{
	struct tap_inst *in = calloc(1, sizeof(*in));
	int rc;

	(void)params;
	if (!in)
		return -ENOMEM;
	in->t = priv;
	in->s = s;
	/* Counters live in the instance, which outlives the sockets. */
	rc = weir_pump(s, internal, external, &in->up);
	if (rc) {
		free(in);  /* nothing started: refuse the session */
		return rc;
	}
	/* One pump runs already: accept, so that detach frees the instance
	 * after its completions, and end the session instead. */
	*ret_inst = in;
	if (weir_pump(s, external, internal, &in->down))
		weir_session_abort(s, "tap: out of memory");
	return 0;
}

static void detach(void *priv, void *inst)
{
	struct tap *t = priv;
	struct tap_inst *in = inst;
	const struct weir_session_info *si;
	char c[64], u[64];

	if (t->log) {
		si = weir_session_info(in->s);
		addr_text(&si->client, c, sizeof(c));
		addr_text(&si->upstream, u, sizeof(u));
		fprintf(t->log, "{\"session\":%llu,\"client\":\"%s\","
			"\"upstream\":\"%s\",\"protocol\":\"%s\","
			"\"bytes_up\":%llu,\"bytes_down\":%llu}\n",
			(unsigned long long)si->id, c, u,
			si->protocol ? si->protocol : "",
			(unsigned long long)in->up,
			(unsigned long long)in->down);
		fflush(t->log);
	}
	free(in);
}

static int init(struct weir_engine *e, const char *params, void **ret)
{
	struct tap *t = calloc(1, sizeof(*t));
	struct weir_datafilter df = { .name = "tap", .attach = attach,
				      .detach = detach };
	char path[512];
	int rc = 0;

	if (!t)
		return -ENOMEM;
	if (weir_param_get(params, "log", path, sizeof(path)) == 0)
		rc = !strcmp(path, "stderr")
			? (t->log = stderr, 0)
			: weir_param_open(params, "log", stderr, &t->log);
	if (!rc) {
		df.priv = t;
		rc = weir_datafilter_register(e, &df);
	}
	if (rc < 0) {
		if (t->log)
			weir_param_close(t->log, stderr);
		free(t);
		return rc;
	}
	*ret = t;
	return 0;
}

static void fini(struct weir_engine *e, void *state)
{
	struct tap *t = state;

	weir_datafilter_unregister(e, "tap");
	if (t->log)
		weir_param_close(t->log, stderr);
	free(t);
}

const struct weir_plugin_ops *weir_plugin_entry(void);
const struct weir_plugin_ops *weir_plugin_entry(void)
{
	static const struct weir_plugin_ops ops = {
		.abi = WEIR_PLUGIN_ABI, .name = "tap",
		.description = "data filter: pass-through byte counter",
		.init = init, .fini = fini };
	return &ops;
}
