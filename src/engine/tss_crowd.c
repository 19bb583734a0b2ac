/* Tuple-space classifier, build side: which filters get their port
 * ranges hashed.
 *
 * Hashing a range (tss_port.c) costs shapes, one per port level in use,
 * and a lookup hashes every shape it may find something in. Where ranges
 * are spread over many addresses, each alone under its key, that is pure
 * cost: 12% more instructions per lookup in bench/classify's 100k mix.
 * It pays where many filters share a key and differ only by their ranges
 * (one server, thousands of port ranges): unhashed, they are one run that
 * every packet to the server walks. So a sublayer is expanded without
 * ranges first; the filters under a key with more than CROWD entries
 * that leave a range out are then expanded again, with their ranges.
 */
#include <errno.h>
#include <stdlib.h>

#include "engine/tss.h"

/* A run of this many records is a few cache lines: cheaper to walk than
 * the shapes that hashing the ranges adds to every lookup. */
#define CROWD 8

struct count {
	uint64_t h;                  /* 0: free */
	uint32_t n;
};

/* The key with its shape, hashed; a 64-bit hash stands for the key (a
 * collision only merges two counts, and so marks a filter that hashing
 * its range does not help: slower, still correct). */
static uint64_t entry_hash(const struct entry *e, unsigned alen)
{
	union tkey all;
	uint64_t seed = 0;

	memset(&all, 0xff, sizeof(all));
	memcpy(&seed, &e->sh, sizeof(e->sh));
	return key_hash(&e->key, &all, seed, alen) | 1;
}

static struct count *count_of(struct count *t, uint32_t size, uint64_t h)
{
	uint32_t i = (uint32_t)(h >> 32) & (size - 1);

	while (t[i].h && t[i].h != h)
		i = (i + 1) & (size - 1);
	t[i].h = h;
	return &t[i];
}

int weir__tss_crowded(const struct weir__tss_entries *v, unsigned alen,
		      uint32_t first, uint8_t *mark)
{
	uint32_t n = 0, size = 8;
	struct count *t;
	int any = 0;

	for (uint32_t i = 0; i < v->n; i++)
		n += v->e[i].cand.ranged;
	if (n <= CROWD)
		return 0;
	while (size < 2 * n)
		size *= 2;
	t = calloc(size, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (uint32_t i = 0; i < v->n; i++)
		if (v->e[i].cand.ranged)
			count_of(t, size, entry_hash(&v->e[i], alen))->n++;
	for (uint32_t i = 0; i < v->n; i++) {
		const struct entry *e = &v->e[i];

		if (e->cand.ranged &&
		    count_of(t, size, entry_hash(e, alen))->n > CROWD) {
			mark[e->cand.rank - first] = 1;
			any = 1;
		}
	}
	free(t);
	return any;
}
