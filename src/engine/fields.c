/* Field values of one packet: filled once from the parse descriptor and
 * the metadata, then read by every condition of every filter.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <string.h>

#include <weir/engine.h>

#define SET(f, field, val)                                   \
	do {                                                 \
		(f)->num[WEIR_FIELD_##field] = (val);        \
		(f)->present |= 1ull << WEIR_FIELD_##field;  \
	} while (0)

/* Linux's enum ip_conntrack_info as NFQUEUE reports it, as ct.state
 * bits. */
static uint64_t ct_bits(uint32_t ctinfo)
{
	switch (ctinfo) {
	case 0: return WEIR_CTF_ESTABLISHED;
	case 1: return WEIR_CTF_RELATED;
	case 2: return WEIR_CTF_NEW;
	case 3: return WEIR_CTF_ESTABLISHED | WEIR_CTF_REPLY;
	case 4: return WEIR_CTF_RELATED | WEIR_CTF_REPLY;
	case 7: return WEIR_CTF_UNTRACKED;
	default: return WEIR_CTF_INVALID;
	}
}

static uint64_t frag_bits(const struct weir_pdesc *pd)
{
	uint64_t b = 0;

	if (pd->flags & WEIR_PD_FRAG)
		b |= WEIR_FRAGF_FRAGMENT;
	if (pd->flags & WEIR_PD_FRAG_LATER)
		b |= WEIR_FRAGF_LATER;
	else if (pd->flags & WEIR_PD_MF)
		b |= WEIR_FRAGF_FIRST;
	if (pd->flags & WEIR_PD_DF)
		b |= WEIR_FRAGF_DF;
	return b;
}

static void l4_fields(struct weir_fields *f, const struct weir_pdesc *pd)
{
	if (!(pd->flags & WEIR_PD_L4))
		return;
	if (pd->proto == IPPROTO_TCP || pd->proto == IPPROTO_UDP) {
		SET(f, SRC_PORT, pd->sport);
		SET(f, DST_PORT, pd->dport);
	}
	if (pd->proto == IPPROTO_TCP)
		SET(f, TCP_FLAGS, pd->tcp_flags);
	if (pd->proto == IPPROTO_ICMP || pd->proto == IPPROTO_ICMPV6) {
		SET(f, ICMP_TYPE, pd->icmp_type);
		SET(f, ICMP_CODE, pd->icmp_code);
	}
	f->payload_off = pd->payload_off;
	f->present |= 1ull << WEIR_FIELD_PAYLOAD;
}

/* The direction a layer implies, for metadata that does not say. */
static uint8_t layer_direction(int layer)
{
	switch ((layer - 1) & ~1) {
	case WEIR_LAYER_INBOUND_IPPACKET_V4 - 1:
	case WEIR_LAYER_INBOUND_TRANSPORT_V4 - 1:
	case WEIR_LAYER_ALE_ACCEPT_V4 - 1:
		return WEIR_DIR_INBOUND;
	case WEIR_LAYER_OUTBOUND_IPPACKET_V4 - 1:
	case WEIR_LAYER_OUTBOUND_TRANSPORT_V4 - 1:
	case WEIR_LAYER_ALE_CONNECT_V4 - 1:
		return WEIR_DIR_OUTBOUND;
	case WEIR_LAYER_IPFORWARD_V4 - 1:
		return WEIR_DIR_FORWARD;
	default:
		return WEIR_DIR_NONE;
	}
}

static void meta_fields(struct weir_fields *f, const struct weir_pkt_meta *m)
{
	if (m->ifindex_in)
		SET(f, IF_IN, m->ifindex_in);
	if (m->ifindex_out)
		SET(f, IF_OUT, m->ifindex_out);
	if (m->direction)
		SET(f, DIRECTION, m->direction);
	SET(f, LOOPBACK, !!(m->flags & WEIR_META_LOOPBACK));
	if (m->flags & WEIR_META_MARK)
		SET(f, MARK, m->mark);
	if (m->flags & WEIR_META_CT)
		SET(f, CT_STATE, ct_bits(m->ct_state));
	if (m->flags & WEIR_META_UID)
		SET(f, UID, m->uid);
	if (m->flags & WEIR_META_GID)
		SET(f, GID, m->gid);
	SET(f, COMPARTMENT, m->compartment);
}

int weir_fields_from_pkt(struct weir_fields *f, const struct weir_pkt *pkt,
			 int layer, uint32_t cflags)
{
	const struct weir_pdesc *pd = &pkt->pd;

	if (!(pd->flags & WEIR_PD_L3))
		return -EINVAL;
	memset(f, 0, offsetof(struct weir_fields, num));
	f->if_in_name[0] = f->if_out_name[0] = '\0';
	f->family = pd->family;
	memcpy(f->src, pd->src, 16);
	memcpy(f->dst, pd->dst, 16);
	f->present = 1ull << WEIR_FIELD_IP_SRC | 1ull << WEIR_FIELD_IP_DST;
	SET(f, IP_PROTO, pd->proto);
	SET(f, TTL, pd->ttl);
	SET(f, IP_LEN, pd->ip_len);
	SET(f, FRAG, frag_bits(pd));
	SET(f, FLAGS, cflags | (pd->err ? WEIR_CF_MALFORMED : 0));
	f->packet = pkt->data;
	f->packet_len = pd->cap_len;
	f->present |= 1ull << WEIR_FIELD_PACKET;
	l4_fields(f, pd);
	meta_fields(f, &pkt->meta);
	if (!pkt->meta.direction && layer_direction(layer))
		SET(f, DIRECTION, layer_direction(layer));
	return 0;
}
