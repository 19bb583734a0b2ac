/* Internal types of the tuple-space classifier: keys, shapes, entries,
 * shared by tss_expand.c (filters to entries) and classifier.c (tables
 * and lookup). See classifier.c for the scheme.
 */
#ifndef WEIR_ENGINE_TSS_H
#define WEIR_ENGINE_TSS_H

#include <stdint.h>
#include <string.h>

#include "engine/engine_internal.h"

#define MAX_EXPAND 64
#define MAX_ALT 64

enum { KF_PROTO = 1, KF_SPORT = 2, KF_DPORT = 4 };

struct tkey {
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport;
	uint16_t dport;
	uint8_t proto;
	uint8_t pad[3];
};

struct shape {
	uint8_t src_q, dst_q;        /* prefix bits hashed */
	uint8_t kf;                  /* KF_* exact fields hashed */
};

struct entry {
	struct shape sh;
	struct tkey key;
	uint32_t rank;
};

struct weir__tss_entries {
	struct entry *e;
	uint32_t n, cap;
};

/* ---- keys ---------------------------------------------------------- */

static inline void mask_bits(uint8_t *a, unsigned alen, unsigned q)
{
	for (unsigned i = 0; i < alen; i++) {
		unsigned keep = q > i * 8 ? q - i * 8 : 0;

		a[i] &= keep >= 8 ? 0xff : (uint8_t)(0xff00u >> keep);
	}
}

static inline void key_mask(struct tkey *k, const struct shape *sh, unsigned alen)
{
	mask_bits(k->src, alen, sh->src_q);
	mask_bits(k->dst, alen, sh->dst_q);
	if (!(sh->kf & KF_PROTO))
		k->proto = 0;
	if (!(sh->kf & KF_SPORT))
		k->sport = 0;
	if (!(sh->kf & KF_DPORT))
		k->dport = 0;
}

static inline uint64_t key_hash(const struct tkey *k, const struct shape *sh)
{
	uint64_t w[5], h = 0x243f6a8885a308d3ull ^ (uint64_t)sh->src_q << 16 ^
			   (uint64_t)sh->dst_q << 8 ^ sh->kf;

	memcpy(w, k, sizeof(w));
	for (int i = 0; i < 5; i++) {
		h = (h ^ w[i]) * 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	return h | 1; /* never 0: that marks an empty slot */
}

/* Appends the entries of filter `f` (at `rank`) to `out`. */
int weir__tss_expand(const struct weir__filter *f, uint32_t rank,
		     unsigned alen, struct weir__tss_entries *out);

#endif /* WEIR_ENGINE_TSS_H */
