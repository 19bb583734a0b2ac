/* Injection records: which handle injected a packet, with which context,
 * and what injection came before it. The state query reads them through
 * the id weir stamps on every injected packet (meta.inject_id).
 *
 * Records live in one process-wide ring: an id names slot id % size
 * while the slot still holds that id. A record is only needed while its
 * packets travel back to a classification, so the ring forgets the
 * oldest: 64 Ki injections later a packet of a forgotten injection is
 * reported as injected by another handle (it was injected, by whom is no
 * longer known), which callouts treat like any foreign packet.
 */
#include <pthread.h>
#include <stdint.h>

#include "inject/inject_internal.h"

#define RING_SIZE 65536u  /* power of two */
#define PREV_WALK 8       /* re-injections followed back */

struct record {
	uint32_t id;
	uint32_t serial;
	uint32_t prev;
	int32_t layer;        /* first layer it was asked about; -1: none */
	uint64_t ctx;
};

static struct record ring[RING_SIZE];
static uint32_t next_id = 1;
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;

uint32_t weir__record_new(uint32_t serial, uint64_t ctx, uint32_t prev)
{
	struct record *r;
	uint32_t id;

	pthread_mutex_lock(&ring_lock);
	id = next_id++;
	if (!next_id)
		next_id = 1;
	r = &ring[id % RING_SIZE];
	*r = (struct record){ .id = id, .serial = serial, .prev = prev,
			      .layer = -1, .ctx = ctx };
	pthread_mutex_unlock(&ring_lock);
	return id;
}

void weir__record_drop(uint32_t id)
{
	pthread_mutex_lock(&ring_lock);
	if (ring[id % RING_SIZE].id == id)
		ring[id % RING_SIZE].id = 0;
	pthread_mutex_unlock(&ring_lock);
}

static struct record *find(uint32_t id)
{
	struct record *r = &ring[id % RING_SIZE];

	return id && r->id == id ? r : NULL;
}

/* Self: by this handle, and at the first layer it was seen at (a packet
 * classified at a second layer was injected "previously"). */
static enum weir_injection_state self(struct record *r, int layer)
{
	if (r->layer < 0)
		r->layer = layer;
	return r->layer == layer ? WEIR_INJECTED_BY_SELF
				 : WEIR_PREVIOUSLY_INJECTED_BY_SELF;
}

static enum weir_injection_state lookup(uint32_t id, uint32_t serial,
					int layer, uint64_t *ctx)
{
	struct record *r = find(id);

	if (!r)
		return WEIR_INJECTED_BY_OTHER;  /* forgotten: see above */
	if (r->serial == serial) {
		*ctx = r->ctx;
		return self(r, layer);
	}
	for (int i = 0; i < PREV_WALK && (r = find(r->prev)); i++) {
		if (r->serial == serial) {
			*ctx = r->ctx;
			return WEIR_PREVIOUSLY_INJECTED_BY_SELF;
		}
	}
	return WEIR_INJECTED_BY_OTHER;
}

enum weir_injection_state weir__record_state(uint32_t id, uint32_t serial,
					     int layer, uint64_t *ret_ctx)
{
	enum weir_injection_state st;
	uint64_t ctx = 0;

	if (!id)
		return WEIR_NOT_INJECTED;
	pthread_mutex_lock(&ring_lock);
	st = lookup(id, serial, layer, &ctx);
	pthread_mutex_unlock(&ring_lock);
	if (ret_ctx)
		*ret_ctx = ctx;
	return st;
}
