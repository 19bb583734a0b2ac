/* Unit tests for the flow table: keys in both directions, compartments,
 * ICMP keys, TCP close tracking as a table of segment sequences,
 * per-protocol expiry on a fake clock, contexts and their exactly-once
 * deletion (also from a callback that calls back in), remembered
 * decisions, the max-flows bound, stale ids, and a multi-threaded run
 * whose counts must balance.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/filter.h>
#include <weir/flow.h>
#include <weir/pdesc.h>

#include "pktgen.h"

#define SEC 1000000000ull
#define L_CONNECT WEIR_LAYER_ALE_CONNECT_V4
#define L_ACCEPT WEIR_LAYER_ALE_ACCEPT_V4

/* ---- helpers ------------------------------------------------------------- */

static struct weir_flow_key mkkey(int family, uint8_t proto, const char *src,
				  uint16_t sport, const char *dst,
				  uint16_t dport)
{
	struct weir_flow_key k;

	memset(&k, 0, sizeof(k));
	k.family = (uint8_t)family;
	k.proto = proto;
	k.sport = sport;
	k.dport = dport;
	assert_int_equal(inet_pton(family, src, k.src), 1);
	assert_int_equal(inet_pton(family, dst, k.dst), 1);
	return k;
}

static struct weir_flow_key udp4(const char *src, uint16_t sport,
				 const char *dst, uint16_t dport)
{
	return mkkey(AF_INET, IPPROTO_UDP, src, sport, dst, dport);
}

static struct weir_flow_key rev(const struct weir_flow_key *k)
{
	struct weir_flow_key r;

	weir_flow_key_reverse(&r, k);
	return r;
}

/* Looks k up (creating it), checks the info bits, returns the id. */
static uint64_t look(struct weir_flow_table *t, const struct weir_flow_key *k,
		     uint64_t now, unsigned want_info)
{
	uint64_t id = 0;
	unsigned info = 0xdead;

	assert_int_equal(weir_flow_lookup(t, k, now, WEIR_FLOW_CREATE, &id,
					  &info), 0);
	/* ANSWERED is checked where it matters (both_directions_one_flow). */
	assert_int_equal(info & ~WEIR_FLOWI_ANSWERED, want_info);
	assert_true(id != 0);
	return id;
}

static struct weir_flow_stats stats(struct weir_flow_table *t)
{
	struct weir_flow_stats s;

	assert_int_equal(weir_flow_stats(t, &s), 0);
	return s;
}

static struct weir_flow_info info(struct weir_flow_table *t, uint64_t id)
{
	struct weir_flow_info i;

	assert_int_equal(weir_flow_info_get(t, id, &i), 0);
	return i;
}

/* ---- a recording on_ctx_delete ------------------------------------------- */

struct del_rec {
	uint64_t flow_id;
	int layer;
	uint16_t slot;
	uint64_t ctx;
};

static struct del_rec dels[64];
static int ndel;

static void record_del(void *arg, uint64_t flow_id, int layer, uint16_t slot,
		       uint64_t ctx)
{
	(void)arg;
	assert_true(ndel < 64);
	dels[ndel++] = (struct del_rec){ flow_id, layer, slot, ctx };
}

/* True (and forgets it) when exactly one recorded deletion is this one. */
static bool deleted_once(uint64_t flow_id, int layer, uint16_t slot,
			 uint64_t ctx)
{
	int hits = 0;

	for (int i = 0; i < ndel; i++)
		if (dels[i].flow_id == flow_id && dels[i].layer == layer &&
		    dels[i].slot == slot && dels[i].ctx == ctx)
			hits++;
	return hits == 1;
}

static struct weir_flow_table *recording_table(struct weir_flow_config *c)
{
	struct weir_flow_config dflt = { 0 };
	struct weir_flow_table *t;

	if (!c)
		c = &dflt;
	ndel = 0;
	c->on_ctx_delete = record_del;
	t = weir_flow_table_new(c);
	assert_non_null(t);
	return t;
}

/* ---- keys and directions ------------------------------------------------- */

struct dir_case {
	const char *name;
	int family;
	uint8_t proto;
	const char *src, *dst;
	uint16_t sport, dport;
};

static const struct dir_case dir_cases[] = {
	{ "TCP over IPv4", AF_INET, IPPROTO_TCP, "10.0.0.1", "10.0.0.2",
	  40000, 443 },
	{ "UDP over IPv6", AF_INET6, IPPROTO_UDP, "2001:db8::1", "2001:db8::2",
	  5353, 53 },
	{ "GRE, no ports", AF_INET, 47, "192.0.2.1", "198.51.100.7", 0, 0 },
	{ "same address both ends", AF_INET, IPPROTO_TCP, "127.0.0.1",
	  "127.0.0.1", 5000, 6000 },
};

static void both_directions_one_flow(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(dir_cases) / sizeof(dir_cases[0]); i++) {
		const struct dir_case *c = &dir_cases[i];
		struct weir_flow_table *t = weir_flow_table_new(NULL);
		struct weir_flow_key k = mkkey(c->family, c->proto, c->src,
					       c->sport, c->dst, c->dport);
		struct weir_flow_key r = rev(&k);
		struct weir_flow_info fi;
		uint64_t id;

		print_message("case: %s\n", c->name);
		id = look(t, &k, 1, WEIR_FLOWI_NEW);
		assert_false(info(t, id).seen_reply);
		assert_int_equal(look(t, &r, 2, WEIR_FLOWI_REPLY |
				      WEIR_FLOWI_FIRST_REPLY), id);
		assert_int_equal(look(t, &r, 3, WEIR_FLOWI_REPLY), id);
		assert_int_equal(look(t, &k, 4, 0), id);
		/* Answered: a reply came before this packet, not with it. */
		{
			unsigned in = 0;
			uint64_t id2;

			weir_flow_lookup(t, &k, 5, 0, &id2, &in);
			assert_true(in & WEIR_FLOWI_ANSWERED);
		}
		fi = info(t, id);
		assert_true(fi.seen_reply);
		assert_memory_equal(&fi.key, &k, sizeof(k));
		assert_int_equal(stats(t).active, 1);
		assert_int_equal(stats(t).created, 1);
		weir_flow_table_free(t);
	}
}

static void ipv4_ignores_tail_bytes(void **state)
{
	struct weir_flow_table *t = weir_flow_table_new(NULL);
	struct weir_flow_key k = udp4("10.1.1.1", 1, "10.2.2.2", 2), g = k;
	uint64_t id = look(t, &k, 1, WEIR_FLOWI_NEW);

	(void)state;
	memset(g.src + 4, 0xaa, 12);
	memset(g.dst + 4, 0x55, 12);
	assert_int_equal(look(t, &g, 2, 0), id);
	weir_flow_table_free(t);
}

static void compartments_and_protocols_separate(void **state)
{
	struct weir_flow_table *t = weir_flow_table_new(NULL);
	struct weir_flow_key a = udp4("10.0.0.1", 1000, "10.0.0.2", 53);
	struct weir_flow_key b = a, c = a, rb;
	uint64_t ia, ib, ic, id;

	(void)state;
	b.compartment = 7;
	c.proto = IPPROTO_TCP;
	ia = look(t, &a, 1, WEIR_FLOWI_NEW);
	ib = look(t, &b, 1, WEIR_FLOWI_NEW);
	ic = look(t, &c, 1, WEIR_FLOWI_NEW);
	assert_true(ia != ib && ib != ic && ia != ic);
	rb = rev(&b);
	assert_int_equal(look(t, &rb, 2, WEIR_FLOWI_REPLY |
			      WEIR_FLOWI_FIRST_REPLY), ib);
	rb.compartment = 8;
	assert_int_equal(weir_flow_lookup(t, &rb, 3, 0, &id, NULL), -ENOENT);
	assert_int_equal(stats(t).active, 3);
	weir_flow_table_free(t);
}

static void lookup_flags_and_bad_input(void **state)
{
	struct weir_flow_table *t = weir_flow_table_new(NULL);
	struct weir_flow_key k = udp4("10.0.0.1", 1, "10.0.0.2", 2);
	struct weir_flow_key r = rev(&k), bad = k;
	uint64_t id = 77, id2;
	unsigned inf = 77;

	(void)state;
	assert_int_equal(weir_flow_lookup(t, &k, 1, 0, &id, &inf), -ENOENT);
	assert_int_equal(id, 77);
	assert_int_equal(inf, 77);
	id = look(t, &k, 1, WEIR_FLOWI_NEW);
	/* a query neither refreshes nor marks the reply direction seen */
	assert_int_equal(weir_flow_lookup(t, &r, 5 * SEC, WEIR_FLOW_NOTOUCH,
					  &id2, &inf), 0);
	assert_int_equal(id2, id);
	assert_int_equal(inf, WEIR_FLOWI_REPLY);
	assert_int_equal(info(t, id).last_ns, 1);
	assert_false(info(t, id).seen_reply);
	assert_int_equal(weir_flow_lookup(t, &k, 6, WEIR_FLOW_CREATE, NULL,
					  NULL), 0);
	bad.family = 99;
	assert_int_equal(weir_flow_lookup(t, &bad, 1, WEIR_FLOW_CREATE, &id2,
					  NULL), -EINVAL);
	assert_int_equal(weir_flow_lookup(t, &k, 1, 0x80, &id2, NULL), -EINVAL);
	assert_int_equal(weir_flow_lookup(NULL, &k, 1, 0, &id2, NULL), -EINVAL);
	assert_int_equal(weir_flow_lookup(t, NULL, 1, 0, &id2, NULL), -EINVAL);
	weir_flow_table_free(t);
	weir_flow_table_free(NULL);
}

/* ---- keys from parsed packets (ICMP) ------------------------------------- */

static struct weir_pdesc parse(const struct tpkt *p)
{
	uint8_t buf[1600];
	struct weir_pdesc pd;
	size_t n = tpkt_make(p, buf);

	assert_int_equal(weir_parse(buf, n, &pd), 0);
	return pd;
}

static struct weir_flow_key pkey(const struct tpkt *p, unsigned want_kflags)
{
	struct weir_pdesc pd = parse(p);
	struct weir_flow_key k;
	unsigned kf = 0xdead;

	assert_int_equal(weir_flow_key_from_pdesc(&k, &pd, 3, &kf), 0);
	assert_int_equal(kf, want_kflags);
	assert_int_equal(k.compartment, 3);
	return k;
}

static void icmp_echo_request_and_reply(void **state)
{
	struct weir_flow_table *t = weir_flow_table_new(NULL);
	struct tpkt req = { .family = AF_INET, .proto = IPPROTO_ICMP,
		.src = "10.0.0.1", .dst = "10.0.0.2", .icmp_type = 8,
		.sport = 0x1234, .dport = 1 };
	struct tpkt rep = req, other = req;
	struct weir_flow_key k;
	uint64_t id;

	(void)state;
	rep.src = req.dst, rep.dst = req.src, rep.icmp_type = 0;
	other.sport = 0x4321;
	k = pkey(&req, 0);
	assert_int_equal(k.sport, 0x1234);
	assert_int_equal(k.dport, 0x1234);
	id = look(t, &k, 1, WEIR_FLOWI_NEW);
	k = pkey(&rep, 0);
	assert_int_equal(look(t, &k, 2, WEIR_FLOWI_REPLY |
			      WEIR_FLOWI_FIRST_REPLY), id);
	req.dport = 2;           /* the next ping of the session */
	k = pkey(&req, 0);
	assert_int_equal(look(t, &k, 3, 0), id);
	k = pkey(&other, 0);     /* another ping session */
	assert_true(look(t, &k, 4, WEIR_FLOWI_NEW) != id);
	assert_int_equal(info(t, id).expires_ns, 3 + 30 * SEC);
	weir_flow_table_free(t);
}

static void icmpv6_echo_and_other_messages(void **state)
{
	struct weir_flow_table *t = weir_flow_table_new(NULL);
	struct tpkt req = { .family = AF_INET6, .proto = IPPROTO_ICMPV6,
		.src = "2001:db8::1", .dst = "2001:db8::2", .icmp_type = 128,
		.sport = 99, .dport = 1 };
	struct tpkt rep = req, ns = req;
	struct weir_flow_key k;
	uint64_t id;

	(void)state;
	rep.src = req.dst, rep.dst = req.src, rep.icmp_type = 129;
	ns.icmp_type = 135;      /* neighbour solicitation: no identifier */
	k = pkey(&req, 0);
	id = look(t, &k, 1, WEIR_FLOWI_NEW);
	k = pkey(&rep, 0);
	assert_int_equal(look(t, &k, 2, WEIR_FLOWI_REPLY |
			      WEIR_FLOWI_FIRST_REPLY), id);
	k = pkey(&ns, 0);
	assert_int_equal(k.sport, 0);
	assert_int_equal(k.dport, 0);
	weir_flow_table_free(t);
}

static void icmp_error_finds_quoted_flow(void **state)
{
	struct weir_flow_table *t = weir_flow_table_new(NULL);
	struct tpkt udp = { .family = AF_INET, .proto = IPPROTO_UDP,
		.src = "10.0.0.1", .dst = "10.0.0.2", .sport = 5000,
		.dport = 53 };
	struct tpkt err = { .family = AF_INET, .proto = IPPROTO_ICMP,
		.src = "10.0.0.2", .dst = "10.0.0.1", .icmp_type = 3,
		.icmp_code = 3 };
	uint8_t quoted[1600];
	struct weir_flow_key k;
	uint64_t id, id2;
	unsigned inf;

	(void)state;
	err.payload = quoted;
	err.payload_len = (uint16_t)tpkt_make(&udp, quoted);
	k = pkey(&udp, 0);
	id = look(t, &k, 1, WEIR_FLOWI_NEW);
	k = pkey(&err, WEIR_FLOWK_RELATED);
	assert_int_equal(k.proto, IPPROTO_UDP);
	assert_int_equal(weir_flow_lookup(t, &k, 2, WEIR_FLOW_NOTOUCH, &id2,
					  &inf), 0);
	assert_int_equal(id2, id);
	assert_int_equal(inf, WEIR_FLOWI_REPLY);
	weir_flow_table_free(t);
}

static void key_from_pdesc_errors(void **state)
{
	struct tpkt udp = { .family = AF_INET, .proto = IPPROTO_UDP,
		.src = "10.0.0.1", .dst = "10.0.0.2", .sport = 1, .dport = 2 };
	struct weir_pdesc pd = parse(&udp);
	struct weir_flow_key k, before;

	(void)state;
	memset(&k, 0x5a, sizeof(k));
	before = k;
	pd.flags &= ~(uint32_t)WEIR_PD_L4;   /* as a later fragment */
	assert_int_equal(weir_flow_key_from_pdesc(&k, &pd, 0, NULL), -ENODATA);
	pd.flags = 0;
	assert_int_equal(weir_flow_key_from_pdesc(&k, &pd, 0, NULL), -EINVAL);
	assert_memory_equal(&k, &before, sizeof(k));
	assert_int_equal(weir_flow_key_from_pdesc(NULL, &pd, 0, NULL), -EINVAL);
}

/* ---- TCP close tracking ------------------------------------------------ */

#define O 'o'   /* from the flow's originator */
#define R 'r'   /* from the other side */
#define SYN WEIR_TCP_SYN
#define ACK WEIR_TCP_ACK
#define FIN WEIR_TCP_FIN
#define RST WEIR_TCP_RST
#define PSH WEIR_TCP_PSH

struct tcp_step {
	char dir;          /* 0 ends the case */
	uint8_t flags;
	int state;         /* enum weir_flow_tcp_state after it */
	int rc;
};

struct tcp_case {
	const char *name;
	struct tcp_step s[12];
};

#define HANDSHAKE \
	{ O, SYN, WEIR_FLOW_TCP_SYN_SENT, 0 }, \
	{ R, SYN | ACK, WEIR_FLOW_TCP_SYN_RECV, 0 }, \
	{ O, ACK, WEIR_FLOW_TCP_ESTABLISHED, 0 }

static const struct tcp_case tcp_cases[] = {
	{ "client closes: FIN, FIN, last ACK", {
	  HANDSHAKE,
	  { O, ACK | PSH, WEIR_FLOW_TCP_ESTABLISHED, 0 },
	  { O, FIN | ACK, WEIR_FLOW_TCP_FIN_WAIT, 0 },
	  { R, ACK, WEIR_FLOW_TCP_FIN_WAIT, 0 },
	  { R, ACK | PSH, WEIR_FLOW_TCP_FIN_WAIT, 0 },
	  { R, FIN | ACK, WEIR_FLOW_TCP_CLOSING, 0 },
	  { R, ACK, WEIR_FLOW_TCP_CLOSING, 0 },
	  { O, ACK, WEIR_FLOW_TCP_TIME_WAIT, 0 } } },
	{ "server closes first", {
	  HANDSHAKE,
	  { R, FIN | ACK, WEIR_FLOW_TCP_FIN_WAIT, 0 },
	  { O, FIN | ACK, WEIR_FLOW_TCP_CLOSING, 0 },
	  { O, ACK, WEIR_FLOW_TCP_CLOSING, 0 },
	  { R, ACK, WEIR_FLOW_TCP_TIME_WAIT, 0 } } },
	{ "retransmitted FIN does not close", {
	  HANDSHAKE,
	  { O, FIN | ACK, WEIR_FLOW_TCP_FIN_WAIT, 0 },
	  { O, FIN | ACK, WEIR_FLOW_TCP_FIN_WAIT, 0 } } },
	{ "RST during the handshake", {
	  { O, SYN, WEIR_FLOW_TCP_SYN_SENT, 0 },
	  { R, RST | ACK, WEIR_FLOW_TCP_CLOSED, 0 } } },
	{ "RST when established", {
	  HANDSHAKE,
	  { O, RST, WEIR_FLOW_TCP_CLOSED, 0 },
	  { R, ACK, WEIR_FLOW_TCP_CLOSED, 0 } } },
	{ "picked up mid-stream: both sides must speak", {
	  { O, ACK, WEIR_FLOW_TCP_NONE, 0 },
	  { O, ACK | PSH, WEIR_FLOW_TCP_NONE, 0 },
	  { R, ACK, WEIR_FLOW_TCP_ESTABLISHED, 0 } } },
	{ "simultaneous open", {
	  { O, SYN, WEIR_FLOW_TCP_SYN_SENT, 0 },
	  { R, SYN, WEIR_FLOW_TCP_SYN_RECV, 0 } } },
	{ "SYN after RST reuses the tuple", {
	  { O, SYN, WEIR_FLOW_TCP_SYN_SENT, 0 },
	  { R, RST, WEIR_FLOW_TCP_CLOSED, 0 },
	  { R, SYN | ACK, WEIR_FLOW_TCP_CLOSED, 0 },
	  { O, SYN, WEIR_FLOW_TCP_SYN_SENT, WEIR_FLOW_TCP_REUSED } } },
	{ "SYN in TIME_WAIT reuses the tuple", {
	  HANDSHAKE,
	  { O, FIN | ACK, WEIR_FLOW_TCP_FIN_WAIT, 0 },
	  { R, FIN | ACK, WEIR_FLOW_TCP_CLOSING, 0 },
	  { O, ACK, WEIR_FLOW_TCP_TIME_WAIT, 0 },
	  { O, FIN | ACK, WEIR_FLOW_TCP_TIME_WAIT, 0 },
	  { O, SYN, WEIR_FLOW_TCP_SYN_SENT, WEIR_FLOW_TCP_REUSED },
	  { R, SYN | ACK, WEIR_FLOW_TCP_SYN_RECV, 0 },
	  { O, ACK, WEIR_FLOW_TCP_ESTABLISHED, 0 } } },
};

static const struct weir_flow_timeouts tcp_to = {
	.tcp_syn = 11 * SEC, .tcp_established = 22 * SEC,
	.tcp_half_closed = 33 * SEC, .tcp_closing = 44 * SEC,
	.tcp_closed = 55 * SEC,
};

static uint64_t tcp_timeout(int state)
{
	switch (state) {
	case WEIR_FLOW_TCP_ESTABLISHED:
		return tcp_to.tcp_established;
	case WEIR_FLOW_TCP_FIN_WAIT:
		return tcp_to.tcp_half_closed;
	case WEIR_FLOW_TCP_CLOSING:
		return tcp_to.tcp_closing;
	case WEIR_FLOW_TCP_TIME_WAIT:
	case WEIR_FLOW_TCP_CLOSED:
		return tcp_to.tcp_closed;
	default:
		return tcp_to.tcp_syn;
	}
}

static void run_tcp_case(const struct tcp_case *c)
{
	struct weir_flow_config cfg = { .timeouts = tcp_to };
	struct weir_flow_table *t = weir_flow_table_new(&cfg);
	struct weir_flow_key k = mkkey(AF_INET, IPPROTO_TCP, "10.0.0.1", 40000,
				       "10.0.0.2", 80);
	uint64_t id = look(t, &k, 0, WEIR_FLOWI_NEW);

	print_message("case: %s\n", c->name);
	assert_int_equal(info(t, id).tcp_state, WEIR_FLOW_TCP_NONE);
	assert_int_equal(info(t, id).expires_ns, tcp_to.tcp_syn);
	for (int i = 0; i < 12 && c->s[i].dir; i++) {
		const struct tcp_step *s = &c->s[i];
		uint64_t now = (uint64_t)(i + 1) * SEC;
		struct weir_flow_info fi;

		assert_int_equal(weir_flow_tcp_update(t, id, s->dir == R,
						      s->flags, now), s->rc);
		fi = info(t, id);
		print_message("  step %d: %s\n", i,
			      weir_flow_tcp_state_name(fi.tcp_state));
		assert_int_equal(fi.tcp_state, s->state);
		assert_int_equal(fi.last_ns, now);
		assert_int_equal(fi.expires_ns, now + tcp_timeout(s->state));
	}
	weir_flow_table_free(t);
}

static void tcp_close_tracking(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(tcp_cases) / sizeof(tcp_cases[0]); i++)
		run_tcp_case(&tcp_cases[i]);
}

static void tcp_rst_shortens_life(void **state)
{
	struct weir_flow_config cfg = { .timeouts = tcp_to };
	struct weir_flow_table *t = weir_flow_table_new(&cfg);
	struct weir_flow_key k = mkkey(AF_INET6, IPPROTO_TCP, "2001:db8::1", 1,
				       "2001:db8::2", 22);
	struct weir_flow_key u = udp4("10.0.0.1", 1, "10.0.0.2", 2);
	uint64_t id = look(t, &k, 0, WEIR_FLOWI_NEW);
	uint64_t uid = look(t, &u, 0, WEIR_FLOWI_NEW);   /* udp: 60 s */

	(void)state;
	assert_int_equal(weir_flow_tcp_update(t, id, false, SYN, 1), 0);
	assert_int_equal(weir_flow_tcp_update(t, id, true, SYN | ACK, 2), 0);
	assert_int_equal(weir_flow_tcp_update(t, id, false, ACK, 3), 0);
	assert_int_equal(info(t, id).expires_ns, 3 + 22 * SEC);
	assert_int_equal(weir_flow_tcp_update(t, id, true, RST, 4), 0);
	assert_int_equal(weir_flow_expire(t, 4 + 55 * SEC - 1, 0), 0);
	assert_int_equal(weir_flow_expire(t, 4 + 55 * SEC, 0), 1);
	assert_int_equal(weir_flow_tcp_update(t, id, true, ACK, 5), -ENOENT);
	assert_int_equal(weir_flow_tcp_update(t, uid, false, SYN, 5 * SEC),
			 -EINVAL);
	assert_int_equal(stats(t).expired, 1);
	assert_int_equal(stats(t).active, 1);
	weir_flow_table_free(t);
}

/* ---- expiry on a fake clock --------------------------------------------- */

static void per_protocol_expiry(void **state)
{
	struct weir_flow_config cfg = { .timeouts = { .udp = 10 * SEC,
		.icmp = 20 * SEC, .other = 30 * SEC, .tcp_syn = 40 * SEC } };
	struct weir_flow_table *t = weir_flow_table_new(&cfg);
	const uint8_t protos[] = { IPPROTO_UDP, IPPROTO_ICMP, 47, IPPROTO_TCP };
	uint64_t ids[4], ctx;

	(void)state;
	for (int i = 0; i < 4; i++) {
		struct weir_flow_key k = mkkey(AF_INET, protos[i], "10.0.0.1",
					       0, "10.0.0.2", 0);

		ids[i] = look(t, &k, 0, WEIR_FLOWI_NEW);
	}
	for (int i = 0; i < 4; i++) {
		uint64_t deadline = (uint64_t)(i + 1) * 10 * SEC;

		assert_int_equal(weir_flow_expire(t, deadline - 1, 0), 0);
		assert_int_equal(weir_flow_expire(t, deadline, 0), 1);
		assert_int_equal(weir_flow_info_get(t, ids[i],
				 &(struct weir_flow_info){ 0 }), -ENOENT);
		if (i < 3)
			assert_int_equal(info(t, ids[i + 1]).created_ns, 0);
	}
	assert_int_equal(stats(t).expired, 4);
	assert_int_equal(stats(t).active, 0);
	assert_int_equal(weir_flow_ctx_get(t, ids[0], L_CONNECT, 1, &ctx),
			 -ENOENT);
	weir_flow_table_free(t);
}

static void touch_and_lookup_refresh(void **state)
{
	struct weir_flow_config cfg = { .timeouts = { .udp = 10 * SEC } };
	struct weir_flow_table *t = weir_flow_table_new(&cfg);
	struct weir_flow_key k = udp4("10.0.0.1", 1, "10.0.0.2", 2);
	uint64_t id = look(t, &k, 0, WEIR_FLOWI_NEW), id2;

	(void)state;
	assert_int_equal(weir_flow_touch(t, id, 5 * SEC), 0);
	assert_int_equal(info(t, id).expires_ns, 15 * SEC);
	assert_int_equal(look(t, &k, 12 * SEC, 0), id);
	assert_int_equal(weir_flow_expire(t, 21 * SEC, 0), 0);
	/* due: a touch ends it, and a lookup then starts a new flow */
	assert_int_equal(weir_flow_touch(t, id, 22 * SEC), -ENOENT);
	assert_int_equal(stats(t).expired, 1);
	id2 = look(t, &k, 23 * SEC, WEIR_FLOWI_NEW);
	assert_true(id2 != id);
	/* a lookup at the deadline ends the old flow too */
	assert_int_equal(weir_flow_lookup(t, &k, 33 * SEC, 0, &id, NULL),
			 -ENOENT);
	assert_int_equal(stats(t).expired, 2);
	assert_int_equal(weir_flow_touch(NULL, id, 1), -EINVAL);
	weir_flow_table_free(t);
}

static void expire_is_bounded(void **state)
{
	struct weir_flow_config cfg = { .timeouts = { .udp = 10 } };
	struct weir_flow_table *t = weir_flow_table_new(&cfg);
	char src[32];

	(void)state;
	for (int i = 0; i < 10; i++) {
		struct weir_flow_key k;

		snprintf(src, sizeof(src), "10.0.%d.1", i);
		k = udp4(src, 1, "10.9.9.9", 2);
		look(t, &k, (uint64_t)i, WEIR_FLOWI_NEW);
	}
	assert_int_equal(weir_flow_expire(t, 100, 3), 3);
	assert_int_equal(weir_flow_expire(t, 100, 3), 3);
	assert_int_equal(weir_flow_expire(t, 100, 3), 3);
	assert_int_equal(weir_flow_expire(t, 100, 3), 1);
	assert_int_equal(weir_flow_expire(t, 100, 3), 0);
	assert_int_equal(weir_flow_expire(NULL, 100, 3), 0);
	weir_flow_table_free(t);
}

static void default_timeouts(void **state)
{
	struct weir_flow_table *t = weir_flow_table_new(NULL);
	struct weir_flow_key u = udp4("10.0.0.1", 1, "10.0.0.2", 2);
	struct weir_flow_key k = mkkey(AF_INET, IPPROTO_TCP, "10.0.0.1", 1,
				       "10.0.0.2", 2);
	uint64_t id;

	(void)state;
	id = look(t, &u, 0, WEIR_FLOWI_NEW);
	assert_int_equal(info(t, id).expires_ns, 60 * SEC);
	id = look(t, &k, 0, WEIR_FLOWI_NEW);
	assert_int_equal(info(t, id).expires_ns, 120 * SEC);
	weir_flow_tcp_update(t, id, false, SYN, 0);
	weir_flow_tcp_update(t, id, true, SYN | ACK, 0);
	weir_flow_tcp_update(t, id, false, ACK, 0);
	assert_int_equal(info(t, id).expires_ns, 432000 * SEC);
	weir_flow_tcp_update(t, id, false, RST, 0);
	assert_int_equal(info(t, id).expires_ns, 10 * SEC);
	assert_string_equal(weir_flow_tcp_state_name(WEIR_FLOW_TCP_CLOSED),
			    "closed");
	assert_string_equal(weir_flow_tcp_state_name(99), "?");
	weir_flow_table_free(t);
}

/* ---- contexts -------------------------------------------------------------- */

static void ctx_set_get_replace_remove(void **state)
{
	struct weir_flow_table *t = recording_table(NULL);
	struct weir_flow_key k = udp4("10.0.0.1", 1, "10.0.0.2", 2);
	uint64_t id = look(t, &k, 0, WEIR_FLOWI_NEW), v = 0;

	(void)state;
	assert_int_equal(weir_flow_ctx_set(t, id, L_CONNECT, 3, 0xa), 0);
	assert_int_equal(weir_flow_ctx_get(t, id, L_CONNECT, 3, &v), 0);
	assert_int_equal(v, 0xa);
	assert_int_equal(weir_flow_ctx_set(t, id, L_CONNECT, 3, 0xa), 0);
	assert_int_equal(ndel, 0);                 /* same value: no-op */
	assert_int_equal(weir_flow_ctx_set(t, id, L_CONNECT, 3, 0xb), 0);
	assert_int_equal(ndel, 1);
	assert_true(deleted_once(id, L_CONNECT, 3, 0xa));
	assert_int_equal(weir_flow_ctx_get(t, id, L_CONNECT, 3, &v), 0);
	assert_int_equal(v, 0xb);
	assert_int_equal(stats(t).contexts, 1);
	assert_int_equal(weir_flow_ctx_get(t, id, L_CONNECT, 4, &v), -ENODATA);
	assert_int_equal(weir_flow_ctx_get(t, id, L_ACCEPT, 3, &v), -ENODATA);
	assert_int_equal(weir_flow_ctx_remove(t, id, L_CONNECT, 3), 0);
	assert_int_equal(ndel, 2);
	assert_true(deleted_once(id, L_CONNECT, 3, 0xb));
	assert_int_equal(weir_flow_ctx_remove(t, id, L_CONNECT, 3), -ENODATA);
	assert_int_equal(weir_flow_ctx_get(t, id, L_CONNECT, 3, &v), -ENODATA);
	assert_int_equal(stats(t).contexts, 0);
	/* bad layers; the caller keeps what the table refused */
	assert_int_equal(weir_flow_ctx_set(t, id, 0, 1, 1), -EINVAL);
	assert_int_equal(weir_flow_ctx_set(t, id, WEIR_LAYER__COUNT, 1, 1),
			 -EINVAL);
	assert_int_equal(weir_flow_ctx_set(t, id + 64, L_CONNECT, 1, 1),
			 -ENOENT);
	weir_flow_table_free(t);
	assert_int_equal(ndel, 2);
}

/* How a flow ends must not matter: every context is deleted once. */
enum ending { END_DELETE, END_EXPIRE, END_LOOKUP, END_FREE, END_EVICT };

static void ctx_deleted_when_flow_ends(void **state)
{
	(void)state;
	for (int how = END_DELETE; how <= END_EVICT; how++) {
		struct weir_flow_config cfg = { .max_flows = 1,
			.timeouts = { .udp = 10 } };
		struct weir_flow_table *t = recording_table(&cfg);
		struct weir_flow_key k = udp4("10.0.0.1", 1, "10.0.0.2", 2);
		struct weir_flow_key k2 = udp4("10.0.0.3", 1, "10.0.0.2", 2);
		uint64_t id = look(t, &k, 0, WEIR_FLOWI_NEW), id2;

		print_message("ending %d\n", how);
		assert_int_equal(weir_flow_ctx_set(t, id, L_CONNECT, 1, 11), 0);
		assert_int_equal(weir_flow_ctx_set(t, id, L_CONNECT, 2, 12), 0);
		assert_int_equal(weir_flow_ctx_set(t, id, L_ACCEPT, 1, 13), 0);
		assert_int_equal(info(t, id).contexts, 3);
		if (how == END_DELETE)
			assert_int_equal(weir_flow_delete(t, id), 0);
		else if (how == END_EXPIRE)
			assert_int_equal(weir_flow_expire(t, 10, 0), 1);
		else if (how == END_LOOKUP)
			assert_int_equal(weir_flow_lookup(t, &k, 10, 0, &id2,
							  NULL), -ENOENT);
		else if (how == END_EVICT)
			look(t, &k2, 1, WEIR_FLOWI_NEW);
		if (how != END_FREE)
			assert_int_equal(stats(t).contexts, 0);
		weir_flow_table_free(t);
		assert_int_equal(ndel, 3);
		assert_true(deleted_once(id, L_CONNECT, 1, 11));
		assert_true(deleted_once(id, L_CONNECT, 2, 12));
		assert_true(deleted_once(id, L_ACCEPT, 1, 13));
	}
}

/* A callback that calls back into the table: it would deadlock if the
 * table held a stripe lock while running it. */
static struct weir_flow_table *reenter_table;
static uint64_t reenter_flow;
static int reenter_calls;

static void reenter_del(void *arg, uint64_t flow_id, int layer, uint16_t slot,
			uint64_t ctx)
{
	struct weir_flow_key k = udp4("10.7.7.7", 7, "10.8.8.8", 8);
	struct weir_flow_stats s;
	uint64_t v;

	(void)arg, (void)layer, (void)slot;
	reenter_calls++;
	if (ctx == 0)       /* during table free: hands off */
		return;
	assert_int_equal(weir_flow_stats(reenter_table, &s), 0);
	weir_flow_ctx_get(reenter_table, flow_id, L_CONNECT, 1, &v);
	assert_int_equal(weir_flow_lookup(reenter_table, &k, 1,
					  WEIR_FLOW_CREATE, &reenter_flow,
					  NULL), 0);
	assert_int_equal(weir_flow_ctx_set(reenter_table, reenter_flow,
					   L_ACCEPT, 9, 0), 0);
}

static void ctx_callback_may_reenter(void **state)
{
	struct weir_flow_config cfg = { .on_ctx_delete = reenter_del };
	struct weir_flow_key k = udp4("10.0.0.1", 1, "10.0.0.2", 2);
	uint64_t id, v;

	(void)state;
	reenter_table = weir_flow_table_new(&cfg);
	reenter_calls = 0;
	id = look(reenter_table, &k, 0, WEIR_FLOWI_NEW);
	assert_int_equal(weir_flow_ctx_set(reenter_table, id, L_CONNECT, 1, 5),
			 0);
	assert_int_equal(weir_flow_ctx_set(reenter_table, id, L_CONNECT, 1, 6),
			 0);                   /* replace */
	assert_int_equal(reenter_calls, 1);
	assert_int_equal(weir_flow_delete(reenter_table, id), 0);
	assert_int_equal(reenter_calls, 2);
	assert_int_equal(weir_flow_ctx_get(reenter_table, reenter_flow,
					   L_ACCEPT, 9, &v), 0);
	weir_flow_table_free(reenter_table);
	assert_int_equal(reenter_calls, 3);
}

/* ---- remembered decisions ------------------------------------------------ */

static void decisions_remembered_with_generation(void **state)
{
	struct weir_flow_table *t = weir_flow_table_new(NULL);
	struct weir_flow_key k = mkkey(AF_INET, IPPROTO_TCP, "10.0.0.1", 1,
				       "10.0.0.2", 2);
	uint64_t id = look(t, &k, 0, WEIR_FLOWI_NEW), fid = 0, gen = 0;
	uint8_t act = 0;

	(void)state;
	assert_int_equal(weir_flow_decision_get(t, id, L_CONNECT, &act, &fid,
						&gen), -ENODATA);
	assert_int_equal(weir_flow_decision_set(t, id, L_CONNECT,
						WEIR_ACTION_PERMIT, 42, 7), 0);
	assert_int_equal(weir_flow_decision_get(t, id, L_CONNECT, &act, &fid,
						&gen), 0);
	assert_int_equal(act, WEIR_ACTION_PERMIT);
	assert_int_equal(fid, 42);
	assert_int_equal(gen, 7);
	/* policy generation 8: re-authorized, now blocked by the default */
	assert_int_equal(weir_flow_decision_set(t, id, L_CONNECT,
						WEIR_ACTION_BLOCK, 0, 8), 0);
	assert_int_equal(weir_flow_decision_get(t, id, L_CONNECT, &act, NULL,
						&gen), 0);
	assert_int_equal(act, WEIR_ACTION_BLOCK);
	assert_int_equal(gen, 8);
	assert_int_equal(weir_flow_decision_get(t, id, L_ACCEPT, &act, &fid,
						&gen), -ENODATA);
	assert_int_equal(weir_flow_decision_set(t, id, L_ACCEPT,
						WEIR_ACTION_PERMIT, 1, 1), 0);
	assert_int_equal(info(t, id).decisions, 2);
	assert_int_equal(weir_flow_decision_set(t, id, L_ACCEPT, 0, 1, 1),
			 -EINVAL);
	assert_int_equal(weir_flow_decision_set(t, id, L_ACCEPT,
						WEIR_ACTION_CALLOUT_TERMINATING,
						1, 1), -EINVAL);
	assert_int_equal(weir_flow_decision_set(t, id, 0, WEIR_ACTION_PERMIT,
						1, 1), -EINVAL);
	assert_int_equal(weir_flow_delete(t, id), 0);
	assert_int_equal(weir_flow_decision_get(t, id, L_CONNECT, &act, &fid,
						&gen), -ENOENT);
	assert_int_equal(weir_flow_decision_set(t, id, L_CONNECT,
						WEIR_ACTION_PERMIT, 1, 1),
			 -ENOENT);
	weir_flow_table_free(t);
}

/* ---- the bound ------------------------------------------------------------- */

static void full_table_evicts_oldest(void **state)
{
	struct weir_flow_config cfg = { .max_flows = 4, .hash_seed = 1,
		.timeouts = { .udp = 100 * SEC } };
	struct weir_flow_table *t = recording_table(&cfg);
	uint64_t ids[5];
	char src[32];

	(void)state;
	for (int i = 0; i < 5; i++) {
		struct weir_flow_key k;

		snprintf(src, sizeof(src), "10.0.0.%d", i + 1);
		k = udp4(src, 1000, "10.9.9.9", 53);
		ids[i] = look(t, &k, (uint64_t)i, WEIR_FLOWI_NEW);
		if (i == 0)
			assert_int_equal(weir_flow_ctx_set(t, ids[0], L_CONNECT,
							   1, 100), 0);
	}
	assert_int_equal(stats(t).active, 4);
	assert_int_equal(stats(t).evicted, 1);
	assert_int_equal(stats(t).created, 5);
	assert_int_equal(ndel, 1);
	assert_true(deleted_once(ids[0], L_CONNECT, 1, 100));
	assert_int_equal(weir_flow_touch(t, ids[0], 5), -ENOENT);
	for (int i = 1; i < 5; i++)
		assert_int_equal(weir_flow_touch(t, ids[i], 5), 0);
	weir_flow_table_free(t);
}

/* The victim is the flow nearest its deadline, not the oldest: an old
 * established connection outlives a newer half-open one. */
static void full_table_spares_established(void **state)
{
	struct weir_flow_config cfg = { .max_flows = 2,
		.timeouts = { .tcp_syn = 10 * SEC, .tcp_established = 1000 * SEC,
			      .udp = 5 * SEC } };
	struct weir_flow_table *t = weir_flow_table_new(&cfg);
	struct weir_flow_key a = mkkey(AF_INET, IPPROTO_TCP, "10.0.0.1", 1,
				       "10.0.0.2", 2);
	struct weir_flow_key b = a, c = udp4("10.0.0.5", 5, "10.0.0.6", 6);
	uint64_t ia, ib;

	(void)state;
	b.sport = 3;
	ia = look(t, &a, 0, WEIR_FLOWI_NEW);
	weir_flow_tcp_update(t, ia, false, SYN, 0);
	weir_flow_tcp_update(t, ia, true, SYN | ACK, 0);
	weir_flow_tcp_update(t, ia, false, ACK, 0);
	ib = look(t, &b, 1 * SEC, WEIR_FLOWI_NEW);
	weir_flow_tcp_update(t, ib, false, SYN, 1 * SEC);
	look(t, &c, 2 * SEC, WEIR_FLOWI_NEW);
	assert_int_equal(weir_flow_touch(t, ia, 3 * SEC), 0);
	assert_int_equal(weir_flow_touch(t, ib, 3 * SEC), -ENOENT);
	assert_int_equal(stats(t).evicted, 1);
	/* a victim already due counts as expired */
	look(t, &b, 20 * SEC, WEIR_FLOWI_NEW);
	assert_int_equal(stats(t).evicted, 1);
	assert_int_equal(stats(t).expired, 1);
	weir_flow_table_free(t);
}

static void full_table_refuses(void **state)
{
	struct weir_flow_config cfg = { .max_flows = 2,
		.full_policy = WEIR_FLOW_FULL_REFUSE };
	struct weir_flow_table *t = weir_flow_table_new(&cfg);
	struct weir_flow_key a = udp4("10.0.0.1", 1, "10.0.0.2", 2);
	struct weir_flow_key b = udp4("10.0.0.3", 1, "10.0.0.2", 2);
	struct weir_flow_key c = udp4("10.0.0.4", 1, "10.0.0.2", 2);
	uint64_t ia, id = 5;

	(void)state;
	ia = look(t, &a, 0, WEIR_FLOWI_NEW);
	look(t, &b, 0, WEIR_FLOWI_NEW);
	assert_int_equal(weir_flow_lookup(t, &c, 1, WEIR_FLOW_CREATE, &id,
					  NULL), -ENOSPC);
	assert_int_equal(id, 5);
	assert_int_equal(look(t, &a, 2, 0), ia);     /* existing flows work */
	assert_int_equal(stats(t).refused, 1);
	assert_int_equal(stats(t).evicted, 0);
	assert_int_equal(weir_flow_delete(t, ia), 0);
	look(t, &c, 3, WEIR_FLOWI_NEW);
	assert_int_equal(stats(t).active, 2);
	weir_flow_table_free(t);
}

static void bad_config(void **state)
{
	struct weir_flow_config big = { .max_flows = WEIR_FLOW_MAX_FLOWS + 1 };
	struct weir_flow_config pol = { .full_policy = 7 };

	(void)state;
	errno = 0;
	assert_null(weir_flow_table_new(&big));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(weir_flow_table_new(&pol));
	assert_int_equal(errno, EINVAL);
}

/* ---- ids ------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void stale_ids_and_no_reuse(void **state)
{
	struct weir_flow_table *t = weir_flow_table_new(NULL);
	struct weir_flow_key k = udp4("10.0.0.1", 1, "10.0.0.2", 2);
	static uint64_t ids[2000];
	struct weir_flow_info fi;
	uint64_t v;
	uint8_t act;

	(void)state;
	for (int i = 0; i < 2000; i++) {
		k.sport = (uint16_t)(i % 3);    /* same keys come back */
		ids[i] = look(t, &k, (uint64_t)i, WEIR_FLOWI_NEW);
		assert_int_equal(weir_flow_delete(t, ids[i]), 0);
	}
	qsort(ids, 2000, sizeof(ids[0]), cmp_u64);
	for (int i = 1; i < 2000; i++)
		assert_true(ids[i] != ids[i - 1]);
	v = ids[0];
	assert_int_equal(weir_flow_delete(t, v), -ENOENT);
	assert_int_equal(weir_flow_touch(t, v, 1), -ENOENT);
	assert_int_equal(weir_flow_tcp_update(t, v, false, SYN, 1), -ENOENT);
	assert_int_equal(weir_flow_info_get(t, v, &fi), -ENOENT);
	assert_int_equal(weir_flow_ctx_set(t, v, L_CONNECT, 1, 1), -ENOENT);
	assert_int_equal(weir_flow_ctx_get(t, v, L_CONNECT, 1, &v), -ENOENT);
	assert_int_equal(weir_flow_ctx_remove(t, v, L_CONNECT, 1), -ENOENT);
	assert_int_equal(weir_flow_decision_get(t, v, L_CONNECT, &act, NULL,
						NULL), -ENOENT);
	assert_int_equal(weir_flow_delete(t, 0), -ENOENT);
	assert_int_equal(weir_flow_delete(t, UINT64_MAX), -ENOENT);
	assert_int_equal(stats(t).deleted, 2000);
	weir_flow_table_free(t);
}

/* ---- threads ---------------------------------------------------------------- */

#define MT_THREADS 4
#define MT_ITERS 40000
#define MT_KEYS 512
#define MT_CTX (MT_THREADS * MT_ITERS + 1)

struct mt_ctx {
	uint64_t flow_id;        /* what ctx_set was asked */
	uint16_t slot;
	bool issued;             /* the table took it */
	atomic_int deletions;
	uint64_t del_flow_id;    /* what on_ctx_delete said */
	int del_layer;
	uint16_t del_slot;
};

static struct mt_ctx *mt;
static atomic_uint_fast64_t mt_next_ctx;

static void mt_del(void *arg, uint64_t flow_id, int layer, uint16_t slot,
		   uint64_t ctx)
{
	struct mt_ctx *c = &mt[ctx];

	(void)arg;
	if (atomic_fetch_add(&c->deletions, 1) == 0) {
		c->del_flow_id = flow_id;
		c->del_layer = layer;
		c->del_slot = slot;
	}
}

struct mt_arg {
	struct weir_flow_table *t;
	unsigned seed;
	uint64_t base;
};

static struct weir_flow_key mt_key(unsigned r)
{
	struct weir_flow_key k;
	unsigned n = r % MT_KEYS;

	memset(&k, 0, sizeof(k));
	k.family = AF_INET;
	k.proto = n & 1 ? IPPROTO_TCP : IPPROTO_UDP;
	k.src[0] = 10, k.src[3] = (uint8_t)(n >> 1);
	k.dst[0] = 10, k.dst[3] = 200;
	k.sport = (uint16_t)(1000 + (n >> 1) % 7);
	k.dport = 80;
	if (r & 0x10000)
		weir_flow_key_reverse(&k, &k);
	return k;
}

static void mt_set_ctx(struct weir_flow_table *t, uint64_t id, unsigned r)
{
	uint64_t ctx = atomic_fetch_add(&mt_next_ctx, 1);
	struct mt_ctx *c = &mt[ctx];

	c->flow_id = id;
	c->slot = (uint16_t)(r % 3);
	if (weir_flow_ctx_set(t, id, L_CONNECT, c->slot, ctx) == 0)
		c->issued = true;
}

static void mt_step(struct mt_arg *a, uint64_t now, uint64_t *last)
{
	unsigned r = (unsigned)rand_r(&a->seed);
	unsigned op = r % 100;
	struct weir_flow_key k = mt_key(r >> 8);
	unsigned inf;
	uint64_t id;

	if (op < 60) {
		if (weir_flow_lookup(a->t, &k, now, WEIR_FLOW_CREATE, &id,
				     &inf) < 0)
			return;
		*last = id;
		if (k.proto == IPPROTO_TCP)
			weir_flow_tcp_update(a->t, id, inf & WEIR_FLOWI_REPLY,
					     (uint8_t)(r >> 20), now);
		if (op < 30)
			mt_set_ctx(a->t, id, r >> 4);
	} else if (op < 75) {
		weir_flow_ctx_remove(a->t, *last, L_CONNECT,
				     (uint16_t)((r >> 4) % 3));
	} else if (op < 82) {
		weir_flow_delete(a->t, *last);
	} else if (op < 90) {
		weir_flow_expire(a->t, now, 8);
	} else {
		weir_flow_decision_set(a->t, *last, L_CONNECT,
				       WEIR_ACTION_PERMIT, r, now);
	}
}

static void *mt_worker(void *p)
{
	struct mt_arg *a = p;
	uint64_t last = 0;

	for (uint64_t i = 0; i < MT_ITERS; i++)
		mt_step(a, a->base + i * 1000, &last);
	return NULL;
}

/* Every context the table took was deleted once, with the arguments it
 * was set with; no other was. Returns how many the table took. */
static uint64_t mt_check_contexts(void)
{
	uint64_t issued = 0;

	for (uint64_t c = 1; c < atomic_load(&mt_next_ctx); c++) {
		struct mt_ctx *m = &mt[c];

		if (!m->issued) {
			assert_int_equal(atomic_load(&m->deletions), 0);
			continue;
		}
		issued++;
		assert_int_equal(atomic_load(&m->deletions), 1);
		assert_int_equal(m->del_flow_id, m->flow_id);
		assert_int_equal(m->del_layer, L_CONNECT);
		assert_int_equal(m->del_slot, m->slot);
	}
	return issued;
}

static void threads_balance(void **state)
{
	struct weir_flow_config cfg = { .max_flows = 256,
		.on_ctx_delete = mt_del,
		.timeouts = { .udp = 400000, .tcp_syn = 600000,
			      .tcp_closed = 500000, .tcp_closing = 1000000,
			      .tcp_half_closed = 1500000,
			      .tcp_established = 4000000 } };
	struct weir_flow_table *t = weir_flow_table_new(&cfg);
	pthread_t th[MT_THREADS];
	struct mt_arg args[MT_THREADS];
	struct weir_flow_stats s;

	(void)state;
	mt = calloc(MT_CTX, sizeof(*mt));
	assert_non_null(mt);
	atomic_store(&mt_next_ctx, 1);
	for (int i = 0; i < MT_THREADS; i++) {
		args[i] = (struct mt_arg){ t, (unsigned)i * 7919u + 1,
					   (uint64_t)i * 333 };
		assert_int_equal(pthread_create(&th[i], NULL, mt_worker,
						&args[i]), 0);
	}
	for (int i = 0; i < MT_THREADS; i++)
		pthread_join(th[i], NULL);
	s = stats(t);
	print_message("created %lu active %lu expired %lu deleted %lu "
		      "evicted %lu contexts %lu\n", (unsigned long)s.created,
		      (unsigned long)s.active, (unsigned long)s.expired,
		      (unsigned long)s.deleted, (unsigned long)s.evicted,
		      (unsigned long)s.contexts);
	assert_int_equal(s.created, s.active + s.expired + s.deleted +
			 s.evicted);
	assert_true(s.active <= 256);
	assert_true(s.expired > 0 && s.deleted > 0 && s.evicted > 0);
	weir_flow_table_free(t);
	assert_true(mt_check_contexts() > 1000);
	free(mt);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(both_directions_one_flow),
		cmocka_unit_test(ipv4_ignores_tail_bytes),
		cmocka_unit_test(compartments_and_protocols_separate),
		cmocka_unit_test(lookup_flags_and_bad_input),
		cmocka_unit_test(icmp_echo_request_and_reply),
		cmocka_unit_test(icmpv6_echo_and_other_messages),
		cmocka_unit_test(icmp_error_finds_quoted_flow),
		cmocka_unit_test(key_from_pdesc_errors),
		cmocka_unit_test(tcp_close_tracking),
		cmocka_unit_test(tcp_rst_shortens_life),
		cmocka_unit_test(per_protocol_expiry),
		cmocka_unit_test(touch_and_lookup_refresh),
		cmocka_unit_test(expire_is_bounded),
		cmocka_unit_test(default_timeouts),
		cmocka_unit_test(ctx_set_get_replace_remove),
		cmocka_unit_test(ctx_deleted_when_flow_ends),
		cmocka_unit_test(ctx_callback_may_reenter),
		cmocka_unit_test(decisions_remembered_with_generation),
		cmocka_unit_test(full_table_evicts_oldest),
		cmocka_unit_test(full_table_spares_established),
		cmocka_unit_test(full_table_refuses),
		cmocka_unit_test(bad_config),
		cmocka_unit_test(stale_ids_and_no_reuse),
		cmocka_unit_test(threads_balance),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
