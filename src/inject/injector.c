/* Injectors: the packet source's delivery of injections, installed in an
 * engine slot. Handles find it at each injection (so a handle made before
 * the source started works once it has), under RCU so that uninstalling
 * never races with an injection that is looking it up.
 */
#include <errno.h>
#include <stdlib.h>
#include <urcu-bp.h>

#include "inject/inject_internal.h"

int weir_injector_new(struct weir_engine *engine,
		      const struct weir_inject_ops *ops, void *arg,
		      struct weir_injector **ret_injector)
{
	struct weir_injector *inj;
	int rc;

	if (!engine || !ops || !ops->submit || !ret_injector)
		return -EINVAL;
	inj = calloc(1, sizeof(*inj));
	if (!inj)
		return -ENOMEM;
	inj->engine = engine;
	inj->ops = *ops;
	inj->arg = arg;
	pthread_mutex_init(&inj->lock, NULL);
	pthread_cond_init(&inj->idle, NULL);
	rc = weir_engine_slot_swap(engine, WEIR_ENGINE_SLOT_INJECTOR, NULL, inj);
	if (rc) {
		free(inj);
		return rc == -EBUSY ? -EEXIST : rc;
	}
	*ret_injector = inj;
	return 0;
}

struct weir_injector *weir__injector_get(struct weir_engine *engine)
{
	struct weir_injector *inj;

	urcu_bp_read_lock();
	inj = weir_engine_slot(engine, WEIR_ENGINE_SLOT_INJECTOR);
	if (inj)
		atomic_fetch_add(&inj->users, 1);
	urcu_bp_read_unlock();
	return inj;
}

void weir__injector_put(struct weir_injector *inj)
{
	uint32_t v = atomic_load(&inj->users);

	/* The last user decrements under the lock, which free() holds
	 * while it tests the count: free cannot see zero and go while the
	 * last user still has the lock in hand. Everyone else just
	 * decrements. */
	while (v > 1)
		if (atomic_compare_exchange_weak(&inj->users, &v, v - 1))
			return;
	pthread_mutex_lock(&inj->lock);
	if (atomic_fetch_sub(&inj->users, 1) == 1)
		pthread_cond_broadcast(&inj->idle);
	pthread_mutex_unlock(&inj->lock);
}

void weir_injector_free(struct weir_injector *inj)
{
	if (!inj)
		return;
	weir_engine_slot_swap(inj->engine, WEIR_ENGINE_SLOT_INJECTOR, inj,
			      NULL);
	/* After this no injection can still be between finding the
	 * injector and counting itself as a user. */
	urcu_bp_synchronize_rcu();
	if (inj->ops.shutdown)
		inj->ops.shutdown(inj->arg);
	pthread_mutex_lock(&inj->lock);
	while (atomic_load(&inj->users))
		pthread_cond_wait(&inj->idle, &inj->lock);
	pthread_mutex_unlock(&inj->lock);
	pthread_cond_destroy(&inj->idle);
	pthread_mutex_destroy(&inj->lock);
	free(inj);
}
