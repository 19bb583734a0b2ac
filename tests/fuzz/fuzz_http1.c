/* libFuzzer harness for the HTTP/1.1 stream parsers of plugins/http1.c
 * (the exeblock filter's engine). The input after a 3-byte prefix is a
 * byte stream fed to the response parser and to the request helper,
 * once whole and once in pieces of sizes drawn from the prefix, each
 * piece from its own exact-size copy (ASan sees reads outside it).
 * Prefix: [0] seed of the piece sizes, [1] the methods of the first four
 * requests (2 bits each: GET, HEAD, CONNECT, POST), [2] bit 0: small
 * limits, bit 1: no EOF at the end.
 *
 * Aborts on the first broken promise of plugins/http1.h: consumed <=
 * len, NEED_MORE only when all was taken, body spans within the bytes
 * taken, heads equal to the bytes they came from, a Content-Length body
 * exactly that long, progress (no endless run of events taking
 * nothing), errors that stay, and the same events however the stream
 * is split.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/http1.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INPUT 65536u

static const char *g_step = "response";

#define FUZZ_STEP g_step
#include "fuzz_check.h"

/* What a run saw, folded into a hash (FNV-1a) so two runs compare. */
struct sum {
	uint64_t h;
	uint64_t events;
};

static void mix(struct sum *s, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		s->h = (s->h ^ b[i]) * 0x100000001b3ull;
}

static void mix_u64(struct sum *s, uint64_t v)
{
	mix(s, &v, sizeof(v));
}

struct resp_run {
	struct http1_parser p;
	const uint8_t *stream;
	size_t abs;             /* stream bytes consumed */
	uint64_t body;          /* body bytes of the current response */
	bool stopped, in_body;
	int idle;               /* events in a row that took nothing */
	struct sum sum;
};

static uint32_t rng;

static size_t piece_len(size_t left, size_t max)
{
	size_t k;

	if (max == 0)
		return left;
	rng = rng * 1103515245u + 12345u;
	k = 1 + (rng >> 16) % max;
	return k < left ? k : left;
}

static void check_head(struct resp_run *r, const struct http1_event *ev,
		       size_t used)
{
	const struct http1_head *h = ev->head;
	const char *v;
	size_t n;

	CHECK(ev->data == h->raw && ev->len == h->raw_len);
	CHECK(h->raw_len > 0 && h->raw_len <= r->abs + used);
	CHECK(h->raw_len <= r->p.lim.head_max);
	CHECK(!memcmp(h->raw, r->stream + r->abs + used - h->raw_len,
		      h->raw_len));
	CHECK(h->status >= 100 && h->status <= 599);
	CHECK(strlen(h->filename) < sizeof(h->filename));
	CHECK(strlen(h->media_type) < sizeof(h->media_type));
	CHECK(!h->content_type ||
	      ((const uint8_t *)h->content_type >= h->raw &&
	       (const uint8_t *)h->content_type + h->content_type_len <=
	       h->raw + h->raw_len));
	CHECK(h->nfields <= r->p.lim.fields_max);
	if (http1_field(&r->p, "content-length", &v, &n))
		CHECK((const uint8_t *)v >= h->raw &&
		      (const uint8_t *)v + n <= h->raw + h->raw_len);
	/* exactly one framing, or none for interim heads */
	n = !!(h->flags & HTTP1_H_LENGTH) + !!(h->flags & HTTP1_H_CHUNKED) +
	    !!(h->flags & HTTP1_H_UNTIL_CLOSE) + !!(h->flags & HTTP1_H_NO_BODY);
	CHECK(n == 1);
	mix_u64(&r->sum, h->status);
	mix_u64(&r->sum, h->flags);
	mix_u64(&r->sum, h->content_length);
	mix(&r->sum, h->filename, strlen(h->filename));
	mix(&r->sum, h->media_type, strlen(h->media_type));
	r->body = 0;
}

static void check_event(struct resp_run *r, const struct http1_event *ev,
			const uint8_t *d, size_t used)
{
	if (ev->type != HTTP1_BODY && ev->type != HTTP1_NEED_MORE &&
	    r->in_body) {
		mix_u64(&r->sum, 0xb0d1);
		r->in_body = false;
	}
	/* adjacent body spans count as one, however they were cut */
	if (ev->type != HTTP1_NEED_MORE &&
	    !(ev->type == HTTP1_BODY && r->in_body))
		mix_u64(&r->sum, ev->type);
	switch (ev->type) {
	case HTTP1_RESPONSE_HEAD:
		check_head(r, ev, used);
		break;
	case HTTP1_BODY:
		CHECK(ev->len > 0 && ev->data >= d && ev->data + ev->len <= d + used);
		mix(&r->sum, ev->data, ev->len);
		r->in_body = true;
		r->body += ev->len;
		if (ev->head->flags & HTTP1_H_LENGTH)
			CHECK(r->body <= ev->head->content_length);
		CHECK(!(ev->head->flags & HTTP1_H_NO_BODY));
		break;
	case HTTP1_MESSAGE_END:
		if (ev->head->flags & HTTP1_H_LENGTH)
			CHECK(r->body == ev->head->content_length);
		break;
	case HTTP1_ERROR:
		CHECK(ev->reason != NULL);
		mix(&r->sum, ev->reason, strlen(ev->reason));
		r->stopped = true;
		break;
	default:
		break;
	}
}

static void resp_piece(struct resp_run *r, const uint8_t *src, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1), *d = copy;

	CHECK(copy != NULL);
	memcpy(copy, src, n);
	while (!r->stopped) {
		struct http1_event ev;
		size_t used = (size_t)-1;
		enum http1_ev t = http1_feed(&r->p, d, n, &used, &ev);

		CHECK(t == ev.type && used <= n);
		check_event(r, &ev, d, used);
		r->idle = used || t == HTTP1_NEED_MORE ? 0 : r->idle + 1;
		CHECK(r->idle <= 2);
		d += used;
		n -= used;
		r->abs += used;
		if (t == HTTP1_NEED_MORE) {
			CHECK(n == 0);
			break;
		}
	}
	free(copy);
}

static void resp_eof(struct resp_run *r)
{
	for (int i = 0; i < 4 && !r->stopped; i++) {
		struct http1_event ev;
		enum http1_ev t = http1_eof(&r->p, &ev);

		CHECK(t == ev.type);
		CHECK(t == HTTP1_MESSAGE_END || t == HTTP1_DONE ||
		      t == HTTP1_ERROR);
		check_event(r, &ev, NULL, 0);
		if (t == HTTP1_DONE)
			return;
	}
	CHECK(r->stopped);
}

static const enum http1_method methods[4] = {
	HTTP1_M_GET, HTTP1_M_HEAD, HTTP1_M_CONNECT, HTTP1_M_POST,
};

static uint64_t run_response(const uint8_t *s, size_t len, uint8_t mbits,
			     const struct http1_limits *lim, bool eof,
			     size_t max)
{
	struct resp_run r = { .stream = s, .sum = { .h = 1469598103934665603ull } };
	struct http1_event ev;
	size_t used;

	CHECK(http1_init(&r.p, lim) == 0);
	for (int i = 0; i < 4; i++)
		CHECK(http1_push_method(&r.p, methods[(mbits >> (2 * i)) & 3]) == 0);
	for (size_t pos = 0; pos < len && !r.stopped;) {
		size_t k = piece_len(len - pos, max);

		resp_piece(&r, s + pos, k);
		pos += k;
	}
	if (!r.stopped)
		resp_piece(&r, s, 0);
	if (eof)
		resp_eof(&r);
	if (r.stopped) {
		/* an error stays */
		CHECK(http1_feed(&r.p, s, len, &used, &ev) == HTTP1_ERROR);
		CHECK(used == 0);
	}
	if (r.in_body)
		mix_u64(&r.sum, 0xb0d1);
	http1_fini(&r.p);
	return r.sum.h;
}

static uint64_t run_request(const uint8_t *s, size_t len,
			    const struct http1_limits *lim, size_t max)
{
	struct http1_req_parser r;
	struct sum sum = { .h = 1469598103934665603ull };
	bool stop = false;

	CHECK(http1_req_init(&r, lim) == 0);
	for (size_t pos = 0; pos < len && !stop;) {
		size_t k = piece_len(len - pos, max), n = k;
		uint8_t *copy = malloc(k), *d = copy;

		CHECK(copy != NULL);
		memcpy(copy, s + pos, k);
		pos += k;
		for (;;) {
			struct http1_event ev;
			size_t used = (size_t)-1;
			enum http1_ev t = http1_req_feed(&r, d, n, &used, &ev);

			CHECK(used <= n && t == ev.type);
			d += used;
			n -= used;
			if (t == HTTP1_REQUEST) {
				CHECK(used > 0 && ev.method_len > 0);
				CHECK(ev.method ==
				      http1_method_of(ev.method_text, ev.method_len));
				mix(&sum, ev.method_text, ev.method_len);
				if (ev.method == HTTP1_M_CONNECT && (k & 1))
					http1_req_resume(&r);
				continue;
			}
			if (t == HTTP1_ERROR) {
				mix(&sum, ev.reason, strlen(ev.reason));
				stop = true;
			} else {
				CHECK(t == HTTP1_NEED_MORE && n == 0);
			}
			break;
		}
		free(copy);
	}
	http1_req_fini(&r);
	return sum.h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http1_limits small = { .head_max = 256, .fields_max = 8 };
	const struct http1_limits *lim;
	const uint8_t *s = data + 3;
	size_t len = size - 3, max;
	uint64_t whole;
	bool eof;

	if (size < 3 || size > MAX_INPUT)
		return 0;
	lim = data[2] & 1 ? &small : NULL;
	eof = !(data[2] & 2);
	max = 1 + data[0] % 64;

	g_step = "response";
	rng = data[0];
	whole = run_response(s, len, data[1], lim, eof, 0);
	g_step = "response split";
	CHECK(run_response(s, len, data[1], lim, eof, max) == whole);

	/* the request helper resumes after CONNECT depending on piece
	 * sizes, so split runs are compared only when it cannot matter */
	g_step = "request";
	rng = data[0];
	whole = run_request(s, len, lim, 0);
	g_step = "request split";
	if (!memmem(s, len, "CONNECT", 7))
		CHECK(run_request(s, len, lim, max) == whole);
	else
		run_request(s, len, lim, max);
	return 0;
}
