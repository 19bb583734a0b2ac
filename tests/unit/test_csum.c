/* Unit tests for checksums: RFC 1071 arithmetic, full verify and fill for
 * every protocol, RFC 1624 incremental updates against full recomputation
 * (randomised), and partial (offload) checksums. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <weir/csum.h>
#include <weir/packet.h>

#include "pktgen.h"

static const uint8_t data[64] = "some payload bytes for the checksum tests";

/* RFC 1071 section 3 example: the words sum to 0xddf2. */
static void rfc1071_example(void **state)
{
	static const uint8_t ex[] = { 0x00, 0x01, 0xf2, 0x03,
				      0xf4, 0xf5, 0xf6, 0xf7 };
	uint16_t folded = weir_csum_fold(weir_csum_add(0, ex, sizeof(ex)));
	uint8_t mem[2];

	(void)state;
	memcpy(mem, &folded, 2);
	assert_int_equal(mem[0] << 8 | mem[1], 0xddf2);
}

/* Any split into even chunks, any alignment, odd tails: same sum. */
static void chained_and_unaligned(void **state)
{
	uint8_t buf[300];

	(void)state;
	srand(1);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rand();
	for (size_t len = 0; len < 290; len += 7) {
		uint16_t whole = weir_csum_fold(weir_csum_add(0, buf, len));
		uint32_t s = 0;
		size_t k;

		for (k = 0; k + 6 < len; k += 6)
			s = weir_csum_add(s, buf + k, 6);
		s = weir_csum_add(s, buf + k, len - k);
		assert_int_equal(weir_csum_fold(s), whole);
		/* Same bytes at an odd address; the naive big-endian loop
		 * as reference for the value. */
		uint8_t mem[2];

		memmove(buf + 1, buf, len);
		assert_int_equal(weir_csum_fold(weir_csum_add(0, buf + 1, len)),
				 whole);
		memcpy(mem, &whole, 2);
		assert_int_equal(mem[0] << 8 | mem[1],
				 (uint16_t)~tfold(tsum(0, buf + 1, len)));
		memmove(buf, buf + 1, len);
	}
}

static size_t mk(uint8_t *p, int family, uint8_t proto)
{
	struct tpkt t = { .family = family, .proto = proto,
		.src = family == AF_INET ? "192.0.2.1" : "2001:db8::a",
		.dst = family == AF_INET ? "198.51.100.7" : "2001:db8::b",
		.sport = 1234, .dport = 4321, .tcp_flags = WEIR_TCP_ACK,
		.seq = 99, .ack = 77, .icmp_type = family == AF_INET ? 8 : 128,
		.payload = data, .payload_len = 41 };

	return tpkt_make(&t, p);
}

struct vcase {
	int family;
	uint8_t proto;
};

static const struct vcase protos[] = {
	{ AF_INET, IPPROTO_TCP }, { AF_INET, IPPROTO_UDP },
	{ AF_INET, IPPROTO_ICMP }, { AF_INET6, IPPROTO_TCP },
	{ AF_INET6, IPPROTO_UDP }, { AF_INET6, IPPROTO_ICMPV6 },
};

static void verify_good_and_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < 6; i++) {
		uint8_t p[256];
		size_t n = mk(p, protos[i].family, protos[i].proto);
		struct weir_csum_report r;
		struct weir_pdesc pd;
		uint16_t c;

		assert_int_equal(weir_parse(p, n, &pd), 0);
		assert_int_equal(weir_csum_verify(p, &pd, false, &r), 0);
		assert_int_equal(r.l4, WEIR_CSUM_GOOD);
		assert_int_equal(r.ip, protos[i].family == AF_INET
				 ? WEIR_CSUM_GOOD : WEIR_CSUM_NONE);
		assert_int_equal(weir_csum_l4(p, &pd, &c), 0);
		assert_memory_equal(&c, p + pd.l4_off +
				    (protos[i].proto == IPPROTO_TCP ? 16 :
				     protos[i].proto == IPPROTO_UDP ? 6 : 2), 2);
		p[n - 1] ^= 0x40; /* flip a payload bit */
		assert_int_equal(weir_csum_verify(p, &pd, false, &r), -EBADMSG);
		assert_int_equal(r.l4, WEIR_CSUM_BAD);
		/* Fill repairs it; the naive checker agrees. */
		assert_int_equal(weir_csum_fill(p, &pd), 0);
		assert_true(tpkt_csum_ok(p, n));
		if (protos[i].family == AF_INET) {
			p[8]--; /* TTL */
			assert_int_equal(weir_csum_verify(p, &pd, false, &r),
					 -EBADMSG);
			assert_int_equal(r.ip, WEIR_CSUM_BAD);
		}
	}
}

static void udp_zero_and_fragments(void **state)
{
	uint8_t p[256];
	size_t n = mk(p, AF_INET, IPPROTO_UDP);
	struct weir_csum_report r;
	struct weir_pdesc pd;

	(void)state;
	p[26] = p[27] = 0;
	weir_parse(p, n, &pd);
	assert_int_equal(weir_csum_verify(p, &pd, false, &r), 0);
	assert_int_equal(r.l4, WEIR_CSUM_ABSENT);
	/* IPv6 forbids it (RFC 8200 8.1). */
	n = mk(p, AF_INET6, IPPROTO_UDP);
	p[46] = p[47] = 0;
	weir_parse(p, n, &pd);
	assert_int_equal(weir_csum_verify(p, &pd, false, &r), -EBADMSG);
	/* A first fragment cannot be checked alone. */
	n = mk(p, AF_INET, IPPROTO_TCP);
	p[6] = 0x20;
	weir_parse(p, n, &pd);
	weir_csum_verify(p, &pd, false, &r);
	assert_int_equal(r.l4, WEIR_CSUM_UNCHECKABLE);
	uint16_t c;
	assert_int_equal(weir_csum_l4(p, &pd, &c), -ERANGE);
	/* A truncated one neither. */
	n = mk(p, AF_INET, IPPROTO_UDP);
	weir_parse(p, n - 3, &pd);
	weir_csum_verify(p, &pd, false, &r);
	assert_int_equal(r.l4, WEIR_CSUM_UNCHECKABLE);
}

/* A computed UDP checksum of 0 must be sent as 0xffff. Search a payload
 * word that makes the sum come out 0. */
static void udp_fill_never_zero(void **state)
{
	uint8_t p[256];
	size_t n = mk(p, AF_INET, IPPROTO_UDP);
	struct weir_pdesc pd;
	uint16_t c;

	(void)state;
	weir_parse(p, n, &pd);
	p[28] = p[29] = 0;
	weir_csum_l4(p, &pd, &c);
	/* Adding c' to the data changes the final sum from c to 0. */
	memcpy(p + 28, &c, 2);
	assert_int_equal(weir_csum_fill(p, &pd), 0);
	assert_int_equal(p[26], 0xff);
	assert_int_equal(p[27], 0xff);
	assert_true(tpkt_csum_ok(p, n));
}

/* RFC 1624: random word changes, incremental result == full compute. */
static void incremental_matches_full(void **state)
{
	uint8_t p[256];

	(void)state;
	srand(7);
	for (int i = 0; i < 20000; i++) {
		size_t n = mk(p, i & 1 ? AF_INET6 : AF_INET, IPPROTO_TCP);
		struct weir_pdesc pd;
		uint16_t field, want;
		uint32_t at;
		uint8_t nw[2];

		weir_parse(p, n, &pd);
		at = pd.payload_off + (uint32_t)(rand() % 20) * 2;
		nw[0] = (uint8_t)rand();
		nw[1] = (uint8_t)(i % 3 ? rand() : p[at + 1]);
		memcpy(&field, p + pd.l4_off + 16, 2);
		weir_csum_replace(&field, p + at, nw, 2, false);
		memcpy(p + at, nw, 2);
		weir_csum_l4(p, &pd, &want);
		/* 0x0000 and 0xffff are the same one's-complement number. */
		if (!((field == 0 && want == 0xffff) ||
		      (field == 0xffff && want == 0)))
			assert_int_equal(field, want);
	}
}

/* Partial checksum: the field holds fold(pseudo) uncomplemented. */
static void partial_pseudo(void **state)
{
	uint8_t p[256], a2[4] = { 203, 0, 113, 9 };
	size_t n = mk(p, AF_INET, IPPROTO_TCP);
	struct weir_csum_report r;
	struct weir_pdesc pd;
	uint16_t field;

	(void)state;
	weir_parse(p, n, &pd);
	field = weir_csum_fold(weir_csum_pseudo(AF_INET, pd.src, pd.dst,
						IPPROTO_TCP, (uint32_t)n - 20));
	memcpy(p + 36, &field, 2);
	weir_parse(p, n, &pd);
	assert_int_equal(weir_csum_verify(p, &pd, true, &r), 0);
	assert_int_equal(r.l4, WEIR_CSUM_PSEUDO_OK);
	/* Incremental update of an address keeps it a pseudo sum. */
	weir_csum_replace(&field, p + 16, a2, 4, true);
	memcpy(p + 36, &field, 2);
	memcpy(p + 16, a2, 4);
	weir_parse(p, n, &pd);
	weir_csum_fill(p, &pd); /* only to fix the IP header... */
	memcpy(p + 36, &field, 2); /* ...keep the partial L4 field */
	weir_parse(p, n, &pd);
	assert_int_equal(weir_csum_verify(p, &pd, true, &r), 0);
	assert_int_equal(r.l4, WEIR_CSUM_PSEUDO_OK);
	/* Seen as complete, it is wrong. */
	assert_int_equal(weir_csum_verify(p, &pd, false, &r), -EBADMSG);
}

static void finalize_partial_packet(void **state)
{
	uint8_t p[256];
	size_t n = mk(p, AF_INET6, IPPROTO_UDP);
	struct weir_pkt *pkt;
	struct weir_csum_report r;
	uint16_t field;

	(void)state;
	pkt = weir_pkt_from_bytes(p, (uint32_t)n);
	weir_pkt_parse(pkt);
	field = weir_csum_fold(weir_csum_pseudo(AF_INET6, pkt->pd.src,
			       pkt->pd.dst, IPPROTO_UDP, (uint32_t)n - 40));
	memcpy(pkt->data + 46, &field, 2);
	pkt->meta.csum_state = WEIR_CSUM_PARTIAL;
	assert_int_equal(weir_pkt_csum_finalize(pkt), 0);
	assert_int_equal(pkt->meta.csum_state, WEIR_CSUM_VERIFIED);
	assert_true(tpkt_csum_ok(pkt->data, n));
	weir_pkt_parse(pkt);
	assert_int_equal(weir_csum_verify(pkt->data, &pkt->pd, false, &r), 0);
	weir_pkt_free(pkt);
}

/* The inner IPv4 header of an ICMP error is checked too. */
static void inner_ip_checked(void **state)
{
	uint8_t inner[128], p[256];
	size_t in = mk(inner, AF_INET, IPPROTO_UDP);
	struct tpkt t = { .family = AF_INET, .proto = IPPROTO_ICMP,
		.src = "10.0.0.2", .dst = "10.0.0.1", .icmp_type = 3,
		.payload = inner, .payload_len = (uint16_t)in };
	struct weir_csum_report r;
	struct weir_pdesc pd;
	size_t n;

	(void)state;
	n = tpkt_make(&t, p);
	weir_parse(p, n, &pd);
	assert_int_equal(weir_csum_verify(p, &pd, false, &r), 0);
	assert_int_equal(r.inner_ip, WEIR_CSUM_GOOD);
	inner[8] = 1; /* inner TTL: its header sum is now wrong */
	n = tpkt_make(&t, p);
	weir_parse(p, n, &pd);
	assert_int_equal(weir_csum_verify(p, &pd, false, &r), -EBADMSG);
	assert_int_equal(r.inner_ip, WEIR_CSUM_BAD);
	assert_int_equal(r.l4, WEIR_CSUM_GOOD);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc1071_example),
		cmocka_unit_test(chained_and_unaligned),
		cmocka_unit_test(verify_good_and_bad),
		cmocka_unit_test(udp_zero_and_fragments),
		cmocka_unit_test(udp_fill_never_zero),
		cmocka_unit_test(incremental_matches_full),
		cmocka_unit_test(partial_pseudo),
		cmocka_unit_test(finalize_partial_packet),
		cmocka_unit_test(inner_ip_checked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
