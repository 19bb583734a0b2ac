/* Unit tests for in-place rewrites (addresses, ports, TTL, MSS, payload):
 * checksums, lengths and pkt->pd checked against pktgen.h's naive code. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/craft.h>
#include <weir/csum.h>
#include <weir/packet.h>

#include "pktgen.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define BIG 70000u

/* Scratch: a generated packet, an expected packet, payloads. */
static uint8_t gbuf[BIG];
static uint8_t want[BIG];
static uint8_t before[BIG];
static uint8_t newpl[BIG];
static uint8_t basepl[BIG];

/* ---- helpers ------------------------------------------------------- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static size_t alen_of(int family)
{
	return family == AF_INET ? 4 : 16;
}

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 13u + (i >> 8));
}

/* The generator input for a packet of family/proto with payload_len
 * bytes of basepl (filled by the caller or by base_payload()). */
static struct tpkt tmpl(int family, uint8_t proto, uint16_t payload_len)
{
	bool v4 = family == AF_INET;

	return (struct tpkt){
		.family = family, .proto = proto,
		.src = v4 ? "10.1.2.3" : "2001:db8:aa::10",
		.dst = v4 ? "192.0.2.200" : "fe80::1:2",
		.sport = 12345, .dport = 53,
		.tcp_flags = WEIR_TCP_ACK | WEIR_TCP_PSH,
		.seq = 0x11223344, .ack = 0x55667788,
		.icmp_type = v4 ? 8 : 128,
		.payload = basepl, .payload_len = payload_len,
	};
}

static void base_payload(void)
{
	fill_pattern(basepl, sizeof(basepl), 0x21);
}

/* A packet holding b[0..n), parsed (errors allowed). */
static struct weir_pkt *mk_bytes(const uint8_t *b, size_t n)
{
	struct weir_pkt *p = weir_pkt_from_bytes(b, (uint32_t)n);

	assert_non_null(p);
	(void)weir_pkt_parse(p);
	return p;
}

/* Builds t into gbuf and a packet that must parse cleanly. */
static struct weir_pkt *mk(const struct tpkt *t)
{
	size_t n = tpkt_make(t, gbuf);
	struct weir_pkt *p = mk_bytes(gbuf, n);

	assert_int_equal(p->pd.err, WEIR_PERR_NONE);
	assert_true(p->pd.flags & WEIR_PD_L4);
	return p;
}

static size_t l3len(const uint8_t *p)
{
	return p[0] >> 4 == 4 ? (p[0] & 15u) * 4u : 40u;
}

/* Offset of the L4 checksum field for a header at l4 (no IPv6 ext). */
static size_t csum_at(const uint8_t *p)
{
	uint8_t proto = p[0] >> 4 == 4 ? p[9] : p[6];

	return l3len(p) + (proto == IPPROTO_TCP ? 16 : proto == IPPROTO_UDP
			   ? 6 : 2);
}

/* Re-fixes the IPv4 header checksum after a hand edit. */
static void fix_ip4(uint8_t *p)
{
	tput16(p + 10, 0);
	tput16(p + 10, tfold(tsum(0, p, l3len(p))));
}

/* Sends a UDP datagram without a checksum (IPv4 only) and reparses. */
static void drop_udp_csum(struct weir_pkt *p)
{
	assert_int_equal(weir_pkt_make_writable(p), 0);
	p->data[p->pd.l4_off + 6] = 0;
	p->data[p->pd.l4_off + 7] = 0;
	assert_int_equal(weir_pkt_parse(p), 0);
}

/* pkt->pd agrees with a fresh parse of the bytes on every field a
 * rewrite can affect. */
static void assert_pd_fresh(const struct weir_pkt *p)
{
	const struct weir_pdesc *o = &p->pd;
	struct weir_pdesc pd;

	assert_int_equal(weir_parse(p->data, p->len, &pd), 0);
	assert_int_equal(o->flags, pd.flags);
	assert_int_equal(o->err, pd.err);
	assert_int_equal(o->family, pd.family);
	assert_int_equal(o->proto, pd.proto);
	assert_int_equal(o->ttl, pd.ttl);
	assert_int_equal(o->l3_len, pd.l3_len);
	assert_int_equal(o->ip_len, pd.ip_len);
	assert_int_equal(o->cap_len, pd.cap_len);
	assert_memory_equal(o->src, pd.src, 16);
	assert_memory_equal(o->dst, pd.dst, 16);
	assert_int_equal(o->l4_off, pd.l4_off);
	assert_int_equal(o->l4_hdr_len, pd.l4_hdr_len);
	assert_int_equal(o->payload_off, pd.payload_off);
	assert_int_equal(o->payload_len, pd.payload_len);
	assert_int_equal(o->sport, pd.sport);
	assert_int_equal(o->dport, pd.dport);
	assert_int_equal(o->l4_csum, pd.l4_csum);
	assert_int_equal(o->tcp_flags, pd.tcp_flags);
	assert_int_equal(o->tcp_seq, pd.tcp_seq);
	assert_int_equal(o->tcp_ack, pd.tcp_ack);
	assert_int_equal(o->tcp_mss, pd.tcp_mss);
	assert_int_equal(o->tcp_mss_off, pd.tcp_mss_off);
	assert_int_equal(o->udp_len, pd.udp_len);
	assert_int_equal(o->icmp_type, pd.icmp_type);
	assert_int_equal(o->icmp_rest, pd.icmp_rest);
}

/* tpkt_csum_ok, after taking out an IPv6 destination-options header
 * (not covered by the pseudo-header, so the L4 sum is unaffected). */
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

/* Inserts an 8-byte destination-options header (one PadN) after the
 * IPv6 header of b[0..*n); checksums stay right. */
static void v6_add_dstopts(uint8_t *b, size_t *n)
{
	memmove(b + 48, b + 40, *n - 40);
	b[40] = b[6];
	b[41] = 0;
	b[42] = 1;              /* PadN, 4 bytes */
	b[43] = 4;
	memset(b + 44, 0, 4);
	b[6] = IPPROTO_DSTOPTS;
	*n += 8;
	tput16(b + 4, (uint16_t)(*n - 40));
}

/* Every checksum is right, by the naive checker and by weir's; a UDP
 * datagram over IPv4 sent without one must still have none. */
static void assert_csums(const struct weir_pkt *p, bool udp_absent)
{
	uint32_t udp_field = p->pd.l4_off + 6u;     /* read for UDP only */
	struct weir_csum_report r;

	assert_true(naive_csum_ok(p->data, p->len));
	assert_int_equal(weir_csum_verify(p->data, &p->pd, false, &r), 0);
	assert_int_equal(r.ip, p->pd.family == AF_INET ? WEIR_CSUM_GOOD
						       : WEIR_CSUM_NONE);
	assert_int_equal(r.l4, udp_absent ? WEIR_CSUM_ABSENT
			 : p->pd.proto == IPPROTO_ICMP ||
			   p->pd.proto == IPPROTO_ICMPV6 ||
			   p->pd.proto == IPPROTO_TCP ||
			   p->pd.proto == IPPROTO_UDP ? WEIR_CSUM_GOOD
						      : WEIR_CSUM_NONE);
	if (udp_absent)
		assert_int_equal(get16(p->data + udp_field), 0);
	else if (p->pd.proto == IPPROTO_UDP)
		assert_int_not_equal(get16(p->data + udp_field), 0);
}

/* Only bytes in the allowed ranges differ from `before`. `ok` lists
 * [from, to) pairs, terminated by from == to. */
static void assert_only_changed(const struct weir_pkt *p, size_t len,
				size_t (*ok)[2])
{
	assert_int_equal(p->len, len);
	for (size_t i = 0; i < len; i++) {
		bool allowed = false;

		for (size_t k = 0; ok[k][0] != ok[k][1]; k++)
			allowed |= i >= ok[k][0] && i < ok[k][1];
		if (!allowed && p->data[i] != before[i])
			fail_msg("byte %zu changed: %#x -> %#x", i,
				 before[i], p->data[i]);
	}
}

/* The value to put in the 16-bit big-endian word at `at` (an address
 * or port word) so that the correct UDP checksum of p is 0, which must
 * then be sent as 0xffff. */
static uint16_t word_for_zero_udp_csum(const uint8_t *p, size_t len,
				       size_t at)
{
	uint8_t tmp[2048];
	bool v4 = p[0] >> 4 == 4;
	size_t hl = l3len(p), alen = v4 ? 4 : 16;
	uint32_t s;
	uint16_t f;

	memcpy(tmp, p, len);
	tput16(tmp + at, 0);
	tput16(tmp + hl + 6, 0);
	s = tsum(tsum(0, tmp + (v4 ? 12 : 8), alen), tmp + (v4 ? 16 : 24),
		 alen);
	s = tsum(s + IPPROTO_UDP + (uint32_t)(len - hl), tmp + hl, len - hl);
	f = (uint16_t)~tfold(s);       /* folded, not complemented */
	return (uint16_t)(0xffffu - f ? 0xffffu - f : 0xffffu);
}

/* ---- weir_pkt_set_addr ------------------------------------------- */

struct addr_case {
	const char *name;
	int family;
	uint8_t proto;
	enum weir_end which;
	const char *addr;
	bool no_udp_csum;
};

static struct addr_case addr_cases[] = {
	{ "v4 tcp src", AF_INET, IPPROTO_TCP, WEIR_SRC, "203.0.113.77",
	  false },
	{ "v4 tcp dst", AF_INET, IPPROTO_TCP, WEIR_DST, "255.255.255.254",
	  false },
	{ "v4 udp src", AF_INET, IPPROTO_UDP, WEIR_SRC, "0.0.0.1", false },
	{ "v4 udp dst", AF_INET, IPPROTO_UDP, WEIR_DST, "172.16.254.3",
	  false },
	{ "v4 udp no csum src", AF_INET, IPPROTO_UDP, WEIR_SRC, "10.9.8.7",
	  true },
	{ "v4 udp no csum dst", AF_INET, IPPROTO_UDP, WEIR_DST,
	  "255.255.255.255", true },
	{ "v4 icmp src", AF_INET, IPPROTO_ICMP, WEIR_SRC, "198.51.100.1",
	  false },
	{ "v4 icmp dst", AF_INET, IPPROTO_ICMP, WEIR_DST, "1.2.3.4", false },
	{ "v6 tcp src", AF_INET6, IPPROTO_TCP, WEIR_SRC,
	  "2001:db8:1234::ffff", false },
	{ "v6 tcp dst", AF_INET6, IPPROTO_TCP, WEIR_DST, "::1", false },
	{ "v6 udp src", AF_INET6, IPPROTO_UDP, WEIR_SRC,
	  "fe80::aaaa:bbbb:cccc:dddd", false },
	{ "v6 udp dst", AF_INET6, IPPROTO_UDP, WEIR_DST,
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", false },
	{ "v6 icmpv6 src", AF_INET6, IPPROTO_ICMPV6, WEIR_SRC,
	  "2001:db8::99", false },
	{ "v6 icmpv6 dst", AF_INET6, IPPROTO_ICMPV6, WEIR_DST, "::", false },
};

static void test_set_addr(void **state)
{
	const struct addr_case *c = *state;
	bool v4 = c->family == AF_INET, src = c->which == WEIR_SRC;
	struct tpkt t = tmpl(c->family, c->proto, 37);
	size_t alen = alen_of(c->family), at, len, csum;
	struct weir_pkt *p;
	uint8_t a[16] = { 0 };

	base_payload();
	assert_int_equal(inet_pton(c->family, c->addr, a), 1);
	p = mk(&t);
	if (c->no_udp_csum)
		drop_udp_csum(p);
	len = p->len;
	memcpy(before, p->data, len);
	at = v4 ? (src ? 12 : 16) : (src ? 8 : 24);
	csum = csum_at(p->data);
	assert_int_equal(weir_pkt_set_addr(p, c->which, a), 0);
	assert_memory_equal(p->data + at, a, alen);
	assert_memory_equal(src ? p->pd.src : p->pd.dst, a, alen);
	assert_csums(p, c->no_udp_csum);
	assert_pd_fresh(p);
	{
		size_t ok[4][2] = { { at, at + alen } }, k = 1;

		if (v4) {
			ok[k][0] = 10;
			ok[k++][1] = 12;
		}
		/* ICMPv4 has no pseudo-header: its checksum stays. */
		if (c->proto != IPPROTO_ICMP) {
			ok[k][0] = csum;
			ok[k++][1] = csum + 2;
		}
		assert_only_changed(p, len, ok);
	}
	weir_pkt_free(p);
}

/* An incremental update that lands on a computed UDP checksum of 0
 * must store 0xffff, which means the same and is not "no checksum". */
static void test_udp_csum_never_zero(void **state)
{
	static const int fams[] = { AF_INET, AF_INET6 };

	(void)state;
	base_payload();
	for (size_t i = 0; i < ARRAY_SIZE(fams); i++) {
		bool v4 = fams[i] == AF_INET;
		struct tpkt t = tmpl(fams[i], IPPROTO_UDP, 21);
		struct weir_pkt *p = mk(&t);
		size_t at = v4 ? 12 + 2 : 8 + 14, alen = alen_of(fams[i]);
		uint8_t a[16];
		uint16_t w;

		/* Through the source address's last word. */
		memcpy(a, p->data + (v4 ? 12 : 8), alen);
		w = word_for_zero_udp_csum(p->data, p->len, at);
		tput16(a + alen - 2, w);
		assert_int_equal(weir_pkt_set_addr(p, WEIR_SRC, a), 0);
		assert_int_equal(get16(p->data + csum_at(p->data)), 0xffff);
		assert_csums(p, false);
		assert_pd_fresh(p);
		/* Through the destination port, after moving the sum away
		 * from 0 again with the source port. */
		assert_int_equal(weir_pkt_set_port(p, WEIR_SRC, 7777), 0);
		assert_int_not_equal(get16(p->data + csum_at(p->data)), 0xffff);
		w = word_for_zero_udp_csum(p->data, p->len, l3len(p->data) + 2);
		assert_int_equal(weir_pkt_set_port(p, WEIR_DST, w), 0);
		assert_int_equal(get16(p->data + csum_at(p->data)), 0xffff);
		assert_csums(p, false);
		assert_pd_fresh(p);
		weir_pkt_free(p);
	}
}

/* ---- weir_pkt_set_port ------------------------------------------- */

struct port_case {
	const char *name;
	int family;
	uint8_t proto;
	enum weir_end which;
	uint16_t port;
	bool no_udp_csum;
};

static struct port_case port_cases[] = {
	{ "v4 tcp sport", AF_INET, IPPROTO_TCP, WEIR_SRC, 1, false },
	{ "v4 tcp dport", AF_INET, IPPROTO_TCP, WEIR_DST, 65535, false },
	{ "v4 udp sport", AF_INET, IPPROTO_UDP, WEIR_SRC, 0, false },
	{ "v4 udp dport", AF_INET, IPPROTO_UDP, WEIR_DST, 8080, false },
	{ "v4 udp no csum sport", AF_INET, IPPROTO_UDP, WEIR_SRC, 40000,
	  true },
	{ "v6 tcp sport", AF_INET6, IPPROTO_TCP, WEIR_SRC, 443, false },
	{ "v6 tcp dport", AF_INET6, IPPROTO_TCP, WEIR_DST, 0xfedc, false },
	{ "v6 udp sport", AF_INET6, IPPROTO_UDP, WEIR_SRC, 0x8001, false },
	{ "v6 udp dport", AF_INET6, IPPROTO_UDP, WEIR_DST, 5353, false },
};

static void test_set_port(void **state)
{
	const struct port_case *c = *state;
	struct tpkt t = tmpl(c->family, c->proto, 64);
	bool src = c->which == WEIR_SRC;
	struct weir_pkt *p;
	size_t at, csum, len;

	base_payload();
	p = mk(&t);
	if (c->no_udp_csum)
		drop_udp_csum(p);
	len = p->len;
	memcpy(before, p->data, len);
	at = p->pd.l4_off + (src ? 0 : 2);
	csum = csum_at(p->data);
	assert_int_equal(weir_pkt_set_port(p, c->which, c->port), 0);
	assert_int_equal(get16(p->data + at), c->port);
	assert_int_equal(src ? p->pd.sport : p->pd.dport, c->port);
	assert_int_equal(src ? p->pd.dport : p->pd.sport, src ? 53 : 12345);
	assert_csums(p, c->no_udp_csum);
	assert_pd_fresh(p);
	{
		size_t ok[][2] = {
			{ at, at + 2 }, { csum, csum + 2 }, { 0, 0 },
		};

		assert_only_changed(p, len, ok);
	}
	weir_pkt_free(p);
}

static void test_set_port_refused(void **state)
{
	static const struct {
		int family;
		uint8_t proto;
	} icmp[] = {
		{ AF_INET, IPPROTO_ICMP },
		{ AF_INET6, IPPROTO_ICMPV6 },
	};
	struct weir_pkt *p;
	struct tpkt t;

	(void)state;
	base_payload();
	for (size_t i = 0; i < ARRAY_SIZE(icmp); i++) {
		t = tmpl(icmp[i].family, icmp[i].proto, 8);
		p = mk(&t);
		memcpy(before, p->data, p->len);
		assert_int_equal(weir_pkt_set_port(p, WEIR_SRC, 1),
				 -EPROTONOSUPPORT);
		assert_int_equal(weir_pkt_set_port(p, WEIR_DST, 1),
				 -EPROTONOSUPPORT);
		assert_memory_equal(p->data, before, p->len);
		weir_pkt_free(p);
	}
	/* No L4 header: a TCP packet that was never parsed, and one whose
	 * TCP header is cut short. */
	t = tmpl(AF_INET, IPPROTO_TCP, 0);
	p = weir_pkt_from_bytes(gbuf, (uint32_t)tpkt_make(&t, gbuf));
	assert_non_null(p);
	assert_int_equal(weir_pkt_set_port(p, WEIR_SRC, 1), -EINVAL);
	assert_memory_equal(p->data, gbuf, p->len);
	weir_pkt_free(p);
	p = mk_bytes(gbuf, 30);
	assert_int_equal(weir_pkt_set_port(p, WEIR_SRC, 1), -EINVAL);
	assert_memory_equal(p->data, gbuf, 30);
	weir_pkt_free(p);
}

/* Rewrites of a packet nobody parsed are refused, not guessed at. */
static void test_unparsed_refused(void **state)
{
	struct tpkt t = tmpl(AF_INET, IPPROTO_TCP, 10);
	uint8_t a[4] = { 1, 2, 3, 4 };
	struct weir_pkt *p;

	(void)state;
	base_payload();
	p = weir_pkt_from_bytes(gbuf, (uint32_t)tpkt_make(&t, gbuf));
	assert_non_null(p);
	assert_int_equal(weir_pkt_set_addr(p, WEIR_SRC, a), -EINVAL);
	assert_int_equal(weir_pkt_set_ttl(p, 1), -EINVAL);
	assert_int_equal(weir_pkt_clamp_mss(p, 500), -EINVAL);
	assert_int_equal(weir_pkt_replace_payload(p, 0, 1, "x", 1), -EINVAL);
	assert_memory_equal(p->data, gbuf, p->len);
	weir_pkt_free(p);
}

/* ---- weir_pkt_set_ttl -------------------------------------------- */

struct ttl_case {
	const char *name;
	int family;
	uint8_t proto;
	uint8_t ttl;
};

static struct ttl_case ttl_cases[] = {
	{ "v4 tcp ttl 1", AF_INET, IPPROTO_TCP, 1 },
	{ "v4 udp ttl 0", AF_INET, IPPROTO_UDP, 0 },
	{ "v4 icmp ttl 255", AF_INET, IPPROTO_ICMP, 255 },
	{ "v4 tcp ttl 128", AF_INET, IPPROTO_TCP, 128 },
	{ "v6 udp hop limit 0", AF_INET6, IPPROTO_UDP, 0 },
	{ "v6 tcp hop limit 255", AF_INET6, IPPROTO_TCP, 255 },
};

static void test_set_ttl(void **state)
{
	const struct ttl_case *c = *state;
	bool v4 = c->family == AF_INET;
	struct tpkt t = tmpl(c->family, c->proto, 20);
	struct weir_pkt *p;
	size_t len;

	base_payload();
	p = mk(&t);
	len = p->len;
	memcpy(before, p->data, len);
	assert_int_equal(weir_pkt_set_ttl(p, c->ttl), 0);
	assert_int_equal(p->data[v4 ? 8 : 7], c->ttl);
	assert_int_equal(p->pd.ttl, c->ttl);
	if (v4)
		assert_int_equal(tfold(tsum(0, p->data, 20)), 0);
	assert_csums(p, false);
	assert_pd_fresh(p);
	{
		size_t ok4[][2] = { { 8, 9 }, { 10, 12 }, { 0, 0 } };
		size_t ok6[][2] = { { 7, 8 }, { 0, 0 } };

		assert_only_changed(p, len, v4 ? ok4 : ok6);
	}
	weir_pkt_free(p);
}

/* ---- weir_pkt_clamp_mss ------------------------------------------ */

/* MSS 1460 at TCP offset 20 (value at 22, even). */
static const uint8_t opt_even[] = { 2, 4, 0x05, 0xb4, 1, 1, 4, 2 };
/* NOP first: MSS 1460 value at TCP offset 23 (odd). */
static const uint8_t opt_odd[] = { 1, 2, 4, 0x05, 0xb4, 1, 1, 1 };
/* Three NOPs: MSS 0xff01 value at TCP offset 25 (odd), then wscale. */
static const uint8_t opt_odd3[] = { 1, 1, 1, 2, 4, 0xff, 0x01, 1,
				    3, 3, 7, 0 };
/* MSS 536. */
static const uint8_t opt_small[] = { 2, 4, 0x02, 0x18, 1, 1, 1, 1 };
/* SACK-permitted and window scale, no MSS. */
static const uint8_t opt_none[] = { 1, 1, 4, 2, 1, 3, 3, 7 };

struct mss_case {
	const char *name;
	int family;
	const uint8_t *opts;
	uint8_t opts_len;
	uint16_t clamp;
	int want_ret;
	uint16_t want_mss;      /* 0: no MSS option */
	uint16_t want_tcp_at;   /* MSS value offset in the TCP header */
};

#define OPT(o) o, sizeof(o)

static struct mss_case mss_cases[] = {
	{ "v4 even larger", AF_INET, OPT(opt_even), 1200, 1, 1200, 22 },
	{ "v4 even larger to 1", AF_INET, OPT(opt_even), 1, 1, 1, 22 },
	{ "v4 odd larger", AF_INET, OPT(opt_odd), 1380, 1, 1380, 23 },
	{ "v4 odd both bytes", AF_INET, OPT(opt_odd), 0x0102, 1, 0x0102, 23 },
	{ "v4 odd3 larger", AF_INET, OPT(opt_odd3), 0x1234, 1, 0x1234, 25 },
	{ "v4 odd3 to 0", AF_INET, OPT(opt_odd3), 0, 1, 0, 25 },
	{ "v4 equal", AF_INET, OPT(opt_even), 1460, 0, 1460, 22 },
	{ "v4 smaller", AF_INET, OPT(opt_small), 1200, 0, 536, 22 },
	{ "v4 odd smaller", AF_INET, OPT(opt_odd), 1500, 0, 1460, 23 },
	{ "v4 no mss", AF_INET, OPT(opt_none), 100, 0, 0, 0 },
	{ "v6 even larger", AF_INET6, OPT(opt_even), 1220, 1, 1220, 22 },
	{ "v6 odd larger", AF_INET6, OPT(opt_odd), 1220, 1, 1220, 23 },
	{ "v6 odd3 larger", AF_INET6, OPT(opt_odd3), 0xfeff, 1, 0xfeff, 25 },
	{ "v6 smaller", AF_INET6, OPT(opt_small), 1220, 0, 536, 22 },
	{ "v6 no mss", AF_INET6, OPT(opt_none), 100, 0, 0, 0 },
};

static void test_clamp_mss(void **state)
{
	const struct mss_case *c = *state;
	struct tpkt t = tmpl(c->family, IPPROTO_TCP, 0);
	struct weir_pkt *p;
	size_t len, at, csum;

	t.tcp_flags = WEIR_TCP_SYN;
	t.tcp_opts = c->opts;
	t.tcp_opts_len = c->opts_len;
	p = mk(&t);
	len = p->len;
	memcpy(before, p->data, len);
	at = p->pd.l4_off + c->want_tcp_at;
	csum = csum_at(p->data);
	if (c->want_mss) {
		assert_true(p->pd.flags & WEIR_PD_TCP_MSS);
		assert_int_equal(p->pd.tcp_mss_off + 2, at);
	}
	assert_int_equal(weir_pkt_clamp_mss(p, c->clamp), c->want_ret);
	if (c->want_mss) {
		assert_int_equal(get16(p->data + at), c->want_mss);
		assert_int_equal(p->pd.tcp_mss, c->want_mss);
	}
	assert_csums(p, false);
	assert_pd_fresh(p);
	if (c->want_ret == 0) {
		assert_memory_equal(p->data, before, len);
	} else {
		size_t ok[][2] = {
			{ at, at + 2 }, { csum, csum + 2 }, { 0, 0 },
		};

		assert_only_changed(p, len, ok);
	}
	weir_pkt_free(p);
}

static void test_clamp_mss_not_tcp(void **state)
{
	static const struct {
		int family;
		uint8_t proto;
	} c[] = {
		{ AF_INET, IPPROTO_UDP },
		{ AF_INET, IPPROTO_ICMP },
		{ AF_INET6, IPPROTO_UDP },
		{ AF_INET6, IPPROTO_ICMPV6 },
	};

	(void)state;
	base_payload();
	for (size_t i = 0; i < ARRAY_SIZE(c); i++) {
		struct tpkt t = tmpl(c[i].family, c[i].proto, 40);
		struct weir_pkt *p = mk(&t);

		memcpy(before, p->data, p->len);
		assert_int_equal(weir_pkt_clamp_mss(p, 536), -EINVAL);
		assert_memory_equal(p->data, before, p->len);
		weir_pkt_free(p);
	}
}

/* ---- weir_pkt_replace_payload ------------------------------------ */

struct repl_frame {
	const char *name;
	int family;
	uint8_t proto;
	bool ext;               /* IPv4 options / IPv6 dest-options header */
};

static const struct repl_frame repl_frames[] = {
	{ "v4 tcp", AF_INET, IPPROTO_TCP, false },
	{ "v4 udp", AF_INET, IPPROTO_UDP, false },
	{ "v6 udp", AF_INET6, IPPROTO_UDP, false },
	{ "v6 tcp", AF_INET6, IPPROTO_TCP, false },
	{ "v4+opts tcp", AF_INET, IPPROTO_TCP, true },
	{ "v4+opts udp", AF_INET, IPPROTO_UDP, true },
	{ "v6+dstopts udp", AF_INET6, IPPROTO_UDP, true },
	{ "v6+dstopts tcp", AF_INET6, IPPROTO_TCP, true },
};

/* Router alert and a NOP, padded to 8 bytes. */
static const uint8_t ip_opts[] = { 148, 4, 0, 0, 1, 0, 0, 0 };

/* The generator input and bytes (into out) of a frame's packet. */
static size_t frame_make(const struct repl_frame *f, struct tpkt *t,
			 uint8_t *out)
{
	size_t n;

	if (f->ext && f->family == AF_INET) {
		t->ip_opts = ip_opts;
		t->ip_opts_len = sizeof(ip_opts);
	}
	n = tpkt_make(t, out);
	if (f->ext && f->family == AF_INET6)
		v6_add_dstopts(out, &n);
	return n;
}

struct repl_edit {
	const char *name;
	uint16_t payload_len;   /* of the original */
	uint32_t off, old_len, new_len;
	uint8_t pad;            /* link-layer padding after the packet */
};

static const struct repl_edit repl_edits[] = {
	{ "grow middle", 100, 40, 10, 30, 0 },
	{ "shrink middle", 100, 40, 30, 5, 0 },
	{ "same size middle", 100, 10, 8, 8, 0 },
	{ "grow at start", 100, 0, 10, 21, 0 },
	{ "insert at start", 100, 0, 0, 7, 0 },
	{ "shrink at start", 100, 0, 33, 1, 0 },
	{ "replace at end", 100, 90, 10, 3, 0 },
	{ "grow at end", 100, 97, 3, 50, 0 },
	{ "append", 100, 100, 0, 11, 0 },
	{ "delete all", 100, 0, 100, 0, 0 },
	{ "delete middle", 99, 10, 20, 0, 0 },
	{ "fill empty", 0, 0, 0, 5, 0 },
	{ "empty to empty", 0, 0, 0, 0, 0 },
	{ "odd grow", 33, 3, 3, 4, 0 },
	{ "grow with padding", 30, 5, 5, 17, 6 },
	{ "shrink with padding", 30, 5, 15, 2, 6 },
};

struct repl_run {
	const struct repl_frame *f;
	const struct repl_edit *e;
};

static struct repl_run repl_runs[ARRAY_SIZE(repl_frames) *
				 ARRAY_SIZE(repl_edits)];

/* Builds into `want` the packet that t (framed as f, NULL for plain)
 * would be with its payload edited; returns its length. */
static size_t expected(const struct repl_frame *f, const struct tpkt *t,
		       uint32_t off, uint32_t old_len, const uint8_t *bytes,
		       uint32_t new_len)
{
	struct tpkt w = *t;
	uint32_t tail = t->payload_len - off - old_len;

	memcpy(newpl, t->payload, off);
	memcpy(newpl + off, bytes, new_len);
	memcpy(newpl + off + new_len, t->payload + off + old_len, tail);
	w.payload = newpl;
	w.payload_len = (uint16_t)(t->payload_len - old_len + new_len);
	return f ? frame_make(f, &w, want) : tpkt_make(&w, want);
}

/* Runs one replacement on p (built from t) and checks it in full. */
static void check_replace(struct weir_pkt *p, const struct repl_frame *f,
			  const struct tpkt *t, uint32_t off, uint32_t old_len,
			  const uint8_t *bytes, uint32_t new_len)
{
	size_t n = expected(f, t, off, old_len, bytes, new_len);
	bool v4 = t->family == AF_INET;

	assert_int_equal(weir_pkt_replace_payload(p, off, old_len, bytes,
						  new_len), 0);
	assert_int_equal(p->len, n);
	assert_memory_equal(p->data, want, n);
	/* The same facts, spelled out. */
	if (v4)
		assert_int_equal(get16(p->data + 2), n);
	else
		assert_int_equal(get16(p->data + 4), n - 40);
	if (t->proto == IPPROTO_UDP)
		assert_int_equal(get16(p->data + p->pd.l4_off + 4),
				 n - p->pd.l4_off);
	assert_int_equal(p->pd.ip_len, n);
	assert_int_equal(p->pd.cap_len, n);
	assert_int_equal(p->pd.payload_len, n - p->pd.payload_off);
	if (t->proto == IPPROTO_UDP)
		assert_int_equal(p->pd.udp_len, n - p->pd.l4_off);
	assert_int_equal(p->meta.csum_state, WEIR_CSUM_VERIFIED);
	assert_csums(p, false);
	assert_pd_fresh(p);
}

static void test_replace(void **state)
{
	const struct repl_run *run = *state;
	const struct repl_edit *e = run->e;
	struct tpkt t = tmpl(run->f->family, run->f->proto, e->payload_len);
	uint8_t bytes[64];
	struct weir_pkt *p;
	size_t n;

	base_payload();
	fill_pattern(bytes, sizeof(bytes), 0xc5);
	n = frame_make(run->f, &t, gbuf);
	memset(gbuf + n, 0xee, e->pad);
	p = mk_bytes(gbuf, n + e->pad);
	assert_int_equal(p->pd.err, WEIR_PERR_NONE);
	if (run->f->ext)
		assert_true(p->pd.flags & WEIR_PD_L3_EXT);
	check_replace(p, run->f, &t, e->off, e->old_len, bytes, e->new_len);
	weir_pkt_free(p);
}

/* A 1400-byte packet grown by 3000 bytes outgrows its buffer; shrinking
 * it back gives the original bytes. */
static void test_replace_big_growth(void **state)
{
	static const struct repl_frame *fr[] = {
		&repl_frames[0], &repl_frames[2],
	};
	uint8_t *bytes = malloc(3000);

	(void)state;
	assert_non_null(bytes);
	base_payload();
	fill_pattern(bytes, 3000, 0x5a);
	for (size_t i = 0; i < ARRAY_SIZE(fr); i++) {
		uint16_t hdr = fr[i]->family == AF_INET
			       ? (fr[i]->proto == IPPROTO_TCP ? 40 : 28)
			       : (fr[i]->proto == IPPROTO_TCP ? 60 : 48);
		struct tpkt t = tmpl(fr[i]->family, fr[i]->proto,
				     (uint16_t)(1400 - hdr));
		struct weir_pkt *p = mk(&t);
		size_t n = p->len;

		assert_int_equal(n, 1400);
		assert_true(weir_pkt_tailroom(p) < 3000);
		check_replace(p, NULL, &t, 700, 0, bytes, 3000);
		assert_int_equal(p->len, 4400);
		assert_true(weir_pkt_headroom(p) >= WEIR_PKT_HEADROOM);
		/* And back: remove what was inserted. */
		assert_int_equal(weir_pkt_replace_payload(p, 700, 3000, NULL,
							  0), 0);
		assert_int_equal(p->len, 1400);
		assert_memory_equal(p->data, gbuf, 1400);
		assert_csums(p, false);
		assert_pd_fresh(p);
		weir_pkt_free(p);
	}
	free(bytes);
}

/* Ranges outside the payload, fragments and truncated packets are
 * refused and leave the packet as it was. */
static void assert_refused(struct weir_pkt *p, uint32_t off,
			   uint32_t old_len, uint32_t new_len, int want_err)
{
	static uint8_t bytes[70000];
	uint32_t len = p->len;
	struct weir_pdesc pd = p->pd;

	memcpy(before, p->data, len);
	assert_int_equal(weir_pkt_replace_payload(p, off, old_len, bytes,
						  new_len), want_err);
	assert_int_equal(p->len, len);
	assert_memory_equal(p->data, before, len);
	assert_int_equal(p->pd.flags, pd.flags);
	assert_int_equal(p->pd.ip_len, pd.ip_len);
	assert_int_equal(p->pd.payload_len, pd.payload_len);
}

static void test_replace_bad_range(void **state)
{
	(void)state;
	base_payload();
	for (size_t i = 0; i < ARRAY_SIZE(repl_frames); i++) {
		struct tpkt t = tmpl(repl_frames[i].family,
				     repl_frames[i].proto, 100);
		struct weir_pkt *p = mk(&t);

		assert_refused(p, 101, 0, 1, -EINVAL);
		assert_refused(p, 50, 51, 1, -EINVAL);
		assert_refused(p, 0, 101, 0, -EINVAL);
		assert_refused(p, 100, 1, 1, -EINVAL);
		assert_refused(p, UINT32_MAX, 2, 0, -EINVAL);
		assert_refused(p, 2, UINT32_MAX, 0, -EINVAL);
		weir_pkt_free(p);
	}
}

/* Adds a fragment header (offset 0, M set) to the IPv6 packet in b. */
static void v6_first_frag(uint8_t *b, size_t *n)
{
	memmove(b + 48, b + 40, *n - 40);
	b[40] = b[6];
	b[41] = 0;
	tput16(b + 42, 1);              /* offset 0, M = 1 */
	tput32(b + 44, 0xabcdef01);
	b[6] = IPPROTO_FRAGMENT;
	*n += 8;
	tput16(b + 4, (uint16_t)(*n - 40));
}

static void test_replace_fragment(void **state)
{
	struct weir_pkt *p;
	struct tpkt t;
	size_t n;

	(void)state;
	base_payload();
	/* IPv4 with MF set by hand, both TCP and UDP. */
	for (int k = 0; k < 2; k++) {
		t = tmpl(AF_INET, k ? IPPROTO_UDP : IPPROTO_TCP, 100);
		n = tpkt_make(&t, gbuf);
		gbuf[6] |= 0x20;
		fix_ip4(gbuf);
		p = mk_bytes(gbuf, n);
		assert_true(p->pd.flags & WEIR_PD_MF);
		assert_true(p->pd.flags & WEIR_PD_L4);
		assert_refused(p, 10, 10, 20, -EINVAL);
		assert_refused(p, 10, 10, 0, -EINVAL);
		weir_pkt_free(p);
	}
	/* IPv6 first fragment. */
	t = tmpl(AF_INET6, IPPROTO_UDP, 100);
	n = tpkt_make(&t, gbuf);
	v6_first_frag(gbuf, &n);
	p = mk_bytes(gbuf, n);
	assert_true(p->pd.flags & WEIR_PD_FRAG);
	assert_true(p->pd.flags & WEIR_PD_L4);
	assert_refused(p, 10, 10, 20, -EINVAL);
	weir_pkt_free(p);
}

static void test_replace_truncated(void **state)
{
	(void)state;
	base_payload();
	for (size_t i = 0; i < ARRAY_SIZE(repl_frames); i++) {
		struct tpkt t = tmpl(repl_frames[i].family,
				     repl_frames[i].proto, 100);
		size_t n = tpkt_make(&t, gbuf);
		struct weir_pkt *p = mk_bytes(gbuf, n - 10);

		assert_true(p->pd.flags & WEIR_PD_TRUNCATED);
		assert_true(p->pd.flags & WEIR_PD_L4);
		assert_refused(p, 0, 10, 20, -EINVAL);
		assert_refused(p, 0, 0, 0, -EINVAL);
		weir_pkt_free(p);
	}
}

/* Exactly 65535 bytes is fine; one more is -EMSGSIZE. */
static void test_replace_too_big(void **state)
{
	static uint8_t bytes[70000];
	struct tpkt t;
	struct weir_pkt *p;
	uint32_t grow;

	(void)state;
	base_payload();
	fill_pattern(bytes, sizeof(bytes), 0x99);
	for (int k = 0; k < 2; k++) {
		t = tmpl(AF_INET, k ? IPPROTO_UDP : IPPROTO_TCP, 100);
		p = mk(&t);
		grow = 65535 - p->len;
		assert_refused(p, 50, 0, grow + 1, -EMSGSIZE);
		assert_refused(p, 50, 10, grow + 11, -EMSGSIZE);
		check_replace(p, NULL, &t, 50, 0, bytes, grow);
		assert_int_equal(p->len, 65535);
		weir_pkt_free(p);
	}
	t = tmpl(AF_INET6, IPPROTO_UDP, 100);
	p = mk(&t);
	assert_refused(p, 0, 0, 66000, -EMSGSIZE);
	weir_pkt_free(p);
}

/* A UDP/IPv4 datagram sent without a checksum keeps none. */
static void test_replace_udp_no_csum(void **state)
{
	struct tpkt t = tmpl(AF_INET, IPPROTO_UDP, 50);
	uint8_t bytes[40];
	struct weir_pkt *p;

	(void)state;
	base_payload();
	fill_pattern(bytes, sizeof(bytes), 1);
	p = mk(&t);
	drop_udp_csum(p);
	assert_int_equal(weir_pkt_replace_payload(p, 10, 5, bytes, 40), 0);
	assert_int_equal(p->len, 28 + 85);
	assert_int_equal(get16(p->data + 2), 28 + 85);
	assert_int_equal(get16(p->data + 24), 8 + 85);
	assert_memory_equal(p->data + 28 + 10, bytes, 40);
	assert_memory_equal(p->data + 28 + 50, basepl + 15, 35);
	assert_csums(p, true);
	assert_pd_fresh(p);
	weir_pkt_free(p);
}

/* ---- copy-on-write ------------------------------------------------- */

enum cow_op { COW_PAYLOAD, COW_ADDR, COW_PORT, COW_TTL, COW_MSS };

/* Applies one rewrite; returns the expected 0 or 1. */
static int cow_apply(struct weir_pkt *p, enum cow_op op)
{
	static const uint8_t a4[4] = { 100, 64, 0, 1 };
	static const uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 7 };
	static const uint8_t bytes[] = "copy-on-write!";

	switch (op) {
	case COW_PAYLOAD:
		return weir_pkt_replace_payload(p, 3, 2, bytes, sizeof(bytes));
	case COW_ADDR:
		return weir_pkt_set_addr(p, WEIR_DST, p->pd.family == AF_INET
					 ? a4 : a6);
	case COW_PORT:
		return weir_pkt_set_port(p, WEIR_SRC, 2222);
	case COW_TTL:
		return weir_pkt_set_ttl(p, 3);
	case COW_MSS:
		return weir_pkt_clamp_mss(p, 1000) == 1 ? 0 : -1;
	}
	return -1;
}

static void test_cow(void **state)
{
	static const int fams[] = { AF_INET, AF_INET6 };
	static uint8_t saved[2048];

	(void)state;
	base_payload();
	for (size_t f = 0; f < ARRAY_SIZE(fams); f++) {
		for (int op = COW_PAYLOAD; op <= COW_MSS; op++) {
			/* Rewrite the clone, then the original. */
			for (int which = 0; which < 2; which++) {
				struct tpkt t = tmpl(fams[f], IPPROTO_TCP, 30);
				struct weir_pkt *orig, *clone, *w, *keep;
				uint32_t len;

				t.tcp_opts = opt_even;
				t.tcp_opts_len = sizeof(opt_even);
				orig = mk(&t);
				clone = weir_pkt_clone(orig);
				assert_non_null(clone);
				assert_true(weir_pkt_is_shared(orig));
				w = which ? orig : clone;
				keep = which ? clone : orig;
				len = keep->len;
				memcpy(saved, keep->data, len);
				assert_int_equal(cow_apply(w, (enum cow_op)op),
						 0);
				assert_false(weir_pkt_is_shared(orig));
				assert_false(weir_pkt_is_shared(clone));
				assert_ptr_not_equal(w->data, keep->data);
				/* The other one is untouched and valid. */
				assert_int_equal(keep->len, len);
				assert_memory_equal(keep->data, saved, len);
				assert_csums(keep, false);
				assert_pd_fresh(keep);
				/* The rewritten one changed and is valid. */
				assert_true(w->len != len ||
					    memcmp(w->data, saved, len) != 0);
				assert_csums(w, false);
				assert_pd_fresh(w);
				weir_pkt_free(orig);
				weir_pkt_free(clone);
			}
		}
	}
}

/* ---- partial checksums --------------------------------------------- */

struct partial_case {
	const char *name;
	int family;
	uint8_t proto;
};

static struct partial_case partial_cases[] = {
	{ "v4 tcp", AF_INET, IPPROTO_TCP },
	{ "v4 udp", AF_INET, IPPROTO_UDP },
	{ "v6 tcp", AF_INET6, IPPROTO_TCP },
	{ "v6 udp", AF_INET6, IPPROTO_UDP },
};

/* The partial field value (memory order) the kernel would store. */
static uint16_t pseudo_field(const struct weir_pkt *p)
{
	return weir_csum_fold(weir_csum_pseudo(p->pd.family, p->pd.src,
					       p->pd.dst, p->pd.proto,
					       p->len - p->pd.l4_off));
}

static uint16_t field_of(const struct weir_pkt *p)
{
	uint16_t v;

	memcpy(&v, p->data + csum_at(p->data), 2);
	return v;
}

/* Builds a packet whose L4 field holds the pseudo-header sum. */
static struct weir_pkt *mk_partial(const struct partial_case *c)
{
	struct tpkt t = tmpl(c->family, c->proto, 77);
	struct weir_pkt *p;
	uint16_t v;

	t.tcp_opts = opt_even;
	t.tcp_opts_len = c->proto == IPPROTO_TCP ? sizeof(opt_even) : 0;
	p = mk(&t);
	v = pseudo_field(p);
	memcpy(p->data + csum_at(p->data), &v, 2);
	assert_int_equal(weir_pkt_parse(p), 0);
	p->meta.csum_state = WEIR_CSUM_PARTIAL;
	return p;
}

static void assert_pseudo_ok(const struct weir_pkt *p)
{
	struct weir_csum_report r;

	assert_int_equal(field_of(p), pseudo_field(p));
	assert_int_equal(weir_csum_verify(p->data, &p->pd, true, &r), 0);
	assert_int_equal(r.l4, WEIR_CSUM_PSEUDO_OK);
	if (p->pd.family == AF_INET)
		assert_int_equal(r.ip, WEIR_CSUM_GOOD);
	assert_int_equal(p->meta.csum_state, WEIR_CSUM_PARTIAL);
	assert_pd_fresh(p);
}

static void test_partial(void **state)
{
	const struct partial_case *c = *state;
	bool v4 = c->family == AF_INET;
	static const uint8_t s4[4] = { 192, 168, 255, 254 };
	static const uint8_t d4[4] = { 8, 8, 4, 4 };
	static const uint8_t s6[16] = { 0xfd, 0x00, [14] = 0xff, 0xff };
	static const uint8_t d6[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 0x42 };
	struct weir_pkt *p = mk_partial(c);
	struct weir_csum_report r;
	uint16_t field;

	assert_pseudo_ok(p);
	/* Addresses are in the pseudo-header: the sum follows them. */
	assert_int_equal(weir_pkt_set_addr(p, WEIR_SRC, v4 ? s4 : s6), 0);
	assert_memory_equal(p->pd.src, v4 ? s4 : s6, alen_of(c->family));
	assert_pseudo_ok(p);
	assert_int_equal(weir_pkt_set_addr(p, WEIR_DST, v4 ? d4 : d6), 0);
	assert_pseudo_ok(p);
	/* Ports, TTL and MSS are not: the field must not move. */
	field = field_of(p);
	assert_int_equal(weir_pkt_set_port(p, WEIR_SRC, 1), 0);
	assert_int_equal(weir_pkt_set_port(p, WEIR_DST, 0xfffe), 0);
	assert_int_equal(get16(p->data + p->pd.l4_off), 1);
	assert_int_equal(get16(p->data + p->pd.l4_off + 2), 0xfffe);
	assert_int_equal(weir_pkt_set_ttl(p, 9), 0);
	if (c->proto == IPPROTO_TCP) {
		assert_int_equal(weir_pkt_clamp_mss(p, 1000), 1);
		assert_int_equal(get16(p->data + p->pd.tcp_mss_off + 2), 1000);
	}
	assert_int_equal(field_of(p), field);
	assert_pseudo_ok(p);
	/* Completing it gives a checksum good over everything. */
	assert_int_equal(weir_pkt_csum_finalize(p), 0);
	assert_int_equal(p->meta.csum_state, WEIR_CSUM_VERIFIED);
	assert_true(tpkt_csum_ok(p->data, p->len));
	assert_int_equal(weir_pkt_parse(p), 0);
	assert_int_equal(weir_csum_verify(p->data, &p->pd, false, &r), 0);
	assert_int_equal(r.l4, WEIR_CSUM_GOOD);
	weir_pkt_free(p);
}

/* New payload bytes end the offload: the checksum comes out complete. */
static void test_partial_replace(void **state)
{
	const struct partial_case *c = *state;
	struct weir_pkt *p = mk_partial(c);

	assert_pseudo_ok(p);
	assert_int_equal(weir_pkt_replace_payload(p, 5, 5, "abcdefghijk", 11),
			 0);
	assert_int_equal(p->meta.csum_state, WEIR_CSUM_VERIFIED);
	assert_int_equal(p->len, (c->family == AF_INET ? 20 : 40) +
			 (c->proto == IPPROTO_TCP ? 28 : 8) + 77 + 6);
	assert_memory_equal(p->data + p->pd.payload_off + 5, "abcdefghijk",
			    11);
	assert_csums(p, false);
	assert_pd_fresh(p);
	weir_pkt_free(p);
}

/* weir_pkt_csum_finalize() changes checksum bytes; pkt->pd must follow,
 * or a later rewrite works from a stale l4_csum. A UDP/IPv4 datagram
 * sent without a checksum gets one, and set_addr must then keep it. */
static void test_finalize_keeps_pd(void **state)
{
	static const uint8_t a[4] = { 100, 64, 1, 2 };
	struct tpkt t = tmpl(AF_INET, IPPROTO_UDP, 30);
	struct weir_pkt *p;

	(void)state;
	base_payload();
	p = mk(&t);
	drop_udp_csum(p);
	assert_int_equal(weir_pkt_csum_finalize(p), 0);
	assert_true(tpkt_csum_ok(p->data, p->len));
	assert_int_equal(p->pd.l4_csum, get16(p->data + 26));
	assert_int_equal(weir_pkt_set_addr(p, WEIR_SRC, a), 0);
	assert_true(tpkt_csum_ok(p->data, p->len));
	weir_pkt_free(p);
	/* Same after completing a partial checksum. */
	p = mk_partial(&partial_cases[0]);
	assert_int_equal(weir_pkt_csum_finalize(p), 0);
	assert_pd_fresh(p);
	weir_pkt_free(p);
}

/* ---- registration ---------------------------------------------------- */

enum {
	N_TESTS = ARRAY_SIZE(addr_cases) + 1 + ARRAY_SIZE(port_cases) + 2 +
		  ARRAY_SIZE(ttl_cases) + ARRAY_SIZE(mss_cases) + 1 +
		  ARRAY_SIZE(repl_runs) + 6 + 1 + 2 * ARRAY_SIZE(partial_cases) +
		  1,
};

static struct CMUnitTest tests[N_TESTS];
static char names[N_TESTS][80];
static size_t ntests;

/* Registers one test, named "group: case", run with *state = arg. */
static void add(CMUnitTestFunction fn, void *arg, const char *group,
		const char *name)
{
	if (ntests == N_TESTS)
		abort();
	snprintf(names[ntests], sizeof(names[0]), "%s: %s", group, name);
	tests[ntests] = (struct CMUnitTest){
		.name = names[ntests], .test_func = fn, .initial_state = arg,
	};
	ntests++;
}

int main(void)
{
	size_t k = 0;

	for (size_t i = 0; i < ARRAY_SIZE(addr_cases); i++)
		add(test_set_addr, &addr_cases[i], "set_addr",
		    addr_cases[i].name);
	add(test_udp_csum_never_zero, NULL, "set_addr", "udp csum 0 -> ffff");
	for (size_t i = 0; i < ARRAY_SIZE(port_cases); i++)
		add(test_set_port, &port_cases[i], "set_port",
		    port_cases[i].name);
	add(test_set_port_refused, NULL, "set_port", "refusals");
	add(test_unparsed_refused, NULL, "rewrite", "unparsed packet");
	for (size_t i = 0; i < ARRAY_SIZE(ttl_cases); i++)
		add(test_set_ttl, &ttl_cases[i], "set_ttl", ttl_cases[i].name);
	for (size_t i = 0; i < ARRAY_SIZE(mss_cases); i++)
		add(test_clamp_mss, &mss_cases[i], "clamp_mss",
		    mss_cases[i].name);
	add(test_clamp_mss_not_tcp, NULL, "clamp_mss", "not tcp");
	for (size_t f = 0; f < ARRAY_SIZE(repl_frames); f++) {
		for (size_t i = 0; i < ARRAY_SIZE(repl_edits); i++, k++) {
			char name[64];

			repl_runs[k] = (struct repl_run){ &repl_frames[f],
							  &repl_edits[i] };
			snprintf(name, sizeof(name), "%s %s",
				 repl_frames[f].name, repl_edits[i].name);
			add(test_replace, &repl_runs[k], "replace", name);
		}
	}
	add(test_replace_big_growth, NULL, "replace", "big growth");
	add(test_replace_bad_range, NULL, "replace", "bad range");
	add(test_replace_fragment, NULL, "replace", "fragment");
	add(test_replace_truncated, NULL, "replace", "truncated");
	add(test_replace_too_big, NULL, "replace", "65535 limit");
	add(test_replace_udp_no_csum, NULL, "replace", "udp without csum");
	add(test_cow, NULL, "cow", "clone and original");
	for (size_t i = 0; i < ARRAY_SIZE(partial_cases); i++)
		add(test_partial, &partial_cases[i], "partial",
		    partial_cases[i].name);
	for (size_t i = 0; i < ARRAY_SIZE(partial_cases); i++)
		add(test_partial_replace, &partial_cases[i], "partial replace",
		    partial_cases[i].name);
	add(test_finalize_keeps_pd, NULL, "finalize", "pd kept in step");
	if (ntests != N_TESTS)
		abort();
	return cmocka_run_group_tests_name("rewrite", tests, NULL, NULL);
}
