/* Injection handles: typed, closable, and destroyed only once every
 * injection they accepted has completed (the seed's
 * FwpsInjectionHandleDestroy0 semantics).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "inject/inject_internal.h"

_Thread_local unsigned weir__inject_completing;

static _Atomic uint32_t next_serial = 1;

const char *weir_inject_strerror(int status)
{
	switch (status) {
	case 0:
		return "success";
	case WEIR_INJECT_E_NOT_READY:
		return "stack not ready";
	case WEIR_INJECT_E_CLOSING:
		return "handle closing";
	case WEIR_INJECT_E_STALE:
		return "stale handle";
	case -EINVAL:
		return "invalid parameter";
	default:
		return strerror(status < 0 ? -status : status);
	}
}

int weir_inject_handle_create(struct weir_engine *engine, int family,
			      enum weir_inject_type type,
			      struct weir_inject_handle **ret_handle)
{
	struct weir_inject_handle *h;

	if (!engine || !ret_handle ||
	    (family != AF_INET && family != AF_INET6 && family != AF_UNSPEC) ||
	    type < WEIR_INJECT_NETWORK || type > WEIR_INJECT_TRANSPORT)
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->engine = engine;
	h->family = family;
	h->type = type;
	do
		h->serial = atomic_fetch_add(&next_serial, 1);
	while (!h->serial);
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->idle, NULL);
	*ret_handle = h;
	return 0;
}

void weir_inject_handle_close(struct weir_inject_handle *h)
{
	if (h)
		atomic_store(&h->closing, true);
}

uint32_t weir_inject_handle_inflight(const struct weir_inject_handle *h)
{
	return h ? atomic_load(&h->inflight) : 0;
}

void weir__inject_handle_put(struct weir_inject_handle *h)
{
	uint32_t v = atomic_load(&h->inflight);

	/* The last one decrements under the lock, which destroy holds while
	 * it tests the count: destroy cannot see zero and free the handle
	 * while the last one still has the lock in hand. Everyone else just
	 * decrements. */
	while (v > 1)
		if (atomic_compare_exchange_weak(&h->inflight, &v, v - 1))
			return;
	pthread_mutex_lock(&h->lock);
	if (atomic_fetch_sub(&h->inflight, 1) == 1)
		pthread_cond_broadcast(&h->idle);
	pthread_mutex_unlock(&h->lock);
}

int weir_inject_handle_destroy(struct weir_inject_handle *h)
{
	if (!h)
		return 0;
	weir_inject_handle_close(h);
	pthread_mutex_lock(&h->lock);
	if (atomic_load(&h->inflight) && weir__inject_completing) {
		/* Called from a completion: the injector's thread would wait
		 * for itself. */
		pthread_mutex_unlock(&h->lock);
		return -EDEADLK;
	}
	while (atomic_load(&h->inflight))
		pthread_cond_wait(&h->idle, &h->lock);
	pthread_mutex_unlock(&h->lock);
	pthread_cond_destroy(&h->idle);
	pthread_mutex_destroy(&h->lock);
	free(h);
	return 0;
}
