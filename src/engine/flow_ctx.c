/* What a flow carries for the engine: callout contexts per (layer,
 * callout slot), whose deletion is reported exactly once through
 * on_ctx_delete, and the decisions ALE layers made on the flow's first
 * packet with the policy generation they were made under.
 */
#include <errno.h>
#include <stdlib.h>

#include <weir/filter.h>

#include "engine/flow_internal.h"

static bool layer_ok(int layer)
{
	return layer > WEIR_LAYER_NONE && layer < WEIR_LAYER__COUNT;
}

/* arr with room for one more than n elements of `size`; NULL on ENOMEM
 * (arr is then unchanged). */
static void *grow(void *arr, uint32_t n, uint32_t *cap, size_t size)
{
	uint32_t ncap;
	void *p;

	if (n < *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 2;
	p = realloc(arr, (size_t)ncap * size);
	if (p)
		*cap = ncap;
	return p;
}

void weir__flow_attach_free(struct weir__flow *f)
{
	free(f->ctx);
	free(f->dec);
	f->ctx = NULL;
	f->dec = NULL;
	f->nctx = f->ndec = 0;
}

static struct weir__flow_ctx *ctx_find(struct weir__flow *f, int layer,
				       uint16_t slot)
{
	for (uint32_t i = 0; i < f->nctx; i++)
		if (f->ctx[i].layer == layer && f->ctx[i].slot == slot)
			return &f->ctx[i];
	return NULL;
}

/* ---- contexts ------------------------------------------------------------ */

static int ctx_put(struct weir__flow_stripe *st, struct weir__flow *f,
		   int layer, uint16_t slot, uint64_t ctx,
		   struct weir__flow_grave *g)
{
	struct weir__flow_ctx *c = ctx_find(f, layer, slot);
	void *p;

	if (c) {
		if (c->ctx != ctx) {
			g->one = true;
			g->ctx = *c;
			g->flow_id = f->id;
			c->ctx = ctx;
		}
		return 0;
	}
	p = grow(f->ctx, f->nctx, &f->ctx_cap, sizeof(*f->ctx));
	if (!p)
		return -ENOMEM;
	f->ctx = p;
	f->ctx[f->nctx++] = (struct weir__flow_ctx){
		.layer = (uint16_t)layer, .slot = slot, .ctx = ctx };
	st->contexts++;
	return 0;
}

int weir_flow_ctx_set(struct weir_flow_table *t, uint64_t flow_id, int layer,
		      uint16_t callout_slot, uint64_t ctx)
{
	struct weir__flow_grave g = { 0 };
	struct weir__flow_stripe *st;
	struct weir__flow *f;
	int rc = -ENOENT;

	if (!t || !layer_ok(layer))
		return -EINVAL;
	f = weir__flow_lock_id(t, flow_id, &st);
	if (f)
		rc = ctx_put(st, f, layer, callout_slot, ctx, &g);
	weir__flow_unlock(t, st, &g);
	return rc;
}

int weir_flow_ctx_get(struct weir_flow_table *t, uint64_t flow_id, int layer,
		      uint16_t callout_slot, uint64_t *ret_ctx)
{
	struct weir__flow_grave g = { 0 };
	struct weir__flow_stripe *st;
	struct weir__flow_ctx *c = NULL;
	struct weir__flow *f;
	uint64_t v = 0;

	if (!t || !ret_ctx || !layer_ok(layer))
		return -EINVAL;
	f = weir__flow_lock_id(t, flow_id, &st);
	if (f && (c = ctx_find(f, layer, callout_slot)))
		v = c->ctx;
	weir__flow_unlock(t, st, &g);
	if (!f)
		return -ENOENT;
	if (!c)
		return -ENODATA;
	*ret_ctx = v;
	return 0;
}

int weir_flow_ctx_remove(struct weir_flow_table *t, uint64_t flow_id,
			 int layer, uint16_t callout_slot)
{
	struct weir__flow_grave g = { 0 };
	struct weir__flow_stripe *st;
	struct weir__flow_ctx *c = NULL;
	struct weir__flow *f;

	if (!t || !layer_ok(layer))
		return -EINVAL;
	f = weir__flow_lock_id(t, flow_id, &st);
	if (f && (c = ctx_find(f, layer, callout_slot))) {
		g.one = true;
		g.ctx = *c;
		g.flow_id = f->id;
		*c = f->ctx[--f->nctx];
		st->contexts--;
	}
	weir__flow_unlock(t, st, &g);
	if (!f)
		return -ENOENT;
	return c ? 0 : -ENODATA;
}

/* ---- remembered decisions ------------------------------------------------- */

static struct weir__flow_dec *dec_find(struct weir__flow *f, int layer)
{
	for (uint32_t i = 0; i < f->ndec; i++)
		if (f->dec[i].layer == layer)
			return &f->dec[i];
	return NULL;
}

static int dec_put(struct weir__flow *f, const struct weir__flow_dec *d)
{
	struct weir__flow_dec *old = dec_find(f, d->layer);
	void *p;

	if (old) {
		*old = *d;
		return 0;
	}
	p = grow(f->dec, f->ndec, &f->dec_cap, sizeof(*f->dec));
	if (!p)
		return -ENOMEM;
	f->dec = p;
	f->dec[f->ndec++] = *d;
	return 0;
}

int weir_flow_decision_set(struct weir_flow_table *t, uint64_t flow_id,
			   int layer, uint8_t action, uint64_t filter_id,
			   uint64_t generation)
{
	struct weir__flow_dec d = { .layer = (uint16_t)layer, .action = action,
		.filter_id = filter_id, .generation = generation };
	struct weir__flow_grave g = { 0 };
	struct weir__flow_stripe *st;
	struct weir__flow *f;
	int rc = -ENOENT;

	if (!t || !layer_ok(layer) ||
	    (action != WEIR_ACTION_PERMIT && action != WEIR_ACTION_BLOCK))
		return -EINVAL;
	f = weir__flow_lock_id(t, flow_id, &st);
	if (f)
		rc = dec_put(f, &d);
	weir__flow_unlock(t, st, &g);
	return rc;
}

int weir_flow_decision_get(struct weir_flow_table *t, uint64_t flow_id,
			   int layer, uint8_t *ret_action,
			   uint64_t *ret_filter_id, uint64_t *ret_generation)
{
	struct weir__flow_grave g = { 0 };
	struct weir__flow_stripe *st;
	struct weir__flow_dec d = { 0 }, *found = NULL;
	struct weir__flow *f;

	if (!t || !layer_ok(layer))
		return -EINVAL;
	f = weir__flow_lock_id(t, flow_id, &st);
	if (f && (found = dec_find(f, layer)))
		d = *found;
	weir__flow_unlock(t, st, &g);
	if (!f)
		return -ENOENT;
	if (!found)
		return -ENODATA;
	if (ret_action)
		*ret_action = d.action;
	if (ret_filter_id)
		*ret_filter_id = d.filter_id;
	if (ret_generation)
		*ret_generation = d.generation;
	return 0;
}

/* ---- draining a callout's contexts ---------------------------------------- */

struct drained {
	struct weir__flow_ctx c;
	uint64_t flow_id;
};

/* Moves the contexts of `slot` out of every flow of one stripe into *v
 * (grown as needed); the stripe is locked by the caller. */
static int drain_stripe(struct weir__flow_stripe *st, uint16_t slot,
			struct drained **v, uint32_t *n, uint32_t *cap)
{
	for (int cl = 0; cl < WEIR__FC__COUNT; cl++)
		for (struct weir__flow *f = st->lists[cl].head; f; f = f->next)
			for (uint32_t i = 0; i < f->nctx;) {
				void *p;

				if (f->ctx[i].slot != slot) {
					i++;
					continue;
				}
				p = grow(*v, *n, cap, sizeof(**v));
				if (!p)
					return -ENOMEM;
				*v = p;
				(*v)[(*n)++] = (struct drained){ f->ctx[i], f->id };
				f->ctx[i] = f->ctx[--f->nctx];
				st->contexts--;
			}
	return 0;
}

size_t weir__flow_ctx_drain_slot(struct weir_flow_table *t, uint16_t slot,
				 weir__flow_drain_fn fn, void *arg)
{
	struct drained *v = NULL;
	uint32_t n = 0, cap = 0;
	int rc = 0;

	for (uint32_t s = 0; s < WEIR__FLOW_STRIPES && !rc; s++) {
		struct weir__flow_stripe *st = &t->stripes[s];

		pthread_mutex_lock(&st->lock);
		rc = drain_stripe(st, slot, &v, &n, &cap);
		pthread_mutex_unlock(&st->lock);
	}
	/* Told outside every lock: the callback may use the table. */
	for (uint32_t i = 0; i < n; i++)
		fn(arg, v[i].flow_id, v[i].c.layer, v[i].c.ctx);
	free(v);
	return n;
}
