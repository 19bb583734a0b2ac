/* DNS question parser and response builder for the dnssink plug-in
 * (dns.h). Every read is checked against the message's length before it
 * happens; the parser never follows compression pointers, so it cannot
 * loop, and a name is at most 255 bytes on the wire however it is
 * spelled.
 */
#include <errno.h>
#include <string.h>

#include "dns.h"

static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	wr16(p, (uint16_t)(v >> 16));
	wr16(p + 2, (uint16_t)v);
}

/* Bytes a parsed name may hold: printable ASCII except '.' (which would
 * make two names the same text) and space. */
static int text_byte(uint8_t c)
{
	return c > 0x20 && c < 0x7f && c != '.';
}

static char lower(uint8_t c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
}

/* Appends one label's text (and a '.' before it unless first). */
static void put_label(struct dns_question *q, const uint8_t *label,
		      uint8_t n)
{
	if (q->name_len)
		q->name[q->name_len++] = '.';
	for (uint8_t i = 0; i < n; i++)
		q->name[q->name_len++] = lower(label[i]);
	q->name[q->name_len] = '\0';
}

/* Reads the uncompressed name at *off into q->name; *off moves past it.
 * The wire limit keeps the text within DNS_NAME_TEXT_MAX: k labels that
 * take w wire bytes (length bytes included) are w - 1 characters of text
 * with their dots, and w <= 254 leaves room for the final zero byte. */
static int parse_name(const uint8_t *msg, size_t len, size_t *off,
		      struct dns_question *q)
{
	size_t p = *off, wire = 0;

	q->name_len = 0;
	q->name[0] = '\0';
	for (;;) {
		uint8_t n;

		if (p >= len)
			return -EBADMSG;
		n = msg[p++];
		if (++wire > DNS_NAME_WIRE_MAX)
			return -EBADMSG;
		if (n == 0)
			break;
		if (n > DNS_LABEL_MAX)
			return -EBADMSG; /* a pointer (0xc0) or reserved */
		/* The label and the final zero byte must fit in 255. */
		if (n > len - p || (wire += n) >= DNS_NAME_WIRE_MAX)
			return -EBADMSG;
		for (uint8_t i = 0; i < n; i++)
			if (!text_byte(msg[p + i]))
				return -EBADMSG;
		put_label(q, msg + p, n);
		p += n;
	}
	*off = p;
	return 0;
}

int dns_parse_query(const uint8_t *msg, size_t len, struct dns_question *q)
{
	struct dns_question tmp;
	size_t off = DNS_HDR_LEN;

	if (!msg || !q)
		return -EINVAL;
	if (len < DNS_HDR_LEN)
		return -EBADMSG;
	tmp.id = rd16(msg);
	tmp.flags = rd16(msg + 2);
	/* A query (QR 0) of opcode QUERY, one question, no answers. */
	if (tmp.flags & (DNS_FLAG_QR | DNS_FLAG_OPCODE))
		return -EBADMSG;
	if (rd16(msg + 4) != 1 || rd16(msg + 6) != 0)
		return -EBADMSG;
	if (parse_name(msg, len, &off, &tmp) < 0)
		return -EBADMSG;
	if (len - off < 4)
		return -EBADMSG;
	tmp.qtype = rd16(msg + off);
	tmp.qclass = rd16(msg + off + 2);
	tmp.end = (uint16_t)(off + 4); /* <= 12 + 255 + 4 */
	*q = tmp;
	return 0;
}

static int answer_ok(const struct dns_answer *a)
{
	if (a->rcode != DNS_RCODE_NOERROR && a->rcode != DNS_RCODE_NXDOMAIN)
		return 0;
	return a->type == 0 || a->type == DNS_TYPE_A ||
	       a->type == DNS_TYPE_AAAA;
}

/* The answer record: a pointer to the question's name (offset 12), type,
 * class IN, TTL, rdata. Returns its length. */
static size_t put_record(uint8_t *p, const struct dns_answer *a)
{
	uint16_t rdlen = a->type == DNS_TYPE_A ? 4 : 16;

	wr16(p, 0xc000 | DNS_HDR_LEN);
	wr16(p + 2, a->type);
	wr16(p + 4, DNS_CLASS_IN);
	wr32(p + 6, a->ttl);
	wr16(p + 10, rdlen);
	memcpy(p + 12, a->rdata, rdlen);
	return 12u + rdlen;
}

int dns_build_answer(const uint8_t *msg, size_t len,
		     const struct dns_question *q, const struct dns_answer *a,
		     uint8_t *buf, size_t size)
{
	uint16_t flags;
	size_t need, qlen;

	if (!msg || !q || !a || !buf || !answer_ok(a) ||
	    q->end < DNS_HDR_LEN + 5u || q->end > len)
		return -EINVAL;
	qlen = q->end - DNS_HDR_LEN;
	need = q->end + (a->type ? 12u + (a->type == DNS_TYPE_A ? 4u : 16u)
				 : 0u);
	if (need > size)
		return -ENOSPC;
	flags = (uint16_t)(DNS_FLAG_QR | DNS_FLAG_RA | a->rcode |
			   (q->flags & (DNS_FLAG_RD | DNS_FLAG_CD)));
	wr16(buf, q->id);
	wr16(buf + 2, flags);
	wr16(buf + 4, 1);
	wr16(buf + 6, a->type ? 1 : 0);
	wr16(buf + 8, 0);
	wr16(buf + 10, 0);
	memmove(buf + DNS_HDR_LEN, msg + DNS_HDR_LEN, qlen);
	if (a->type)
		put_record(buf + q->end, a);
	return (int)need;
}

/* Checks one label of a typed name: 1..63 bytes a parsed name may hold. */
static int label_ok(const char *s, size_t n)
{
	if (n == 0 || n > DNS_LABEL_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!text_byte((uint8_t)s[i]))
			return 0;
	return 1;
}

int dns_name_normalize(const char *in, char *out, size_t size)
{
	size_t n;

	if (!in || !out || size == 0)
		return -EINVAL;
	n = strlen(in);
	if (n && in[n - 1] == '.')
		n--; /* the root's dot */
	if (n > DNS_NAME_TEXT_MAX - 1)
		return -EINVAL;
	if (n >= size)
		return -ENOSPC;
	for (size_t start = 0; start < n;) {
		size_t end = start;

		while (end < n && in[end] != '.')
			end++;
		if (!label_ok(in + start, end - start))
			return -EINVAL;
		start = end + 1;
		if (end + 1 == n)
			return -EINVAL; /* "a..": an empty last label */
	}
	for (size_t i = 0; i < n; i++)
		out[i] = lower((uint8_t)in[i]);
	out[n] = '\0';
	return 0;
}
