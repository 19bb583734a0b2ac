/* The compiled classifier: tuple space search with priority-ordered
 * subtables (the scheme of Open vSwitch's classifier), one per sublayer.
 *
 * Each filter is indexed by up to five "key" fields: source and
 * destination address (masked to a prefix length rounded down to a
 * multiple of 8 bits for IPv4, 16 for IPv6), protocol and the two ports
 * (exact values only). A filter whose key fields hold several values (an
 * OR or a set) gets one entry per combination, up to MAX_EXPAND. Entries
 * with the same shape (which fields, which prefix lengths) share a
 * subtable: a hash table from masked key to the ranks of the filters with
 * that key, ascending. Every other condition, and the exact prefix, is
 * checked on the candidate with the reference matcher (match.c), so the
 * classifier can only be faster than the linear evaluator, never
 * different.
 *
 * Lookup of the first match at or after rank `from`: subtables are
 * visited in order of the smallest rank they hold and the walk stops as
 * soon as that smallest rank cannot beat the best match found. With
 * automatic weights (more specific filters first) the first subtable
 * usually decides. Cost grows with the number of shapes, not filters.
 * docs/engine.md discusses the choice.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/tss.h"

/* Two cache lines: the key and, inline, the first candidate, so that a
 * hit on a one-candidate bucket (the common case) costs one memory
 * round trip (both lines are prefetched together). */
struct slot {
	_Alignas(64) uint64_t hash;  /* 0 = empty */
	uint32_t first, count;       /* into tuple.cands; cands[first] is c0 */
	union tkey key;
	struct cand c0;
};

struct tuple {
	struct shape sh;
	union tkey mask;             /* of the shape */
	uint64_t seed;               /* hash seed of the shape */
	uint32_t min_rank, max_rank;
	uint32_t nslot_mask;         /* slots - 1 */
	uint64_t *bloom;             /* two bits per key, 16 bits per key in
	                              * all (~1.4% false positives): most
	                              * misses are answered here, from a
	                              * table 28 times smaller than the
	                              * slots, without touching them */
	uint32_t bloom_mask;         /* bits - 1 */
	struct slot *slots;
	struct cand *cands;          /* per slot, ascending rank */
};

struct sub_cls {
	uint32_t ntuple;
	struct tuple *t;             /* ascending min_rank */
};

struct weir__cls {
	struct weir__filter *const *f;
	uint32_t nsub;
	struct sub_cls *subs;
	unsigned alen;
};

/* ---- build ----------------------------------------------------------- */

static int by_shape_key_rank(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = memcmp(&x->sh, &y->sh, sizeof(x->sh));

	if (!c)
		c = memcmp(&x->key, &y->key, sizeof(x->key));
	if (!c)
		c = (x->cand.rank > y->cand.rank) - (x->cand.rank < y->cand.rank);
	return c;
}

static void slot_put(struct tuple *t, const union tkey *key, uint32_t first,
		     uint32_t count)
{
	uint64_t h = key_hash(key, t->seed);
	uint32_t i = (uint32_t)h & t->nslot_mask;

	while (t->slots[i].hash)
		i = (i + 1) & t->nslot_mask;
	t->slots[i] = (struct slot){ .hash = h, .first = first,
				     .count = count, .key = *key,
				     .c0 = t->cands[first] };
	uint32_t b1 = (uint32_t)(h >> 40) & t->bloom_mask;
	uint32_t b2 = (uint32_t)(h >> 20) & t->bloom_mask;

	t->bloom[b1 / 64] |= 1ull << (b1 % 64);
	t->bloom[b2 / 64] |= 1ull << (b2 % 64);
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 8;

	while (p < n)
		p *= 2;
	return p;
}

static bool same_key(const struct entry *a, const struct entry *b)
{
	return key_eq(&a->key, &b->key);
}

/* Builds one tuple from e[0..n), entries of one shape sorted by key and
 * rank: one slot per distinct key with its candidates in rank order. */
static int tuple_build(struct tuple *t, const struct entry *e, uint32_t n,
		       unsigned alen)
{
	uint32_t keys = 0, nc = 0;

	t->sh = e[0].sh;
	shape_mask(&t->sh, alen, &t->mask);
	t->seed = 0x243f6a8885a308d3ull ^ (uint64_t)t->sh.src_q << 16 ^
		  (uint64_t)t->sh.dst_q << 8 ^ t->sh.kf;
	t->min_rank = UINT32_MAX;
	for (uint32_t i = 0; i < n; i++)
		keys += !i || !same_key(&e[i], &e[i - 1]);
	t->nslot_mask = pow2_at_least(keys + keys / 2) - 1;
	t->slots = aligned_alloc(64, sizeof(*t->slots) * (t->nslot_mask + 1));
	if (t->slots)
		memset(t->slots, 0, sizeof(*t->slots) * (t->nslot_mask + 1));
	t->cands = malloc(sizeof(*t->cands) * n);
	t->bloom_mask = pow2_at_least(keys * 16 > 512 ? keys * 16 : 512) - 1;
	t->bloom = calloc((t->bloom_mask + 1) / 64, sizeof(*t->bloom));
	if (!t->slots || !t->cands || !t->bloom)
		return -ENOMEM;
	for (uint32_t i = 0, start = 0; i < n; i++) {
		if (!(i && same_key(&e[i], &e[i - 1]) &&
		      !memcmp(&e[i].cand, &e[i - 1].cand, sizeof(e->cand))))
			t->cands[nc++] = e[i].cand;
		if (e[i].cand.rank < t->min_rank)
			t->min_rank = e[i].cand.rank;
		if (e[i].cand.rank > t->max_rank)
			t->max_rank = e[i].cand.rank;
		if (i + 1 == n || !same_key(&e[i], &e[i + 1])) {
			slot_put(t, &e[i].key, start, nc - start);
			start = nc;
		}
	}
	return 0;
}

static int by_min_rank(const void *a, const void *b)
{
	const struct tuple *x = a, *y = b;

	return (x->min_rank > y->min_rank) - (x->min_rank < y->min_rank);
}

static int sub_build(struct sub_cls *sc, struct weir__tss_entries *v,
		     unsigned alen)
{
	uint32_t nt = 0;

	qsort(v->e, v->n, sizeof(*v->e), by_shape_key_rank);
	sc->t = calloc(v->n ? v->n : 1, sizeof(*sc->t));
	if (!sc->t)
		return -ENOMEM;
	for (uint32_t i = 0, start = 0; i < v->n; i++) {
		if (i + 1 < v->n && !memcmp(&v->e[i].sh, &v->e[i + 1].sh,
					    sizeof(v->e->sh)))
			continue;
		sc->ntuple = ++nt;
		if (tuple_build(&sc->t[nt - 1], v->e + start, i + 1 - start,
				alen))
			return -ENOMEM;
		start = i + 1;
	}
	qsort(sc->t, nt, sizeof(*sc->t), by_min_rank);
	return 0;
}

struct weir__cls *weir__cls_build(struct weir__filter *const *f, uint32_t n,
				  const struct weir__sub_range *subs,
				  uint32_t nsub)
{
	struct weir__cls *cls = calloc(1, sizeof(*cls));
	struct weir__tss_entries v = { 0 };

	if (!cls)
		return NULL;
	cls->f = f;
	cls->nsub = nsub;
	cls->alen = n && weir_layer_family(f[0]->layer) == AF_INET6 ? 16 : 4;
	cls->subs = calloc(nsub ? nsub : 1, sizeof(*cls->subs));
	if (!cls->subs)
		goto fail;
	for (uint32_t s = 0; s < nsub; s++) {
		v.n = 0;
		for (uint32_t r = subs[s].first; r < subs[s].end; r++)
			if (weir__tss_expand(f[r], r, cls->alen, &v) < 0)
				goto fail;
		if (sub_build(&cls->subs[s], &v, cls->alen) < 0)
			goto fail;
	}
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
		for (uint32_t i = 0; i < cls->subs[s].ntuple; i++) {
			free(cls->subs[s].t[i].slots);
			free(cls->subs[s].t[i].cands);
			free(cls->subs[s].t[i].bloom);
		}
		free(cls->subs[s].t);
	}
	free(cls->subs);
	free(cls);
}

/* ---- lookup ---------------------------------------------------------- */

/* The packet's key for an address length known at compile time (the
 * callers pass 4 or 16, so each gets its own fixed-size copies). The
 * result says which exact fields exist (KF_*). */
static inline uint8_t packet_key(const struct weir_fields *fl,
				 const unsigned alen, union tkey *k)
{
	uint8_t have = 0;

	memset(k, 0, sizeof(*k));
	memcpy(k->f.src, fl->src, alen);
	memcpy(k->f.dst, fl->dst, alen);
	if (fl->present & (1ull << WEIR_FIELD_IP_PROTO)) {
		k->f.proto = (uint8_t)fl->num[WEIR_FIELD_IP_PROTO];
		have |= KF_PROTO;
	}
	if (fl->present & (1ull << WEIR_FIELD_SRC_PORT)) {
		k->f.sport = (uint16_t)fl->num[WEIR_FIELD_SRC_PORT];
		have |= KF_SPORT;
	}
	if (fl->present & (1ull << WEIR_FIELD_DST_PORT)) {
		k->f.dport = (uint16_t)fl->num[WEIR_FIELD_DST_PORT];
		have |= KF_DPORT;
	}
	return have;
}

/* One tuple's share of a lookup: its masked key and hash, computed (and
 * its slot prefetched) before any slot is read, so that the cache misses
 * of all the tuples overlap instead of adding up. */
struct pending {
	const struct tuple *t;
	uint64_t h;
	union tkey k;
};

/* Fills p for tuple t; false when the bloom word rules the tuple out. */
static inline bool prepare(const struct tuple *t, const union tkey *pk,
			   struct pending *p)
{
	for (int w = 0; w < 5; w++)
		p->k.w[w] = pk->w[w] & t->mask.w[w];
	p->h = key_hash(&p->k, t->seed);
	uint32_t b1 = (uint32_t)(p->h >> 40) & t->bloom_mask;
	uint32_t b2 = (uint32_t)(p->h >> 20) & t->bloom_mask;

	if (!(t->bloom[b1 / 64] & (1ull << (b1 % 64))) ||
	    !(t->bloom[b2 / 64] & (1ull << (b2 % 64))))
		return false;
	p->t = t;
	{
		const struct slot *sl = &t->slots[(uint32_t)p->h &
						  t->nslot_mask];

		__builtin_prefetch(sl);
		__builtin_prefetch((const char *)sl + 64);
	}
	return true;
}

static const struct slot *probe(const struct pending *p)
{
	const struct tuple *t = p->t;
	uint32_t i;

	for (i = (uint32_t)p->h & t->nslot_mask; t->slots[i].hash;
	     i = (i + 1) & t->nslot_mask)
		if (t->slots[i].hash == p->h && key_eq(&t->slots[i].key, &p->k))
			return &t->slots[i];
	return NULL;
}

static inline bool prefix_ok(const uint8_t *a, const uint8_t *p,
			     unsigned plen, const unsigned alen)
{
	uint8_t x[16];
	unsigned bytes = plen / 8, bits = plen % 8;

	if (alen == 4) { /* one 32-bit compare */
		uint32_t va, vp, m = plen ? 0xffffffffu << (32 - plen) : 0;

		memcpy(&va, a, 4);
		memcpy(&vp, p, 4);
		return ((ntohl(va) ^ ntohl(vp)) & m) == 0;
	}
	memcpy(x, a, 16);
	if (memcmp(x, p, bytes))
		return false;
	return !bits || ((x[bytes] ^ p[bytes]) & (0xff00u >> bits)) == 0;
}

static inline bool range_ok(const struct weir_fields *fl, uint16_t field,
			    uint16_t lo, uint16_t hi)
{
	uint64_t x;

	if (lo == 0 && hi == 0xffff)
		return true;
	if (!(fl->present & (1ull << field)))
		return false;
	x = fl->num[field];
	return x >= lo && x <= hi;
}

/* An address condition of the candidate: none (plen 0), or the field
 * present and within the prefix. */
static inline bool addr_ok(const struct weir_fields *fl, uint16_t field,
			   const uint8_t *a, const uint8_t *p, unsigned plen,
			   const unsigned alen)
{
	return !plen || ((fl->present & (1ull << field)) &&
			 prefix_ok(a, p, plen, alen));
}

/* What the candidate alone can rule out, before the filter is read. */
static inline bool cand_ok(const struct cand *c, const struct weir_fields *fl,
			   const unsigned alen)
{
	return range_ok(fl, WEIR_FIELD_DST_PORT, c->dport_lo, c->dport_hi) &&
	       range_ok(fl, WEIR_FIELD_SRC_PORT, c->sport_lo, c->sport_hi) &&
	       addr_ok(fl, WEIR_FIELD_IP_SRC, fl->src, c->src, c->src_plen,
		       alen) &&
	       addr_ok(fl, WEIR_FIELD_IP_DST, fl->dst, c->dst, c->dst_plen,
		       alen);
}

/* The first candidate of slot s with rank in [from, best) that matches. */
static inline uint32_t slot_first(const struct weir__cls *cls,
				  const struct tuple *t, const struct slot *s,
				  const struct weir_fields *fl, uint32_t from,
				  uint32_t best, const unsigned alen)
{
	for (uint32_t j = 0; j < s->count; j++) {
		const struct cand *c = j ? &t->cands[s->first + j] : &s->c0;

		if (c->rank >= best)
			break;
		/* A complete candidate needs no filter read. */
		if (c->rank >= from && cand_ok(c, fl, alen) &&
		    (c->complete || weir__filter_matches(cls->f[c->rank], fl)))
			return c->rank;
	}
	return best;
}

#define BATCH 16

static inline int64_t next_in(const struct weir__cls *cls, uint32_t sub,
			      const struct weir_fields *fl, uint32_t from,
			      const unsigned alen)
{
	const struct sub_cls *sc = &cls->subs[sub];
	uint32_t best = UINT32_MAX, i = 0;
	struct pending p[BATCH];
	union tkey pk;
	uint8_t have = packet_key(fl, alen, &pk);
	bool has_src = fl->present & (1ull << WEIR_FIELD_IP_SRC);
	bool has_dst = fl->present & (1ull << WEIR_FIELD_IP_DST);

	while (i < sc->ntuple && sc->t[i].min_rank < best) {
		uint32_t n = 0;

		/* Batch: hash and prefetch the next eligible tuples... */
		for (; i < sc->ntuple && n < BATCH; i++) {
			const struct tuple *t = &sc->t[i];

			if (t->max_rank < from || (t->sh.kf & ~have) ||
			    (t->sh.src_q && !has_src) ||
			    (t->sh.dst_q && !has_dst))
				continue;
			n += prepare(t, &pk, &p[n]);
		}
		/* ...then probe them in rank order, stopping when no later
		 * tuple can hold a better match. */
		for (uint32_t j = 0; j < n && p[j].t->min_rank < best; j++) {
			const struct slot *s = probe(&p[j]);

			if (s)
				best = slot_first(cls, p[j].t, s, fl, from,
						  best, alen);
		}
	}
	return best == UINT32_MAX ? -1 : (int64_t)best;
}

int64_t weir__cls_next(const struct weir__cls *cls, uint32_t sub,
		       const struct weir_fields *fl, uint32_t from)
{
	if (cls->alen == 4)
		return next_in(cls, sub, fl, from, 4);
	return next_in(cls, sub, fl, from, 16);
}
