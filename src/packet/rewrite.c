/* In-place packet rewrites with checksum fix-up: addresses, ports,
 * TTL/hop limit, the TCP MSS option, and payload replacement.
 *
 * Header fields are updated incrementally (RFC 1624), so a rewrite costs
 * the same for a 64-byte and a 64-KiB packet. For a packet whose L4
 * checksum is partial (csum.h) only pseudo-header fields touch the field,
 * additively; everything else is left to whoever completes the sum.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/craft.h>
#include <weir/csum.h>

#include "packet/bytes.h"

static bool is_partial(const struct weir_pkt *pkt)
{
	return pkt->meta.csum_state == WEIR_CSUM_PARTIAL;
}

/* The L4 checksum field, or NULL when there is none to maintain: no L4
 * header here, a protocol without one, or UDP/IPv4 sent without one. */
static uint16_t *l4_field(struct weir_pkt *pkt)
{
	const struct weir_pdesc *pd = &pkt->pd;
	uint32_t at;

	if (!(pd->flags & WEIR_PD_L4))
		return NULL;
	switch (pd->proto) {
	case IPPROTO_TCP:
		at = 16;
		break;
	case IPPROTO_UDP:
		if (pd->family == AF_INET && pd->l4_csum == 0)
			return NULL;
		at = 6;
		break;
	case IPPROTO_ICMPV6:
		at = 2;
		break;
	default:
		return NULL;
	}
	return (uint16_t *)(void *)(pkt->data + pd->l4_off + at);
}

/* Loads a field through a pointer into packet memory that may be
 * unaligned, applies a checksum update and stores it back. */
static void field_update(uint16_t *field, const void *old, const void *new_,
			 size_t len, bool partial)
{
	uint16_t v, o, n;

	memcpy(&v, field, 2);
	if (len == 2) {
		memcpy(&o, old, 2);
		memcpy(&n, new_, 2);
		weir_csum_replace16(&v, o, n, partial);
	} else {
		weir_csum_replace(&v, old, new_, len, partial);
	}
	memcpy(field, &v, 2);
}

/* After an update a UDP checksum must not become 0 ("none"). */
static void udp_nonzero(struct weir_pkt *pkt, uint16_t *field)
{
	static const uint16_t ffff = 0xffff;

	if (pkt->pd.proto == IPPROTO_UDP && !is_partial(pkt) &&
	    !memcmp(field, "\0\0", 2))
		memcpy(field, &ffff, 2);
}

static void refresh_l4_csum(struct weir_pkt *pkt, const uint16_t *field)
{
	if (field)
		pkt->pd.l4_csum = rd16((const uint8_t *)field);
}

static int prepare(struct weir_pkt *pkt, uint32_t need_flags)
{
	if ((pkt->pd.flags & need_flags) != need_flags)
		return -EINVAL;
	return weir_pkt_make_writable(pkt);
}

int weir_pkt_set_addr(struct weir_pkt *pkt, enum weir_end which,
		      const uint8_t *addr)
{
	struct weir_pdesc *pd = &pkt->pd;
	bool v4 = pd->family == AF_INET;
	size_t alen = v4 ? 4 : 16;
	uint32_t at = v4 ? (which == WEIR_SRC ? 12 : 16)
			 : (which == WEIR_SRC ? 8 : 24);
	uint16_t *l4;
	int err = prepare(pkt, WEIR_PD_L3);

	if (err < 0)
		return err;
	if (v4)
		field_update((uint16_t *)(void *)(pkt->data + 10),
			     pkt->data + at, addr, 4, false);
	/* Behind a routing header the pseudo-header uses the final
	 * destination, not this one. */
	l4 = which == WEIR_DST && pd->l4_dst_off != at ? NULL : l4_field(pkt);
	if (l4) {
		field_update(l4, pkt->data + at, addr, alen, is_partial(pkt));
		udp_nonzero(pkt, l4);
		refresh_l4_csum(pkt, l4);
	}
	memcpy(pkt->data + at, addr, alen);
	memcpy(which == WEIR_SRC ? pd->src : pd->dst, addr, alen);
	return 0;
}

int weir_pkt_set_port(struct weir_pkt *pkt, enum weir_end which,
		      uint16_t port)
{
	struct weir_pdesc *pd = &pkt->pd;
	uint8_t be[2], *at;
	uint16_t *l4;
	int err;

	if ((pd->flags & WEIR_PD_L4) && pd->proto != IPPROTO_TCP &&
	    pd->proto != IPPROTO_UDP)
		return -EPROTONOSUPPORT;
	err = prepare(pkt, WEIR_PD_L4);
	if (err < 0)
		return err;
	if (pd->proto != IPPROTO_TCP && pd->proto != IPPROTO_UDP)
		return -EPROTONOSUPPORT;
	at = pkt->data + pd->l4_off + (which == WEIR_SRC ? 0 : 2);
	wr16(be, port);
	l4 = l4_field(pkt);
	if (l4 && !is_partial(pkt)) {
		field_update(l4, at, be, 2, false);
		udp_nonzero(pkt, l4);
		refresh_l4_csum(pkt, l4);
	}
	memcpy(at, be, 2);
	if (which == WEIR_SRC)
		pd->sport = port;
	else
		pd->dport = port;
	return 0;
}

int weir_pkt_set_ttl(struct weir_pkt *pkt, uint8_t ttl)
{
	int err = prepare(pkt, WEIR_PD_L3);
	uint8_t word[2];

	if (err < 0)
		return err;
	if (pkt->pd.family == AF_INET6) {
		pkt->data[7] = ttl;
	} else {
		/* TTL shares a 16-bit word with the protocol. */
		word[0] = ttl;
		word[1] = pkt->data[9];
		field_update((uint16_t *)(void *)(pkt->data + 10),
			     pkt->data + 8, word, 2, false);
		pkt->data[8] = ttl;
	}
	pkt->pd.ttl = ttl;
	return 0;
}

int weir_pkt_clamp_mss(struct weir_pkt *pkt, uint16_t mss)
{
	struct weir_pdesc *pd = &pkt->pd;
	uint8_t be[2], *at;
	uint16_t *l4;
	int err;

	if (!(pd->flags & WEIR_PD_L4) || pd->proto != IPPROTO_TCP)
		return -EINVAL;
	if (!(pd->flags & WEIR_PD_TCP_MSS) || pd->tcp_mss <= mss)
		return 0;
	err = weir_pkt_make_writable(pkt);
	if (err < 0)
		return err;
	at = pkt->data + pd->tcp_mss_off + 2;
	wr16(be, mss);
	l4 = l4_field(pkt);
	/* The option sits at an even offset of the TCP header only by
	 * convention; a misaligned word needs the byte-swapped update. */
	if ((pd->tcp_mss_off + 2 - pd->l4_off) % 2 == 0) {
		if (!is_partial(pkt))
			field_update(l4, at, be, 2, false);
	} else if (!is_partial(pkt)) {
		uint8_t o[2] = { at[1], at[0] }, n[2] = { be[1], be[0] };

		field_update(l4, o, n, 2, false);
	}
	refresh_l4_csum(pkt, l4);
	memcpy(at, be, 2);
	pd->tcp_mss = mss;
	return 1;
}

/* Moves the bytes after the replaced range and resizes the packet. */
static int resize_payload(struct weir_pkt *pkt, uint32_t at, uint32_t old_len,
			  uint32_t new_len)
{
	uint32_t tail = pkt->pd.cap_len - at - old_len;
	int err;

	weir_pkt_trim(pkt, pkt->pd.cap_len); /* drop link-layer padding */
	if (new_len > old_len) {
		err = weir_pkt_put(pkt, new_len - old_len);
		if (err < 0)
			return err;
	}
	memmove(pkt->data + at + new_len, pkt->data + at + old_len, tail);
	if (new_len < old_len)
		weir_pkt_trim(pkt, pkt->len - (old_len - new_len));
	return 0;
}

/* Writes the new lengths into the IP and UDP headers. */
static void write_lengths(struct weir_pkt *pkt, uint32_t total)
{
	const struct weir_pdesc *pd = &pkt->pd;

	if (pd->family == AF_INET)
		wr16(pkt->data + 2, (uint16_t)total);
	else
		wr16(pkt->data + 4, (uint16_t)(total - 40));
	if (pd->proto == IPPROTO_UDP)
		wr16(pkt->data + pd->l4_off + 4,
		     (uint16_t)(total - pd->l4_off));
}

static int payload_args_ok(const struct weir_pdesc *pd, uint32_t off,
			   uint32_t old_len, uint32_t new_len)
{
	uint64_t total = (uint64_t)pd->cap_len - old_len + new_len;

	if (!(pd->flags & WEIR_PD_L3) || pd->err != WEIR_PERR_NONE ||
	    (pd->flags & (WEIR_PD_FRAG | WEIR_PD_TRUNCATED)) ||
	    (uint64_t)off + old_len > pd->payload_len)
		return -EINVAL;
	if (total > 65535 || (pd->family == AF_INET6 && total - 40 > 65535))
		return -EMSGSIZE;
	return 0;
}

int weir_pkt_replace_payload(struct weir_pkt *pkt, uint32_t off,
			     uint32_t old_len, const void *bytes,
			     uint32_t new_len)
{
	uint32_t at = pkt->pd.payload_off + off;
	uint32_t total = pkt->pd.cap_len - old_len + new_len;
	uint32_t had_udp_csum = pkt->pd.proto == IPPROTO_UDP &&
				pkt->pd.l4_csum != 0;
	int err = payload_args_ok(&pkt->pd, off, old_len, new_len);

	if (err == 0)
		err = weir_pkt_make_writable(pkt);
	if (err == 0)
		err = resize_payload(pkt, at, old_len, new_len);
	if (err < 0)
		return err;
	if (new_len)
		memcpy(pkt->data + at, bytes, new_len);
	write_lengths(pkt, total);
	weir_pkt_parse(pkt);
	/* The payload changed: the sum is recomputed whole, and becomes
	 * complete (a kernel given new bytes drops its offload state). */
	if (pkt->pd.family == AF_INET && pkt->pd.proto == IPPROTO_UDP &&
	    !had_udp_csum) {
		st16(pkt->data + 10, 0);
		st16(pkt->data + 10,
		     weir_csum_ipv4_header(pkt->data, pkt->pd.l3_len));
	} else {
		weir_csum_fill(pkt->data, &pkt->pd);
	}
	pkt->meta.csum_state = WEIR_CSUM_VERIFIED;
	/* New bytes may well break what the payload held (the quote of an
	 * ICMP error, say); pd describes the packet as it now is. */
	weir_pkt_parse(pkt);
	return 0;
}
