/* The chunked decoder (RFC 9112 7.1): a byte-at-a-time state machine
 * over the framing bytes; chunk data goes out as spans, not copied.
 */
#include <errno.h>
#include <string.h>

#include "http1_internal.h"

/* ---- chunked decoding ---- */

int h1_chunk_size_done(struct http1_chunk *c)
{
	c->state = c->size ? C_DATA : C_TRAILER;
	return CH_MORE;
}

/* After the size digits: extension, BWS before it, or the line end. */
int h1_chunk_after_size(struct http1_chunk *c, uint8_t b)
{
	if (b == ';')
		c->state = C_EXT;
	else if (h1_is_ows(b))
		c->state = C_SIZE_WS;
	else if (b == '\r')
		c->state = C_SIZE_LF;
	else if (b == '\n')
		return h1_chunk_size_done(c);
	else
		return CH_ERR;
	return CH_MORE;
}

void h1_chunk_next(struct http1_chunk *c)
{
	c->state = C_SIZE;
	c->size = 0;
	c->digits = 0;
	c->ext_len = 0;
}

/* chunk-size [ chunk-ext ] CRLF (RFC 9112 7.1, 7.1.1). */
int h1_chunk_size_byte(struct http1_chunk *c, uint8_t b, const char **why)
{
	int h = h1_hexval(b);

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
		return c->digits ? h1_chunk_after_size(c, b) : CH_ERR;
	case C_SIZE_WS:
		*why = "invalid chunk size line";
		if (h1_is_ows(b))
			return CH_MORE;
		return b == ';' ? (c->state = C_EXT, CH_MORE) : CH_ERR;
	case C_EXT:
		if (b == '\r' || b == '\n')
			return h1_chunk_after_size(c, b);
		*why = "invalid chunk extension";
		return h1_is_ctl(b) || ++c->ext_len > HTTP1_CHUNK_EXT_MAX ?
		       CH_ERR : CH_MORE;
	default: /* C_SIZE_LF */
		*why = "bare CR in chunk size line";
		return b == '\n' ? h1_chunk_size_done(c) : CH_ERR;
	}
}

/* A byte of a trailer field line, which is only counted and checked for
 * controls: trailers are not interpreted. */
int h1_trailer_line_byte(struct http1_chunk *c,
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
	return h1_is_ctl(b) && b != '\r' && b != '\n' ? CH_ERR : CH_MORE;
}

/* The start of a trailer line: the final empty line, or a field (RFC
 * 9112 7.1.2; no obs-fold, as in a header block). */
int h1_trailer_start_byte(struct http1_chunk *c,
			      const struct http1_limits *lim, uint8_t b,
			      const char **why)
{
	if (b == '\r') {
		c->state = C_FINAL_LF;
		return CH_MORE;
	}
	if (b == '\n')
		return CH_END;
	*why = h1_is_ows(b) ? "obs-fold in trailer" : "malformed trailer";
	if (!h1_is_tchar(b))
		return CH_ERR;
	*why = "too many trailer fields";
	if (++c->trailer_fields > lim->fields_max)
		return CH_ERR;
	c->state = C_TRAILER_LINE;
	return h1_trailer_line_byte(c, lim, b, why);
}

/* The CRLF after chunk data, and the trailer section. */
int h1_chunk_tail_byte(struct http1_chunk *c,
			   const struct http1_limits *lim, uint8_t b,
			   const char **why)
{
	switch (c->state) {
	case C_DATA_CR:
		*why = "chunk data not followed by CRLF";
		if (b == '\n')
			return h1_chunk_next(c), CH_MORE;
		return b == '\r' ? (c->state = C_DATA_LF, CH_MORE) : CH_ERR;
	case C_DATA_LF:
	case C_TRAILER_LF:
	case C_FINAL_LF:
		*why = "bare CR in chunked framing";
		if (b != '\n')
			return CH_ERR;
		if (c->state == C_DATA_LF)
			return h1_chunk_next(c), CH_MORE;
		if (c->state == C_FINAL_LF)
			return CH_END;
		c->state = C_TRAILER;
		return CH_MORE;
	case C_TRAILER:
		return h1_trailer_start_byte(c, lim, b, why);
	default: /* C_TRAILER_LINE */
		return h1_trailer_line_byte(c, lim, b, why);
	}
}

/* Runs the decoder over in[0..len): CH_DATA with a span of chunk data,
 * CH_END after the last trailer line, CH_MORE when all was taken, or
 * CH_ERR. *used counts the bytes taken. */
int h1_chunk_run(struct http1_chunk *c, const struct http1_limits *lim,
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
			r = h1_chunk_size_byte(c, in[i++], why);
		else
			r = h1_chunk_tail_byte(c, lim, in[i++], why);
		if (r != CH_MORE) {
			*used = i;
			return r;
		}
	}
	*used = i;
	return CH_MORE;
}

