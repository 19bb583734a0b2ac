/* The `dnssink` callout: a DNS sinkhole. A query over UDP to port 53 for
 * a listed name is absorbed and answered with a forged response from
 * the resolver's address: a sink address, or NXDOMAIN. Other names, and
 * everything that is not a well-formed single-question query of class
 * IN, are not its business (it answers "continue").
 *
 * Parameters (the plug-in's block in the policy):
 *   names=LIST     patterns separated by spaces or commas:
 *                    ads.example      that name only
 *                    *.ads.example    every name below it, not itself
 *                    .ads.example     the name and every name below it
 *                  matched without regard to case; a trailing dot is
 *                  allowed
 *   list=PATH      more patterns, one per line; '#' starts a comment
 *   answer=sink    (default) A queries get `a`, AAAA queries get `aaaa`,
 *                  other types an empty answer (NODATA)
 *   answer=nxdomain  every query gets NXDOMAIN
 *   a=ADDR         the IPv4 sink (default 0.0.0.0)
 *   aaaa=ADDR      the IPv6 sink (default ::)
 *   ttl=N          TTL of the sink record (default 60)
 * At least one of names and list must be given.
 *
 * The response goes to the client into the receive path when the query
 * came from a local socket (outbound), else into the send path (a query
 * forwarded through weir's host, or one to a resolver on it). A query
 * whose answer cannot be injected is blocked all the same: a listed name
 * never resolves. Its own responses, when classified again (`weir
 * replay`), are permitted: the injection-state check.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/craft.h>
#include <weir/inject.h>
#include <weir/plugin.h>

#include "dns.h"
#include "dns_names.h"

/* The listed names are built in init and only read afterwards, so
 * classify needs no lock. */
struct sink_state {
	struct weir_inject_handle *h;
	struct dns_names names;
	struct dns_policy pol;
};

/* ---- answering --------------------------------------------------------- */

static int direction_of(const struct weir_classify_in *in)
{
	if (in->pkt->meta.direction != WEIR_DIR_NONE)
		return in->pkt->meta.direction;
	switch (in->layer) {
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

/* The response datagram: from the resolver's address and port to the
 * client's. */
static int forge(const struct sink_state *st, const struct weir_pkt *pkt,
		 const struct dns_question *q, struct weir_pkt **ret)
{
	const struct weir_pdesc *pd = &pkt->pd;
	struct weir_udp_spec spec = { .family = pd->family,
				      .sport = pd->dport, .dport = pd->sport };
	uint8_t msg[DNS_HDR_LEN + DNS_NAME_WIRE_MAX + 4 + 12 + 16];
	struct dns_answer a;
	int n;

	dns_policy_answer(&st->pol, q, &a);
	n = dns_build_answer(pkt->data + pd->payload_off, pd->payload_len, q,
			     &a, msg, sizeof(msg));
	if (n < 0)
		return n;
	memcpy(spec.src, pd->dst, sizeof(spec.src));
	memcpy(spec.dst, pd->src, sizeof(spec.dst));
	return weir_build_udp(&spec, msg, (uint32_t)n, ret);
}

static void answer_done(void *ctx, struct weir_nbl *nbl)
{
	(void)ctx; /* a lost answer: the client asks again, and is absorbed */
	weir_nbl_unref(nbl);
}

static int inject(struct sink_state *st, const struct weir_pkt *query,
		  struct weir_pkt *resp, int dir)
{
	struct weir_nbl *nbl = weir_nbl_new();
	uint32_t cpt = query->meta.compartment;
	int rc;

	if (!nbl) {
		weir_pkt_free(resp);
		return -ENOMEM;
	}
	weir_nbl_add(nbl, resp);
	/* A local socket asked: the answer must arrive, as from the
	 * interface the query was leaving by. */
	if (dir == WEIR_DIR_OUTBOUND)
		rc = weir_inject_network_receive(st->h, 0, 0, cpt,
						 query->meta.ifindex_out, nbl,
						 answer_done, NULL);
	else
		rc = weir_inject_network_send(st->h, 0, 0, cpt, nbl,
					      answer_done, NULL);
	if (rc < 0)
		weir_nbl_unref(nbl);
	return rc;
}

/* The packet's query, when it is a complete UDP query to port 53. */
static bool query_of(const struct weir_pkt *pkt, struct dns_question *q)
{
	const struct weir_pdesc *pd = &pkt->pd;

	if (!(pd->flags & WEIR_PD_L4) || pd->proto != IPPROTO_UDP ||
	    pd->dport != 53 || (pd->flags & (WEIR_PD_FRAG | WEIR_PD_TRUNCATED)))
		return false;
	if (dns_parse_query(pkt->data + pd->payload_off, pd->payload_len,
			    q) < 0)
		return false;
	return q->qclass == DNS_CLASS_IN;
}

static void sink_classify(void *priv, const struct weir_classify_in *in,
			  const struct weir_filter_view *filter,
			  uint64_t flow_ctx, struct weir_callout_out *out)
{
	struct sink_state *st = priv;
	struct dns_question q;
	struct weir_pkt *resp;
	int dir;

	(void)filter, (void)flow_ctx;
	if (!in->pkt)
		return;
	switch (weir_injection_state(st->h, in->pkt, NULL)) {
	case WEIR_INJECTED_BY_SELF:
	case WEIR_PREVIOUSLY_INJECTED_BY_SELF:
		out->action = WEIR_ACTION_PERMIT; /* our answer */
		return;
	default:
		break;
	}
	if (!query_of(in->pkt, &q) ||
	    !dns_names_listed(&st->names, q.name, q.name_len))
		return;
	out->action = WEIR_ACTION_BLOCK;
	out->rights &= (uint8_t)~WEIR_RIGHT_ACTION_WRITE;
	dir = direction_of(in);
	if (forge(st, in->pkt, &q, &resp) == 0 &&
	    inject(st, in->pkt, resp, dir) == 0)
		out->flags |= WEIR_CLASSIFY_ABSORB;
}

/* ---- set-up ----------------------------------------------------------- */

static void sink_free(struct sink_state *st)
{
	dns_names_free(&st->names);
	free(st);
}

static int sink_init(struct weir_engine *engine, const char *params,
		     void **ret_state)
{
	struct sink_state *st = calloc(1, sizeof(*st));
	int rc;

	if (!st)
		return -ENOMEM;
	st->pol.ttl = 60;
	rc = dns_policy_parse(&st->pol, params);
	if (rc == 0)
		rc = dns_names_parse(&st->names, params, "dnssink");
	if (rc == 0)
		rc = weir_inject_handle_create(engine, AF_UNSPEC,
					       WEIR_INJECT_NETWORK, &st->h);
	if (rc == 0)
		rc = weir_callout_register(engine, &(struct weir_callout){
			.name = "dnssink", .classify = sink_classify,
			.priv = st, .flags = WEIR_CALLOUT_FLOWLESS });
	if (rc < 0) {
		weir_inject_handle_destroy(st->h);
		sink_free(st);
		return rc;
	}
	*ret_state = st;
	return 0;
}

static void sink_fini(struct weir_engine *engine, void *state)
{
	struct sink_state *st = state;

	/* Nothing injects after the unregister; the answers in flight do
	 * not touch st (see tcpreset.c about -EDEADLK). */
	weir_callout_unregister(engine, "dnssink");
	weir_inject_handle_destroy(st->h);
	sink_free(st);
}

const struct weir_plugin_ops *weir_plugin_entry(void);

const struct weir_plugin_ops *weir_plugin_entry(void)
{
	static const struct weir_plugin_ops ops = {
		.abi = WEIR_PLUGIN_ABI,
		.name = "dnssink",
		.description = "answers DNS queries for listed names with a "
			       "sink address or NXDOMAIN",
		.init = sink_init,
		.fini = sink_fini,
	};

	return &ops;
}
