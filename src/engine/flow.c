/* Flows in the table: the per-class activity lists, lookup and creation
 * within the bound (eviction), operations by id, expiry, and the deferred
 * deletion that runs on_ctx_delete outside the locks. Layout and
 * invariants: flow_internal.h; the table's life: flow_table.c.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "engine/flow_internal.h"

/* ---- lists and buckets (stripe locked) ---------------------------------- */

static void list_append(struct weir__flow_list *l, struct weir__flow *f)
{
	f->next = NULL;
	f->prev = l->tail;
	if (l->tail)
		l->tail->next = f;
	else
		l->head = f;
	l->tail = f;
}

static void list_remove(struct weir__flow_list *l, struct weir__flow *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		l->head = f->next;
	if (f->next)
		f->next->prev = f->prev;
	else
		l->tail = f->prev;
	f->prev = f->next = NULL;
}

static struct weir__flow **kbucket(const struct weir_flow_table *t,
				   struct weir__flow_stripe *st, uint64_t hash)
{
	return &st->kb[(hash >> WEIR__FLOW_STRIPE_BITS) & t->bucket_mask];
}

static struct weir__flow **ibucket(const struct weir_flow_table *t,
				   struct weir__flow_stripe *st, uint64_t id)
{
	return &st->ib[(id >> WEIR__FLOW_STRIPE_BITS) & t->bucket_mask];
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t deadline(const struct weir_flow_table *t,
			 const struct weir__flow *f)
{
	return sat_add(f->last, t->timeout[f->cls]);
}

bool weir__flow_due(const struct weir_flow_table *t, const struct weir__flow *f,
		    uint64_t now)
{
	return now >= deadline(t, f);
}

void weir__flow_refresh(struct weir__flow_stripe *st, struct weir__flow *f,
			uint64_t now)
{
	list_remove(&st->lists[f->cls], f);
	if (f->key.proto == IPPROTO_TCP)
		f->cls = weir__flow_tcp_class(f->tcp_state);
	if (now > st->clock)
		st->clock = now;
	f->last = st->clock;
	list_append(&st->lists[f->cls], f);
}

void weir__flow_unlink(struct weir_flow_table *t, struct weir__flow_stripe *st,
		       struct weir__flow *f, uint64_t *counter,
		       struct weir__flow_grave *g)
{
	struct weir__flow **pp = kbucket(t, st, f->hash);

	while (*pp != f)
		pp = &(*pp)->knext;
	*pp = f->knext;
	pp = ibucket(t, st, f->id);
	while (*pp != f)
		pp = &(*pp)->inext;
	*pp = f->inext;
	list_remove(&st->lists[f->cls], f);
	st->n--;
	st->contexts -= f->nctx;
	(*counter)++;
	atomic_fetch_sub(&t->active, 1);
	f->knext = g->flows;
	g->flows = f;
}

/* ---- deferred deletion ------------------------------------------------ */

static void ctx_deleted(struct weir_flow_table *t, uint64_t flow_id,
			const struct weir__flow_ctx *c)
{
	if (t->on_ctx_delete)
		t->on_ctx_delete(t->arg, flow_id, c->layer, c->slot, c->ctx);
}

void weir__flow_bury(struct weir_flow_table *t, struct weir__flow_grave *g)
{
	struct weir__flow *f;

	if (g->one)
		ctx_deleted(t, g->flow_id, &g->ctx);
	g->one = false;
	while ((f = g->flows)) {
		g->flows = f->knext;
		for (uint32_t i = 0; i < f->nctx; i++)
			ctx_deleted(t, f->id, &f->ctx[i]);
		weir__flow_attach_free(f);
		free(f);
	}
}

void weir__flow_unlock(struct weir_flow_table *t, struct weir__flow_stripe *st,
		       struct weir__flow_grave *g)
{
	pthread_mutex_unlock(&st->lock);
	weir__flow_bury(t, g);
}

struct weir__flow *weir__flow_lock_id(struct weir_flow_table *t, uint64_t id,
				      struct weir__flow_stripe **ret_st)
{
	struct weir__flow_stripe *st =
		&t->stripes[id & WEIR__FLOW_STRIPE_MASK];
	struct weir__flow *f;

	pthread_mutex_lock(&st->lock);
	for (f = *ibucket(t, st, id); f && f->id != id; f = f->inext)
		;
	*ret_st = st;
	return f;
}

/* ---- bound and eviction -------------------------------------------------- */

/* The flow of a stripe nearest its deadline (the earliest list head). */
static struct weir__flow *victim(const struct weir_flow_table *t,
				 const struct weir__flow_stripe *st)
{
	struct weir__flow *best = NULL;

	for (int c = 0; c < WEIR__FC__COUNT; c++) {
		struct weir__flow *f = st->lists[c].head;

		if (f && (!best || deadline(t, f) < deadline(t, best)))
			best = f;
	}
	return best;
}

/* Makes room: removes the flow nearest its deadline in the table. The
 * caller's stripe is locked; the others are only tried (trylock), so two
 * creating threads never wait for each other and a busy stripe is skipped
 * this time. The best candidate's stripe stays locked until the end. */
static bool evict_one(struct weir_flow_table *t, struct weir__flow_stripe *own,
		      uint64_t now, struct weir__flow_grave *g)
{
	unsigned base = (unsigned)(own - t->stripes);
	struct weir__flow_stripe *bst = own;
	struct weir__flow *best = victim(t, own);

	for (unsigned i = 1; i < WEIR__FLOW_STRIPES; i++) {
		struct weir__flow_stripe *st =
			&t->stripes[(base + i) & WEIR__FLOW_STRIPE_MASK];
		struct weir__flow *f;

		if (pthread_mutex_trylock(&st->lock))
			continue;
		f = victim(t, st);
		if (f && (!best || deadline(t, f) < deadline(t, best))) {
			if (bst != own)
				pthread_mutex_unlock(&bst->lock);
			bst = st;
			best = f;
		} else {
			pthread_mutex_unlock(&st->lock);
		}
	}
	if (best)
		weir__flow_unlink(t, bst, best, weir__flow_due(t, best, now)
				  ? &bst->expired : &bst->evicted, g);
	if (bst != own)
		pthread_mutex_unlock(&bst->lock);
	return best != NULL;
}

/* Counts one more flow against max_flows, evicting if allowed. */
static int reserve(struct weir_flow_table *t, struct weir__flow_stripe *st,
		   uint64_t now, struct weir__flow_grave *g)
{
	for (int tries = 0; tries < 8; tries++) {
		uint_fast64_t n = atomic_load(&t->active);

		while (n < t->max_flows)
			if (atomic_compare_exchange_weak(&t->active, &n, n + 1))
				return 0;
		if (t->full_policy == WEIR_FLOW_FULL_REFUSE ||
		    !evict_one(t, st, now, g))
			break;
	}
	return -ENOSPC;
}

/* ---- lookup ------------------------------------------------------------- */

static uint8_t proto_class(uint8_t proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return weir__flow_tcp_class(WEIR_FLOW_TCP_NONE);
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
		return WEIR__FC_UDP;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return WEIR__FC_ICMP;
	default:
		return WEIR__FC_OTHER;
	}
}

static int create(struct weir_flow_table *t, struct weir__flow_stripe *st,
		  const struct weir_flow_key *nk, uint64_t hash, uint64_t now,
		  struct weir__flow_grave *g, struct weir__flow **ret)
{
	uint64_t seq;
	struct weir__flow *f;

	if (reserve(t, st, now, g) < 0) {
		st->refused++;
		return -ENOSPC;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		atomic_fetch_sub(&t->active, 1);
		return -ENOMEM;
	}
	seq = atomic_fetch_add(&t->next_seq, 1);
	f->id = seq << WEIR__FLOW_STRIPE_BITS | (uint64_t)(st - t->stripes);
	f->hash = hash;
	f->key = *nk;
	f->created = now;
	f->cls = proto_class(nk->proto);
	f->knext = *kbucket(t, st, hash);
	*kbucket(t, st, hash) = f;
	f->inext = *ibucket(t, st, f->id);
	*ibucket(t, st, f->id) = f;
	list_append(&st->lists[f->cls], f);
	weir__flow_refresh(st, f, now);
	st->n++;
	st->created++;
	*ret = f;
	return 0;
}

static struct weir__flow *find_key(const struct weir_flow_table *t,
				   struct weir__flow_stripe *st,
				   const struct weir_flow_key *nk,
				   uint64_t hash, int *ret_dir)
{
	for (struct weir__flow *f = *kbucket(t, st, hash); f; f = f->knext) {
		int dir;

		if (f->hash != hash)
			continue;
		dir = weir__flow_key_match(&f->key, nk);
		if (dir >= 0) {
			*ret_dir = dir;
			return f;
		}
	}
	return NULL;
}

static unsigned hit(struct weir__flow_stripe *st, struct weir__flow *f,
		    int dir, uint64_t now, unsigned flags)
{
	unsigned info = (dir ? WEIR_FLOWI_REPLY : 0) |
			(f->seen_reply ? WEIR_FLOWI_ANSWERED : 0);

	if (flags & WEIR_FLOW_NOTOUCH)
		return info;
	if (dir && !f->seen_reply) {
		f->seen_reply = true;
		info |= WEIR_FLOWI_FIRST_REPLY;
	}
	weir__flow_refresh(st, f, now);
	return info;
}

int weir_flow_lookup(struct weir_flow_table *t, const struct weir_flow_key *k,
		     uint64_t now_ns, unsigned flags, uint64_t *ret_flow_id,
		     unsigned *ret_info)
{
	struct weir__flow_grave g = { 0 };
	struct weir__flow_stripe *st;
	struct weir_flow_key nk;
	struct weir__flow *f;
	uint64_t hash, id = 0;
	unsigned info = 0;
	int dir = 0, rc = 0;

	if (!t || !k || (flags & ~(WEIR_FLOW_CREATE | WEIR_FLOW_NOTOUCH)) ||
	    weir__flow_key_norm(&nk, k) < 0)
		return -EINVAL;
	hash = weir__flow_key_hash(t->sip, &nk);
	st = &t->stripes[hash & WEIR__FLOW_STRIPE_MASK];
	pthread_mutex_lock(&st->lock);
	f = find_key(t, st, &nk, hash, &dir);
	if (f && weir__flow_due(t, f, now_ns)) {
		weir__flow_unlink(t, st, f, &st->expired, &g);
		f = NULL;
	}
	if (f)
		info = hit(st, f, dir, now_ns, flags);
	else if (!(flags & WEIR_FLOW_CREATE))
		rc = -ENOENT;
	else if ((rc = create(t, st, &nk, hash, now_ns, &g, &f)) == 0)
		info = WEIR_FLOWI_NEW;
	if (f)
		id = f->id;
	weir__flow_unlock(t, st, &g);
	if (rc < 0)
		return rc;
	if (ret_flow_id)
		*ret_flow_id = id;
	if (ret_info)
		*ret_info = info;
	return 0;
}

/* ---- by id ------------------------------------------------------------ */

int weir_flow_touch(struct weir_flow_table *t, uint64_t flow_id,
		    uint64_t now_ns)
{
	struct weir__flow_grave g = { 0 };
	struct weir__flow_stripe *st;
	struct weir__flow *f;
	int rc = 0;

	if (!t)
		return -EINVAL;
	f = weir__flow_lock_id(t, flow_id, &st);
	if (!f)
		rc = -ENOENT;
	else if (weir__flow_due(t, f, now_ns)) {
		weir__flow_unlink(t, st, f, &st->expired, &g);
		rc = -ENOENT;
	} else
		weir__flow_refresh(st, f, now_ns);
	weir__flow_unlock(t, st, &g);
	return rc;
}

int weir_flow_delete(struct weir_flow_table *t, uint64_t flow_id)
{
	struct weir__flow_grave g = { 0 };
	struct weir__flow_stripe *st;
	struct weir__flow *f;

	if (!t)
		return -EINVAL;
	f = weir__flow_lock_id(t, flow_id, &st);
	if (f)
		weir__flow_unlink(t, st, f, &st->deleted, &g);
	weir__flow_unlock(t, st, &g);
	return f ? 0 : -ENOENT;
}

int weir_flow_info_get(struct weir_flow_table *t, uint64_t flow_id,
		       struct weir_flow_info *ret)
{
	struct weir__flow_grave g = { 0 };
	struct weir__flow_stripe *st;
	struct weir__flow *f;
	struct weir_flow_info info;

	if (!t || !ret)
		return -EINVAL;
	f = weir__flow_lock_id(t, flow_id, &st);
	if (f) {
		memset(&info, 0, sizeof(info));
		info.key = f->key;
		info.created_ns = f->created;
		info.last_ns = f->last;
		info.expires_ns = deadline(t, f);
		info.tcp_state = f->tcp_state;
		info.seen_reply = f->seen_reply;
		info.contexts = f->nctx;
		info.decisions = f->ndec;
	}
	weir__flow_unlock(t, st, &g);
	if (!f)
		return -ENOENT;
	*ret = info;
	return 0;
}

/* ---- expiry and stats ----------------------------------------------------- */

static size_t expire_stripe(struct weir_flow_table *t,
			    struct weir__flow_stripe *st, uint64_t now,
			    size_t max, struct weir__flow_grave *g)
{
	size_t n = 0;

	for (int c = 0; c < WEIR__FC__COUNT && n < max; c++) {
		struct weir__flow *f;

		while (n < max && (f = st->lists[c].head) &&
		       weir__flow_due(t, f, now)) {
			weir__flow_unlink(t, st, f, &st->expired, g);
			n++;
		}
	}
	return n;
}

size_t weir_flow_expire(struct weir_flow_table *t, uint64_t now_ns,
			size_t max)
{
	unsigned start;
	size_t done = 0;

	if (!t)
		return 0;
	if (max == 0)
		max = SIZE_MAX;
	start = atomic_fetch_add(&t->expire_cursor, 1);
	for (unsigned i = 0; i < WEIR__FLOW_STRIPES; i++) {
		unsigned s = (start + i) & WEIR__FLOW_STRIPE_MASK;
		struct weir__flow_stripe *st = &t->stripes[s];
		struct weir__flow_grave g = { 0 };

		pthread_mutex_lock(&st->lock);
		done += expire_stripe(t, st, now_ns, max - done, &g);
		weir__flow_unlock(t, st, &g);
		if (done == max) {
			atomic_store(&t->expire_cursor, s);
			break;
		}
	}
	return done;
}
