/* weir filters: layers, the fields each layer offers, conditions, and the
 * filter itself (after WFP's FWPM_FILTER0).
 *
 * A filter lives in one layer and one sublayer, has a 64-bit weight, a
 * list of conditions and an action. Conditions on the same field are
 * ORed, conditions on different fields ANDed (WFP's rule): a filter
 *
 *     ip.dst in 10.0.0.0/8, tcp.dport == 22, tcp.dport == 23
 *
 * matches TCP to port 22 or 23 of any address in 10/8.
 *
 * A weir_filter_spec is plain data the caller owns; the engine copies
 * what it keeps (engine.h). All-zero is a valid empty spec except for the
 * layer.
 */
#ifndef WEIR_FILTER_H
#define WEIR_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Filtering layers. Each exists for IPv4 and IPv6; the IPv6 one is the
 * IPv4 one + 1. The ALE layers (connect, accept, flow established) see
 * the first packet of a flow only; their decision holds for the flow. */
enum weir_layer {
	WEIR_LAYER_NONE = 0,
	WEIR_LAYER_INBOUND_IPPACKET_V4,     /* netfilter INPUT, every packet */
	WEIR_LAYER_INBOUND_IPPACKET_V6,
	WEIR_LAYER_OUTBOUND_IPPACKET_V4,    /* OUTPUT, every packet */
	WEIR_LAYER_OUTBOUND_IPPACKET_V6,
	WEIR_LAYER_IPFORWARD_V4,            /* FORWARD, every packet */
	WEIR_LAYER_IPFORWARD_V6,
	WEIR_LAYER_INBOUND_TRANSPORT_V4,    /* INPUT, packets with an L4 header */
	WEIR_LAYER_INBOUND_TRANSPORT_V6,
	WEIR_LAYER_OUTBOUND_TRANSPORT_V4,   /* OUTPUT, packets with an L4 header */
	WEIR_LAYER_OUTBOUND_TRANSPORT_V6,
	WEIR_LAYER_ALE_CONNECT_V4,          /* first packet of an outbound flow */
	WEIR_LAYER_ALE_CONNECT_V6,
	WEIR_LAYER_ALE_ACCEPT_V4,           /* first packet of an inbound flow */
	WEIR_LAYER_ALE_ACCEPT_V6,
	WEIR_LAYER_ALE_FLOW_ESTABLISHED_V4, /* a flow both sides have spoken on */
	WEIR_LAYER_ALE_FLOW_ESTABLISHED_V6,
	WEIR_LAYER_DATAGRAM_DATA_V4,        /* every UDP/ICMP datagram, per flow */
	WEIR_LAYER_DATAGRAM_DATA_V6,
	WEIR_LAYER__COUNT
};

/* Fields a condition can test. weir_layer_fields() says which a layer
 * offers; a filter naming another is refused when it is added. */
enum weir_field {
	WEIR_FIELD_IP_SRC = 0,    /* address (prefix) */
	WEIR_FIELD_IP_DST,        /* address (prefix) */
	WEIR_FIELD_IP_PROTO,      /* 0..255, after IPv6 extension headers */
	WEIR_FIELD_SRC_PORT,      /* TCP/UDP */
	WEIR_FIELD_DST_PORT,
	WEIR_FIELD_TCP_FLAGS,     /* WEIR_TCP_* bits */
	WEIR_FIELD_ICMP_TYPE,
	WEIR_FIELD_ICMP_CODE,
	WEIR_FIELD_TTL,           /* TTL / hop limit */
	WEIR_FIELD_IP_LEN,        /* IP length in bytes */
	WEIR_FIELD_IF_IN,         /* interface index */
	WEIR_FIELD_IF_OUT,
	WEIR_FIELD_IF_IN_NAME,    /* interface name (string) */
	WEIR_FIELD_IF_OUT_NAME,
	WEIR_FIELD_DIRECTION,     /* enum weir_direction */
	WEIR_FIELD_LOOPBACK,      /* 0 or 1 */
	WEIR_FIELD_FRAG,          /* WEIR_FRAGF_* bits */
	WEIR_FIELD_MARK,          /* skb mark */
	WEIR_FIELD_CT_STATE,      /* WEIR_CTF_* bits */
	WEIR_FIELD_UID,
	WEIR_FIELD_GID,
	WEIR_FIELD_COMPARTMENT,
	WEIR_FIELD_PACKET,        /* bytes at an offset from the IP header */
	WEIR_FIELD_PAYLOAD,       /* bytes at an offset from the L4 payload */
	WEIR_FIELD_FLAGS,         /* WEIR_CF_* classification flags */
	WEIR_FIELD__COUNT
};

/* Bits of WEIR_FIELD_FRAG. */
#define WEIR_FRAGF_FRAGMENT 0x1u  /* any fragment */
#define WEIR_FRAGF_FIRST    0x2u  /* offset 0 with more to come */
#define WEIR_FRAGF_LATER    0x4u  /* offset != 0 */
#define WEIR_FRAGF_DF       0x8u  /* IPv4 don't-fragment */

/* Bits of WEIR_FIELD_CT_STATE (conntrack, as nft's ct state). */
#define WEIR_CTF_INVALID     0x01u
#define WEIR_CTF_ESTABLISHED 0x02u
#define WEIR_CTF_RELATED     0x04u
#define WEIR_CTF_NEW         0x08u
#define WEIR_CTF_UNTRACKED   0x40u
#define WEIR_CTF_REPLY       0x80u  /* packet goes in the reply direction */

/* Bits of WEIR_FIELD_FLAGS. */
#define WEIR_CF_REAUTH       0x01u  /* ALE: re-authorising a flow after a
                                     * policy change */
#define WEIR_CF_INJECTED     0x02u  /* packet injected by weir */
#define WEIR_CF_MALFORMED    0x04u  /* the packet did not parse whole */

/* How a condition compares. */
enum weir_match {
	WEIR_MATCH_EQ = 0,
	WEIR_MATCH_NE,
	WEIR_MATCH_LT,
	WEIR_MATCH_LE,
	WEIR_MATCH_GT,
	WEIR_MATCH_GE,
	WEIR_MATCH_RANGE,       /* lo <= x <= hi */
	WEIR_MATCH_PREFIX,      /* addresses: the first plen bits equal */
	WEIR_MATCH_FLAGS_ALL,   /* (x & v) == v */
	WEIR_MATCH_FLAGS_ANY,   /* (x & v) != 0 */
	WEIR_MATCH_FLAGS_NONE,  /* (x & v) == 0 */
	WEIR_MATCH_IN_SET,      /* x equals, is in the range or the prefix of
	                         * one set member */
	WEIR_MATCH__COUNT
};

/* Longest byte string a PACKET/PAYLOAD or name condition compares. */
#define WEIR_VAL_BYTES 32

/* One value of a condition. Which members count depends on the field:
 *  - addresses: addr (network order, IPv4 in the first 4 bytes) and plen
 *    (prefix length; EQ uses the full length whatever plen says);
 *  - numbers: lo (and hi for RANGE and set ranges; a set member with
 *    hi < lo is the single value lo);
 *  - names and byte strings: bytes[0..len). */
struct weir_val {
	uint64_t lo, hi;
	uint8_t addr[16];
	uint8_t plen;
	uint8_t len;
	uint8_t bytes[WEIR_VAL_BYTES];
};

/* One condition. For PACKET and PAYLOAD, `offset` says where and `width`
 * how many bytes: 1, 2, 4 or 8 read a big-endian number that every match
 * type applies to; 0 compares the byte string v.bytes[0..v.len) with EQ or
 * NE. A packet too short for the offset does not match (and NE does not
 * match either). */
struct weir_cond {
	uint16_t field;              /* enum weir_field */
	uint8_t match;               /* enum weir_match */
	uint8_t width;               /* PACKET/PAYLOAD only */
	uint32_t offset;             /* PACKET/PAYLOAD only */
	struct weir_val v;           /* the value (not for IN_SET) */
	const struct weir_val *set;  /* IN_SET members; caller-owned */
	uint32_t set_len;
};

/* Filter actions. */
enum weir_action {
	WEIR_ACTION_PERMIT = 1,
	WEIR_ACTION_BLOCK,
	WEIR_ACTION_CALLOUT_TERMINATING, /* the callout returns permit/block */
	WEIR_ACTION_CALLOUT_INSPECTION,  /* the callout only looks: continue */
	WEIR_ACTION_CALLOUT_UNKNOWN,     /* the callout may return anything */
};

/* Filter flags. */
#define WEIR_FILTER_CLEAR_ACTION_RIGHT   0x1u /* its decision is hard */
#define WEIR_FILTER_PERMIT_IF_NO_CALLOUT 0x2u /* unregistered callout:
                                               * permit instead of block */
#define WEIR_FILTER_DISABLED             0x4u /* kept but never matches */
#define WEIR_FILTER_PEND_PERMIT          0x8u /* a pend of this filter that
                                               * times out permits */

/* How `weight` is read (after WFP's FWP_UINT64 / FWP_EMPTY / FWP_UINT8). */
enum weir_weight_kind {
	WEIR_WEIGHT_AUTO = 0,    /* the engine picks, in [0, 2^60) */
	WEIR_WEIGHT_EXACT,       /* weight as given */
	WEIR_WEIGHT_RANGE,       /* weight in 0..15 sets the top 4 bits, the
	                          * engine picks the low 60 */
};

#define WEIR_NAME_MAX 64

/* A filter as the caller describes it. */
struct weir_filter_spec {
	uint64_t id;                      /* 0: the engine assigns one */
	char name[WEIR_NAME_MAX];
	uint16_t layer;                   /* enum weir_layer */
	uint16_t sublayer;                /* engine sublayer id, 0 = default */
	uint8_t weight_kind;              /* enum weir_weight_kind */
	uint8_t action;                   /* enum weir_action */
	uint16_t reserved;
	uint32_t flags;                   /* WEIR_FILTER_* */
	uint64_t weight;
	char callout[WEIR_NAME_MAX];      /* callout name, for callout actions */
	uint64_t context;                 /* opaque, handed to the callout */
	const char *params;               /* callout parameters (text); the
	                                   * engine copies them; may be NULL */
	const struct weir_cond *conds;    /* caller-owned */
	uint32_t ncond;
};

/* A layer's name ("inbound-ippacket-v4", ...) or NULL. */
const char *weir_layer_name(int layer);
/* The layer of that name, or -ENOENT. */
int weir_layer_by_name(const char *name);
/* AF_INET or AF_INET6. */
int weir_layer_family(int layer);
/* Bit (1 << field) set for every field the layer offers. */
uint64_t weir_layer_fields(int layer);

/* A field's name ("ip.src", "tcp.dport", ...) or NULL. */
const char *weir_field_name(int field);

/* Checks a spec on its own (layer, fields offered, match types that fit
 * the field, set sizes, widths). Returns 0 or -EINVAL and, when `why` is
 * given, a static English reason. */
int weir_filter_spec_check(const struct weir_filter_spec *spec,
			   const char **why);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_FILTER_H */
