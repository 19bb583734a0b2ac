/* The callout registry: a fixed table of named slots. A filter names its
 * callout by slot, created on first mention, so filters may exist before
 * their callout registers and keep working after it comes back. A slot's
 * ops are an RCU-published copy: classification reads them without a
 * lock, and unregistering waits for readers before freeing.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <urcu-bp.h>

#include "engine/engine_internal.h"
#include "engine/flow_internal.h"

static int slot_find(struct weir_engine *e, const char *name)
{
	for (uint32_t i = 1; i < e->ncallouts; i++)
		if (!strcmp(e->callouts[i].name, name))
			return (int)i;
	return -ENOENT;
}

/* Caller holds meta_lock. Slot 0 is never used, so 0 means "none". */
static int slot_get(struct weir_engine *e, const char *name)
{
	int s = slot_find(e, name);

	if (s >= 0)
		return s;
	if (e->ncallouts == 0)
		e->ncallouts = 1;
	if (e->ncallouts == WEIR__MAX_CALLOUTS)
		return -ENOSPC;
	s = (int)e->ncallouts++;
	strncpy(e->callouts[s].name, name, WEIR_NAME_MAX - 1);
	return s;
}

int weir__callout_slot(struct weir_engine *e, const char *name)
{
	int s;

	pthread_mutex_lock(&e->meta_lock);
	s = slot_get(e, name);
	pthread_mutex_unlock(&e->meta_lock);
	return s;
}

int weir_callout_register(struct weir_engine *e,
			  const struct weir_callout *callout)
{
	struct weir_callout *copy;
	int s;

	if (!e || !callout || !callout->name || !callout->name[0] ||
	    strlen(callout->name) >= WEIR_NAME_MAX || !callout->classify)
		return -EINVAL;
	copy = malloc(sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	*copy = *callout;
	pthread_mutex_lock(&e->meta_lock);
	s = slot_get(e, callout->name);
	if (s >= 0 && e->callouts[s].ops)
		s = -EEXIST;
	if (s >= 0) {
		copy->name = e->callouts[s].name;
		rcu_assign_pointer(e->callouts[s].ops, copy);
	}
	pthread_mutex_unlock(&e->meta_lock);
	if (s < 0)
		free(copy);
	return s;
}

int weir_callout_flags(struct weir_engine *e, const char *name,
		       uint32_t *ret_flags)
{
	int s;

	if (!e || !name || !ret_flags)
		return -EINVAL;
	pthread_mutex_lock(&e->meta_lock);
	s = slot_find(e, name);
	if (s >= 0 && !e->callouts[s].ops)
		s = -ENOENT;
	if (s >= 0)
		*ret_flags = e->callouts[s].ops->flags;
	pthread_mutex_unlock(&e->meta_lock);
	return s < 0 ? s : 0;
}

static void drained(void *arg, uint64_t flow_id, int layer, uint64_t ctx)
{
	const struct weir_callout *c = arg;

	if (c->flow_delete)
		c->flow_delete(c->priv, layer, flow_id, ctx);
}

/* Unregistering ends the callout's flow contexts: once no classification
 * can reach it (after the grace period), each context it still holds is
 * taken from its flow and handed to its flow_delete, exactly once. */
int weir_callout_unregister(struct weir_engine *e, const char *name)
{
	struct weir_callout *old = NULL;
	int s;

	pthread_mutex_lock(&e->txn_lock); /* not during a commit's notify */
	pthread_mutex_lock(&e->meta_lock);
	s = slot_find(e, name);
	if (s >= 0) {
		old = e->callouts[s].ops;
		rcu_assign_pointer(e->callouts[s].ops, NULL);
	}
	pthread_mutex_unlock(&e->meta_lock);
	pthread_mutex_unlock(&e->txn_lock);
	if (!old)
		return -ENOENT;
	urcu_bp_synchronize_rcu(); /* no classify still runs in it */
	weir__flow_ctx_drain_slot(e->flows, (uint16_t)s, drained, old);
	free(old);
	return 0;
}

int weir__callout_notify(struct weir_engine *e, const struct weir__filter *f,
			 enum weir_notify event)
{
	const struct weir_callout *c;
	struct weir_filter_view v = {
		.id = f->id, .name = f->name, .layer = f->layer,
		.sublayer = f->sublayer, .action = f->action,
		.flags = f->flags, .weight = f->weight,
		.context = f->context, .params = f->params,
		.callout_slot = f->callout_slot };

	if (f->action < WEIR_ACTION_CALLOUT_TERMINATING)
		return 0;
	pthread_mutex_lock(&e->meta_lock);
	c = e->callouts[f->callout_slot].ops;
	pthread_mutex_unlock(&e->meta_lock);
	/* The caller holds the transaction lock, which unregistering
	 * takes too: the callout cannot go away in between. */
	return c && c->notify ? c->notify(c->priv, event, &v) : 0;
}

void weir__callouts_free(struct weir_engine *e)
{
	for (uint32_t i = 0; i < e->ncallouts; i++)
		free(e->callouts[i].ops);
}
