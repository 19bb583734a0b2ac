/* weir_pump: forwards one direction of a chain without looking at it, for
 * the filters (and the parts of weir) that do not inspect that way. A
 * received buffer is sent on as it is (no copy: on a link the very
 * buffer travels the chain). Two sends may be in flight, so a receive
 * overlaps the previous send; beyond that the pump waits, which is the
 * back-pressure. End of stream becomes a shutdown for writing; an error
 * aborts the session.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "proxy/proxy_internal.h"

#define MAX_SENDS 2

enum { UD_RECV = 1, UD_SEND, UD_SHUT };

struct pump {
	struct weir_session *s;
	struct weir_sock *from, *to;
	struct weir_io_target t;
	uint64_t *bytes;      /* the caller's counter, or NULL */
	unsigned sends;       /* in flight */
	unsigned ops;         /* completions still to come */
	bool receiving, eof, failed;
};

static void pump_recv(struct pump *p);

static void maybe_free(struct pump *p)
{
	if (!p->ops && (p->eof || p->failed))
		free(p);
}

static void fail(struct pump *p, int err)
{
	/* -ECANCELED: the session is closing already. */
	if (!p->failed && err != -ECANCELED && err != -ESHUTDOWN)
		weir_session_abort(p->s, "pump: I/O error");
	p->failed = true;
}

/* The end of what `from` gives: a stream's 0-length receive, or a
 * datagram link's -ESHUTDOWN (an empty datagram is data, handed on). */
static bool is_end(const struct pump *p, bool ok, int err,
		   const struct weir_iobuf *b)
{
	if (weir_sock_kind(p->from) == WEIR_SOCK_DGRAM)
		return !ok && err == -ESHUTDOWN;
	return ok && !b->len;
}

static void on_recv(struct pump *p, bool ok, int err, struct weir_iobuf *b)
{
	int rc;

	p->receiving = false;
	if (!ok && !is_end(p, ok, err, b)) {
		fail(p, err);
		return;
	}
	if (is_end(p, ok, err, b)) {
		weir_iobuf_unref(b);
		p->eof = true;
		rc = weir_sock_shutdown(p->to, SHUT_WR, &p->t, UD_SHUT);
		if (rc)
			fail(p, rc);
		else
			p->ops++;
		return;
	}
	if (p->bytes)
		*p->bytes += b->len;
	rc = weir_sock_send(p->to, b, &p->t, UD_SEND);
	weir_iobuf_unref(b);   /* the send holds its own reference */
	if (rc) {
		fail(p, rc);
		return;
	}
	p->ops++;
	p->sends++;
	pump_recv(p);
}

static void complete(void *target, bool ok, int err, struct weir_iobuf *buf,
		     uint64_t ud, const struct sockaddr *a, socklen_t al)
{
	struct pump *p = target;

	(void)a, (void)al;
	p->ops--;
	if (ud == UD_RECV) {
		on_recv(p, ok, err, buf);
	} else if (!ok) {
		fail(p, err);
	} else if (ud == UD_SEND) {
		p->sends--;
		pump_recv(p);
	}
	maybe_free(p);
}

static void pump_recv(struct pump *p)
{
	int rc;

	if (p->receiving || p->eof || p->failed || p->sends >= MAX_SENDS)
		return;
	rc = weir_sock_recv(p->from, NULL, &p->t, UD_RECV);
	if (rc) {
		fail(p, rc);
		return;
	}
	p->receiving = true;
	p->ops++;
}

int weir_pump(struct weir_session *s, struct weir_sock *from,
	      struct weir_sock *to, uint64_t *bytes)
{
	struct pump *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	*p = (struct pump){ .s = s, .from = from, .to = to, .bytes = bytes,
			    .t = { .complete = complete, .target = p } };
	pump_recv(p);
	if (p->failed && !p->ops) {
		free(p);
		return -EIO;
	}
	return 0;
}
