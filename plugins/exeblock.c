/* The `exeblock` data filter: blocks executable downloads over HTTP/1.1
 * (the reference filter of the application tier, after Forefront TMG's
 * Exeblock sample). See exeblock.h for the map of its files and
 * docs/proxy.md ("exeblock") for its parameters and behaviour.
 *
 * This file: the plug-in entry, a session's instance (attach, detach),
 * the single completion callback that dispatches by user data, and the
 * seed's _Abort (eb_fail).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <weir/plugin.h>

#include "exeblock.h"

void eb_fail(struct eb_inst *in, int err, const char *why)
{
	/* -ECANCELED: our sockets (or file) are being closed: the session
	 * is ending already and has said why. */
	if (err != -ECANCELED && !in->dead && !in->detached)
		weir_session_abort(in->s, why);
	in->dead = true;
}

static void inst_free(struct eb_inst *in)
{
	weir_iobuf_unref(in->cur);
	weir_iobuf_unref(in->head);
	free(in->hold);
	http1_fini(&in->rp);
	http1_req_fini(&in->rq);
	free(in);
}

void eb_complete(void *target, bool ok, int err, struct weir_iobuf *buf,
		 uint64_t ud, const struct sockaddr *a, socklen_t al)
{
	struct eb_inst *in = target;
	unsigned kind = EB_UD_KIND(ud);

	(void)a, (void)al;
	switch (kind) {
	case EB_UD_UP_RECV:
	case EB_UD_UP_SEND:
	case EB_UD_UP_SHUT:
		eb_up_done(in, kind, ok, err, buf);
		break;
	case EB_UD_DN_RECV:
	case EB_UD_DN_SEND:
	case EB_UD_DN_SHUT:
		eb_dn_done(in, kind, EB_UD_LEN(ud), ok, err, buf);
		break;
	default:
		in->file_ops--;
		if (in->detached) {
			/* The session is gone: only the file's last
			 * completions were still owed. */
			weir_iobuf_unref(buf);
			if (!in->file_ops)
				inst_free(in);
			return;
		}
		eb_spool_done(in, kind, EB_UD_LEN(ud), ok, err, buf);
		break;
	}
}

static int attach(void *priv, struct weir_session *s,
		  struct weir_sock *internal, struct weir_sock *external,
		  const char *params, void **ret_inst)
{
	struct eb_inst *in = calloc(1, sizeof(*in));
	int rc;

	if (!in)
		return -ENOMEM;
	in->s = s;
	in->in = internal;
	in->ex = external;
	in->t = (struct weir_io_target){ .complete = eb_complete,
					 .target = in };
	rc = eb_conf_get(priv, params, &in->c);
	if (!rc)
		rc = http1_init(&in->rp, NULL);
	if (!rc)
		rc = http1_req_init(&in->rq, NULL);
	if (rc) {
		/* A refused attach is never detached. */
		inst_free(in);
		return rc;
	}
	*ret_inst = in;
	/* From here on detach frees it, even when a start below fails and
	 * aborts the session (its completions are still owed). */
	eb_up_start(in);
	eb_dn_run(in);
	return 0;
}

static void detach(void *priv, void *inst)
{
	struct eb_inst *in = inst;

	(void)priv;
	in->detached = true;
	if (in->f) {
		/* File operations are not the session's: their
		 * completions may still come (-ECANCELED). */
		weir_file_close(in->f);
		in->f = NULL;
	}
	if (!in->file_ops)
		inst_free(in);
}

static int init(struct weir_engine *e, const char *params, void **ret)
{
	struct eb *eb = calloc(1, sizeof(*eb));
	struct weir_datafilter df = { .name = "exeblock", .attach = attach,
				      .detach = detach };
	struct eb_conf *c;
	int rc;

	if (!eb)
		return -ENOMEM;
	pthread_mutex_init(&eb->lock, NULL);
	eb->params = strdup(params ? params : "");
	/* Make the default configuration now, so that bad parameters or a
	 * missing libmagic database fail the load, not every session. */
	rc = eb->params ? eb_conf_get(eb, "", &c) : -ENOMEM;
	if (!rc) {
		df.priv = eb;
		rc = weir_datafilter_register(e, &df);
	}
	if (rc < 0) {
		eb_conf_free_all(eb);
		free(eb->params);
		pthread_mutex_destroy(&eb->lock);
		free(eb);
		return rc;
	}
	*ret = eb;
	return 0;
}

static void fini(struct weir_engine *e, void *state)
{
	struct eb *eb = state;

	weir_datafilter_unregister(e, "exeblock");
	eb_conf_free_all(eb);
	free(eb->params);
	pthread_mutex_destroy(&eb->lock);
	free(eb);
}

const struct weir_plugin_ops *weir_plugin_entry(void);
const struct weir_plugin_ops *weir_plugin_entry(void)
{
	static const struct weir_plugin_ops ops = {
		.abi = WEIR_PLUGIN_ABI, .name = "exeblock",
		.description = "data filter: blocks executable downloads "
			       "over HTTP/1.1",
		.init = init, .fini = fini };
	return &ops;
}
