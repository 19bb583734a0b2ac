/* Internal interface of the per-thread block pools (src/packet/pool.c).
 *
 * A pool hands out fixed-size blocks of a few classes. Each block is
 * preceded by a small header naming its pool, so any thread can give it
 * back: the owner thread pushes it on a plain free list, other threads on
 * the owner's lock-free "remote" stack, which the owner adopts whole when
 * its own list runs dry. A pool lives until its thread has exited and its
 * last block has come back.
 */
#ifndef WEIR_PACKET_POOL_H
#define WEIR_PACKET_POOL_H

#include <stddef.h>
#include <stdint.h>

#include <weir/packet.h>

enum weir__pool_class {
	WEIR__CLS_PKT = 0,   /* struct weir_pkt */
	WEIR__CLS_NBL,       /* struct weir_nbl */
	WEIR__CLS_SMALL,     /* data buffer for an MTU-sized packet */
	WEIR__CLS_LARGE,     /* data buffer for a 64 KiB GSO packet */
	WEIR__CLS_COUNT
};

/* Usable bytes of a block of each buffer class. */
#define WEIR__SMALL_BYTES 2016u
#define WEIR__LARGE_BYTES (WEIR_PKT_MAX_POOLED + 2u * WEIR_PKT_HEADROOM)

/* A block of class `cls` from the calling thread's pool, or NULL. */
void *weir__pool_alloc(enum weir__pool_class cls);
/* Gives a block back to its owner pool, from any thread. */
void weir__pool_free(void *block);

/* A block too big for any class, malloc'd but with the same header so
 * weir__pool_free() releases it. */
void *weir__pool_alloc_oversize(size_t bytes);

#endif /* WEIR_PACKET_POOL_H */
