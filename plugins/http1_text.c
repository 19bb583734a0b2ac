/* Characters, the header buffer, field lines and what they say about
 * framing: the pieces the response parser and the request helper share.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http1_internal.h"

/* ---- characters ---- */

bool h1_is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

bool h1_is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* tchar of RFC 9110 5.6.2 */
bool h1_is_tchar(uint8_t c)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	if (h1_is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
		return true;
	return c != 0 && strchr(extra, c) != NULL;
}

/* Controls other than HTAB, and DEL: never in a field value (RFC 9110
 * 5.5). Bytes >= 0x80 are obs-text and allowed. */
bool h1_is_ctl(uint8_t c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

int h1_hexval(uint8_t c)
{
	if (h1_is_digit(c))
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

uint8_t h1_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

bool h1_ci_eq(const uint8_t *s, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n && lit[i]; i++)
		if (h1_lower(s[i]) != (uint8_t)lit[i])
			return false;
	return i == n && lit[i] == '\0';
}

/* ---- header buffer ---- */

void h1_hb_reset(struct http1_buf *hb)
{
	hb->len = hb->line_start = hb->lines = hb->skipped = 0;
}

void h1_hb_free(struct http1_buf *hb)
{
	free(hb->buf);
	memset(hb, 0, sizeof(*hb));
}

/* Room for need bytes: the buffer doubles from 1 KiB up to the cap, so
 * a parser allocates a handful of times in its life, never per byte. */
int h1_hb_reserve(struct http1_buf *hb, uint32_t need, uint32_t max)
{
	uint32_t cap = hb->cap ? hb->cap : 1024;
	uint8_t *b;

	if (need <= hb->cap)
		return 0;
	while (cap < need)
		cap *= 2;
	if (cap > max)
		cap = max;
	b = realloc(hb->buf, cap);
	if (!b)
		return -1;
	hb->buf = b;
	hb->cap = cap;
	return 0;
}

/* A line just ended at hb->len. True when it is the empty line closing
 * the block. Empty lines before the start line are dropped (RFC 9112
 * 2.2) but still count against the cap. */
bool h1_hb_line_end(struct http1_buf *hb)
{
	uint32_t n = hb->len - hb->line_start;
	bool empty = n == 1 || (n == 2 && hb->buf[hb->line_start] == '\r');

	if (empty && hb->lines == 0) {
		hb->skipped += n;
		hb->len = hb->line_start;
		return false;
	}
	if (empty)
		return true;
	hb->lines++;
	hb->line_start = hb->len;
	return false;
}

/* Takes bytes of a header block from in[0..len) up to and including its
 * empty line. 1 complete, 0 all taken, -1 error (*why). */
int h1_hb_take(struct http1_buf *hb, uint32_t max, const uint8_t *in,
		   size_t len, size_t *used, const char **why)
{
	size_t pos = 0;

	while (pos < len) {
		const uint8_t *nl = memchr(in + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - in) + 1 - pos : len - pos;
		size_t room = max - hb->len - hb->skipped;
		bool over = n > room;

		/* Over the cap, what fits is still taken so that the error
		 * comes at the same byte however the stream was split. */
		if (over) {
			n = room;
			nl = NULL;
		}
		if (h1_hb_reserve(hb, hb->len + (uint32_t)n, max) < 0) {
			*used = pos;
			*why = "out of memory";
			return -1;
		}
		if (n)
			memcpy(hb->buf + hb->len, in + pos, n);
		hb->len += (uint32_t)n;
		pos += n;
		if (over) {
			*used = pos;
			*why = "header block too large";
			return -1;
		}
		if (nl && h1_hb_line_end(hb)) {
			*used = pos;
			return 1;
		}
	}
	*used = pos;
	return 0;
}

/* The next line of a complete block b[*off..end), without its line end.
 * -1 when it holds a bare CR (RFC 9112 2.2). */
int h1_next_line(const uint8_t *b, size_t end, size_t *off,
		     const uint8_t **line, size_t *n)
{
	const uint8_t *s = b + *off;
	const uint8_t *nl = memchr(s, '\n', end - *off);
	size_t len = nl ? (size_t)(nl - s) : end - *off;

	*off += len + (nl != NULL);
	if (len && s[len - 1] == '\r')
		len--;
	*line = s;
	*n = len;
	return memchr(s, '\r', len) ? -1 : 0;
}

/* ---- field lines ---- */

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 5). No
 * whitespace before the colon (5.1) and no obs-fold (5.2): both are
 * rejected, not repaired, since we forward the block unchanged. */
int h1_parse_field(const uint8_t *s, size_t n, struct field *f,
		       const char **why)
{
	size_t i = 0, v, e = n;

	if (n && h1_is_ows(s[0])) {
		*why = "obs-fold (continuation line) in header";
		return -1;
	}
	while (i < n && h1_is_tchar(s[i]))
		i++;
	if (i < n && h1_is_ows(s[i])) {
		*why = "whitespace before colon in header";
		return -1;
	}
	if (i == 0 || i == n || s[i] != ':') {
		*why = "malformed header field";
		return -1;
	}
	for (v = i + 1; v < e && h1_is_ows(s[v]); v++)
		;
	while (e > v && h1_is_ows(s[e - 1]))
		e--;
	for (size_t k = v; k < e; k++) {
		if (h1_is_ctl(s[k])) {
			*why = "control character in header value";
			return -1;
		}
	}
	*f = (struct field){ .name = s, .name_len = i, .val = s + v,
			     .val_len = e - v };
	return 0;
}

/* Calls fn on each element of a comma-separated list value (RFC 9110
 * 5.6.1; empty elements skipped). Stops at the first negative return. */
int h1_each_element(const uint8_t *v, size_t n,
			int (*fn)(const uint8_t *, size_t, void *), void *arg)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;
		int r;

		while (i < n && (h1_is_ows(v[i]) || v[i] == ','))
			i++;
		for (s = i; i < n && v[i] != ','; i++)
			;
		for (e = i; e > s && h1_is_ows(v[e - 1]); e--)
			;
		if (e > s && (r = fn(v + s, e - s, arg)) < 0)
			return r;
	}
	return 0;
}

/* Content-Length: 1*DIGIT. "42, 42" (a list of one value repeated, as
 * from a merged field) is accepted; differing values are an error
 * (RFC 9110 8.6, RFC 9112 6.3 rule 5). */
int h1_parse_cl(const uint8_t *v, size_t n, struct framing *fr,
		    const char **why)
{
	size_t i = 0;

	for (;;) {
		uint64_t x = 0;
		size_t d = 0;

		for (; i < n && h1_is_digit(v[i]); i++, d++) {
			if (x > (UINT64_MAX - 9) / 10) {
				*why = "Content-Length too large";
				return -1;
			}
			x = x * 10 + (uint64_t)(v[i] - '0');
		}
		if (!d) {
			*why = "invalid Content-Length";
			return -1;
		}
		if (fr->has_cl && fr->cl != x) {
			*why = "conflicting Content-Length values";
			return -1;
		}
		fr->has_cl = true;
		fr->cl = x;
		while (i < n && h1_is_ows(v[i]))
			i++;
		if (i == n)
			return 0;
		if (v[i++] != ',') {
			*why = "invalid Content-Length";
			return -1;
		}
		while (i < n && h1_is_ows(v[i]))
			i++;
	}
}

/* One transfer coding: chunked may only be the last one (RFC 9112 6.1). */
int h1_te_element(const uint8_t *s, size_t n, void *arg)
{
	struct framing *fr = arg;
	size_t t = 0;

	while (t < n && h1_is_tchar(s[t]))
		t++;
	if (t == 0 || memchr(s, '"', n))
		return -1;
	if (fr->te_chunked_last)
		return -2;
	fr->te_chunked_last = h1_ci_eq(s, t, "chunked");
	return 0;
}

int h1_parse_te(const uint8_t *v, size_t n, struct framing *fr,
		    const char **why)
{
	int r;

	if (n == 0) {
		*why = "empty Transfer-Encoding";
		return -1;
	}
	fr->has_te = true;
	r = h1_each_element(v, n, h1_te_element, fr);
	if (r == -2)
		*why = "chunked is not the last transfer coding";
	else if (r < 0)
		*why = "invalid Transfer-Encoding";
	return r < 0 ? -1 : 0;
}

int h1_conn_element(const uint8_t *s, size_t n, void *arg)
{
	struct framing *fr = arg;

	if (h1_ci_eq(s, n, "close"))
		fr->conn_close = true;
	else if (h1_ci_eq(s, n, "keep-alive"))
		fr->conn_keep = true;
	else if (h1_ci_eq(s, n, "upgrade"))
		fr->conn_upgrade = true;
	return 0;
}

/* The fields every head needs: framing and connection. */
int h1_framing_field(const struct field *f, struct framing *fr,
			 const char **why)
{
	if (h1_ci_eq(f->name, f->name_len, "content-length"))
		return h1_parse_cl(f->val, f->val_len, fr, why);
	if (h1_ci_eq(f->name, f->name_len, "transfer-encoding"))
		return h1_parse_te(f->val, f->val_len, fr, why);
	if (h1_ci_eq(f->name, f->name_len, "connection"))
		return h1_each_element(f->val, f->val_len, h1_conn_element, fr);
	if (h1_ci_eq(f->name, f->name_len, "upgrade"))
		fr->has_upgrade = true;
	return 0;
}

