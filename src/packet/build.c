/* Builders for the packets callouts inject most: a TCP RST ending a
 * connection, an ICMP/ICMPv6 destination unreachable quoting a packet, and
 * a UDP datagram. Each comes out parsed, with correct checksums.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/craft.h>
#include <weir/csum.h>

#include "packet/bytes.h"

#define DEFAULT_TTL 64
/* RFC 1812 4.3.2.3 and RFC 4443 2.4(c): the largest ICMP error. */
#define ICMP4_ERR_MAX 576u
#define ICMP6_ERR_MAX 1280u

/* Writes a minimal IP header for `l4_len` bytes of `proto`; returns its
 * length. Addresses are 4 or 16 bytes per family. */
static uint32_t ip_header(uint8_t *p, int family, const uint8_t *src,
			  const uint8_t *dst, uint8_t proto, uint32_t l4_len,
			  uint8_t ttl)
{
	if (family == AF_INET) {
		memset(p, 0, 20);
		p[0] = 0x45;
		wr16(p + 2, (uint16_t)(20 + l4_len));
		wr16(p + 6, 0x4000); /* DF: these packets are never split */
		p[8] = ttl;
		p[9] = proto;
		memcpy(p + 12, src, 4);
		memcpy(p + 16, dst, 4);
		return 20;
	}
	memset(p, 0, 40);
	p[0] = 0x60;
	wr16(p + 4, (uint16_t)l4_len);
	p[6] = proto;
	p[7] = ttl;
	memcpy(p + 8, src, 16);
	memcpy(p + 24, dst, 16);
	return 40;
}

/* Parses, checksums and hands over a freshly built packet. */
static int finish(struct weir_pkt *pkt, int family, struct weir_pkt **ret)
{
	int err = weir_pkt_parse(pkt);

	if (err == 0)
		err = weir_csum_fill(pkt->data, &pkt->pd);
	if (err == 0)
		err = weir_pkt_parse(pkt); /* pd.l4_csum now final */
	if (err < 0) {
		weir_pkt_free(pkt);
		return err;
	}
	pkt->meta.family = (uint8_t)family;
	pkt->meta.csum_state = WEIR_CSUM_VERIFIED;
	*ret = pkt;
	return 0;
}

/* Length of orig's TCP segment in sequence space (SYN and FIN count). */
static uint32_t tcp_seg_len(const struct weir_pdesc *pd)
{
	uint32_t data = pd->ip_len > pd->payload_off
			? pd->ip_len - pd->payload_off : 0;

	return data + !!(pd->tcp_flags & WEIR_TCP_SYN) +
	       !!(pd->tcp_flags & WEIR_TCP_FIN);
}

static void rst_numbers(const struct weir_pdesc *pd, enum weir_end to,
			uint32_t *seq, uint32_t *ack, uint8_t *flags)
{
	bool has_ack = pd->tcp_flags & WEIR_TCP_ACK;

	*flags = WEIR_TCP_RST;
	*seq = 0;
	*ack = 0;
	if (to == WEIR_DST) {
		*seq = pd->tcp_seq;
		if (has_ack) {
			*ack = pd->tcp_ack;
			*flags |= WEIR_TCP_ACK;
		}
	} else if (has_ack) {
		*seq = pd->tcp_ack;
	} else {
		*ack = pd->tcp_seq + tcp_seg_len(pd);
		*flags |= WEIR_TCP_ACK;
	}
}

int weir_build_tcp_rst(const struct weir_pkt *orig, enum weir_end to,
		       struct weir_pkt **ret_pkt)
{
	const struct weir_pdesc *pd = &orig->pd;
	bool back = to == WEIR_SRC;
	struct weir_pkt *pkt;
	uint32_t seq, ack, hl;
	uint8_t flags, *t;

	if (!(pd->flags & WEIR_PD_L4) || pd->proto != IPPROTO_TCP ||
	    (pd->tcp_flags & WEIR_TCP_RST) || (to != WEIR_SRC && to != WEIR_DST))
		return -EINVAL;
	pkt = weir_pkt_alloc(pd->family == AF_INET ? 40 : 60,
			     WEIR_PKT_HEADROOM);
	if (!pkt)
		return -ENOMEM;
	hl = ip_header(pkt->data, pd->family, back ? pd->dst : pd->src,
		       back ? pd->src : pd->dst, IPPROTO_TCP, 20, DEFAULT_TTL);
	t = pkt->data + hl;
	memset(t, 0, 20);
	wr16(t, back ? pd->dport : pd->sport);
	wr16(t + 2, back ? pd->sport : pd->dport);
	rst_numbers(pd, to, &seq, &ack, &flags);
	wr32(t + 4, seq);
	wr32(t + 8, ack);
	t[12] = 5 << 4;
	t[13] = flags;
	return finish(pkt, pd->family, ret_pkt);
}

/* RFC 1122 3.2.2 / RFC 4443 2.4(e): no error about a packet whose source
 * is not one host, or that was sent to a group. */
static bool icmp_source_ok(const struct weir_pdesc *pd)
{
	static const uint8_t zero[16];

	if (pd->family == AF_INET) {
		if (!memcmp(pd->src, zero, 4) || pd->src[0] >= 224 ||
		    pd->dst[0] >= 224)
			return false;
		return true;
	}
	return memcmp(pd->src, zero, 16) != 0 && pd->src[0] != 0xff &&
	       pd->dst[0] != 0xff;
}

/* RFC 4443 2.4(e): no ICMPv6 error about an error or a redirect either. */
static bool icmp_may_answer(const struct weir_pdesc *pd)
{
	if (!(pd->flags & WEIR_PD_L3) || (pd->flags & WEIR_PD_FRAG_LATER) ||
	    (pd->flags & WEIR_PD_ICMP_ERR))
		return false;
	if (pd->family == AF_INET6 && pd->proto == IPPROTO_ICMPV6 &&
	    (pd->flags & WEIR_PD_L4) && pd->icmp_type == 137)
		return false;
	if (pd->family == AF_INET6 && pd->proto == IPPROTO_ICMPV6 &&
	    !(pd->flags & WEIR_PD_L4))
		return false; /* cannot tell it is not an error */
	if (pd->family == AF_INET && pd->proto == IPPROTO_ICMP &&
	    !(pd->flags & WEIR_PD_L4))
		return false;
	return icmp_source_ok(pd);
}

int weir_build_icmp_unreach(const struct weir_pkt *orig, uint8_t code,
			    struct weir_pkt **ret_pkt)
{
	const struct weir_pdesc *pd = &orig->pd;
	bool v4 = pd->family == AF_INET;
	uint32_t hl = v4 ? 20 : 40, max = v4 ? ICMP4_ERR_MAX : ICMP6_ERR_MAX;
	uint32_t quote, ipl;
	struct weir_pkt *pkt;
	uint8_t *h;

	if (!icmp_may_answer(pd))
		return -EINVAL;
	quote = pd->cap_len < max - hl - 8 ? pd->cap_len : max - hl - 8;
	pkt = weir_pkt_alloc(hl + 8 + quote, WEIR_PKT_HEADROOM);
	if (!pkt)
		return -ENOMEM;
	ipl = ip_header(pkt->data, pd->family, pd->dst, pd->src,
			v4 ? IPPROTO_ICMP : IPPROTO_ICMPV6, 8 + quote,
			DEFAULT_TTL);
	h = pkt->data + ipl;
	memset(h, 0, 8);
	h[0] = v4 ? 3 : 1;
	h[1] = code;
	memcpy(h + 8, orig->data, quote);
	return finish(pkt, pd->family, ret_pkt);
}

int weir_build_udp(const struct weir_udp_spec *spec, const void *payload,
		   uint32_t len, struct weir_pkt **ret_pkt)
{
	struct weir_pkt *pkt;
	uint32_t hl;
	uint8_t *u;

	if (!spec || (spec->family != AF_INET && spec->family != AF_INET6) ||
	    (len && !payload))
		return -EINVAL;
	hl = spec->family == AF_INET ? 20 : 40;
	if ((uint64_t)len + 8 + (spec->family == AF_INET ? hl : 0) > 65535)
		return -EINVAL;
	pkt = weir_pkt_alloc(hl + 8 + len, WEIR_PKT_HEADROOM);
	if (!pkt)
		return -ENOMEM;
	ip_header(pkt->data, spec->family, spec->src, spec->dst, IPPROTO_UDP,
		  8 + len, spec->ttl ? spec->ttl : DEFAULT_TTL);
	u = pkt->data + hl;
	wr16(u, spec->sport);
	wr16(u + 2, spec->dport);
	wr16(u + 4, (uint16_t)(8 + len));
	wr16(u + 6, 0);
	if (len)
		memcpy(u + 8, payload, len);
	return finish(pkt, spec->family, ret_pkt);
}
