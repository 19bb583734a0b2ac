/* The `tcpreset` callout: blocks the TCP connections its filters match
 * and resets both ends at once, so that the client sees "connection
 * reset" instead of waiting for retransmissions to time out.
 *
 * For a matching TCP packet (not itself a RST) it builds two RSTs with
 * weir_build_tcp_rst(): one back to the packet's sender and one on to
 * its receiver (as if from the sender, at the receiver's next expected
 * sequence number), injects them, and absorbs the packet. Which path each
 * RST takes follows from where the packet was going:
 *
 *   packet             RST to its sender        RST to its receiver
 *   outbound (local    receive path (arrives    send path
 *   socket sent it)    on ifindex_out)
 *   inbound (to a      send path                receive path (arrives
 *   local socket)                               on ifindex_in)
 *   forwarded          send path                send path
 *
 * Packets it cannot answer (not TCP, a RST, not parsed, no packet at all)
 * and packets whose RSTs could not be injected (no injector yet) are
 * blocked plainly. Its own RSTs, when a packet source classifies them
 * again (`weir replay`), are permitted: the injection-state check.
 *
 * Parameters: none.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <weir/craft.h>
#include <weir/inject.h>
#include <weir/plugin.h>

struct reset_state {
	struct weir_inject_handle *h;
};

/* The packet's direction: the packet source's word, else what the layer
 * implies (the ALE and datagram layers see both ways: none). */
static int direction_of(const struct weir_classify_in *in)
{
	if (in->pkt->meta.direction != WEIR_DIR_NONE)
		return in->pkt->meta.direction;
	switch (in->layer) {
	case WEIR_LAYER_INBOUND_IPPACKET_V4:
	case WEIR_LAYER_INBOUND_IPPACKET_V6:
	case WEIR_LAYER_INBOUND_TRANSPORT_V4:
	case WEIR_LAYER_INBOUND_TRANSPORT_V6:
	case WEIR_LAYER_ALE_ACCEPT_V4:
	case WEIR_LAYER_ALE_ACCEPT_V6:
		return WEIR_DIR_INBOUND;
	case WEIR_LAYER_OUTBOUND_IPPACKET_V4:
	case WEIR_LAYER_OUTBOUND_IPPACKET_V6:
	case WEIR_LAYER_OUTBOUND_TRANSPORT_V4:
	case WEIR_LAYER_OUTBOUND_TRANSPORT_V6:
	case WEIR_LAYER_ALE_CONNECT_V4:
	case WEIR_LAYER_ALE_CONNECT_V6:
		return WEIR_DIR_OUTBOUND;
	default:
		return WEIR_DIR_FORWARD;
	}
}

static void rst_done(void *ctx, struct weir_nbl *nbl)
{
	(void)ctx; /* nothing to account: a lost RST only costs a timeout */
	weir_nbl_unref(nbl);
}

/* Injects one RST, into the receive path when it is for a local socket
 * (`local`), else into the send path. Takes rst in every case. */
static int inject_rst(struct reset_state *st, const struct weir_pkt *orig,
		      struct weir_pkt *rst, bool local, uint32_t ifindex)
{
	struct weir_nbl *nbl = weir_nbl_new();
	uint32_t cpt = orig->meta.compartment;
	int rc;

	if (!nbl) {
		weir_pkt_free(rst);
		return -ENOMEM;
	}
	weir_nbl_add(nbl, rst);
	if (local)
		rc = weir_inject_network_receive(st->h, 0, 0, cpt, ifindex, nbl,
						 rst_done, NULL);
	else
		rc = weir_inject_network_send(st->h, 0, 0, cpt, nbl, rst_done,
					      NULL);
	if (rc < 0)
		weir_nbl_unref(nbl); /* not accepted: still ours */
	return rc;
}

/* Builds and injects both RSTs; true when at least one went in. */
static bool reset_both(struct reset_state *st, const struct weir_pkt *pkt,
		       int dir)
{
	struct weir_pkt *to_src, *to_dst;
	bool src_local = dir == WEIR_DIR_OUTBOUND;
	bool dst_local = dir == WEIR_DIR_INBOUND;
	int a, b;

	if (weir_build_tcp_rst(pkt, WEIR_SRC, &to_src) < 0)
		return false;
	if (weir_build_tcp_rst(pkt, WEIR_DST, &to_dst) < 0) {
		weir_pkt_free(to_src);
		return false;
	}
	/* A RST for the local sender arrives from where the packet was
	 * leaving; one for the local receiver where the packet came in. */
	a = inject_rst(st, pkt, to_src, src_local, pkt->meta.ifindex_out);
	b = inject_rst(st, pkt, to_dst, dst_local, pkt->meta.ifindex_in);
	return a == 0 || b == 0;
}

static bool answerable(const struct weir_pkt *pkt)
{
	const struct weir_pdesc *pd = &pkt->pd;

	return (pd->flags & WEIR_PD_L4) && pd->proto == IPPROTO_TCP &&
	       !(pd->tcp_flags & WEIR_TCP_RST);
}

static void reset_classify(void *priv, const struct weir_classify_in *in,
			   const struct weir_filter_view *filter,
			   uint64_t flow_ctx, struct weir_callout_out *out)
{
	struct reset_state *st = priv;

	(void)filter, (void)flow_ctx;
	if (in->pkt) {
		switch (weir_injection_state(st->h, in->pkt, NULL)) {
		case WEIR_INJECTED_BY_SELF:
		case WEIR_PREVIOUSLY_INJECTED_BY_SELF:
			out->action = WEIR_ACTION_PERMIT; /* our RST */
			return;
		default:
			break;
		}
	}
	out->action = WEIR_ACTION_BLOCK;
	out->rights &= (uint8_t)~WEIR_RIGHT_ACTION_WRITE;
	if (in->pkt && answerable(in->pkt) &&
	    reset_both(st, in->pkt, direction_of(in)))
		out->flags |= WEIR_CLASSIFY_ABSORB;
}

static int reset_init(struct weir_engine *engine, const char *params,
		      void **ret_state)
{
	struct reset_state *st = calloc(1, sizeof(*st));
	int rc;

	(void)params;
	if (!st)
		return -ENOMEM;
	/* Made now, before the packet source may have installed its
	 * injector: injections say "not ready" until it has. */
	rc = weir_inject_handle_create(engine, AF_UNSPEC, WEIR_INJECT_NETWORK,
				       &st->h);
	if (rc < 0) {
		free(st);
		return rc;
	}
	rc = weir_callout_register(engine, &(struct weir_callout){
		.name = "tcpreset", .classify = reset_classify, .priv = st,
		.flags = WEIR_CALLOUT_FLOWLESS });
	if (rc < 0) {
		weir_inject_handle_destroy(st->h);
		free(st);
		return rc;
	}
	*ret_state = st;
	return 0;
}

static void reset_fini(struct weir_engine *engine, void *state)
{
	struct reset_state *st = state;

	/* No classification is inside the callout after this, so nothing
	 * injects any more; then wait for the RSTs still in flight (their
	 * completion does not touch st). Should fini run on the injector's
	 * thread with RSTs in flight, destroy refuses (-EDEADLK) and the
	 * closed handle is left behind: a small leak, not a hang. */
	weir_callout_unregister(engine, "tcpreset");
	weir_inject_handle_destroy(st->h);
	free(st);
}

const struct weir_plugin_ops *weir_plugin_entry(void);

const struct weir_plugin_ops *weir_plugin_entry(void)
{
	static const struct weir_plugin_ops ops = {
		.abi = WEIR_PLUGIN_ABI,
		.name = "tcpreset",
		.description = "blocks TCP connections with a RST to both ends",
		.init = reset_init,
		.fini = reset_fini,
	};

	return &ops;
}
