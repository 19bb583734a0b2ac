/* The compiled classifier: tuple space search with priority-ordered
 * subtables (the scheme of Open vSwitch's classifier), one per sublayer.
 *
 * Each filter is indexed by up to five "key" fields: source and
 * destination address (masked to a coarse prefix length, tss_expand.c),
 * protocol and the two ports (exact values; ranges too, cut into blocks
 * of their top bits, where many filters would share one key without:
 * tss_port.c, tss_crowd.c). A filter whose key fields hold several
 * values (an OR, a set, a range's blocks) gets one entry per
 * combination, up to MAX_EXPAND. Entries with the same shape (which
 * fields, which prefix lengths) share a subtable (tss_table.c): a hash
 * table of candidate records keyed by the masked key. The record checks
 * exact prefixes and port ranges; every other condition is checked with
 * the reference matcher (match.c), so the classifier can only be faster
 * than the linear evaluator, never different.
 *
 * Lookup of the first match at or after rank `from`: subtables are
 * visited in order of the smallest rank they hold and the walk stops as
 * soon as that smallest rank cannot beat the best match found. With
 * automatic weights (more specific filters first) the first subtable
 * usually decides. Cost grows with the number of shapes, not filters.
 * docs/engine.md discusses the choice.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/tss_table.h"

struct sub_cls {
	uint32_t ntuple;
	struct tuple *t;             /* ascending min_rank */
};

struct weir__cls {
	struct weir__filter *const *f;
	struct weir__rank *ranks;
	uint32_t nsub;
	struct sub_cls *subs;
	unsigned alen;
	uint64_t id_base;            /* records hold ids less this */
	/* The hit counters of the deciding records of rank r:
	 * hit_at[hit_off[r] .. hit_off[r + 1]) (weir__cls_hits). */
	uint32_t *hit_off;
	atomic_uint **hit_at;
};

/* ---- build ----------------------------------------------------------- */

static int by_shape_rank(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = memcmp(&x->sh, &y->sh, sizeof(x->sh));

	if (!c)
		c = (x->cand.rank > y->cand.rank) -
		    (x->cand.rank < y->cand.rank);
	return c;
}

static int by_min_rank(const void *a, const void *b)
{
	const struct tuple *x = a, *y = b;

	return (x->min_rank > y->min_rank) - (x->min_rank < y->min_rank);
}

static int sub_build(struct sub_cls *sc, struct weir__tss_entries *v,
		     struct weir__filter *const *f, unsigned alen,
		     uint64_t id_base)
{
	uint32_t nt = 0;

	qsort(v->e, v->n, sizeof(*v->e), by_shape_rank);
	sc->t = calloc(v->n ? v->n : 1, sizeof(*sc->t));
	if (!sc->t)
		return -ENOMEM;
	for (uint32_t i = 0, start = 0; i < v->n; i++) {
		if (i + 1 < v->n && !memcmp(&v->e[i].sh, &v->e[i + 1].sh,
					    sizeof(v->e->sh)))
			continue;
		sc->ntuple = ++nt;
		if (weir__tss_tuple_build(&sc->t[nt - 1], v->e + start,
					  i + 1 - start, f, alen, id_base))
			return -ENOMEM;
		start = i + 1;
	}
	qsort(sc->t, nt, sizeof(*sc->t), by_min_rank);
	return 0;
}

/* Drops the entries of the marked filters, then appends them again,
 * expanded with their port ranges hashed (entries are sorted later). */
static int reexpand(struct weir__filter *const *f,
		    const struct weir__sub_range *sr, const uint8_t *mark,
		    unsigned alen, struct weir__tss_entries *v)
{
	uint32_t out = 0;

	for (uint32_t i = 0; i < v->n; i++)
		if (!mark[v->e[i].cand.rank - sr->first])
			v->e[out++] = v->e[i];
	v->n = out;
	for (uint32_t r = sr->first; r < sr->end; r++)
		if (mark[r - sr->first] &&
		    weir__tss_expand(f[r], r, alen, true, v) < 0)
			return -ENOMEM;
	return 0;
}

/* The entries of one sublayer: port ranges hashed only for the filters
 * that crowd a key without (tss_crowd.c). */
static int sub_entries(struct weir__filter *const *f,
		       const struct weir__sub_range *sr, unsigned alen,
		       struct weir__tss_entries *v)
{
	uint8_t *mark;
	int err;

	v->n = 0;
	for (uint32_t r = sr->first; r < sr->end; r++)
		if (weir__tss_expand(f[r], r, alen, false, v) < 0)
			return -ENOMEM;
	mark = calloc(sr->end - sr->first + 1, 1);
	if (!mark)
		return -ENOMEM;
	err = weir__tss_crowded(v, alen, sr->first, mark);
	if (err > 0)
		err = reexpand(f, sr, mark, alen, v);
	free(mark);
	return err;
}

/* Calls fn on every deciding record's rank and hit counter. */
static void each_counter(struct weir__cls *cls,
			 void (*fn)(struct weir__cls *, uint32_t, atomic_uint *))
{
	size_t rsz = cls->alen == 4 ? sizeof(struct rec4)
				    : sizeof(struct rec6);

	for (uint32_t s = 0; s < cls->nsub; s++)
		for (uint32_t i = 0; i < cls->subs[s].ntuple; i++) {
			const struct tuple *t = &cls->subs[s].t[i];

			for (uint32_t k = 0; k < t->nslot; k++) {
				char *r = (char *)t->recs + k * rsz;
				uint32_t rank = *(uint32_t *)r;
				uint8_t need;
				atomic_uint *hits;

				if (rank == REC_EMPTY)
					continue;
				if (cls->alen == 4) {
					need = ((struct rec4 *)r)->need;
					hits = &((struct rec4 *)r)->hits;
				} else {
					need = ((struct rec6 *)r)->need;
					hits = &((struct rec6 *)r)->hits;
				}
				if (need & (REC_PERMIT | REC_BLOCK))
					fn(cls, rank, hits);
			}
		}
}

static void count_counter(struct weir__cls *cls, uint32_t rank,
			  atomic_uint *hits)
{
	cls->hit_off[rank + 1]++;
}

static void place_counter(struct weir__cls *cls, uint32_t rank,
			  atomic_uint *hits)
{
	cls->hit_at[cls->hit_off[rank]++] = hits;
}

/* The index from a rank to its records' hit counters, for counting a
 * filter's hits without a walk of every table. */
static int index_counters(struct weir__cls *cls, uint32_t n)
{
	cls->hit_off = calloc(n + 2, sizeof(*cls->hit_off));
	if (!cls->hit_off)
		return -ENOMEM;
	each_counter(cls, count_counter);
	for (uint32_t r = 0; r < n; r++)
		cls->hit_off[r + 1] += cls->hit_off[r];
	cls->hit_at = malloc(sizeof(*cls->hit_at) *
			     (cls->hit_off[n] ? cls->hit_off[n] : 1));
	if (!cls->hit_at)
		return -ENOMEM;
	/* Placing advances each start to the next rank's: shift back. */
	each_counter(cls, place_counter);
	memmove(cls->hit_off + 1, cls->hit_off, n * sizeof(*cls->hit_off));
	cls->hit_off[0] = 0;
	return 0;
}

size_t weir__cls_bytes(const struct weir__cls *cls)
{
	size_t rsz = cls->alen == 4 ? sizeof(struct rec4)
				    : sizeof(struct rec6), sum = 0;

	for (uint32_t s = 0; s < cls->nsub; s++)
		for (uint32_t i = 0; i < cls->subs[s].ntuple; i++) {
			const struct tuple *t = &cls->subs[s].t[i];

			sum += (size_t)t->nslot * rsz +
			       ((size_t)t->bloom_mask + 1) * sizeof(*t->bloom);
		}
	return sum;
}

uint64_t weir__cls_hits(const struct weir__cls *cls, uint32_t rank)
{
	uint64_t sum = 0;

	for (uint32_t i = cls->hit_off[rank]; i < cls->hit_off[rank + 1]; i++)
		sum += atomic_load_explicit(cls->hit_at[i],
					    memory_order_relaxed);
	return sum;
}

static int by_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* The base of the 2^32 ids that the records can hold: where that window
 * holds the most filters. Usually all of them; but an engine's ids grow
 * past any explicit one, so after a single large explicit id the window
 * must follow the many filters added later, not the one. */
static int pick_id_base(struct weir__filter *const *f, uint32_t n,
			uint64_t *ret)
{
	uint64_t *ids = malloc(sizeof(*ids) * (n ? n : 1));
	uint32_t best = 0;

	if (!ids)
		return -ENOMEM;
	for (uint32_t r = 0; r < n; r++)
		ids[r] = f[r]->id;
	qsort(ids, n, sizeof(*ids), by_u64);
	*ret = n ? ids[0] : 0;
	for (uint32_t lo = 0, hi = 0; lo < n; lo++) {
		while (hi < n && ids[hi] - ids[lo] <= UINT32_MAX)
			hi++;
		if (hi - lo > best) {
			best = hi - lo;
			*ret = ids[lo];
		}
	}
	free(ids);
	return 0;
}

struct weir__cls *weir__cls_build(struct weir__filter *const *f, uint32_t n,
				  struct weir__rank *ranks,
				  const struct weir__sub_range *subs,
				  uint32_t nsub)
{
	struct weir__cls *cls = calloc(1, sizeof(*cls));
	struct weir__tss_entries v = { 0 };

	if (!cls)
		return NULL;
	cls->f = f;
	cls->ranks = ranks;
	cls->nsub = nsub;
	cls->alen = n && weir_layer_family(f[0]->layer) == AF_INET6 ? 16 : 4;
	if (pick_id_base(f, n, &cls->id_base) < 0)
		goto fail;
	cls->subs = calloc(nsub ? nsub : 1, sizeof(*cls->subs));
	if (!cls->subs)
		goto fail;
	for (uint32_t s = 0; s < nsub; s++)
		if (sub_entries(f, &subs[s], cls->alen, &v) < 0 ||
		    sub_build(&cls->subs[s], &v, f, cls->alen,
			      cls->id_base) < 0)
			goto fail;
	if (index_counters(cls, n) < 0)
		goto fail;
	free(v.e);
	return cls;
fail:
	free(v.e);
	weir__cls_free(cls);
	return NULL;
}

void weir__cls_free(struct weir__cls *cls)
{
	if (!cls)
		return;
	for (uint32_t s = 0; cls->subs && s < cls->nsub; s++) {
		for (uint32_t i = 0; i < cls->subs[s].ntuple; i++)
			weir__tss_tuple_free(&cls->subs[s].t[i]);
		free(cls->subs[s].t);
	}
	free(cls->subs);
	free(cls->hit_off);
	free(cls->hit_at);
	free(cls);
}

/* ---- lookup ---------------------------------------------------------- */

static inline uint64_t be64_at(const uint8_t *a)
{
	uint64_t v;

	memcpy(&v, a, 8);
	return be64toh(v);
}

/* The packet's values for an address length known at compile time (the
 * callers pass 4 or 16, so each gets its own fixed-size copies). */
static inline void packet_of(const struct weir_fields *fl,
			     const unsigned alen, struct pkt *p)
{
	uint64_t pr = fl->present;
	uint32_t a;

	memset(&p->key, 0, sizeof(p->key));
	memcpy(p->key.f.src, fl->src, alen);
	memcpy(p->key.f.dst, fl->dst, alen);
	p->have = (pr >> WEIR_FIELD_IP_SRC & 1 ? NEED_SRC : 0) |
		  (pr >> WEIR_FIELD_IP_DST & 1 ? NEED_DST : 0) |
		  (pr >> WEIR_FIELD_IP_PROTO & 1 ? NEED_PROTO : 0) |
		  (pr >> WEIR_FIELD_SRC_PORT & 1 ? NEED_SPORT : 0) |
		  (pr >> WEIR_FIELD_DST_PORT & 1 ? NEED_DPORT : 0);
	/* An absent field's value is never looked at: the record's need
	 * bits, or the tuple's, rule it out first. */
	p->proto = (uint8_t)fl->num[WEIR_FIELD_IP_PROTO];
	p->sport = (uint16_t)fl->num[WEIR_FIELD_SRC_PORT];
	p->dport = (uint16_t)fl->num[WEIR_FIELD_DST_PORT];
	p->key.f.proto = p->proto;
	p->key.f.sport = p->sport;
	p->key.f.dport = p->dport;
	if (alen == 4) {
		memcpy(&a, fl->src, 4);
		p->src4 = ntohl(a);
		memcpy(&a, fl->dst, 4);
		p->dst4 = ntohl(a);
	} else {
		p->src6[0] = be64_at(fl->src);
		p->src6[1] = be64_at(fl->src + 8);
		p->dst6[0] = be64_at(fl->dst);
		p->dst6[1] = be64_at(fl->dst + 8);
	}
}

/* One tuple's share of a lookup: its hash and home slot, computed (and
 * the slot prefetched) before any slot is read, so that the cache misses
 * of all the tuples overlap instead of adding up. */
struct pending {
	const struct tuple *t;
	char *home;
};

/* Fills pd for tuple t; false when the bloom filter rules it out. */
static inline bool prepare(const struct tuple *t, const struct pkt *p,
			   struct pending *pd, const unsigned alen)
{
	uint64_t h = key_hash(&p->key, &t->mask, t->seed, alen);
	size_t rsz = alen == 4 ? sizeof(struct rec4) : sizeof(struct rec6);

	if (!bloom_has(t, h))
		return false;
	pd->t = t;
	pd->home = (char *)t->recs + tuple_home(t, h) * rsz;
	/* The run's next record may start the next line. */
	__builtin_prefetch(pd->home);
	__builtin_prefetch(pd->home + rsz);
	return true;
}

/* The lookup's answer so far: the best rank and its record. */
struct best {
	uint32_t rank;
	uint8_t need;
	uint32_t id;
	atomic_uint *hits;
};

/* Walks the run of one probe: the first record that matches and beats
 * the best so far. Records were inserted in rank order, so every record
 * between a key's home and one of its records ranks before that record:
 * the first record (of any key) that ranks at or after the best ends the
 * walk, checked or not. */
static inline void probe4(const struct weir__cls *cls,
			  const struct pending *pd, const struct pkt *p,
			  const struct weir_fields *fl, uint32_t from,
			  struct best *b)
{
	const struct tuple *t = pd->t;
	struct rec4 *base = t->recs, *r = (void *)pd->home;

	for (; r->rank != REC_EMPTY;
	     r = r + 1 == base + t->nslot ? base : r + 1) {
		if (r->rank >= b->rank)
			return;
		if (r->rank < from || !rec4_ok(r, p))
			continue;
		if (r->need & REC_COMPLETE ||
		    weir__filter_matches(cls->f[r->rank], fl)) {
			*b = (struct best){ .rank = r->rank, .need = r->need,
					    .id = r->id, .hits = &r->hits };
			return;
		}
	}
}

static inline void probe6(const struct weir__cls *cls,
			  const struct pending *pd, const struct pkt *p,
			  const struct weir_fields *fl, uint32_t from,
			  struct best *b)
{
	const struct tuple *t = pd->t;
	struct rec6 *base = t->recs, *r = (void *)pd->home;

	for (; r->rank != REC_EMPTY;
	     r = r + 1 == base + t->nslot ? base : r + 1) {
		if (r->rank >= b->rank)
			return;
		if (r->rank < from || !rec6_ok(r, p))
			continue;
		if (r->need & REC_COMPLETE ||
		    weir__filter_matches(cls->f[r->rank], fl)) {
			*b = (struct best){ .rank = r->rank, .need = r->need,
					    .id = r->id, .hits = &r->hits };
			return;
		}
	}
}

#define BATCH 16

/* A deciding record counts its match and gives the decision; any other
 * match leaves both to arbitration, which reads the rank's line. */
static inline void answer(const struct weir__cls *cls, const struct best *b,
			  struct weir__match *m)
{
	*m = (struct weir__match){ .rank = b->rank };
	if (!(b->need & (REC_PERMIT | REC_BLOCK))) {
		/* Arbitration reads the rank's line next, and adds to its
		 * hit count: start fetching it, for writing, now. */
		__builtin_prefetch(&cls->ranks[b->rank], 1);
		return;
	}
	m->action = b->need & REC_PERMIT ? WEIR_ACTION_PERMIT
					 : WEIR_ACTION_BLOCK;
	m->id = cls->id_base + b->id;
	rec_count(b->hits, &cls->ranks[b->rank].hits);
}

static inline int64_t next_in(const struct weir__cls *cls, uint32_t sub,
			      const struct weir_fields *fl, uint32_t from,
			      struct weir__match *m, const unsigned alen)
{
	const struct sub_cls *sc = &cls->subs[sub];
	struct best b = { .rank = UINT32_MAX };
	struct pending pd[BATCH];
	struct pkt p;
	uint32_t i = 0;

	packet_of(fl, alen, &p);
	while (i < sc->ntuple && sc->t[i].min_rank < b.rank) {
		uint32_t n = 0;

		/* Batch: hash and prefetch the next eligible tuples... */
		for (; i < sc->ntuple && n < BATCH; i++) {
			const struct tuple *t = &sc->t[i];

			if (t->max_rank < from || (t->need & ~p.have))
				continue;
			n += prepare(t, &p, &pd[n], alen);
		}
		/* ...then probe them in rank order, stopping when no later
		 * tuple can hold a better match. */
		for (uint32_t j = 0; j < n && pd[j].t->min_rank < b.rank; j++)
			if (alen == 4)
				probe4(cls, &pd[j], &p, fl, from, &b);
			else
				probe6(cls, &pd[j], &p, fl, from, &b);
	}
	if (b.rank == UINT32_MAX)
		return -1;
	answer(cls, &b, m);
	return b.rank;
}

int64_t weir__cls_next(const struct weir__cls *cls, uint32_t sub,
		       const struct weir_fields *fl, uint32_t from,
		       struct weir__match *m)
{
	if (cls->alen == 4)
		return next_in(cls, sub, fl, from, m, 4);
	return next_in(cls, sub, fl, from, m, 16);
}
