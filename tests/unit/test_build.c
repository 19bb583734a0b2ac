/* Unit tests for the packet builders (TCP RST, ICMP/ICMPv6 destination
 * unreachable, UDP), checked against the independent generator in pktgen.h. */
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

/* Scratch for generated packets (tpkt_make wants >= 1600 bytes). */
static uint8_t gbuf[2048];
static uint8_t inner_buf[2048];

/* A stand-in *ret_pkt value that a failing builder must leave alone. */
static struct weir_pkt sentinel;

/* ---- helpers ------------------------------------------------------- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static size_t alen_of(int family)
{
	return family == AF_INET ? 4 : 16;
}

static uint64_t pool_in_use(void)
{
	struct weir_pool_stats s;

	assert_int_equal(weir_pool_stats(NULL, &s), 0);
	return s.in_use;
}

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7u);
}

/* A packet holding b[0..n), parsed when `parse` (parse errors allowed). */
static struct weir_pkt *mk_bytes(const uint8_t *b, size_t n, bool parse)
{
	struct weir_pkt *p = weir_pkt_from_bytes(b, (uint32_t)n);

	assert_non_null(p);
	if (parse)
		(void)weir_pkt_parse(p);
	return p;
}

/* Builds t into a packet that must parse cleanly. */
static struct weir_pkt *mk(const struct tpkt *t)
{
	size_t n = tpkt_make(t, gbuf);
	struct weir_pkt *p = mk_bytes(gbuf, n, false);

	assert_int_equal(weir_pkt_parse(p), 0);
	return p;
}

/* Makes the packet in b[0..*n) a fragment: the first (offset 0, more to
 * come) or a later one (offset 1480, the last). IPv4 keeps its header
 * checksum right; IPv6 gets a fragment header. */
static void make_frag(uint8_t *b, size_t *n, bool later)
{
	if (b[0] >> 4 == 4) {
		size_t hl = (b[0] & 15u) * 4u;

		tput16(b + 6, later ? 1480 / 8 : 0x2000);
		tput16(b + 10, 0);
		tput16(b + 10, tfold(tsum(0, b, hl)));
		return;
	}
	memmove(b + 48, b + 40, *n - 40);
	b[40] = b[6];
	b[41] = 0;
	tput16(b + 42, later ? 1480 : 1);  /* 185 units << 3, or M = 1 */
	tput32(b + 44, 0x01020304);
	b[6] = IPPROTO_FRAGMENT;
	*n += 8;
	tput16(b + 4, (uint16_t)(*n - 40));
}

/* What every builder result must satisfy: parsed cleanly into pkt->pd,
 * checksums right by both the naive checker and weir's, and marked. */
static void assert_built(const struct weir_pkt *p, uint8_t ttl)
{
	struct weir_csum_report r;
	struct weir_pdesc pd;

	assert_true(tpkt_csum_ok(p->data, p->len));
	assert_int_equal(weir_parse(p->data, p->len, &pd), 0);
	assert_int_equal(p->pd.err, WEIR_PERR_NONE);
	assert_int_equal(p->pd.flags, pd.flags);
	assert_int_equal(p->pd.family, pd.family);
	assert_int_equal(p->pd.proto, pd.proto);
	assert_int_equal(p->pd.l4_csum, pd.l4_csum);
	assert_int_equal(p->pd.payload_off, pd.payload_off);
	assert_int_equal(p->pd.payload_len, pd.payload_len);
	assert_true(p->pd.flags & WEIR_PD_L4);
	assert_false(p->pd.flags & (WEIR_PD_TRUNCATED | WEIR_PD_FRAG));
	assert_int_equal(p->pd.ip_len, p->len);
	assert_int_equal(p->pd.cap_len, p->len);
	assert_int_equal(p->pd.ttl, ttl);
	assert_int_equal(weir_csum_verify(p->data, &p->pd, false, &r), 0);
	assert_int_equal(r.l4, WEIR_CSUM_GOOD);
	assert_int_equal(r.ip, p->pd.family == AF_INET ? WEIR_CSUM_GOOD
						       : WEIR_CSUM_NONE);
	assert_int_equal(p->meta.csum_state, WEIR_CSUM_VERIFIED);
	assert_int_equal(p->meta.family, p->pd.family);
}

/* ---- TCP RST --------------------------------------------------------- */

struct rst_case {
	const char *name;
	uint8_t flags;          /* of the original */
	uint32_t seq, ack;
	uint16_t payload_len;
	enum weir_end to;
	uint8_t want_flags;
	uint32_t want_seq, want_ack;
};

#define F_ WEIR_TCP_FIN
#define S_ WEIR_TCP_SYN
#define R_ WEIR_TCP_RST
#define P_ WEIR_TCP_PSH
#define A_ WEIR_TCP_ACK

static const struct rst_case rst_cases[] = {
	{ "syn to src", S_, 1000, 0, 0, WEIR_SRC, R_ | A_, 0, 1001 },
	{ "syn seq wraps to src", S_, 0xffffffffu, 0, 0, WEIR_SRC,
	  R_ | A_, 0, 0 },
	{ "syn+ack to src", S_ | A_, 9000, 1001, 0, WEIR_SRC, R_, 1001, 0 },
	{ "data+ack to src", P_ | A_, 5000, 7000, 100, WEIR_SRC, R_, 7000, 0 },
	{ "fin+data no ack to src", F_ | P_, 5000, 0, 50, WEIR_SRC,
	  R_ | A_, 0, 5051 },
	{ "data no ack to src", P_, 100, 0, 10, WEIR_SRC, R_ | A_, 0, 110 },
	{ "fin+ack to src", F_ | A_, 5000, 7000, 0, WEIR_SRC, R_, 7000, 0 },
	{ "data+ack to dst", P_ | A_, 5000, 7000, 100, WEIR_DST,
	  R_ | A_, 5000, 7000 },
	{ "syn to dst", S_, 1000, 0, 0, WEIR_DST, R_, 1000, 0 },
	{ "fin+ack to dst", F_ | A_, 5000, 7000, 3, WEIR_DST,
	  R_ | A_, 5000, 7000 },
	{ "data no ack to dst", P_, 42, 0, 10, WEIR_DST, R_, 42, 0 },
};

/* How the original is framed. */
struct rst_frame {
	const char *name;
	int family;
	bool ip_opts;
};

static const struct rst_frame rst_frames[] = {
	{ "v4", AF_INET, false },
	{ "v4+ipopts", AF_INET, true },
	{ "v6", AF_INET6, false },
};

struct rst_run {
	const struct rst_case *c;
	const struct rst_frame *f;
};

static struct rst_run rst_runs[ARRAY_SIZE(rst_cases) * ARRAY_SIZE(rst_frames)];

static void test_rst(void **state)
{
	const struct rst_run *run = *state;
	const struct rst_case *c = run->c;
	int fam = run->f->family;
	bool v4 = fam == AF_INET, back = c->to == WEIR_SRC;
	/* Timestamps, so that the payload offset is not 20. */
	static const uint8_t ts[] = { 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2 };
	static const uint8_t ipopt[] = { 1, 1, 1, 0 };
	uint8_t payload[128];
	struct tpkt t = {
		.family = fam, .proto = IPPROTO_TCP,
		.src = v4 ? "192.0.2.1" : "2001:db8::1",
		.dst = v4 ? "198.51.100.7" : "2001:db8:ffff::2",
		.sport = 40000, .dport = 443,
		.tcp_flags = c->flags, .seq = c->seq, .ack = c->ack,
		.tcp_opts = ts, .tcp_opts_len = sizeof(ts),
		.ip_opts = run->f->ip_opts ? ipopt : NULL,
		.ip_opts_len = run->f->ip_opts ? sizeof(ipopt) : 0,
		.payload = payload, .payload_len = c->payload_len,
	};
	struct weir_pkt *orig, *rst = NULL;
	size_t hl = v4 ? 20 : 40, alen = alen_of(fam);
	const uint8_t *ip, *tcp, *want_src, *want_dst;

	fill_pattern(payload, sizeof(payload), 1);
	orig = mk(&t);
	assert_int_equal(weir_build_tcp_rst(orig, c->to, &rst), 0);
	assert_non_null(rst);
	assert_built(rst, 64);
	assert_int_equal(rst->len, hl + 20);
	ip = rst->data;
	tcp = ip + hl;
	want_src = back ? orig->pd.dst : orig->pd.src;
	want_dst = back ? orig->pd.src : orig->pd.dst;
	if (v4) {
		assert_int_equal(ip[0], 0x45);     /* no IP options copied */
		assert_int_equal(get16(ip + 2), 40);
		assert_int_equal(ip[8], 64);
		assert_int_equal(ip[9], IPPROTO_TCP);
		assert_memory_equal(ip + 12, want_src, 4);
		assert_memory_equal(ip + 16, want_dst, 4);
	} else {
		assert_int_equal(ip[0] >> 4, 6);
		assert_int_equal(get16(ip + 4), 20);
		assert_int_equal(ip[6], IPPROTO_TCP);
		assert_int_equal(ip[7], 64);
		assert_memory_equal(ip + 8, want_src, 16);
		assert_memory_equal(ip + 24, want_dst, 16);
	}
	assert_int_equal(get16(tcp), back ? 443 : 40000);
	assert_int_equal(get16(tcp + 2), back ? 40000 : 443);
	assert_int_equal(get32(tcp + 4), c->want_seq);
	assert_int_equal(get32(tcp + 8), c->want_ack);
	assert_int_equal(tcp[12] >> 4, 5);
	assert_int_equal(tcp[13], c->want_flags);
	/* The descriptor says the same. */
	assert_int_equal(rst->pd.family, fam);
	assert_int_equal(rst->pd.proto, IPPROTO_TCP);
	assert_memory_equal(rst->pd.src, want_src, alen);
	assert_memory_equal(rst->pd.dst, want_dst, alen);
	assert_int_equal(rst->pd.sport, back ? 443 : 40000);
	assert_int_equal(rst->pd.dport, back ? 40000 : 443);
	assert_int_equal(rst->pd.tcp_flags, c->want_flags);
	assert_int_equal(rst->pd.tcp_seq, c->want_seq);
	assert_int_equal(rst->pd.tcp_ack, c->want_ack);
	assert_int_equal(rst->pd.payload_len, 0);
	weir_pkt_free(rst);
	weir_pkt_free(orig);
}

/* Originals a RST must not be built for. */
static void test_rst_refused(void **state)
{
	static const struct tpkt tmpl[] = {
		{ .family = AF_INET, .proto = IPPROTO_TCP, .src = "10.0.0.1",
		  .dst = "10.0.0.2", .sport = 1, .dport = 2,
		  .tcp_flags = WEIR_TCP_RST | WEIR_TCP_ACK, .seq = 5, .ack = 6 },
		{ .family = AF_INET6, .proto = IPPROTO_TCP, .src = "2001:db8::1",
		  .dst = "2001:db8::2", .sport = 1, .dport = 2,
		  .tcp_flags = WEIR_TCP_RST, .seq = 5 },
		{ .family = AF_INET, .proto = IPPROTO_UDP, .src = "10.0.0.1",
		  .dst = "10.0.0.2", .sport = 1, .dport = 2 },
		{ .family = AF_INET6, .proto = IPPROTO_UDP, .src = "2001:db8::1",
		  .dst = "2001:db8::2", .sport = 1, .dport = 2 },
		{ .family = AF_INET, .proto = IPPROTO_ICMP, .src = "10.0.0.1",
		  .dst = "10.0.0.2", .icmp_type = 8 },
	};
	static const struct tpkt syn = {
		.family = AF_INET, .proto = IPPROTO_TCP, .src = "10.0.0.1",
		.dst = "10.0.0.2", .sport = 1, .dport = 2,
		.tcp_flags = WEIR_TCP_SYN, .seq = 5,
	};
	struct weir_pkt *orig, *out = &sentinel;
	uint64_t before;
	size_t n;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(tmpl); i++) {
		orig = mk(&tmpl[i]);
		before = pool_in_use();
		assert_int_equal(weir_build_tcp_rst(orig, WEIR_SRC, &out),
				 -EINVAL);
		assert_int_equal(weir_build_tcp_rst(orig, WEIR_DST, &out),
				 -EINVAL);
		assert_ptr_equal(out, &sentinel);
		assert_int_equal(pool_in_use(), before);
		weir_pkt_free(orig);
	}
	/* A valid SYN, but never parsed: pd is empty. */
	n = tpkt_make(&syn, gbuf);
	orig = mk_bytes(gbuf, n, false);
	before = pool_in_use();
	assert_int_equal(weir_build_tcp_rst(orig, WEIR_SRC, &out), -EINVAL);
	assert_ptr_equal(out, &sentinel);
	assert_int_equal(pool_in_use(), before);
	weir_pkt_free(orig);
	/* TCP header cut short: the parse did not reach L4. */
	orig = mk_bytes(gbuf, 30, true);
	assert_false(orig->pd.flags & WEIR_PD_L4);
	assert_int_equal(weir_build_tcp_rst(orig, WEIR_SRC, &out), -EINVAL);
	assert_ptr_equal(out, &sentinel);
	weir_pkt_free(orig);
	/* An end that is neither. */
	orig = mk(&syn);
	assert_int_equal(weir_build_tcp_rst(orig, (enum weir_end)2, &out),
			 -EINVAL);
	assert_ptr_equal(out, &sentinel);
	weir_pkt_free(orig);
}

/* ---- ICMP destination unreachable ----------------------------------- */

struct unreach_case {
	const char *name;
	int family;
	uint8_t proto;
	uint16_t payload_len;
	uint8_t code;
	bool first_frag;        /* the original is a first fragment */
	uint8_t pad;            /* link-layer padding after the original */
};

static struct unreach_case unreach_cases[] = {
	{ "v4 udp small", AF_INET, IPPROTO_UDP, 20, 3, false, 0 },
	{ "v4 udp empty", AF_INET, IPPROTO_UDP, 0, 3, false, 0 },
	{ "v4 tcp big", AF_INET, IPPROTO_TCP, 1200, 13, false, 0 },
	{ "v4 udp exactly fits 576", AF_INET, IPPROTO_UDP, 576 - 28 - 28, 1,
	  false, 0 },
	{ "v4 udp one byte over 576", AF_INET, IPPROTO_UDP, 576 - 28 - 28 + 1,
	  1, false, 0 },
	{ "v4 icmp echo", AF_INET, IPPROTO_ICMP, 56, 1, false, 0 },
	{ "v4 udp first fragment", AF_INET, IPPROTO_UDP, 100, 3, true, 0 },
	{ "v4 tcp padded", AF_INET, IPPROTO_TCP, 6, 10, false, 12 },
	{ "v6 udp small", AF_INET6, IPPROTO_UDP, 20, 4, false, 0 },
	{ "v6 tcp big", AF_INET6, IPPROTO_TCP, 1440, 1, false, 0 },
	{ "v6 udp exactly fits 1280", AF_INET6, IPPROTO_UDP, 1280 - 48 - 48,
	  0, false, 0 },
	{ "v6 udp one byte over 1280", AF_INET6, IPPROTO_UDP,
	  1280 - 48 - 48 + 1, 3, false, 0 },
	{ "v6 icmpv6 echo", AF_INET6, IPPROTO_ICMPV6, 56, 1, false, 0 },
	{ "v6 udp first fragment", AF_INET6, IPPROTO_UDP, 100, 3, true, 0 },
	{ "v6 udp padded", AF_INET6, IPPROTO_UDP, 3, 0, false, 9 },
};

static void test_unreach(void **state)
{
	const struct unreach_case *c = *state;
	bool v4 = c->family == AF_INET;
	bool ports = c->proto == IPPROTO_TCP || c->proto == IPPROTO_UDP;
	uint8_t payload[1500];
	struct tpkt t = {
		.family = c->family, .proto = c->proto,
		.src = v4 ? "192.0.2.33" : "2001:db8:1::33",
		.dst = v4 ? "203.0.113.44" : "2001:db8:2::44",
		.sport = 5353, .dport = 33434,
		.tcp_flags = WEIR_TCP_ACK | WEIR_TCP_PSH, .seq = 1, .ack = 2,
		.icmp_type = v4 ? 8 : 128,
		.payload = payload, .payload_len = c->payload_len,
	};
	uint32_t hl = v4 ? 20 : 40, max = v4 ? 576 : 1280, quote;
	size_t alen = alen_of(c->family), n;
	struct weir_pkt *orig, *e = NULL;
	struct weir_csum_report r;
	const uint8_t *ip, *h;

	fill_pattern(payload, sizeof(payload), 9);
	n = tpkt_make(&t, gbuf);
	if (c->first_frag)
		make_frag(gbuf, &n, false);
	memset(gbuf + n, 0xee, c->pad);
	orig = mk_bytes(gbuf, n + c->pad, false);
	assert_int_equal(weir_pkt_parse(orig), 0);
	assert_int_equal(orig->pd.cap_len, n);
	assert_int_equal(weir_build_icmp_unreach(orig, c->code, &e), 0);
	assert_non_null(e);
	assert_built(e, 64);
	/* The quote is the IP packet, without link-layer padding. */
	quote = n < max - hl - 8 ? (uint32_t)n : max - hl - 8;
	assert_int_equal(e->len, hl + 8 + quote);
	if (n + hl + 8 >= max)
		assert_int_equal(e->len, max);
	else
		assert_int_equal(quote, n);          /* whole original */
	ip = e->data;
	h = ip + hl;
	if (v4) {
		assert_int_equal(ip[0], 0x45);
		assert_int_equal(get16(ip + 2), e->len);
		assert_int_equal(ip[9], IPPROTO_ICMP);
		assert_int_equal(ip[8], 64);
		assert_memory_equal(ip + 12, orig->data + 16, 4);
		assert_memory_equal(ip + 16, orig->data + 12, 4);
		assert_int_equal(h[0], 3);
	} else {
		assert_int_equal(ip[0] >> 4, 6);
		assert_int_equal(get16(ip + 4), e->len - 40);
		assert_int_equal(ip[6], IPPROTO_ICMPV6);
		assert_int_equal(ip[7], 64);
		assert_memory_equal(ip + 8, orig->data + 24, 16);
		assert_memory_equal(ip + 24, orig->data + 8, 16);
		assert_int_equal(h[0], 1);
	}
	assert_int_equal(h[1], c->code);
	assert_int_equal(get32(h + 4), 0);    /* unused */
	assert_memory_equal(h + 8, orig->data, quote);
	/* The result's descriptor sees the quoted original. */
	assert_int_equal(e->pd.icmp_type, v4 ? 3 : 1);
	assert_int_equal(e->pd.icmp_code, c->code);
	assert_memory_equal(e->pd.src, orig->pd.dst, alen);
	assert_memory_equal(e->pd.dst, orig->pd.src, alen);
	assert_true(e->pd.flags & WEIR_PD_ICMP_ERR);
	assert_true(e->pd.flags & WEIR_PD_INNER);
	assert_int_equal(e->pd.inner.off, hl + 8);
	assert_int_equal(e->pd.inner.family, c->family);
	assert_int_equal(e->pd.inner.proto, c->proto);
	assert_memory_equal(e->pd.inner.src, orig->pd.src, alen);
	assert_memory_equal(e->pd.inner.dst, orig->pd.dst, alen);
	if (ports) {
		assert_true(e->pd.flags & WEIR_PD_INNER_L4);
		assert_int_equal(e->pd.inner.sport, 5353);
		assert_int_equal(e->pd.inner.dport, 33434);
	} else {
		assert_false(e->pd.flags & WEIR_PD_INNER_L4);
	}
	assert_int_equal(weir_csum_verify(e->data, &e->pd, false, &r), 0);
	if (v4)
		assert_int_equal(r.inner_ip, WEIR_CSUM_GOOD);
	weir_pkt_free(e);
	weir_pkt_free(orig);
}

/* Originals no ICMP error may be sent about. */
struct unreach_refusal {
	const char *name;
	int family;
	uint8_t proto;
	const char *src, *dst;
	uint8_t icmp_type;
	bool quote_inner;       /* ICMP payload is a quoted packet */
	int frag;               /* 0 whole, FIRST or LATER fragment */
	bool unparsed;
};

#define V4S "192.0.2.1"
#define V4D "198.51.100.2"
#define V6S "2001:db8::1"
#define V6D "2001:db8::2"

/* Columns: family, proto, src, dst, icmp type, quote, fragment,
 * unparsed. */
#define Q true
#define FIRST 1
#define LATER 2
#define UP true
#define no false

static struct unreach_refusal unreach_refusals[] = {
	{ "v4 icmp dest unreach", AF_INET, IPPROTO_ICMP, V4S, V4D, 3,
	  Q, no, no },
	{ "v4 icmp time exceeded", AF_INET, IPPROTO_ICMP, V4S, V4D, 11,
	  Q, no, no },
	{ "v4 icmp param problem", AF_INET, IPPROTO_ICMP, V4S, V4D, 12,
	  Q, no, no },
	{ "v6 icmpv6 dest unreach", AF_INET6, IPPROTO_ICMPV6, V6S, V6D, 1,
	  Q, no, no },
	{ "v6 icmpv6 packet too big", AF_INET6, IPPROTO_ICMPV6, V6S, V6D, 2,
	  Q, no, no },
	{ "v6 icmpv6 time exceeded", AF_INET6, IPPROTO_ICMPV6, V6S, V6D, 3,
	  Q, no, no },
	{ "v6 icmpv6 redirect", AF_INET6, IPPROTO_ICMPV6, V6S, V6D, 137,
	  no, no, no },
	/* RFC 1122 3.2.2 / RFC 4443 2.4(e): an error in a first fragment
	 * is still an error. */
	{ "v4 icmp dest unreach in first fragment", AF_INET, IPPROTO_ICMP,
	  V4S, V4D, 3, Q, FIRST, no },
	{ "v6 icmpv6 dest unreach in first fragment", AF_INET6,
	  IPPROTO_ICMPV6, V6S, V6D, 1, Q, FIRST, no },
	{ "v4 non-first fragment", AF_INET, IPPROTO_UDP, V4S, V4D, 0,
	  no, LATER, no },
	{ "v6 non-first fragment", AF_INET6, IPPROTO_UDP, V6S, V6D, 0,
	  no, LATER, no },
	{ "v4 src 0.0.0.0", AF_INET, IPPROTO_UDP, "0.0.0.0", V4D, 0,
	  no, no, no },
	{ "v4 src multicast", AF_INET, IPPROTO_UDP, "224.0.0.5", V4D, 0,
	  no, no, no },
	{ "v4 src broadcast", AF_INET, IPPROTO_UDP, "255.255.255.255", V4D, 0,
	  no, no, no },
	{ "v4 dst multicast", AF_INET, IPPROTO_UDP, V4S, "239.1.2.3", 0,
	  no, no, no },
	{ "v4 dst 224.0.0.251", AF_INET, IPPROTO_TCP, V4S, "224.0.0.251", 0,
	  no, no, no },
	{ "v4 dst broadcast", AF_INET, IPPROTO_UDP, V4S, "255.255.255.255", 0,
	  no, no, no },
	{ "v6 src ::", AF_INET6, IPPROTO_UDP, "::", V6D, 0, no, no, no },
	{ "v6 src multicast", AF_INET6, IPPROTO_UDP, "ff02::1", V6D, 0,
	  no, no, no },
	{ "v6 dst multicast", AF_INET6, IPPROTO_UDP, V6S, "ff02::1", 0,
	  no, no, no },
	{ "v6 dst ff05::1:3", AF_INET6, IPPROTO_TCP, V6S, "ff05::1:3", 0,
	  no, no, no },
	{ "v4 unparsed", AF_INET, IPPROTO_UDP, V4S, V4D, 0, no, no, UP },
	{ "v6 unparsed", AF_INET6, IPPROTO_UDP, V6S, V6D, 0, no, no, UP },
};

static void test_unreach_refused(void **state)
{
	const struct unreach_refusal *c = *state;
	uint8_t payload[64];
	struct tpkt inner = {
		.family = c->family, .proto = IPPROTO_UDP,
		.src = c->dst, .dst = c->src, .sport = 53, .dport = 4000,
		.payload = payload, .payload_len = 16,
	};
	struct tpkt t = {
		.family = c->family, .proto = c->proto, .src = c->src,
		.dst = c->dst, .sport = 4000, .dport = 53,
		.tcp_flags = WEIR_TCP_SYN, .icmp_type = c->icmp_type,
		.payload = payload, .payload_len = sizeof(payload),
	};
	struct weir_pkt *orig, *out = &sentinel;
	uint64_t before;
	size_t n;
	int err;

	fill_pattern(payload, sizeof(payload), 3);
	if (c->quote_inner) {
		t.payload = inner_buf;
		t.payload_len = (uint16_t)tpkt_make(&inner, inner_buf);
		t.sport = t.dport = 0;
	}
	n = tpkt_make(&t, gbuf);
	if (c->frag)
		make_frag(gbuf, &n, c->frag == LATER);
	orig = mk_bytes(gbuf, n, !c->unparsed);
	if (c->quote_inner && !c->frag)
		assert_true(orig->pd.flags & WEIR_PD_ICMP_ERR);
	if (c->frag)
		assert_true(orig->pd.flags & WEIR_PD_FRAG);
	if (c->frag == LATER)
		assert_true(orig->pd.flags & WEIR_PD_FRAG_LATER);
	before = pool_in_use();
	err = weir_build_icmp_unreach(orig, 3, &out);
	if (err == 0 && out != &sentinel) {
		weir_pkt_free(out);     /* wrongly built: do not leak it */
		weir_pkt_free(orig);
	}
	assert_int_equal(err, -EINVAL);
	assert_ptr_equal(out, &sentinel);
	assert_int_equal(pool_in_use(), before);
	weir_pkt_free(orig);
}

/* ---- UDP ------------------------------------------------------------- */

struct udp_case {
	const char *name;
	int family;
	const char *src, *dst;
	uint16_t sport, dport;
	uint8_t ttl, want_ttl;
	uint32_t len;
};

static struct udp_case udp_cases[] = {
	{ "v4 default ttl", AF_INET, "10.1.2.3", "10.3.2.1", 5353, 53, 0, 64,
	  32 },
	{ "v4 ttl 1", AF_INET, "192.0.2.1", "203.0.113.9", 1, 65535, 1, 1,
	  100 },
	{ "v4 ttl 255 odd length", AF_INET, "255.255.255.254", "0.0.0.1",
	  65535, 1, 255, 255, 7 },
	{ "v4 empty payload", AF_INET, "10.0.0.1", "10.0.0.2", 9, 9, 0, 64,
	  0 },
	{ "v4 1472 bytes", AF_INET, "10.0.0.1", "10.0.0.2", 4789, 4789, 0, 64,
	  1472 },
	{ "v6 default hop limit", AF_INET6, "2001:db8::1", "2001:db8::2",
	  546, 547, 0, 64, 64 },
	{ "v6 hop limit 255", AF_INET6, "fe80::1", "ff02::1:2", 546, 547, 255,
	  255, 13 },
	{ "v6 empty payload", AF_INET6, "::1", "::1", 7, 7, 3, 3, 0 },
	{ "v6 1452 bytes", AF_INET6, "2001:db8::a", "2001:db8::b", 443, 5000,
	  0, 64, 1452 },
};

static void test_udp(void **state)
{
	const struct udp_case *c = *state;
	bool v4 = c->family == AF_INET;
	struct weir_udp_spec spec = {
		.family = c->family, .sport = c->sport, .dport = c->dport,
		.ttl = c->ttl,
	};
	uint8_t payload[1500];
	struct tpkt t = {
		.family = c->family, .proto = IPPROTO_UDP, .src = c->src,
		.dst = c->dst, .sport = c->sport, .dport = c->dport,
		.payload = payload, .payload_len = (uint16_t)c->len,
		.ttl = c->want_ttl,
	};
	uint32_t hl = v4 ? 20 : 40;
	size_t alen = alen_of(c->family), n;
	struct weir_pkt *p = NULL;
	const uint8_t *ip, *u;

	fill_pattern(payload, sizeof(payload), 77);
	assert_int_equal(inet_pton(c->family, c->src, spec.src), 1);
	assert_int_equal(inet_pton(c->family, c->dst, spec.dst), 1);
	assert_int_equal(weir_build_udp(&spec, c->len ? payload : NULL,
					c->len, &p), 0);
	assert_non_null(p);
	assert_built(p, c->want_ttl);
	assert_int_equal(p->len, hl + 8 + c->len);
	ip = p->data;
	u = ip + hl;
	if (v4) {
		assert_int_equal(ip[0], 0x45);
		assert_int_equal(get16(ip + 2), p->len);
		assert_int_equal(ip[8], c->want_ttl);
		assert_int_equal(ip[9], IPPROTO_UDP);
		assert_int_equal(get16(ip + 6) & 0x3fffu, 0); /* whole */
		assert_memory_equal(ip + 12, spec.src, 4);
		assert_memory_equal(ip + 16, spec.dst, 4);
	} else {
		assert_int_equal(ip[0] >> 4, 6);
		assert_int_equal(get16(ip + 4), 8 + c->len);
		assert_int_equal(ip[6], IPPROTO_UDP);
		assert_int_equal(ip[7], c->want_ttl);
		assert_memory_equal(ip + 8, spec.src, 16);
		assert_memory_equal(ip + 24, spec.dst, 16);
	}
	/* The UDP part is exactly what the naive generator makes, checksum
	 * included (never 0, even over IPv4). */
	n = tpkt_make(&t, gbuf);
	assert_int_equal(n, p->len);
	assert_memory_equal(u, gbuf + hl, 8 + c->len);
	assert_true(get16(u + 6) != 0);
	if (!v4)
		assert_memory_equal(ip, gbuf, 40);
	assert_int_equal(p->pd.sport, c->sport);
	assert_int_equal(p->pd.dport, c->dport);
	assert_int_equal(p->pd.udp_len, 8 + c->len);
	assert_int_equal(p->pd.payload_len, c->len);
	assert_int_equal(p->pd.ttl, c->want_ttl);
	assert_memory_equal(p->pd.src, spec.src, alen);
	assert_memory_equal(p->pd.dst, spec.dst, alen);
	weir_pkt_free(p);
}

/* The largest datagrams that fit, and one byte more. */
static void test_udp_limits(void **state)
{
	static const struct {
		int family;
		uint32_t max_len;
	} lim[] = {
		{ AF_INET, 65535 - 20 - 8 },
		{ AF_INET6, 65535 - 8 },
	};
	struct weir_pkt *p, *out = &sentinel;
	uint8_t *payload = calloc(1, 65536);
	uint64_t before;

	(void)state;
	assert_non_null(payload);
	fill_pattern(payload, 65536, 5);
	for (size_t i = 0; i < ARRAY_SIZE(lim); i++) {
		struct weir_udp_spec spec = {
			.family = lim[i].family, .sport = 1, .dport = 2,
		};
		bool v4 = lim[i].family == AF_INET;

		spec.src[0] = v4 ? 10 : 0x20;
		spec.dst[0] = v4 ? 10 : 0x20;
		spec.dst[3] = 1;
		p = NULL;
		assert_int_equal(weir_build_udp(&spec, payload,
						lim[i].max_len, &p), 0);
		assert_non_null(p);
		assert_built(p, 64);
		assert_int_equal(p->len, (v4 ? 28 : 48) + lim[i].max_len);
		assert_int_equal(get16(p->data + (v4 ? 2 : 4)), 65535);
		assert_int_equal(p->pd.udp_len, v4 ? 65535 - 20 : 65535);
		assert_memory_equal(p->data + p->pd.payload_off, payload,
				    lim[i].max_len);
		weir_pkt_free(p);
		before = pool_in_use();
		assert_int_equal(weir_build_udp(&spec, payload,
						lim[i].max_len + 1, &out),
				 -EINVAL);
		assert_int_equal(weir_build_udp(&spec, payload, UINT32_MAX,
						&out), -EINVAL);
		assert_ptr_equal(out, &sentinel);
		assert_int_equal(pool_in_use(), before);
	}
	free(payload);
}

static void test_udp_bad_family(void **state)
{
	static const int fams[] = { 0, AF_UNIX, AF_INET6 + 100 };
	struct weir_udp_spec spec = { .sport = 1, .dport = 2 };
	struct weir_pkt *out = &sentinel;
	uint64_t before = pool_in_use();

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(fams); i++) {
		spec.family = fams[i];
		assert_int_equal(weir_build_udp(&spec, "x", 1, &out), -EINVAL);
		assert_int_equal(weir_build_udp(&spec, NULL, 0, &out),
				 -EINVAL);
	}
	assert_ptr_equal(out, &sentinel);
	assert_int_equal(pool_in_use(), before);
}

/* ---- registration ---------------------------------------------------- */

enum {
	N_TESTS = ARRAY_SIZE(rst_runs) + 1 + ARRAY_SIZE(unreach_cases) +
		  ARRAY_SIZE(unreach_refusals) + ARRAY_SIZE(udp_cases) + 2,
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

	for (size_t f = 0; f < ARRAY_SIZE(rst_frames); f++) {
		for (size_t i = 0; i < ARRAY_SIZE(rst_cases); i++, k++) {
			char name[64];

			rst_runs[k] = (struct rst_run){ &rst_cases[i],
							&rst_frames[f] };
			snprintf(name, sizeof(name), "%s %s",
				 rst_frames[f].name, rst_cases[i].name);
			add(test_rst, &rst_runs[k], "rst", name);
		}
	}
	add(test_rst_refused, NULL, "rst", "refusals");
	for (size_t i = 0; i < ARRAY_SIZE(unreach_cases); i++)
		add(test_unreach, &unreach_cases[i], "unreach",
		    unreach_cases[i].name);
	for (size_t i = 0; i < ARRAY_SIZE(unreach_refusals); i++)
		add(test_unreach_refused, &unreach_refusals[i],
		    "unreach refused", unreach_refusals[i].name);
	for (size_t i = 0; i < ARRAY_SIZE(udp_cases); i++)
		add(test_udp, &udp_cases[i], "udp", udp_cases[i].name);
	add(test_udp_limits, NULL, "udp", "size limits");
	add(test_udp_bad_family, NULL, "udp", "bad family");
	if (ntests != N_TESTS)
		abort();
	return cmocka_run_group_tests_name("build", tests, NULL, NULL);
}
