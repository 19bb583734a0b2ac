/* Software TCP segmentation: what a NIC's TSO engine does to a GSO
 * super-packet, done here so that a captured super-packet can be sent on
 * as packets that fit the path's MTU. Each segment is built afresh from
 * the super-packet's headers and a slice of its payload, then parsed and
 * given complete checksums, so the super-packet's checksum state (often
 * partial, see csum.h) does not matter.
 */
#include <errno.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/craft.h>
#include <weir/csum.h>

#include "packet/bytes.h"

/* Largest packets the IP length fields can describe. */
#define IPV4_MAX 65535u
#define IPV6_MAX (40u + 65535u)

/* What every segment of one super-packet shares. */
struct seg_plan {
	uint32_t hdr_len;   /* IP header, options or extension headers, and
	                     * the TCP header with options: copied to each */
	uint32_t data_len;  /* TCP payload bytes of the super-packet */
	uint32_t mss;       /* payload bytes per segment (the last: fewer) */
	uint32_t count;     /* segments */
};

static int check_input(const struct weir_pkt *pkt,
		       const struct weir_nbl *out)
{
	if (!pkt || !out)
		return -EINVAL;
	if (!(pkt->pd.flags & WEIR_PD_L3) ||
	    (pkt->pd.flags & (WEIR_PD_FRAG | WEIR_PD_TRUNCATED)) ||
	    pkt->pd.cap_len > pkt->len)
		return -EINVAL;
	return 0;
}

/* An IPv6 jumbogram (payload length 0 behind a hop-by-hop header, as
 * parse_ip.c reads it) carries a jumbo payload option that would be
 * wrong in every segment; we do not strip it. */
static bool is_jumbogram(const struct weir_pkt *pkt)
{
	return pkt->pd.family == AF_INET6 && rd16(pkt->data + 4) == 0 &&
	       pkt->data[6] == IPPROTO_HOPOPTS;
}

static int plan_segments(const struct weir_pkt *pkt, uint32_t mtu,
			 struct seg_plan *ret_plan)
{
	const struct weir_pdesc *pd = &pkt->pd;
	uint32_t max = pd->family == AF_INET ? IPV4_MAX : IPV6_MAX;

	if (pd->proto != IPPROTO_TCP)
		return -EMSGSIZE;
	if (!(pd->flags & WEIR_PD_L4_OPTS) || pd->err != WEIR_PERR_NONE ||
	    is_jumbogram(pkt))
		return -EINVAL;
	if (mtu > max)
		mtu = max;
	if (mtu <= pd->payload_off)
		return -EINVAL;
	ret_plan->hdr_len = pd->payload_off;
	ret_plan->data_len = pd->cap_len - pd->payload_off;
	ret_plan->mss = mtu - pd->payload_off;
	ret_plan->count = (ret_plan->data_len + ret_plan->mss - 1) /
			  ret_plan->mss;
	return 0;
}

/* TCP flags of segment i of n, as Linux's tcp_gso_segment() sets them:
 * FIN and PSH only on the last, CWR only on the first. A crafted
 * super-packet may also carry SYN (first only: it takes the first
 * sequence number) or RST (last only: it would cut off the rest). */
static uint8_t seg_flags(uint8_t flags, uint32_t i, uint32_t n)
{
	if (i > 0)
		flags &= (uint8_t)~(WEIR_TCP_CWR | WEIR_TCP_SYN);
	if (i + 1 < n)
		flags &= (uint8_t)~(WEIR_TCP_FIN | WEIR_TCP_PSH | WEIR_TCP_RST);
	return flags;
}

/* The urgent pointer counts from each segment's own sequence number: a
 * segment before the urgent point keeps URG and the distance to it
 * (at most 0xffff), one at or past it loses URG, as FreeBSD's
 * tcp_output() does. */
static void seg_urgent(uint8_t *tcp, const struct weir_pdesc *pd,
		       uint32_t seq)
{
	int32_t left = (int32_t)(pd->tcp_seq + pd->tcp_urp - seq);

	if (!(pd->tcp_flags & WEIR_TCP_URG))
		return;
	if (left > 0) {
		wr16(tcp + 18, left > 0xffff ? 0xffff : (uint16_t)left);
	} else {
		tcp[13] &= (uint8_t)~WEIR_TCP_URG;
		wr16(tcp + 18, 0);
	}
}

/* IP length and, for IPv4, id + i (the header checksum comes later). */
static void seg_ip(uint8_t *ip, const struct weir_pdesc *pd, uint32_t len,
		   uint32_t i)
{
	if (pd->family == AF_INET) {
		wr16(ip + 2, (uint16_t)len);
		wr16(ip + 4, (uint16_t)(pd->frag_id + i));
	} else {
		wr16(ip + 4, (uint16_t)(len - 40));
	}
}

/* Segment i of the plan: headers copied and adjusted, payload slice,
 * meta copied, parsed, complete checksums. */
static int make_segment(const struct weir_pkt *pkt,
			const struct seg_plan *plan, uint32_t i,
			struct weir_pkt **ret_seg)
{
	const struct weir_pdesc *pd = &pkt->pd;
	uint32_t off = i * plan->mss;
	uint32_t chunk = plan->data_len - off < plan->mss
			 ? plan->data_len - off : plan->mss;
	uint32_t len = plan->hdr_len + chunk;
	uint32_t syn = pd->tcp_flags & WEIR_TCP_SYN ? 1 : 0;
	uint32_t seq = pd->tcp_seq + (i ? syn + off : 0);
	struct weir_pkt *seg = weir_pkt_alloc(len, WEIR_PKT_HEADROOM);
	uint8_t *tcp;
	int err;

	if (!seg)
		return -ENOMEM;
	memcpy(seg->data, pkt->data, plan->hdr_len);
	memcpy(seg->data + plan->hdr_len, pkt->data + plan->hdr_len + off,
	       chunk);
	seg_ip(seg->data, pd, len, i);
	tcp = seg->data + pd->l4_off;
	wr32(tcp + 4, seq);
	tcp[13] = seg_flags(pd->tcp_flags, i, plan->count);
	seg_urgent(tcp, pd, seq);
	seg->meta = pkt->meta;
	/* The headers parsed cleanly in the super-packet, so they do here;
	 * the check only guards against a pd that did not match its bytes. */
	err = weir_pkt_parse(seg) < 0 ? -EINVAL : weir_pkt_csum_finalize(seg);
	if (err < 0) {
		weir_pkt_free(seg);
		return err;
	}
	*ret_seg = seg;
	return 0;
}

/* A packet that fits: one private copy without link-layer padding. */
static int copy_whole(const struct weir_pkt *pkt, struct weir_nbl *out)
{
	struct weir_pkt *c = weir_pkt_copy(pkt);
	int err;

	if (!c)
		return -ENOMEM;
	weir_pkt_trim(c, c->pd.cap_len);
	err = weir_pkt_csum_finalize(c);
	if (err < 0) {
		weir_pkt_free(c);
		return err;
	}
	weir_nbl_add(out, c);
	return 1;
}

int weir_pkt_segment(const struct weir_pkt *pkt, uint32_t mtu,
		     struct weir_nbl *out)
{
	struct seg_plan plan;
	struct weir_pkt *seg;
	struct weir_nbl *tmp;
	int err = check_input(pkt, out);

	if (err < 0)
		return err;
	if (pkt->pd.cap_len <= mtu)
		return copy_whole(pkt, out);
	err = plan_segments(pkt, mtu, &plan);
	if (err < 0)
		return err;
	/* Built aside, so that a failure half-way leaves `out` unchanged. */
	tmp = weir_nbl_new();
	if (!tmp)
		return -ENOMEM;
	for (uint32_t i = 0; i < plan.count; i++) {
		err = make_segment(pkt, &plan, i, &seg);
		if (err < 0) {
			weir_nbl_unref(tmp);
			return err;
		}
		weir_nbl_add(tmp, seg);
	}
	while (tmp->first)
		weir_nbl_add(out, weir_nbl_pop(tmp));
	weir_nbl_unref(tmp);
	return (int)plan.count;
}
