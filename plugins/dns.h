/* DNS messages for the dnssink plug-in: the question of a query, parsed
 * with every length checked against the bytes, and the response built
 * for it (RFC 1035 4.1). Only what a sinkhole needs: one question, no
 * compression in it, answers of one A or AAAA record at most.
 *
 * Internal to plug-ins (plugins/dns.c is compiled into dnssink and into
 * the fuzz harness tests/fuzz/fuzz_dns.c); not part of libweir.
 */
#ifndef WEIR_PLUGIN_DNS_H
#define WEIR_PLUGIN_DNS_H

#include <stddef.h>
#include <stdint.h>

#define DNS_HDR_LEN 12u
/* A name's text: at most 253 characters (255 bytes on the wire) and NUL. */
#define DNS_NAME_TEXT_MAX 254u
#define DNS_NAME_WIRE_MAX 255u
#define DNS_LABEL_MAX 63u

#define DNS_TYPE_A 1u
#define DNS_TYPE_AAAA 28u
#define DNS_CLASS_IN 1u

#define DNS_RCODE_NOERROR 0u
#define DNS_RCODE_NXDOMAIN 3u

/* Header flag bits (the 16-bit word after the id). */
#define DNS_FLAG_QR 0x8000u
#define DNS_FLAG_OPCODE 0x7800u
#define DNS_FLAG_AA 0x0400u
#define DNS_FLAG_TC 0x0200u
#define DNS_FLAG_RD 0x0100u
#define DNS_FLAG_RA 0x0080u
#define DNS_FLAG_CD 0x0010u
#define DNS_FLAG_RCODE 0x000fu

/* The question of a query. */
struct dns_question {
	uint16_t id;
	uint16_t flags;          /* the header's flag word, as received */
	uint16_t qtype;
	uint16_t qclass;
	uint16_t end;            /* offset of the first byte after it */
	uint16_t name_len;       /* strlen(name) */
	char name[DNS_NAME_TEXT_MAX]; /* lower case, labels joined by '.', no
	                          * trailing dot; "" for the root */
};

/* Parses msg[0..len) as a standard query with exactly one question
 * (QR 0, opcode QUERY, QDCOUNT 1, ANCOUNT 0; later sections are not
 * read). Names with compression pointers, labels over 63 bytes, more
 * than 255 bytes, or label bytes that have no plain text form ('.',
 * controls, space, DEL and bytes >= 0x80) are refused. Upper case ASCII
 * is folded. 0, -EBADMSG (malformed or not such a query), -EINVAL
 * (NULL). Reads nothing outside msg[0..len); writes *q only on success. */
int dns_parse_query(const uint8_t *msg, size_t len, struct dns_question *q);

/* What to answer. */
struct dns_answer {
	uint8_t rcode;           /* DNS_RCODE_NOERROR or _NXDOMAIN */
	uint16_t type;           /* DNS_TYPE_A or _AAAA with rdata, or 0 for
	                          * no answer record (NODATA/NXDOMAIN) */
	uint32_t ttl;
	uint8_t rdata[16];       /* 4 bytes for A, 16 for AAAA */
};

/* Writes the response to query msg (parsed into q) into buf[0..size):
 * the query's id, QR and RA set, RD and CD copied, the question copied
 * byte for byte (so a client's 0x20 case randomisation matches), and
 * one answer record naming it by a pointer when a->type is set. Returns
 * the length, -ENOSPC (buf too small), -EINVAL (bad answer or q does not
 * fit msg). */
int dns_build_answer(const uint8_t *msg, size_t len,
		     const struct dns_question *q, const struct dns_answer *a,
		     uint8_t *buf, size_t size);

/* Normalises a name as typed (any case, optional trailing dot) to the
 * form dns_parse_query() gives, into out[0..size). 0, -EINVAL (empty
 * label, label over 63 or name over 253 characters, a byte a parsed
 * name cannot hold), -ENOSPC. "." and "" give "" (the root). */
int dns_name_normalize(const char *in, char *out, size_t size);

#endif /* WEIR_PLUGIN_DNS_H */
