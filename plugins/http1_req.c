/* The request helper of http1.h: each request's method, in order, with
 * request bodies (Content-Length, chunked) skipped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http1_internal.h"

/* ---- the request helper ---- */

int http1_req_init(struct http1_req_parser *r, const struct http1_limits *lim)
{
	struct http1_limits l;

	if (!r || h1_limits_set(&l, lim) < 0)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->lim = l;
	r->state = R_HEAD;
	return 0;
}

void http1_req_fini(struct http1_req_parser *r)
{
	if (r)
		h1_hb_free(&r->hb);
}

void http1_req_resume(struct http1_req_parser *r)
{
	r->opaque_after = 0;
	if (r->state == R_OPAQUE) {
		r->state = R_HEAD;
		h1_hb_reset(&r->hb);
	}
}

/* request-line = method SP request-target SP HTTP-version (RFC 9112 3);
 * the method's length in *mlen. */
static int parse_request_line(const uint8_t *s, size_t n, size_t *mlen,
			      uint8_t *minor)
{
	size_t m = 0, t;

	while (m < n && h1_is_tchar(s[m]))
		m++;
	if (m == 0 || m == n || s[m] != ' ')
		return -1;
	for (t = m + 1; t < n && s[t] != ' '; t++)
		if (h1_is_ctl(s[t]) || s[t] == '\t')
			return -1;
	if (t == m + 1 || t == n)
		return -1;
	*mlen = m;
	return h1_parse_version(s + t + 1, n - t - 1, minor);
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

	if (h1_next_line(r->hb.buf, r->hb.len, &off, &line, &n) < 0 ||
	    parse_request_line(line, n, &mlen, &minor) < 0) {
		*why = "malformed request line";
		return -1;
	}
	if (h1_parse_fields(&r->hb, r->lim.fields_max, &nfields, &fr, NULL,
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
	h1_hb_reset(&r->hb);
}

static int req_skip_chunked(struct http1_req_parser *r, const uint8_t *in,
			    size_t len, size_t *used, const char **why)
{
	const uint8_t *d;
	size_t n, took, pos = 0;
	int c;

	do {
		c = h1_chunk_run(&r->ch, &r->lim, in + pos, len - pos, &took, &d,
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
			ret = h1_hb_take(&r->hb, r->lim.head_max, in + pos,
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
