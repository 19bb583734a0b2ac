/* The flow table's life: settings and their defaults, the hash key,
 * stripes and buckets, freeing with every remaining context deleted, and
 * the counters summed over the stripes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "engine/flow_internal.h"

#define SEC 1000000000ull
#define DEFAULT_MAX_FLOWS 65536u

static const uint64_t default_timeout[WEIR__FC__COUNT] = {
	[WEIR__FC_TCP_SYN] = 120 * SEC,
	[WEIR__FC_TCP_EST] = 432000 * SEC,
	[WEIR__FC_TCP_HALF] = 120 * SEC,
	[WEIR__FC_TCP_CLOSING] = 60 * SEC,
	[WEIR__FC_TCP_CLOSED] = 10 * SEC,
	[WEIR__FC_UDP] = 60 * SEC,
	[WEIR__FC_ICMP] = 30 * SEC,
	[WEIR__FC_OTHER] = 600 * SEC,
};

/* ---- table ------------------------------------------------------------ */

static void set_timeouts(struct weir_flow_table *t,
			 const struct weir_flow_timeouts *to)
{
	const uint64_t given[WEIR__FC__COUNT] = {
		[WEIR__FC_TCP_SYN] = to->tcp_syn,
		[WEIR__FC_TCP_EST] = to->tcp_established,
		[WEIR__FC_TCP_HALF] = to->tcp_half_closed,
		[WEIR__FC_TCP_CLOSING] = to->tcp_closing,
		[WEIR__FC_TCP_CLOSED] = to->tcp_closed,
		[WEIR__FC_UDP] = to->udp,
		[WEIR__FC_ICMP] = to->icmp,
		[WEIR__FC_OTHER] = to->other,
	};

	for (int c = 0; c < WEIR__FC__COUNT; c++)
		t->timeout[c] = given[c] ? given[c] : default_timeout[c];
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void set_seed(struct weir_flow_table *t, uint64_t seed)
{
	if (!seed && getrandom(t->sip, sizeof(t->sip), 0) == sizeof(t->sip))
		return;
	if (!seed)
		seed = (uint64_t)(uintptr_t)t ^ 0x5eed5eed5eed5eedull;
	t->sip[0] = splitmix64(&seed);
	t->sip[1] = splitmix64(&seed);
}

/* Buckets per stripe: a power of two, at least the stripe's share. */
static int alloc_buckets(struct weir_flow_table *t)
{
	uint64_t nb = 8;

	while (nb * WEIR__FLOW_STRIPES < t->max_flows)
		nb <<= 1;
	t->bucket_mask = nb - 1;
	for (unsigned i = 0; i < WEIR__FLOW_STRIPES; i++) {
		struct weir__flow_stripe *st = &t->stripes[i];

		st->kb = calloc(nb, sizeof(*st->kb));
		st->ib = calloc(nb, sizeof(*st->ib));
		if (!st->kb || !st->ib)
			return -ENOMEM;
	}
	return 0;
}

static struct weir_flow_table *table_alloc(void)
{
	struct weir_flow_table *t = calloc(1, sizeof(*t));
	size_t sz = sizeof(*t->stripes) * WEIR__FLOW_STRIPES;

	if (!t)
		return NULL;
	t->stripes = aligned_alloc(64, (sz + 63) & ~(size_t)63);
	if (!t->stripes) {
		free(t);
		return NULL;
	}
	memset(t->stripes, 0, sz);
	for (unsigned i = 0; i < WEIR__FLOW_STRIPES; i++)
		pthread_mutex_init(&t->stripes[i].lock, NULL);
	atomic_init(&t->active, 0);
	atomic_init(&t->next_seq, 1);
	atomic_init(&t->expire_cursor, 0);
	return t;
}

struct weir_flow_table *weir_flow_table_new(const struct weir_flow_config *cfg)
{
	static const struct weir_flow_config dflt;
	struct weir_flow_table *t;

	if (!cfg)
		cfg = &dflt;
	if (cfg->max_flows > WEIR_FLOW_MAX_FLOWS ||
	    (cfg->full_policy != WEIR_FLOW_FULL_EVICT &&
	     cfg->full_policy != WEIR_FLOW_FULL_REFUSE)) {
		errno = EINVAL;
		return NULL;
	}
	t = table_alloc();
	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	t->max_flows = cfg->max_flows ? cfg->max_flows : DEFAULT_MAX_FLOWS;
	t->full_policy = cfg->full_policy;
	t->on_ctx_delete = cfg->on_ctx_delete;
	t->arg = cfg->arg;
	set_timeouts(t, &cfg->timeouts);
	set_seed(t, cfg->hash_seed);
	if (alloc_buckets(t) < 0) {
		weir_flow_table_free(t);
		errno = ENOMEM;
		return NULL;
	}
	return t;
}

void weir_flow_table_free(struct weir_flow_table *t)
{
	struct weir__flow_grave g = { 0 };

	if (!t)
		return;
	for (unsigned i = 0; i < WEIR__FLOW_STRIPES; i++) {
		struct weir__flow_stripe *st = &t->stripes[i];

		for (int c = 0; c < WEIR__FC__COUNT; c++) {
			struct weir__flow *f, *next;

			for (f = st->lists[c].head; f; f = next) {
				next = f->next;
				f->knext = g.flows;
				g.flows = f;
			}
		}
		free(st->kb);
		free(st->ib);
		pthread_mutex_destroy(&st->lock);
	}
	weir__flow_bury(t, &g);
	free(t->stripes);
	free(t);
}
/* ---- counters ---------------------------------------------------------- */

int weir_flow_stats(struct weir_flow_table *t, struct weir_flow_stats *ret)
{
	struct weir_flow_stats s = { 0 };

	if (!t || !ret)
		return -EINVAL;
	for (unsigned i = 0; i < WEIR__FLOW_STRIPES; i++) {
		struct weir__flow_stripe *st = &t->stripes[i];

		pthread_mutex_lock(&st->lock);
		s.active += st->n;
		s.created += st->created;
		s.expired += st->expired;
		s.deleted += st->deleted;
		s.evicted += st->evicted;
		s.refused += st->refused;
		s.contexts += st->contexts;
		pthread_mutex_unlock(&st->lock);
	}
	*ret = s;
	return 0;
}
