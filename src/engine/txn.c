/* Transactions: a working copy of the committed filters that additions
 * and deletions change, and a commit that notifies callouts, builds a
 * new rule set, publishes it atomically and frees the old one once no
 * classification can still see it. A failed commit changes nothing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-bp.h>

#include "engine/engine_internal.h"

struct weir_txn {
	struct weir_engine *e;
	struct weir__fvec layers[WEIR_LAYER__COUNT];
	bool dirty[WEIR_LAYER__COUNT];   /* filters of the layer changed */
};

struct weir_txn *weir_txn_begin(struct weir_engine *e)
{
	struct weir_txn *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->e = e;
	pthread_mutex_lock(&e->txn_lock);
	for (int l = 0; l < WEIR_LAYER__COUNT; l++)
		for (uint32_t i = 0; i < e->all[l].n; i++)
			if (weir__fvec_push(&t->layers[l], e->all[l].f[i]) < 0) {
				weir_txn_abort(t);
				return NULL;
			}
	return t;
}

void weir_txn_abort(struct weir_txn *t)
{
	if (!t)
		return;
	for (int l = 0; l < WEIR_LAYER__COUNT; l++)
		weir__fvec_release(&t->layers[l]);
	pthread_mutex_unlock(&t->e->txn_lock);
	free(t);
}

/* Where filter `id` sits in the working copy, or false. */
static bool txn_find(struct weir_txn *t, uint64_t id, int *ret_layer,
		     uint32_t *ret_index)
{
	for (int l = 0; l < WEIR_LAYER__COUNT; l++)
		for (uint32_t i = 0; i < t->layers[l].n; i++)
			if (t->layers[l].f[i]->id == id) {
				*ret_layer = l;
				*ret_index = i;
				return true;
			}
	return false;
}

/* Engine-chosen ids grow from above every id ever used, so they never
 * collide and need no search. */
static uint64_t take_id(struct weir_txn *t, uint64_t wanted)
{
	if (!wanted)
		return t->e->next_id++;
	if (wanted >= t->e->next_id)
		t->e->next_id = wanted + 1;
	return wanted;
}

static bool sublayer_ok(struct weir_engine *e, uint16_t id)
{
	bool ok;

	pthread_mutex_lock(&e->meta_lock);
	ok = id < WEIR__MAX_SUBLAYERS && e->sublayers[id].used;
	pthread_mutex_unlock(&e->meta_lock);
	return ok;
}

int weir_txn_add(struct weir_txn *t, const struct weir_filter_spec *spec,
		 uint64_t *ret_id, const char **why)
{
	const char *dummy;
	struct weir__filter *f;
	int l, slot = 0, err;
	uint32_t i;

	if (!why)
		why = &dummy;
	err = weir_filter_spec_check(spec, why);
	if (err < 0)
		return err;
	if (!sublayer_ok(t->e, spec->sublayer))
		return *why = "unknown sublayer", -EINVAL;
	if (spec->id && txn_find(t, spec->id, &l, &i))
		return *why = "filter id taken", -EEXIST;
	if (spec->action >= WEIR_ACTION_CALLOUT_TERMINATING) {
		slot = weir__callout_slot(t->e, spec->callout);
		if (slot < 0)
			return *why = "too many callout names", slot;
	}
	f = weir__filter_new(spec);
	if (!f)
		return *why = "out of memory", -ENOMEM;
	f->id = take_id(t, spec->id);
	f->seq = t->e->next_seq++;
	f->weight = weir__filter_weight(spec, f->seq);
	f->callout_slot = (uint16_t)slot;
	t->dirty[spec->layer] = true;
	err = weir__fvec_push(&t->layers[spec->layer], f);
	weir__filter_unref(f); /* the vector holds it now */
	if (err < 0)
		return *why = "out of memory", err;
	if (ret_id)
		*ret_id = f->id;
	return 0;
}

int weir_txn_delete(struct weir_txn *t, uint64_t id)
{
	struct weir__fvec *v;
	int l;
	uint32_t i;

	if (!txn_find(t, id, &l, &i))
		return -ENOENT;
	v = &t->layers[l];
	t->dirty[l] = true;
	weir__filter_unref(v->f[i]);
	v->f[i] = v->f[--v->n];
	return 0;
}

void weir_txn_clear(struct weir_txn *t)
{
	for (int l = 0; l < WEIR_LAYER__COUNT; l++) {
		for (uint32_t i = 0; i < t->layers[l].n; i++)
			weir__filter_unref(t->layers[l].f[i]);
		t->dirty[l] |= t->layers[l].n > 0;
		t->layers[l].n = 0;
	}
}

static void stamp_all(struct weir__fvec *v, uint64_t stamp)
{
	for (int l = 0; l < WEIR_LAYER__COUNT; l++)
		for (uint32_t i = 0; i < v[l].n; i++)
			v[l].f[i]->stamp = stamp;
}

/* Tells callouts about the filters of `v` not stamped `other` (not in
 * the other set), at most `limit` of them; returns how many were told
 * before a refusal (*ret_err set) or all of them. */
static uint64_t notify_new(struct weir_engine *e, struct weir__fvec *v,
			   uint64_t other, enum weir_notify ev, uint64_t limit,
			   int *ret_err, struct weir_txn_report *rep)
{
	uint64_t told = 0;

	for (int l = 0; l < WEIR_LAYER__COUNT; l++)
		for (uint32_t i = 0; i < v[l].n && told < limit; i++) {
			struct weir__filter *f = v[l].f[i];
			int err;

			if (f->stamp == other)
				continue;
			err = weir__callout_notify(e, f, ev);
			if (err && ev == WEIR_NOTIFY_ADD) {
				*ret_err = err < 0 ? err : -EPERM;
				rep->refused_id = f->id;
				rep->refused_err = *ret_err;
				return told;
			}
			told++;
		}
	return told;
}

static struct weir__ruleset *build_rules(struct weir_txn *t)
{
	struct weir__sublayer subs[WEIR__MAX_SUBLAYERS];
	struct weir__ruleset *rs = calloc(1, sizeof(*rs));

	if (!rs)
		return NULL;
	pthread_mutex_lock(&t->e->meta_lock);
	memcpy(subs, t->e->sublayers, sizeof(subs));
	pthread_mutex_unlock(&t->e->meta_lock);
	for (int l = 0; l < WEIR_LAYER__COUNT; l++) {
		if (weir__layer_build(&rs->layers[l], t->layers[l].f,
				      t->layers[l].n, subs, t->e->use_linear)) {
			weir__ruleset_free(rs);
			return NULL;
		}
		rs->layers[l].generation = t->dirty[l]
			? ++t->e->next_generation
			: t->e->rs->layers[l].generation;
	}
	return rs;
}

int weir_txn_commit(struct weir_txn *t)
{
	return weir_txn_commit_report(t, NULL);
}

int weir_txn_commit_report(struct weir_txn *t, struct weir_txn_report *ret)
{
	struct weir_txn_report rep = { 0 };
	struct weir_engine *e = t->e;
	uint64_t s_old = ++e->next_stamp, s_new = ++e->next_stamp, told;
	struct weir__ruleset *rs = NULL, *old;
	int err = 0;

	stamp_all(e->all, s_old);
	told = notify_new(e, t->layers, s_old, WEIR_NOTIFY_ADD, UINT64_MAX,
			  &err, &rep);
	if (ret)
		*ret = rep;
	if (!err) {
		rs = build_rules(t);
		err = rs ? 0 : -ENOMEM;
	}
	if (err) { /* take back what the callouts accepted */
		notify_new(e, t->layers, s_old, WEIR_NOTIFY_DELETE, told, &err,
			   &rep);
		weir_txn_abort(t);
		return err;
	}
	old = e->rs;
	rcu_assign_pointer(e->rs, rs);
	urcu_bp_synchronize_rcu(); /* no reader sees `old` any more */
	weir__ruleset_free(old);
	stamp_all(t->layers, s_new);
	notify_new(e, e->all, s_new, WEIR_NOTIFY_DELETE, UINT64_MAX, &err,
		   &rep);
	for (int l = 0; l < WEIR_LAYER__COUNT; l++) {
		weir__fvec_release(&e->all[l]);
		e->all[l] = t->layers[l];
		t->layers[l] = (struct weir__fvec){ 0 };
	}
	weir__byid_build(e);
	weir_txn_abort(t); /* releases the (now empty) copy and the lock */
	return 0;
}
