/* A packet's path through the engine's layers: its flow in the engine's
 * flow table and the layers it crosses, in WFP's order. Shared by the
 * offline replay and the live capture, which differ only in how they
 * learn where a packet goes (local addresses against netfilter hooks).
 * Internal; exported to the weir program through WEIR_PRIVATE.
 *
 * Outbound: ale-connect, datagram-data, outbound-transport,
 * outbound-ippacket. Inbound: inbound-ippacket, inbound-transport,
 * ale-accept, datagram-data, then ale-flow-established on a flow's first
 * reply. Forward: ipforward. A packet between two local addresses goes
 * out and then in. Replies meet the ALE layer of the side they reach
 * (an answer to an outbound connection meets ale-connect's remembered
 * decision) only when that layer decided the flow's first packet.
 */
#ifndef WEIR_ENGINE_PATH_H
#define WEIR_ENGINE_PATH_H

#include <stdbool.h>
#include <stdint.h>

#include <weir/flow.h>
#include <weir/packet.h>
#include <weir/pdesc.h>

/* Where a packet goes relative to the classifying host. */
enum weir__path_where {
	WEIR__PATH_FORWARD = 0,      /* through: neither end local */
	WEIR__PATH_INBOUND,          /* to a local address */
	WEIR__PATH_OUTBOUND,         /* from a local address */
	WEIR__PATH_LOOPBACK,         /* both: outbound, then inbound */
};

/* Layers one packet crosses: 4 outbound + 5 inbound at most. */
#define WEIR__PATH_MAX 10

struct weir__step {
	uint8_t layer;               /* enum weir_layer */
	uint8_t dir;                 /* enum weir_direction for the fields */
};

/* What the flow lookup told about a packet. */
struct weir__flow_view {
	uint64_t id;                 /* 0: no flow */
	unsigned info;               /* WEIR_FLOWI_* */
	bool related;                /* an ICMP error on the flow it quotes */
};

/* Looks the packet's flow up (creating it), follows TCP, and starts a
 * new flow when a SYN reuses a closed connection's ports. A packet
 * without a key (a later fragment) has no flow; an ICMP error joins the
 * flow it quotes, if any, without refreshing it. 0 or -ENOMEM (*fv is
 * then "no flow"). */
int weir__path_flow(struct weir_flow_table *ft, const struct weir_pdesc *pd,
		    uint64_t now, struct weir__flow_view *fv);

/* Sets the packet's conntrack state (meta.ct_state, WEIR_META_CT) to
 * what Linux would report, from weir's own flow: for replay, and for a
 * kernel whose NFQUEUE cannot report conntrack (no
 * CONFIG_NETFILTER_NETLINK_GLUE_CT). No flow: left unset. */
void weir__path_ct(struct weir_flow_table *ft,
		   const struct weir__flow_view *fv, struct weir_pkt *pkt);

/* Fills steps[0..WEIR__PATH_MAX) with the layers of the packet's path
 * and returns how many. */
unsigned weir__path_steps(struct weir_flow_table *ft,
			  const struct weir_pdesc *pd, int where,
			  const struct weir__flow_view *fv,
			  struct weir__step *steps);

#endif /* WEIR_ENGINE_PATH_H */
