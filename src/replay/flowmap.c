/* Flow numbers for the replay log. The engine's flow ids encode the hash
 * stripe, and the table's hash seed is random, so ids differ from run to
 * run; the log names flows 1, 2, 3 ... in order of creation instead.
 *
 * An open-addressing map from flow id to number. Entries are never
 * deleted one by one: when the map is half full it is rebuilt with only
 * the flows the engine still has (and doubled if they fill a quarter).
 */
#include <stdlib.h>

#include "replay/replay.h"

static size_t slot_of(const struct replay_flowmap *m, uint64_t id)
{
	size_t i = (size_t)((id * 0x9e3779b97f4a7c15ull) >> 20) & (m->cap - 1);

	while (m->ids[i] && m->ids[i] != id)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static void put(struct replay_flowmap *m, uint64_t id, uint64_t no)
{
	size_t i = slot_of(m, id);

	if (!m->ids[i])
		m->used++;
	m->ids[i] = id;
	m->nos[i] = no;
}

/* Rebuilds with the live flows; false (map unchanged) without memory. */
static bool rebuild(struct replay_flowmap *m, struct weir_flow_table *t)
{
	struct replay_flowmap old = *m;
	struct weir_flow_info info;
	size_t live = 0, cap;

	for (size_t i = 0; i < old.cap; i++)
		live += old.ids[i] &&
			weir_flow_info_get(t, old.ids[i], &info) == 0;
	for (cap = old.cap ? old.cap : 64; live * 4 >= cap;)
		cap *= 2;
	m->ids = calloc(cap, sizeof(*m->ids));
	m->nos = calloc(cap, sizeof(*m->nos));
	if (!m->ids || !m->nos) {
		free(m->ids);
		free(m->nos);
		*m = old;
		return false;
	}
	m->cap = cap;
	m->used = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.ids[i] && weir_flow_info_get(t, old.ids[i], &info) == 0)
			put(m, old.ids[i], old.nos[i]);
	free(old.ids);
	free(old.nos);
	return true;
}

uint64_t replay_flow_no(struct replay_flowmap *m, struct weir_flow_table *t,
			uint64_t id, bool created)
{
	size_t i;

	if (m->cap && !created) {
		i = slot_of(m, id);
		if (m->ids[i])
			return m->nos[i];
	}
	if ((m->used + 1) * 2 > m->cap && !rebuild(m, t) &&
	    m->used + 1 >= m->cap)
		return ++m->next_no; /* no room: numbered, not remembered */
	put(m, id, ++m->next_no);
	return m->next_no;
}

void replay_flowmap_free(struct replay_flowmap *m)
{
	free(m->ids);
	free(m->nos);
	*m = (struct replay_flowmap){ 0 };
}
