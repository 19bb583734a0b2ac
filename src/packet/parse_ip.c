/* One-pass parsing of the network layer: IPv4 with options and fragments,
 * IPv6 with a bounded walk over extension headers. Hands over to
 * parse_l4.c for the transport header.
 */
#include <errno.h>
#include <stddef.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "packet/bytes.h"
#include "packet/parse.h"

static const char *const perr_names[WEIR_PERR__COUNT] = {
	[WEIR_PERR_NONE] = "no error",
	[WEIR_PERR_SHORT] = "shorter than an IP header",
	[WEIR_PERR_VERSION] = "not IPv4 or IPv6",
	[WEIR_PERR_IHL] = "bad IPv4 header length",
	[WEIR_PERR_TOTLEN] = "IP length smaller than its header",
	[WEIR_PERR_IPOPT] = "malformed IPv4 option",
	[WEIR_PERR_EXTHDR] = "malformed IPv6 extension header",
	[WEIR_PERR_EXTLIMIT] = "too many IPv6 extension headers",
	[WEIR_PERR_L4SHORT] = "truncated transport header",
	[WEIR_PERR_TCPOFF] = "bad TCP data offset",
	[WEIR_PERR_TCPOPT] = "malformed TCP option",
	[WEIR_PERR_UDPLEN] = "UDP length disagrees with the packet",
	[WEIR_PERR_INNER] = "ICMP error quote malformed",
};

const char *weir_perr_str(int err)
{
	if (err < 0 || err >= WEIR_PERR__COUNT)
		return "unknown error";
	return perr_names[err];
}

int weir__perr(struct weir_pdesc *pd, enum weir_perr err, uint32_t off)
{
	if (pd->err == WEIR_PERR_NONE) {
		pd->err = (uint8_t)err;
		pd->err_off = (uint16_t)(off > UINT16_MAX ? UINT16_MAX : off);
	}
	return -EBADMSG;
}

/* IPv4 options are type-length-value except EOL (0) and NOP (1). */
static int ipv4_options(const uint8_t *data, uint32_t ihl,
			struct weir_pdesc *pd)
{
	uint32_t off = 20;

	while (off < ihl) {
		uint8_t type = data[off];

		if (type == 0)
			break;
		if (type == 1) {
			off++;
			continue;
		}
		if (off + 2 > ihl || data[off + 1] < 2 ||
		    off + data[off + 1] > ihl)
			return weir__perr(pd, WEIR_PERR_IPOPT, off);
		off += data[off + 1];
	}
	pd->flags |= WEIR_PD_L3_EXT;
	return 0;
}

/* Finishes a packet without a transport header to parse. */
static int no_l4(struct weir_pdesc *pd)
{
	pd->payload_off = pd->l3_len;
	pd->payload_len = pd->cap_len - pd->l3_len;
	return 0;
}

/* A total length of 0 on more than 64 KiB is an IPv4 BIG TCP packet
 * (Linux 6.3+): the captured length is the packet. */
static uint32_t ipv4_len(const uint8_t *data, size_t len)
{
	uint32_t tot = rd16(data + 2);

	if (tot == 0 && len > 65535)
		return len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
	return tot;
}

static int parse_ipv4(const uint8_t *data, size_t len, struct weir_pdesc *pd)
{
	uint32_t ihl, fo;
	int err;

	pd->family = AF_INET;
	if (len < 20)
		return weir__perr(pd, WEIR_PERR_SHORT, (uint32_t)len);
	ihl = (data[0] & 0x0fu) * 4u;
	pd->ip_len = ipv4_len(data, len);
	pd->tos = data[1];
	pd->frag_id = rd16(data + 4);
	pd->ttl = data[8];
	pd->proto = data[9];
	memcpy(pd->src, data + 12, 4);
	memcpy(pd->dst, data + 16, 4);
	pd->l4_dst_off = 16;
	if (ihl < 20 || ihl > len)
		return weir__perr(pd, WEIR_PERR_IHL, 0);
	if (pd->ip_len < ihl)
		return weir__perr(pd, WEIR_PERR_TOTLEN, 2);
	pd->cap_len = len < pd->ip_len ? (uint32_t)len : pd->ip_len;
	if (len < pd->ip_len)
		pd->flags |= WEIR_PD_TRUNCATED;
	fo = rd16(data + 6);
	pd->frag_off = (uint16_t)((fo & 0x1fffu) * 8u);
	pd->flags |= WEIR_PD_L3 | (fo & 0x4000u ? WEIR_PD_DF : 0) |
		     (fo & 0x2000u ? WEIR_PD_MF | WEIR_PD_FRAG : 0);
	pd->ipopt_len = (uint16_t)(ihl - 20);
	pd->l3_len = (uint16_t)ihl;
	pd->l4_off = (uint16_t)ihl;
	err = ipv4_options(data, ihl, pd);
	if (err < 0)
		return err;
	if (pd->frag_off) {
		pd->flags |= WEIR_PD_FRAG | WEIR_PD_FRAG_LATER;
		return no_l4(pd);
	}
	return weir__parse_l4(data, pd);
}

/* Hop-by-hop and destination options are TLVs that must fill the header
 * exactly; Pad1 (type 0) is a single byte. */
static int ipv6_tlvs_ok(const uint8_t *data, uint32_t off, uint32_t hl)
{
	uint32_t p = off + 2, end = off + hl;

	while (p < end) {
		if (data[p] == 0) {
			p++;
			continue;
		}
		if (p + 2 > end || p + 2u + data[p + 1] > end)
			return 0;
		p += 2u + data[p + 1];
	}
	return 1;
}

static int ext_len(const uint8_t *data, uint32_t off, uint8_t type)
{
	if (type == IPPROTO_FRAGMENT)
		return 8;
	if (type == IPPROTO_AH)
		return (data[off + 1] + 2) * 4;
	return (data[off + 1] + 1) * 8;
}

/* The final destination of a routing header with segments left: the
 * last address for types 0 and 2, Segment List[0] for SRv6 (type 4,
 * RFC 8754). Other types: unknown, 0. */
static uint16_t rh_final_dst(const uint8_t *data, uint32_t off, uint32_t hl)
{
	uint8_t type = data[off + 2], left = data[off + 3];

	if (left == 0 || hl < 24)
		return 0;
	if (type == 0 || type == 2)
		return (uint16_t)(off + 8 + ((hl - 8) / 16 - 1) * 16);
	if (type == 4)
		return (uint16_t)(off + 8);
	return 0;
}

static int is_ext(uint8_t nh)
{
	return nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING ||
	       nh == IPPROTO_FRAGMENT || nh == IPPROTO_DSTOPTS ||
	       nh == IPPROTO_AH;
}

int weir__ipv6_walk(const uint8_t *data, uint32_t off, uint32_t end,
		    struct weir__ext_walk *w)
{
	while (is_ext(w->nh)) {
		uint8_t type = w->nh;
		uint32_t hl;

		if (w->count == WEIR_PD_MAX_EXT)
			return -WEIR_PERR_EXTLIMIT;
		if (off + 8 > end || (type == IPPROTO_HOPOPTS && w->count))
			return -WEIR_PERR_EXTHDR;
		hl = (uint32_t)ext_len(data, off, type);
		if (off + hl > end)
			return -WEIR_PERR_EXTHDR;
		if ((type == IPPROTO_HOPOPTS || type == IPPROTO_DSTOPTS) &&
		    !ipv6_tlvs_ok(data, off, hl))
			return -WEIR_PERR_EXTHDR;
		if (w->ext)
			w->ext[w->count] = (struct weir_pd_ext){
				.type = type, .off = (uint16_t)off,
				.len = (uint16_t)hl };
		w->count++;
		w->nh = data[off];
		if (type == IPPROTO_ROUTING)
			w->final_dst = rh_final_dst(data, off, hl);
		if (type == IPPROTO_FRAGMENT) {
			w->frag_off = (uint16_t)off;
			if (rd16(data + off + 2) & 0xfff8u) {
				w->later_frag = 1;
				return (int)(off + hl);
			}
		}
		off += hl;
	}
	return (int)off;
}

static void ipv6_frag(const uint8_t *data, struct weir_pdesc *pd,
		      const struct weir__ext_walk *w)
{
	uint16_t fo;

	if (!w->frag_off)
		return;
	fo = rd16(data + w->frag_off + 2);
	pd->frag_hdr_off = w->frag_off;
	pd->frag_off = fo & 0xfff8u;
	pd->frag_id = rd32(data + w->frag_off + 4);
	/* An atomic fragment (offset 0, no MF; RFC 6946) is whole. */
	if (fo & 0xfff9u)
		pd->flags |= WEIR_PD_FRAG;
	pd->flags |= (fo & 1u ? WEIR_PD_MF : 0) |
		     (w->later_frag ? WEIR_PD_FRAG_LATER : 0);
}

/* A payload length of 0 means a jumbogram (RFC 2675, which puts a
 * hop-by-hop header first) or a BIG TCP super-packet longer than any
 * 16-bit length: then the captured length is the packet. Otherwise 0
 * means 0, and further bytes are link-layer padding. */
static uint32_t ipv6_len(const uint8_t *data, size_t len)
{
	uint32_t plen = rd16(data + 4);

	if (plen == 0 && (data[6] == IPPROTO_HOPOPTS || len > 65535 + 40))
		return len > UINT32_MAX ? UINT32_MAX : (uint32_t)len;
	return 40 + plen;
}

static int parse_ipv6(const uint8_t *data, size_t len, struct weir_pdesc *pd)
{
	struct weir__ext_walk w = { .nh = 0, .ext = pd->ext };
	int off;

	pd->family = AF_INET6;
	if (len < 40)
		return weir__perr(pd, WEIR_PERR_SHORT, (uint32_t)len);
	pd->tos = (uint8_t)((data[0] & 0x0fu) << 4 | data[1] >> 4);
	pd->flowlabel = (uint32_t)(data[1] & 0x0fu) << 16 | rd16(data + 2);
	pd->ip_len = ipv6_len(data, len);
	pd->cap_len = len < pd->ip_len ? (uint32_t)len : pd->ip_len;
	if (len < pd->ip_len)
		pd->flags |= WEIR_PD_TRUNCATED;
	w.nh = data[6];
	pd->ttl = data[7];
	memcpy(pd->src, data + 8, 16);
	memcpy(pd->dst, data + 24, 16);
	pd->flags |= WEIR_PD_L3;
	pd->l3_len = 40;
	pd->l4_dst_off = 24;
	off = weir__ipv6_walk(data, 40, pd->cap_len, &w);
	pd->ext_count = w.count;
	pd->proto = w.nh;
	if (off < 0) {
		uint32_t at = w.count ? pd->ext[w.count - 1].off +
				        pd->ext[w.count - 1].len : 40;
		return weir__perr(pd, (enum weir_perr)-off, at);
	}
	pd->flags |= WEIR_PD_L3_EXT;
	if (w.final_dst)
		pd->l4_dst_off = w.final_dst;
	pd->l3_len = (uint16_t)off;
	pd->l4_off = (uint16_t)off;
	ipv6_frag(data, pd, &w);
	if (w.later_frag)
		return no_l4(pd);
	return weir__parse_l4(data, pd);
}

int weir_parse(const uint8_t *data, size_t len, struct weir_pdesc *pd)
{
	memset(pd, 0, offsetof(struct weir_pdesc, ext));
	if (len < 1)
		return weir__perr(pd, WEIR_PERR_SHORT, 0);
	switch (data[0] >> 4) {
	case 4:
		return parse_ipv4(data, len, pd);
	case 6:
		return parse_ipv6(data, len, pd);
	default:
		return weir__perr(pd, WEIR_PERR_VERSION, 0);
	}
}
