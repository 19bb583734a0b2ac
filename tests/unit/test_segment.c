/* Unit tests for weir_pkt_segment(): TCP GSO super-packets over IPv4 and
 * IPv6 (with an extension header) cut at an MTU, checked segment by
 * segment against the original with pktgen.h's naive checksums and with
 * weir's own verification; small packets, partial checksums and every
 * error the contract names. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <weir/craft.h>
#include <weir/csum.h>
#include <weir/packet.h>

#include "pktgen.h"

#define BIG 70000u
#define MTU 1500u

/* NOP, NOP, timestamps: 12 option bytes every segment must keep. */
static const uint8_t ts_opts[12] = {
	1, 1, 8, 10, 0x01, 0x02, 0x03, 0x04, 0x0a, 0x0b, 0x0c, 0x0d,
};

static uint8_t gbuf[BIG];
static uint8_t payload[BIG];
static uint8_t joined[BIG];

/* ---- helpers ------------------------------------------------------- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void fill_payload(void)
{
	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7u + (i >> 9));
}

static struct tpkt tmpl(int family, uint8_t proto, uint16_t len,
			uint8_t flags)
{
	bool v4 = family == AF_INET;

	fill_payload();
	return (struct tpkt){
		.family = family, .proto = proto,
		.src = v4 ? "10.1.2.3" : "2001:db8:aa::10",
		.dst = v4 ? "192.0.2.200" : "2001:db8:bb::20",
		.sport = 40000, .dport = 443,
		.tcp_flags = flags, .seq = 0xfffff000u, .ack = 0x55667788,
		.tcp_opts = proto == IPPROTO_TCP ? ts_opts : NULL,
		.tcp_opts_len = proto == IPPROTO_TCP ? sizeof(ts_opts) : 0,
		.payload = payload, .payload_len = len,
	};
}

/* Sets the IPv4 id and re-fixes the header checksum. */
static void set_ip4_id(uint8_t *p, uint16_t id)
{
	tput16(p + 4, id);
	tput16(p + 10, 0);
	tput16(p + 10, tfold(tsum(0, p, (p[0] & 15u) * 4u)));
}

/* Inserts an 8-byte destination-options header (one PadN) after the
 * IPv6 header of b[0..*n); checksums stay right (not in the
 * pseudo-header). */
static void v6_add_dstopts(uint8_t *b, size_t *n)
{
	memmove(b + 48, b + 40, *n - 40);
	b[40] = b[6];
	b[41] = 0;
	b[42] = 1;
	b[43] = 4;
	memset(b + 44, 0, 4);
	b[6] = IPPROTO_DSTOPTS;
	*n += 8;
	tput16(b + 4, (uint16_t)(*n - 40));
}

/* tpkt_csum_ok, after taking out an IPv6 destination-options header. */
static int naive_csum_ok(const uint8_t *p, size_t len)
{
	static uint8_t tmp[BIG];
	size_t el;

	if (p[0] >> 4 != 6 || p[6] != IPPROTO_DSTOPTS)
		return tpkt_csum_ok(p, len);
	el = (p[41] + 1u) * 8u;
	memcpy(tmp, p, 40);
	tmp[6] = p[40];
	memcpy(tmp + 40, p + 40 + el, len - 40 - el);
	tput16(tmp + 4, (uint16_t)(len - 40 - el));
	return tpkt_csum_ok(tmp, len - el);
}

/* A parsed packet of b[0..n) with some meta to carry over. */
static struct weir_pkt *mk_bytes(const uint8_t *b, size_t n)
{
	struct weir_pkt *p = weir_pkt_from_bytes(b, (uint32_t)n);

	assert_non_null(p);
	(void)weir_pkt_parse(p);
	p->meta.flags = WEIR_META_GSO | WEIR_META_MARK;
	p->meta.mark = 0xbeef;
	p->meta.ifindex_out = 7;
	p->meta.direction = WEIR_DIR_OUTBOUND;
	p->meta.inject_id = 42;
	p->meta.timestamp_ns = 123456789;
	return p;
}

static struct weir_pkt *mk(const struct tpkt *t, bool dstopts)
{
	size_t n = tpkt_make(t, gbuf);
	struct weir_pkt *p;

	if (dstopts)
		v6_add_dstopts(gbuf, &n);
	p = mk_bytes(gbuf, n);
	assert_int_equal(p->pd.err, WEIR_PERR_NONE);
	assert_true(p->pd.flags & WEIR_PD_L4);
	return p;
}

/* Turns p's TCP checksum into a partial one (the folded, uncomplemented
 * pseudo-header sum), as a GSO capture delivers it. */
static void make_partial(struct weir_pkt *p)
{
	const struct weir_pdesc *pd = &p->pd;
	size_t alen = pd->family == AF_INET ? 4 : 16;
	uint32_t s = tsum(tsum(0, pd->src, alen), pd->dst, alen);

	s += IPPROTO_TCP + (pd->cap_len - pd->l4_off);
	tput16(p->data + pd->l4_off + 16, (uint16_t)~tfold(s));
	assert_int_equal(weir_pkt_parse(p), 0);
	p->meta.csum_state = WEIR_CSUM_PARTIAL;
}

/* Complete checksums by the naive checker and by weir's. */
static void assert_csums(const struct weir_pkt *s)
{
	struct weir_csum_report r;

	assert_true(naive_csum_ok(s->data, s->len));
	assert_int_equal(weir_csum_verify(s->data, &s->pd, false, &r), 0);
	assert_int_equal(r.ip, s->pd.family == AF_INET ? WEIR_CSUM_GOOD
						       : WEIR_CSUM_NONE);
	assert_int_equal(r.l4, WEIR_CSUM_GOOD);
	assert_int_equal(s->meta.csum_state, WEIR_CSUM_VERIFIED);
}

static void assert_meta_carried(const struct weir_pkt *s,
				const struct weir_pkt *orig)
{
	struct weir_pkt_meta want = orig->meta;

	want.csum_state = WEIR_CSUM_VERIFIED;
	assert_memory_equal(&s->meta, &want, sizeof(want));
}

/* Everything but the IP length/id/checksum, the sequence number, the
 * flags, the urgent pointer and the TCP checksum is the original's. */
static void assert_same_headers(const struct weir_pkt *s,
				const struct weir_pkt *orig)
{
	const struct weir_pdesc *o = &orig->pd;
	uint32_t t = o->l4_off;

	assert_int_equal(s->pd.payload_off, o->payload_off);
	if (o->family == AF_INET) {
		assert_memory_equal(s->data + 6, orig->data + 6, 4);
		assert_memory_equal(s->data + 12, orig->data + 12,
				    o->l3_len - 12u);
	} else {
		assert_memory_equal(s->data, orig->data, 4);
		assert_memory_equal(s->data + 6, orig->data + 6,
				    o->l3_len - 6u);
	}
	assert_memory_equal(s->data + t, orig->data + t, 4);
	assert_memory_equal(s->data + t + 8, orig->data + t + 8, 5);
	assert_memory_equal(s->data + t + 14, orig->data + t + 14, 2);
	assert_memory_equal(s->data + t + 20, orig->data + t + 20,
			    o->l4_hdr_len - 20u);
}

/* Segments orig at mtu into a fresh list and checks what holds for
 * every split: count, sizes, lengths, ids, sequence continuity,
 * payload, flags, headers, checksums, meta. Returns the list. */
static struct weir_nbl *split_and_check(const struct weir_pkt *orig,
					uint32_t mtu)
{
	const struct weir_pdesc *o = &orig->pd;
	uint32_t mss = mtu - o->payload_off, data = o->payload_len;
	uint32_t want_n = (data + mss - 1) / mss, i = 0, got = 0;
	uint32_t seq = o->tcp_seq;
	struct weir_nbl *out = weir_nbl_new();
	uint8_t flags = o->tcp_flags;

	assert_non_null(out);
	assert_int_equal(weir_pkt_segment(orig, mtu, out), (int)want_n);
	assert_int_equal(out->count, want_n);
	for (const struct weir_pkt *s = out->first; s; s = s->next, i++) {
		const struct weir_pdesc *pd = &s->pd;
		bool first = i == 0, last = i + 1 == want_n;
		struct weir_pdesc fresh;

		assert_false(weir_pkt_is_shared(s));
		assert_true(s->len <= mtu);
		/* pd is the parse of the segment as it is. */
		assert_int_equal(weir_parse(s->data, s->len, &fresh), 0);
		assert_memory_equal(&fresh, pd,
				    offsetof(struct weir_pdesc, ext));
		assert_int_equal(s->len, pd->ip_len);
		assert_int_equal(pd->payload_len, last ? data - got : mss);
		if (o->family == AF_INET) {
			assert_int_equal(get16(s->data + 2), s->len);
			assert_int_equal(get16(s->data + 4),
					 (uint16_t)(o->frag_id + i));
		} else {
			assert_int_equal(get16(s->data + 4), s->len - 40);
		}
		assert_int_equal(pd->tcp_seq, seq);
		seq += pd->payload_len + !!(pd->tcp_flags & WEIR_TCP_SYN);
		memcpy(joined + got, s->data + pd->payload_off,
		       pd->payload_len);
		got += pd->payload_len;
		assert_int_equal(pd->tcp_flags & (WEIR_TCP_FIN | WEIR_TCP_PSH),
				 last ? flags & (WEIR_TCP_FIN | WEIR_TCP_PSH)
				      : 0);
		assert_int_equal(pd->tcp_flags & WEIR_TCP_CWR,
				 first ? flags & WEIR_TCP_CWR : 0);
		assert_int_equal(pd->tcp_flags & (WEIR_TCP_ACK | WEIR_TCP_ECE),
				 flags & (WEIR_TCP_ACK | WEIR_TCP_ECE));
		assert_int_equal(pd->tcp_tsval, o->tcp_tsval);
		assert_same_headers(s, orig);
		assert_csums(s);
		assert_meta_carried(s, orig);
	}
	assert_int_equal(i, want_n);
	assert_int_equal(got, data);
	assert_memory_equal(joined, orig->data + o->payload_off, data);
	return out;
}

static void split_free(const struct weir_pkt *orig, uint32_t mtu)
{
	weir_nbl_unref(split_and_check(orig, mtu));
}

#define ALL_FLAGS (WEIR_TCP_ACK | WEIR_TCP_PSH | WEIR_TCP_FIN | \
		   WEIR_TCP_CWR | WEIR_TCP_ECE)

/* ---- splits -------------------------------------------------------- */

static void test_ipv4_split(void **state)
{
	struct tpkt t = tmpl(AF_INET, IPPROTO_TCP, 10000, ALL_FLAGS);
	struct weir_pkt *p;

	(void)state;
	p = mk(&t, false);
	set_ip4_id(p->data, 0x1234);
	assert_int_equal(weir_pkt_parse(p), 0);
	assert_int_equal(p->pd.payload_off, 52);
	split_free(p, MTU); /* mss 1448: 7 segments, the last 1312 bytes */
	weir_pkt_free(p);
}

static void test_ipv4_id_wraps(void **state)
{
	struct tpkt t = tmpl(AF_INET, IPPROTO_TCP, 5000, WEIR_TCP_ACK);
	struct weir_pkt *p;
	struct weir_nbl *out;

	(void)state;
	p = mk(&t, false);
	set_ip4_id(p->data, 0xfffe);
	assert_int_equal(weir_pkt_parse(p), 0);
	out = split_and_check(p, MTU);
	assert_int_equal(get16(out->first->next->next->data + 4), 0);
	weir_nbl_unref(out);
	weir_pkt_free(p);
}

static void test_ipv6_split(void **state)
{
	struct tpkt t = tmpl(AF_INET6, IPPROTO_TCP, 10000, ALL_FLAGS);
	struct weir_pkt *p;

	(void)state;
	p = mk(&t, false);
	split_free(p, MTU);
	split_free(p, 1280);
	weir_pkt_free(p);
}

static void test_ipv6_ext_split(void **state)
{
	struct tpkt t = tmpl(AF_INET6, IPPROTO_TCP, 10000, ALL_FLAGS);
	struct weir_pkt *p;

	(void)state;
	p = mk(&t, true);
	assert_int_equal(p->pd.ext_count, 1);
	assert_int_equal(p->pd.payload_off, 40 + 8 + 32);
	split_free(p, MTU);
	weir_pkt_free(p);
}

/* A payload of exactly k segments: no empty segment at the end. */
static void test_exact_multiple(void **state)
{
	struct tpkt t = tmpl(AF_INET, IPPROTO_TCP, 3 * 1448, ALL_FLAGS);
	struct weir_pkt *p;
	struct weir_nbl *out;

	(void)state;
	p = mk(&t, false);
	out = split_and_check(p, MTU);
	assert_int_equal(out->count, 3);
	weir_nbl_unref(out);
	/* One byte of payload per segment. */
	t.payload_len = 40;
	weir_pkt_free(p);
	p = mk(&t, false);
	out = split_and_check(p, 53);
	assert_int_equal(out->count, 40);
	weir_nbl_unref(out);
	weir_pkt_free(p);
}

/* Segments go after what `out` already holds. */
static void test_appends(void **state)
{
	struct tpkt t = tmpl(AF_INET, IPPROTO_TCP, 4000, WEIR_TCP_ACK);
	struct weir_pkt *p, *other;
	struct weir_nbl *out = weir_nbl_new();

	(void)state;
	p = mk(&t, false);
	other = weir_pkt_copy(p);
	weir_nbl_add(out, other);
	assert_int_equal(weir_pkt_segment(p, MTU, out), 3);
	assert_int_equal(out->count, 4);
	assert_ptr_equal(out->first, other);
	assert_int_equal(out->first->next->pd.tcp_seq, p->pd.tcp_seq);
	weir_nbl_unref(out);
	weir_pkt_free(p);
}

/* A GSO capture: the TCP field holds only the pseudo-header sum. */
static void test_partial_csum(void **state)
{
	struct tpkt t4 = tmpl(AF_INET, IPPROTO_TCP, 9000, ALL_FLAGS);
	struct tpkt t6 = tmpl(AF_INET6, IPPROTO_TCP, 9000, ALL_FLAGS);
	struct weir_csum_report r;
	struct weir_pkt *p;

	(void)state;
	p = mk(&t4, false);
	make_partial(p);
	assert_int_equal(weir_csum_verify(p->data, &p->pd, true, &r), 0);
	assert_int_equal(r.l4, WEIR_CSUM_PSEUDO_OK);
	split_free(p, MTU);
	weir_pkt_free(p);
	p = mk(&t6, true);
	make_partial(p);
	split_free(p, MTU);
	weir_pkt_free(p);
}

/* SYN with data (TCP Fast Open) takes one sequence number, on the first
 * segment only; URG keeps pointing at the same byte. */
static void test_syn_and_urgent(void **state)
{
	struct tpkt t = tmpl(AF_INET, IPPROTO_TCP, 4000,
			     WEIR_TCP_SYN | WEIR_TCP_URG);
	struct weir_pkt *p, *s;
	struct weir_nbl *out;
	uint32_t urg_at;

	(void)state;
	p = mk(&t, false);
	tput16(p->data + p->pd.l4_off + 18, 2000);
	tput16(p->data + p->pd.l4_off + 16, 0);
	assert_int_equal(weir_pkt_parse(p), 0);
	assert_int_equal(weir_pkt_csum_finalize(p), 0);
	urg_at = p->pd.tcp_seq + 2000;
	out = split_and_check(p, MTU);
	s = out->first;
	assert_true(s->pd.tcp_flags & WEIR_TCP_SYN);
	assert_int_equal(s->pd.tcp_urp, 2000);
	s = s->next;
	assert_false(s->pd.tcp_flags & WEIR_TCP_SYN);
	assert_int_equal(s->pd.tcp_seq, p->pd.tcp_seq + 1 + 1448);
	assert_true(s->pd.tcp_flags & WEIR_TCP_URG);
	assert_int_equal(s->pd.tcp_seq + s->pd.tcp_urp, urg_at);
	s = s->next;
	assert_false(s->pd.tcp_flags & WEIR_TCP_URG);
	assert_int_equal(s->pd.tcp_urp, 0);
	weir_nbl_unref(out);
	weir_pkt_free(p);
}

/* ---- packets that fit ---------------------------------------------- */

static void test_small_copy(void **state)
{
	struct tpkt t = tmpl(AF_INET6, IPPROTO_TCP, 1000, ALL_FLAGS);
	struct weir_nbl *out = weir_nbl_new();
	struct weir_pkt *p, *c;

	(void)state;
	p = mk(&t, false);
	make_partial(p);
	assert_int_equal(weir_pkt_segment(p, p->len, out), 1);
	c = out->first;
	assert_int_equal(out->count, 1);
	assert_ptr_not_equal(c->data, p->data);
	assert_false(weir_pkt_is_shared(p));
	assert_int_equal(c->len, p->len);
	/* Everything but the now complete checksum is the original's. */
	assert_memory_equal(c->data, p->data, p->pd.l4_off + 16u);
	assert_memory_equal(c->data + p->pd.l4_off + 18,
			    p->data + p->pd.l4_off + 18,
			    p->len - p->pd.l4_off - 18u);
	assert_int_equal(p->meta.csum_state, WEIR_CSUM_PARTIAL);
	assert_csums(c);
	assert_meta_carried(c, p);
	weir_nbl_unref(out);
	weir_pkt_free(p);
}

/* Link-layer padding after the IP packet is not copied; a UDP datagram
 * that fits is copied like anything else. */
static void test_small_udp_padded(void **state)
{
	struct tpkt t = tmpl(AF_INET, IPPROTO_UDP, 30, 0);
	struct weir_nbl *out = weir_nbl_new();
	size_t n = tpkt_make(&t, gbuf);
	struct weir_pkt *p;

	(void)state;
	memset(gbuf + n, 0xee, 6);
	p = mk_bytes(gbuf, n + 6);
	assert_int_equal(p->pd.cap_len, n);
	assert_int_equal(weir_pkt_segment(p, MTU, out), 1);
	assert_int_equal(out->first->len, n);
	assert_memory_equal(out->first->data, gbuf, n);
	assert_csums(out->first);
	weir_nbl_unref(out);
	weir_pkt_free(p);
}

/* ---- errors: `out` stays as it was ---------------------------------- */

/* `out` holds one marker packet before and after a failing call. */
static void assert_fails(const struct weir_pkt *p, uint32_t mtu, int err)
{
	struct weir_nbl *out = weir_nbl_new();
	struct weir_pkt *marker = weir_pkt_from_bytes("x", 1);

	weir_nbl_add(out, marker);
	assert_int_equal(weir_pkt_segment(p, mtu, out), err);
	assert_int_equal(out->count, 1);
	assert_ptr_equal(out->first, marker);
	assert_null(marker->next);
	weir_nbl_unref(out);
}

static void test_udp_too_big(void **state)
{
	struct tpkt t = tmpl(AF_INET, IPPROTO_UDP, 3000, 0);
	struct weir_pkt *p;

	(void)state;
	p = mk(&t, false);
	assert_fails(p, MTU, -EMSGSIZE);
	weir_pkt_free(p);
}

static void test_mtu_too_small(void **state)
{
	struct tpkt t = tmpl(AF_INET6, IPPROTO_TCP, 3000, WEIR_TCP_ACK);
	struct weir_pkt *p;

	(void)state;
	p = mk(&t, true);
	assert_fails(p, p->pd.payload_off, -EINVAL);
	assert_fails(p, 0, -EINVAL);
	weir_pkt_free(p);
}

static void test_unparsed(void **state)
{
	struct tpkt t = tmpl(AF_INET, IPPROTO_TCP, 3000, WEIR_TCP_ACK);
	size_t n = tpkt_make(&t, gbuf);
	struct weir_pkt *p = weir_pkt_from_bytes(gbuf, (uint32_t)n);

	(void)state;
	assert_fails(p, MTU, -EINVAL);
	assert_fails(p, BIG, -EINVAL);
	weir_pkt_free(p);
}

static void test_fragment(void **state)
{
	struct tpkt t = tmpl(AF_INET, IPPROTO_TCP, 3000, WEIR_TCP_ACK);
	size_t n = tpkt_make(&t, gbuf);
	struct weir_pkt *p;

	(void)state;
	gbuf[6] |= 0x20; /* MF */
	set_ip4_id(gbuf, 1);
	p = mk_bytes(gbuf, n);
	assert_true(p->pd.flags & WEIR_PD_FRAG);
	assert_fails(p, MTU, -EINVAL);
	assert_fails(p, BIG, -EINVAL);
	weir_pkt_free(p);
}

/* The IP length says more than the bytes hold: the payload is missing. */
static void test_truncated(void **state)
{
	struct tpkt t = tmpl(AF_INET, IPPROTO_TCP, 3000, WEIR_TCP_ACK);
	size_t n = tpkt_make(&t, gbuf);
	struct weir_pkt *p;

	(void)state;
	p = mk_bytes(gbuf, n - 100);
	assert_true(p->pd.flags & WEIR_PD_TRUNCATED);
	assert_fails(p, MTU, -EINVAL);
	weir_pkt_free(p);
}

static void test_null_args(void **state)
{
	struct tpkt t = tmpl(AF_INET, IPPROTO_TCP, 100, WEIR_TCP_ACK);
	struct weir_pkt *p;

	(void)state;
	p = mk(&t, false);
	assert_int_equal(weir_pkt_segment(p, MTU, NULL), -EINVAL);
	assert_fails(NULL, MTU, -EINVAL);
	weir_pkt_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_split),
		cmocka_unit_test(test_ipv4_id_wraps),
		cmocka_unit_test(test_ipv6_split),
		cmocka_unit_test(test_ipv6_ext_split),
		cmocka_unit_test(test_exact_multiple),
		cmocka_unit_test(test_appends),
		cmocka_unit_test(test_partial_csum),
		cmocka_unit_test(test_syn_and_urgent),
		cmocka_unit_test(test_small_copy),
		cmocka_unit_test(test_small_udp_padded),
		cmocka_unit_test(test_udp_too_big),
		cmocka_unit_test(test_mtu_too_small),
		cmocka_unit_test(test_unparsed),
		cmocka_unit_test(test_fragment),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_null_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
