/* Internal view of packet data buffers, shared by the packet core files.
 *
 * A buffer is one pooled block: a refcount, its capacity and the bytes.
 * Packets point into it; clones share it. A buffer with refcnt > 1 is
 * read-only by contract (weir_pkt_make_writable()).
 */
#ifndef WEIR_PACKET_NBL_INTERNAL_H
#define WEIR_PACKET_NBL_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include <weir/packet.h>

struct weir_buf {
	atomic_uint refcnt;
	uint32_t size;        /* bytes in data[] */
	uint8_t data[];
};

/* Largest packet weir_pkt_put() grows to. */
#define WEIR__PKT_MAX_BYTES (16u << 20)

#endif /* WEIR_PACKET_NBL_INTERNAL_H */
