/* The committed filters by id: what weir_filter_get and weir_filter_hits
 * look up. `weir stats` asks for every filter in turn, so a linear search
 * made a report of 100k filters take ~10^10 steps under txn_lock (which
 * also holds off commits); a sorted index rebuilt at each commit makes it
 * n log n.
 */
#include <stdlib.h>

#include "engine/engine_internal.h"

static int by_id(const void *a, const void *b)
{
	uint64_t x = (*(struct weir__filter *const *)a)->id;
	uint64_t y = (*(struct weir__filter *const *)b)->id;

	return (x > y) - (x < y);
}

void weir__byid_build(struct weir_engine *e)
{
	uint32_t n = 0;

	free(e->byid);
	e->byid = NULL;
	e->nbyid = 0;
	for (int l = 0; l < WEIR_LAYER__COUNT; l++)
		n += e->all[l].n;
	/* Without memory the lookup falls back to the linear walk. */
	if (!n || !(e->byid = malloc(sizeof(*e->byid) * n)))
		return;
	for (int l = 0; l < WEIR_LAYER__COUNT; l++)
		for (uint32_t i = 0; i < e->all[l].n; i++)
			e->byid[e->nbyid++] = e->all[l].f[i];
	qsort(e->byid, n, sizeof(*e->byid), by_id);
}

const struct weir__filter *weir__byid_find(const struct weir_engine *e,
					   uint64_t id)
{
	uint32_t lo = 0, hi = e->nbyid;

	if (!e->byid) {
		for (int l = 0; l < WEIR_LAYER__COUNT; l++)
			for (uint32_t i = 0; i < e->all[l].n; i++)
				if (e->all[l].f[i]->id == id)
					return e->all[l].f[i];
		return NULL;
	}
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (e->byid[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < e->nbyid && e->byid[lo]->id == id ? e->byid[lo] : NULL;
}
