/* Packet buffers that packets point into without a copy: the live
 * capture receives into them and makes each packet a view of its own
 * bytes. Internal to libweir.
 *
 * A buffer is refcounted like every packet buffer. The receiver holds
 * one reference; each packet made with weir__pkt_in_buf() holds another,
 * so such a packet is "shared" and weir_pkt_make_writable() copies it
 * before anyone writes (copy-on-write, as for clones). Once a batch is
 * handled, the receiver reuses a buffer only if no packet still refers
 * to it (weir__buf_shared()), else it takes a new one.
 */
#ifndef WEIR_PACKET_BUF_H
#define WEIR_PACKET_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weir/packet.h>

/* A buffer of `size` bytes, one reference (the caller's); NULL without
 * memory. */
struct weir_buf *weir__buf_new(size_t size);
uint8_t *weir__buf_data(struct weir_buf *buf);
/* True while a packet (or anyone but the caller) holds a reference. */
bool weir__buf_shared(const struct weir_buf *buf);
/* Drops the caller's reference. NULL is fine. */
void weir__buf_put(struct weir_buf *buf);
/* A packet whose bytes are data[0..len) inside buf (which gains a
 * reference). NULL without memory. */
struct weir_pkt *weir__pkt_in_buf(struct weir_buf *buf, uint8_t *data,
				  uint32_t len);

#endif /* WEIR_PACKET_BUF_H */
