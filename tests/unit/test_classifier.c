/* Property test of the compiled classifier: thousands of random filter
 * sets and packets, classified by an engine using the tuple-space
 * classifier and by one using the linear reference evaluator; every
 * decision must be identical. Values come from small domains so that
 * filters overlap and packets match often. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/callout.h>
#include <weir/engine.h>

#include "engine/tss_table.h"

static uint64_t rng = 88172645463325252ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* Answers from the context: 0 continue, 1 permit, 2 block, +4 hard. */
static void ctx_classify(void *priv, const struct weir_classify_in *in,
			 const struct weir_filter_view *f, uint64_t flow_ctx,
			 struct weir_callout_out *out)
{
	(void)priv, (void)in, (void)flow_ctx;
	out->action = (uint8_t)(f->context & 3);
	if (f->context & 4)
		out->rights = 0;
}

static const uint16_t ports[] = { 22, 53, 80, 443, 1000, 1001, 1002, 8080 };
static const uint8_t protos[] = { 1, 6, 17 };

static void rnd_addr(uint8_t *a, unsigned alen)
{
	memset(a, 0, 16);
	a[0] = 10;
	a[alen - 2] = (uint8_t)rnd(4);
	a[alen - 1] = (uint8_t)rnd(4);
	if (rnd(4) == 0)
		a[1] = (uint8_t)rnd(2);
}

static const uint16_t fields[] = {
	WEIR_FIELD_IP_SRC, WEIR_FIELD_IP_DST, WEIR_FIELD_IP_PROTO,
	WEIR_FIELD_SRC_PORT, WEIR_FIELD_DST_PORT, WEIR_FIELD_TCP_FLAGS,
	WEIR_FIELD_TTL, WEIR_FIELD_MARK };

#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static uint64_t rnd_num(uint16_t field)
{
	switch (field) {
	case WEIR_FIELD_IP_PROTO:
		return protos[rnd(3)];
	case WEIR_FIELD_SRC_PORT:
	case WEIR_FIELD_DST_PORT:
		return ports[rnd(8)];
	case WEIR_FIELD_TCP_FLAGS:
		return rnd(64);
	default:
		return rnd(8);
	}
}

static void rnd_addr_cond(struct weir_cond *c, unsigned alen,
			  struct weir_val *pool, uint32_t *used)
{
	static const uint8_t addr_matches[] = {
		WEIR_MATCH_EQ, WEIR_MATCH_PREFIX, WEIR_MATCH_PREFIX,
		WEIR_MATCH_IN_SET, WEIR_MATCH_NE, WEIR_MATCH_LT, WEIR_MATCH_GE };

	c->match = addr_matches[rnd(sizeof(addr_matches))];
	rnd_addr(c->v.addr, alen);
	c->v.plen = (uint8_t)rnd(alen * 8 + 1);
	if (c->match == WEIR_MATCH_IN_SET) {
		c->set = &pool[*used];
		c->set_len = 1 + rnd(3);
		for (uint32_t i = 0; i < c->set_len; i++) {
			rnd_addr(pool[*used].addr, alen);
			pool[(*used)++].plen = (uint8_t)(alen * 8 - rnd(12));
		}
	}
}

static void rnd_num_cond(struct weir_cond *c, struct weir_val *pool,
			 uint32_t *used)
{
	c->match = (uint8_t)rnd(WEIR_MATCH__COUNT);
	if (c->match == WEIR_MATCH_PREFIX)
		c->match = WEIR_MATCH_EQ;
	c->v.lo = rnd_num(c->field);
	c->v.hi = c->v.lo + rnd(600);
	if (rnd(20) == 0) { /* the whole port space: matches iff present */
		c->v.lo = 0;
		c->v.hi = 65535;
	}
	if (c->match == WEIR_MATCH_IN_SET) {
		c->set = &pool[*used];
		c->set_len = 1 + rnd(4);
		for (uint32_t i = 0; i < c->set_len; i++, (*used)++) {
			struct weir_val *m = &pool[*used];

			m->lo = rnd_num(c->field);
			m->hi = rnd(3) ? 0 : m->lo + rnd(30);
		}
	}
}

/* A random spec; conds and set members come from the caller's pools. */
static void rnd_spec(struct weir_filter_spec *s, int layer, int nsub,
		     struct weir_cond *conds, struct weir_val *pool,
		     uint32_t *used)
{
	unsigned alen = weir_layer_family(layer) == AF_INET6 ? 16 : 4;
	static const uint8_t actions[] = { WEIR_ACTION_PERMIT,
		WEIR_ACTION_BLOCK, WEIR_ACTION_PERMIT, WEIR_ACTION_BLOCK,
		WEIR_ACTION_CALLOUT_UNKNOWN, WEIR_ACTION_CALLOUT_INSPECTION,
		WEIR_ACTION_CALLOUT_TERMINATING };

	memset(s, 0, sizeof(*s));
	s->layer = (uint16_t)layer;
	s->sublayer = (uint16_t)rnd((uint32_t)nsub);
	s->action = actions[rnd(sizeof(actions))];
	s->flags = rnd(5) == 0 ? WEIR_FILTER_CLEAR_ACTION_RIGHT : 0;
	s->weight_kind = (uint8_t)rnd(3);
	s->weight = s->weight_kind == WEIR_WEIGHT_RANGE ? rnd(16) : rnd(20);
	s->context = rnd(8);
	strcpy(s->callout, "ctx");
	s->conds = conds;
	s->ncond = rnd(5);
	for (uint32_t i = 0; i < s->ncond; i++) {
		struct weir_cond *c = &conds[i];

		memset(c, 0, sizeof(*c));
		/* Repeat a field now and then: ORed conditions. */
		c->field = i && rnd(3) == 0 ? conds[i - 1].field
					    : fields[rnd(NFIELDS)];
		if (c->field <= WEIR_FIELD_IP_DST)
			rnd_addr_cond(c, alen, pool, used);
		else
			rnd_num_cond(c, pool, used);
	}
}

static void rnd_packet(struct weir_fields *f, int layer)
{
	unsigned alen = weir_layer_family(layer) == AF_INET6 ? 16 : 4;

	memset(f, 0, sizeof(*f));
	f->family = (uint8_t)weir_layer_family(layer);
	rnd_addr(f->src, alen);
	rnd_addr(f->dst, alen);
	for (size_t i = 0; i < NFIELDS; i++) {
		if (fields[i] > WEIR_FIELD_IP_DST)
			f->num[fields[i]] = rnd_num(fields[i]);
		/* Absent now and then; addresses rarely. */
		if (rnd(fields[i] > WEIR_FIELD_IP_DST ? 6 : 40) == 0)
			continue;
		f->present |= 1ull << fields[i];
	}
}

static struct weir_engine *engine(bool linear, int nsub)
{
	static const struct weir_callout c = { .name = "ctx",
					       .classify = ctx_classify };
	struct weir_engine *e = weir_engine_new();

	e->use_linear = linear;
	weir_callout_register(e, &c);
	for (int s = 1; s < nsub; s++) {
		char name[4] = { 's', (char)('0' + s), 0 };

		weir_sublayer_add(e, name, (uint16_t)(0x8000 + (s % 2 ? 1 : -1) *
						      (int)rnd(100)));
	}
	return e;
}

/* Every filter counted the same matches in both engines: the linear
 * one on the ranks' lines, the compiled one partly in its records (plain
 * permits and blocks, a filter's count spread over its entries). Both
 * added the same filters in the same order, so ids 1..n are the same. */
static void same_hits(struct weir_engine *const *e, uint32_t nfilters)
{
	for (uint64_t id = 1; id <= nfilters; id++) {
		uint64_t h[2];

		assert_int_equal(weir_filter_hits(e[0], id, &h[0]), 0);
		assert_int_equal(weir_filter_hits(e[1], id, &h[1]), 0);
		assert_int_equal(h[1], h[0]);
	}
}

/* How often a filter (not the default) decided, and how often that was
 * not the first matching filter of its sublayer: the test is only
 * meaningful when both are common. */
static uint64_t decided, total;

static void one_round(int layer, uint32_t nfilters, uint32_t npackets)
{
	int nsub = 1 + (int)rnd(3);
	uint32_t seed = rnd(1u << 30);
	struct weir_engine *e[2];

	rng ^= seed;
	for (int k = 0; k < 2; k++) {
		uint64_t saved = rng;
		struct weir_txn *t;

		e[k] = engine(k == 0, nsub);
		t = weir_txn_begin(e[k]);
		for (uint32_t i = 0; i < nfilters; i++) {
			struct weir_cond conds[4];
			struct weir_val pool[16];
			struct weir_filter_spec s;
			uint32_t used = 0;

			rnd_spec(&s, layer, nsub, conds, pool, &used);
			assert_int_equal(weir_txn_add(t, &s, NULL, NULL), 0);
		}
		assert_int_equal(weir_txn_commit(t), 0);
		if (k == 0)
			rng = saved; /* the same filters again */
	}
	for (uint32_t p = 0; p < npackets; p++) {
		struct weir_fields f;
		struct weir_classify_in in = { .layer = layer, .fields = &f };
		struct weir_decision d[2];

		rnd_packet(&f, layer);
		weir_classify(e[0], &in, &d[0]);
		weir_classify(e[1], &in, &d[1]);
		assert_int_equal(d[1].action, d[0].action);
		assert_int_equal(d[1].filter_id, d[0].filter_id);
		assert_int_equal(d[1].hard, d[0].hard);
		assert_int_equal(d[1].veto, d[0].veto);
		assert_int_equal(d[1].by_default, d[0].by_default);
		decided += !d[0].by_default;
		total++;
	}
	same_hits(e, nfilters);
	weir_engine_free(e[0]);
	weir_engine_free(e[1]);
}

static void compiled_equals_linear_v4(void **state)
{
	(void)state;
	decided = total = 0;
	for (int round = 0; round < 400; round++)
		one_round(WEIR_LAYER_IPFORWARD_V4, 1 + rnd(120), 200);
	print_message("%lu of %lu packets decided by a filter\n",
		      (unsigned long)decided, (unsigned long)total);
	assert_true(decided * 3 > total);
}

static void compiled_equals_linear_v6(void **state)
{
	(void)state;
	for (int round = 0; round < 150; round++)
		one_round(WEIR_LAYER_ALE_CONNECT_V6, 1 + rnd(120), 200);
}

static void compiled_equals_linear_large(void **state)
{
	(void)state;
	for (int round = 0; round < 4; round++)
		one_round(WEIR_LAYER_IPFORWARD_V4, 3000, 3000);
}

/* ---- one key, many filters ------------------------------------------ */

static void cond_num(struct weir_cond *c, uint16_t field, uint8_t match,
		     uint64_t lo, uint64_t hi)
{
	memset(c, 0, sizeof(*c));
	c->field = field;
	c->match = match;
	c->v.lo = lo;
	c->v.hi = hi;
}

/* 10.<salt>...<last>: the salt moves the key, and so its home slot. */
static void cond_addr(struct weir_cond *c, uint16_t field, unsigned alen,
		      uint8_t salt, uint8_t last, unsigned plen)
{
	memset(c, 0, sizeof(*c));
	c->field = field;
	c->match = plen == alen * 8 ? WEIR_MATCH_EQ : WEIR_MATCH_PREFIX;
	c->v.addr[0] = 10;
	c->v.addr[1] = salt;
	c->v.addr[alen - 1] = last;
	c->v.plen = (uint8_t)plen;
}

/* Filter i of a family that hashes to a few keys (dst in one /24 or
 * /64, tcp, ports 80-83, 0 and 65535) in two tables, with interleaved
 * ranks: long runs in which the records of several keys mix, whose
 * homes move with the salt and the table size, so that for some they
 * wrap around the table's end.
 * Most filters are inspection callouts (continue), so lookups resume
 * after each match and walk whole runs; residue conditions (ttl) make
 * them skip records. */
static void one_key_spec(struct weir_filter_spec *s, int layer, uint32_t i,
			 uint8_t salt, struct weir_cond *c,
			 struct weir_val *set)
{
	unsigned alen = weir_layer_family(layer) == AF_INET6 ? 16 : 4;
	uint32_t n = 0;

	memset(s, 0, sizeof(*s));
	s->layer = (uint16_t)layer;
	s->action = i % 5 == 4 ? WEIR_ACTION_PERMIT
		    : i % 5 == 2 ? WEIR_ACTION_BLOCK
				 : WEIR_ACTION_CALLOUT_INSPECTION;
	s->weight_kind = WEIR_WEIGHT_EXACT;
	s->weight = (i * 7) % 5; /* ties: rank is not insertion order */
	strcpy(s->callout, "ctx");
	cond_addr(&c[n++], WEIR_FIELD_IP_DST, alen, salt, (uint8_t)(i % 3),
		  i % 4 == 3 ? alen * 8 - 2 : alen * 8);
	cond_num(&c[n++], WEIR_FIELD_IP_PROTO, WEIR_MATCH_EQ, 6, 0);
	if (i % 4 == 2) { /* keyed thrice: 80 and the edges of the range */
		c[n].field = WEIR_FIELD_DST_PORT;
		c[n].match = WEIR_MATCH_IN_SET;
		c[n].set = set;
		c[n++].set_len = 3;
		set[0] = (struct weir_val){ .lo = 80 };
		set[1] = (struct weir_val){ .lo = 0 };
		set[2] = (struct weir_val){ .lo = 65535 };
	} else if (i % 4 != 1) { /* 1: no port, another table */
		cond_num(&c[n++], WEIR_FIELD_DST_PORT, WEIR_MATCH_EQ,
			 80 + i / 4 % 4, 0);
	}
	if (i % 3 == 1)
		cond_num(&c[n++], WEIR_FIELD_TTL, WEIR_MATCH_EQ, i % 4, 0);
	if (i % 7 == 2) /* the whole range: only "the port is there" */
		cond_num(&c[n++], WEIR_FIELD_SRC_PORT, WEIR_MATCH_RANGE, 0,
			 65535);
	if (i % 11 == 3) /* a /0 source: no check but presence */
		cond_addr(&c[n++], WEIR_FIELD_IP_SRC, alen, 0, 0, 0);
	s->conds = c;
	s->ncond = n;
}

static void same_decision(struct weir_engine *const *e, int layer,
			  const struct weir_fields *f)
{
	struct weir_classify_in in = { .layer = layer, .fields = f };
	struct weir_decision d[2];

	weir_classify(e[0], &in, &d[0]);
	weir_classify(e[1], &in, &d[1]);
	assert_int_equal(d[1].action, d[0].action);
	assert_int_equal(d[1].filter_id, d[0].filter_id);
	assert_int_equal(d[1].by_default, d[0].by_default);
	decided += !d[0].by_default;
}

/* Packets around the key: in and out of the prefixes, ports at 0, 80,
 * 65535, ttl values, and fields left out. */
static void one_key_packets(struct weir_engine *const *e, int layer,
			    uint8_t salt)
{
	static const uint16_t dports[] = { 0, 80, 81, 82, 83, 65535 };
	unsigned alen = weir_layer_family(layer) == AF_INET6 ? 16 : 4;
	struct weir_fields f;

	for (uint32_t k = 0; k < 4 * 2 * 6 * 5 * 5; k++) {
		uint32_t x = k;

		memset(&f, 0, sizeof(f));
		f.family = (uint8_t)weir_layer_family(layer);
		f.src[0] = f.dst[0] = 10;
		f.dst[1] = salt;
		f.dst[alen - 1] = (uint8_t)(x % 4);
		x /= 4;
		f.num[WEIR_FIELD_IP_PROTO] = x % 2 ? 6 : 17;
		x /= 2;
		f.num[WEIR_FIELD_DST_PORT] = dports[x % 6];
		f.num[WEIR_FIELD_SRC_PORT] = 1234;
		x /= 6;
		f.num[WEIR_FIELD_TTL] = x % 5;
		x /= 5;
		f.present = 1ull << WEIR_FIELD_IP_SRC |
			    1ull << WEIR_FIELD_IP_DST |
			    1ull << WEIR_FIELD_IP_PROTO |
			    1ull << WEIR_FIELD_SRC_PORT |
			    1ull << WEIR_FIELD_DST_PORT |
			    1ull << WEIR_FIELD_TTL;
		if (x == 1)
			f.present &= ~(1ull << WEIR_FIELD_SRC_PORT |
				       1ull << WEIR_FIELD_DST_PORT);
		else if (x == 2)
			f.present &= ~(1ull << WEIR_FIELD_IP_PROTO);
		else if (x == 3)
			f.present &= ~(1ull << WEIR_FIELD_IP_SRC);
		else if (x == 4)
			f.present &= ~(1ull << WEIR_FIELD_SRC_PORT);
		same_decision(e, layer, &f);
	}
}

static void one_key_round(int layer, uint32_t nfilters, uint8_t salt)
{
	struct weir_engine *e[2];

	for (int k = 0; k < 2; k++) {
		struct weir_txn *t;

		e[k] = engine(k == 0, 1);
		t = weir_txn_begin(e[k]);
		for (uint32_t i = 0; i < nfilters; i++) {
			struct weir_cond c[6];
			struct weir_val set[3];
			struct weir_filter_spec s;

			one_key_spec(&s, layer, i, salt, c, set);
			assert_int_equal(weir_txn_add(t, &s, NULL, NULL), 0);
		}
		assert_int_equal(weir_txn_commit(t), 0);
	}
	one_key_packets(e, layer, salt);
	same_hits(e, nfilters);
	weir_engine_free(e[0]);
	weir_engine_free(e[1]);
}

static void compiled_equals_linear_one_key(void **state)
{
	(void)state;
	decided = 0;
	for (uint32_t n = 1; n <= 64; n++) {
		for (uint8_t salt = 0; salt < 4; salt++) {
			one_key_round(WEIR_LAYER_IPFORWARD_V4, n, salt);
			one_key_round(WEIR_LAYER_ALE_CONNECT_V6, n, salt);
		}
	}
	assert_true(decided > 10000); /* the filters do decide */
}

/* ---- many port ranges on one server ----------------------------------- */

/* Ports worth testing: the edges of every range (lo - 1, lo, hi, hi + 1),
 * collected while the filters are made. */
static uint16_t edge_port[4096];
static uint32_t nedge;

static void edge_add(uint64_t lo, uint64_t hi)
{
	uint64_t v[4] = { lo ? lo - 1 : 0, lo, hi, hi < 65535 ? hi + 1 : hi };

	for (int i = 0; i < 4 && nedge < 4096; i++)
		edge_port[nedge++] = (uint16_t)(v[i] > 65535 ? 65535 : v[i]);
}

static void port_set(struct weir_cond *c, uint16_t field,
		     struct weir_val *set)
{
	memset(c, 0, sizeof(*c));
	c->field = field;
	c->match = WEIR_MATCH_IN_SET;
	c->set = set;
	c->set_len = 2 + rnd(3);
	for (uint32_t k = 0; k < c->set_len; k++) {
		uint64_t lo = rnd(65536), hi = rnd(2) ? lo + rnd(300) : 0;

		set[k] = (struct weir_val){ .lo = lo, .hi = hi > 65535 ? 65535
								: hi };
		edge_add(lo, hi < lo ? lo : set[k].hi);
	}
}

/* Port condition i of the family: adjacent, overlapping and nested
 * ranges, the whole space, single ports, ranges at 0 and at 65535, the
 * comparisons, sets of ranges, block-aligned ranges and wide ones. */
static void range_cond(struct weir_cond *c, uint16_t field, uint32_t i,
		       struct weir_val *set)
{
	static const uint8_t cmps[] = { WEIR_MATCH_LE, WEIR_MATCH_LT,
		WEIR_MATCH_GE, WEIR_MATCH_GT };
	uint64_t k = i / 11, lo, hi;

	switch (i % 11) {
	case 0: /* adjacent 6-port ranges, as bench/packet's policy */
		lo = 30000 + k * 6;
		hi = lo + 5;
		break;
	case 1: /* overlapping */
		lo = 1000 + k * 5;
		hi = lo + 9;
		break;
	case 2: /* nested around 20000 */
		lo = k * 37 > 20000 ? 0 : 20000 - k * 37;
		hi = 20000 + k * 41 > 65535 ? 65535 : 20000 + k * 41;
		break;
	case 3:
		lo = 0;
		hi = 65535;
		break;
	case 4: /* single ports, edges included */
		lo = hi = rnd(4) ? 30000 + rnd(600) : rnd(2) * 65535;
		cond_num(c, field, WEIR_MATCH_EQ, lo, 0);
		edge_add(lo, hi);
		return;
	case 5:
		lo = 0;
		hi = rnd(40);
		break;
	case 6:
		lo = 65535 - rnd(40);
		hi = 65535;
		break;
	case 7: /* <=, <, >=, > */
		lo = rnd(3) ? 30000 + rnd(600) : rnd(2) * 65535;
		cond_num(c, field, cmps[rnd(4)], lo, 0);
		edge_add(lo, lo);
		return;
	case 8:
		port_set(c, field, set);
		return;
	case 9: /* whole blocks of a level, and one port past */
		lo = (uint64_t)rnd(16) << (4 * rnd(4));
		lo <<= rnd(2) ? 0 : 4;
		hi = lo + (1u << (4 * rnd(4))) - rnd(2);
		hi = hi > 65535 ? 65535 : hi < lo ? lo : hi;
		break;
	default: /* wide */
		lo = rnd(65536);
		hi = lo + rnd(20000) > 65535 ? 65535 : lo + rnd(20000);
		break;
	}
	cond_num(c, field, WEIR_MATCH_RANGE, lo, hi);
	edge_add(lo, hi);
}

/* Filter i on the server: dst == server (now and then its /30 or /126),
 * tcp or udp (now and then either), a destination port condition, now
 * and then a source port one and a ttl; inspection callouts among
 * terminating filters, so that lookups resume past matches. */
static void ranges_spec(struct weir_filter_spec *s, int layer, uint32_t i,
			struct weir_cond *c, struct weir_val *set)
{
	unsigned alen = weir_layer_family(layer) == AF_INET6 ? 16 : 4;
	uint32_t n = 0;

	memset(s, 0, sizeof(*s));
	s->layer = (uint16_t)layer;
	s->action = i % 5 == 4 ? WEIR_ACTION_PERMIT
		    : i % 5 == 2 ? WEIR_ACTION_BLOCK
				 : WEIR_ACTION_CALLOUT_INSPECTION;
	s->weight_kind = (uint8_t)(rnd(3) ? WEIR_WEIGHT_EXACT : 0);
	s->weight = rnd(5);
	strcpy(s->callout, "ctx");
	cond_addr(&c[n++], WEIR_FIELD_IP_DST, alen, 7, 2,
		  rnd(8) ? alen * 8 : alen * 8 - 2);
	if (rnd(10))
		cond_num(&c[n++], WEIR_FIELD_IP_PROTO, WEIR_MATCH_EQ,
			 rnd(2) ? 6 : 17, 0);
	range_cond(&c[n++], WEIR_FIELD_DST_PORT, i, set);
	if (rnd(5) == 0)
		range_cond(&c[n++], WEIR_FIELD_SRC_PORT, rnd(1000), set + 4);
	if (rnd(7) == 0)
		cond_num(&c[n++], WEIR_FIELD_TTL, WEIR_MATCH_EQ, rnd(3), 0);
	s->conds = c;
	s->ncond = n;
}

static uint16_t some_port(void)
{
	return rnd(4) ? edge_port[rnd(nedge)] : (uint16_t)rnd(65536);
}

static void ranges_packets(struct weir_engine *const *e, int layer)
{
	unsigned alen = weir_layer_family(layer) == AF_INET6 ? 16 : 4;
	struct weir_fields f;

	for (uint32_t k = 0; k < 3000; k++) {
		memset(&f, 0, sizeof(f));
		f.family = (uint8_t)weir_layer_family(layer);
		f.src[0] = f.dst[0] = 10;
		f.dst[1] = 7;
		f.dst[alen - 1] = (uint8_t)(rnd(8) ? 2 : rnd(5));
		f.num[WEIR_FIELD_IP_PROTO] = rnd(2) ? 6 : 17;
		f.num[WEIR_FIELD_DST_PORT] = some_port();
		f.num[WEIR_FIELD_SRC_PORT] = some_port();
		f.num[WEIR_FIELD_TTL] = rnd(3);
		f.present = 1ull << WEIR_FIELD_IP_SRC |
			    1ull << WEIR_FIELD_IP_DST |
			    1ull << WEIR_FIELD_IP_PROTO |
			    1ull << WEIR_FIELD_SRC_PORT |
			    1ull << WEIR_FIELD_DST_PORT |
			    1ull << WEIR_FIELD_TTL;
		if (rnd(20) == 0)
			f.present &= ~(1ull << WEIR_FIELD_DST_PORT);
		if (rnd(20) == 0)
			f.present &= ~(1ull << WEIR_FIELD_SRC_PORT);
		same_decision(e, layer, &f);
	}
}

static void ranges_round(int layer, uint32_t nfilters)
{
	uint64_t saved = rng;
	struct weir_engine *e[2];

	nedge = 0;
	for (int k = 0; k < 2; k++) {
		struct weir_txn *t;

		rng = saved; /* the same filters twice */
		e[k] = engine(k == 0, 1);
		t = weir_txn_begin(e[k]);
		for (uint32_t i = 0; i < nfilters; i++) {
			struct weir_cond c[5];
			struct weir_val set[8];
			struct weir_filter_spec s;

			ranges_spec(&s, layer, i, c, set);
			assert_int_equal(weir_txn_add(t, &s, NULL, NULL), 0);
		}
		assert_int_equal(weir_txn_commit(t), 0);
		if (k == 0)
			nedge = 0; /* the second pass collects them again */
	}
	ranges_packets(e, layer);
	same_hits(e, nfilters);
	weir_engine_free(e[0]);
	weir_engine_free(e[1]);
}

/* Many filters on one address that differ by their port ranges: the
 * classifier hashes their ranges (tss_crowd.c) once a key holds more
 * than a few; below and above that, the answers must not change. */
static void compiled_equals_linear_port_ranges(void **state)
{
	static const uint32_t sizes[] = { 1, 5, 9, 10, 23, 60, 200, 700 };

	(void)state;
	decided = 0;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (int round = 0; round < 3; round++) {
			ranges_round(WEIR_LAYER_IPFORWARD_V4, sizes[i]);
			ranges_round(WEIR_LAYER_ALE_CONNECT_V6, sizes[i]);
		}
	assert_true(decided > 20000); /* the filters do decide */
}

/* A record's 32-bit count wraps into the rank's: the sum stays exact. */
static void record_count_wraps(void **state)
{
	atomic_uint hits;
	atomic_ullong spill;

	(void)state;
	atomic_init(&hits, UINT32_MAX - 1);
	atomic_init(&spill, 5);
	rec_count(&hits, &spill);
	assert_int_equal(atomic_load(&hits), UINT32_MAX);
	assert_int_equal(atomic_load(&spill), 5);
	rec_count(&hits, &spill);
	rec_count(&hits, &spill);
	assert_int_equal(atomic_load(&hits), 1);
	assert_true(atomic_load(&spill) + atomic_load(&hits) ==
		    5 + (uint64_t)UINT32_MAX - 1 + 3);
}

/* The rank line's own count of filter `id` (not the records'). */
static uint64_t rank_line_hits(struct weir_engine *e, int layer, uint64_t id)
{
	const struct weir__layer_rules *lr = &e->rs->layers[layer];

	for (uint32_t r = 0; r < lr->n; r++)
		if (lr->f[r]->id == id)
			return atomic_load(&lr->ranks[r].hits);
	fail();
	return 0;
}

/* Which matches are decided in the record: plain permits and blocks
 * whose ids fit the 2^32 window holding most of the layer's ids; a hard
 * filter, a callout and an id outside the window take the rank line.
 * After one large explicit id, the filters added later (larger ids
 * still) are the many, and the window follows them. */
static void decisions_in_records(void **state)
{
	static const struct weir_callout c = { .name = "ctx",
					       .classify = ctx_classify };
	struct weir_cond cond = { .field = WEIR_FIELD_DST_PORT,
				  .match = WEIR_MATCH_EQ };
	struct weir_filter_spec s = { .layer = WEIR_LAYER_IPFORWARD_V4,
				      .conds = &cond, .ncond = 1 };
	struct weir_engine *e = weir_engine_new();
	struct weir_txn *t = weir_txn_begin(e);
	uint64_t id[8], hits;
	struct weir_fields f;
	struct weir_classify_in in = { .layer = s.layer, .fields = &f };
	struct weir_decision d;

	(void)state;
	weir_callout_register(e, &c);
	for (int i = 0; i < 8; i++) {
		cond.v.lo = 100 + (uint64_t)i;
		s.action = i == 2 ? WEIR_ACTION_CALLOUT_TERMINATING
			   : i % 2 ? WEIR_ACTION_BLOCK : WEIR_ACTION_PERMIT;
		s.flags = i == 1 ? WEIR_FILTER_CLEAR_ACTION_RIGHT : 0;
		s.context = 1; /* the callout permits */
		strcpy(s.callout, "ctx");
		s.id = i == 3 ? 1ull << 40 : 0;
		assert_int_equal(weir_txn_add(t, &s, &id[i], NULL), 0);
	}
	assert_int_equal(weir_txn_commit(t), 0);
	assert_true(id[4] > 1ull << 40); /* ids after the explicit one */
	memset(&f, 0, sizeof(f));
	f.family = AF_INET;
	f.present = 1ull << WEIR_FIELD_DST_PORT;
	for (int i = 0; i < 8; i++) {
		f.num[WEIR_FIELD_DST_PORT] = 100 + (uint64_t)i;
		weir_classify(e, &in, &d);
		assert_true(d.filter_id == id[i]);
		assert_int_equal(weir_filter_hits(e, id[i], &hits), 0);
		assert_int_equal(hits, 1);
	}
	/* Ids 1..3 (0, 1, 2) and 2^40.. (3..7): the window holds 3..7. */
	assert_int_equal(rank_line_hits(e, s.layer, id[0]), 1);
	assert_int_equal(rank_line_hits(e, s.layer, id[1]), 1); /* hard */
	assert_int_equal(rank_line_hits(e, s.layer, id[2]), 1); /* callout */
	for (int i = 3; i < 8; i++)
		assert_int_equal(rank_line_hits(e, s.layer, id[i]), 0);
	weir_engine_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(compiled_equals_linear_v4),
		cmocka_unit_test(compiled_equals_linear_v6),
		cmocka_unit_test(compiled_equals_linear_large),
		cmocka_unit_test(compiled_equals_linear_one_key),
		cmocka_unit_test(compiled_equals_linear_port_ranges),
		cmocka_unit_test(record_count_wraps),
		cmocka_unit_test(decisions_in_records),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
