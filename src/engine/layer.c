/* Layers and fields: names, address family, which fields each layer
 * offers, and the checks a filter spec must pass before the engine takes
 * it.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/filter.h>

#define F(x) (1ull << WEIR_FIELD_##x)

/* Offered by every layer. */
#define COMMON (F(IP_SRC) | F(IP_DST) | F(IP_PROTO) | F(TTL) | F(IP_LEN) | \
		F(DIRECTION) | F(LOOPBACK) | F(MARK) | F(CT_STATE) |       \
		F(UID) | F(GID) | F(COMPARTMENT) | F(PACKET) | F(FLAGS))
/* Transport header fields (present only when the packet has them). */
#define L4 (F(SRC_PORT) | F(DST_PORT) | F(TCP_FLAGS) | F(ICMP_TYPE) | \
	    F(ICMP_CODE) | F(PAYLOAD))
#define IN (F(IF_IN) | F(IF_IN_NAME))
#define OUT (F(IF_OUT) | F(IF_OUT_NAME))

struct layer_info {
	const char *name;
	uint64_t fields;
};

/* Both families of a layer: the IPv6 id is the IPv4 id + 1. */
#define LAYER(id, base, flds)                                        \
	[WEIR_LAYER_##id##_V4] = { base "-v4", flds },               \
	[WEIR_LAYER_##id##_V6] = { base "-v6", flds }

/* IP packet and forward layers see fragments, so they offer the fragment
 * flags; transport and ALE layers see whole datagrams. */
static const struct layer_info layers[WEIR_LAYER__COUNT] = {
	LAYER(INBOUND_IPPACKET, "inbound-ippacket", COMMON | L4 | IN | F(FRAG)),
	LAYER(OUTBOUND_IPPACKET, "outbound-ippacket",
	      COMMON | L4 | OUT | F(FRAG)),
	LAYER(IPFORWARD, "ipforward", COMMON | L4 | IN | OUT | F(FRAG)),
	LAYER(INBOUND_TRANSPORT, "inbound-transport", COMMON | L4 | IN),
	LAYER(OUTBOUND_TRANSPORT, "outbound-transport", COMMON | L4 | OUT),
	LAYER(ALE_CONNECT, "ale-connect", COMMON | L4 | OUT),
	LAYER(ALE_ACCEPT, "ale-accept", COMMON | L4 | IN),
	LAYER(ALE_FLOW_ESTABLISHED, "ale-flow-established",
	      COMMON | L4 | IN | OUT),
	LAYER(DATAGRAM_DATA, "datagram-data", COMMON | L4 | IN | OUT),
};

static const char *const field_names[WEIR_FIELD__COUNT] = {
	[WEIR_FIELD_IP_SRC] = "ip.src",
	[WEIR_FIELD_IP_DST] = "ip.dst",
	[WEIR_FIELD_IP_PROTO] = "ip.proto",
	[WEIR_FIELD_SRC_PORT] = "th.sport",
	[WEIR_FIELD_DST_PORT] = "th.dport",
	[WEIR_FIELD_TCP_FLAGS] = "tcp.flags",
	[WEIR_FIELD_ICMP_TYPE] = "icmp.type",
	[WEIR_FIELD_ICMP_CODE] = "icmp.code",
	[WEIR_FIELD_TTL] = "ip.ttl",
	[WEIR_FIELD_IP_LEN] = "ip.len",
	[WEIR_FIELD_IF_IN] = "meta.iif",
	[WEIR_FIELD_IF_OUT] = "meta.oif",
	[WEIR_FIELD_IF_IN_NAME] = "meta.iifname",
	[WEIR_FIELD_IF_OUT_NAME] = "meta.oifname",
	[WEIR_FIELD_DIRECTION] = "meta.direction",
	[WEIR_FIELD_LOOPBACK] = "meta.loopback",
	[WEIR_FIELD_FRAG] = "ip.frag",
	[WEIR_FIELD_MARK] = "meta.mark",
	[WEIR_FIELD_CT_STATE] = "ct.state",
	[WEIR_FIELD_UID] = "meta.uid",
	[WEIR_FIELD_GID] = "meta.gid",
	[WEIR_FIELD_COMPARTMENT] = "meta.compartment",
	[WEIR_FIELD_PACKET] = "packet",
	[WEIR_FIELD_PAYLOAD] = "payload",
	[WEIR_FIELD_FLAGS] = "flags",
};

static const struct layer_info *info(int layer)
{
	if (layer <= WEIR_LAYER_NONE || layer >= WEIR_LAYER__COUNT)
		return NULL;
	return &layers[layer];
}

const char *weir_layer_name(int layer)
{
	const struct layer_info *li = info(layer);

	return li ? li->name : NULL;
}

int weir_layer_by_name(const char *name)
{
	for (int l = WEIR_LAYER_NONE + 1; l < WEIR_LAYER__COUNT; l++)
		if (!strcmp(name, weir_layer_name(l)))
			return l;
	return -ENOENT;
}

int weir_layer_family(int layer)
{
	if (!info(layer))
		return -EINVAL;
	return (layer - 1) & 1 ? AF_INET6 : AF_INET;
}

uint64_t weir_layer_fields(int layer)
{
	const struct layer_info *li = info(layer);

	return li ? li->fields : 0;
}

const char *weir_field_name(int field)
{
	if (field < 0 || field >= WEIR_FIELD__COUNT)
		return NULL;
	return field_names[field];
}
