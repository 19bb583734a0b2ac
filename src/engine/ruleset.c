/* Rule sets: what one commit publishes. Per layer, the enabled filters in
 * evaluation order (rank), the rank range of each sublayer, and the
 * compiled classifier.
 */
#include <errno.h>
#include <stdlib.h>

#include "engine/engine_internal.h"

/* qsort has no context argument in C11; the sublayer weights of the
 * build in progress are passed through this (builds are serialised by
 * the engine's transaction lock). */
static const struct weir__sublayer *sort_subs;

static int by_rank(const void *a, const void *b)
{
	const struct weir__filter *x = *(struct weir__filter *const *)a;
	const struct weir__filter *y = *(struct weir__filter *const *)b;
	uint16_t wx = sort_subs[x->sublayer].weight;
	uint16_t wy = sort_subs[y->sublayer].weight;

	if (wx != wy)
		return wx > wy ? -1 : 1;
	if (x->sublayer != y->sublayer)
		return x->sublayer < y->sublayer ? -1 : 1;
	if (x->weight != y->weight)
		return x->weight > y->weight ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

static int build_ranges(struct weir__layer_rules *lr)
{
	lr->subs = calloc(lr->n ? lr->n : 1, sizeof(*lr->subs));
	if (!lr->subs)
		return -ENOMEM;
	for (uint32_t i = 0; i < lr->n; i++) {
		if (i && lr->f[i]->sublayer == lr->f[i - 1]->sublayer) {
			lr->subs[lr->nsub - 1].end = i + 1;
			continue;
		}
		lr->subs[lr->nsub++] = (struct weir__sub_range){
			.sublayer = lr->f[i]->sublayer, .first = i, .end = i + 1 };
	}
	return 0;
}

/* The ranks' arbitration lines, in their own cache-aligned array. */
static int build_ranks(struct weir__layer_rules *lr)
{
	size_t sz = sizeof(*lr->ranks) * (lr->n ? lr->n : 1);

	lr->ranks = aligned_alloc(64, (sz + 63) & ~(size_t)63);
	if (!lr->ranks)
		return -ENOMEM;
	for (uint32_t r = 0; r < lr->n; r++) {
		const struct weir__filter *f = lr->f[r];

		lr->ranks[r] = (struct weir__rank){ .id = f->id,
			.action = f->action,
			.hard = f->flags & WEIR_FILTER_CLEAR_ACTION_RIGHT };
		atomic_init(&lr->ranks[r].hits, 0);
		lr->f[r]->rank_hint = r;
	}
	return 0;
}

int weir__layer_build(struct weir__layer_rules *lr, struct weir__filter **f,
		      uint32_t n, const struct weir__sublayer *subs,
		      bool linear)
{
	*lr = (struct weir__layer_rules){ 0 };
	lr->f = malloc(sizeof(*lr->f) * (n ? n : 1));
	if (!lr->f)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++) {
		if (f[i]->flags & WEIR_FILTER_DISABLED)
			continue;
		weir__filter_ref(f[i]);
		lr->f[lr->n++] = f[i];
	}
	sort_subs = subs;
	qsort(lr->f, lr->n, sizeof(*lr->f), by_rank);
	if (build_ranges(lr) < 0 || build_ranks(lr) < 0)
		goto fail;
	if (!linear && lr->n) {
		lr->cls = weir__cls_build(lr->f, lr->n, lr->ranks, lr->subs,
					  lr->nsub);
		if (!lr->cls)
			goto fail;
	}
	return 0;
fail:
	weir__layer_release(lr);
	return -ENOMEM;
}

/* The matches of rank r in this rule set: counted on the rank's line or
 * by the classifier's records (plain permits and blocks). */
static uint64_t rank_hits(const struct weir__layer_rules *lr, uint32_t r)
{
	return atomic_load(&lr->ranks[r].hits) +
	       (lr->cls ? weir__cls_hits(lr->cls, r) : 0);
}

/* Readers have drained: this rule set's counts join the filters' own. */
void weir__layer_release(struct weir__layer_rules *lr)
{
	for (uint32_t i = 0; i < lr->n; i++) {
		if (lr->ranks)
			atomic_fetch_add(&lr->f[i]->hits, rank_hits(lr, i));
		weir__filter_unref(lr->f[i]);
	}
	free(lr->f);
	free(lr->ranks);
	free(lr->subs);
	weir__cls_free(lr->cls);
	*lr = (struct weir__layer_rules){ 0 };
}

void weir__ruleset_free(struct weir__ruleset *rs)
{
	if (!rs)
		return;
	for (int l = 0; l < WEIR_LAYER__COUNT; l++)
		weir__layer_release(&rs->layers[l]);
	free(rs);
}

uint64_t weir__filter_hits(const struct weir_engine *e,
			   const struct weir__filter *f)
{
	const struct weir__layer_rules *lr;
	uint64_t hits = atomic_load(&f->hits);
	uint32_t r = f->rank_hint;

	if (!e->rs || f->layer >= WEIR_LAYER__COUNT)
		return hits;
	lr = &e->rs->layers[f->layer];
	/* The hint is from the last build, which may not have been
	 * published (a failed commit): check it, else look. */
	if (r >= lr->n || lr->f[r] != f)
		for (r = 0; r < lr->n && lr->f[r] != f; r++)
			;
	if (r < lr->n)
		hits += rank_hits(lr, r);
	return hits;
}

int weir__fvec_push(struct weir__fvec *v, struct weir__filter *f)
{
	if (v->n == v->cap) {
		uint32_t cap = v->cap ? v->cap * 2 : 16;
		struct weir__filter **nf = realloc(v->f, sizeof(*nf) * cap);

		if (!nf)
			return -ENOMEM;
		v->f = nf;
		v->cap = cap;
	}
	weir__filter_ref(f);
	v->f[v->n++] = f;
	return 0;
}

void weir__fvec_release(struct weir__fvec *v)
{
	for (uint32_t i = 0; i < v->n; i++)
		weir__filter_unref(v->f[i]);
	free(v->f);
	*v = (struct weir__fvec){ 0 };
}
