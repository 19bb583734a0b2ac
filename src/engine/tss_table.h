/* One tuple of the classifier: the hash table of one shape, whose slots
 * are the candidate records themselves, and its bloom filter.
 *
 * A record holds everything the lookup checks before the filter: rank,
 * exact prefixes, protocol, port ranges, and which fields the packet must
 * have. Those checks imply the hashed key (prefixes are at least as long
 * as the shape's, a keyed port's range lies in its block), so a probe
 * compares no key: it checks the records of its run until an empty slot.
 * A matching record has the packet's key, and the records of one key lie
 * along the run in rank order (inserted in rank order, linear probing),
 * so the first one that matches is the best of its key.
 *
 * IPv4 records are 32 bytes (two per cache line) and IPv6 ones 64: at
 * 100k filters the IPv4 tables take ~10 MB, so they stay in L3, where
 * two-line slots with full keys took ~45 MB and every probe went to DRAM.
 *
 * A record of a plain permit or block filter (no callout, write right
 * kept, an id below 2^32) also holds the decision and the hit count: a
 * lookup that ends on it touches no other line. The filter's own lines
 * (struct weir__filter, struct weir__rank) are each one more cache miss
 * after the record's, which at 100k filters doubled the cost of a match.
 */
#ifndef WEIR_ENGINE_TSS_TABLE_H
#define WEIR_ENGINE_TSS_TABLE_H

#include <arpa/inet.h>
#include <stdatomic.h>

#include "engine/tss.h"

/* Fields a record checks, and so that the packet must have. The same
 * bits describe what a packet has (struct pkt.have). */
enum {
	NEED_SRC = 1, NEED_DST = 2, NEED_PROTO = 4, NEED_SPORT = 8,
	NEED_DPORT = 16, NEED_ALL = 31,
	REC_PERMIT = 0x20,           /* a plain permit: id and hits here */
	REC_BLOCK = 0x40,            /* a plain block: id and hits here */
	REC_COMPLETE = 0x80,         /* the checks are the whole filter */
};

#define REC_EMPTY UINT32_MAX     /* rank of a free slot */

struct rec4 {
	uint32_t rank;
	uint32_t src, dst;           /* host order, zero past the prefix */
	uint8_t src_plen, dst_plen;
	uint8_t proto;
	uint8_t need;                /* NEED_* | REC_COMPLETE */
	uint16_t sport_lo, sport_span; /* port - lo <= span */
	uint16_t dport_lo, dport_span;
	uint32_t id;                 /* with REC_PERMIT or REC_BLOCK: the
	                              * filter's id minus the tuple's base */
	atomic_uint hits;            /* matches decided by this record;
	                              * its wrap adds 2^32 to the rank's */
};

struct rec6 {
	uint32_t rank;
	uint8_t src_plen, dst_plen;
	uint8_t proto;
	uint8_t need;
	uint16_t sport_lo, sport_span;
	uint16_t dport_lo, dport_span;
	uint64_t src[2], dst[2];     /* host order halves, zero past prefix */
	uint32_t id;                 /* as in rec4 */
	atomic_uint hits;
	uint8_t pad[8];
};

_Static_assert(sizeof(struct rec4) == 32, "two IPv4 records a line");
_Static_assert(sizeof(struct rec6) == 64, "one IPv6 record a line");

struct tuple {
	union tkey mask;             /* of the shape */
	uint64_t seed;               /* hash seed of the shape */
	uint8_t need;                /* NEED_* the shape hashes */
	struct shape sh;
	uint32_t min_rank, max_rank;
	uint32_t nslot;              /* any size: index by multiply-shift */
	uint32_t bloom_mask;         /* words - 1 */
	uint64_t *bloom;             /* two bits in one word per key: one
	                              * cache line answers a miss */
	void *recs;                  /* struct rec4 or rec6 [nslot] */
	uint64_t id_base;            /* records hold ids less this */
};

/* A packet's values, converted once per lookup. */
struct pkt {
	union tkey key;              /* as hashed, before the shape mask */
	uint8_t have;                /* NEED_* */
	uint8_t proto;
	uint16_t sport, dport;
	uint32_t src4, dst4;         /* host order */
	uint64_t src6[2], dst6[2];
};

/* Builds t from e[0..n), entries of one shape in ascending rank; f is
 * the layer's filters by rank; records hold ids as offsets from id_base
 * (a filter whose offset needs more than 32 bits gets no decision in
 * its record). */
int weir__tss_tuple_build(struct tuple *t, const struct entry *e,
			  uint32_t n, struct weir__filter *const *f,
			  unsigned alen, uint64_t id_base);
void weir__tss_tuple_free(struct tuple *t);

/* ---- lookup helpers (inlined into the walk) ------------------------ */

static inline uint32_t tuple_home(const struct tuple *t, uint64_t h)
{
	return (uint32_t)(((h >> 32) * t->nslot) >> 32);
}

static inline bool bloom_has(const struct tuple *t, uint64_t h)
{
	uint64_t bits = 1ull << (h >> 20 & 63) | 1ull << (h >> 26 & 63);

	return (t->bloom[h & t->bloom_mask] & bits) == bits;
}

static inline void bloom_add(struct tuple *t, uint64_t h)
{
	t->bloom[h & t->bloom_mask] |= 1ull << (h >> 20 & 63) |
				       1ull << (h >> 26 & 63);
}

static inline uint32_t mask32(unsigned plen)
{
	return (uint32_t)(~0ull << (32 - plen));
}

static inline bool ports_ok(const struct pkt *p, uint16_t slo,
			    uint16_t sspan, uint16_t dlo, uint16_t dspan)
{
	return (uint16_t)(p->sport - slo) <= sspan &&
	       (uint16_t)(p->dport - dlo) <= dspan;
}

static inline bool rec4_ok(const struct rec4 *r, const struct pkt *p)
{
	return !(r->need & ~p->have & NEED_ALL) &&
	       ((p->src4 ^ r->src) & mask32(r->src_plen)) == 0 &&
	       ((p->dst4 ^ r->dst) & mask32(r->dst_plen)) == 0 &&
	       (!(r->need & NEED_PROTO) || r->proto == p->proto) &&
	       ports_ok(p, r->sport_lo, r->sport_span, r->dport_lo,
			r->dport_span);
}

/* a within the plen-bit prefix of b; halves in host order. */
static inline bool prefix6_ok(const uint64_t *a, const uint64_t *b,
			      unsigned plen)
{
	uint64_t m0 = plen >= 64 ? ~0ull : plen ? ~0ull << (64 - plen) : 0;
	uint64_t m1 = plen > 64 ? ~0ull << (128 - plen) : 0;

	return (((a[0] ^ b[0]) & m0) | ((a[1] ^ b[1]) & m1)) == 0;
}

static inline bool rec6_ok(const struct rec6 *r, const struct pkt *p)
{
	return !(r->need & ~p->have & NEED_ALL) &&
	       prefix6_ok(p->src6, r->src, r->src_plen) &&
	       prefix6_ok(p->dst6, r->dst, r->dst_plen) &&
	       (!(r->need & NEED_PROTO) || r->proto == p->proto) &&
	       ports_ok(p, r->sport_lo, r->sport_span, r->dport_lo,
			r->dport_span);
}

/* Counts a match of a deciding record. The record's count is 32 bits
 * (the record has no room for more): its wrap adds 2^32 to the rank's
 * own 64-bit count, so their sum stays exact, except to a reader that
 * reads both between the wrap and the add (once in 2^32 matches, off by
 * 2^32 for that instant; a rule set's final fold, after readers have
 * drained, is exact). */
static inline void rec_count(atomic_uint *hits, atomic_ullong *spill)
{
	if (atomic_fetch_add_explicit(hits, 1, memory_order_relaxed) ==
	    UINT32_MAX)
		atomic_fetch_add_explicit(spill, 1ull << 32,
					  memory_order_relaxed);
}

#endif /* WEIR_ENGINE_TSS_TABLE_H */
