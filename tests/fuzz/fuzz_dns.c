/* libFuzzer harness for the DNS code of the dnssink plug-in
 * (plugins/dns.c): parses arbitrary bytes as a query, checks the
 * question against the bytes, builds every kind of answer and checks it
 * field by field, and normalises the input as a typed name and checks
 * that the result survives a round trip through the wire form. Aborts on
 * the first broken promise of plugins/dns.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT 4096u

static const char *g_step = "parse";

#define FUZZ_STEP g_step
#include "fuzz_check.h"

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)be16(p) << 16 | be16(p + 2);
}

static char lower(uint8_t c)
{
	return (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
}

/* A malloc'd copy of exactly n bytes, so ASan sees any read past the end. */
static uint8_t *dup_exact(const uint8_t *p, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);

	CHECK(copy != NULL);
	if (n)
		memcpy(copy, p, n);
	return copy;
}

/* Writes text name (as dns_parse_query gives it) in wire form; returns
 * the length. */
static size_t to_wire(const char *name, uint8_t *out)
{
	size_t n = 0, len = strlen(name);

	for (size_t start = 0; start < len;) {
		size_t end = start;

		while (end < len && name[end] != '.')
			end++;
		out[n++] = (uint8_t)(end - start);
		memcpy(out + n, name + start, end - start);
		n += end - start;
		start = end + 1;
	}
	out[n++] = 0;
	return n;
}

/* The question's name is the wire name of the bytes, lower-cased. */
static void check_question(const uint8_t *d, size_t size,
			   const struct dns_question *q)
{
	uint8_t wire[512];
	size_t wlen;

	CHECK(q->end >= 12u + 5u && q->end <= size);
	CHECK(q->name_len == strlen(q->name));
	CHECK(q->name_len < DNS_NAME_TEXT_MAX);
	CHECK(q->id == be16(d) && q->flags == be16(d + 2));
	CHECK(!(q->flags & (DNS_FLAG_QR | DNS_FLAG_OPCODE)));
	CHECK(be16(d + 4) == 1 && be16(d + 6) == 0);
	CHECK(q->qtype == be16(d + q->end - 4));
	CHECK(q->qclass == be16(d + q->end - 2));
	for (size_t i = 0; i < q->name_len; i++) {
		uint8_t c = (uint8_t)q->name[i];

		CHECK(c > 0x20 && c < 0x7f && !(c >= 'A' && c <= 'Z'));
	}
	wlen = to_wire(q->name, wire);
	CHECK(wlen <= DNS_NAME_WIRE_MAX);
	CHECK(12u + wlen + 4u == q->end);
	for (size_t i = 0; i < wlen; i++)
		CHECK(wire[i] == (uint8_t)lower(d[12 + i]));
}

/* A response as dns.h promises it. */
static void check_response(const uint8_t *d, const struct dns_question *q,
			   const struct dns_answer *a, const uint8_t *r,
			   int n)
{
	size_t rd = a->type == DNS_TYPE_A ? 4 : 16;
	struct dns_question again;
	const uint8_t *rr = r + q->end;

	CHECK(n == (int)(q->end + (a->type ? 12u + rd : 0u)));
	CHECK(be16(r) == q->id);
	CHECK(be16(r + 2) == (DNS_FLAG_QR | DNS_FLAG_RA | a->rcode |
			      (q->flags & (DNS_FLAG_RD | DNS_FLAG_CD))));
	CHECK(be16(r + 4) == 1 && be16(r + 6) == (a->type ? 1 : 0));
	CHECK(be16(r + 8) == 0 && be16(r + 10) == 0);
	CHECK(memcmp(r + 12, d + 12, q->end - 12u) == 0);
	CHECK(dns_parse_query(r, (size_t)n, &again) == -EBADMSG);
	if (!a->type)
		return;
	CHECK(be16(rr) == 0xc00c && be16(rr + 2) == a->type);
	CHECK(be16(rr + 4) == DNS_CLASS_IN && be32(rr + 6) == a->ttl);
	CHECK(be16(rr + 10) == rd && memcmp(rr + 12, a->rdata, rd) == 0);
}

static void run_answer(const uint8_t *d, size_t size,
		       const struct dns_question *q, uint8_t rcode,
		       uint16_t type)
{
	struct dns_answer a = { .rcode = rcode, .type = type,
				.ttl = (uint32_t)size * 2654435761u };
	uint8_t *buf = malloc(1024), *small;
	int n;

	CHECK(buf != NULL);
	for (size_t i = 0; i < sizeof(a.rdata); i++)
		a.rdata[i] = (uint8_t)(d[i % size] + i);
	n = dns_build_answer(d, size, q, &a, buf, 1024);
	CHECK(n > 0);
	check_response(d, q, &a, buf, n);
	/* Exactly the room it needs, then one byte less. */
	small = malloc((size_t)n);
	CHECK(small != NULL);
	CHECK(dns_build_answer(d, size, q, &a, small, (size_t)n) == n);
	CHECK(memcmp(small, buf, (size_t)n) == 0);
	CHECK(dns_build_answer(d, size, q, &a, small, (size_t)n - 1) ==
	      -ENOSPC);
	free(small);
	free(buf);
}

static void run_query(const uint8_t *d, size_t size)
{
	struct dns_question q, before;
	char norm[DNS_NAME_TEXT_MAX];
	int ret;

	g_step = "parse_query";
	memset(&q, 0x5a, sizeof(q));
	before = q;
	ret = dns_parse_query(d, size, &q);
	CHECK(ret == 0 || ret == -EBADMSG);
	if (ret != 0) {
		CHECK(memcmp(&q, &before, sizeof(q)) == 0);
		return;
	}
	check_question(d, size, &q);
	g_step = "normalize parsed";
	CHECK(dns_name_normalize(q.name, norm, sizeof(norm)) == 0);
	CHECK(strcmp(norm, q.name) == 0);
	g_step = "build_answer";
	run_answer(d, size, &q, DNS_RCODE_NOERROR, DNS_TYPE_A);
	run_answer(d, size, &q, DNS_RCODE_NOERROR, DNS_TYPE_AAAA);
	run_answer(d, size, &q, DNS_RCODE_NOERROR, 0);
	run_answer(d, size, &q, DNS_RCODE_NXDOMAIN, 0);
	{
		struct dns_answer bad = { .rcode = 2, .type = DNS_TYPE_A };
		uint8_t buf[600];

		CHECK(dns_build_answer(d, size, &q, &bad, buf, sizeof(buf)) ==
		      -EINVAL);
	}
}

/* The input as a typed name: a normalised name parses back to itself. */
static void run_normalize(const uint8_t *d, size_t size)
{
	char *text = malloc(size + 1), out[DNS_NAME_TEXT_MAX], again[300];
	uint8_t msg[12 + 300 + 4] = { 0x12, 0x34, 0x01, 0x00, 0, 1 };
	struct dns_question q;
	size_t wlen;
	int ret;

	g_step = "normalize";
	CHECK(text != NULL);
	memcpy(text, d, size);
	text[size] = '\0';
	ret = dns_name_normalize(text, out, sizeof(out));
	CHECK(ret == 0 || ret == -EINVAL || ret == -ENOSPC);
	if (ret == 0) {
		CHECK(strlen(out) < DNS_NAME_TEXT_MAX);
		CHECK(dns_name_normalize(out, again, sizeof(again)) == 0);
		CHECK(strcmp(out, again) == 0);
		wlen = to_wire(out, msg + 12);
		CHECK(wlen <= DNS_NAME_WIRE_MAX);
		msg[12 + wlen + 1] = 1;
		msg[12 + wlen + 3] = 1;
		g_step = "normalize round trip";
		CHECK(dns_parse_query(msg, 12 + wlen + 4, &q) == 0);
		CHECK(strcmp(q.name, out) == 0 && q.qtype == 1);
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *d;

	if (size > MAX_INPUT)
		return 0;
	d = dup_exact(data, size);
	run_query(d, size);
	if (memchr(d, 0, size) == NULL)
		run_normalize(d, size);
	free(d);
	return 0;
}
