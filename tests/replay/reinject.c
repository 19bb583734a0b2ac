/* A test plug-in: the callout that re-injects every packet unmodified
 * (absorb, inject a copy on the path it was on). It is what loops forever
 * when injected packets are not recognised, so it proves they are: under
 * `weir replay` its own copies come back and it lets them through
 * (weir_injection_state), live they never come back to it (weir's
 * rules skip the injection mark and its TUN devices; on FORWARD the
 * worker accepts them unclassified). Each packet is classified once
 * per layer, plus once for its copy in replay: the counters say so.
 *
 * Counts, in the file named by the parameter `counts` (rewritten at each
 * classification): "classified N mine M injected K failed F". With
 * `path = "receive"` every copy goes into the receive path, as arriving
 * on the packet's input interface (live: through weir's TUN device, so
 * a forwarded copy meets FORWARD again).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/inject.h>
#include <weir/plugin.h>

struct state {
	struct weir_inject_handle *h;
	char path[256];
	bool receive;                /* every copy into the receive path */
	_Atomic uint64_t classified, mine, injected, failed;
};

static void save(struct state *s)
{
	FILE *f;

	if (!s->path[0] || !(f = fopen(s->path, "w")))
		return;
	fprintf(f, "classified %llu mine %llu injected %llu failed %llu\n",
		(unsigned long long)s->classified,
		(unsigned long long)s->mine,
		(unsigned long long)s->injected,
		(unsigned long long)s->failed);
	fclose(f);
}

static void done(void *ctx, struct weir_nbl *nbl)
{
	struct state *s = ctx;

	if (nbl->status)
		atomic_fetch_add(&s->failed, 1);
	weir_nbl_unref(nbl);
}

static int reinject(struct state *s, const struct weir_pkt *pkt)
{
	struct weir_pkt *copy = weir_pkt_copy(pkt);
	struct weir_nbl *l = weir_nbl_new();
	uint32_t c = pkt->meta.compartment;
	int rc = -ENOMEM;

	if (copy && l) {
		weir_nbl_add(l, copy);
		copy = NULL;
		rc = pkt->meta.direction == WEIR_DIR_INBOUND || s->receive
			? weir_inject_network_receive(s->h, 1, 0, c,
						      pkt->meta.ifindex_in, l,
						      done, s)
			: weir_inject_network_send(s->h, 1, 0, c, l, done, s);
	}
	if (rc) {
		weir_pkt_free(copy);
		weir_nbl_unref(l);
	}
	return rc;
}

static void classify(void *priv, const struct weir_classify_in *in,
		     const struct weir_filter_view *filter, uint64_t flow_ctx,
		     struct weir_callout_out *out)
{
	struct state *s = priv;
	enum weir_injection_state st;

	(void)filter, (void)flow_ctx;
	atomic_fetch_add(&s->classified, 1);
	out->action = WEIR_ACTION_PERMIT;
	if (!in->pkt)
		return;
	st = weir_injection_state(s->h, in->pkt, NULL);
	if (st == WEIR_INJECTED_BY_SELF ||
	    st == WEIR_PREVIOUSLY_INJECTED_BY_SELF) {
		atomic_fetch_add(&s->mine, 1);
	} else if (reinject(s, in->pkt) == 0) {
		atomic_fetch_add(&s->injected, 1);
		out->action = WEIR_ACTION_BLOCK;
		out->flags |= WEIR_CLASSIFY_ABSORB;
	}
	save(s);
}

static int init(struct weir_engine *e, const char *params, void **ret)
{
	struct state *s = calloc(1, sizeof(*s));
	struct weir_callout c = { .name = "reinject", .classify = classify };
	char how[16] = "";
	int rc;

	if (!s)
		return -ENOMEM;
	weir_param_get(params, "counts", s->path, sizeof(s->path));
	weir_param_get(params, "path", how, sizeof(how));
	s->receive = strcmp(how, "receive") == 0;
	rc = weir_inject_handle_create(e, AF_UNSPEC, WEIR_INJECT_NETWORK,
				       &s->h);
	c.priv = s;
	if (!rc)
		rc = weir_callout_register(e, &c);
	if (rc < 0) {
		weir_inject_handle_destroy(s->h);
		free(s);
		return rc;
	}
	*ret = s;
	return 0;
}

static void fini(struct weir_engine *e, void *state)
{
	struct state *s = state;

	weir_callout_unregister(e, "reinject");
	weir_inject_handle_destroy(s->h);
	save(s);
	free(s);
}

const struct weir_plugin_ops *weir_plugin_entry(void);
const struct weir_plugin_ops *weir_plugin_entry(void)
{
	static const struct weir_plugin_ops ops = {
		.abi = WEIR_PLUGIN_ABI, .name = "reinject",
		.description = "test: re-injects every packet unmodified",
		.init = init, .fini = fini };
	return &ops;
}
