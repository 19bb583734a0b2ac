/* libFuzzer harness for the weir packet core: parses arbitrary bytes, checks
 * the descriptor and the checksum verdicts against the bytes, then runs the
 * builders and the in-place rewrites on a copy and aborts on the first
 * broken promise of the public API (packet.h, pdesc.h, csum.h, craft.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <weir/craft.h>
#include <weir/csum.h>
#include <weir/packet.h>
#include <weir/pdesc.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Inputs above this are not worth the time: weir packets top out at 64 KiB. */
#define MAX_INPUT (70u * 1024u)

/* Builders must leave *ret_pkt alone on failure: it starts as this. */
#define SENTINEL ((struct weir_pkt *)(uintptr_t)0x5e17)

static const char *g_step = "parse";

#define FUZZ_STEP g_step
#include "fuzz_check.h"

/* ---- small helpers ------------------------------------------------- */

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/* splitmix64: parameters of the rewrites, derived from the input. */
static uint64_t rnd(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t seed_of(const uint8_t *data, size_t size)
{
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 0x100000001b3ull;
	return h;
}

/* A malloc'd copy of exactly n bytes, so ASan sees any read past the end. */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);

	CHECK(copy != NULL);
	if (n)
		memcpy(copy, p, n);
	return copy;
}

static uint64_t pool_in_use(void)
{
	struct weir_pool_stats st;

	CHECK(weir_pool_stats(NULL, &st) == 0);
	return st.in_use;
}

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

static size_t addr_off(int family, enum weir_end which)
{
	if (family == AF_INET)
		return which == WEIR_SRC ? 12 : 16;
	return which == WEIR_SRC ? 8 : 24;
}

static bool is_tcp_udp(const struct weir_pdesc *pd)
{
	return (pd->flags & WEIR_PD_L4) &&
	       (pd->proto == IPPROTO_TCP || pd->proto == IPPROTO_UDP);
}

static bool is_complete(const struct weir_pdesc *pd)
{
	return !(pd->flags & (WEIR_PD_FRAG | WEIR_PD_TRUNCATED));
}

/* ---- descriptor checks --------------------------------------------- */

#define PD_EQ(f) \
	do { \
		if (a->f != b->f) \
			fuzz_fail("pd field differs: " #f, __FILE__, __LINE__); \
	} while (0)
#define PD_MEMEQ(f) \
	do { \
		if (memcmp(a->f, b->f, sizeof(a->f)) != 0) \
			fuzz_fail("pd field differs: " #f, __FILE__, __LINE__); \
	} while (0)

static void pd_same_inner(const struct weir_pd_inner *a,
			  const struct weir_pd_inner *b)
{
	PD_EQ(off); PD_EQ(l4_off); PD_EQ(family); PD_EQ(proto);
	PD_EQ(sport); PD_EQ(dport); PD_MEMEQ(src); PD_MEMEQ(dst);
}

static void pd_same_l3(const struct weir_pdesc *a, const struct weir_pdesc *b)
{
	PD_EQ(flags); PD_EQ(err); PD_EQ(family); PD_EQ(proto); PD_EQ(ttl);
	PD_EQ(err_off); PD_EQ(l3_len); PD_EQ(ip_len); PD_EQ(cap_len);
	PD_EQ(tos); PD_EQ(ext_count); PD_EQ(frag_off); PD_EQ(frag_id);
	PD_EQ(flowlabel); PD_EQ(frag_hdr_off); PD_EQ(ipopt_len);
	PD_MEMEQ(src); PD_MEMEQ(dst);
	PD_EQ(l4_dst_off);
	for (int i = 0; i < a->ext_count; i++) {
		PD_EQ(ext[i].type); PD_EQ(ext[i].off); PD_EQ(ext[i].len);
	}
}

/* Field by field (padding may differ): a and b describe the same bytes. */
static void pd_same(const struct weir_pdesc *a, const struct weir_pdesc *b)
{
	pd_same_l3(a, b);
	PD_EQ(l4_off); PD_EQ(l4_hdr_len); PD_EQ(payload_off);
	PD_EQ(payload_len); PD_EQ(sport); PD_EQ(dport); PD_EQ(l4_csum);
	PD_EQ(tcp_flags); PD_EQ(tcp_wscale); PD_EQ(tcp_seq); PD_EQ(tcp_ack);
	PD_EQ(tcp_win); PD_EQ(tcp_urp); PD_EQ(tcp_mss); PD_EQ(tcp_mss_off);
	PD_EQ(tcp_tsval); PD_EQ(tcp_tsecr); PD_EQ(udp_len);
	PD_EQ(icmp_type); PD_EQ(icmp_code); PD_EQ(icmp_rest);
	pd_same_inner(&a->inner, &b->inner);
}

/* Flags imply each other as pdesc.h describes. */
static void check_pd_flags(const struct weir_pdesc *pd, int ret)
{
	uint32_t f = pd->flags;
	uint32_t tcpopt = WEIR_PD_L4_OPTS | WEIR_PD_TCP_MSS |
			  WEIR_PD_TCP_WSCALE | WEIR_PD_TCP_SACKOK |
			  WEIR_PD_TCP_TS;

	CHECK(ret == 0 || ret == -EBADMSG);
	CHECK((ret == 0) == (pd->err == WEIR_PERR_NONE));
	CHECK(pd->err < WEIR_PERR__COUNT);
	CHECK(weir_perr_str(pd->err) != NULL);
	CHECK(!(f & (WEIR_PD_L4 | WEIR_PD_L3_EXT)) || (f & WEIR_PD_L3));
	CHECK(!(f & WEIR_PD_ICMP_ERR) || (f & WEIR_PD_L4));
	CHECK(!(f & WEIR_PD_INNER) || (f & WEIR_PD_ICMP_ERR));
	CHECK(!(f & WEIR_PD_INNER_L4) || (f & WEIR_PD_INNER));
	CHECK(!(f & WEIR_PD_FRAG_LATER) || (f & WEIR_PD_FRAG));
	CHECK(!(f & WEIR_PD_FRAG_LATER) || !(f & WEIR_PD_L4));
	CHECK(!(f & tcpopt) ||
	      ((f & WEIR_PD_L4) && pd->proto == IPPROTO_TCP));
	CHECK(!(f & WEIR_PD_L3) ||
	      pd->family == AF_INET || pd->family == AF_INET6);
	CHECK(pd->family == 0 || pd->family == AF_INET ||
	      pd->family == AF_INET6);
	CHECK(pd->ext_count <= WEIR_PD_MAX_EXT);
}

/* No offset or length points past the bytes. */
static void check_pd_bounds(const struct weir_pdesc *pd, size_t len)
{
	CHECK(pd->err_off <= len);
	CHECK(pd->cap_len <= len);
	CHECK((uint64_t)pd->payload_off + pd->payload_len <= len);
	CHECK(!(pd->flags & WEIR_PD_L3) || pd->l3_len <= len);
	for (int i = 0; i < pd->ext_count; i++)
		CHECK((uint64_t)pd->ext[i].off + pd->ext[i].len <= len);
	CHECK(!pd->frag_hdr_off || pd->frag_hdr_off + 8u <= len);
	CHECK(!pd->tcp_mss_off || pd->tcp_mss_off + 4u <= len);
	if (pd->flags & WEIR_PD_L4) {
		CHECK(pd->l4_off == pd->l3_len);
		CHECK(pd->l4_off + (pd->proto == IPPROTO_TCP ? 20u : 8u) <=
		      pd->cap_len);
		CHECK((uint64_t)pd->l4_off + pd->l4_hdr_len <= len);
		CHECK(pd->l4_off + 8u <= pd->cap_len);
		CHECK((uint64_t)pd->payload_off + pd->payload_len <=
		      pd->cap_len);
	}
	if (pd->flags & WEIR_PD_INNER)
		CHECK(pd->inner.off < len);
	if (pd->flags & WEIR_PD_INNER_L4)
		CHECK(pd->inner.l4_off && pd->inner.l4_off + 4u <= len);
}

/* The fixed IP header fields read what the bytes say. */
static void check_pd_l3_bytes(const struct weir_pdesc *pd, const uint8_t *d,
			      size_t len)
{
	uint8_t zero[12] = { 0 };
	size_t alen = addr_len(pd->family);

	if (!(pd->flags & WEIR_PD_L3))
		return;
	CHECK(len >= (pd->family == AF_INET ? 20u : 40u));
	CHECK((d[0] >> 4) == (pd->family == AF_INET ? 4 : 6));
	CHECK(memcmp(pd->src, d + addr_off(pd->family, WEIR_SRC), alen) == 0);
	CHECK(memcmp(pd->dst, d + addr_off(pd->family, WEIR_DST), alen) == 0);
	if (pd->family == AF_INET) {
		CHECK(memcmp(pd->src + 4, zero, 12) == 0);
		CHECK(memcmp(pd->dst + 4, zero, 12) == 0);
		CHECK(pd->ttl == d[8] && pd->tos == d[1]);
		CHECK(pd->ip_len == be16(d + 2));
	} else {
		CHECK(pd->ttl == d[7]);
		CHECK(be16(d + 4) == 0 || pd->ip_len == 40u + be16(d + 4));
	}
	if (pd->err == WEIR_PERR_TOTLEN)
		return;
	CHECK(pd->cap_len == (pd->ip_len < len ? pd->ip_len : len));
	CHECK(!!(pd->flags & WEIR_PD_TRUNCATED) == (pd->ip_len > len));
}

static void check_pd_tcp_bytes(const struct weir_pdesc *pd, const uint8_t *l4)
{
	const uint8_t *mss;

	/* A bad data offset (TCPOFF) leaves l4_hdr_len 0. */
	CHECK(pd->err != WEIR_PERR_NONE ||
	      pd->l4_hdr_len == (l4[12] >> 4) * 4u);
	CHECK(pd->tcp_seq == be32(l4 + 4) && pd->tcp_ack == be32(l4 + 8));
	CHECK(pd->tcp_flags == l4[13] && pd->tcp_win == be16(l4 + 14));
	CHECK(pd->l4_csum == be16(l4 + 16) && pd->tcp_urp == be16(l4 + 18));
	if (!(pd->flags & WEIR_PD_TCP_MSS))
		return;
	CHECK(pd->tcp_mss_off >= pd->l4_off + 20u);
	mss = l4 - pd->l4_off + pd->tcp_mss_off;
	CHECK(mss[0] == 2 && mss[1] == 4 && pd->tcp_mss == be16(mss + 2));
}

static void check_pd_inner_bytes(const struct weir_pdesc *pd,
				 const uint8_t *d)
{
	const uint8_t *in = d + pd->inner.off;
	const uint8_t *l4;

	if (!(pd->flags & WEIR_PD_INNER))
		return;
	CHECK(pd->inner.off == pd->l4_off + 8u);
	CHECK(pd->inner.family == ((in[0] >> 4) == 4 ? AF_INET : AF_INET6));
	if (!(pd->flags & WEIR_PD_INNER_L4))
		return;
	if (pd->inner.proto != IPPROTO_TCP && pd->inner.proto != IPPROTO_UDP)
		return;
	l4 = d + pd->inner.l4_off;
	CHECK(pd->inner.sport == be16(l4) && pd->inner.dport == be16(l4 + 2));
}

/* L4 fields read what the bytes say. */
static void check_pd_l4_bytes(const struct weir_pdesc *pd, const uint8_t *d)
{
	const uint8_t *l4 = d + pd->l4_off;

	if (!(pd->flags & WEIR_PD_L4))
		return;
	if (pd->proto == IPPROTO_TCP) {
		CHECK(pd->sport == be16(l4) && pd->dport == be16(l4 + 2));
		check_pd_tcp_bytes(pd, l4);
	} else if (pd->proto == IPPROTO_UDP) {
		CHECK(pd->sport == be16(l4) && pd->dport == be16(l4 + 2));
		CHECK(pd->udp_len == be16(l4 + 4));
		CHECK(pd->l4_csum == be16(l4 + 6) && pd->l4_hdr_len == 8);
	} else if (pd->proto == IPPROTO_ICMP || pd->proto == IPPROTO_ICMPV6) {
		CHECK(pd->icmp_type == l4[0] && pd->icmp_code == l4[1]);
		CHECK(pd->l4_csum == be16(l4 + 2) && pd->l4_hdr_len == 8);
		CHECK(pd->icmp_rest == be32(l4 + 4));
		CHECK(pd->proto == (pd->family == AF_INET ? IPPROTO_ICMP
							 : IPPROTO_ICMPV6));
	}
	if (pd->err == WEIR_PERR_NONE) {
		CHECK(pd->payload_off == pd->l4_off + pd->l4_hdr_len);
		CHECK(pd->proto == IPPROTO_UDP ||
		      pd->payload_off + pd->payload_len == pd->cap_len);
	}
	check_pd_inner_bytes(pd, d);
}

static void check_pd(const struct weir_pdesc *pd, const uint8_t *d,
		     size_t len, int ret)
{
	check_pd_flags(pd, ret);
	check_pd_bounds(pd, len);
	check_pd_l3_bytes(pd, d, len);
	check_pd_l4_bytes(pd, d);
}

/* ---- checksum checks ----------------------------------------------- */

/* A field verifies iff it equals the computed sum, or is 0xffff where
 * 0 was computed (-0 == +0 once the data sum is not zero; an all-zero
 * sum folds to +0 and only 0xffff fixes it). */
static bool csum_equiv(uint16_t field, uint16_t want)
{
	return field == want || (field == 0xffff && want == 0);
}

static bool verdict_checked(uint8_t v)
{
	return v == WEIR_CSUM_GOOD || v == WEIR_CSUM_BAD;
}

/* GOOD/BAD agree with the sums computed by weir_csum_ipv4_header/_l4. */
static void check_csum_values(const uint8_t *d, size_t len,
			      const struct weir_pdesc *pd,
			      const struct weir_csum_report *rep)
{
	uint16_t field, want;
	size_t hl, foff;

	if (verdict_checked(rep->ip)) {
		hl = (d[0] & 0xfu) * 4u;
		CHECK(hl >= 20 && hl <= len);
		memcpy(&field, d + 10, 2);
		want = weir_csum_ipv4_header(d, (uint16_t)hl);
		CHECK(csum_equiv(field, want) == (rep->ip == WEIR_CSUM_GOOD));
	}
	if (!verdict_checked(rep->l4))
		return;
	if (pd->proto != IPPROTO_TCP && pd->proto != IPPROTO_UDP &&
	    pd->proto != IPPROTO_ICMP && pd->proto != IPPROTO_ICMPV6)
		return;
	CHECK(weir_csum_l4(d, pd, &want) == 0);
	foff = pd->proto == IPPROTO_TCP ? 16 : pd->proto == IPPROTO_UDP ? 6 : 2;
	memcpy(&field, d + pd->l4_off + foff, 2);
	CHECK(csum_equiv(field, want) == (rep->l4 == WEIR_CSUM_GOOD));
}

/* Verifies d; the report must be coherent with pd and with the sums. */
static struct weir_csum_report check_verify(const uint8_t *d, size_t len,
					    const struct weir_pdesc *pd,
					    bool partial)
{
	struct weir_csum_report rep;
	int ret;

	memset(&rep, 0xa5, sizeof(rep));
	ret = weir_csum_verify(d, pd, partial, &rep);
	CHECK(rep.ip <= WEIR_CSUM_PSEUDO_OK && rep.l4 <= WEIR_CSUM_PSEUDO_OK);
	CHECK(rep.inner_ip <= WEIR_CSUM_PSEUDO_OK);
	CHECK((ret == 0) == (rep.ip != WEIR_CSUM_BAD &&
			     rep.l4 != WEIR_CSUM_BAD &&
			     rep.inner_ip != WEIR_CSUM_BAD));
	CHECK(ret == 0 || ret == -EBADMSG);
	CHECK(pd->family == AF_INET || rep.ip == WEIR_CSUM_NONE);
	CHECK((pd->flags & WEIR_PD_L4) || !verdict_checked(rep.l4));
	/* A partial sum covers only the pseudo-header, whose L4 length a
	 * truncated packet still declares; a fragment's is unknown. */
	CHECK(!(pd->flags & WEIR_PD_FRAG) || !verdict_checked(rep.l4));
	CHECK(!(pd->flags & WEIR_PD_TRUNCATED) || partial ||
	      !verdict_checked(rep.l4));
	CHECK((pd->flags & WEIR_PD_INNER) || rep.inner_ip == WEIR_CSUM_NONE);
	CHECK(rep.l4 != WEIR_CSUM_ABSENT ||
	      (pd->family == AF_INET && pd->proto == IPPROTO_UDP &&
	       pd->l4_csum == 0));
	CHECK(partial || rep.l4 != WEIR_CSUM_PSEUDO_OK);
	if (!partial)
		check_csum_values(d, len, pd, &rep);
	return rep;
}

/* weir_csum_fill on a copy makes every verdict it claims to fix GOOD. */
static void check_fill(const uint8_t *d, size_t len,
		       const struct weir_pdesc *pd,
		       const struct weir_csum_report *before)
{
	uint8_t *copy = dup_exact(d, len);
	struct weir_csum_report rep;
	struct weir_pdesc now;
	int ret = weir_csum_fill(copy, pd);

	CHECK(ret == 0 || ret == -EINVAL || ret == -ERANGE);
	CHECK(ret == 0 || !verdict_checked(before->l4));
	if (ret == 0) {
		/* pd->l4_csum is stale now: parse the filled bytes again. */
		CHECK(weir_parse(copy, len, &now) == (pd->err ? -EBADMSG : 0));
		rep = check_verify(copy, len, &now, false);
		CHECK(rep.ip != WEIR_CSUM_BAD);
		CHECK(rep.l4 != WEIR_CSUM_BAD);
		/* Fragments get the IP checksum only. */
		CHECK(!is_complete(pd) || rep.l4 != WEIR_CSUM_ABSENT);
	}
	free(copy);
}

/* Parses an exact-size copy of pkt, checks it, checks that pkt->pd is in
 * step with the bytes, and verifies as the packet's csum_state says. */
static struct weir_csum_report check_pkt(const struct weir_pkt *pkt)
{
	uint8_t *copy = dup_exact(pkt->data, pkt->len);
	struct weir_pdesc pd;
	struct weir_csum_report rep;
	int ret;

	memset(&pd, 0x5a, sizeof(pd));
	ret = weir_parse(copy, pkt->len, &pd);
	check_pd(&pd, copy, pkt->len, ret);
	pd_same(&pd, &pkt->pd);
	rep = check_verify(copy, pkt->len, &pd,
			   pkt->meta.csum_state == WEIR_CSUM_PARTIAL);
	free(copy);
	return rep;
}

/* A packet a builder returned: parses cleanly, checksums all good. */
static void check_built(const struct weir_pkt *pkt, bool strict)
{
	struct weir_csum_report rep;

	CHECK(pkt != NULL && pkt != SENTINEL);
	CHECK(pkt->meta.csum_state == WEIR_CSUM_VERIFIED);
	CHECK(!weir_pkt_is_shared(pkt));
	rep = check_pkt(pkt);
	CHECK(!strict || pkt->pd.err == WEIR_PERR_NONE);
	CHECK(pkt->pd.flags & WEIR_PD_L4);
	CHECK(is_complete(&pkt->pd));
	CHECK(pkt->pd.cap_len == pkt->len);
	CHECK(rep.ip == (pkt->pd.family == AF_INET ? WEIR_CSUM_GOOD
						    : WEIR_CSUM_NONE));
	CHECK(rep.l4 == WEIR_CSUM_GOOD);
}

/* ---- builders ------------------------------------------------------ */

static bool same_addr(const uint8_t *a, const uint8_t *b)
{
	return memcmp(a, b, 16) == 0;
}

static void check_rst_seq(const struct weir_pdesc *o,
			  const struct weir_pdesc *r, enum weir_end to)
{
	uint32_t seglen = o->payload_len;

	if (to == WEIR_DST) {
		CHECK(r->tcp_seq == o->tcp_seq);
		return;
	}
	if (o->tcp_flags & WEIR_TCP_ACK) {
		CHECK(r->tcp_seq == o->tcp_ack);
		return;
	}
	seglen += !!(o->tcp_flags & WEIR_TCP_SYN) + !!(o->tcp_flags & WEIR_TCP_FIN);
	CHECK(r->tcp_seq == 0 && (r->tcp_flags & WEIR_TCP_ACK));
	CHECK(r->tcp_ack == o->tcp_seq + seglen);
}

static void check_rst(const struct weir_pdesc *o, const struct weir_pdesc *r,
		      enum weir_end to, int pret)
{
	bool back = to == WEIR_SRC;

	CHECK(r->proto == IPPROTO_TCP && r->family == o->family);
	CHECK((r->tcp_flags & WEIR_TCP_RST) && r->ttl == 64);
	CHECK(r->payload_len == 0);
	CHECK(same_addr(r->src, back ? o->dst : o->src));
	CHECK(same_addr(r->dst, back ? o->src : o->dst));
	CHECK(r->sport == (back ? o->dport : o->sport));
	CHECK(r->dport == (back ? o->sport : o->dport));
	if (pret == 0 && is_complete(o))
		check_rst_seq(o, r, to);
}

static void run_rst(const struct weir_pkt *orig, enum weir_end to, int pret)
{
	const struct weir_pdesc *o = &orig->pd;
	struct weir_pkt *r = SENTINEL;
	bool tcp = (o->flags & WEIR_PD_L4) && o->proto == IPPROTO_TCP;
	bool is_rst = tcp && (o->tcp_flags & WEIR_TCP_RST);
	int ret;

	g_step = to == WEIR_SRC ? "build_tcp_rst(SRC)" : "build_tcp_rst(DST)";
	ret = weir_build_tcp_rst(orig, to, &r);
	if (ret != 0) {
		CHECK(ret == -EINVAL || ret == -ENOMEM);
		CHECK(r == SENTINEL);
		CHECK(ret == -ENOMEM || !tcp || is_rst || pret != 0);
		return;
	}
	CHECK(tcp && !is_rst);
	check_built(r, true);
	check_rst(o, &r->pd, to, pret);
	weir_pkt_free(r);
}

static bool v4_multicast_or_bcast(const uint8_t *a)
{
	static const uint8_t bcast[4] = { 255, 255, 255, 255 };

	return (a[0] & 0xf0) == 0xe0 || memcmp(a, bcast, 4) == 0;
}

/* RFC 1122 3.2.2 / RFC 4443 2.4: the source must name a single host. */
static bool must_refuse_src(const struct weir_pdesc *o)
{
	static const uint8_t zero[16] = { 0 };

	if (o->family == AF_INET)
		return memcmp(o->src, zero, 4) == 0 ||
		       v4_multicast_or_bcast(o->src);
	return memcmp(o->src, zero, 16) == 0 || o->src[0] == 0xff;
}

/* Cases where refusing is also reasonable (class E or 0/8 source, a
 * multicast or class E destination, an ICMPv6 redirect, an ICMP message
 * whose header did not parse). */
static bool may_refuse(const struct weir_pdesc *o)
{
	if (o->family == AF_INET && (o->src[0] >= 0xf0 || o->src[0] == 0 ||
				     o->dst[0] >= 0xe0))
		return true;
	if (o->family == AF_INET6 && o->dst[0] == 0xff)
		return true;
	if (o->proto == IPPROTO_ICMPV6 && (o->flags & WEIR_PD_L4) &&
	    o->icmp_type == 137)
		return true;
	return (o->proto == IPPROTO_ICMP || o->proto == IPPROTO_ICMPV6) &&
	       !(o->flags & WEIR_PD_L4);
}

static void check_unreach(const struct weir_pkt *orig,
			  const struct weir_pkt *r, uint8_t code, int pret)
{
	const struct weir_pdesc *o = &orig->pd, *p = &r->pd;
	bool v4 = o->family == AF_INET;
	uint32_t limit = v4 ? 576 : 1280;
	uint32_t quote_off = p->l4_off + 8u, quote_len;
	bool fits = v4 || o->l4_off + 8u <= 1280u - 48u;

	check_built(r, false);
	CHECK(p->err == WEIR_PERR_NONE ||
	      (p->err == WEIR_PERR_INNER && !(pret == 0 && fits)));
	CHECK(p->family == o->family && (p->flags & WEIR_PD_ICMP_ERR));
	CHECK(p->icmp_type == (v4 ? 3 : 1) && p->icmp_code == code);
	CHECK(same_addr(p->src, o->dst) && same_addr(p->dst, o->src));
	CHECK(r->len <= limit && quote_off <= r->len);
	quote_len = r->len - quote_off;
	CHECK(quote_len <= orig->len);
	CHECK(memcmp(r->data + quote_off, orig->data, quote_len) == 0);
	if (!(p->flags & WEIR_PD_INNER))
		return;
	CHECK(same_addr(p->inner.src, o->src) && same_addr(p->inner.dst, o->dst));
}

static void run_unreach(const struct weir_pkt *orig, uint64_t *st, int pret)
{
	const struct weir_pdesc *o = &orig->pd;
	struct weir_pkt *r = SENTINEL;
	uint8_t code = (uint8_t)(rnd(st) % (o->family == AF_INET ? 16 : 7));
	bool refuse = (o->flags & (WEIR_PD_ICMP_ERR | WEIR_PD_FRAG_LATER)) ||
		      must_refuse_src(o);
	int ret;

	g_step = "build_icmp_unreach";
	ret = weir_build_icmp_unreach(orig, code, &r);
	if (ret != 0) {
		CHECK(ret == -EINVAL || ret == -ENOMEM);
		CHECK(r == SENTINEL);
		CHECK(ret == -ENOMEM || refuse || may_refuse(o) || pret != 0);
		return;
	}
	CHECK(!refuse);
	check_unreach(orig, r, code, pret);
	weir_pkt_free(r);
}

static void check_udp(const struct weir_pkt *r, const struct weir_udp_spec *s,
		      const uint8_t *payload, uint32_t len)
{
	const struct weir_pdesc *p = &r->pd;
	size_t alen = addr_len(s->family);

	check_built(r, true);
	CHECK(p->family == s->family && p->proto == IPPROTO_UDP);
	CHECK(memcmp(p->src, s->src, alen) == 0);
	CHECK(memcmp(p->dst, s->dst, alen) == 0);
	CHECK(p->sport == s->sport && p->dport == s->dport);
	CHECK(p->ttl == (s->ttl ? s->ttl : 64));
	CHECK(p->udp_len == 8u + len && p->payload_len == len);
	CHECK(len == 0 || memcmp(r->data + p->payload_off, payload, len) == 0);
}

static void run_udp(const struct weir_pdesc *o, const uint8_t *payload,
		    uint32_t len, uint64_t *st)
{
	struct weir_udp_spec s;
	struct weir_pkt *r = SENTINEL;
	uint64_t must_fail = (o->family == AF_INET ? 28u : 8u) + (uint64_t)len;
	uint64_t must_pass = (o->family == AF_INET ? 28u : 48u) + (uint64_t)len;
	int ret;

	g_step = "build_udp";
	memset(&s, 0, sizeof(s));
	s.family = o->family;
	memcpy(s.src, o->src, sizeof(s.src));
	memcpy(s.dst, o->dst, sizeof(s.dst));
	s.sport = (uint16_t)rnd(st);
	s.dport = (uint16_t)rnd(st);
	s.ttl = (uint8_t)rnd(st);
	ret = weir_build_udp(&s, payload, len, &r);
	if (ret != 0) {
		CHECK(ret == -EINVAL || ret == -ENOMEM);
		CHECK(r == SENTINEL);
		CHECK(ret == -ENOMEM || must_pass > 65535u);
		return;
	}
	CHECK(must_fail <= 65535u);
	check_udp(r, &s, payload, len);
	weir_pkt_free(r);
	s.family = AF_UNIX;
	r = SENTINEL;
	CHECK(weir_build_udp(&s, payload, len, &r) == -EINVAL && r == SENTINEL);
}

static void run_builders(const struct weir_pkt *pkt, const uint8_t *data,
			 size_t size, uint64_t *st, int pret)
{
	run_rst(pkt, WEIR_SRC, pret);
	run_rst(pkt, WEIR_DST, pret);
	run_unreach(pkt, st, pret);
	run_udp(&pkt->pd, data, (uint32_t)size, st);
}

/* ---- rewrites ------------------------------------------------------ */

/* What a rewrite step starts from. */
struct snap {
	uint8_t *bytes;
	uint32_t len;
	struct weir_pdesc pd;
	struct weir_csum_report rep;
};

static void snap_take(const struct weir_pkt *pkt, struct snap *s,
		      const char *step)
{
	g_step = step;
	s->rep = check_pkt(pkt);
	s->bytes = dup_exact(pkt->data, pkt->len);
	s->len = pkt->len;
	s->pd = pkt->pd;
}

static bool snap_unchanged(const struct weir_pkt *pkt, const struct snap *s)
{
	return pkt->len == s->len && memcmp(pkt->data, s->bytes, s->len) == 0;
}

/* A verdict may not get worse: GOOD stays GOOD (UDP 0 is not GOOD),
 * PSEUDO_OK stays PSEUDO_OK or becomes GOOD (a rewrite may complete a
 * partial sum and the packet's state), nothing becomes BAD. */
static void keep_good(uint8_t before, uint8_t after)
{
	CHECK(before == WEIR_CSUM_BAD || after != WEIR_CSUM_BAD);
	CHECK(before != WEIR_CSUM_GOOD || after == WEIR_CSUM_GOOD);
	CHECK(before != WEIR_CSUM_PSEUDO_OK || after == WEIR_CSUM_PSEUDO_OK ||
	      after == WEIR_CSUM_GOOD);
	CHECK(before != WEIR_CSUM_ABSENT || after == WEIR_CSUM_ABSENT ||
	      after == WEIR_CSUM_GOOD);
}

/* Ends a step: a failed rewrite changed nothing; a successful one kept
 * the checksums as good as they were and pd in step with the bytes. */
static void snap_end(const struct weir_pkt *pkt, struct snap *s, int ret,
		     bool quote_kept)
{
	struct weir_csum_report rep;

	if (ret < 0) {
		CHECK(snap_unchanged(pkt, s));
		pd_same(&pkt->pd, &s->pd);
	}
	rep = check_pkt(pkt);
	keep_good(s->rep.ip, rep.ip);
	keep_good(s->rep.l4, rep.l4);
	if (quote_kept)
		keep_good(s->rep.inner_ip, rep.inner_ip);
	free(s->bytes);
	s->bytes = NULL;
}

static void step_ttl(struct weir_pkt *pkt, uint64_t *st, int pret)
{
	struct snap s;
	uint8_t ttl = (uint8_t)rnd(st);
	int ret;

	snap_take(pkt, &s, "set_ttl");
	ret = weir_pkt_set_ttl(pkt, ttl);
	CHECK(ret == 0 || ret == -ENOMEM || (pret != 0 && ret == -EINVAL));
	if (ret == 0) {
		CHECK(pkt->pd.ttl == ttl);
		CHECK(pkt->data[pkt->pd.family == AF_INET ? 8 : 7] == ttl);
	}
	snap_end(pkt, &s, ret, true);
}

static void step_addr(struct weir_pkt *pkt, enum weir_end which,
		      uint64_t *st, int pret)
{
	struct snap s;
	uint8_t addr[16] = { 0 };
	size_t alen = addr_len(pkt->pd.family);
	const uint8_t *now;
	int ret;

	for (size_t i = 0; i < alen; i++)
		addr[i] = (uint8_t)rnd(st);
	snap_take(pkt, &s, which == WEIR_SRC ? "set_addr(SRC)" : "set_addr(DST)");
	ret = weir_pkt_set_addr(pkt, which, addr);
	CHECK(ret == 0 || ret == -ENOMEM || (pret != 0 && ret == -EINVAL));
	if (ret == 0) {
		now = which == WEIR_SRC ? pkt->pd.src : pkt->pd.dst;
		CHECK(memcmp(now, addr, 16) == 0);
		CHECK(memcmp(pkt->data + addr_off(pkt->pd.family, which),
			     addr, alen) == 0);
	}
	snap_end(pkt, &s, ret, true);
}

static void step_port(struct weir_pkt *pkt, enum weir_end which,
		      uint64_t *st, int pret)
{
	struct snap s;
	uint16_t port = (uint16_t)rnd(st);
	bool ok = is_tcp_udp(&pkt->pd);
	int ret;

	snap_take(pkt, &s, which == WEIR_SRC ? "set_port(SRC)" : "set_port(DST)");
	ret = weir_pkt_set_port(pkt, which, port);
	CHECK(ret == 0 || ret == -ENOMEM || ret == -EINVAL ||
	      ret == -EPROTONOSUPPORT);
	CHECK(ret != 0 || ok);
	CHECK(ret != -EPROTONOSUPPORT || !ok);
	CHECK(!ok || pret != 0 || ret == 0 || ret == -ENOMEM);
	if (ret == 0) {
		CHECK((which == WEIR_SRC ? pkt->pd.sport : pkt->pd.dport) == port);
		CHECK(be16(pkt->data + pkt->pd.l4_off +
			   (which == WEIR_SRC ? 0 : 2)) == port);
	}
	snap_end(pkt, &s, ret, true);
}

static void step_mss(struct weir_pkt *pkt, uint64_t *st, int pret)
{
	struct snap s;
	uint16_t mss = (uint16_t)(rnd(st) % 2048u);
	bool has = pkt->pd.flags & WEIR_PD_TCP_MSS;
	bool lower = has && pkt->pd.tcp_mss > mss;
	int ret;

	snap_take(pkt, &s, "clamp_mss");
	ret = weir_pkt_clamp_mss(pkt, mss);
	CHECK(ret == 0 || ret == 1 || ret == -ENOMEM || ret == -EINVAL);
	CHECK(ret != 1 || lower);
	CHECK(!lower || pret != 0 || ret == 1 || ret == -ENOMEM);
	if (ret == 0)
		CHECK(snap_unchanged(pkt, &s));
	if (ret == 1) {
		CHECK(pkt->pd.tcp_mss == mss);
		CHECK(be16(pkt->data + pkt->pd.tcp_mss_off + 2) == mss);
	}
	snap_end(pkt, &s, ret, true);
}

/* Parameters of one weir_pkt_replace_payload() call. */
struct repl {
	uint32_t off, old_len, new_len;
	uint8_t bytes[128];
};

static void repl_pick(const struct weir_pdesc *pd, uint64_t *st,
		      struct repl *r)
{
	uint32_t plen = pd->payload_len;
	uint64_t mode = rnd(st) % 16;

	r->off = (uint32_t)(rnd(st) % (plen + 1u));
	r->old_len = (uint32_t)(rnd(st) % (plen - r->off + 1u));
	r->new_len = (uint32_t)(rnd(st) % sizeof(r->bytes));
	for (size_t i = 0; i < sizeof(r->bytes); i++)
		r->bytes[i] = (uint8_t)rnd(st);
	if (mode == 0)
		r->off = plen + 1u;          /* starts past the payload */
	else if (mode == 1)
		r->old_len = UINT32_MAX;      /* off + old_len wraps */
	else if (mode == 2)
		r->old_len = plen - r->off + 1u; /* ends past the payload */
}

static bool repl_in_range(const struct weir_pdesc *pd, const struct repl *r)
{
	return (uint64_t)r->off + r->old_len <= pd->payload_len;
}

/* The new payload is old[0..off) + bytes + old[off+old_len..). */
static void check_repl_result(const struct weir_pkt *pkt, const struct snap *s,
			      const struct repl *r)
{
	const struct weir_pdesc *o = &s->pd, *p = &pkt->pd;
	int64_t delta = (int64_t)r->new_len - r->old_len;
	const uint8_t *np = pkt->data + p->payload_off;
	const uint8_t *op = s->bytes + o->payload_off;
	uint32_t tail = o->payload_len - r->off - r->old_len;

	CHECK(p->payload_off == o->payload_off);
	CHECK((int64_t)p->ip_len == o->ip_len + delta);
	CHECK((int64_t)p->payload_len == o->payload_len + delta);
	CHECK(o->proto != IPPROTO_UDP || (int64_t)p->udp_len == o->udp_len + delta);
	CHECK(pkt->len >= p->cap_len);
	CHECK(memcmp(np, op, r->off) == 0);
	CHECK(memcmp(np + r->off, r->bytes, r->new_len) == 0);
	CHECK(memcmp(np + r->off + r->new_len, op + r->off + r->old_len,
		     tail) == 0);
}

static void step_replace(struct weir_pkt *pkt, uint64_t *st, int pret)
{
	struct snap s;
	struct repl r;
	bool l4 = pkt->pd.flags & WEIR_PD_L4;
	uint64_t newlen;
	int ret;

	repl_pick(&pkt->pd, st, &r);
	snap_take(pkt, &s, "replace_payload");
	newlen = (uint64_t)s.pd.ip_len - r.old_len + r.new_len;
	ret = weir_pkt_replace_payload(pkt, r.off, r.old_len, r.bytes,
				       r.new_len);
	CHECK(ret == 0 || ret == -EINVAL || ret == -EMSGSIZE || ret == -ENOMEM);
	if (l4 && (!is_complete(&s.pd) || !repl_in_range(&s.pd, &r)))
		CHECK(ret == -EINVAL);
	if (l4 && pret == 0 && is_complete(&s.pd) && repl_in_range(&s.pd, &r))
		CHECK(ret == 0 || ret == -ENOMEM ||
		      (ret == -EMSGSIZE && newlen > 65535u - 40u));
	if (ret == 0)
		CHECK(newlen <= 65535u + 40u);
	if (ret == 0 && l4 && pret == 0)
		check_repl_result(pkt, &s, &r);
	snap_end(pkt, &s, ret, false);
}

static void step_finalize(struct weir_pkt *pkt)
{
	struct weir_csum_report rep;
	bool l4_ok = (pkt->pd.flags & WEIR_PD_L4) && is_complete(&pkt->pd) &&
		     pkt->pd.err == WEIR_PERR_NONE;
	int ret;

	g_step = "csum_finalize";
	check_pkt(pkt);
	ret = weir_pkt_csum_finalize(pkt);
	CHECK(ret == 0 || ret == -ENOMEM || ret == -EINVAL || ret == -ERANGE);
	CHECK(ret != -EINVAL || !l4_ok);
	rep = check_pkt(pkt);
	if (ret != 0)
		return;
	CHECK(pkt->meta.csum_state == WEIR_CSUM_VERIFIED);
	CHECK(rep.ip != WEIR_CSUM_BAD);
	CHECK(!l4_ok || rep.l4 == WEIR_CSUM_GOOD);
}

/* Rewrites pkt while a clone holds the original bytes (copy-on-write). */
static void run_rewrites(struct weir_pkt *pkt, const uint8_t *data,
			 size_t size, uint64_t *st, int pret)
{
	struct weir_pkt *clone = weir_pkt_clone(pkt);

	g_step = "clone";
	CHECK(clone != NULL);
	CHECK(weir_pkt_is_shared(pkt) && weir_pkt_is_shared(clone));
	pd_same(&clone->pd, &pkt->pd);
	step_ttl(pkt, st, pret);
	step_addr(pkt, WEIR_SRC, st, pret);
	step_addr(pkt, WEIR_DST, st, pret);
	step_port(pkt, WEIR_SRC, st, pret);
	step_port(pkt, WEIR_DST, st, pret);
	step_mss(pkt, st, pret);
	step_replace(pkt, st, pret);
	step_finalize(pkt);
	g_step = "clone after rewrites";
	CHECK(clone->len == size && memcmp(clone->data, data, size) == 0);
	CHECK(weir_pkt_is_shared(clone) == weir_pkt_is_shared(pkt));
	if (pkt->data != clone->data)
		CHECK(!weir_pkt_is_shared(pkt));
	weir_pkt_free(clone);
}

/* ---- entry --------------------------------------------------------- */

static void run_pkt(const uint8_t *data, size_t size, int pret,
		    const struct weir_pdesc *pd)
{
	uint64_t in_use = pool_in_use();
	uint64_t st = seed_of(data, size);
	struct weir_pkt *pkt;

	g_step = "pkt_from_bytes";
	pkt = weir_pkt_from_bytes(data, (uint32_t)size);
	CHECK(pkt != NULL);
	CHECK(pkt->len == size && memcmp(pkt->data, data, size) == 0);
	CHECK(weir_pkt_parse(pkt) == pret);
	pd_same(&pkt->pd, pd);
	if (check_verify(data, size, pd, true).l4 == WEIR_CSUM_PSEUDO_OK)
		pkt->meta.csum_state = WEIR_CSUM_PARTIAL;
	run_builders(pkt, data, size, &st, pret);
	run_rewrites(pkt, data, size, &st, pret);
	weir_pkt_free(pkt);
	g_step = "leak check";
	CHECK(pool_in_use() == in_use);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct weir_pdesc pd, again;
	struct weir_csum_report rep;
	int ret;

	if (size > MAX_INPUT)
		return 0;
	g_step = "parse";
	memset(&pd, 0, sizeof(pd));
	ret = weir_parse(data, size, &pd);
	check_pd(&pd, data, size, ret);
	memset(&again, 0xa5, sizeof(again));
	CHECK(weir_parse(data, size, &again) == ret);
	pd_same(&pd, &again);
	g_step = "csum_verify";
	rep = check_verify(data, size, &pd, false);
	check_verify(data, size, &pd, true);
	g_step = "csum_fill";
	check_fill(data, size, &pd, &rep);
	if (pd.flags & WEIR_PD_L3)
		run_pkt(data, size, ret, &pd);
	return 0;
}
