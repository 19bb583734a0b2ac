/* exeblock, server -> client: the response parser walks each received
 * buffer; every byte it takes belongs either to a head (gathered by the
 * parser; the filter sends head->raw itself, once decided) or to the
 * body of the response in hand, raw: chunk framing included, so that a
 * passed body goes out exactly as the server framed it, while the
 * detector sees the de-chunked payload (BODY events).
 *
 *   EB_R_HEAD ──head──▶ HOLD (preview) ──first bytes decide──▶ PASS
 *                  └──▶ SPOOL ──body ends (or cap)──▶ DRAIN ──▶ PASS/HEAD
 *   (no body, 1xx, tunnel: PASS at once)     any: ──block──▶ BLOCKED
 *
 * Back-pressure: the buffer in hand is worked through only while the
 * bytes sent to the client and not yet taken (EB_TX_MAX) and the spool
 * writes in flight (EB_WR_MAX) are bounded, and the next receive is
 * posted only when it is used up. A slow client thus slows the server
 * through TCP rather than filling weir's memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "exeblock.h"

int eb_dn_send(struct eb_inst *in, struct weir_iobuf *b)
{
	int rc = weir_sock_send(in->in, b, &in->t,
				EB_UD(EB_UD_DN_SEND, b->len));

	if (!rc)
		in->tx_bytes += b->len;
	return rc;
}

static int send_window(struct eb_inst *in, struct weir_iobuf *b,
		       uint32_t off, uint32_t len)
{
	struct weir_iobuf *w = weir_iobuf_window(b, off, len);
	int rc = w ? eb_dn_send(in, w) : -ENOMEM;

	weir_iobuf_unref(w);
	return rc;
}

int eb_head_out(struct eb_inst *in)
{
	int rc = 0;

	if (in->head && !in->head_out)
		rc = eb_dn_send(in, in->head);
	weir_iobuf_unref(in->head);
	in->head = NULL;
	in->head_out = true;
	return rc;
}

void eb_resp_finish(struct eb_inst *in)
{
	weir_iobuf_unref(in->head);
	in->head = NULL;
	in->head_out = false;
	in->hold_len = 0;
	in->pre_len = 0;
	in->body_raw = 0;
	in->msg_end = false;
	in->spooled = 0;
	in->rd_off = 0;
	in->st = EB_R_HEAD;
	/* Every request answered: a CONNECT or Upgrade the server refused
	 * leaves the client's side in HTTP again. */
	if (!in->outstanding)
		http1_req_resume(&in->rq);
}

static int hold(struct eb_inst *in, const uint8_t *p, uint32_t n)
{
	if (in->hold_len + n > in->hold_cap) {
		uint32_t cap = in->hold_cap ? in->hold_cap : 16384;
		uint8_t *h;

		while (cap < in->hold_len + n)
			cap *= 2;
		h = realloc(in->hold, cap);
		if (!h)
			return -ENOMEM;
		in->hold = h;
		in->hold_cap = cap;
	}
	memcpy(in->hold + in->hold_len, p, n);
	in->hold_len += n;
	return 0;
}

/* Raw body bytes [off, off+len) of the buffer in hand. */
static void route(struct eb_inst *in, uint32_t off, uint32_t len)
{
	struct weir_iobuf *w;
	int rc = 0;

	in->body_raw += len;
	switch (in->st) {
	case EB_R_PASS:
		rc = send_window(in, in->cur, off, len);
		break;
	case EB_R_HOLD:
		rc = hold(in, in->cur->data + off, len);
		break;
	case EB_R_SPOOL:
		w = weir_iobuf_window(in->cur, off, len);
		rc = w ? eb_spool_write(in, w) : -ENOMEM;
		weir_iobuf_unref(w);
		break;
	default:
		break;
	}
	if (rc)
		eb_fail(in, rc, "exeblock: I/O error toward the client or "
				"the spool");
}

/* Preview passed: the head and what was held go out, the rest streams. */
static void release(struct eb_inst *in)
{
	struct weir_iobuf *b = NULL;
	int rc = eb_head_out(in);

	if (!rc && in->hold_len) {
		b = weir_iobuf_from(in->hold, in->hold_len);
		rc = b ? eb_dn_send(in, b) : -ENOMEM;
		weir_iobuf_unref(b);
	}
	in->hold_len = 0;
	/* Keep a large hold buffer no longer than its response. */
	if (in->hold_cap > 65536) {
		free(in->hold);
		in->hold = NULL;
		in->hold_cap = 0;
	}
	in->st = EB_R_PASS;
	if (rc)
		eb_fail(in, rc, "exeblock: send to the client failed");
}

/* Decides the response in hand; true when it passes. */
static bool decide(struct eb_inst *in, bool last)
{
	char why[192];

	switch (eb_detect(in, last, why, sizeof(why))) {
	case EXEDETECT_EXE:
		eb_block_exe(in, why);
		return false;
	case EXEDETECT_NOT_EXE:
		eb_log_pass(in, why);
		return true;
	default:
		return false;
	}
}

static void on_body(struct eb_inst *in, const uint8_t *d, size_t n)
{
	uint32_t room = EXEDETECT_WINDOW - in->pre_len;
	bool enough;

	if (room && in->st != EB_R_PASS) {
		if (n < room)
			room = (uint32_t)n;
		memcpy(in->pre + in->pre_len, d, room);
		in->pre_len += room;
	}
	if (in->st != EB_R_HOLD)
		return;
	/* Framing alone can be large (tiny chunks): never hold more. */
	enough = in->pre_len >= in->c->preview || in->hold_len >= EB_HOLD_MAX;
	if (decide(in, enough))
		release(in);
}

/* The spool reached spool_max before the body's end. The detector only
 * ever looks at the first bytes, which are in: an executable is blocked
 * all the same; anything else takes the configured outcome. */
static void at_cap(struct eb_inst *in)
{
	char text[160];

	if (!decide(in, true))
		return;
	if (in->c->cap_pass) {
		in->st = EB_R_DRAIN;
		return;
	}
	snprintf(text, sizeof(text), "blocked a download larger than the "
		 "scanning limit (%llu bytes)",
		 (unsigned long long)in->c->spool_max);
	eb_block(in, text, "spool_max reached");
}

static void on_end(struct eb_inst *in)
{
	in->msg_end = true;
	switch (in->st) {
	case EB_R_HOLD:
		/* An empty body has nothing to decide. */
		if (!in->pre_len || decide(in, true)) {
			release(in);
			eb_resp_finish(in);
		}
		break;
	case EB_R_SPOOL:
		/* An empty body has nothing to decide. */
		if (!in->pre_len || decide(in, true))
			in->st = EB_R_DRAIN;
		break;
	case EB_R_PASS:
		eb_resp_finish(in);
		break;
	default:
		break;
	}
}

static void on_head(struct eb_inst *in, const struct http1_head *h)
{
	struct weir_iobuf *b = weir_iobuf_from(h->raw, (uint32_t)h->raw_len);
	int rc;

	if (!b) {
		eb_fail(in, -ENOMEM, "exeblock: out of memory");
		return;
	}
	if (h->flags & HTTP1_H_INTERIM) {
		/* 1xx: passes now; the final head is still to come. */
		rc = eb_dn_send(in, b);
		weir_iobuf_unref(b);
		if (rc)
			eb_fail(in, rc, "exeblock: send to the client failed");
		return;
	}
	if (in->outstanding)
		in->outstanding--;
	in->head = b;
	in->status = h->status;
	in->hflags = h->flags;
	snprintf(in->media_type, sizeof(in->media_type), "%s", h->media_type);
	snprintf(in->filename, sizeof(in->filename), "%s", h->filename);
	if (h->flags & (HTTP1_H_NO_BODY | HTTP1_H_TUNNEL)) {
		/* Nothing to scan (HEAD, 204, 304), or no longer HTTP. */
		in->st = EB_R_PASS;
		if ((rc = eb_head_out(in)))
			eb_fail(in, rc, "exeblock: send to the client failed");
		return;
	}
	in->st = in->c->mode == EB_PREVIEW ? EB_R_HOLD : EB_R_SPOOL;
}

/* One parser step over the buffer in hand. */
static void step(struct eb_inst *in)
{
	struct http1_event ev;
	uint32_t off = in->cur_off;
	bool body = in->st != EB_R_HEAD;
	size_t used;
	enum http1_ev e = http1_feed(&in->rp, in->cur->data + off,
				     in->cur->len - off, &used, &ev);

	/* Some events (MESSAGE_END of a body that just ended) come from a
	 * call that takes no byte: call again until NEED_MORE. */
	in->parse_more = e != HTTP1_NEED_MORE;
	if (e == HTTP1_ERROR) {
		eb_fail(in, -EPROTO, "exeblock: the server's response is not "
				     "valid HTTP/1.1");
		return;
	}
	in->cur_off += (uint32_t)used;
	if (body && used)
		route(in, off, (uint32_t)used);
	if (in->dead)
		return;
	if (e == HTTP1_RESPONSE_HEAD)
		on_head(in, ev.head);
	else if (e == HTTP1_BODY)
		on_body(in, ev.data, ev.len);
	else if (e == HTTP1_MESSAGE_END)
		on_end(in);
	if (in->st == EB_R_SPOOL && in->spooled >= in->c->spool_max)
		at_cap(in);
}

/* The server's end of stream, once the buffer in hand is used up. */
static void at_eof(struct eb_inst *in)
{
	struct http1_event ev;
	int rc;

	switch (http1_eof(&in->rp, &ev)) {
	case HTTP1_MESSAGE_END:
		on_end(in);
		return;
	case HTTP1_DONE:
		break;
	default:
		eb_fail(in, -EPROTO, "exeblock: the server closed inside a "
				     "response");
		return;
	}
	in->dn_done = true;
	if (in->dn_shut)
		return;
	in->dn_shut = true;
	rc = weir_sock_shutdown(in->in, SHUT_WR, &in->t,
				EB_UD(EB_UD_DN_SHUT, 0));
	if (rc)
		eb_fail(in, rc, "exeblock: shutdown toward the client failed");
}

static void dn_recv(struct eb_inst *in)
{
	int rc;

	if (in->dn_recv)
		return;
	rc = weir_sock_recv(in->ex, NULL, &in->t, EB_UD(EB_UD_DN_RECV, 0));
	if (rc)
		eb_fail(in, rc, "exeblock: receive from the server failed");
	else
		in->dn_recv = true;
}

void eb_dn_run(struct eb_inst *in)
{
	for (;;) {
		if (in->dead || in->dn_done || in->st == EB_R_BLOCKED)
			return;
		if (in->st == EB_R_DRAIN) {
			eb_spool_drain(in);
			if (in->st == EB_R_DRAIN)
				return;
			continue;
		}
		if (in->tx_bytes >= EB_TX_MAX || in->wr_bytes >= EB_WR_MAX)
			return;
		if (in->cur && (in->cur_off < in->cur->len ||
				in->parse_more)) {
			step(in);
			continue;
		}
		weir_iobuf_unref(in->cur);
		in->cur = NULL;
		if (!in->dn_eof) {
			dn_recv(in);
			return;
		}
		at_eof(in);
	}
}

void eb_dn_done(struct eb_inst *in, unsigned kind, uint64_t len, bool ok,
		int err, struct weir_iobuf *buf)
{
	if (kind == EB_UD_DN_RECV)
		in->dn_recv = false;
	else if (kind == EB_UD_DN_SEND)
		in->tx_bytes -= len;
	if (!ok) {
		weir_iobuf_unref(buf);
		eb_fail(in, err, "exeblock: I/O error toward the client");
		return;
	}
	if (kind == EB_UD_DN_RECV) {
		if (in->dead || in->st == EB_R_BLOCKED || !buf || !buf->len) {
			in->dn_eof = true;
			weir_iobuf_unref(buf);
		} else {
			in->cur = buf;
			in->cur_off = 0;
		}
	}
	eb_dn_run(in);
}
