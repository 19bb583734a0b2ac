/* Unit tests for the HTTP/1.1 stream parsers of plugins/http1.c: every
 * framing (Content-Length, chunked with extensions and trailers, until
 * close, none), keep-alive and pipelined responses, interim 1xx, HEAD,
 * 204 and 304, tunnels, the smuggling rules (conflicting lengths, CL+TE,
 * obs-fold, bare CR), limits, header values (media type, file names),
 * responses as nginx writes them, and the request helper.
 *
 * Each stream runs whole, byte by byte, and in many random splits; the
 * events, written as a trace with adjacent body spans joined, must be
 * the same every time. Every piece is fed from its own exact-size copy
 * so that ASan sees any read outside it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/http1.h"

#define TRACE_MAX 8192

struct run {
	struct http1_parser p;
	const uint8_t *stream; /* the whole stream, for checking raw heads */
	size_t abs;            /* bytes of it consumed so far */
	char trace[TRACE_MAX];
	size_t tn;
	bool in_body, stopped;
};

__attribute__((format(printf, 2, 3)))
static void put(struct run *r, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(r->trace + r->tn, TRACE_MAX - r->tn, fmt, ap);
	va_end(ap);
	assert_true(n >= 0 && (size_t)n < TRACE_MAX - r->tn);
	r->tn += (size_t)n;
}

static void put_head(struct run *r, const struct http1_head *h)
{
	/* one letter per flag bit; the CL_FIELD bit shows as cl= */
	static const char letters[] = "LCUNITXK-RA";

	put(r, "H%u ", h->status);
	for (unsigned i = 0; letters[i]; i++)
		if ((h->flags & (1u << i)) && letters[i] != '-')
			put(r, "%c", letters[i]);
	if (h->flags & HTTP1_H_CL_FIELD)
		put(r, "cl=%llu", (unsigned long long)h->content_length);
	if (h->media_type[0])
		put(r, " ct=%s", h->media_type);
	if (h->filename[0])
		put(r, " fn=%s", h->filename);
	put(r, "\n");
}

/* Writes one event into the trace, checking what every event promises. */
static void record(struct run *r, const struct http1_event *ev,
		   const uint8_t *d, size_t used)
{
	if (ev->type != HTTP1_BODY && ev->type != HTTP1_NEED_MORE &&
	    r->in_body) {
		put(r, "\n");
		r->in_body = false;
	}
	switch (ev->type) {
	case HTTP1_RESPONSE_HEAD:
		assert_ptr_equal(ev->data, ev->head->raw);
		assert_true(ev->len <= r->abs + used);
		assert_memory_equal(ev->data, r->stream + r->abs + used - ev->len,
				    ev->len);
		put_head(r, ev->head);
		break;
	case HTTP1_BODY:
		assert_true(ev->len > 0);
		assert_true(ev->data >= d && ev->data + ev->len <= d + used);
		if (!r->in_body)
			put(r, "B:");
		r->in_body = true;
		for (size_t i = 0; i < ev->len; i++) {
			uint8_t c = ev->data[i];

			if (c < 0x20 || c >= 0x7f || c == '\\')
				put(r, "\\x%02x", c);
			else
				put(r, "%c", c);
		}
		break;
	case HTTP1_MESSAGE_END:
		put(r, "E\n");
		break;
	case HTTP1_ERROR:
		assert_non_null(ev->reason);
		put(r, "X:%s\n", ev->reason);
		r->stopped = true;
		break;
	case HTTP1_DONE:
		put(r, "D\n");
		break;
	default:
		break;
	}
}

static void feed_piece(struct run *r, const uint8_t *src, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1), *d = copy;

	assert_non_null(copy);
	memcpy(copy, src, n);
	while (!r->stopped) {
		struct http1_event ev;
		size_t used = 99999;
		enum http1_ev t = http1_feed(&r->p, d, n, &used, &ev);

		assert_int_equal(t, ev.type);
		assert_true(used <= n);
		record(r, &ev, d, used);
		d += used;
		n -= used;
		r->abs += used;
		if (t == HTTP1_NEED_MORE) {
			assert_int_equal(n, 0);
			break;
		}
	}
	free(copy);
}

static void finish(struct run *r, bool eof)
{
	for (int i = 0; eof && i < 4 && !r->stopped; i++) {
		struct http1_event ev;
		enum http1_ev t = http1_eof(&r->p, &ev);

		assert_int_equal(t, ev.type);
		record(r, &ev, NULL, 0);
		if (t == HTTP1_DONE)
			break;
	}
	if (r->in_body)
		put(r, "\n");
	r->trace[r->tn] = '\0';
}

static enum http1_method method_char(char c)
{
	switch (c) {
	case 'H':
		return HTTP1_M_HEAD;
	case 'C':
		return HTTP1_M_CONNECT;
	case 'P':
		return HTTP1_M_POST;
	default:
		return HTTP1_M_GET;
	}
}

static uint64_t rng_state;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

/* Runs stream through a new parser in pieces of at most max bytes
 * (0: whole; 1: byte by byte; else random sizes 1..max) and returns the
 * trace (malloc'd). */
static char *run_split(const char *methods, const uint8_t *s, size_t len,
		       bool eof, const struct http1_limits *lim, size_t max)
{
	struct run *r = calloc(1, sizeof(*r));
	char *out;

	assert_non_null(r);
	assert_int_equal(http1_init(&r->p, lim), 0);
	for (const char *m = methods; *m; m++)
		assert_int_equal(http1_push_method(&r->p, method_char(*m)), 0);
	r->stream = s;
	for (size_t pos = 0; pos < len && !r->stopped;) {
		size_t k = max == 0 ? len : max == 1 ? 1 : 1 + rnd() % max;

		if (k > len - pos)
			k = len - pos;
		feed_piece(r, s + pos, k);
		pos += k;
	}
	if (len == 0)
		feed_piece(r, s, 0);
	finish(r, eof);
	out = strdup(r->trace);
	assert_non_null(out);
	http1_fini(&r->p);
	free(r);
	return out;
}

/* The trace of the whole stream is expect, and every split gives it. */
static void check_bin(const char *methods, const char *stream, size_t len,
		      bool eof, const struct http1_limits *lim,
		      const char *expect)
{
	char *whole = run_split(methods, (const uint8_t *)stream, len, eof,
				lim, 0);

	assert_string_equal(whole, expect);
	for (size_t max = 1; max <= 40; max++) {
		rng_state = 0x9e3779b97f4a7c15ull * max + len;
		for (int rep = 0; rep < (max == 1 ? 1 : 8); rep++) {
			char *t = run_split(methods, (const uint8_t *)stream,
					    len, eof, lim, max);

			if (strcmp(t, whole))
				fail_msg("split %zu rep %d:\n%s\nwhole:\n%s",
					 max, rep, t, whole);
			free(t);
		}
	}
	free(whole);
}

static void check_lim(const char *methods, const char *stream, bool eof,
		      const struct http1_limits *lim, const char *expect)
{
	check_bin(methods, stream, strlen(stream), eof, lim, expect);
}

static void check(const char *methods, const char *stream, bool eof,
		  const char *expect)
{
	check_lim(methods, stream, eof, NULL, expect);
}

/* ---- framings ---- */

static void test_content_length(void **state)
{
	check("G", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
	      "Content-Type: text/html; charset=utf-8\r\n\r\nhello", true,
	      "H200 Lcl=5 ct=text/html\nB:hello\nE\nD\n");
	/* zero length: the end comes without a body event */
	check("G", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true,
	      "H200 Lcl=0\nE\nD\n");
	/* a merged repeat of one value, and two fields that agree */
	check("GG", "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc"
	      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n"
	      "\r\nxy", true,
	      "H200 Lcl=3\nB:abc\nE\nH200 Lcl=2\nB:xy\nE\nD\n");
}

static void test_chunked(void **state)
{
	check("G", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	      "5;name=val\r\nhello\r\n6 ; x=\"q;\"\r\n world\r\n"
	      "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
	      "0;last\r\nX-Trailer: 1\r\nX-Other: two\r\n\r\n", true,
	      "H200 C\nB:hello worldabcdefghijklmnopqrstuvwxyz\nE\nD\n");
	/* no trailers; gzip then chunked; LF-only framing */
	check("GG", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n"
	      "\r\n3\r\nabc\r\n000\r\n\r\n"
	      "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nhi\n0\n\n",
	      true, "H200 C\nB:abc\nE\nH200 C\nB:hi\nE\nD\n");
}

static void test_chunked_errors(void **state)
{
	const char *h = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	static const struct {
		const char *body, *why;
	} cases[] = {
		{ "3\r\nabcX\r\n", "chunk data not followed by CRLF" },
		{ "g\r\n", "invalid chunk size" },
		{ "\r\n", "invalid chunk size" },
		{ " 3\r\nabc\r\n", "invalid chunk size" },
		{ "3 x\r\n", "invalid chunk size line" },
		{ "3\rx", "bare CR in chunk size line" },
		{ "1000000000000000\r\n", "chunk size too large" },
		{ "3;a\001\r\n", "invalid chunk extension" },
		{ "0\r\n Folded: x\r\n\r\n", "obs-fold in trailer" },
		{ "0\r\nX: a\rb\r\n\r\n", "bare CR in chunked framing" },
		{ "0\r\n\rx", "bare CR in chunked framing" },
		{ "0\r\n:x\r\n\r\n", "malformed trailer" },
	};
	char buf[256], expect[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "%s%s", h, cases[i].body);
		snprintf(expect, sizeof(expect), "H200 C\n%sX:%s\n",
			 !strncmp(cases[i].body, "3\r\nabc", 6) ?
			 "B:abc\n" : "", cases[i].why);
		check("G", buf, true, expect);
	}
}

static void test_chunk_ext_limit(void **state)
{
	/* Static: with malloc, gcc's -Warray-bounds under the sanitizers
	 * sees a 0-byte object after assert_non_null(). */
	static const char head[] =
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;";
	static char s[sizeof(head) + HTTP1_CHUNK_EXT_MAX + 32];
	size_t n = sizeof(head) - 1;

	memcpy(s, head, sizeof(head));
	memset(s + n, 'e', HTTP1_CHUNK_EXT_MAX);
	strcpy(s + n + HTTP1_CHUNK_EXT_MAX, "\r\nz\r\n0\r\n\r\n");
	check("G", s, true, "H200 C\nB:z\nE\nD\n");
	memmove(s + n + 1, s + n, strlen(s + n) + 1);
	check("G", s, true, "H200 C\nX:invalid chunk extension\n");
}

static void test_until_close(void **state)
{
	check("G", "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nabc",
	      true, "H200 UX ct=text/plain\nB:abc\nE\nD\n");
	check("G", "HTTP/1.0 200 OK\r\n\r\nold", true, "H200 UX\nB:old\nE\nD\n");
	/* a coding other than chunked last: read until close (6.3 rule 4) */
	check("G", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nzz",
	      true, "H200 UX\nB:zz\nE\nD\n");
	/* without the EOF the message does not end */
	check("G", "HTTP/1.1 200 OK\r\n\r\nabc", false, "H200 UX\nB:abc\n");
}

static void test_keep_alive(void **state)
{
	check("GGGG", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na"
	      "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n"
	      "1\r\nb\r\n0\r\n\r\n"
	      "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n"
	      "Content-Length: 1\r\n\r\nc"
	      "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n"
	      "\r\nd", true,
	      "H200 Lcl=1\nB:a\nE\nH404 C\nB:b\nE\nH200 LKcl=1\nB:c\nE\n"
	      "H200 LXcl=1\nB:d\nE\nD\n");
	/* bytes after the response that closes the connection */
	check("GG", "HTTP/1.1 200 OK\r\nConnection: close\r\n"
	      "Content-Length: 1\r\n\r\ndHTTP/1.1 200 OK\r\n\r\n", true,
	      "H200 LXcl=1\nB:d\nE\nX:data after the last response\n");
	/* an HTTP/1.0 response closes unless it says keep-alive */
	check("G", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nz", true,
	      "H200 LXcl=1\nB:z\nE\nD\n");
}

static void test_interim(void **state)
{
	check("PG", "HTTP/1.1 100 Continue\r\n\r\n"
	      "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
	      "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"
	      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", true,
	      "H100 NI\nH103 NI\nH201 Lcl=2\nB:ok\nE\nH200 Lcl=1\nB:x\nE\nD\n");
}

static void test_no_body(void **state)
{
	/* HEAD: Content-Length describes what GET would send */
	check("HGGG", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"
	      "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n"
	      "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n"
	      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", true,
	      "H200 Ncl=1000\nE\nH204 Ncl=3\nE\nH304 N\nE\nH200 Lcl=2\nB:hi\n"
	      "E\nD\n");
	/* the end of a body-less response comes even before the EOF */
	check("H", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false,
	      "H200 Ncl=5\nE\n");
}

static void test_tunnel(void **state)
{
	check("C", "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01",
	      true, "H200 UTX\nB:\\x16\\x03\\x01\nE\nD\n");
	check("G", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	      "Connection: Upgrade\r\n\r\n\x81\x05hello", true,
	      "H101 UTX\nB:\\x81\\x05hello\nE\nD\n");
	/* a refused CONNECT is an ordinary response */
	check("CG", "HTTP/1.1 407 Proxy Auth\r\nContent-Length: 0\r\n\r\n"
	      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", true,
	      "H407 Lcl=0\nE\nH200 Lcl=0\nE\nD\n");
}

/* ---- smuggling hygiene and malformed heads ---- */

static void test_framing_errors(void **state)
{
	static const struct {
		const char *fields, *why;
	} cases[] = {
		{ "Content-Length: 5\r\nContent-Length: 6\r\n",
		  "conflicting Content-Length values" },
		{ "Content-Length: 5, 6\r\n", "conflicting Content-Length values" },
		{ "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
		  "both Content-Length and Transfer-Encoding" },
		{ "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n",
		  "both Content-Length and Transfer-Encoding" },
		{ "Content-Length: +5\r\n", "invalid Content-Length" },
		{ "Content-Length: 5x\r\n", "invalid Content-Length" },
		{ "Content-Length: \r\n", "invalid Content-Length" },
		{ "Content-Length: 99999999999999999999\r\n",
		  "Content-Length too large" },
		{ "Transfer-Encoding: chunked, gzip\r\n",
		  "chunked is not the last transfer coding" },
		{ "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
		  "chunked is not the last transfer coding" },
		{ "Transfer-Encoding:\r\n", "empty Transfer-Encoding" },
		{ "Transfer-Encoding: \"chunked\"\r\n",
		  "invalid Transfer-Encoding" },
		{ "X: a\r\n folded\r\n", "obs-fold (continuation line) in header" },
		{ "Content-Length : 5\r\n", "whitespace before colon in header" },
		{ "Bad Name: 1\r\n", "whitespace before colon in header" },
		{ "NoColon\r\n", "malformed header field" },
		{ ": empty name\r\n", "malformed header field" },
		{ "X: a\rb\r\n", "bare CR in header" },
		{ "X: a\001b\r\n", "control character in header value" },
	};
	char buf[512], expect[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n%s\r\nbody",
			 cases[i].fields);
		snprintf(expect, sizeof(expect), "X:%s\n", cases[i].why);
		check("G", buf, true, expect);
	}
	check("G", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", true,
	      "X:Transfer-Encoding in an HTTP/1.0 response\n");
	/* whitespace between the status line and the first field */
	check("G", "HTTP/1.1 200 OK\r\n Content-Length: 1\r\n\r\nx", true,
	      "X:obs-fold (continuation line) in header\n");
}

static void test_status_line(void **state)
{
	static const char *const bad[] = {
		"HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 2000 OK\r\n\r\n",
		"HTTP/2 200 OK\r\n\r\n", "HTTP/1.1  200 OK\r\n\r\n",
		"HTTP/1.1 099 Low\r\n\r\n", "HTTP/1.1 600 High\r\n\r\n",
		"http/1.1 200 OK\r\n\r\n", "HTTP/1.1 200 O\001K\r\n\r\n",
		"HTTP/1.1 200 OK\rX\r\n\r\n", "HTTP/1.x 200 OK\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		check("G", bad[i], true, "X:malformed status line\n");
	check("GGG", "HTTP/1.1 200\r\nContent-Length: 1\r\n\r\na"
	      "HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\nb"
	      "\r\n\r\nHTTP/1.9 299 Whatever it is\r\nContent-Length: 1\r\n\r\nc",
	      true, "H200 Lcl=1\nB:a\nE\nH200 Lcl=1\nB:b\nE\nH299 Lcl=1\nB:c\n"
	      "E\nD\n");
}

/* Not HTTP at all: refused at once, not after 64 KiB of buffering. */
static void test_not_http(void **state)
{
	struct http1_parser p;
	struct http1_event ev;
	size_t used;

	check("G", "SSH-2.0-OpenSSH_9.2", false, "X:malformed status line\n");
	/* the same error whether the bad start came in the first piece or
	 * inside a complete line (found by fuzz_http1) */
	check("G", "HTTP/1\xf3\xf3 200 OK\r\nX: 1\r\n", true,
	      "X:malformed status line\n");
	check("G", "\r\n\r\n\rHTTP/1.1 200 OK\r\n", true,
	      "X:malformed status line\n");
	assert_int_equal(http1_init(&p, NULL), 0);
	assert_int_equal(http1_feed(&p, (const uint8_t *)"HTTP/1.", 7, &used,
				    &ev), HTTP1_NEED_MORE);
	assert_int_equal(http1_feed(&p, (const uint8_t *)"2", 1, &used, &ev),
			 HTTP1_NEED_MORE);
	http1_fini(&p);
}

static void test_eof(void **state)
{
	check("G", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", true,
	      "H200 Lcl=5\nB:hel\nX:connection closed inside a body\n");
	check("G", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhe",
	      true, "H200 C\nB:he\nX:connection closed inside a body\n");
	check("G", "HTTP/1.1 200 OK\r\nContent-", true,
	      "X:connection closed inside a head\n");
	check("", "", true, "D\n");
	check("G", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx", true,
	      "H200 Lcl=1\nB:x\nE\nD\n");
}

static void test_limits(void **state)
{
	struct http1_limits lim = { .head_max = 128, .fields_max = 3 };
	struct http1_parser p;
	char big[300];

	check_lim("G", "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", true,
		  &lim, "H200 UX\nE\nD\n");
	check_lim("G", "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
		  true, &lim, "X:too many header fields\n");
	check_lim("G", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", true, &lim,
		  "H200 C\nX:too many trailer fields\n");
	snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nX: %0*d\r\n\r\n", 105, 0);
	check_lim("G", big, true, &lim, "X:header block too large\n");
	/* exactly at the cap is fine */
	snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nX: %0*d\r\n\r\n",
		 128 - 24, 0);
	assert_int_equal(strlen(big), 128);
	check_lim("G", big, true, &lim, "H200 UX\nE\nD\n");
	/* a bad start beyond the cap is still a bad start */
	memset(big, 'a', 200);
	big[200] = '\0';
	check_lim("G", big, true, &lim, "X:malformed status line\n");
	/* leading empty lines count against the cap too */
	memset(big, '\n', 200);
	big[200] = '\0';
	check_lim("G", big, true, &lim, "X:header block too large\n");
	lim.head_max = 63;
	assert_int_equal(http1_init(&p, &lim), -EINVAL);
}

/* The header buffer grows by doubling and never past the cap. */
static void test_buffer_growth(void **state)
{
	struct http1_parser p;
	struct http1_event ev;
	static char s[70000];  /* static: see test_chunk_ext_limit */
	size_t used, n;

	n = (size_t)sprintf(s, "HTTP/1.1 200 OK\r\nX: ");
	memset(s + n, 'v', 60000);
	n += 60000;
	n += (size_t)sprintf(s + n, "\r\nContent-Length: 0\r\n\r\n");
	assert_int_equal(http1_init(&p, NULL), 0);
	for (size_t i = 0; i < n; i += 1000) {
		size_t k = n - i < 1000 ? n - i : 1000;
		enum http1_ev t = http1_feed(&p, (uint8_t *)s + i, k, &used, &ev);

		assert_true(p.hb.cap <= HTTP1_HEAD_MAX_DEFAULT);
		if (t == HTTP1_RESPONSE_HEAD) {
			assert_int_equal(i + used, n);
			assert_int_equal(ev.len, n);
		} else {
			assert_int_equal(t, HTTP1_NEED_MORE);
		}
	}
	assert_int_equal(p.hb.cap, 65536);
	http1_fini(&p);
}

/* ---- what the head says ---- */

static void test_head_values(void **state)
{
	check("GGGGGG",
	      "HTTP/1.1 200 OK\r\nContent-Type: Application/X-MSDownload\r\n"
	      "Content-Disposition: attachment; filename=\"setup \\\"1\\\".exe\"\r\n"
	      "Content-Length: 0\r\n\r\n"
	      "HTTP/1.1 200 OK\r\nContent-Disposition: attachment; "
	      "filename*=UTF-8''%e2%82%ac%20rates.exe; filename=\"rates.exe\"\r\n"
	      "Content-Length: 0\r\n\r\n"
	      "HTTP/1.1 200 OK\r\nContent-Disposition: inline;filename=a.bin\r\n"
	      "Content-Type: text/plain\r\nContent-Type: image/png\r\n"
	      "Content-Length: 0\r\n\r\n"
	      "HTTP/1.1 200 OK\r\nContent-Type: garbage\r\nContent-Length: 0\r\n"
	      "\r\n"
	      "HTTP/1.1 200 OK\r\nContent-Disposition: attachment; "
	      "filename=\"a%00b\"; filename*=x''a%01b\r\nContent-Length: 0\r\n\r\n"
	      "HTTP/1.1 200 OK\r\nContent-Type: text/html;charset=x\r\n"
	      "Content-Length: 0\r\n\r\n",
	      true,
	      "H200 LAcl=0 ct=application/x-msdownload fn=setup \"1\".exe\nE\n"
	      "H200 LAcl=0 fn=\xe2\x82\xac rates.exe\nE\n"
	      "H200 Lcl=0 ct=image/png fn=a.bin\nE\n"
	      "H200 Lcl=0\nE\n"
	      "H200 LAcl=0 fn=a_b\nE\n"
	      "H200 Lcl=0 ct=text/html\nE\nD\n");
}

static void test_field_lookup(void **state)
{
	static const char s[] = "HTTP/1.1 302 Found\r\nLocation:  /next \r\n"
				"X-Empty:\r\nContent-Length: 0\r\n\r\n";
	struct http1_parser p;
	struct http1_event ev;
	const char *v;
	size_t used, n;

	assert_int_equal(http1_init(&p, NULL), 0);
	assert_int_equal(http1_field(&p, "location", &v, &n), 0);
	assert_int_equal(http1_feed(&p, (const uint8_t *)s, sizeof(s) - 1,
				    &used, &ev), HTTP1_RESPONSE_HEAD);
	assert_int_equal(used, sizeof(s) - 1);
	assert_int_equal(ev.head->status, 302);
	assert_memory_equal(ev.head->reason, "Found", 5);
	assert_int_equal(ev.head->reason_len, 5);
	assert_int_equal(http1_field(&p, "LOCATION", &v, &n), 1);
	assert_int_equal(n, 5);
	assert_memory_equal(v, "/next", 5);
	assert_int_equal(http1_field(&p, "x-empty", &v, &n), 1);
	assert_int_equal(n, 0);
	assert_int_equal(http1_field(&p, "x-missing", &v, &n), 0);
	assert_int_equal(http1_feed(&p, NULL, 0, &used, &ev), HTTP1_MESSAGE_END);
	assert_int_equal(http1_feed(&p, NULL, 0, &used, &ev), HTTP1_NEED_MORE);
	http1_fini(&p);
}

static void test_methods_queue(void **state)
{
	struct http1_parser p;

	assert_int_equal(http1_init(&p, NULL), 0);
	for (unsigned i = 0; i < HTTP1_PIPELINE_MAX; i++)
		assert_int_equal(http1_push_method(&p, HTTP1_M_GET), 0);
	assert_int_equal(http1_push_method(&p, HTTP1_M_GET), -ENOSPC);
	http1_fini(&p);
	/* a response no request was queued for (an unsolicited 408) */
	check("", "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n"
	      "Content-Length: 0\r\n\r\n", true, "H408 LXRcl=0\nE\nD\n");
	assert_int_equal(http1_method_of("HEAD", 4), HTTP1_M_HEAD);
	assert_int_equal(http1_method_of("head", 4), HTTP1_M_OTHER);
	assert_int_equal(http1_method_of("CONNECT", 7), HTTP1_M_CONNECT);
	assert_int_equal(http1_method_of("GETX", 4), HTTP1_M_OTHER);
}

/* Responses as nginx 1.22 writes them (a binary file, a gzipped chunked
 * page, the answer to HEAD), and field names and values in other cases. */
static void test_nginx(void **state)
{
	static const char s[] =
		"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n"
		"Date: Wed, 02 Dec 2026 12:00:00 GMT\r\n"
		"Content-Type: application/octet-stream\r\nContent-Length: 10\r\n"
		"Last-Modified: Tue, 01 Dec 2026 08:00:00 GMT\r\n"
		"Connection: keep-alive\r\nETag: \"6569a0c0-a\"\r\n"
		"Accept-Ranges: bytes\r\n\r\nMZ\x90\0\x03\0\0\0\x04\0"
		"HTTP/1.1 200 OK\r\nServer: nginx\r\n"
		"Date: Wed, 02 Dec 2026 12:00:01 GMT\r\n"
		"Content-Type: text/html; charset=utf-8\r\n"
		"Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n"
		"Content-Encoding: gzip\r\n\r\n"
		"a\r\n\x1f\x8b\x08\0\0\0\0\0\0\x03\r\n0\r\n\r\n"
		"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n"
		"Content-Type: application/x-msdos-program\r\n"
		"Content-Length: 123456\r\nConnection: keep-alive\r\n\r\n";

	check_bin("GGH", s, sizeof(s) - 1, true, NULL,
		  "H200 LKcl=10 ct=application/octet-stream\n"
		  "B:MZ\\x90\\x00\\x03\\x00\\x00\\x00\\x04\\x00\nE\n"
		  "H200 CK ct=text/html\n"
		  "B:\\x1f\\x8b\\x08\\x00\\x00\\x00\\x00\\x00\\x00\\x03\nE\n"
		  "H200 NKcl=123456 ct=application/x-msdos-program\nE\nD\n");
	check("GH",
	      "HTTP/1.1 200 OK\r\nServer: nginx\r\n"
	      "Content-Type: text/html; charset=utf-8\r\n"
	      "Transfer-Encoding: Chunked\r\nConnection: Keep-Alive\r\n\r\n"
	      "A\r\n0123456789\r\n0\r\n\r\n"
	      "HTTP/1.1 200 OK\r\nserver: nginx\r\ncontent-length: 42\r\n"
	      "CONTENT-TYPE: TEXT/PLAIN\r\n\r\n"
	      "HTTP/1.1 200 OK\r\n", true,
	      "H200 CK ct=text/html\nB:0123456789\nE\n"
	      "H200 Ncl=42 ct=text/plain\nE\n"
	      "X:connection closed inside a head\n");
}

/* ---- the request helper ---- */

static void req_split(const char *s, size_t max, bool resume, char *out)
{
	struct http1_req_parser r;
	size_t len = strlen(s), tn = 0;

	assert_int_equal(http1_req_init(&r, NULL), 0);
	for (size_t pos = 0; pos < len;) {
		size_t k = max == 0 ? len : max == 1 ? 1 : 1 + rnd() % max;
		uint8_t *copy, *d;
		bool stop = false;

		k = k > len - pos ? len - pos : k;
		copy = d = malloc(k);
		assert_non_null(copy);
		memcpy(copy, s + pos, k);
		pos += k;
		for (size_t n = k; !stop;) {
			struct http1_event ev;
			size_t used;
			enum http1_ev t = http1_req_feed(&r, d, n, &used, &ev);

			assert_true(used <= n);
			d += used;
			n -= used;
			if (t == HTTP1_REQUEST) {
				tn += (size_t)sprintf(out + tn, "%.*s=%d ",
						      (int)ev.method_len,
						      ev.method_text, ev.method);
				if (resume && ev.method == HTTP1_M_CONNECT)
					http1_req_resume(&r);
			} else if (t == HTTP1_ERROR) {
				tn += (size_t)sprintf(out + tn, "X:%s", ev.reason);
				stop = true;
				pos = len;
			} else {
				assert_int_equal(n, 0);
				stop = true;
			}
		}
		free(copy);
	}
	out[tn] = '\0';
	http1_req_fini(&r);
}

static void req_check(const char *s, bool resume, const char *expect)
{
	char whole[1024], t[1024];

	req_split(s, 0, resume, whole);
	assert_string_equal(whole, expect);
	for (size_t max = 1; max < 30; max++) {
		rng_state = 0x2545f4914f6cdd1dull + max;
		for (int rep = 0; rep < 6; rep++) {
			req_split(s, max, resume, t);
			assert_string_equal(t, whole);
		}
	}
}

static void test_requests(void **state)
{
	req_check("GET / HTTP/1.1\r\nHost: a\r\n\r\n"
		  "HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n"
		  "POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nHEAD "
		  "PUT /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
		  "4;e=1\r\nHEAD\r\n0\r\nT: 1\r\n\r\n"
		  "\r\nDELETE /d HTTP/1.0\r\n\r\nhead / HTTP/1.1\r\n\r\n"
		  "OPTIONS * HTTP/1.1\r\n\r\n", false,
		  "GET=1 HEAD=2 POST=3 PUT=4 DELETE=0 head=0 OPTIONS=6 ");
	/* after CONNECT the bytes are a tunnel's until told otherwise */
	req_check("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"
		  "\x16\x03\x01 not http\r\n\r\nGET / HTTP/1.1\r\n\r\n", false,
		  "CONNECT=5 ");
	req_check("CONNECT a:443 HTTP/1.1\r\n\r\nHEAD / HTTP/1.1\r\n\r\n", true,
		  "CONNECT=5 HEAD=2 ");
	req_check("GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n"
		  "Connection: Upgrade\r\n\r\n\x81\x85garbage", false, "GET=1 ");
	/* Upgrade without the connection option is not an upgrade */
	req_check("GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\nHEAD / HTTP/1.1\r\n\r\n",
		  false, "GET=1 HEAD=2 ");
}

static void test_request_errors(void **state)
{
	req_check("POST / HTTP/1.1\r\nContent-Length: 1\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n", false,
		  "X:both Content-Length and Transfer-Encoding");
	req_check("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", false,
		  "X:request coding without chunked last");
	req_check("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", false,
		  "X:Transfer-Encoding in an HTTP/1.0 request");
	req_check("GET /\r\n\r\n", false, "X:malformed request line");
	req_check("GET  / HTTP/1.1\r\n\r\n", false, "X:malformed request line");
	req_check("GET / HTTP/1.1 x\r\n\r\n", false, "X:malformed request line");
	req_check("GET / HTTP/1.1\r\nA: 1\r\n b\r\n\r\n", false,
		  "X:obs-fold (continuation line) in header");
	req_check("GET / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 1, 2"
		  "\r\n\r\n", false, "GET=1 X:conflicting Content-Length values");
	req_check("PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
		  false, "PUT=4 X:invalid chunk size");
}

/* The helper's methods drive the response parser, as the filter will. */
static void test_proxy_pair(void **state)
{
	static const char req[] = "HEAD /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n";
	static const char resp[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
				   "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody";
	struct http1_req_parser r;
	struct run *run = calloc(1, sizeof(*run));
	const uint8_t *d = (const uint8_t *)req;
	size_t n = sizeof(req) - 1, used;
	struct http1_event ev;

	assert_non_null(run);
	assert_int_equal(http1_req_init(&r, NULL), 0);
	assert_int_equal(http1_init(&run->p, NULL), 0);
	while (http1_req_feed(&r, d, n, &used, &ev) == HTTP1_REQUEST) {
		assert_int_equal(http1_push_method(&run->p, ev.method), 0);
		d += used;
		n -= used;
	}
	run->stream = (const uint8_t *)resp;
	feed_piece(run, (const uint8_t *)resp, sizeof(resp) - 1);
	finish(run, true);
	assert_string_equal(run->trace,
			    "H200 Ncl=4\nE\nH200 Lcl=4\nB:body\nE\nD\n");
	http1_fini(&run->p);
	http1_req_fini(&r);
	free(run);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_chunked),
		cmocka_unit_test(test_chunked_errors),
		cmocka_unit_test(test_chunk_ext_limit),
		cmocka_unit_test(test_until_close),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_interim),
		cmocka_unit_test(test_no_body),
		cmocka_unit_test(test_tunnel),
		cmocka_unit_test(test_framing_errors),
		cmocka_unit_test(test_status_line),
		cmocka_unit_test(test_not_http),
		cmocka_unit_test(test_eof),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_buffer_growth),
		cmocka_unit_test(test_head_values),
		cmocka_unit_test(test_field_lookup),
		cmocka_unit_test(test_methods_queue),
		cmocka_unit_test(test_nginx),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_request_errors),
		cmocka_unit_test(test_proxy_pair),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
