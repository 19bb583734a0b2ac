/* One-pass parsing of the transport layer: TCP with options, UDP, ICMP and
 * ICMPv6, including the header quoted by an ICMP error message.
 */
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "packet/bytes.h"
#include "packet/parse.h"

/* Known TCP options with a fixed length; other kinds are skipped, and a
 * known kind with an unexpected length is ignored, as Linux does. */
static void tcp_option(const uint8_t *o, uint32_t at, struct weir_pdesc *pd)
{
	switch (o[0]) {
	case 2:
		if (o[1] == 4) {
			pd->tcp_mss = rd16(o + 2);
			pd->tcp_mss_off = (uint16_t)at;
			pd->flags |= WEIR_PD_TCP_MSS;
		}
		break;
	case 3:
		if (o[1] == 3) {
			pd->tcp_wscale = o[2];
			pd->flags |= WEIR_PD_TCP_WSCALE;
		}
		break;
	case 4:
		if (o[1] == 2)
			pd->flags |= WEIR_PD_TCP_SACKOK;
		break;
	case 8:
		if (o[1] == 10) {
			pd->tcp_tsval = rd32(o + 2);
			pd->tcp_tsecr = rd32(o + 6);
			pd->flags |= WEIR_PD_TCP_TS;
		}
		break;
	default:
		break;
	}
}

static int tcp_options(const uint8_t *data, uint32_t off, uint32_t end,
		       struct weir_pdesc *pd)
{
	while (off < end) {
		const uint8_t *o = data + off;

		if (o[0] == 0)
			break;
		if (o[0] == 1) {
			off++;
			continue;
		}
		if (off + 2 > end || o[1] < 2 || off + o[1] > end)
			return weir__perr(pd, WEIR_PERR_TCPOPT, off);
		tcp_option(o, off, pd);
		off += o[1];
	}
	pd->flags |= WEIR_PD_L4_OPTS;
	return 0;
}

static int parse_tcp(const uint8_t *data, struct weir_pdesc *pd)
{
	uint32_t off = pd->l4_off, doff;
	const uint8_t *t = data + off;

	if (off + 20 > pd->cap_len)
		return weir__perr(pd, WEIR_PERR_L4SHORT, off);
	pd->sport = rd16(t);
	pd->dport = rd16(t + 2);
	pd->tcp_seq = rd32(t + 4);
	pd->tcp_ack = rd32(t + 8);
	pd->tcp_flags = t[13];
	pd->tcp_win = rd16(t + 14);
	pd->l4_csum = rd16(t + 16);
	pd->tcp_urp = rd16(t + 18);
	pd->flags |= WEIR_PD_L4;
	doff = (t[12] >> 4) * 4u;
	if (doff < 20 || off + doff > pd->cap_len)
		return weir__perr(pd, WEIR_PERR_TCPOFF, off + 12);
	pd->l4_hdr_len = (uint16_t)doff;
	pd->payload_off = off + doff;
	pd->payload_len = pd->cap_len - pd->payload_off;
	return tcp_options(data, off + 20, off + doff, pd);
}

static int parse_udp(const uint8_t *data, struct weir_pdesc *pd)
{
	uint32_t off = pd->l4_off, avail = pd->cap_len - off;
	const uint8_t *u = data + off;

	if (off + 8 > pd->cap_len)
		return weir__perr(pd, WEIR_PERR_L4SHORT, off);
	pd->sport = rd16(u);
	pd->dport = rd16(u + 2);
	pd->udp_len = rd16(u + 4);
	pd->l4_csum = rd16(u + 6);
	pd->flags |= WEIR_PD_L4;
	pd->l4_hdr_len = 8;
	pd->payload_off = off + 8;
	pd->payload_len = avail - 8;
	if (pd->flags & WEIR_PD_FRAG)
		return 0; /* the UDP length covers the whole datagram */
	if (pd->udp_len < 8 || pd->udp_len < avail ||
	    (pd->udp_len > avail && !(pd->flags & WEIR_PD_TRUNCATED)))
		return weir__perr(pd, WEIR_PERR_UDPLEN, off + 4);
	return 0;
}

static int icmp_is_error(int family, uint8_t type)
{
	if (family == AF_INET6)
		return type < 128;
	return type == 3 || type == 4 || type == 5 || type == 11 ||
	       type == 12;
}

static void inner_ports(const uint8_t *data, uint32_t off, uint32_t end,
			struct weir_pdesc *pd)
{
	struct weir_pd_inner *in = &pd->inner;

	if (in->proto != IPPROTO_TCP && in->proto != IPPROTO_UDP &&
	    in->proto != IPPROTO_SCTP && in->proto != IPPROTO_UDPLITE)
		return;
	in->l4_off = (uint16_t)off;
	if (off + 4 > end)
		return;
	in->sport = rd16(data + off);
	in->dport = rd16(data + off + 2);
	pd->flags |= WEIR_PD_INNER_L4;
}

static int inner_ipv4(const uint8_t *data, uint32_t off, uint32_t end,
		      struct weir_pdesc *pd)
{
	const uint8_t *ip = data + off;
	uint32_t ihl;

	if (off + 20 > end || ip[0] >> 4 != 4)
		return weir__perr(pd, WEIR_PERR_INNER, off);
	ihl = (ip[0] & 0x0fu) * 4u;
	if (ihl < 20 || off + ihl > end)
		return weir__perr(pd, WEIR_PERR_INNER, off);
	pd->inner.family = AF_INET;
	pd->inner.proto = ip[9];
	memcpy(pd->inner.src, ip + 12, 4);
	memcpy(pd->inner.dst, ip + 16, 4);
	pd->flags |= WEIR_PD_INNER;
	if ((rd16(ip + 6) & 0x1fffu) == 0)
		inner_ports(data, off + ihl, end, pd);
	return 0;
}

/* The quote may end inside the extension chain: that is a short quote,
 * not a malformed one, so only the fixed header is required. */
static int inner_ipv6(const uint8_t *data, uint32_t off, uint32_t end,
		      struct weir_pdesc *pd)
{
	const uint8_t *ip = data + off;
	struct weir__ext_walk w = { .nh = 0 };
	int l4;

	if (off + 40 > end || ip[0] >> 4 != 6)
		return weir__perr(pd, WEIR_PERR_INNER, off);
	pd->inner.family = AF_INET6;
	memcpy(pd->inner.src, ip + 8, 16);
	memcpy(pd->inner.dst, ip + 24, 16);
	pd->flags |= WEIR_PD_INNER;
	w.nh = ip[6];
	l4 = weir__ipv6_walk(data, off + 40, end, &w);
	pd->inner.proto = w.nh;
	if (l4 > 0 && !w.later_frag)
		inner_ports(data, (uint32_t)l4, end, pd);
	return 0;
}

static int parse_icmp(const uint8_t *data, struct weir_pdesc *pd)
{
	uint32_t off = pd->l4_off;
	const uint8_t *h = data + off;

	if (off + 8 > pd->cap_len)
		return weir__perr(pd, WEIR_PERR_L4SHORT, off);
	pd->icmp_type = h[0];
	pd->icmp_code = h[1];
	pd->l4_csum = rd16(h + 2);
	pd->icmp_rest = rd32(h + 4);
	pd->flags |= WEIR_PD_L4;
	pd->l4_hdr_len = 8;
	pd->payload_off = off + 8;
	pd->payload_len = pd->cap_len - pd->payload_off;
	if (!icmp_is_error(pd->family, pd->icmp_type))
		return 0;
	pd->flags |= WEIR_PD_ICMP_ERR;
	pd->inner.off = (uint16_t)(off + 8);
	if (pd->family == AF_INET)
		return inner_ipv4(data, off + 8, pd->cap_len, pd);
	return inner_ipv6(data, off + 8, pd->cap_len, pd);
}

int weir__parse_l4(const uint8_t *data, struct weir_pdesc *pd)
{
	int icmp = pd->family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;

	pd->payload_off = pd->l4_off;
	pd->payload_len = pd->cap_len - pd->l4_off;
	if (pd->proto == IPPROTO_TCP)
		return parse_tcp(data, pd);
	if (pd->proto == IPPROTO_UDP)
		return parse_udp(data, pd);
	if (pd->proto == icmp)
		return parse_icmp(data, pd);
	return 0;
}
