/* Pended classifications (WFP's FwpsPendClassify0/CompleteClassify0): a
 * callout holds a packet's classification and decides later, from any
 * thread; a pend that outlives the engine's timeout gets its filter's
 * default. Each pend ends exactly once, through the handler the capture
 * source installed. Bounded in number and time.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine_internal.h"

struct weir__pend {
	uint64_t id;
	uint64_t cookie;
	uint64_t deadline;
	uint8_t fallback;                /* action on timeout */
	struct weir__pend *hnext;        /* hash chain */
	struct weir__pend *prev, *next;  /* deadline list */
};

uint64_t weir__now(const struct weir_classify_in *in)
{
	struct timespec ts;

	if (in && in->now_ns)
		return in->now_ns;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int resize(struct weir__pends *p, uint32_t max)
{
	uint32_t n = 16;

	while (n < max * 2u && n < (1u << 24))
		n *= 2;
	if (n <= p->nbucket)
		return 0;
	/* Only grown while empty (see weir_engine_set_pend). */
	free(p->buckets);
	p->buckets = calloc(n, sizeof(*p->buckets));
	p->nbucket = p->buckets ? n : 0;
	return p->buckets ? 0 : -ENOMEM;
}

int weir__pends_init(struct weir__pends *p)
{
	memset(p, 0, sizeof(*p));
	pthread_mutex_init(&p->lock, NULL);
	p->max = 4096;
	p->timeout_ns = 5000000000ull;
	p->next_id = 1;
	return resize(p, p->max);
}

static struct weir__pend **slot_of(struct weir__pends *p, uint64_t id)
{
	struct weir__pend **pp = &p->buckets[(id * 0x9e3779b97f4a7c15ull >> 32) &
					     (p->nbucket - 1)];

	while (*pp && (*pp)->id != id)
		pp = &(*pp)->hnext;
	return pp;
}

/* Takes a pend out of both structures; caller holds the lock. */
static void unlink_pend(struct weir__pends *p, struct weir__pend *x)
{
	*slot_of(p, x->id) = x->hnext;
	if (x->prev)
		x->prev->next = x->next;
	else
		p->head = x->next;
	if (x->next)
		x->next->prev = x->prev;
	else
		p->tail = x->prev;
	p->count--;
}

int weir_engine_set_pend(struct weir_engine *e, weir_pend_fn fn, void *arg,
			 uint32_t max, uint64_t timeout_ns)
{
	struct weir__pends *p = &e->pends;
	int rc = 0;

	if (!max || !timeout_ns)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	if (p->count && (max * 2u > p->nbucket || !fn))
		rc = -EBUSY; /* no rehash, and no handler loss, under pends */
	else
		rc = resize(p, max);
	if (!rc) {
		p->fn = fn;
		p->arg = arg;
		p->max = max;
		p->timeout_ns = timeout_ns;
	}
	pthread_mutex_unlock(&p->lock);
	return rc;
}

int weir_pend(const struct weir_classify_in *in,
	      const struct weir_filter_view *filter,
	      struct weir_callout_out *out, uint64_t *ret_id)
{
	struct weir__pends *p;
	struct weir__pend *x;
	int rc = 0;

	if (!in || !in->engine_ || !filter || !out || !ret_id)
		return -EINVAL;
	p = &in->engine_->pends;
	x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->cookie = in->cookie;
	x->deadline = weir__now(in) + p->timeout_ns;
	x->fallback = filter->flags & WEIR_FILTER_PEND_PERMIT
		      ? WEIR_ACTION_PERMIT : WEIR_ACTION_BLOCK;
	pthread_mutex_lock(&p->lock);
	if (!p->fn)
		rc = -ENOTSUP;
	else if (p->count >= p->max)
		rc = -ENOSPC;
	if (!rc) {
		x->id = p->next_id++;
		*slot_of(p, x->id) = x;
		x->prev = p->tail;
		if (p->tail)
			p->tail->next = x;
		else
			p->head = x;
		p->tail = x;
		p->count++;
		out->flags |= WEIR_CLASSIFY_PEND;
		out->pend_id = *ret_id = x->id;
	}
	pthread_mutex_unlock(&p->lock);
	if (rc)
		free(x);
	return rc;
}

static bool recently_expired(const struct weir__pends *p, uint64_t id)
{
	for (size_t i = 0; i < sizeof(p->expired) / sizeof(p->expired[0]); i++)
		if (p->expired[i] == id)
			return true;
	return false;
}

int weir_pend_complete(struct weir_engine *e, uint64_t id, uint8_t action,
		       struct weir_pkt *replacement)
{
	struct weir__pends *p = &e->pends;
	struct weir__pend *x;
	int rc = 0;

	if (action != WEIR_ACTION_PERMIT && action != WEIR_ACTION_BLOCK)
		return -EINVAL;
	pthread_mutex_lock(&p->lock);
	x = id ? *slot_of(p, id) : NULL;
	if (x)
		unlink_pend(p, x);
	else
		rc = id && recently_expired(p, id) ? -ETIMEDOUT : -ENOENT;
	pthread_mutex_unlock(&p->lock);
	if (rc)
		return rc;
	/* The handler runs unlocked: it may pend or complete again. */
	p->fn(p->arg, x->cookie, id, WEIR_PEND_COMPLETED, action, replacement);
	free(x);
	return 0;
}

/* Takes the oldest pend if it is due (or any, when `all`). */
static struct weir__pend *take_due(struct weir__pends *p, uint64_t now,
				   bool all)
{
	struct weir__pend *x;

	pthread_mutex_lock(&p->lock);
	x = p->head;
	if (x && (all || x->deadline <= now)) {
		unlink_pend(p, x);
		p->expired[p->expired_pos++ % 256] = x->id;
	} else {
		x = NULL;
	}
	pthread_mutex_unlock(&p->lock);
	return x;
}

size_t weir_pend_expire(struct weir_engine *e, uint64_t now_ns)
{
	struct weir__pends *p = &e->pends;
	uint64_t now = now_ns ? now_ns : weir__now(NULL);
	struct weir__pend *x;
	size_t n = 0;

	while ((x = take_due(p, now, false))) {
		p->fn(p->arg, x->cookie, x->id, WEIR_PEND_TIMED_OUT,
		      x->fallback, NULL);
		free(x);
		n++;
	}
	return n;
}

uint32_t weir_pend_count(struct weir_engine *e)
{
	uint32_t n;

	pthread_mutex_lock(&e->pends.lock);
	n = e->pends.count;
	pthread_mutex_unlock(&e->pends.lock);
	return n;
}

void weir__pends_exit(struct weir__pends *p)
{
	struct weir__pend *x;

	while ((x = take_due(p, 0, true))) {
		p->fn(p->arg, x->cookie, x->id, WEIR_PEND_CANCELLED,
		      x->fallback, NULL);
		free(x);
	}
	free(p->buckets);
	pthread_mutex_destroy(&p->lock);
}
