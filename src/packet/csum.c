/* Internet checksums: the one's-complement sum (RFC 1071) computed 32 bits
 * at a time, pseudo-headers, full verify/fill for IPv4, TCP, UDP, ICMP and
 * ICMPv6, and incremental updates (RFC 1624), with partial-checksum
 * (offload/GSO) packets handled as csum.h explains.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/csum.h>
#include <weir/packet.h>

#include "packet/bytes.h"

uint32_t weir_csum_add(uint32_t sum, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t acc = sum;

	/* 32-bit words into a 64-bit accumulator: no carry is lost before
	 * 2^32 words, and one's-complement addition does not care about
	 * the word size as long as we fold at the end. */
	while (len >= 16) {
		uint32_t w[4];

		memcpy(w, p, sizeof(w));
		acc += (uint64_t)w[0] + w[1] + w[2] + w[3];
		p += 16;
		len -= 16;
	}
	while (len >= 4) {
		uint32_t w;

		memcpy(&w, p, sizeof(w));
		acc += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		acc += ld16(p);
		p += 2;
		len -= 2;
	}
	if (len) {
		uint8_t last[2] = { p[0], 0 };

		acc += ld16(last);
	}
	acc = (acc & 0xffffffffu) + (acc >> 32);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

uint16_t weir_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffffu) + (sum >> 16);
	sum = (sum & 0xffffu) + (sum >> 16);
	return (uint16_t)sum;
}

uint32_t weir_csum_pseudo(int family, const uint8_t *src, const uint8_t *dst,
			  uint8_t proto, uint32_t l4_len)
{
	size_t alen = family == AF_INET6 ? 16 : 4;
	uint32_t sum = weir_csum_add(0, src, alen);
	uint32_t be_len = htonl(l4_len);
	uint64_t acc;

	sum = weir_csum_add(sum, dst, alen);
	/* Both layouts reduce to: length (32-bit, big-endian) + protocol. */
	acc = (uint64_t)sum + (be_len >> 16) + (be_len & 0xffffu) +
	      htons(proto);
	acc = (acc & 0xffffffffu) + (acc >> 32);
	return (uint32_t)acc;
}

uint16_t weir_csum_ipv4_header(const uint8_t *data, uint16_t hdr_len)
{
	uint32_t sum = weir_csum_add(0, data, 10);

	sum = weir_csum_add(sum, data + 12, hdr_len - 12u);
	return weir_csum_final(sum);
}

/* Offset of the L4 checksum field in its header, or -1 if none. */
static int l4_csum_field(const struct weir_pdesc *pd)
{
	switch (pd->proto) {
	case IPPROTO_TCP:
		return 16;
	case IPPROTO_UDP:
		return 6;
	case IPPROTO_ICMP:
		return pd->family == AF_INET ? 2 : -1;
	case IPPROTO_ICMPV6:
		return pd->family == AF_INET6 ? 2 : -1;
	default:
		return -1;
	}
}

static uint32_t l4_span(const struct weir_pdesc *pd)
{
	return pd->cap_len - pd->l4_off;
}

/* Pseudo-header sum for the packet, 0 for ICMPv4 (which has none). The
 * destination is the final one when a routing header names it. */
static uint32_t l4_pseudo(const uint8_t *data, const struct weir_pdesc *pd,
			  uint32_t l4_len)
{
	if (pd->proto == IPPROTO_ICMP)
		return 0;
	return weir_csum_pseudo(pd->family, pd->src, data + pd->l4_dst_off,
				pd->proto, l4_len);
}

static int l4_checkable(const struct weir_pdesc *pd)
{
	if (!(pd->flags & WEIR_PD_L4) || l4_csum_field(pd) < 0)
		return -EINVAL;
	if (pd->flags & (WEIR_PD_FRAG | WEIR_PD_TRUNCATED))
		return -ERANGE;
	return 0;
}

int weir_csum_l4(const uint8_t *data, const struct weir_pdesc *pd,
		 uint16_t *ret_csum)
{
	uint32_t len, field, sum;
	int err = l4_checkable(pd);

	if (err < 0)
		return err;
	len = l4_span(pd);
	field = pd->l4_off + (uint32_t)l4_csum_field(pd);
	sum = l4_pseudo(data, pd, len);
	sum = weir_csum_add(sum, data + pd->l4_off, field - pd->l4_off);
	sum = weir_csum_add(sum, data + field + 2, len - (field + 2 - pd->l4_off));
	*ret_csum = weir_csum_final(sum);
	return 0;
}

static uint8_t verify_l4(const uint8_t *data, const struct weir_pdesc *pd,
			 bool partial)
{
	int err = l4_checkable(pd);
	uint16_t want;

	if (err == -EINVAL)
		return WEIR_CSUM_NONE;
	if (pd->proto == IPPROTO_UDP && pd->family == AF_INET &&
	    pd->l4_csum == 0)
		return WEIR_CSUM_ABSENT;
	if (pd->flags & WEIR_PD_FRAG)
		return WEIR_CSUM_UNCHECKABLE;
	if (partial && pd->proto != IPPROTO_ICMP) {
		want = weir_csum_fold(l4_pseudo(data, pd,
						 pd->ip_len - pd->l4_off));
		return htons(pd->l4_csum) == want ? WEIR_CSUM_PSEUDO_OK
						  : WEIR_CSUM_BAD;
	}
	if (err < 0)
		return WEIR_CSUM_UNCHECKABLE;
	/* Summing over the field itself gives 0xffff when it is right. */
	return weir_csum_fold(weir_csum_add(l4_pseudo(data, pd, l4_span(pd)),
					    data + pd->l4_off, l4_span(pd)))
	       == 0xffff ? WEIR_CSUM_GOOD : WEIR_CSUM_BAD;
}

static uint8_t verify_ipv4(const uint8_t *ip, uint32_t avail)
{
	uint32_t ihl;

	if (avail < 20)
		return WEIR_CSUM_NONE;
	ihl = (ip[0] & 0x0fu) * 4u;
	if (ihl < 20 || ihl > avail)
		return WEIR_CSUM_NONE;
	return weir_csum_fold(weir_csum_add(0, ip, ihl)) == 0xffff
	       ? WEIR_CSUM_GOOD : WEIR_CSUM_BAD;
}

int weir_csum_verify(const uint8_t *data, const struct weir_pdesc *pd,
		     bool partial, struct weir_csum_report *ret_report)
{
	struct weir_csum_report r = { 0 };

	if ((pd->flags & WEIR_PD_L3) && pd->family == AF_INET)
		r.ip = verify_ipv4(data, pd->l3_len);
	r.l4 = verify_l4(data, pd, partial);
	if ((pd->flags & WEIR_PD_INNER) && pd->inner.family == AF_INET)
		r.inner_ip = verify_ipv4(data + pd->inner.off,
					 pd->cap_len - pd->inner.off);
	*ret_report = r;
	return r.ip == WEIR_CSUM_BAD || r.l4 == WEIR_CSUM_BAD ||
	       r.inner_ip == WEIR_CSUM_BAD ? -EBADMSG : 0;
}

int weir_csum_fill(uint8_t *data, const struct weir_pdesc *pd)
{
	uint16_t c;
	int err;

	if ((pd->flags & WEIR_PD_L3) && pd->family == AF_INET) {
		st16(data + 10, 0);
		st16(data + 10, weir_csum_ipv4_header(data, pd->l3_len));
	}
	if (pd->flags & WEIR_PD_FRAG)
		return 0;
	err = weir_csum_l4(data, pd, &c);
	if (err < 0)
		return err;
	if (c == 0 && pd->proto == IPPROTO_UDP)
		c = 0xffff; /* 0 would mean "no checksum" */
	st16(data + pd->l4_off + l4_csum_field(pd), c);
	return 0;
}

void weir_csum_replace16(uint16_t *field, uint16_t old, uint16_t new_,
			 bool partial)
{
	uint32_t sum;

	if (partial) {
		/* The field is an uncomplemented sum: S' = S - old + new. */
		sum = (uint32_t)*field + (uint16_t)~old + new_;
		*field = weir_csum_fold(sum);
		return;
	}
	/* RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). */
	sum = (uint32_t)(uint16_t)~*field + (uint16_t)~old + new_;
	*field = (uint16_t)~weir_csum_fold(sum);
}

void weir_csum_replace(uint16_t *field, const void *old, const void *new_,
		       size_t len, bool partial)
{
	const uint8_t *o = old, *n = new_;
	uint32_t sum_old = weir_csum_add(0, o, len);
	uint32_t sum_new = weir_csum_add(0, n, len);

	weir_csum_replace16(field, weir_csum_fold(sum_old),
			    weir_csum_fold(sum_new), partial);
}

int weir_pkt_csum_finalize(struct weir_pkt *pkt)
{
	int err;

	if (!(pkt->pd.flags & WEIR_PD_L3))
		weir_pkt_parse(pkt);
	if (!(pkt->pd.flags & WEIR_PD_L3))
		return -EINVAL;
	err = weir_pkt_make_writable(pkt);
	if (err < 0)
		return err;
	err = weir_csum_fill(pkt->data, &pkt->pd);
	if (err < 0 && err != -EINVAL)
		return err;
	weir_pkt_parse(pkt); /* pd.l4_csum follows the new field */
	pkt->meta.csum_state = WEIR_CSUM_VERIFIED;
	return 0;
}
