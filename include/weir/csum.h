/* weir checksums: Internet checksum (RFC 1071), pseudo-headers for IPv4 and
 * IPv6, full compute and verify for IPv4, TCP, UDP, ICMP and ICMPv6, and
 * incremental update (RFC 1624).
 *
 * Arithmetic conventions: sums are 32-bit accumulators of 16-bit words read
 * in memory order ("native"), so a folded result can be stored with a plain
 * 16-bit store and is then correct on the wire on any host. "old"/"new"
 * 16-bit values below are likewise read from packet memory unchanged.
 *
 * Partial checksums (offload/GSO, WEIR_CSUM_PARTIAL): the kernel leaves the
 * L4 checksum field holding the folded, *uncomplemented* pseudo-header sum
 * and lets the NIC or the stack add the payload on transmit. Verifying such
 * a packet only checks that pseudo-header sum; an incremental update of a
 * pseudo-header field (an address, the length) must add, not subtract, and
 * nothing else may touch the field. weir_csum_replace*() take a `partial`
 * argument for exactly this; weir_pkt_csum_finalize() turns a partial
 * packet into a complete one (needed before a packet is handed back to the
 * kernel with a new payload, which resets its checksum state).
 */
#ifndef WEIR_CSUM_H
#define WEIR_CSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weir/pdesc.h>

#ifdef __cplusplus
extern "C" {
#endif

struct weir_pkt;

/* Adds buf[0..len) to a running 32-bit sum (may be 0). The result is not
 * folded. Chained calls must pass even lengths except for the last. Any
 * alignment is fine. */
uint32_t weir_csum_add(uint32_t sum, const void *buf, size_t len);
/* Folds a running sum to 16 bits without complementing. */
uint16_t weir_csum_fold(uint32_t sum);
/* The value to store in a checksum field: ~fold(sum). */
static inline uint16_t weir_csum_final(uint32_t sum)
{
	return (uint16_t)~weir_csum_fold(sum);
}
/* Running sum of the pseudo-header: family AF_INET or AF_INET6, addresses
 * in network order (4 or 16 bytes), L4 protocol and L4 length. */
uint32_t weir_csum_pseudo(int family, const uint8_t *src, const uint8_t *dst,
			  uint8_t proto, uint32_t l4_len);

/* Result of one checksum check. */
enum weir_csum_verdict {
	WEIR_CSUM_NONE = 0,   /* nothing to check (no such header, or the
	                       * parse did not reach it) */
	WEIR_CSUM_GOOD,       /* matches */
	WEIR_CSUM_BAD,        /* does not match */
	WEIR_CSUM_ABSENT,     /* UDP over IPv4 with checksum 0 (allowed) */
	WEIR_CSUM_UNCHECKABLE,/* a fragment or truncated: data is missing */
	WEIR_CSUM_PSEUDO_OK,  /* partial checksum holding the right
	                       * pseudo-header sum */
};

/* Checks of one packet: the IPv4 header, the L4 header, and for ICMP
 * errors the quoted IPv4 header when it is complete. */
struct weir_csum_report {
	uint8_t ip;     /* enum weir_csum_verdict */
	uint8_t l4;
	uint8_t inner_ip;
};

/* Verifies data (parsed into pd). `partial` says the L4 field holds a
 * pseudo-header sum (WEIR_CSUM_PARTIAL). Returns 0 when nothing checked is
 * BAD, -EBADMSG otherwise; *ret_report is always written. */
int weir_csum_verify(const uint8_t *data, const struct weir_pdesc *pd,
		     bool partial, struct weir_csum_report *ret_report);

/* The correct IPv4 header checksum of data (field counted as zero). */
uint16_t weir_csum_ipv4_header(const uint8_t *data, uint16_t hdr_len);
/* Computes the correct L4 checksum into *ret_csum (memory order), over
 * pd->cap_len bytes. -EINVAL if pd has no complete L4 header, -ERANGE for
 * a fragment or a truncated packet (the data is not all here). */
int weir_csum_l4(const uint8_t *data, const struct weir_pdesc *pd,
		 uint16_t *ret_csum);
/* Writes correct IPv4 header and L4 checksums into data (for UDP over
 * IPv4 a computed 0 is stored as 0xffff). Fragments get the IP checksum
 * only. 0 or the error of weir_csum_l4(). */
int weir_csum_fill(uint8_t *data, const struct weir_pdesc *pd);

/* RFC 1624 eqn. 3 update of a checksum field after a 16-bit word of the
 * covered data changed from old to new. With `partial` the field holds an
 * uncomplemented pseudo-header sum and is updated additively. */
void weir_csum_replace16(uint16_t *field, uint16_t old, uint16_t new_,
			 bool partial);
/* Same for a run of bytes (len even, 2-byte aligned within the data). */
void weir_csum_replace(uint16_t *field, const void *old, const void *new_,
		       size_t len, bool partial);

/* Makes the packet writable and writes complete checksums (IPv4 header
 * and L4); the packet's csum_state becomes WEIR_CSUM_VERIFIED. Parses the
 * packet first if needed. 0, -ENOMEM, or weir_csum_fill()'s error. */
int weir_pkt_csum_finalize(struct weir_pkt *pkt);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_CSUM_H */
