/* The engine object: defaults, sublayers, the published rule set and
 * lock-free classification under RCU (liburcu-bp: threads need not
 * register).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-bp.h>

#include <weir/flow.h>

#include "engine/engine_internal.h"

struct weir_engine *weir_engine_new(void)
{
	return weir_engine_new_with(NULL);
}

struct weir_engine *weir_engine_new_with(const struct weir_flow_config *flows)
{
	struct weir_engine *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->rs = calloc(1, sizeof(*e->rs));
	if (!e->rs) {
		free(e);
		return NULL;
	}
	if (weir__pends_init(&e->pends) < 0 || weir__flows_init(e, flows) < 0) {
		free(e->pends.buckets);
		free(e->rs);
		free(e);
		return NULL;
	}
	pthread_mutex_init(&e->txn_lock, NULL);
	pthread_mutex_init(&e->meta_lock, NULL);
	for (int l = 0; l < WEIR_LAYER__COUNT; l++)
		atomic_init(&e->defaults[l], WEIR_ACTION_PERMIT);
	strcpy(e->sublayers[0].name, "default");
	e->sublayers[0].weight = 0x8000;
	e->sublayers[0].used = true;
	e->next_id = 1;
	return e;
}

void weir_engine_free(struct weir_engine *e)
{
	if (!e)
		return;
	weir__pends_exit(&e->pends);
	weir_flow_table_free(e->flows); /* flow_delete for every context */
	weir__ruleset_free(e->rs);
	for (int l = 0; l < WEIR_LAYER__COUNT; l++)
		weir__fvec_release(&e->all[l]);
	free(e->byid);
	weir__callouts_free(e);
	pthread_mutex_destroy(&e->txn_lock);
	pthread_mutex_destroy(&e->meta_lock);
	free(e);
}

int weir_engine_set_default(struct weir_engine *e, int layer, int action)
{
	if (weir_layer_family(layer) < 0 ||
	    (action != WEIR_ACTION_PERMIT && action != WEIR_ACTION_BLOCK))
		return -EINVAL;
	atomic_store(&e->defaults[layer], (uint8_t)action);
	return 0;
}

int weir_sublayer_find(struct weir_engine *e, const char *name)
{
	int id = -ENOENT;

	pthread_mutex_lock(&e->meta_lock);
	for (int i = 0; i < WEIR__MAX_SUBLAYERS && id < 0; i++)
		if (e->sublayers[i].used && !strcmp(e->sublayers[i].name, name))
			id = i;
	pthread_mutex_unlock(&e->meta_lock);
	return id;
}

/* A new sublayer's weight orders only filters committed after it. */
int weir_sublayer_add(struct weir_engine *e, const char *name,
		      uint16_t weight)
{
	int id = -ENOSPC;

	if (!name || !name[0] || strlen(name) >= WEIR_NAME_MAX)
		return -EINVAL;
	if (weir_sublayer_find(e, name) >= 0)
		return -EEXIST;
	pthread_mutex_lock(&e->meta_lock);
	for (int i = 1; i < WEIR__MAX_SUBLAYERS && id < 0; i++) {
		if (e->sublayers[i].used)
			continue;
		strcpy(e->sublayers[i].name, name);
		e->sublayers[i].weight = weight;
		e->sublayers[i].used = true;
		id = i;
	}
	pthread_mutex_unlock(&e->meta_lock);
	return id;
}

/* Classifies with a copy of the fields carrying WEIR_CF_REAUTH. */
static void classify_reauth(struct weir_engine *e,
			    const struct weir__layer_rules *lr,
			    struct weir_classify_in *in,
			    struct weir_decision *ret)
{
	struct weir_fields f = *in->fields;

	f.num[WEIR_FIELD_FLAGS] |= WEIR_CF_REAUTH;
	f.present |= 1ull << WEIR_FIELD_FLAGS;
	in->fields = &f;
	weir__arbitrate(e, lr, in, ret);
	ret->reauth = true;
}

int weir_classify(struct weir_engine *e, const struct weir_classify_in *in,
		  struct weir_decision *ret)
{
	struct weir_classify_in own;
	const struct weir__layer_rules *lr;
	bool reauth;

	if (!e || !in || !in->fields || !ret ||
	    weir_layer_family(in->layer) < 0)
		return -EINVAL;
	own = *in;
	own.engine_ = e; /* so that a callout can pend */
	urcu_bp_read_lock();
	lr = &rcu_dereference(e->rs)->layers[in->layer];
	if (!weir__ale_remembered(e, &own, lr->generation, ret, &reauth)) {
		if (reauth)
			classify_reauth(e, lr, &own, ret);
		else
			weir__arbitrate(e, lr, &own, ret);
		weir__ale_remember(e, &own, lr->generation, ret);
	}
	urcu_bp_read_unlock();
	return 0;
}

int weir_filter_get(struct weir_engine *e, uint64_t id,
		    struct weir_filter_info *ret)
{
	const struct weir__filter *f;

	pthread_mutex_lock(&e->txn_lock);
	f = weir__byid_find(e, id);
	if (f) {
		*ret = (struct weir_filter_info){ .id = f->id,
			.layer = f->layer, .sublayer = f->sublayer,
			.action = f->action, .flags = f->flags,
			.weight = f->weight, .hits = weir__filter_hits(e, f) };
		memcpy(ret->name, f->name, sizeof(ret->name));
		if (f->action >= WEIR_ACTION_CALLOUT_TERMINATING) {
			pthread_mutex_lock(&e->meta_lock);
			memcpy(ret->callout, e->callouts[f->callout_slot].name,
			       sizeof(ret->callout));
			pthread_mutex_unlock(&e->meta_lock);
		}
	}
	pthread_mutex_unlock(&e->txn_lock);
	return f ? 0 : -ENOENT;
}

int weir_filter_hits(struct weir_engine *e, uint64_t id, uint64_t *ret_hits)
{
	const struct weir__filter *f;

	pthread_mutex_lock(&e->txn_lock);
	f = weir__byid_find(e, id);
	if (f)
		*ret_hits = weir__filter_hits(e, f);
	pthread_mutex_unlock(&e->txn_lock);
	return f ? 0 : -ENOENT;
}

uint64_t weir_layer_generation(struct weir_engine *e, int layer)
{
	uint64_t g;

	if (weir_layer_family(layer) < 0)
		return 0;
	urcu_bp_read_lock();
	g = rcu_dereference(e->rs)->layers[layer].generation;
	urcu_bp_read_unlock();
	return g;
}

int weir_engine_slot_swap(struct weir_engine *e, unsigned slot,
			  void *expected, void *desired)
{
	if (!e || slot >= WEIR_ENGINE_SLOT__COUNT)
		return -EINVAL;
	if (!atomic_compare_exchange_strong(&e->slots[slot], &expected,
					    desired))
		return -EBUSY;
	return 0;
}

void *weir_engine_slot(struct weir_engine *e, unsigned slot)
{
	if (!e || slot >= WEIR_ENGINE_SLOT__COUNT)
		return NULL;
	return atomic_load_explicit(&e->slots[slot], memory_order_acquire);
}
