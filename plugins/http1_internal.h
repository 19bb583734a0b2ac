/* Internals shared by the files of the HTTP/1.1 parsers (http1.h):
 *   http1_text.c   characters, the header buffer, field lines, framing
 *   http1_chunk.c  the chunked decoder (RFC 9112 7.1)
 *   http1.c        response heads and the response parser
 *   http1_req.c    the request helper
 * Not for callers of http1.h.
 */
#ifndef WEIR_PLUGIN_HTTP1_INTERNAL_H
#define WEIR_PLUGIN_HTTP1_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/* ---- http1_text.c and http1_chunk.c ---- */

bool h1_is_ows(uint8_t c);
bool h1_is_digit(uint8_t c);
bool h1_is_tchar(uint8_t c);
bool h1_is_ctl(uint8_t c);
int h1_hexval(uint8_t c);
uint8_t h1_lower(uint8_t c);
bool h1_ci_eq(const uint8_t *s, size_t n, const char *lit);
void h1_hb_reset(struct http1_buf *hb);
void h1_hb_free(struct http1_buf *hb);
int h1_hb_reserve(struct http1_buf *hb, uint32_t need, uint32_t max);
bool h1_hb_line_end(struct http1_buf *hb);
int h1_hb_take(struct http1_buf *hb, uint32_t max, const uint8_t *in,
		   size_t len, size_t *used, const char **why);
int h1_next_line(const uint8_t *b, size_t end, size_t *off,
		     const uint8_t **line, size_t *n);
int h1_parse_field(const uint8_t *s, size_t n, struct field *f,
		       const char **why);
int h1_each_element(const uint8_t *v, size_t n,
			int (*fn)(const uint8_t *, size_t, void *), void *arg);
int h1_parse_cl(const uint8_t *v, size_t n, struct framing *fr,
		    const char **why);
int h1_te_element(const uint8_t *s, size_t n, void *arg);
int h1_parse_te(const uint8_t *v, size_t n, struct framing *fr,
		    const char **why);
int h1_conn_element(const uint8_t *s, size_t n, void *arg);
int h1_framing_field(const struct field *f, struct framing *fr,
			 const char **why);
int h1_chunk_size_done(struct http1_chunk *c);
int h1_chunk_after_size(struct http1_chunk *c, uint8_t b);
void h1_chunk_next(struct http1_chunk *c);
int h1_chunk_size_byte(struct http1_chunk *c, uint8_t b, const char **why);
int h1_trailer_line_byte(struct http1_chunk *c,
			     const struct http1_limits *lim, uint8_t b,
			     const char **why);
int h1_trailer_start_byte(struct http1_chunk *c,
			      const struct http1_limits *lim, uint8_t b,
			      const char **why);
int h1_chunk_tail_byte(struct http1_chunk *c,
			   const struct http1_limits *lim, uint8_t b,
			   const char **why);
int h1_chunk_run(struct http1_chunk *c, const struct http1_limits *lim,
		     const uint8_t *in, size_t len, size_t *used,
		     const uint8_t **data, size_t *dlen, const char **why);

/* ---- http1.c, used by the request helper too ---- */

int h1_limits_set(struct http1_limits *dst, const struct http1_limits *lim);
int h1_parse_version(const uint8_t *s, size_t n, uint8_t *minor);
int h1_parse_fields(const struct http1_buf *hb, uint32_t fields_max,
			uint32_t *nfields, struct framing *fr,
			struct http1_head *h, const char **why);

#endif /* WEIR_PLUGIN_HTTP1_INTERNAL_H */
