/* Unit tests for the filter engine: WFP arbitration written as tables,
 * match types, transactions (notify refusal rolls back), callouts,
 * defaults, weights and hit counters. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/callout.h>
#include <weir/engine.h>
#include <weir/flow.h>

#define L4 WEIR_LAYER_IPFORWARD_V4

/* ---- a callout that answers what its filter's context says ----------- */

#define C_PERMIT 0x01u
#define C_BLOCK 0x02u
#define C_HARD 0x100u   /* clear the write right */
#define C_ABSORB 0x200u

static unsigned last_rights;
static unsigned calls;

static void fixed_classify(void *priv, const struct weir_classify_in *in,
			   const struct weir_filter_view *f, uint64_t flow_ctx,
			   struct weir_callout_out *out)
{
	(void)priv, (void)in, (void)flow_ctx;
	calls++;
	last_rights = out->rights;
	out->action = f->context & C_PERMIT ? WEIR_ACTION_PERMIT
		      : f->context & C_BLOCK ? WEIR_ACTION_BLOCK
		      : WEIR_ACTION_CONTINUE;
	if (f->context & C_HARD)
		out->rights &= (uint8_t)~WEIR_RIGHT_ACTION_WRITE;
	if (f->context & C_ABSORB)
		out->flags |= WEIR_CLASSIFY_ABSORB;
}

static const struct weir_callout fixed = {
	.name = "fixed", .classify = fixed_classify };

/* ---- helpers ----------------------------------------------------------- */

static struct weir_fields pkt_fields(const char *src, const char *dst,
				     uint8_t proto, uint16_t sport,
				     uint16_t dport)
{
	struct weir_fields f = { .family = AF_INET };

	inet_pton(AF_INET, src, f.src);
	inet_pton(AF_INET, dst, f.dst);
	f.num[WEIR_FIELD_IP_PROTO] = proto;
	f.num[WEIR_FIELD_SRC_PORT] = sport;
	f.num[WEIR_FIELD_DST_PORT] = dport;
	f.present = 1u << WEIR_FIELD_IP_SRC | 1u << WEIR_FIELD_IP_DST |
		    1u << WEIR_FIELD_IP_PROTO | 1u << WEIR_FIELD_SRC_PORT |
		    1u << WEIR_FIELD_DST_PORT;
	return f;
}

static struct weir_decision classify(struct weir_engine *e,
				     const struct weir_fields *f)
{
	struct weir_classify_in in = { .layer = L4, .fields = f };
	struct weir_decision d;

	assert_int_equal(weir_classify(e, &in, &d), 0);
	return d;
}

/* A match-all filter in `sub`: plain permit/block, or the fixed callout
 * answering `ctx`. Returns its id. */
static uint64_t add(struct weir_engine *e, int sub, uint8_t action,
		    uint32_t flags, uint64_t ctx, uint64_t weight)
{
	struct weir_filter_spec s = { .layer = L4, .sublayer = (uint16_t)sub,
		.action = action, .flags = flags, .context = ctx,
		.weight_kind = WEIR_WEIGHT_EXACT, .weight = weight };
	struct weir_txn *t = weir_txn_begin(e);
	uint64_t id;

	strcpy(s.callout, "fixed");
	assert_int_equal(weir_txn_add(t, &s, &id, NULL), 0);
	assert_int_equal(weir_txn_commit(t), 0);
	return id;
}

/* ---- WFP arbitration as tables ---------------------------------------- */

/* One sublayer's deciding filter. */
struct sl {
	uint8_t kind;      /* 0 none, 'P' permit, 'B' block, 'c' callout */
	bool hard;
	uint64_t ctx;      /* callout answer */
};

struct arb_case {
	const char *name;
	struct sl s[3];    /* highest priority first */
	uint8_t want;      /* WEIR_ACTION_* */
	bool veto;
	bool hard;
	int decider;       /* index of the deciding sublayer, -1 default */
};

#define P(h) { 'P', h, 0 }
#define B(h) { 'B', h, 0 }
#define CB(h) { 'c', false, C_BLOCK | ((h) ? C_HARD : 0) }
#define CP(h) { 'c', false, C_PERMIT | ((h) ? C_HARD : 0) }
#define NONE { 0, false, 0 }
#define PERMIT WEIR_ACTION_PERMIT
#define BLOCK WEIR_ACTION_BLOCK

/* The rules of WFP's "Filter Arbitration" page: block overrides permit;
 * a soft action can be overridden by a lower sublayer, a hard one only
 * by a callout veto (block on a hard permit); a hard block is final. */
static const struct arb_case arb[] = {
	{ "soft permit, then block: block overrides permit",
	  { P(0), B(0), NONE }, BLOCK, false, false, 1 },
	{ "soft block, then soft permit: block stays",
	  { B(0), P(0), NONE }, BLOCK, false, false, 0 },
	{ "soft block, then hard permit: soft block is overridden",
	  { B(0), P(1), NONE }, PERMIT, false, true, 1 },
	{ "hard permit, then block filter: hard permit holds",
	  { P(1), B(0), NONE }, PERMIT, false, true, 0 },
	{ "hard permit, then hard block filter: only a callout may veto",
	  { P(1), B(1), NONE }, PERMIT, false, true, 0 },
	{ "hard permit, then callout block: veto",
	  { P(1), CB(0), NONE }, BLOCK, true, true, 1 },
	{ "hard block is final",
	  { B(1), P(1), CP(1) }, BLOCK, false, true, 0 },
	{ "soft permit, then hard block",
	  { P(0), B(1), NONE }, BLOCK, false, true, 1 },
	{ "callout hard permit, later block filter ignored",
	  { CP(1), B(0), NONE }, PERMIT, false, true, 0 },
	{ "callout soft permit, later block overrides",
	  { CP(0), B(0), NONE }, BLOCK, false, false, 1 },
	{ "permits only", { P(0), P(0), P(0) }, PERMIT, false, false, 2 },
	{ "empty sublayers in between", { NONE, B(0), NONE },
	  BLOCK, false, false, 1 },
	{ "nothing matches: layer default", { NONE, NONE, NONE },
	  PERMIT, false, false, -1 },
};

static void arbitration_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(arb) / sizeof(arb[0]); i++) {
		const struct arb_case *c = &arb[i];
		struct weir_engine *e = weir_engine_new();
		struct weir_fields f = pkt_fields("10.0.0.1", "10.0.0.2", 6, 1, 2);
		uint64_t ids[3] = { 0 };
		struct weir_decision d;

		print_message("case: %s\n", c->name);
		weir_callout_register(e, &fixed);
		for (int s = 0; s < 3; s++) {
			char name[8] = { 's', (char)('0' + s), 0 };
			int sub = weir_sublayer_add(e, name,
						    (uint16_t)(0xf000 - s));
			const struct sl *x = &c->s[s];

			assert_true(sub > 0);
			if (x->kind == 'P' || x->kind == 'B')
				ids[s] = add(e, sub, x->kind == 'P' ? PERMIT : BLOCK,
					     x->hard ? WEIR_FILTER_CLEAR_ACTION_RIGHT
						     : 0, 0, 1);
			else if (x->kind == 'c')
				ids[s] = add(e, sub,
					     WEIR_ACTION_CALLOUT_TERMINATING, 0,
					     x->ctx, 1);
		}
		d = classify(e, &f);
		assert_int_equal(d.action, c->want);
		assert_int_equal(d.veto, c->veto);
		assert_int_equal(d.hard, c->hard);
		assert_int_equal(d.by_default, c->decider < 0);
		assert_int_equal(d.filter_id, c->decider < 0 ? 0
					       : ids[c->decider]);
		weir_engine_free(e);
	}
}

/* Inside one sublayer: highest weight first, continue falls through. */
static void sublayer_order_and_continue(void **state)
{
	struct weir_engine *e = weir_engine_new();
	struct weir_fields f = pkt_fields("10.0.0.1", "10.0.0.2", 6, 1, 2);
	uint64_t low, mid;
	struct weir_decision d;

	(void)state;
	weir_callout_register(e, &fixed);
	low = add(e, 0, BLOCK, 0, 0, 10);
	mid = add(e, 0, PERMIT, 0, 0, 20);
	add(e, 0, WEIR_ACTION_CALLOUT_UNKNOWN, 0, 0, 30); /* continues */
	d = classify(e, &f);
	assert_int_equal(d.action, PERMIT);
	assert_int_equal(d.filter_id, mid);
	/* An inspection callout's block is only advice. */
	add(e, 0, WEIR_ACTION_CALLOUT_INSPECTION, 0, C_BLOCK, 40);
	d = classify(e, &f);
	assert_int_equal(d.filter_id, mid);
	/* A terminating callout that does not decide blocks. */
	uint64_t term = add(e, 0, WEIR_ACTION_CALLOUT_TERMINATING, 0, 0, 50);
	d = classify(e, &f);
	assert_int_equal(d.action, BLOCK);
	assert_int_equal(d.filter_id, term);
	(void)low;
	weir_engine_free(e);
}

static void callout_rights_absorb_and_missing(void **state)
{
	struct weir_engine *e = weir_engine_new();
	struct weir_fields f = pkt_fields("10.0.0.1", "10.0.0.2", 6, 1, 2);
	int hi = weir_sublayer_add(e, "hi", 0xf000);
	struct weir_decision d;

	(void)state;
	/* Filters of an unregistered callout block... */
	uint64_t id = add(e, 0, WEIR_ACTION_CALLOUT_TERMINATING, 0, C_PERMIT, 1);
	d = classify(e, &f);
	assert_int_equal(d.action, BLOCK);
	assert_int_equal(d.filter_id, id);
	/* ...until it registers, and again after it leaves. */
	assert_true(weir_callout_register(e, &fixed) > 0);
	assert_int_equal(weir_callout_register(e, &fixed), -EEXIST);
	d = classify(e, &f);
	assert_int_equal(d.action, PERMIT);
	assert_int_equal(last_rights, WEIR_RIGHT_ACTION_WRITE);
	/* Below a hard permit the callout gets no write right. */
	add(e, hi, PERMIT, WEIR_FILTER_CLEAR_ACTION_RIGHT, 0, 1);
	d = classify(e, &f);
	assert_int_equal(last_rights, 0);
	assert_int_equal(weir_callout_unregister(e, "fixed"), 0);
	assert_int_equal(weir_callout_unregister(e, "fixed"), -ENOENT);
	weir_engine_free(e);

	/* Permit-if-unregistered; absorb ends everything. */
	e = weir_engine_new();
	hi = weir_sublayer_add(e, "hi", 0xf000);
	add(e, 0, WEIR_ACTION_CALLOUT_TERMINATING,
	    WEIR_FILTER_PERMIT_IF_NO_CALLOUT, C_BLOCK, 1);
	d = classify(e, &f);
	assert_int_equal(d.action, PERMIT);
	weir_callout_register(e, &fixed);
	id = add(e, hi, WEIR_ACTION_CALLOUT_INSPECTION, 0, C_ABSORB, 1);
	calls = 0;
	d = classify(e, &f);
	assert_int_equal(d.action, BLOCK);
	assert_true(d.absorb);
	assert_int_equal(d.filter_id, id);
	assert_int_equal(calls, 1); /* the lower sublayer never ran */
	weir_engine_free(e);
}

static void defaults_and_disabled(void **state)
{
	struct weir_engine *e = weir_engine_new();
	struct weir_fields f = pkt_fields("10.0.0.1", "10.0.0.2", 6, 1, 2);
	struct weir_decision d;

	(void)state;
	d = classify(e, &f);
	assert_int_equal(d.action, PERMIT);
	assert_true(d.by_default);
	assert_int_equal(weir_engine_set_default(e, L4, BLOCK), 0);
	assert_int_equal(weir_engine_set_default(e, 99, BLOCK), -EINVAL);
	assert_int_equal(weir_engine_set_default(e, L4, 7), -EINVAL);
	d = classify(e, &f);
	assert_int_equal(d.action, BLOCK);
	add(e, 0, PERMIT, WEIR_FILTER_DISABLED, 0, 1);
	d = classify(e, &f);
	assert_true(d.by_default);
	weir_engine_free(e);
}

/* ---- match types --------------------------------------------------- */

struct mcase {
	const char *name;
	struct weir_cond c;
	bool want;          /* against 10.1.2.3:1234 -> 192.168.7.9:80 tcp */
};

static const struct weir_val ports_set[] = {
	{ .lo = 22, .hi = 0 }, { .lo = 70, .hi = 90 } };
static const struct weir_val nets_set[] = {
	{ .addr = { 172, 16 }, .plen = 12 }, { .addr = { 10 }, .plen = 8 } };

#define DPORT(m, l, h) { .field = WEIR_FIELD_DST_PORT, .match = m, \
			 .v = { .lo = l, .hi = h } }
static const struct mcase mcases[] = {
	{ "eq", DPORT(WEIR_MATCH_EQ, 80, 0), true },
	{ "eq other", DPORT(WEIR_MATCH_EQ, 81, 0), false },
	{ "ne", DPORT(WEIR_MATCH_NE, 81, 0), true },
	{ "lt", DPORT(WEIR_MATCH_LT, 80, 0), false },
	{ "le", DPORT(WEIR_MATCH_LE, 80, 0), true },
	{ "gt", DPORT(WEIR_MATCH_GT, 79, 0), true },
	{ "ge", DPORT(WEIR_MATCH_GE, 81, 0), false },
	{ "range", DPORT(WEIR_MATCH_RANGE, 80, 80), true },
	{ "range out", DPORT(WEIR_MATCH_RANGE, 81, 90), false },
	{ "set", { .field = WEIR_FIELD_DST_PORT, .match = WEIR_MATCH_IN_SET,
		   .set = ports_set, .set_len = 2 }, true },
	{ "set miss", { .field = WEIR_FIELD_SRC_PORT,
			.match = WEIR_MATCH_IN_SET, .set = ports_set,
			.set_len = 2 }, false },
	{ "prefix", { .field = WEIR_FIELD_IP_DST, .match = WEIR_MATCH_PREFIX,
		      .v = { .addr = { 192, 168, 0, 0 }, .plen = 16 } }, true },
	{ "prefix /23 odd bits", { .field = WEIR_FIELD_IP_DST,
		.match = WEIR_MATCH_PREFIX,
		.v = { .addr = { 192, 168, 6, 0 }, .plen = 23 } }, true },
	{ "prefix /24 miss", { .field = WEIR_FIELD_IP_DST,
		.match = WEIR_MATCH_PREFIX,
		.v = { .addr = { 192, 168, 6, 0 }, .plen = 24 } }, false },
	{ "addr eq", { .field = WEIR_FIELD_IP_SRC, .match = WEIR_MATCH_EQ,
		       .v = { .addr = { 10, 1, 2, 3 } } }, true },
	{ "addr gt", { .field = WEIR_FIELD_IP_SRC, .match = WEIR_MATCH_GT,
		       .v = { .addr = { 10, 1, 2, 2 } } }, true },
	{ "addr lt", { .field = WEIR_FIELD_IP_SRC, .match = WEIR_MATCH_LT,
		       .v = { .addr = { 10, 1, 2, 2 } } }, false },
	{ "addr set", { .field = WEIR_FIELD_IP_SRC, .match = WEIR_MATCH_IN_SET,
			.set = nets_set, .set_len = 2 }, true },
	{ "flags all", { .field = WEIR_FIELD_TCP_FLAGS,
			 .match = WEIR_MATCH_FLAGS_ALL, .v = { .lo = 0x12 } },
	  true },
	{ "flags all miss", { .field = WEIR_FIELD_TCP_FLAGS,
			      .match = WEIR_MATCH_FLAGS_ALL,
			      .v = { .lo = 0x13 } }, false },
	{ "flags any", { .field = WEIR_FIELD_TCP_FLAGS,
			 .match = WEIR_MATCH_FLAGS_ANY, .v = { .lo = 0x03 } },
	  true },
	{ "flags none", { .field = WEIR_FIELD_TCP_FLAGS,
			  .match = WEIR_MATCH_FLAGS_NONE, .v = { .lo = 0x04 } },
	  true },
	{ "absent field never matches", { .field = WEIR_FIELD_MARK,
		.match = WEIR_MATCH_NE, .v = { .lo = 5 } }, false },
	{ "iifname exact", { .field = WEIR_FIELD_IF_IN_NAME,
		.match = WEIR_MATCH_EQ, .v = { .bytes = "veth0", .len = 5 } },
	  true },
	{ "iifname wildcard", { .field = WEIR_FIELD_IF_IN_NAME,
		.match = WEIR_MATCH_EQ, .v = { .bytes = "veth*", .len = 5 } },
	  true },
	{ "iifname ne", { .field = WEIR_FIELD_IF_IN_NAME,
		.match = WEIR_MATCH_NE, .v = { .bytes = "eth0", .len = 4 } },
	  true },
	{ "packet[9] == 6", { .field = WEIR_FIELD_PACKET, .width = 1,
		.offset = 9, .match = WEIR_MATCH_EQ, .v = { .lo = 6 } }, true },
	{ "packet16[22] == 80", { .field = WEIR_FIELD_PACKET, .width = 2,
		.offset = 22, .match = WEIR_MATCH_EQ, .v = { .lo = 80 } }, true },
	{ "payload bytes", { .field = WEIR_FIELD_PAYLOAD, .width = 0,
		.offset = 0, .match = WEIR_MATCH_EQ,
		.v = { .bytes = "GET ", .len = 4 } }, true },
	{ "payload past the end", { .field = WEIR_FIELD_PAYLOAD, .width = 4,
		.offset = 100, .match = WEIR_MATCH_NE, .v = { .lo = 0 } },
	  false },
};

static void match_types(void **state)
{
	static const uint8_t pkt[] = {
		0x45, 0, 0, 44, 0, 0, 0, 0, 64, 6, 0, 0, 10, 1, 2, 3,
		192, 168, 7, 9, 0x04, 0xd2, 0, 80, 0, 0, 0, 0, 0, 0, 0, 0,
		0x50, 0x12, 0, 0, 0, 0, 0, 0, 'G', 'E', 'T', ' ' };
	struct weir_fields f = pkt_fields("10.1.2.3", "192.168.7.9", 6, 1234, 80);

	(void)state;
	f.num[WEIR_FIELD_TCP_FLAGS] = 0x12;
	f.present |= 1u << WEIR_FIELD_TCP_FLAGS | 1u << WEIR_FIELD_IF_IN_NAME |
		     1u << WEIR_FIELD_PACKET | 1u << WEIR_FIELD_PAYLOAD;
	strcpy(f.if_in_name, "veth0");
	f.packet = pkt;
	f.packet_len = sizeof(pkt);
	f.payload_off = 40;
	for (size_t i = 0; i < sizeof(mcases) / sizeof(mcases[0]); i++) {
		struct weir_engine *e = weir_engine_new();
		struct weir_filter_spec s = { .layer = L4,
			.action = BLOCK, .conds = &mcases[i].c, .ncond = 1 };
		struct weir_txn *t = weir_txn_begin(e);
		const char *why = NULL;

		print_message("match: %s\n", mcases[i].name);
		assert_int_equal(weir_txn_add(t, &s, NULL, &why), 0);
		assert_int_equal(weir_txn_commit(t), 0);
		assert_int_equal(classify(e, &f).action == BLOCK,
				 mcases[i].want);
		weir_engine_free(e);
	}
}

/* Same field ORed, different fields ANDed. */
static void or_within_and_across(void **state)
{
	struct weir_cond c[3] = {
		DPORT(WEIR_MATCH_EQ, 22, 0), DPORT(WEIR_MATCH_EQ, 23, 0),
		{ .field = WEIR_FIELD_IP_DST, .match = WEIR_MATCH_PREFIX,
		  .v = { .addr = { 10 }, .plen = 8 } } };
	struct weir_filter_spec s = { .layer = L4, .action = BLOCK,
				      .conds = c, .ncond = 3 };
	struct weir_engine *e = weir_engine_new();
	struct weir_txn *t = weir_txn_begin(e);
	struct weir_fields f;

	(void)state;
	assert_int_equal(weir_txn_add(t, &s, NULL, NULL), 0);
	assert_int_equal(weir_txn_commit(t), 0);
	f = pkt_fields("1.1.1.1", "10.9.9.9", 6, 5, 23);
	assert_int_equal(classify(e, &f).action, BLOCK);
	f = pkt_fields("1.1.1.1", "10.9.9.9", 6, 5, 22);
	assert_int_equal(classify(e, &f).action, BLOCK);
	f = pkt_fields("1.1.1.1", "10.9.9.9", 6, 5, 24);
	assert_int_equal(classify(e, &f).action, PERMIT);
	f = pkt_fields("1.1.1.1", "11.9.9.9", 6, 5, 23);
	assert_int_equal(classify(e, &f).action, PERMIT);
	weir_engine_free(e);
}

/* ---- transactions and callout notify ------------------------------- */

static int refuse_ctx;
static int adds, deletes;

static int counting_notify(void *priv, enum weir_notify ev,
			   const struct weir_filter_view *f)
{
	(void)priv;
	if (ev == WEIR_NOTIFY_ADD) {
		if (f->context == (uint64_t)refuse_ctx)
			return -EINVAL;
		adds++;
	} else {
		deletes++;
	}
	return 0;
}

static void txn_notify_and_rollback(void **state)
{
	struct weir_callout c = fixed;
	struct weir_engine *e = weir_engine_new();
	struct weir_filter_spec s = { .layer = L4,
		.action = WEIR_ACTION_CALLOUT_TERMINATING, .context = C_BLOCK };
	struct weir_fields f = pkt_fields("10.0.0.1", "10.0.0.2", 6, 1, 2);
	struct weir_txn *t;
	uint64_t id1, id2;

	(void)state;
	c.notify = counting_notify;
	weir_callout_register(e, &c);
	strcpy(s.callout, "fixed");
	refuse_ctx = 7;
	t = weir_txn_begin(e);
	assert_int_equal(weir_txn_add(t, &s, &id1, NULL), 0);
	assert_int_equal(weir_txn_commit(t), 0);
	assert_int_equal(adds, 1);
	assert_int_equal(classify(e, &f).action, BLOCK);
	/* A refused filter rejects the whole transaction, and the callout
	 * hears DELETE for what it had accepted in it. */
	t = weir_txn_begin(e);
	weir_txn_clear(t);
	s.context = C_PERMIT;
	assert_int_equal(weir_txn_add(t, &s, &id2, NULL), 0);
	s.context = 7;
	assert_int_equal(weir_txn_add(t, &s, NULL, NULL), 0);
	assert_int_equal(weir_txn_commit(t), -EINVAL);
	assert_int_equal(adds, 2);
	assert_int_equal(deletes, 1);
	assert_int_equal(classify(e, &f).action, BLOCK); /* old policy */
	assert_int_equal(classify(e, &f).filter_id, id1);
	/* Deleting notifies once. */
	t = weir_txn_begin(e);
	assert_int_equal(weir_txn_delete(t, id1), 0);
	assert_int_equal(weir_txn_delete(t, id1), -ENOENT);
	assert_int_equal(weir_txn_commit(t), 0);
	assert_int_equal(deletes, 2);
	assert_true(classify(e, &f).by_default);
	weir_engine_free(e);
}

static void txn_checks_and_ids(void **state)
{
	struct weir_engine *e = weir_engine_new();
	struct weir_cond bad = { .field = WEIR_FIELD_IF_OUT,
				 .match = WEIR_MATCH_EQ };
	struct weir_filter_spec s = { .layer = WEIR_LAYER_ALE_ACCEPT_V4,
				      .action = BLOCK, .conds = &bad,
				      .ncond = 1 };
	struct weir_txn *t = weir_txn_begin(e);
	const char *why = NULL;
	uint64_t id;

	(void)state;
	assert_int_equal(weir_txn_add(t, &s, NULL, &why), -EINVAL);
	assert_string_equal(why, "field not offered by this layer");
	s.ncond = 0;
	s.sublayer = 9;
	assert_int_equal(weir_txn_add(t, &s, NULL, &why), -EINVAL);
	assert_string_equal(why, "unknown sublayer");
	s.sublayer = 0;
	s.id = 500;
	assert_int_equal(weir_txn_add(t, &s, &id, NULL), 0);
	assert_int_equal(id, 500);
	assert_int_equal(weir_txn_add(t, &s, NULL, &why), -EEXIST);
	s.id = 0;
	assert_int_equal(weir_txn_add(t, &s, &id, NULL), 0);
	assert_true(id > 500);
	s.action = WEIR_ACTION_CALLOUT_INSPECTION;
	assert_int_equal(weir_txn_add(t, &s, NULL, &why), -EINVAL);
	weir_txn_abort(t);
	assert_int_equal(weir_sublayer_add(e, "x", 1), 1);
	assert_int_equal(weir_sublayer_add(e, "x", 1), -EEXIST);
	assert_int_equal(weir_sublayer_find(e, "x"), 1);
	assert_int_equal(weir_sublayer_find(e, "default"), 0);
	assert_int_equal(weir_sublayer_find(e, "y"), -ENOENT);
	weir_engine_free(e);
}

static uint64_t new_flow(struct weir_engine *e, uint16_t sport);

/* Automatic weights put more specific filters first. */
static void auto_weights_and_hits(void **state)
{
	struct weir_cond broad = { .field = WEIR_FIELD_IP_DST,
		.match = WEIR_MATCH_PREFIX, .v = { .addr = { 10 }, .plen = 8 } };
	struct weir_cond narrow = { .field = WEIR_FIELD_IP_DST,
		.match = WEIR_MATCH_EQ, .v = { .addr = { 10, 0, 0, 2 } } };
	struct weir_filter_spec a = { .layer = L4, .action = BLOCK,
				      .conds = &broad, .ncond = 1 };
	struct weir_filter_spec b = { .layer = L4, .action = PERMIT,
				      .conds = &narrow, .ncond = 1 };
	struct weir_engine *e = weir_engine_new();
	struct weir_fields f = pkt_fields("10.0.0.1", "10.0.0.2", 6, 1, 2);
	struct weir_txn *t = weir_txn_begin(e);
	uint64_t ida, idb, hits;

	(void)state;
	weir_txn_add(t, &a, &ida, NULL);  /* added first, but broader */
	weir_txn_add(t, &b, &idb, NULL);
	assert_int_equal(weir_txn_commit(t), 0);
	assert_int_equal(classify(e, &f).filter_id, idb);
	classify(e, &f);
	assert_int_equal(weir_filter_hits(e, idb, &hits), 0);
	assert_int_equal(hits, 2);
	assert_int_equal(weir_filter_hits(e, ida, &hits), 0);
	assert_int_equal(hits, 0);
	assert_int_equal(weir_filter_hits(e, 12345, &hits), -ENOENT);
	{
		struct weir_filter_info info;

		assert_int_equal(weir_filter_get(e, idb, &info), 0);
		assert_int_equal(info.hits, 2);
		assert_int_equal(info.action, PERMIT);
		assert_int_equal(info.layer, L4);
		assert_true(info.weight > 0);
		assert_int_equal(weir_filter_get(e, 999, &info), -ENOENT);
	}
	weir_engine_free(e);
}

/* A plain filter's decision and count live in the classifier's record,
 * which holds 32-bit ids; a larger id and a hard permit take the rank's
 * line instead. All three give their ids and counts. */
static void big_ids_and_hard_filters(void **state)
{
	struct weir_cond c[3] = {
		{ .field = WEIR_FIELD_IP_DST, .match = WEIR_MATCH_EQ,
		  .v = { .addr = { 10, 0, 0, 2 } } },
		{ .field = WEIR_FIELD_IP_DST, .match = WEIR_MATCH_EQ,
		  .v = { .addr = { 10, 0, 0, 3 } } },
		{ .field = WEIR_FIELD_IP_DST, .match = WEIR_MATCH_EQ,
		  .v = { .addr = { 10, 0, 0, 4 } } } };
	struct weir_filter_spec big = { .layer = L4, .action = BLOCK,
		.conds = &c[0], .ncond = 1, .id = 1ull << 40 };
	struct weir_filter_spec hard = { .layer = L4, .action = PERMIT,
		.conds = &c[1], .ncond = 1,
		.flags = WEIR_FILTER_CLEAR_ACTION_RIGHT };
	struct weir_filter_spec plain = { .layer = L4, .action = PERMIT,
		.conds = &c[2], .ncond = 1 };
	struct weir_fields f2 = pkt_fields("10.0.0.1", "10.0.0.2", 6, 1, 2);
	struct weir_fields f3 = pkt_fields("10.0.0.1", "10.0.0.3", 6, 1, 2);
	struct weir_fields f4 = pkt_fields("10.0.0.1", "10.0.0.4", 6, 1, 2);
	struct weir_engine *e = weir_engine_new();
	struct weir_txn *t = weir_txn_begin(e);
	uint64_t idb, idh, idp, hits;
	struct weir_decision d;

	(void)state;
	/* big last: ids chosen after it would be larger still. */
	assert_int_equal(weir_txn_add(t, &plain, &idp, NULL), 0);
	assert_int_equal(weir_txn_add(t, &hard, &idh, NULL), 0);
	assert_int_equal(weir_txn_add(t, &big, &idb, NULL), 0);
	assert_int_equal(weir_txn_commit(t), 0);
	assert_true(idp <= UINT32_MAX);
	assert_true(idb == 1ull << 40);
	d = classify(e, &f2);
	assert_true(d.filter_id == 1ull << 40);
	assert_int_equal(d.action, BLOCK);
	d = classify(e, &f3);
	assert_int_equal(d.filter_id, idh);
	assert_true(d.hard);
	d = classify(e, &f4);
	assert_int_equal(d.filter_id, idp);
	assert_false(d.hard);
	classify(e, &f4);
	assert_int_equal(weir_filter_hits(e, idb, &hits), 0);
	assert_int_equal(hits, 1);
	assert_int_equal(weir_filter_hits(e, idh, &hits), 0);
	assert_int_equal(hits, 1);
	assert_int_equal(weir_filter_hits(e, idp, &hits), 0);
	assert_int_equal(hits, 2);
	weir_engine_free(e);
}

/* Lookups by id (byid.c) find every committed filter of every layer,
 * disabled ones included, and nothing deleted, across commits. */
static void filters_found_by_id(void **state)
{
	struct weir_filter_spec s = { .action = PERMIT };
	static uint64_t ids[3000];
	struct weir_engine *e = weir_engine_new();
	struct weir_filter_info fi;
	struct weir_txn *t;

	(void)state;
	for (int round = 0; round < 3; round++) {
		t = weir_txn_begin(e);
		for (int i = 0; i < 1000; i++) {
			s.layer = i % 2 ? L4 : WEIR_LAYER_OUTBOUND_IPPACKET_V6;
			s.flags = i % 7 ? 0 : WEIR_FILTER_DISABLED;
			assert_int_equal(weir_txn_add(t, &s,
						      &ids[round * 1000 + i],
						      NULL), 0);
		}
		if (round == 2)
			for (int i = 0; i < 3000; i += 3)
				assert_int_equal(weir_txn_delete(t, ids[i]), 0);
		assert_int_equal(weir_txn_commit(t), 0);
	}
	for (int i = 0; i < 3000; i++) {
		int r = weir_filter_get(e, ids[i], &fi);

		if (i % 3 == 0) {
			assert_int_equal(r, -ENOENT);
			continue;
		}
		assert_int_equal(r, 0);
		assert_true(fi.id == ids[i]);
		assert_int_equal(fi.layer, i % 1000 % 2 ? L4 :
				 WEIR_LAYER_OUTBOUND_IPPACKET_V6);
	}
	assert_int_equal(weir_filter_get(e, ids[2999] + 1, &fi), -ENOENT);
	assert_int_equal(weir_filter_get(e, 0, &fi), -ENOENT);
	weir_engine_free(e);
}

/* Hits are counted per rule set and folded into the filter when a commit
 * retires it: a filter that moves to another rank keeps its count, and
 * the linear evaluator counts the same way. */
static void hits_survive_commits(void **state)
{
	struct weir_cond narrow = { .field = WEIR_FIELD_IP_DST,
		.match = WEIR_MATCH_EQ, .v = { .addr = { 10, 0, 0, 2 } } };
	struct weir_cond broad = { .field = WEIR_FIELD_IP_DST,
		.match = WEIR_MATCH_PREFIX, .v = { .addr = { 10 }, .plen = 8 } };
	struct weir_filter_spec b = { .layer = L4, .action = PERMIT,
				      .conds = &narrow, .ncond = 1 };
	struct weir_filter_spec a = { .layer = L4, .action = BLOCK,
				      .conds = &broad, .ncond = 1 };
	struct weir_engine *e = weir_engine_new();
	struct weir_fields f = pkt_fields("10.0.0.1", "10.0.0.2", 6, 1, 2);
	struct weir_filter_info info;
	struct weir_txn *t = weir_txn_begin(e);
	uint64_t ida, idb, idc, hits;

	(void)state;
	weir_txn_add(t, &b, &idb, NULL);
	assert_int_equal(weir_txn_commit(t), 0);
	classify(e, &f);
	classify(e, &f);
	t = weir_txn_begin(e);      /* b moves from rank 0 to rank 1 */
	a.weight_kind = WEIR_WEIGHT_EXACT;
	a.weight = UINT64_MAX;
	weir_txn_add(t, &a, &ida, NULL);
	assert_int_equal(weir_txn_commit(t), 0);
	assert_int_equal(weir_filter_hits(e, idb, &hits), 0);
	assert_int_equal(hits, 2);
	assert_int_equal(classify(e, &f).filter_id, ida);
	t = weir_txn_begin(e);      /* back to rank 0; a commit aborted */
	weir_txn_delete(t, ida);
	assert_int_equal(weir_txn_commit(t), 0);
	t = weir_txn_begin(e);
	weir_txn_add(t, &a, &idc, NULL);
	weir_txn_abort(t);
	classify(e, &f);
	assert_int_equal(weir_filter_hits(e, idb, &hits), 0);
	assert_int_equal(hits, 3);
	assert_int_equal(weir_filter_get(e, idb, &info), 0);
	assert_int_equal(info.hits, 3);
	weir_engine_free(e);
}

/* A fixed flow hash seed makes flow ids repeat across engines. */
static void flow_seed_repeats(void **state)
{
	struct weir_flow_config cfg = { .hash_seed = 42 };
	struct weir_engine *a = weir_engine_new_with(&cfg);
	struct weir_engine *b = weir_engine_new_with(&cfg);

	(void)state;
	for (uint16_t p = 1; p < 50; p++)
		assert_int_equal(new_flow(a, p), new_flow(b, p));
	weir_engine_free(a);
	weir_engine_free(b);
}

/* A commit that changes a layer's filters moves its generation; other
 * layers keep theirs. */
static void generations(void **state)
{
	struct weir_engine *e = weir_engine_new();
	struct weir_filter_spec s = { .layer = L4, .action = BLOCK };
	struct weir_txn *t;
	uint64_t g0, g1, id;

	(void)state;
	g0 = weir_layer_generation(e, L4);
	t = weir_txn_begin(e);
	weir_txn_add(t, &s, &id, NULL);
	assert_int_equal(weir_txn_commit(t), 0);
	g1 = weir_layer_generation(e, L4);
	assert_true(g1 != g0);
	assert_int_equal(weir_layer_generation(e, WEIR_LAYER_ALE_CONNECT_V4),
			 0);
	t = weir_txn_begin(e); /* no change: same generation */
	assert_int_equal(weir_txn_commit(t), 0);
	assert_int_equal(weir_layer_generation(e, L4), g1);
	t = weir_txn_begin(e);
	weir_txn_delete(t, id);
	assert_int_equal(weir_txn_commit(t), 0);
	assert_true(weir_layer_generation(e, L4) != g1);
	weir_engine_free(e);
}

/* ---- flows: ALE memory and callout flow contexts --------------------- */

static uint64_t new_flow(struct weir_engine *e, uint16_t sport)
{
	struct weir_flow_key k = { .family = AF_INET, .proto = 6,
				   .sport = sport, .dport = 80 };
	uint64_t id;
	unsigned info;

	k.src[0] = 10;
	k.dst[0] = 10;
	k.dst[3] = 2;
	assert_int_equal(weir_flow_lookup(weir_engine_flows(e), &k, 1,
					  WEIR_FLOW_CREATE, &id, &info), 0);
	return id;
}

static void ale_decision_remembered_and_reauthorised(void **state)
{
	const int ale = WEIR_LAYER_ALE_CONNECT_V4;
	struct weir_engine *e = weir_engine_new();
	struct weir_fields f = pkt_fields("10.0.0.1", "10.0.0.2", 6, 1, 80);
	struct weir_filter_spec s = { .layer = ale, .action = BLOCK };
	struct weir_cond reauth = { .field = WEIR_FIELD_FLAGS,
		.match = WEIR_MATCH_FLAGS_ANY, .v = { .lo = WEIR_CF_REAUTH } };
	struct weir_classify_in in = { .layer = ale, .fields = &f };
	struct weir_decision d;
	struct weir_txn *t;
	uint64_t block_id, permit_id;

	(void)state;
	t = weir_txn_begin(e);
	weir_txn_add(t, &s, &block_id, NULL);
	assert_int_equal(weir_txn_commit(t), 0);
	in.flow_id = new_flow(e, 1);
	weir_classify(e, &in, &d);
	assert_int_equal(d.action, BLOCK);
	assert_false(d.remembered);
	weir_classify(e, &in, &d);
	assert_true(d.remembered);
	assert_int_equal(d.filter_id, block_id);
	/* A commit to the layer: the next packet is re-authorised, and
	 * filters can see the flag. */
	s.action = PERMIT;
	s.conds = &reauth;
	s.ncond = 1;
	t = weir_txn_begin(e);
	weir_txn_add(t, &s, &permit_id, NULL);
	assert_int_equal(weir_txn_commit(t), 0);
	weir_classify(e, &in, &d);
	assert_true(d.reauth);
	assert_int_equal(d.action, PERMIT);
	assert_int_equal(d.filter_id, permit_id);
	weir_classify(e, &in, &d);
	assert_true(d.remembered);
	assert_int_equal(d.action, PERMIT);
	/* Without a flow, nothing is remembered. */
	in.flow_id = 0;
	weir_classify(e, &in, &d);
	assert_false(d.remembered);
	assert_int_equal(d.action, BLOCK); /* no reauth flag: the block */
	weir_engine_free(e);
}

static int flow_deletes;
static uint64_t seen_ctx;
static struct weir_engine *ctx_engine; /* what the callout registered with */

static void ctx_classify(void *priv, const struct weir_classify_in *in,
			 const struct weir_filter_view *f, uint64_t flow_ctx,
			 struct weir_callout_out *out)
{
	(void)priv;
	seen_ctx = flow_ctx;
	if (!flow_ctx && in->flow_id)
		weir_flow_associate(ctx_engine, in->flow_id, in->layer, f,
				    in->flow_id * 10);
	out->action = WEIR_ACTION_CONTINUE;
}

static void ctx_flow_delete(void *priv, int layer, uint64_t flow_id,
			    uint64_t ctx)
{
	(void)priv, (void)layer;
	assert_int_equal(ctx, flow_id * 10);
	flow_deletes++;
}

static void flow_contexts(void **state)
{
	static const struct weir_callout c = { .name = "ctx",
		.classify = ctx_classify, .flow_delete = ctx_flow_delete };
	static const struct weir_callout needy = { .name = "needy",
		.flags = WEIR_CALLOUT_NEEDS_FLOW_CONTEXT,
		.classify = fixed_classify };
	struct weir_engine *e = weir_engine_new();
	struct weir_fields f = pkt_fields("10.0.0.1", "10.0.0.2", 6, 1, 2);
	struct weir_classify_in in = { .layer = L4, .fields = &f };
	struct weir_filter_spec s = { .layer = L4,
		.action = WEIR_ACTION_CALLOUT_UNKNOWN, .context = C_BLOCK,
		.weight_kind = WEIR_WEIGHT_EXACT };
	struct weir_txn *t = weir_txn_begin(e);
	struct weir_decision d;
	uint64_t f1, f2;

	(void)state;
	ctx_engine = e;
	weir_callout_register(e, &c);
	weir_callout_register(e, &needy);
	strcpy(s.callout, "needy"); /* lower weight: runs after ctx */
	weir_txn_add(t, &s, NULL, NULL);
	strcpy(s.callout, "ctx");
	s.weight = 10;
	weir_txn_add(t, &s, NULL, NULL);
	assert_int_equal(weir_txn_commit(t), 0);
	flow_deletes = 0;
	f1 = in.flow_id = new_flow(e, 1);
	weir_classify(e, &in, &d);       /* ctx associates */
	assert_int_equal(seen_ctx, 0);
	/* needy has no context of its own on this flow: skipped, so its
	 * block never happens. */
	assert_int_equal(d.action, PERMIT);
	weir_classify(e, &in, &d);
	assert_int_equal(seen_ctx, f1 * 10);
	f2 = in.flow_id = new_flow(e, 2);
	weir_classify(e, &in, &d);
	assert_int_equal(weir_flow_delete(weir_engine_flows(e), f1), 0);
	assert_int_equal(flow_deletes, 1);
	weir_engine_free(e);             /* f2's context too */
	assert_int_equal(flow_deletes, 2);
	(void)f2;
}

static void layer_names(void **state)
{
	(void)state;
	assert_string_equal(weir_layer_name(WEIR_LAYER_IPFORWARD_V6),
			    "ipforward-v6");
	assert_int_equal(weir_layer_by_name("ale-connect-v4"),
			 WEIR_LAYER_ALE_CONNECT_V4);
	assert_int_equal(weir_layer_by_name("nope"), -ENOENT);
	assert_null(weir_layer_name(0));
	assert_int_equal(weir_layer_family(WEIR_LAYER_DATAGRAM_DATA_V6),
			 AF_INET6);
	assert_string_equal(weir_field_name(WEIR_FIELD_DST_PORT), "th.dport");
	assert_false(weir_layer_fields(WEIR_LAYER_ALE_ACCEPT_V4) &
		     (1ull << WEIR_FIELD_IF_OUT));
	assert_true(weir_layer_fields(WEIR_LAYER_IPFORWARD_V4) &
		    (1ull << WEIR_FIELD_FRAG));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(arbitration_table),
		cmocka_unit_test(sublayer_order_and_continue),
		cmocka_unit_test(callout_rights_absorb_and_missing),
		cmocka_unit_test(defaults_and_disabled),
		cmocka_unit_test(match_types),
		cmocka_unit_test(or_within_and_across),
		cmocka_unit_test(txn_notify_and_rollback),
		cmocka_unit_test(txn_checks_and_ids),
		cmocka_unit_test(auto_weights_and_hits),
		cmocka_unit_test(big_ids_and_hard_filters),
		cmocka_unit_test(filters_found_by_id),
		cmocka_unit_test(hits_survive_commits),
		cmocka_unit_test(generations),
		cmocka_unit_test(ale_decision_remembered_and_reauthorised),
		cmocka_unit_test(flow_contexts),
		cmocka_unit_test(flow_seed_repeats),
		cmocka_unit_test(layer_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
