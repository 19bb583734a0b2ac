/* exeblock, client -> server: every byte is forwarded unchanged (the
 * received buffer itself), after the request helper has read it far
 * enough to learn each request's method, which is queued on the response
 * parser before the server can have seen the request (so a response to
 * HEAD is known to have no body). Two sends in flight at most, as
 * weir_pump: the server's pace bounds what is held.
 */
#include <errno.h>
#include <sys/socket.h>

#include "exeblock.h"

#define UP_SENDS_MAX 2

static void up_recv(struct eb_inst *in)
{
	int rc;

	if (in->up_recv || in->up_eof || in->up_stop || in->dead ||
	    in->up_sends >= UP_SENDS_MAX)
		return;
	rc = weir_sock_recv(in->in, NULL, &in->t, EB_UD(EB_UD_UP_RECV, 0));
	if (rc) {
		eb_fail(in, rc, "exeblock: receive from the client failed");
		return;
	}
	in->up_recv = true;
}

void eb_up_start(struct eb_inst *in)
{
	up_recv(in);
}

/* Reads the requests in b for their methods. */
static int learn_methods(struct eb_inst *in, const struct weir_iobuf *b)
{
	struct http1_event ev;
	size_t off = 0, used;

	while (off < b->len) {
		switch (http1_req_feed(&in->rq, b->data + off, b->len - off,
				       &used, &ev)) {
		case HTTP1_REQUEST:
			if (http1_push_method(&in->rp, ev.method))
				return -ENOSPC;
			in->outstanding++;
			break;
		case HTTP1_ERROR:
			return -EPROTO;
		default:
			break;
		}
		off += used;
	}
	return 0;
}

static void shut_server(struct eb_inst *in)
{
	int rc;

	if (in->up_shut)
		return;
	in->up_shut = true;
	rc = weir_sock_shutdown(in->ex, SHUT_WR, &in->t,
				EB_UD(EB_UD_UP_SHUT, 0));
	if (rc)
		eb_fail(in, rc, "exeblock: shutdown toward the server failed");
}

static void on_data(struct eb_inst *in, struct weir_iobuf *b)
{
	int rc;

	if (!b || !b->len) {
		weir_iobuf_unref(b);
		in->up_eof = true;
		shut_server(in);
		return;
	}
	if (in->up_stop) {
		/* Blocked: what the client says now goes nowhere. */
		weir_iobuf_unref(b);
		return;
	}
	rc = learn_methods(in, b);
	if (rc) {
		weir_iobuf_unref(b);
		/* Without the methods the responses cannot be framed. */
		eb_fail(in, rc, rc == -ENOSPC
			? "exeblock: too many pipelined requests"
			: "exeblock: the client's request is not HTTP/1.1");
		return;
	}
	rc = weir_sock_send(in->ex, b, &in->t, EB_UD(EB_UD_UP_SEND, b->len));
	weir_iobuf_unref(b);
	if (rc) {
		eb_fail(in, rc, "exeblock: send to the server failed");
		return;
	}
	in->up_sends++;
	up_recv(in);
}

void eb_up_done(struct eb_inst *in, unsigned kind, bool ok, int err,
		struct weir_iobuf *buf)
{
	if (kind == EB_UD_UP_RECV)
		in->up_recv = false;
	else if (kind == EB_UD_UP_SEND)
		in->up_sends--;
	if (!ok) {
		weir_iobuf_unref(buf);
		eb_fail(in, err, "exeblock: I/O error toward the server");
		return;
	}
	if (in->dead)
		weir_iobuf_unref(buf);
	else if (kind == EB_UD_UP_RECV)
		on_data(in, buf);
	else
		up_recv(in);
}

/* A response was blocked: the request side ends too (the 403 says
 * Connection: close). A receive still in flight is left to the
 * session's close. */
void eb_up_stop(struct eb_inst *in)
{
	in->up_stop = true;
	shut_server(in);
}
