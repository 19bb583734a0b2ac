/* weir packet descriptor: the result of parsing an IP packet once.
 *
 * weir_parse() walks an IPv4 or IPv6 packet in one pass, from the IP header
 * through IPv4 options or a bounded chain of IPv6 extension headers to the
 * TCP, UDP, ICMP or ICMPv6 header (and, for ICMP error messages, the header
 * they quote). Every stage of weir reads this descriptor instead of the
 * bytes, as pf does with its pf_pdesc.
 *
 * Malformed or truncated input is described, never read out of bounds:
 * `flags` says what parsed, `err` names the first thing that did not and
 * `err_off` where. Fields whose bytes are missing are zero (ext[] holds
 * only ext_count entries); the fixed IP header's fields (addresses,
 * protocol, TTL) are filled whenever its bytes are present, even when the
 * header is inconsistent, so that logs can name a malformed packet.
 */
#ifndef WEIR_PDESC_H
#define WEIR_PDESC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* At most this many IPv6 extension headers are walked (a longer chain is
 * WEIR_PERR_EXTLIMIT); IPv4 options are not counted here. */
#define WEIR_PD_MAX_EXT 8

/* What parsed (bits of weir_pdesc.flags). */
enum weir_pd_flag {
	WEIR_PD_L3         = 1u << 0,  /* fixed IP header */
	WEIR_PD_L3_EXT     = 1u << 1,  /* IPv4 options / IPv6 extension chain */
	WEIR_PD_FRAG       = 1u << 2,  /* a fragment (MF set or offset != 0) */
	WEIR_PD_FRAG_LATER = 1u << 3,  /* a non-first fragment: no L4 header */
	WEIR_PD_L4         = 1u << 4,  /* fixed L4 header: ports, flags, type */
	WEIR_PD_L4_OPTS    = 1u << 5,  /* TCP options walked */
	WEIR_PD_ICMP_ERR   = 1u << 6,  /* ICMP/ICMPv6 error message */
	WEIR_PD_INNER      = 1u << 7,  /* quoted IP header of an ICMP error */
	WEIR_PD_INNER_L4   = 1u << 8,  /* quoted ports of an ICMP error */
	WEIR_PD_TRUNCATED  = 1u << 9,  /* fewer bytes than the IP length says */
	WEIR_PD_DF         = 1u << 10, /* IPv4 don't-fragment */
	WEIR_PD_MF         = 1u << 11, /* more fragments follow */
	WEIR_PD_TCP_MSS    = 1u << 12, /* TCP MSS option present */
	WEIR_PD_TCP_WSCALE = 1u << 13, /* TCP window scale option present */
	WEIR_PD_TCP_SACKOK = 1u << 14, /* TCP SACK-permitted option present */
	WEIR_PD_TCP_TS     = 1u << 15, /* TCP timestamps option present */
};

/* The first problem met (weir_pdesc.err). */
enum weir_perr {
	WEIR_PERR_NONE = 0,
	WEIR_PERR_SHORT,     /* fewer bytes than the fixed IP header */
	WEIR_PERR_VERSION,   /* IP version neither 4 nor 6 */
	WEIR_PERR_IHL,       /* IPv4 header length < 20 or past the end */
	WEIR_PERR_TOTLEN,    /* IP length smaller than its own header */
	WEIR_PERR_IPOPT,     /* malformed IPv4 option */
	WEIR_PERR_EXTHDR,    /* truncated or malformed IPv6 extension header */
	WEIR_PERR_EXTLIMIT,  /* more than WEIR_PD_MAX_EXT extension headers */
	WEIR_PERR_L4SHORT,   /* L4 header truncated */
	WEIR_PERR_TCPOFF,    /* TCP data offset < 5 or past the end */
	WEIR_PERR_TCPOPT,    /* malformed TCP option */
	WEIR_PERR_UDPLEN,    /* UDP length field disagrees with the packet */
	WEIR_PERR_INNER,     /* ICMP error quote too short or malformed */
	WEIR_PERR__COUNT
};

/* A short English name for an error ("truncated L4 header", ...). */
const char *weir_perr_str(int err);

/* One IPv6 extension header (or AH) met on the way to L4. */
struct weir_pd_ext {
	uint8_t type;      /* IPPROTO_HOPOPTS, _ROUTING, _FRAGMENT, _DSTOPTS, _AH */
	uint8_t reserved;
	uint16_t off;      /* byte offset from the IP header */
	uint16_t len;      /* length in bytes */
};

/* The header quoted by an ICMP/ICMPv6 error message. */
struct weir_pd_inner {
	uint16_t off;      /* offset of the quoted IP header */
	uint16_t l4_off;   /* offset of the quoted L4 header, 0 if none */
	uint8_t family;    /* AF_INET / AF_INET6 */
	uint8_t proto;     /* quoted L4 protocol */
	uint16_t sport;    /* host order, valid with WEIR_PD_INNER_L4 */
	uint16_t dport;
	uint8_t src[16];   /* IPv4 uses the first 4 bytes */
	uint8_t dst[16];
};

/* The descriptor. All multi-byte numbers are in host order; addresses are
 * in network order (IPv4 in the first 4 bytes, the rest zero). Offsets are
 * from the first byte of the IP header. */
struct weir_pdesc {
	uint32_t flags;        /* enum weir_pd_flag */
	uint8_t err;           /* enum weir_perr */
	uint8_t family;        /* AF_INET, AF_INET6, or 0 if not even that */
	uint8_t proto;         /* L4 protocol after extension headers */
	uint8_t ttl;           /* TTL or hop limit */
	uint16_t err_off;      /* where err was detected */
	uint16_t l3_len;       /* IP header incl. options / extension headers */
	uint32_t ip_len;       /* length the IP header declares */
	uint32_t cap_len;      /* bytes that belong to the packet and are here */
	uint8_t tos;           /* DSCP+ECN / traffic class */
	uint8_t ext_count;     /* entries in ext[] */
	uint16_t frag_off;     /* fragment offset in bytes */
	uint32_t frag_id;      /* IPv4 identification / IPv6 fragment id */
	uint32_t flowlabel;    /* IPv6 flow label */
	uint16_t frag_hdr_off; /* IPv6 fragment header offset, 0 if none */
	uint16_t ipopt_len;    /* IPv4 option bytes (after the 20 fixed ones) */
	uint16_t l4_dst_off;   /* offset of the address the L4 pseudo-header
	                        * uses as destination: the IP destination, or
	                        * the final one named by an IPv6 routing
	                        * header with segments left (RFC 8200 8.1) */
	uint16_t reserved2;
	uint8_t src[16];
	uint8_t dst[16];

	uint16_t l4_off;       /* = l3_len when an L4 header is expected */
	uint16_t l4_hdr_len;   /* TCP data offset, 8 for UDP/ICMP */
	uint32_t payload_off;  /* first payload byte */
	uint32_t payload_len;  /* payload bytes present (<= declared) */
	uint16_t sport;        /* TCP/UDP ports */
	uint16_t dport;
	uint16_t l4_csum;      /* checksum field as found, host order */
	uint8_t tcp_flags;     /* FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10
	                        * URG 0x20 ECE 0x40 CWR 0x80 */
	uint8_t tcp_wscale;
	uint32_t tcp_seq;
	uint32_t tcp_ack;
	uint16_t tcp_win;
	uint16_t tcp_urp;
	uint16_t tcp_mss;
	uint16_t tcp_mss_off;  /* offset of the MSS option's kind byte, 0 = none */
	uint32_t tcp_tsval;
	uint32_t tcp_tsecr;
	uint16_t udp_len;      /* UDP length field */
	uint8_t icmp_type;
	uint8_t icmp_code;
	uint32_t icmp_rest;    /* 4 bytes after the checksum (id/seq, MTU, ...) */
	struct weir_pd_inner inner;
	/* Last, and only the first ext_count entries are written: weir_parse()
	 * clears everything before it and nothing of it. */
	struct weir_pd_ext ext[WEIR_PD_MAX_EXT];
};

#define WEIR_TCP_FIN 0x01u
#define WEIR_TCP_SYN 0x02u
#define WEIR_TCP_RST 0x04u
#define WEIR_TCP_PSH 0x08u
#define WEIR_TCP_ACK 0x10u
#define WEIR_TCP_URG 0x20u
#define WEIR_TCP_ECE 0x40u
#define WEIR_TCP_CWR 0x80u

/* Parses data[0..len) starting at an IP header into *pd (always fully
 * written). Returns 0 when every header up to and including the L4 header
 * (and the quote of an ICMP error) parsed, or -EBADMSG with pd->err and
 * pd->err_off naming the first problem. A truncated payload alone is not an
 * error (WEIR_PD_TRUNCATED). Never reads outside data[0..len). */
int weir_parse(const uint8_t *data, size_t len, struct weir_pdesc *pd);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_PDESC_H */
