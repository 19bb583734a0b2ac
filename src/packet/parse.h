/* Internal interface between the IP and L4 stages of the parser. */
#ifndef WEIR_PACKET_PARSE_H
#define WEIR_PACKET_PARSE_H

#include <stdint.h>

#include <weir/pdesc.h>

/* Records the first error; later ones are ignored. Returns -EBADMSG. */
int weir__perr(struct weir_pdesc *pd, enum weir_perr err, uint32_t off);

/* Parses the L4 header at pd->l4_off within data[0..pd->cap_len). */
int weir__parse_l4(const uint8_t *data, struct weir_pdesc *pd);

/* Walks IPv6 extension headers from `off` with next header `*nh`, within
 * data[0..end), for at most `max` headers; stores them via `ext`/`count`
 * (may be NULL to skip recording). Returns the L4 offset, or -err
 * (enum weir_perr) on a malformed chain. Stops after a fragment header
 * whose offset is not zero (*later_frag set). */
struct weir__ext_walk {
	uint8_t nh;            /* in: first next-header; out: L4 protocol */
	uint8_t count;         /* out: headers walked */
	uint8_t later_frag;    /* out: non-first fragment met */
	uint16_t frag_off;     /* out: fragment header offset, 0 if none */
	uint16_t final_dst;    /* out: offset of a routing header's final
	                        * destination (segments left > 0), or 0 */
	struct weir_pd_ext *ext;
};
int weir__ipv6_walk(const uint8_t *data, uint32_t off, uint32_t end,
		    struct weir__ext_walk *w);

#endif /* WEIR_PACKET_PARSE_H */
