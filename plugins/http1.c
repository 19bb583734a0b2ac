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

#include "http1_internal.h"

/* ---- Content-Type and Content-Disposition ---- */

static void h1_media_type(struct http1_head *h, const uint8_t *v, size_t n)
{
	size_t i = 0, slash = 0;

	while (i < n && (h1_is_tchar(v[i]) || v[i] == '/')) {
		if (v[i] == '/') {
			if (slash)
				return;
			slash = i;
		}
		i++;
	}
	if (!slash || slash + 1 == i || i >= sizeof(h->media_type))
		return;
	if (i < n && v[i] != ';' && !h1_is_ows(v[i]))
		return;
	for (size_t k = 0; k < i; k++)
		h->media_type[k] = (char)h1_lower(v[k]);
	h->media_type[i] = '\0';
}

/* Appends one byte of a file name; controls become '_' (it is logged). */
static void h1_fname_put(struct http1_head *h, size_t *len, uint8_t c)
{
	if (*len + 1 >= sizeof(h->filename)) {
		h->flags |= HTTP1_H_FILENAME_CUT;
		return;
	}
	h->filename[(*len)++] = (char)(c < 0x20 || c == 0x7f ? '_' : c);
	h->filename[*len] = '\0';
}

/* filename="..." (quoted-string, RFC 9110 5.6.4) or filename=token. */
static size_t h1_fname_plain(struct http1_head *h, const uint8_t *v, size_t n,
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
				h1_fname_put(h, &len, v[i]);
		}
		return i < n ? i + 1 : i;
	}
	for (; i < n && v[i] != ';' && !h1_is_ows(v[i]); i++)
		if (store)
			h1_fname_put(h, &len, v[i]);
	return i;
}

/* filename*=charset'lang'pct-encoded (RFC 8187 3.2). */
static size_t h1_fname_ext(struct http1_head *h, const uint8_t *v, size_t n)
{
	size_t i = 0, len = 0, quotes = 0;

	h->filename[0] = '\0';
	h->flags &= ~HTTP1_H_FILENAME_CUT;
	for (; i < n && v[i] != ';' && !h1_is_ows(v[i]); i++) {
		if (quotes < 2) {
			quotes += v[i] == '\'';
			continue;
		}
		if (v[i] == '%' && i + 2 < n && h1_hexval(v[i + 1]) >= 0 &&
		    h1_hexval(v[i + 2]) >= 0) {
			h1_fname_put(h, &len, (uint8_t)(h1_hexval(v[i + 1]) << 4 |
						     h1_hexval(v[i + 2])));
			i += 2;
		} else {
			h1_fname_put(h, &len, v[i]);
		}
	}
	return i;
}

/* disposition-type *( OWS ";" OWS param ) (RFC 6266 4.1); filename*
 * wins over filename whatever their order (4.3). */
static void h1_disposition(struct http1_head *h, const uint8_t *v, size_t n)
{
	size_t i = 0, ns, nl;
	bool star = false;

	while (i < n && h1_is_tchar(v[i]))
		i++;
	if (h1_ci_eq(v, i, "attachment"))
		h->flags |= HTTP1_H_ATTACHMENT;
	for (;;) {
		while (i < n && h1_is_ows(v[i]))
			i++;
		if (i >= n || v[i++] != ';')
			return;
		while (i < n && h1_is_ows(v[i]))
			i++;
		for (ns = i; i < n && h1_is_tchar(v[i]); i++)
			;
		nl = i - ns;
		while (i < n && h1_is_ows(v[i]))
			i++;
		if (i >= n || v[i++] != '=')
			return;
		while (i < n && h1_is_ows(v[i]))
			i++;
		if (h1_ci_eq(v + ns, nl, "filename*")) {
			i += h1_fname_ext(h, v + i, n - i);
			star = true;
		} else {
			i += h1_fname_plain(h, v + i, n - i,
					 !star && h1_ci_eq(v + ns, nl, "filename"));
		}
	}
}

/* ---- response heads ---- */

/* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112
 * 2.3); only major version 1 is HTTP/1. */
int h1_parse_version(const uint8_t *s, size_t n, uint8_t *minor)
{
	if (n != 8 || memcmp(s, "HTTP/1.", 7) != 0 || !h1_is_digit(s[7]))
		return -1;
	*minor = (uint8_t)(s[7] - '0');
	return 0;
}

/* status-line = HTTP-version SP status-code SP [ reason-phrase ]
 * (RFC 9112 4); a missing SP before an empty reason is tolerated. */
static int h1_parse_status(struct http1_head *h, const uint8_t *s, size_t n)
{
	if (n < 12 || h1_parse_version(s, 8, &h->version_minor) < 0 ||
	    s[8] != ' ' || !h1_is_digit(s[9]) || !h1_is_digit(s[10]) ||
	    !h1_is_digit(s[11]))
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
		if (h1_is_ctl(s[i]))
			return -1;
	h->reason = (const char *)s + 13;
	h->reason_len = n - 13;
	return 0;
}

static void h1_content_field(struct http1_head *h, const struct field *f)
{
	if (h1_ci_eq(f->name, f->name_len, "content-type")) {
		h->content_type = (const char *)f->val;
		h->content_type_len = f->val_len;
		h->media_type[0] = '\0';
		h1_media_type(h, f->val, f->val_len);
	} else if (h1_ci_eq(f->name, f->name_len, "content-disposition")) {
		h1_disposition(h, f->val, f->val_len);
	}
}

/* Status line and fields of the gathered block into h and fr. */
int h1_parse_fields(const struct http1_buf *hb, uint32_t fields_max,
			uint32_t *nfields, struct framing *fr,
			struct http1_head *h, const char **why)
{
	size_t off = 0, n;
	const uint8_t *line;

	h1_next_line(hb->buf, hb->len, &off, &line, &n);
	while (off < hb->len) {
		struct field f;

		if (h1_next_line(hb->buf, hb->len, &off, &line, &n) < 0) {
			*why = "bare CR in header";
			return -1;
		}
		if (n == 0)
			break;
		if (++*nfields > fields_max) {
			*why = "too many header fields";
			return -1;
		}
		if (h1_parse_field(line, n, &f, why) < 0 ||
		    h1_framing_field(&f, fr, why) < 0)
			return -1;
		if (h)
			h1_content_field(h, &f);
	}
	return 0;
}

static enum http1_method h1_pop_method(struct http1_parser *p)
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
static int h1_response_framing(struct http1_parser *p, const struct framing *fr,
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
	h->method = h1_pop_method(p);
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

static int h1_parse_response(struct http1_parser *p, const char **why)
{
	struct http1_head *h = &p->head;
	struct framing fr = { 0 };
	const uint8_t *line;
	size_t off = 0, n;

	memset(h, 0, sizeof(*h));
	h->raw = p->hb.buf;
	h->raw_len = p->hb.len;
	if (h1_next_line(p->hb.buf, p->hb.len, &off, &line, &n) < 0 ||
	    h1_parse_status(h, line, n) < 0) {
		*why = "malformed status line";
		return -1;
	}
	if (h1_parse_fields(&p->hb, p->lim.fields_max, &h->nfields, &fr, h,
			 why) < 0)
		return -1;
	return h1_response_framing(p, &fr, why);
}

/* ---- the response parser ---- */

int h1_limits_set(struct http1_limits *dst, const struct http1_limits *lim)
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

	if (!p || h1_limits_set(&l, lim) < 0)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	p->lim = l;
	p->state = S_HEAD;
	return 0;
}

void http1_fini(struct http1_parser *p)
{
	if (p)
		h1_hb_free(&p->hb);
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
	h1_hb_reset(&p->hb);
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
	int r = h1_hb_take(&p->hb, p->lim.head_max, in, len, consumed, &why);

	if (r <= 0 && p->hb.len && bad_start(&p->hb))
		return fail(p, ev, "malformed status line");
	if (r < 0)
		return fail(p, ev, why);
	if (r == 0)
		return HTTP1_NEED_MORE;
	if (h1_parse_response(p, &why) < 0)
		return fail(p, ev, why);
	if (p->head.flags & HTTP1_H_INTERIM)
		h1_hb_reset(&p->hb);
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

	switch (h1_chunk_run(&p->ch, &p->lim, in, len, consumed, &d, &n, &why)) {
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
	h1_next_line(h->raw, h->raw_len, &off, &line, &n);
	while (off < h->raw_len) {
		struct field f;

		h1_next_line(h->raw, h->raw_len, &off, &line, &n);
		if (n == 0 || h1_parse_field(line, n, &f, &why) < 0)
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

