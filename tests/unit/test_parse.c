/* Unit tests for weir_parse(): a table of well-formed, malformed and
 * truncated packets with what must and must not have parsed, then field
 * checks, then every prefix of every packet (never out of bounds). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <weir/pdesc.h>

#include "pktgen.h"

static const uint8_t opts_mss_ws_sack_ts[] = {
	2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 8, 10,
	0, 0, 0, 1, 0, 0, 0, 2, 1, 1, 1, 0 };
static const uint8_t ipopts_nop_rr[] = { 1, 7, 7, 4, 0, 0, 0, 0 };
static const uint8_t payload[64] = "GET / HTTP/1.1\r\n";

static size_t v4tcp(uint8_t *p)
{
	struct tpkt t = { .family = AF_INET, .proto = IPPROTO_TCP,
		.src = "10.1.2.3", .dst = "10.9.8.7", .sport = 40000,
		.dport = 80, .tcp_flags = WEIR_TCP_SYN, .seq = 1000,
		.tcp_opts = opts_mss_ws_sack_ts, .tcp_opts_len = 24,
		.ip_opts = ipopts_nop_rr, .ip_opts_len = 8 };

	return tpkt_make(&t, p);
}

static size_t v4udp(uint8_t *p)
{
	struct tpkt t = { .family = AF_INET, .proto = IPPROTO_UDP,
		.src = "10.0.0.1", .dst = "10.0.0.2", .sport = 5353,
		.dport = 53, .payload = payload, .payload_len = 32 };

	return tpkt_make(&t, p);
}

static size_t v6tcp(uint8_t *p)
{
	struct tpkt t = { .family = AF_INET6, .proto = IPPROTO_TCP,
		.src = "2001:db8::1", .dst = "2001:db8::2", .sport = 443,
		.dport = 50000, .tcp_flags = WEIR_TCP_ACK | WEIR_TCP_PSH,
		.seq = 7, .ack = 9, .payload = payload, .payload_len = 16 };

	return tpkt_make(&t, p);
}

/* Inserts an IPv6 extension header of type `type` and `len` bytes right
 * after the fixed header; returns the new length. */
static size_t v6_insert_ext(uint8_t *p, size_t n, uint8_t type, size_t len)
{
	uint8_t nh = p[6];

	memmove(p + 40 + len, p + 40, n - 40);
	memset(p + 40, 0, len);
	p[40] = nh;
	if (type == IPPROTO_AH)
		p[41] = (uint8_t)(len / 4 - 2);
	else if (type != IPPROTO_FRAGMENT)
		p[41] = (uint8_t)(len / 8 - 1);
	if (type == IPPROTO_HOPOPTS || type == IPPROTO_DSTOPTS) {
		p[42] = 1; /* PadN filling the rest */
		p[43] = (uint8_t)(len - 4);
	}
	p[6] = type;
	tput16(p + 4, (uint16_t)(n + len - 40));
	return n + len;
}

static size_t v6_chain(uint8_t *p)
{
	size_t n = v6tcp(p);

	n = v6_insert_ext(p, n, IPPROTO_DSTOPTS, 8);
	n = v6_insert_ext(p, n, IPPROTO_AH, 16);
	n = v6_insert_ext(p, n, IPPROTO_FRAGMENT, 8);
	n = v6_insert_ext(p, n, IPPROTO_ROUTING, 24);
	return v6_insert_ext(p, n, IPPROTO_HOPOPTS, 16);
}

static size_t v6_too_many(uint8_t *p)
{
	size_t n = v6tcp(p);

	for (int i = 0; i < WEIR_PD_MAX_EXT + 1; i++)
		n = v6_insert_ext(p, n, IPPROTO_DSTOPTS, 8);
	return n;
}

static size_t v6_hbh_second(uint8_t *p)
{
	size_t n = v6tcp(p);

	n = v6_insert_ext(p, n, IPPROTO_HOPOPTS, 8);
	return v6_insert_ext(p, n, IPPROTO_DSTOPTS, 8);
}

static size_t v6_later_frag(uint8_t *p)
{
	size_t n = v6_insert_ext(p, v6tcp(p), IPPROTO_FRAGMENT, 8);

	tput16(p + 42, 185 << 3); /* offset 1480 */
	return n;
}

static size_t v6_bad_tlv(uint8_t *p)
{
	size_t n = v6_insert_ext(p, v6tcp(p), IPPROTO_DSTOPTS, 8);

	p[43] = 9; /* PadN longer than the header */
	return n;
}

static size_t v4_fix(uint8_t *p, size_t n)
{
	size_t hl = (p[0] & 15u) * 4u;

	p[10] = p[11] = 0;
	tput16(p + 10, tfold(tsum(0, p, hl)));
	return n;
}

static size_t v4_first_frag(uint8_t *p)
{
	size_t n = v4udp(p);

	p[6] = 0x20; /* MF */
	return v4_fix(p, n);
}

static size_t v4_later_frag(uint8_t *p)
{
	size_t n = v4udp(p);

	tput16(p + 6, 0x0000 | 100); /* offset 800, last fragment */
	return v4_fix(p, n);
}

static size_t v4_bad_ihl(uint8_t *p)
{
	size_t n = v4udp(p);

	p[0] = 0x44;
	return n;
}

static size_t v4_bad_totlen(uint8_t *p)
{
	size_t n = v4udp(p);

	tput16(p + 2, 19);
	return n;
}

static size_t v4_bad_ipopt(uint8_t *p)
{
	size_t n = v4tcp(p);

	p[22] = 40; /* RR length past the header */
	return n;
}

static size_t v4_truncated_payload(uint8_t *p)
{
	return v4udp(p) - 10;
}

static size_t v4_truncated_tcp(uint8_t *p)
{
	v4tcp(p);
	return 28 + 10; /* IP (with options) + 10 bytes of TCP */
}

static size_t v4_tcp_doff(uint8_t *p)
{
	size_t n = v4tcp(p);

	p[28 + 12] = 4 << 4;
	return n;
}

static size_t v4_tcp_doff_past(uint8_t *p)
{
	size_t n = v4tcp(p);

	p[28 + 12] = 15 << 4;
	return n;
}

static size_t v4_tcp_bad_opt(uint8_t *p)
{
	size_t n = v4tcp(p);

	p[28 + 20 + 1] = 1; /* MSS option with length 1 */
	return n;
}

static size_t v4_udp_len(uint8_t *p)
{
	size_t n = v4udp(p);

	tput16(p + 24, 7);
	return n;
}

static size_t v4_version(uint8_t *p)
{
	size_t n = v4udp(p);

	p[0] = 0x55;
	return n;
}

static size_t empty(uint8_t *p)
{
	(void)p;
	return 0;
}

static size_t short_v6(uint8_t *p)
{
	v6tcp(p);
	return 39;
}

/* ICMP port unreachable quoting the v4 UDP packet. */
static size_t icmp4_err(uint8_t *p)
{
	uint8_t inner[200];
	size_t in = v4udp(inner);
	struct tpkt t = { .family = AF_INET, .proto = IPPROTO_ICMP,
		.src = "10.0.0.2", .dst = "10.0.0.1", .icmp_type = 3,
		.icmp_code = 3, .payload = inner, .payload_len = 28 };

	(void)in;
	return tpkt_make(&t, p);
}

static size_t icmp4_err_short(uint8_t *p)
{
	uint8_t inner[200];
	struct tpkt t = { .family = AF_INET, .proto = IPPROTO_ICMP,
		.src = "10.0.0.2", .dst = "10.0.0.1", .icmp_type = 11,
		.payload = inner, .payload_len = 12 };

	v4udp(inner);
	return tpkt_make(&t, p);
}

/* ICMPv6 packet too big quoting the v6 TCP packet. */
static size_t icmp6_err(uint8_t *p)
{
	uint8_t inner[400];
	size_t in = v6tcp(inner);
	struct tpkt t = { .family = AF_INET6, .proto = IPPROTO_ICMPV6,
		.src = "2001:db8::2", .dst = "2001:db8::1", .icmp_type = 2,
		.payload = inner, .payload_len = (uint16_t)in };

	return tpkt_make(&t, p);
}

struct pcase {
	const char *name;
	size_t (*make)(uint8_t *p);
	int ret;
	int err;
	uint32_t set;     /* flags that must be set */
	uint32_t clear;   /* flags that must be clear */
};

#define L3 WEIR_PD_L3
#define EXT WEIR_PD_L3_EXT
#define L4 WEIR_PD_L4
static const struct pcase cases[] = {
	{ "v4 tcp + options", v4tcp, 0, 0,
	  L3 | EXT | L4 | WEIR_PD_L4_OPTS | WEIR_PD_TCP_MSS |
	  WEIR_PD_TCP_WSCALE | WEIR_PD_TCP_SACKOK | WEIR_PD_TCP_TS,
	  WEIR_PD_FRAG | WEIR_PD_TRUNCATED },
	{ "v4 udp", v4udp, 0, 0, L3 | EXT | L4, WEIR_PD_L4_OPTS },
	{ "v6 tcp", v6tcp, 0, 0, L3 | EXT | L4 | WEIR_PD_L4_OPTS, 0 },
	{ "v6 five extension headers (atomic fragment)", v6_chain, 0, 0,
	  L3 | EXT | L4, WEIR_PD_FRAG | WEIR_PD_FRAG_LATER },
	{ "v6 too many extensions", v6_too_many, -EBADMSG,
	  WEIR_PERR_EXTLIMIT, L3, EXT | L4 },
	{ "v6 hop-by-hop not first", v6_hbh_second, -EBADMSG,
	  WEIR_PERR_EXTHDR, L3, EXT | L4 },
	{ "v6 later fragment", v6_later_frag, 0, 0,
	  L3 | EXT | WEIR_PD_FRAG | WEIR_PD_FRAG_LATER, L4 },
	{ "v6 bad option TLV", v6_bad_tlv, -EBADMSG, WEIR_PERR_EXTHDR, L3,
	  L4 },
	{ "v4 first fragment", v4_first_frag, 0, 0,
	  L3 | L4 | WEIR_PD_FRAG | WEIR_PD_MF, WEIR_PD_FRAG_LATER },
	{ "v4 later fragment", v4_later_frag, 0, 0,
	  L3 | WEIR_PD_FRAG | WEIR_PD_FRAG_LATER, L4 | WEIR_PD_MF },
	{ "v4 IHL 16", v4_bad_ihl, -EBADMSG, WEIR_PERR_IHL, 0, L3 },
	{ "v4 total length 19", v4_bad_totlen, -EBADMSG, WEIR_PERR_TOTLEN,
	  0, L3 },
	{ "v4 bad option", v4_bad_ipopt, -EBADMSG, WEIR_PERR_IPOPT, L3,
	  EXT | L4 },
	{ "v4 truncated payload", v4_truncated_payload, 0, 0,
	  L3 | L4 | WEIR_PD_TRUNCATED, 0 },
	{ "v4 truncated tcp", v4_truncated_tcp, -EBADMSG,
	  WEIR_PERR_L4SHORT, L3 | WEIR_PD_TRUNCATED, L4 },
	{ "tcp data offset 4", v4_tcp_doff, -EBADMSG, WEIR_PERR_TCPOFF,
	  L3 | L4, WEIR_PD_L4_OPTS },
	{ "tcp data offset past end", v4_tcp_doff_past, -EBADMSG,
	  WEIR_PERR_TCPOFF, L3 | L4, WEIR_PD_L4_OPTS },
	{ "tcp bad option", v4_tcp_bad_opt, -EBADMSG, WEIR_PERR_TCPOPT,
	  L3 | L4, WEIR_PD_L4_OPTS },
	{ "udp length 7", v4_udp_len, -EBADMSG, WEIR_PERR_UDPLEN, L3 | L4,
	  0 },
	{ "version 5", v4_version, -EBADMSG, WEIR_PERR_VERSION, 0, L3 },
	{ "empty", empty, -EBADMSG, WEIR_PERR_SHORT, 0, L3 },
	{ "v6 39 bytes", short_v6, -EBADMSG, WEIR_PERR_SHORT, 0, L3 },
	{ "icmp error", icmp4_err, 0, 0,
	  L3 | L4 | WEIR_PD_ICMP_ERR | WEIR_PD_INNER | WEIR_PD_INNER_L4, 0 },
	{ "icmp error short quote", icmp4_err_short, -EBADMSG,
	  WEIR_PERR_INNER, L3 | L4 | WEIR_PD_ICMP_ERR, WEIR_PD_INNER },
	{ "icmpv6 error", icmp6_err, 0, 0,
	  L3 | L4 | WEIR_PD_ICMP_ERR | WEIR_PD_INNER | WEIR_PD_INNER_L4, 0 },
};

static void table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pcase *c = &cases[i];
		uint8_t buf[2048] = { 0 };
		struct weir_pdesc pd;
		size_t n = c->make(buf);
		int ret = weir_parse(buf, n, &pd);

		print_message("case: %s\n", c->name);
		assert_int_equal(ret, c->ret);
		assert_int_equal(pd.err, c->err);
		assert_int_equal(pd.flags & c->set, c->set);
		assert_int_equal(pd.flags & c->clear, 0);
	}
}

static void fields_v4_tcp(void **state)
{
	uint8_t p[256];
	struct weir_pdesc pd;
	size_t n = v4tcp(p);

	(void)state;
	assert_int_equal(weir_parse(p, n, &pd), 0);
	assert_int_equal(pd.family, AF_INET);
	assert_int_equal(pd.proto, IPPROTO_TCP);
	assert_memory_equal(pd.src, "\x0a\x01\x02\x03", 4);
	assert_memory_equal(pd.dst, "\x0a\x09\x08\x07", 4);
	assert_int_equal(pd.l3_len, 28);
	assert_int_equal(pd.ipopt_len, 8);
	assert_int_equal(pd.l4_off, 28);
	assert_int_equal(pd.l4_hdr_len, 44);
	assert_int_equal(pd.payload_off, 72);
	assert_int_equal(pd.payload_len, 0);
	assert_int_equal(pd.sport, 40000);
	assert_int_equal(pd.dport, 80);
	assert_int_equal(pd.tcp_seq, 1000);
	assert_int_equal(pd.tcp_flags, WEIR_TCP_SYN);
	assert_int_equal(pd.tcp_mss, 1460);
	assert_int_equal(pd.tcp_mss_off, 28 + 20);
	assert_int_equal(pd.tcp_wscale, 7);
	assert_int_equal(pd.tcp_tsval, 1);
	assert_int_equal(pd.tcp_tsecr, 2);
	assert_int_equal(pd.ttl, 64);
	assert_int_equal(pd.ip_len, n);
	assert_int_equal(pd.cap_len, n);
}

static void fields_v6_chain(void **state)
{
	static const uint8_t order[] = { IPPROTO_HOPOPTS, IPPROTO_ROUTING,
		IPPROTO_FRAGMENT, IPPROTO_AH, IPPROTO_DSTOPTS };
	uint8_t p[512];
	struct weir_pdesc pd;
	size_t n = v6_chain(p);

	(void)state;
	assert_int_equal(weir_parse(p, n, &pd), 0);
	assert_int_equal(pd.ext_count, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(pd.ext[i].type, order[i]);
	assert_int_equal(pd.l4_off, 40 + 16 + 24 + 8 + 16 + 8);
	assert_int_equal(pd.frag_hdr_off, 40 + 16 + 24);
	assert_int_equal(pd.proto, IPPROTO_TCP);
	assert_int_equal(pd.sport, 443);
	assert_int_equal(pd.payload_len, 16);
}

static void fields_icmp_inner(void **state)
{
	uint8_t p[512];
	struct weir_pdesc pd;
	size_t n = icmp6_err(p);

	(void)state;
	assert_int_equal(weir_parse(p, n, &pd), 0);
	assert_int_equal(pd.icmp_type, 2);
	assert_int_equal(pd.inner.family, AF_INET6);
	assert_int_equal(pd.inner.proto, IPPROTO_TCP);
	assert_int_equal(pd.inner.sport, 443);
	assert_int_equal(pd.inner.dport, 50000);
	assert_int_equal(pd.inner.off, 48);
	assert_int_equal(pd.inner.src[15], 1);
	n = icmp4_err(p);
	assert_int_equal(weir_parse(p, n, &pd), 0);
	assert_int_equal(pd.inner.sport, 5353);
	assert_int_equal(pd.inner.dport, 53);
	assert_int_equal(pd.inner.proto, IPPROTO_UDP);
}

/* A routing header with segments left names the pseudo-header's
 * destination: the last address (type 0/2) or Segment List[0] (SRv6). */
static void routing_final_destination(void **state)
{
	uint8_t p[512];
	struct weir_pdesc pd;

	(void)state;
	for (int type = 0; type <= 4; type += 2) {
		size_t n = v6_insert_ext(p, v6tcp(p), IPPROTO_ROUTING, 40);

		p[42] = (uint8_t)type;
		p[43] = 1; /* segments left */
		assert_int_equal(weir_parse(p, n, &pd), 0);
		assert_int_equal(pd.l4_dst_off, type == 4 ? 48 : 64);
		p[43] = 0;
		assert_int_equal(weir_parse(p, n, &pd), 0);
		assert_int_equal(pd.l4_dst_off, 24);
	}
	assert_int_equal(weir_parse(p, v4udp(p), &pd), 0);
	assert_int_equal(pd.l4_dst_off, 16);
}

/* Payload length 0 is a jumbogram only behind a hop-by-hop header. */
static void ipv6_zero_payload_length(void **state)
{
	uint8_t p[512];
	struct weir_pdesc pd;
	size_t n = v6tcp(p);

	(void)state;
	p[4] = p[5] = 0;
	weir_parse(p, n, &pd);
	assert_int_equal(pd.ip_len, 40);
	assert_int_equal(pd.cap_len, 40);
	n = v6_insert_ext(p, v6tcp(p), IPPROTO_HOPOPTS, 8);
	p[4] = p[5] = 0;
	assert_int_equal(weir_parse(p, n, &pd), 0);
	assert_int_equal(pd.ip_len, n);
	assert_int_equal(pd.sport, 443);
}

/* IPv4 BIG TCP: total length 0 on more than 64 KiB; 0 otherwise is bad. */
static void ipv4_big_tcp(void **state)
{
	uint8_t *p = calloc(1, 70000);
	struct weir_pdesc pd;

	(void)state;
	v4tcp(p);
	p[2] = p[3] = 0;
	assert_int_equal(weir_parse(p, 70000, &pd), 0);
	assert_int_equal(pd.ip_len, 70000);
	assert_int_equal(pd.payload_len, 70000 - 72);
	assert_int_equal(weir_parse(p, 1000, &pd), -EBADMSG);
	assert_int_equal(pd.err, WEIR_PERR_TOTLEN);
	free(p);
}

/* Every prefix of every case, in a buffer of exactly that size (so ASan
 * catches any read past it). */
static void every_prefix_in_bounds(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t buf[2048];
		size_t n = cases[i].make(buf);

		for (size_t k = 0; k <= n; k++) {
			uint8_t *copy = malloc(k ? k : 1);
			struct weir_pdesc pd;
			int ret;

			memcpy(copy, buf, k);
			ret = weir_parse(copy, k, &pd);
			assert_true(ret == 0 || ret == -EBADMSG);
			assert_true(pd.cap_len <= k);
			assert_true(pd.payload_off + pd.payload_len <= k ||
				    !(pd.flags & WEIR_PD_L3));
			assert_true(ret == 0 ? pd.err == 0 : pd.err != 0);
			free(copy);
		}
	}
}

static void error_names(void **state)
{
	(void)state;
	assert_string_equal(weir_perr_str(WEIR_PERR_NONE), "no error");
	assert_string_equal(weir_perr_str(WEIR_PERR_TCPOFF),
			    "bad TCP data offset");
	assert_string_equal(weir_perr_str(-1), "unknown error");
	assert_string_equal(weir_perr_str(WEIR_PERR__COUNT), "unknown error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table),
		cmocka_unit_test(fields_v4_tcp),
		cmocka_unit_test(fields_v6_chain),
		cmocka_unit_test(fields_icmp_inner),
		cmocka_unit_test(routing_final_destination),
		cmocka_unit_test(ipv6_zero_payload_length),
		cmocka_unit_test(ipv4_big_tcp),
		cmocka_unit_test(every_prefix_in_bounds),
		cmocka_unit_test(error_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
