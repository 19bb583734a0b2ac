/* HTTP/1.1 stream parsers for data filters of the application tier
 * (the exeblock filter first): an incremental parser of the server ->
 * client byte stream (responses), and a small helper that reads the
 * client -> server stream only far enough to learn each request's method
 * in order (a response to HEAD has no body, RFC 9112 6.3).
 *
 * Both are push parsers over a caller-owned struct: the caller hands
 * over whatever bytes arrived, in any split, and gets one event per
 * call. Nothing is allocated per byte: the header block is gathered in
 * one buffer that grows by doubling up to the header size cap and is
 * kept for the next message. Body spans point into the caller's bytes.
 *
 * The rules are those of RFC 9112 for a recipient that must agree with
 * the client on where every message ends (request smuggling and
 * response splitting, RFC 9112 11): anything ambiguous is an error, never
 * a guess. Internal to plug-ins (compiled into the filter, the tests and
 * tests/fuzz/fuzz_http1.c); not part of libweir. A parser is used by one
 * thread at a time.
 */
#ifndef WEIR_PLUGIN_HTTP1_H
#define WEIR_PLUGIN_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Defaults of struct http1_limits. */
#define HTTP1_HEAD_MAX_DEFAULT (64u * 1024u)
#define HTTP1_FIELDS_MAX_DEFAULT 100u
/* Requests whose responses may be outstanding at once (pipelining). */
#define HTTP1_PIPELINE_MAX 32u
/* A chunk extension longer than this is refused (nobody sends them;
 * unbounded ones are a way to make a parser spin). */
#define HTTP1_CHUNK_EXT_MAX 4096u
#define HTTP1_FILENAME_MAX 256u
#define HTTP1_MEDIA_TYPE_MAX 256u

struct http1_limits {
	uint32_t head_max;   /* bytes of a header block (or trailer section),
	                      * start line and final empty line included */
	uint32_t fields_max; /* field lines in a header block or trailers */
};

enum http1_ev {
	HTTP1_NEED_MORE = 0,  /* every byte given was taken; feed more */
	HTTP1_RESPONSE_HEAD,  /* ev.head: a complete response head */
	HTTP1_BODY,           /* ev.data/len: body bytes (payload only) */
	HTTP1_MESSAGE_END,    /* the response's body (if any) is complete */
	HTTP1_REQUEST,        /* request helper: ev.method of a request */
	HTTP1_ERROR,          /* ev.reason; the parser stays in error */
	HTTP1_DONE,           /* http1_eof(): the stream ended cleanly */
};

/* Request methods the parsers care about; the rest are OTHER (methods
 * are case-sensitive: "head" is not HEAD, RFC 9110 9.1). */
enum http1_method {
	HTTP1_M_OTHER = 0,
	HTTP1_M_GET,
	HTTP1_M_HEAD,
	HTTP1_M_POST,
	HTTP1_M_PUT,
	HTTP1_M_CONNECT,
	HTTP1_M_OPTIONS,
};

/* struct http1_head.flags */
#define HTTP1_H_LENGTH     0x0001u /* framed by Content-Length */
#define HTTP1_H_CHUNKED    0x0002u /* framed by chunked coding */
#define HTTP1_H_UNTIL_CLOSE 0x0004u /* body runs until the server closes */
#define HTTP1_H_NO_BODY    0x0008u /* HEAD, 1xx, 204, 304 */
#define HTTP1_H_INTERIM    0x0010u /* 1xx other than 101: another head
                                    * follows for the same request */
#define HTTP1_H_TUNNEL     0x0020u /* 101 or 2xx to CONNECT: what follows
                                    * is not HTTP; given as BODY to EOF */
#define HTTP1_H_CLOSE      0x0040u /* connection ends after this response */
#define HTTP1_H_KEEP_ALIVE 0x0080u /* "Connection: keep-alive" was sent */
#define HTTP1_H_CL_FIELD   0x0100u /* a Content-Length field was present
                                    * (content_length valid) */
#define HTTP1_H_NO_REQUEST 0x0200u /* no request method was queued: taken
                                    * as GET */
#define HTTP1_H_ATTACHMENT 0x0400u /* Content-Disposition: attachment */
#define HTTP1_H_FILENAME_CUT 0x0800u /* filename did not fit; truncated */

/* A response head. Pointers point into the parser's header buffer and
 * stay valid until the parser starts gathering the next head (that is,
 * through this response's BODY and MESSAGE_END events). */
struct http1_head {
	uint16_t status;
	uint8_t version_minor;      /* HTTP/1.x */
	uint32_t flags;             /* HTTP1_H_* */
	uint64_t content_length;    /* with HTTP1_H_CL_FIELD */
	const uint8_t *raw;         /* the header block exactly as received,
	                             * status line to the empty line
	                             * inclusive (empty lines before the
	                             * status line are not part of it) */
	size_t raw_len;
	const char *reason;         /* reason phrase, not NUL-terminated */
	size_t reason_len;
	const char *content_type;   /* Content-Type value (last one), OWS
	                             * trimmed, NULL when absent */
	size_t content_type_len;
	char media_type[HTTP1_MEDIA_TYPE_MAX]; /* "type/subtype" of it, lower
	                             * case, "" when absent or malformed */
	char filename[HTTP1_FILENAME_MAX]; /* Content-Disposition filename
	                             * (filename* preferred, RFC 6266 4.3),
	                             * decoded; "" when none. For logs only:
	                             * never decide by it */
	uint32_t nfields;
	enum http1_method method;   /* of the request this answers */
};

struct http1_event {
	enum http1_ev type;
	const struct http1_head *head; /* RESPONSE_HEAD, and BODY/MESSAGE_END
	                                * of that response */
	const uint8_t *data;        /* BODY: within the bytes given to this
	                             * call; RESPONSE_HEAD: head->raw */
	size_t len;
	const char *reason;         /* ERROR: a static string */
	enum http1_method method;   /* REQUEST */
	const char *method_text;    /* REQUEST: the method token, valid
	                             * until the next call */
	size_t method_len;
};

/* Internal state shared by both parsers; members are private. */
struct http1_buf {
	uint8_t *buf;
	uint32_t len, cap, line_start, lines, skipped;
};

struct http1_chunk {
	uint8_t state;
	uint8_t digits;
	uint32_t ext_len, trailer_len, trailer_fields;
	uint64_t size;
};

struct http1_parser {
	struct http1_limits lim;
	struct http1_buf hb;
	struct http1_chunk ch;
	struct http1_head head;
	uint8_t state;
	uint64_t remaining;
	const char *error;
	uint8_t methods[HTTP1_PIPELINE_MAX];
	uint32_t mfirst, mcount;
};

struct http1_req_parser {
	struct http1_limits lim;
	struct http1_buf hb;
	struct http1_chunk ch;
	uint8_t state;
	uint8_t opaque_after;
	uint64_t remaining;
	const char *error;
};

/* Sets p up with lim (NULL: the defaults). 0, -EINVAL (a limit of 0 or a
 * head cap under 64 bytes). Allocates nothing yet. */
int http1_init(struct http1_parser *p, const struct http1_limits *lim);
/* Frees the header buffer; p may be initialised again. NULL is fine. */
void http1_fini(struct http1_parser *p);

/* Tells p the method of the next request sent on the connection, in the
 * order the client sent them. 0, -ENOSPC (HTTP1_PIPELINE_MAX
 * outstanding). A response that finds no method queued is taken as a
 * response to GET (servers send unsolicited 408s) and says so with
 * HTTP1_H_NO_REQUEST. */
int http1_push_method(struct http1_parser *p, enum http1_method m);

/* Parses in[0..len) (len may be 0) as the next bytes from the server.
 * Sets *consumed to the bytes taken (always <= len) and fills *ev;
 * returns ev->type. Call again with the bytes not consumed until it
 * returns HTTP1_NEED_MORE (all bytes taken) or HTTP1_ERROR: one call
 * gives at most one event, and some (MESSAGE_END of a body-less
 * response) come from a call that takes no byte. Sequence per response:
 * RESPONSE_HEAD (interim 1xx heads: nothing else), then BODY* and
 * MESSAGE_END. After a response that closes the connection (HTTP1_H_CLOSE)
 * more bytes are an error. */
enum http1_ev http1_feed(struct http1_parser *p, const uint8_t *in,
			 size_t len, size_t *consumed, struct http1_event *ev);

/* The server closed its side. Returns MESSAGE_END for a close-delimited
 * body (or a pending end), HTTP1_DONE when the stream ended between
 * messages (call again: DONE each time), or ERROR for a truncated head
 * or body. */
enum http1_ev http1_eof(struct http1_parser *p, struct http1_event *ev);

/* The value of the first field named name (case-insensitive) in the last
 * head, OWS trimmed, in *val and *len. 1 found, 0 not. Valid as long as
 * head's pointers. */
int http1_field(const struct http1_parser *p, const char *name,
		const char **val, size_t *len);

/* The request helper: as http1_init/http1_fini. */
int http1_req_init(struct http1_req_parser *r, const struct http1_limits *lim);
void http1_req_fini(struct http1_req_parser *r);

/* Parses in[0..len) from the client -> server stream. Returns
 * HTTP1_REQUEST once per request (when its head is complete; ev->method
 * and ev->method_text), HTTP1_NEED_MORE when every byte was taken
 * (request bodies, Content-Length or chunked, are skipped), or ERROR.
 * After a CONNECT request or one asking for an Upgrade (and its body),
 * what follows may not be HTTP: the helper takes every byte without
 * parsing until http1_req_resume() says the server refused (not 2xx to
 * CONNECT, not 101). Bytes taken before that call are not parsed. */
enum http1_ev http1_req_feed(struct http1_req_parser *r, const uint8_t *in,
			     size_t len, size_t *consumed,
			     struct http1_event *ev);
void http1_req_resume(struct http1_req_parser *r);

/* "GET" -> HTTP1_M_GET, ...; OTHER for the rest. */
enum http1_method http1_method_of(const char *s, size_t len);

#endif
