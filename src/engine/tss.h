/* Internal types of the tuple-space classifier: keys, shapes, entries,
 * shared by tss_expand.c (filters to entries), tss_table.c (entries to
 * tables) and classifier.c (lookup). See classifier.c for the scheme.
 */
#ifndef WEIR_ENGINE_TSS_H
#define WEIR_ENGINE_TSS_H

#include <stdint.h>
#include <string.h>

#include "engine/engine_internal.h"

#define MAX_EXPAND 64
#define MAX_ALT 64

enum { KF_PROTO = 1 };

/* The hashed key, as bytes or as five words (hashing and comparing by
 * word is what makes a probe cheap). */
union tkey {
	struct {
		uint8_t src[16];
		uint8_t dst[16];
		uint16_t sport;
		uint16_t dport;
		uint8_t proto;
		uint8_t pad[3];
	} f;
	uint64_t w[5];
};

struct shape {
	uint8_t src_q, dst_q;        /* prefix bits hashed */
	uint8_t kf;                  /* KF_* exact fields hashed */
	uint8_t sport_q, dport_q;    /* port bits hashed (tss_port.c) */
};

/* A candidate in a bucket: its rank and what can be checked from the
 * entry alone (exact prefixes, port ranges) before the filter itself is
 * touched. A zero prefix length or a 0..65535 range checks nothing. */
struct cand {
	uint32_t rank;
	uint8_t src_plen, dst_plen;
	uint16_t sport_lo, sport_hi;
	uint16_t dport_lo, dport_hi;
	uint8_t complete;            /* these checks are the whole filter */
	uint8_t ranged;              /* a port range the key leaves out */
	uint8_t src[16];
	uint8_t dst[16];
};

struct entry {
	struct shape sh;
	union tkey key;
	struct cand cand;
};

struct weir__tss_entries {
	struct entry *e;
	uint32_t n, cap;
};

/* One value a key field may take: a prefix, a protocol, or a piece of
 * a port field (lo..hi, within one block of the field's level). */
struct alt {
	uint8_t addr[16];
	uint8_t plen;
	uint16_t lo, hi;
};

struct alts {
	uint32_t n;                  /* 0 = wildcard */
	uint8_t q;                   /* port fields: bits hashed */
	struct alt a[MAX_ALT];
};

/* A port field as sorted, disjoint, non-adjacent intervals (the union of
 * its ORed conditions); n = 0 when some condition is not an interval. */
struct port_iv {
	uint16_t lo, hi;
};

struct port_ivs {
	uint32_t n;
	bool points;                 /* every interval is one port */
	struct port_iv v[MAX_ALT];
};

/* ---- keys ---------------------------------------------------------- */

static inline void mask_bits(uint8_t *a, unsigned alen, unsigned q)
{
	for (unsigned i = 0; i < alen; i++) {
		unsigned keep = q > i * 8 ? q - i * 8 : 0;

		a[i] &= keep >= 8 ? 0xff : (uint8_t)(0xff00u >> keep);
	}
}

/* The mask of a shape: ones where the key is hashed. */
static inline void shape_mask(const struct shape *sh, unsigned alen,
			      union tkey *m)
{
	memset(m, 0, sizeof(*m));
	memset(m->f.src, 0xff, alen);
	memset(m->f.dst, 0xff, alen);
	mask_bits(m->f.src, alen, sh->src_q);
	mask_bits(m->f.dst, alen, sh->dst_q);
	m->f.proto = sh->kf & KF_PROTO ? 0xff : 0;
	m->f.sport = (uint16_t)(0xffff0000u >> sh->sport_q);
	m->f.dport = (uint16_t)(0xffff0000u >> sh->dport_q);
}

static inline void key_and(union tkey *k, const union tkey *m)
{
	for (int i = 0; i < 5; i++)
		k->w[i] &= m->w[i];
}

/* The hash of key k masked with m, without storing the masked key:
 * independent multiplies folded together, short dependency chains,
 * which matter more than mixing quality for a table probed a few times
 * per packet. An IPv4 key has zeros in words 1 and 3, so with alen a
 * compile-time 4 they are skipped (build and lookup agree: both pass
 * the family's alen). */
static inline uint64_t key_hash(const union tkey *k, const union tkey *m,
				uint64_t seed, const unsigned alen)
{
	uint64_t h = ((k->w[0] & m->w[0]) ^ seed) * 0x9e3779b97f4a7c15ull ^
		     ((k->w[2] & m->w[2]) ^ seed) * 0x165667b19e3779f9ull ^
		     ((k->w[4] & m->w[4]) ^ seed) * 0xff51afd7ed558ccdull;

	if (alen != 4)
		h ^= ((k->w[1] & m->w[1]) + seed) * 0xc2b2ae3d27d4eb4full ^
		     ((k->w[3] & m->w[3]) + seed) * 0xd6e8feb86659fd93ull;
	h ^= h >> 32;
	h *= 0x9e3779b97f4a7c15ull;
	return h ^ h >> 29;
}

/* tss_port.c: the intervals of port field `field` of f. */
void weir__tss_port_ivs(const struct weir__filter *f, uint16_t field,
			struct port_ivs *iv);
/* The finest level below `below` (17 for any) at which iv keys on few
 * enough pieces; 0 when none does (the field is then not hashed).
 * Without `ranges`, only exact ports are hashed (level 16). */
unsigned weir__tss_port_level(const struct port_ivs *iv, unsigned below,
			      bool ranges);
/* Fills as with iv's pieces at level q (> 0). */
void weir__tss_port_pieces(const struct port_ivs *iv, unsigned q,
			   struct alts *as);

/* Appends the entries of filter `f` (at `rank`) to `out`; `ranges`
 * hashes its port ranges too. */
int weir__tss_expand(const struct weir__filter *f, uint32_t rank,
		     unsigned alen, bool ranges,
		     struct weir__tss_entries *out);

/* tss_crowd.c: sets mark[rank - first] for the filters whose entries in
 * v leave out a port range and share a key with many others that do.
 * 1 when it marked some, 0 when none, -ENOMEM. */
int weir__tss_crowded(const struct weir__tss_entries *v, unsigned alen,
		      uint32_t first, uint8_t *mark);

#endif /* WEIR_ENGINE_TSS_H */
