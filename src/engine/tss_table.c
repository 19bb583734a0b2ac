/* Tuple tables, build side: entries of one shape to a table of candidate
 * records with its bloom filter. See tss_table.h for the scheme.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "engine/tss_table.h"

/* REC_PERMIT or REC_BLOCK when f's match decides without its lines: a
 * plain action, not hard (arbitration would need the flag), an id the
 * record can hold (32 bits above the classifier's base). Anything else
 * takes the rank's line, as before. */
static uint8_t rec_decides(const struct weir__filter *f, uint64_t id_base)
{
	if ((f->flags & WEIR_FILTER_CLEAR_ACTION_RIGHT) ||
	    f->id - id_base > UINT32_MAX)
		return 0;
	return f->action == WEIR_ACTION_PERMIT ? REC_PERMIT
	       : f->action == WEIR_ACTION_BLOCK ? REC_BLOCK : 0;
}

static uint8_t rec_need(const struct entry *e, const struct weir__filter *f,
			uint64_t id_base)
{
	const struct cand *c = &e->cand;

	return (c->src_plen ? NEED_SRC : 0) | (c->dst_plen ? NEED_DST : 0) |
	       (e->sh.kf & KF_PROTO ? NEED_PROTO : 0) |
	       (c->sport_lo || c->sport_hi != 0xffff ? NEED_SPORT : 0) |
	       (c->dport_lo || c->dport_hi != 0xffff ? NEED_DPORT : 0) |
	       (c->complete ? REC_COMPLETE : 0) | rec_decides(f, id_base);
}

static uint32_t be32_at(const uint8_t *a)
{
	uint32_t v;

	memcpy(&v, a, 4);
	return ntohl(v);
}

static void halves(const uint8_t *a, unsigned plen, uint64_t *h)
{
	uint8_t m[16];

	memcpy(m, a, 16);
	mask_bits(m, 16, plen);
	h[0] = (uint64_t)be32_at(m) << 32 | be32_at(m + 4);
	h[1] = (uint64_t)be32_at(m + 8) << 32 | be32_at(m + 12);
}

static void rec4_make(struct rec4 *r, const struct entry *e,
		      const struct weir__filter *f, uint64_t id_base)
{
	const struct cand *c = &e->cand;

	*r = (struct rec4){
		.rank = c->rank,
		.src = be32_at(c->src) & mask32(c->src_plen),
		.dst = be32_at(c->dst) & mask32(c->dst_plen),
		.src_plen = c->src_plen, .dst_plen = c->dst_plen,
		.proto = e->key.f.proto, .need = rec_need(e, f, id_base),
		.sport_lo = c->sport_lo,
		.sport_span = (uint16_t)(c->sport_hi - c->sport_lo),
		.dport_lo = c->dport_lo,
		.dport_span = (uint16_t)(c->dport_hi - c->dport_lo),
		.id = (uint32_t)(f->id - id_base) };
	atomic_init(&r->hits, 0);
}

static void rec6_make(struct rec6 *r, const struct entry *e,
		      const struct weir__filter *f, uint64_t id_base)
{
	const struct cand *c = &e->cand;

	*r = (struct rec6){
		.rank = c->rank,
		.src_plen = c->src_plen, .dst_plen = c->dst_plen,
		.proto = e->key.f.proto, .need = rec_need(e, f, id_base),
		.sport_lo = c->sport_lo,
		.sport_span = (uint16_t)(c->sport_hi - c->sport_lo),
		.dport_lo = c->dport_lo,
		.dport_span = (uint16_t)(c->dport_hi - c->dport_lo),
		.id = (uint32_t)(f->id - id_base) };
	atomic_init(&r->hits, 0);
	halves(c->src, c->src_plen, r->src);
	halves(c->dst, c->dst_plen, r->dst);
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 8;

	while (p < n)
		p *= 2;
	return p;
}

/* Linear probing from the key's home slot; entries come in rank order,
 * so the records of one key lie along its run in rank order. */
static void tuple_put(struct tuple *t, const struct entry *e,
		      const struct weir__filter *f, unsigned alen)
{
	uint64_t h = key_hash(&e->key, &t->mask, t->seed, alen);
	uint32_t i = tuple_home(t, h);

	if (alen == 4) {
		struct rec4 *r = t->recs;

		while (r[i].rank != REC_EMPTY)
			i = i + 1 == t->nslot ? 0 : i + 1;
		rec4_make(&r[i], e, f, t->id_base);
	} else {
		struct rec6 *r = t->recs;

		while (r[i].rank != REC_EMPTY)
			i = i + 1 == t->nslot ? 0 : i + 1;
		rec6_make(&r[i], e, f, t->id_base);
	}
	bloom_add(t, h);
}

/* Big tables get transparent huge pages where the system allows them
 * (madvise mode): a probe is then one cache miss, without a TLB miss in
 * front of it (a 10 MB table spans 2,500 small pages, more than the
 * second-level TLB holds). */
static void *recs_alloc(size_t bytes)
{
	size_t huge = 2u << 20;
	void *p;

	if (bytes < huge / 2)
		return aligned_alloc(64, (bytes + 63) / 64 * 64);
	bytes = (bytes + huge - 1) / huge * huge;
	p = aligned_alloc(huge, bytes);
	if (p)
		madvise(p, bytes, MADV_HUGEPAGE);
	return p;
}

static void shape_need(struct tuple *t)
{
	t->need = (t->sh.src_q ? NEED_SRC : 0) | (t->sh.dst_q ? NEED_DST : 0) |
		  (t->sh.kf & KF_PROTO ? NEED_PROTO : 0) |
		  (t->sh.sport_q ? NEED_SPORT : 0) |
		  (t->sh.dport_q ? NEED_DPORT : 0);
}

int weir__tss_tuple_build(struct tuple *t, const struct entry *e,
			  uint32_t n, struct weir__filter *const *f,
			  unsigned alen, uint64_t id_base)
{
	size_t rsz = alen == 4 ? sizeof(struct rec4) : sizeof(struct rec6);
	uint32_t words = pow2_at_least(n / 4) < (1u << 20)
			 ? pow2_at_least(n / 4) : 1u << 20;

	t->sh = e[0].sh;
	t->id_base = id_base;
	shape_mask(&t->sh, alen, &t->mask);
	shape_need(t);
	t->seed = 0x243f6a8885a308d3ull ^ (uint64_t)t->sh.sport_q << 32 ^
		  (uint64_t)t->sh.dport_q << 24 ^ (uint64_t)t->sh.src_q << 16 ^
		  (uint64_t)t->sh.dst_q << 8 ^ t->sh.kf;
	t->min_rank = e[0].cand.rank;
	t->max_rank = e[n - 1].cand.rank;
	/* Half full: runs stay short (1.5 records for a hit, 2.5 for a
	 * miss), and the record is the slot, so this costs 2x records. */
	t->nslot = n * 2;
	t->recs = recs_alloc(rsz * t->nslot);
	t->bloom_mask = words - 1;
	t->bloom = calloc(words, sizeof(*t->bloom));
	if (!t->recs || !t->bloom)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->nslot; i++)
		*(uint32_t *)((char *)t->recs + i * rsz) = REC_EMPTY;
	for (uint32_t i = 0; i < n; i++)
		tuple_put(t, &e[i], f[e[i].cand.rank], alen);
	return 0;
}

void weir__tss_tuple_free(struct tuple *t)
{
	free(t->recs);
	free(t->bloom);
}
