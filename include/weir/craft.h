/* weir packet crafting: builders for the packets callouts commonly inject,
 * and in-place rewrites that keep every checksum right.
 *
 * Builders take an original packet that has been parsed (weir_pkt_parse())
 * and return a new packet the caller owns, parsed, with correct checksums
 * and WEIR_CSUM_VERIFIED state. On failure *ret_pkt is not written and
 * nothing is allocated.
 *
 * Rewrites change a parsed packet in place: they make it writable first
 * (copy-on-write when shared), update the checksums incrementally (RFC
 * 1624) or recompute them, honour a partial checksum (csum.h), and keep
 * pkt->pd in step. On failure the packet is unchanged. The exception to
 * partial checksums is weir_pkt_replace_payload(): new bytes always get a
 * complete checksum, because the kernel drops the offload state of a
 * packet whose bytes a verdict replaced.
 */
#ifndef WEIR_CRAFT_H
#define WEIR_CRAFT_H

#include <stdint.h>

#include <weir/packet.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Which end of a packet or connection. */
enum weir_end {
	WEIR_SRC = 0,
	WEIR_DST = 1,
};

/* ---- builders ------------------------------------------------------ */

/* A TCP RST that ends orig's connection.
 *  WEIR_SRC: sent back to orig's sender (addresses and ports swapped),
 *            as RFC 793 says: seq = orig.ack if orig has ACK, else seq 0
 *            with ACK = orig.seq + segment length (SYN and FIN count 1).
 *  WEIR_DST: sent on to orig's receiver, as if from orig's sender, with
 *            seq = orig.seq, so it lands exactly at the receiver's next
 *            expected byte when orig is absorbed (RFC 5961 accepts it).
 * TTL/hop limit 64. -EINVAL if orig is not a parsed TCP packet or is
 * itself a RST; -ENOMEM. */
int weir_build_tcp_rst(const struct weir_pkt *orig, enum weir_end to,
		       struct weir_pkt **ret_pkt);

/* An ICMP destination unreachable (IPv4 type 3, IPv6 type 1) with `code`,
 * from orig's destination to orig's source, quoting as much of orig as
 * fits in 576 (IPv4) or 1280 (IPv6) bytes. Refuses (-EINVAL) to answer an
 * ICMP error, a non-first fragment, or a multicast/broadcast/unspecified
 * source (RFC 1122 3.2.2, RFC 4443 2.4). */
int weir_build_icmp_unreach(const struct weir_pkt *orig, uint8_t code,
			    struct weir_pkt **ret_pkt);

/* Addresses and ports of a UDP datagram to build. */
struct weir_udp_spec {
	int family;          /* AF_INET or AF_INET6 */
	uint8_t src[16];     /* network order; IPv4 uses the first 4 bytes */
	uint8_t dst[16];
	uint16_t sport;      /* host order */
	uint16_t dport;
	uint8_t ttl;         /* 0 = 64 */
};
/* A UDP datagram carrying payload[0..len). -EINVAL for a bad family or a
 * datagram over 65535 bytes; -ENOMEM. */
int weir_build_udp(const struct weir_udp_spec *spec, const void *payload,
		   uint32_t len, struct weir_pkt **ret_pkt);

/* ---- rewrites ------------------------------------------------------ */

/* Sets the source or destination address (4 or 16 bytes per family),
 * fixing the IPv4 header checksum and the TCP/UDP/ICMPv6 checksum (whose
 * pseudo-header covers it). -EINVAL if the packet is not parsed. */
int weir_pkt_set_addr(struct weir_pkt *pkt, enum weir_end which,
		      const uint8_t *addr);
/* Sets a TCP or UDP port (host order). -EPROTONOSUPPORT for other
 * protocols, -EINVAL without an L4 header. */
int weir_pkt_set_port(struct weir_pkt *pkt, enum weir_end which,
		      uint16_t port);
/* Sets the IPv4 TTL or IPv6 hop limit. */
int weir_pkt_set_ttl(struct weir_pkt *pkt, uint8_t ttl);
/* Lowers the TCP MSS option to `mss` if it is larger. Returns 1 when
 * changed, 0 when there is no MSS option or it is already <= mss. */
int weir_pkt_clamp_mss(struct weir_pkt *pkt, uint16_t mss);
/* Replaces payload bytes [off, off+old_len) by bytes[0..new_len). A change
 * of length updates the IP length(s), the UDP length and the checksums;
 * TCP sequence numbers are the caller's business. The buffer grows as
 * needed. -EINVAL for a range outside the payload, a fragment or a
 * truncated packet; -EMSGSIZE past 65535 bytes; -ENOMEM. */
int weir_pkt_replace_payload(struct weir_pkt *pkt, uint32_t off,
			     uint32_t old_len, const void *bytes,
			     uint32_t new_len);

/* ---- segmentation ------------------------------------------------- */

/* Splits a TCP GSO super-packet (a parsed IPv4 or IPv6 TCP packet longer
 * than `mtu`, as a GSO capture hands them over) into segments of at most
 * `mtu` bytes each, appended to `out` in order: sequence numbers advanced,
 * IPv4 ids incremented, FIN and PSH only on the last segment, CWR only on
 * the first, lengths and checksums complete (WEIR_CSUM_VERIFIED), meta
 * copied. A packet of at most `mtu` bytes is appended as one private copy
 * with its checksums completed. Returns the number of packets appended,
 * or -EINVAL (not parsed, an IP fragment, or mtu too small for the headers
 * plus one byte), -EMSGSIZE (longer than mtu and not TCP), -ENOMEM; on
 * error `out` is unchanged. */
int weir_pkt_segment(const struct weir_pkt *pkt, uint32_t mtu,
		     struct weir_nbl *out);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_CRAFT_H */
