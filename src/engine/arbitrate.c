/* WFP filter arbitration (docs/engine.md has the tables).
 *
 * Inside a sublayer, matching filters run from the highest weight down
 * until one returns permit or block; a callout may return continue. Every
 * sublayer is evaluated, from the highest priority down, and the results
 * combine as WFP says:
 *  - a hard decision (write right cleared) is final, except that a
 *    callout's block on a hard permit is a veto and wins;
 *  - otherwise a hard decision replaces a soft one, and a block replaces
 *    a soft permit (block overrides permit);
 *  - a callout that absorbs the packet ends everything: silent block.
 * When no sublayer decides, the layer's default action applies.
 */
#include <stdatomic.h>
#include <urcu-bp.h>

#include "engine/engine_internal.h"

/* One sublayer's (or one filter's) outcome. */
struct outcome {
	uint8_t action;        /* 0 = none (continue) */
	bool hard;
	bool absorb;
	bool pended;
	uint64_t pend_id;
	bool callout;          /* decided by a callout: may veto */
	uint64_t filter_id;
};

static int64_t next_match(const struct weir__layer_rules *lr, uint32_t sub,
			  const struct weir_fields *fl, uint32_t from,
			  struct weir__match *m)
{
	if (lr->cls)
		return weir__cls_next(lr->cls, sub, fl, from, m);
	for (uint32_t r = from; r < lr->subs[sub].end; r++)
		if (weir__filter_matches(lr->f[r], fl)) {
			*m = (struct weir__match){ .rank = r };
			return r;
		}
	return -1;
}

static void view_of(const struct weir__filter *f, struct weir_filter_view *v)
{
	*v = (struct weir_filter_view){
		.id = f->id, .name = f->name, .layer = f->layer,
		.sublayer = f->sublayer, .action = f->action,
		.flags = f->flags, .weight = f->weight,
		.context = f->context, .params = f->params,
		.callout_slot = f->callout_slot };
}

/* Runs a callout filter. A missing callout blocks (or permits, by the
 * filter's flag); an inspection callout's answer is only advice;
 * a terminating callout that does not decide blocks (fail closed). */
static struct outcome run_callout(struct weir_engine *e,
				  const struct weir__filter *f,
				  const struct weir_classify_in *in,
				  bool state_hard)
{
	const struct weir_callout *c =
		rcu_dereference(e->callouts[f->callout_slot].ops);
	struct weir_callout_out out = { .action = WEIR_ACTION_CONTINUE,
		.rights = state_hard ? 0 : WEIR_RIGHT_ACTION_WRITE };
	struct weir_filter_view v;
	uint64_t flow_ctx;
	bool has_ctx;

	if (!c)
		return (struct outcome){
			.action = f->flags & WEIR_FILTER_PERMIT_IF_NO_CALLOUT
				  ? WEIR_ACTION_PERMIT : WEIR_ACTION_BLOCK };
	flow_ctx = weir__flow_ctx(e, in->flow_id, in->layer, f->callout_slot,
				  &has_ctx);
	if ((c->flags & WEIR_CALLOUT_NEEDS_FLOW_CONTEXT) && !has_ctx)
		return (struct outcome){ 0 }; /* not its flow: continue */
	view_of(f, &v);
	c->classify(c->priv, in, &v, flow_ctx, &out);
	if (out.flags & WEIR_CLASSIFY_PEND)
		return (struct outcome){ .action = WEIR_ACTION_BLOCK,
					 .hard = true, .pended = true,
					 .pend_id = out.pend_id,
					 .callout = true };
	if (out.flags & WEIR_CLASSIFY_ABSORB)
		return (struct outcome){ .action = WEIR_ACTION_BLOCK,
					 .hard = true, .absorb = true,
					 .callout = true };
	if (f->action == WEIR_ACTION_CALLOUT_INSPECTION)
		return (struct outcome){ 0 };
	if (out.action != WEIR_ACTION_PERMIT && out.action != WEIR_ACTION_BLOCK)
		out.action = f->action == WEIR_ACTION_CALLOUT_TERMINATING
			     ? WEIR_ACTION_BLOCK : WEIR_ACTION_CONTINUE;
	return (struct outcome){ .action = out.action, .callout = true,
				 .hard = !(out.rights & WEIR_RIGHT_ACTION_WRITE) };
}

/* A plain permit or block is decided by the classifier's record (which
 * counted the hit) or from the rank's line; only a callout needs the
 * filter. */
static struct outcome run_filter(struct weir_engine *e,
				 const struct weir__layer_rules *lr,
				 const struct weir__match *m,
				 const struct weir_classify_in *in,
				 bool state_hard)
{
	struct weir__rank *k = &lr->ranks[m->rank];
	struct outcome o;

	if (m->action)
		return (struct outcome){ .action = m->action,
					 .filter_id = m->id };
	atomic_fetch_add_explicit(&k->hits, 1, memory_order_relaxed);
	if (k->action == WEIR_ACTION_PERMIT || k->action == WEIR_ACTION_BLOCK)
		o = (struct outcome){ .action = k->action };
	else
		o = run_callout(e, lr->f[m->rank], in, state_hard);
	if (k->hard)
		o.hard = true;
	o.filter_id = k->id;
	return o;
}

static struct outcome run_sublayer(struct weir_engine *e,
				   const struct weir__layer_rules *lr,
				   uint32_t sub, const struct weir_classify_in *in,
				   bool state_hard)
{
	uint32_t from = lr->subs[sub].first;
	struct weir__match m;
	int64_t r;

	while ((r = next_match(lr, sub, in->fields, from, &m)) >= 0) {
		struct outcome o = run_filter(e, lr, &m, in, state_hard);

		if (o.action != WEIR_ACTION_CONTINUE || o.pended)
			return o;
		from = (uint32_t)r + 1;
	}
	return (struct outcome){ 0 };
}

/* Folds one sublayer's outcome into the running decision. */
static void combine(struct weir_decision *d, bool *decided,
		    const struct outcome *o)
{
	if (!o->action)
		return;
	if (*decided && d->hard) {
		if (d->action == WEIR_ACTION_PERMIT &&
		    o->action == WEIR_ACTION_BLOCK && o->callout) {
			d->action = WEIR_ACTION_BLOCK;
			d->veto = true;
			d->filter_id = o->filter_id;
		}
		return;
	}
	if (*decided && !o->hard && o->action != WEIR_ACTION_BLOCK &&
	    d->action == WEIR_ACTION_BLOCK)
		return; /* a soft permit never overrides a block */
	d->action = o->action;
	d->hard = o->hard;
	d->filter_id = o->filter_id;
	*decided = true;
}

void weir__arbitrate(struct weir_engine *e, const struct weir__layer_rules *lr,
		     const struct weir_classify_in *in,
		     struct weir_decision *ret)
{
	struct weir_decision d = { 0 };
	bool decided = false;

	for (uint32_t s = 0; s < lr->nsub; s++) {
		struct outcome o = run_sublayer(e, lr, s, in,
						decided && d.hard);

		if (o.absorb || o.pended) {
			/* Both end arbitration: the packet is the callout's
			 * now, or waits for its word. */
			d = (struct weir_decision){ .action = WEIR_ACTION_BLOCK,
				.hard = true, .absorb = o.absorb,
				.pended = o.pended, .pend_id = o.pend_id,
				.filter_id = o.filter_id };
			*ret = d;
			return;
		}
		combine(&d, &decided, &o);
	}
	if (!decided) {
		d.action = atomic_load_explicit(&e->defaults[in->layer],
						memory_order_relaxed);
		d.by_default = true;
	}
	*ret = d;
}
