/* HTTP/1.1 response stream parser and request method helper (http1.h).
 *
 * A header block is gathered line by line (memchr for LF, one copy into
 * the header buffer) and parsed once complete, so field parsing never
 * sees a split. Chunked framing is a byte-at-a-time state machine over
 * the few framing bytes; chunk data goes out as spans without copying.
 * Lines end in CRLF or a bare LF (RFC 9112 2.2 lets recipients accept
 * LF); a bare CR anywhere is an error, since another parser could take
 * it as a line end and disagree with us about where a message ends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http1.h"

/* Response parser states. */
enum {
	S_HEAD,        /* gathering a header block */
	S_LENGTH,      /* Content-Length body, p->remaining left */
	S_CHUNKED,     /* chunked body */
	S_UNTIL_CLOSE, /* body (or tunnel) until the server closes */
	S_END,         /* MESSAGE_END is due */
	S_CLOSED,      /* the last response of the connection ended */
	S_ERROR,
};

/* Request helper states. */
enum { R_HEAD, R_LENGTH, R_CHUNKED, R_OPAQUE, R_ERROR };

/* Chunked decoder states (RFC 9112 7.1). */
enum {
	C_SIZE, C_SIZE_WS, C_EXT, C_SIZE_LF, C_DATA, C_DATA_CR, C_DATA_LF,
	C_TRAILER, C_TRAILER_LINE, C_TRAILER_LF, C_FINAL_LF,
};

/* Results of the chunked decoder. */
enum { CH_MORE, CH_DATA, CH_END, CH_ERR };

/* What the fields of a head say about framing and the connection. */
struct framing {
	bool has_cl, has_te, te_chunked_last, conn_close, conn_keep;
	bool conn_upgrade, has_upgrade;
	uint64_t cl;
};

struct field {
	const uint8_t *name, *val;
	size_t name_len, val_len;
};

/* ---- characters ---- */

static bool is_ows(uint8_t c)
{
	return c == ' ' || c == '\t';
}

static bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

/* tchar of RFC 9110 5.6.2 */
static bool is_tchar(uint8_t c)
{
	static const char extra[] = "!#$%&'*+-.^_`|~";

	if (is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
		return true;
	return c != 0 && strchr(extra, c) != NULL;
}

/* Controls other than HTAB, and DEL: never in a field value (RFC 9110
 * 5.5). Bytes >= 0x80 are obs-text and allowed. */
static bool is_ctl(uint8_t c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

static int hexval(uint8_t c)
{
	if (is_digit(c))
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static uint8_t lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

static bool ci_eq(const uint8_t *s, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n && lit[i]; i++)
		if (lower(s[i]) != (uint8_t)lit[i])
			return false;
	return i == n && lit[i] == '\0';
}

/* ---- header buffer ---- */

static void hb_reset(struct http1_buf *hb)
{
	hb->len = hb->line_start = hb->lines = hb->skipped = 0;
}

static void hb_free(struct http1_buf *hb)
{
	free(hb->buf);
	memset(hb, 0, sizeof(*hb));
}

/* Room for need bytes: the buffer doubles from 1 KiB up to the cap, so
 * a parser allocates a handful of times in its life, never per byte. */
static int hb_reserve(struct http1_buf *hb, uint32_t need, uint32_t max)
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
static bool hb_line_end(struct http1_buf *hb)
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
static int hb_take(struct http1_buf *hb, uint32_t max, const uint8_t *in,
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
		if (hb_reserve(hb, hb->len + (uint32_t)n, max) < 0) {
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
		if (nl && hb_line_end(hb)) {
			*used = pos;
			return 1;
		}
	}
	*used = pos;
	return 0;
}

/* The next line of a complete block b[*off..end), without its line end.
 * -1 when it holds a bare CR (RFC 9112 2.2). */
static int next_line(const uint8_t *b, size_t end, size_t *off,
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
static int parse_field(const uint8_t *s, size_t n, struct field *f,
		       const char **why)
{
	size_t i = 0, v, e = n;

	if (n && is_ows(s[0])) {
		*why = "obs-fold (continuation line) in header";
		return -1;
	}
	while (i < n && is_tchar(s[i]))
		i++;
	if (i < n && is_ows(s[i])) {
		*why = "whitespace before colon in header";
		return -1;
	}
	if (i == 0 || i == n || s[i] != ':') {
		*why = "malformed header field";
		return -1;
	}
	for (v = i + 1; v < e && is_ows(s[v]); v++)
		;
	while (e > v && is_ows(s[e - 1]))
		e--;
	for (size_t k = v; k < e; k++) {
		if (is_ctl(s[k])) {
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
static int each_element(const uint8_t *v, size_t n,
			int (*fn)(const uint8_t *, size_t, void *), void *arg)
{
	size_t i = 0;

	while (i < n) {
		size_t s, e;
		int r;

		while (i < n && (is_ows(v[i]) || v[i] == ','))
			i++;
		for (s = i; i < n && v[i] != ','; i++)
			;
		for (e = i; e > s && is_ows(v[e - 1]); e--)
			;
		if (e > s && (r = fn(v + s, e - s, arg)) < 0)
			return r;
	}
	return 0;
}

/* Content-Length: 1*DIGIT. "42, 42" (a list of one value repeated, as
 * from a merged field) is accepted; differing values are an error
 * (RFC 9110 8.6, RFC 9112 6.3 rule 5). */
static int parse_cl(const uint8_t *v, size_t n, struct framing *fr,
		    const char **why)
{
	size_t i = 0;

	for (;;) {
		uint64_t x = 0;
		size_t d = 0;

		for (; i < n && is_digit(v[i]); i++, d++) {
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
		while (i < n && is_ows(v[i]))
			i++;
		if (i == n)
			return 0;
		if (v[i++] != ',') {
			*why = "invalid Content-Length";
			return -1;
		}
		while (i < n && is_ows(v[i]))
			i++;
	}
}

/* One transfer coding: chunked may only be the last one (RFC 9112 6.1). */
static int te_element(const uint8_t *s, size_t n, void *arg)
{
	struct framing *fr = arg;
	size_t t = 0;

	while (t < n && is_tchar(s[t]))
		t++;
	if (t == 0 || memchr(s, '"', n))
		return -1;
	if (fr->te_chunked_last)
		return -2;
	fr->te_chunked_last = ci_eq(s, t, "chunked");
	return 0;
}

static int parse_te(const uint8_t *v, size_t n, struct framing *fr,
		    const char **why)
{
	int r;

	if (n == 0) {
		*why = "empty Transfer-Encoding";
		return -1;
	}
	fr->has_te = true;
	r = each_element(v, n, te_element, fr);
	if (r == -2)
		*why = "chunked is not the last transfer coding";
	else if (r < 0)
		*why = "invalid Transfer-Encoding";
	return r < 0 ? -1 : 0;
}

static int conn_element(const uint8_t *s, size_t n, void *arg)
{
	struct framing *fr = arg;

	if (ci_eq(s, n, "close"))
		fr->conn_close = true;
	else if (ci_eq(s, n, "keep-alive"))
		fr->conn_keep = true;
	else if (ci_eq(s, n, "upgrade"))
		fr->conn_upgrade = true;
	return 0;
}

/* The fields every head needs: framing and connection. */
static int framing_field(const struct field *f, struct framing *fr,
			 const char **why)
{
	if (ci_eq(f->name, f->name_len, "content-length"))
		return parse_cl(f->val, f->val_len, fr, why);
	if (ci_eq(f->name, f->name_len, "transfer-encoding"))
		return parse_te(f->val, f->val_len, fr, why);
	if (ci_eq(f->name, f->name_len, "connection"))
		return each_element(f->val, f->val_len, conn_element, fr);
	if (ci_eq(f->name, f->name_len, "upgrade"))
		fr->has_upgrade = true;
	return 0;
}

/* ---- Content-Type and Content-Disposition ---- */

static void media_type(struct http1_head *h, const uint8_t *v, size_t n)
{
	size_t i = 0, slash = 0;

	while (i < n && (is_tchar(v[i]) || v[i] == '/')) {
		if (v[i] == '/') {
			if (slash)
				return;
			slash = i;
		}
		i++;
	}
	if (!slash || slash + 1 == i || i >= sizeof(h->media_type))
		return;
	if (i < n && v[i] != ';' && !is_ows(v[i]))
		return;
	for (size_t k = 0; k < i; k++)
		h->media_type[k] = (char)lower(v[k]);
	h->media_type[i] = '\0';
}

/* Appends one byte of a file name; controls become '_' (it is logged). */
static void fname_put(struct http1_head *h, size_t *len, uint8_t c)
{
	if (*len + 1 >= sizeof(h->filename)) {
		h->flags |= HTTP1_H_FILENAME_CUT;
		return;
	}
	h->filename[(*len)++] = (char)(c < 0x20 || c == 0x7f ? '_' : c);
	h->filename[*len] = '\0';
}

/* filename="..." (quoted-string, RFC 9110 5.6.4) or filename=token. */
static size_t fname_plain(struct http1_head *h, const uint8_t *v, size_t n,
			  bool store)
{
	size_t i = 0, len = 0;

	if (store)
		h->filename[0] = '\0';
	if (n && v[0] == '"') {
		for (i = 1; i < n && v[i] != '"'; i++) {
			if (v[i] == '\\' && i + 1 < n)
				i++;
			if (store)
				fname_put(h, &len, v[i]);
		}
		return i < n ? i + 1 : i;
	}
	for (; i < n && v[i] != ';' && !is_ows(v[i]); i++)
		if (store)
			fname_put(h, &len, v[i]);
	return i;
}

/* filename*=charset'lang'pct-encoded (RFC 8187 3.2). */
static size_t fname_ext(struct http1_head *h, const uint8_t *v, size_t n)
{
	size_t i = 0, len = 0, quotes = 0;

	h->filename[0] = '\0';
	h->flags &= ~HTTP1_H_FILENAME_CUT;
	for (; i < n && v[i] != ';' && !is_ows(v[i]); i++) {
		if (quotes < 2) {
			quotes += v[i] == '\'';
			continue;
		}
		if (v[i] == '%' && i + 2 < n && hexval(v[i + 1]) >= 0 &&
		    hexval(v[i + 2]) >= 0) {
			fname_put(h, &len, (uint8_t)(hexval(v[i + 1]) << 4 |
						     hexval(v[i + 2])));
			i += 2;
		} else {
			fname_put(h, &len, v[i]);
		}
	}
	return i;
}

/* disposition-type *( OWS ";" OWS param ) (RFC 6266 4.1); filename*
 * wins over filename whatever their order (4.3). */
static void disposition(struct http1_head *h, const uint8_t *v, size_t n)
{
	size_t i = 0, ns, nl;
	bool star = false;

	while (i < n && is_tchar(v[i]))
		i++;
	if (ci_eq(v, i, "attachment"))
		h->flags |= HTTP1_H_ATTACHMENT;
	for (;;) {
		while (i < n && is_ows(v[i]))
			i++;
		if (i >= n || v[i++] != ';')
			return;
		while (i < n && is_ows(v[i]))
			i++;
		for (ns = i; i < n && is_tchar(v[i]); i++)
			;
		nl = i - ns;
		while (i < n && is_ows(v[i]))
			i++;
		if (i >= n || v[i++] != '=')
			return;
		while (i < n && is_ows(v[i]))
			i++;
		if (ci_eq(v + ns, nl, "filename*")) {
			i += fname_ext(h, v + i, n - i);
			star = true;
		} else {
			i += fname_plain(h, v + i, n - i,
					 !star && ci_eq(v + ns, nl, "filename"));
		}
	}
}

/* ---- response heads ---- */

/* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112
 * 2.3); only major version 1 is HTTP/1. */
static int parse_version(const uint8_t *s, size_t n, uint8_t *minor)
{
	if (n != 8 || memcmp(s, "HTTP/1.", 7) != 0 || !is_digit(s[7]))
		return -1;
	*minor = (uint8_t)(s[7] - '0');
	return 0;
}

/* status-line = HTTP-version SP status-code SP [ reason-phrase ]
 * (RFC 9112 4); a missing SP before an empty reason is tolerated. */
static int parse_status(struct http1_head *h, const uint8_t *s, size_t n)
{
	if (n < 12 || parse_version(s, 8, &h->version_minor) < 0 ||
	    s[8] != ' ' || !is_digit(s[9]) || !is_digit(s[10]) ||
	    !is_digit(s[11]))
		return -1;
	h->status = (uint16_t)((s[9] - '0') * 100 + (s[10] - '0') * 10 +
			       (s[11] - '0'));
	if (h->status < 100 || h->status > 599)
		return -1;
	if (n == 12)
		return 0;
	if (s[12] != ' ')
		return -1;
	for (size_t i = 13; i < n; i++)
		if (is_ctl(s[i]))
			return -1;
	h->reason = (const char *)s + 13;
	h->reason_len = n - 13;
	return 0;
}

static void content_field(struct http1_head *h, const struct field *f)
{
	if (ci_eq(f->name, f->name_len, "content-type")) {
		h->content_type = (const char *)f->val;
		h->content_type_len = f->val_len;
		h->media_type[0] = '\0';
		media_type(h, f->val, f->val_len);
	} else if (ci_eq(f->name, f->name_len, "content-disposition")) {
		disposition(h, f->val, f->val_len);
	}
}

/* Status line and fields of the gathered block into h and fr. */
static int parse_fields(const struct http1_buf *hb, uint32_t fields_max,
			uint32_t *nfields, struct framing *fr,
			struct http1_head *h, const char **why)
{
	size_t off = 0, n;
	const uint8_t *line;

	next_line(hb->buf, hb->len, &off, &line, &n);
	while (off < hb->len) {
		struct field f;

		if (next_line(hb->buf, hb->len, &off, &line, &n) < 0) {
			*why = "bare CR in header";
			return -1;
		}
		if (n == 0)
			break;
		if (++*nfields > fields_max) {
			*why = "too many header fields";
			return -1;
		}
		if (parse_field(line, n, &f, why) < 0 ||
		    framing_field(&f, fr, why) < 0)
			return -1;
		if (h)
			content_field(h, &f);
	}
	return 0;
}

static enum http1_method pop_method(struct http1_parser *p)
{
	enum http1_method m;

	if (!p->mcount) {
		p->head.flags |= HTTP1_H_NO_REQUEST;
		return HTTP1_M_GET;
	}
	m = (enum http1_method)p->methods[p->mfirst];
	p->mfirst = (p->mfirst + 1) % HTTP1_PIPELINE_MAX;
	p->mcount--;
	return m;
}

/* How the body ends (RFC 9112 6.3, in the order of its rules), as flags
 * and the next state. */
static int response_framing(struct http1_parser *p, const struct framing *fr,
			    const char **why)
{
	struct http1_head *h = &p->head;

	if (fr->has_te && fr->has_cl) {
		*why = "both Content-Length and Transfer-Encoding";
		return -1;
	}
	if (fr->has_te && h->version_minor == 0) {
		/* 6.1: an HTTP/1.0 message's framing is then faulty */
		*why = "Transfer-Encoding in an HTTP/1.0 response";
		return -1;
	}
	if (fr->conn_close || (h->version_minor == 0 && !fr->conn_keep))
		h->flags |= HTTP1_H_CLOSE;
	if (fr->conn_keep)
		h->flags |= HTTP1_H_KEEP_ALIVE;
	if (fr->has_cl) {
		h->flags |= HTTP1_H_CL_FIELD;
		h->content_length = fr->cl;
	}
	if (h->status < 200 && h->status != 101) {
		/* 1xx: interim; the final response is still to come */
		h->flags = (h->flags & ~HTTP1_H_CLOSE) | HTTP1_H_INTERIM |
			   HTTP1_H_NO_BODY;
		p->state = S_HEAD;
		return 0;
	}
	h->method = pop_method(p);
	if (h->status == 101 ||
	    (h->method == HTTP1_M_CONNECT && h->status / 100 == 2)) {
		/* rule 2 and 9110 15.2.2: the connection leaves HTTP */
		h->flags |= HTTP1_H_TUNNEL | HTTP1_H_UNTIL_CLOSE | HTTP1_H_CLOSE;
		p->state = S_UNTIL_CLOSE;
	} else if (h->method == HTTP1_M_HEAD || h->status == 204 ||
		   h->status == 304) {
		h->flags |= HTTP1_H_NO_BODY; /* rule 1 */
		p->state = S_END;
	} else if (fr->has_te && fr->te_chunked_last) {
		h->flags |= HTTP1_H_CHUNKED; /* rule 4 */
		memset(&p->ch, 0, sizeof(p->ch));
		p->state = S_CHUNKED;
	} else if (fr->has_cl) {
		h->flags |= HTTP1_H_LENGTH; /* rule 6 */
		p->remaining = fr->cl;
		p->state = fr->cl ? S_LENGTH : S_END;
	} else {
		/* rule 4 (chunked not last) and rule 8 */
		h->flags |= HTTP1_H_UNTIL_CLOSE | HTTP1_H_CLOSE;
		p->state = S_UNTIL_CLOSE;
	}
	return 0;
}

static int parse_response(struct http1_parser *p, const char **why)
{
	struct http1_head *h = &p->head;
	struct framing fr = { 0 };
	const uint8_t *line;
	size_t off = 0, n;

	memset(h, 0, sizeof(*h));
	h->raw = p->hb.buf;
	h->raw_len = p->hb.len;
	if (next_line(p->hb.buf, p->hb.len, &off, &line, &n) < 0 ||
	    parse_status(h, line, n) < 0) {
		*why = "malformed status line";
		return -1;
	}
	if (parse_fields(&p->hb, p->lim.fields_max, &h->nfields, &fr, h,
			 why) < 0)
		return -1;
	return response_framing(p, &fr, why);
}

/* ---- chunked decoding ---- */

static int chunk_size_done(struct http1_chunk *c)
{
	c->state = c->size ? C_DATA : C_TRAILER;
	return CH_MORE;
}

/* After the size digits: extension, BWS before it, or the line end. */
static int chunk_after_size(struct http1_chunk *c, uint8_t b)
{
	if (b == ';')
		c->state = C_EXT;
	else if (is_ows(b))
		c->state = C_SIZE_WS;
	else if (b == '\r')
		c->state = C_SIZE_LF;
	else if (b == '\n')
		return chunk_size_done(c);
	else
		return CH_ERR;
	return CH_MORE;
}

static void chunk_next(struct http1_chunk *c)
{
	c->state = C_SIZE;
	c->size = 0;
	c->digits = 0;
	c->ext_len = 0;
}

/* chunk-size [ chunk-ext ] CRLF (RFC 9112 7.1, 7.1.1). */
static int chunk_size_byte(struct http1_chunk *c, uint8_t b, const char **why)
{
	int h = hexval(b);

	switch (c->state) {
	case C_SIZE:
		if (h >= 0) {
			if (c->digits++ >= 15) {
				*why = "chunk size too large";
				return CH_ERR;
			}
			c->size = c->size << 4 | (uint64_t)h;
			return CH_MORE;
		}
		*why = "invalid chunk size";
		return c->digits ? chunk_after_size(c, b) : CH_ERR;
	case C_SIZE_WS:
		*why = "invalid chunk size line";
		if (is_ows(b))
			return CH_MORE;
		return b == ';' ? (c->state = C_EXT, CH_MORE) : CH_ERR;
	case C_EXT:
		if (b == '\r' || b == '\n')
			return chunk_after_size(c, b);
		*why = "invalid chunk extension";
		return is_ctl(b) || ++c->ext_len > HTTP1_CHUNK_EXT_MAX ?
		       CH_ERR : CH_MORE;
	default: /* C_SIZE_LF */
		*why = "bare CR in chunk size line";
		return b == '\n' ? chunk_size_done(c) : CH_ERR;
	}
}

/* A byte of a trailer field line, which is only counted and checked for
 * controls: trailers are not interpreted. */
static int trailer_line_byte(struct http1_chunk *c,
			     const struct http1_limits *lim, uint8_t b,
			     const char **why)
{
	*why = "trailer section too large";
	if (++c->trailer_len > lim->head_max)
		return CH_ERR;
	if (b == '\r')
		c->state = C_TRAILER_LF;
	else if (b == '\n')
		c->state = C_TRAILER;
	*why = "control character in trailer";
	return is_ctl(b) && b != '\r' && b != '\n' ? CH_ERR : CH_MORE;
}

/* The start of a trailer line: the final empty line, or a field (RFC
 * 9112 7.1.2; no obs-fold, as in a header block). */
static int trailer_start_byte(struct http1_chunk *c,
			      const struct http1_limits *lim, uint8_t b,
			      const char **why)
{
	if (b == '\r') {
		c->state = C_FINAL_LF;
		return CH_MORE;
	}
	if (b == '\n')
		return CH_END;
	*why = is_ows(b) ? "obs-fold in trailer" : "malformed trailer";
	if (!is_tchar(b))
		return CH_ERR;
	*why = "too many trailer fields";
	if (++c->trailer_fields > lim->fields_max)
		return CH_ERR;
	c->state = C_TRAILER_LINE;
	return trailer_line_byte(c, lim, b, why);
}

/* The CRLF after chunk data, and the trailer section. */
static int chunk_tail_byte(struct http1_chunk *c,
			   const struct http1_limits *lim, uint8_t b,
			   const char **why)
{
	switch (c->state) {
	case C_DATA_CR:
		*why = "chunk data not followed by CRLF";
		if (b == '\n')
			return chunk_next(c), CH_MORE;
		return b == '\r' ? (c->state = C_DATA_LF, CH_MORE) : CH_ERR;
	case C_DATA_LF:
	case C_TRAILER_LF:
	case C_FINAL_LF:
		*why = "bare CR in chunked framing";
		if (b != '\n')
			return CH_ERR;
		if (c->state == C_DATA_LF)
			return chunk_next(c), CH_MORE;
		if (c->state == C_FINAL_LF)
			return CH_END;
		c->state = C_TRAILER;
		return CH_MORE;
	case C_TRAILER:
		return trailer_start_byte(c, lim, b, why);
	default: /* C_TRAILER_LINE */
		return trailer_line_byte(c, lim, b, why);
	}
}

/* Runs the decoder over in[0..len): CH_DATA with a span of chunk data,
 * CH_END after the last trailer line, CH_MORE when all was taken, or
 * CH_ERR. *used counts the bytes taken. */
static int chunk_run(struct http1_chunk *c, const struct http1_limits *lim,
		     const uint8_t *in, size_t len, size_t *used,
		     const uint8_t **data, size_t *dlen, const char **why)
{
	size_t i = 0;

	while (i < len) {
		int r;

		if (c->state == C_DATA) {
			size_t n = len - i < c->size ? len - i : (size_t)c->size;

			*data = in + i;
			*dlen = n;
			c->size -= n;
			if (!c->size)
				c->state = C_DATA_CR;
			*used = i + n;
			return CH_DATA;
		}
		if (c->state <= C_SIZE_LF)
			r = chunk_size_byte(c, in[i++], why);
		else
			r = chunk_tail_byte(c, lim, in[i++], why);
		if (r != CH_MORE) {
			*used = i;
			return r;
		}
	}
	*used = i;
	return CH_MORE;
}

/* ---- the response parser ---- */

static int limits_set(struct http1_limits *dst, const struct http1_limits *lim)
{
	struct http1_limits d = { HTTP1_HEAD_MAX_DEFAULT,
				  HTTP1_FIELDS_MAX_DEFAULT };

	if (lim && (lim->head_max < 64 || lim->fields_max == 0))
		return -EINVAL;
	*dst = lim ? *lim : d;
	return 0;
}

int http1_init(struct http1_parser *p, const struct http1_limits *lim)
{
	struct http1_limits l;

	if (!p || limits_set(&l, lim) < 0)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	p->lim = l;
	p->state = S_HEAD;
	return 0;
}

void http1_fini(struct http1_parser *p)
{
	if (p)
		hb_free(&p->hb);
}

int http1_push_method(struct http1_parser *p, enum http1_method m)
{
	if (p->mcount == HTTP1_PIPELINE_MAX)
		return -ENOSPC;
	p->methods[(p->mfirst + p->mcount) % HTTP1_PIPELINE_MAX] = (uint8_t)m;
	p->mcount++;
	return 0;
}

static enum http1_ev fail(struct http1_parser *p, struct http1_event *ev,
			  const char *why)
{
	p->state = S_ERROR;
	p->error = why;
	ev->type = HTTP1_ERROR;
	ev->reason = why;
	return HTTP1_ERROR;
}

static enum http1_ev message_end(struct http1_parser *p,
				 struct http1_event *ev)
{
	p->state = p->head.flags & HTTP1_H_CLOSE ? S_CLOSED : S_HEAD;
	hb_reset(&p->hb);
	ev->type = HTTP1_MESSAGE_END;
	return HTTP1_MESSAGE_END;
}

static enum http1_ev body(struct http1_event *ev, const uint8_t *d,
			  size_t n)
{
	ev->type = HTTP1_BODY;
	ev->data = d;
	ev->len = n;
	return HTTP1_BODY;
}

/* A status line must start "HTTP/1."; saying so at once keeps a non-HTTP
 * stream from being buffered up to the cap first. A lone CR may still
 * become an empty line before the status line. */
static bool bad_start(const struct http1_buf *hb)
{
	size_t n = hb->len < 7 ? hb->len : 7;

	if (hb->len == 1 && hb->buf[0] == '\r')
		return false;
	return memcmp(hb->buf, "HTTP/1.", n) != 0;
}

static enum http1_ev feed_head(struct http1_parser *p, const uint8_t *in,
			       size_t len, size_t *consumed,
			       struct http1_event *ev)
{
	const char *why = NULL;
	int r = hb_take(&p->hb, p->lim.head_max, in, len, consumed, &why);

	if (r <= 0 && p->hb.len && bad_start(&p->hb))
		return fail(p, ev, "malformed status line");
	if (r < 0)
		return fail(p, ev, why);
	if (r == 0)
		return HTTP1_NEED_MORE;
	if (parse_response(p, &why) < 0)
		return fail(p, ev, why);
	if (p->head.flags & HTTP1_H_INTERIM)
		hb_reset(&p->hb);
	ev->type = HTTP1_RESPONSE_HEAD;
	ev->data = p->head.raw;
	ev->len = p->head.raw_len;
	return HTTP1_RESPONSE_HEAD;
}

static enum http1_ev feed_chunked(struct http1_parser *p, const uint8_t *in,
				  size_t len, size_t *consumed,
				  struct http1_event *ev)
{
	const uint8_t *d = NULL;
	const char *why = NULL;
	size_t n = 0;

	switch (chunk_run(&p->ch, &p->lim, in, len, consumed, &d, &n, &why)) {
	case CH_DATA:
		return body(ev, d, n);
	case CH_END:
		return message_end(p, ev);
	case CH_ERR:
		return fail(p, ev, why);
	default:
		return HTTP1_NEED_MORE;
	}
}

enum http1_ev http1_feed(struct http1_parser *p, const uint8_t *in,
			 size_t len, size_t *consumed, struct http1_event *ev)
{
	size_t n;

	memset(ev, 0, sizeof(*ev));
	ev->head = &p->head;
	*consumed = 0;
	switch (p->state) {
	case S_HEAD:
		return feed_head(p, in, len, consumed, ev);
	case S_LENGTH:
		if (!p->remaining)
			return message_end(p, ev);
		if (!len)
			return HTTP1_NEED_MORE;
		n = len < p->remaining ? len : (size_t)p->remaining;
		p->remaining -= n;
		*consumed = n;
		return body(ev, in, n);
	case S_CHUNKED:
		return feed_chunked(p, in, len, consumed, ev);
	case S_UNTIL_CLOSE:
		*consumed = len;
		return len ? body(ev, in, len) : HTTP1_NEED_MORE;
	case S_END:
		return message_end(p, ev);
	case S_CLOSED:
		if (len)
			return fail(p, ev, "data after the last response");
		return HTTP1_NEED_MORE;
	default:
		ev->type = HTTP1_ERROR;
		ev->reason = p->error;
		return HTTP1_ERROR;
	}
}

enum http1_ev http1_eof(struct http1_parser *p, struct http1_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->head = &p->head;
	switch (p->state) {
	case S_HEAD:
		if (p->hb.len)
			return fail(p, ev, "connection closed inside a head");
		break;
	case S_UNTIL_CLOSE:
	case S_END:
		message_end(p, ev);
		p->state = S_CLOSED;
		return HTTP1_MESSAGE_END;
	case S_LENGTH:
		if (!p->remaining)
			return message_end(p, ev);
		return fail(p, ev, "connection closed inside a body");
	case S_CHUNKED:
		return fail(p, ev, "connection closed inside a body");
	case S_ERROR:
		ev->type = HTTP1_ERROR;
		ev->reason = p->error;
		return HTTP1_ERROR;
	default:
		break;
	}
	p->state = S_CLOSED;
	ev->type = HTTP1_DONE;
	return HTTP1_DONE;
}

int http1_field(const struct http1_parser *p, const char *name,
		const char **val, size_t *len)
{
	const struct http1_head *h = &p->head;
	size_t off = 0, n;
	const uint8_t *line;
	const char *why;

	if (!h->raw)
		return 0;
	next_line(h->raw, h->raw_len, &off, &line, &n);
	while (off < h->raw_len) {
		struct field f;

		next_line(h->raw, h->raw_len, &off, &line, &n);
		if (n == 0 || parse_field(line, n, &f, &why) < 0)
			break;
		if (strlen(name) == f.name_len &&
		    !strncasecmp((const char *)f.name, name, f.name_len)) {
			*val = (const char *)f.val;
			*len = f.val_len;
			return 1;
		}
	}
	return 0;
}

enum http1_method http1_method_of(const char *s, size_t len)
{
	static const struct {
		const char *name;
		enum http1_method m;
	} tab[] = {
		{ "GET", HTTP1_M_GET }, { "HEAD", HTTP1_M_HEAD },
		{ "POST", HTTP1_M_POST }, { "PUT", HTTP1_M_PUT },
		{ "CONNECT", HTTP1_M_CONNECT }, { "OPTIONS", HTTP1_M_OPTIONS },
	};

	for (size_t i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strlen(tab[i].name) == len && !memcmp(tab[i].name, s, len))
			return tab[i].m;
	return HTTP1_M_OTHER;
}

/* ---- the request helper ---- */

int http1_req_init(struct http1_req_parser *r, const struct http1_limits *lim)
{
	struct http1_limits l;

	if (!r || limits_set(&l, lim) < 0)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->lim = l;
	r->state = R_HEAD;
	return 0;
}

void http1_req_fini(struct http1_req_parser *r)
{
	if (r)
		hb_free(&r->hb);
}

void http1_req_resume(struct http1_req_parser *r)
{
	r->opaque_after = 0;
	if (r->state == R_OPAQUE) {
		r->state = R_HEAD;
		hb_reset(&r->hb);
	}
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 3);
 * the method's length in *mlen. */
static int parse_request_line(const uint8_t *s, size_t n, size_t *mlen,
			      uint8_t *minor)
{
	size_t m = 0, t;

	while (m < n && is_tchar(s[m]))
		m++;
	if (m == 0 || m == n || s[m] != ' ')
		return -1;
	for (t = m + 1; t < n && s[t] != ' '; t++)
		if (is_ctl(s[t]) || s[t] == '\t')
			return -1;
	if (t == m + 1 || t == n)
		return -1;
	*mlen = m;
	return parse_version(s + t + 1, n - t - 1, minor);
}

/* Request body length (RFC 9112 6.3 rules 3 to 7, for requests: a
 * transfer coding other than chunked last is an error, no body without
 * a framing field). */
static int request_framing(struct http1_req_parser *r,
			   const struct framing *fr, uint8_t minor,
			   const char **why)
{
	if (fr->has_te && fr->has_cl) {
		*why = "both Content-Length and Transfer-Encoding";
		return -1;
	}
	if (fr->has_te && (minor == 0 || !fr->te_chunked_last)) {
		*why = minor == 0 ? "Transfer-Encoding in an HTTP/1.0 request"
				  : "request coding without chunked last";
		return -1;
	}
	if (fr->has_te) {
		memset(&r->ch, 0, sizeof(r->ch));
		r->state = R_CHUNKED;
	} else {
		r->remaining = fr->has_cl ? fr->cl : 0;
		r->state = R_LENGTH;
	}
	return 0;
}

static int parse_request(struct http1_req_parser *r, struct http1_event *ev,
			 const char **why)
{
	struct framing fr = { 0 };
	const uint8_t *line;
	size_t off = 0, n, mlen;
	uint32_t nfields = 0;
	uint8_t minor;

	if (next_line(r->hb.buf, r->hb.len, &off, &line, &n) < 0 ||
	    parse_request_line(line, n, &mlen, &minor) < 0) {
		*why = "malformed request line";
		return -1;
	}
	if (parse_fields(&r->hb, r->lim.fields_max, &nfields, &fr, NULL,
			 why) < 0 ||
	    request_framing(r, &fr, minor, why) < 0)
		return -1;
	ev->method_text = (const char *)line;
	ev->method_len = mlen;
	ev->method = http1_method_of(ev->method_text, mlen);
	r->opaque_after = ev->method == HTTP1_M_CONNECT ||
			  (fr.has_upgrade && fr.conn_upgrade);
	return 0;
}

static enum http1_ev req_fail(struct http1_req_parser *r,
			      struct http1_event *ev, const char *why)
{
	r->state = R_ERROR;
	r->error = why;
	ev->type = HTTP1_ERROR;
	ev->reason = why;
	return HTTP1_ERROR;
}

/* The body (if any) is over: the next request, or opaque bytes. */
static void req_body_done(struct http1_req_parser *r)
{
	r->state = r->opaque_after ? R_OPAQUE : R_HEAD;
	hb_reset(&r->hb);
}

static int req_skip_chunked(struct http1_req_parser *r, const uint8_t *in,
			    size_t len, size_t *used, const char **why)
{
	const uint8_t *d;
	size_t n, took, pos = 0;
	int c;

	do {
		c = chunk_run(&r->ch, &r->lim, in + pos, len - pos, &took, &d,
			      &n, why);
		pos += took;
	} while (c == CH_DATA);
	*used = pos;
	if (c == CH_END)
		req_body_done(r);
	return c == CH_ERR ? -1 : 0;
}

enum http1_ev http1_req_feed(struct http1_req_parser *r, const uint8_t *in,
			     size_t len, size_t *consumed,
			     struct http1_event *ev)
{
	const char *why = NULL;
	size_t pos = 0, used, n;
	int ret;

	memset(ev, 0, sizeof(*ev));
	for (;;) {
		*consumed = pos;
		switch (r->state) {
		case R_HEAD:
			if (pos == len)
				return HTTP1_NEED_MORE;
			ret = hb_take(&r->hb, r->lim.head_max, in + pos,
				      len - pos, &used, &why);
			*consumed = pos + used;
			if (ret == 0)
				return HTTP1_NEED_MORE;
			if (ret < 0 || parse_request(r, ev, &why) < 0)
				return req_fail(r, ev, why);
			ev->type = HTTP1_REQUEST;
			return HTTP1_REQUEST;
		case R_LENGTH:
			n = len - pos < r->remaining ? len - pos :
			    (size_t)r->remaining;
			pos += n;
			r->remaining -= n;
			if (r->remaining)
				break;
			req_body_done(r);
			continue;
		case R_CHUNKED:
			if (req_skip_chunked(r, in + pos, len - pos, &used,
					     &why) < 0)
				return req_fail(r, ev, why);
			pos += used;
			if (r->state == R_CHUNKED)
				break;
			continue;
		case R_OPAQUE:
			pos = len;
			break;
		default:
			ev->type = HTTP1_ERROR;
			ev->reason = r->error;
			return HTTP1_ERROR;
		}
		*consumed = pos;
		return HTTP1_NEED_MORE;
	}
}
