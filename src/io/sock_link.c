/* In-memory links: the two ends that join neighbouring data filters of a
 * chain. Nothing is copied unless the receiver asks for it: a receive
 * without a buffer gets the sender's buffer itself, and the send
 * completes when the receive took it, which is the chain's back-pressure.
 *
 *   end A: sends [head offered] → [queued] ──▶ end B: the waiting receive
 *          flow(A): hand the head over, apply shutdowns, fail what the
 *                   peer can no longer take
 *
 * Nothing completes inline: every completion goes on the pair's `done`
 * queue, which one post (in the pair's storage, so it cannot fail for
 * lack of memory) delivers from the loop, in the order things happened.
 *
 * A waiting receive or send is invisible to the loop, so a loop that
 * closes would never complete it. Each pair therefore holds a guard: a
 * timer that never expires (a century), which weir_loop_close() cancels
 * like every timer; its callback then completes whatever still waits with
 * -ECANCELED (from the close, on the loop thread). The guard is stopped
 * when both ends are closed; the pair's memory goes once both are closed,
 * every completion has run and the guard's callback too.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "io/sock_internal.h"

#define GUARD_NS (100ull * 365 * 24 * 3600 * 1000000000ull)

struct link_pair;

struct link_end {
	struct weir_sock base;
	struct link_pair *pair;
	struct weir__req_q sends;   /* head is offered to the peer */
	uint32_t head_off;          /* stream: bytes of the head copied out */
	bool rx_waiting;            /* base.rx started, not completed */
	bool closed;
	bool wr_shut;               /* SHUT_WR applied: the peer reads EOF */
	bool rd_shut;               /* SHUT_RD applied: we read EOF */
};

struct link_pair {
	struct link_end end[2];
	struct weir_loop *loop;
	struct weir__req_q done;    /* completed, awaiting delivery */
	struct weir_post post;
	struct weir_timer guard;
	bool posted;
	bool guard_armed;
	bool again;                 /* a shutdown changed the other way */
	unsigned depth;             /* deliveries running */
};

static struct link_end *end_of(struct weir_sock *s)
{
	return weir__container_of(s, struct link_end, base);
}

static struct link_end *peer(struct link_end *e)
{
	struct link_pair *p = e->pair;

	return e == &p->end[0] ? &p->end[1] : &p->end[0];
}

static void try_free(struct link_pair *p)
{
	if (!p->end[0].closed || !p->end[1].closed || p->depth ||
	    p->posted || p->done.head || p->guard_armed)
		return;
	p->depth++;   /* an observer may release an end inside */
	weir__sock_idle(&p->end[0].base);
	weir__sock_idle(&p->end[1].base);
	p->depth--;
	if (!p->end[0].base.held_ && !p->end[1].base.held_)
		free(p);
}

/* ---- delivery ----------------------------------------------------------- */

static void deliver(struct weir__sock_req *r)
{
	struct link_end *e;
	struct weir__sock_req c;

	if (r->op == WEIR__OP_RECV) {
		/* The receive slot is free again before its callback runs,
		 * which may start the next receive. */
		e = weir__container_of(r, struct link_end, base.rx);
		c = *r;
		e->base.rx_busy = false;
		r->buf = NULL;
		weir__req_deliver(&c, c.res, c.buf,
				  c.addr_len ? (struct sockaddr *)&c.addr
					     : NULL, c.addr_len);
		return;
	}
	weir_iobuf_unref(r->buf);
	weir__req_deliver(r, r->res, NULL, NULL, 0);
	free(r);
}

/* Delivers until nothing is left; what the callbacks complete meanwhile
 * joins the queue (used at loop close, when posts are refused). */
static void deliver_all(struct link_pair *p)
{
	struct weir__sock_req *r;

	p->depth++;
	while ((r = weir__req_pop(&p->done)))
		deliver(r);
	p->depth--;
}

/* The post. At loop close it runs with -ECANCELED: the results it
 * delivers are settled already, so they are delivered as they are. What
 * its callbacks complete waits for the next round. */
static void flush(void *arg, int status)
{
	struct link_pair *p = arg;
	struct weir__req_q q = p->done;
	struct weir__sock_req *r;

	(void)status;
	p->posted = false;
	p->done.head = p->done.tail = NULL;
	p->depth++;
	while ((r = weir__req_pop(&q)))
		deliver(r);
	p->depth--;
	try_free(p);
}

/* Queues a completion. A closing loop refuses the post: then the guard's
 * callback delivers it (it runs later in the same close). */
static void finish(struct link_pair *p, struct weir__sock_req *r, int res)
{
	r->res = res;
	weir__req_push(&p->done, r);
	if (!p->posted &&
	    !weir_loop_post_req(p->loop, &p->post, flush, p))
		p->posted = true;
}

static void rx_complete(struct link_end *e, int res, struct weir_iobuf *buf,
			const struct weir__sock_req *from)
{
	struct weir__sock_req *r = &e->base.rx;

	e->rx_waiting = false;
	if (res >= 0)
		r->buf = buf;
	r->addr_len = 0;
	if (res >= 0 && from && from->addr_len && r->want_addr) {
		memcpy(&r->addr, &from->addr, from->addr_len);
		r->addr_len = from->addr_len;
	}
	finish(e->pair, r, res < 0 ? res : 0);
}

/* End of stream: the receive's own buffer unchanged, or an empty one.
 * A datagram link has no end of stream (an empty datagram is data): the
 * peer's shutdown fails the receive with -ESHUTDOWN instead. */
static void rx_eof(struct link_end *e)
{
	struct weir_iobuf *b = e->base.rx.buf;

	if (e->base.kind == WEIR_SOCK_DGRAM)
		rx_complete(e, -ESHUTDOWN, NULL, NULL);
	else
		rx_complete(e, 0, b ? b : weir__iobuf_empty(), NULL);
}

static void send_complete(struct link_end *e, int res)
{
	e->head_off = 0;
	finish(e->pair, weir__req_pop(&e->sends), res);
}

/* ---- the hand-over ------------------------------------------------------ */

/* The head's bytes (those left) to a receive that has no buffer: the very
 * buffer, or a window on what is left of it. Our reference moves. */
static void give_buffer(struct link_end *from, struct link_end *to)
{
	struct weir__sock_req *h = from->sends.head;
	struct weir_iobuf *b = h->buf;

	if (from->head_off) {
		b = weir_iobuf_window(h->buf, from->head_off, h->buf->len);
		if (!b) {
			rx_complete(to, -ENOMEM, NULL, NULL);
			return;
		}
		weir_iobuf_unref(h->buf);
	}
	h->buf = NULL;
	rx_complete(to, 0, b, h);
	send_complete(from, 0);
}

/* The head's bytes copied into the receive's buffer, as many as fit; a
 * stream keeps the rest for the next receive, a datagram that does not
 * fit is dropped (as UDP truncation would lose its end). */
static void give_copy(struct link_end *from, struct link_end *to)
{
	struct weir__sock_req *h = from->sends.head;
	struct weir_iobuf *rb = to->base.rx.buf;
	uint32_t left = h->buf->len - from->head_off;
	uint32_t room = rb->cap - rb->len;
	uint32_t n = left < room ? left : room;

	if (to->base.kind == WEIR_SOCK_DGRAM && left > room) {
		rx_complete(to, -EMSGSIZE, NULL, NULL);
		send_complete(from, 0);
		return;
	}
	if (n)
		memcpy(rb->data + rb->len, h->buf->data + from->head_off, n);
	rb->len += n;
	rx_complete(to, 0, rb, h);
	from->head_off += n;
	if (from->head_off == h->buf->len)
		send_complete(from, 0);
}

static void apply_shutdown(struct link_end *e, int how)
{
	if (how == SHUT_WR || how == SHUT_RDWR)
		e->wr_shut = true;
	if (how == SHUT_RD || how == SHUT_RDWR)
		e->rd_shut = true;
	e->pair->again = true;
}

/* Moves what can move from `from` to its peer. */
static void flow(struct link_end *from)
{
	struct link_end *to = peer(from);
	struct weir__sock_req *h;

	while ((h = from->sends.head)) {
		if (h->op == WEIR__OP_SHUTDOWN) {
			apply_shutdown(from, h->how);
			send_complete(from, 0);
		} else if (to->closed) {
			send_complete(from, -ECONNRESET);
		} else if (from->wr_shut || to->rd_shut) {
			send_complete(from, -EPIPE);
		} else if (!to->rx_waiting) {
			return;
		} else if (to->base.rx.buf) {
			give_copy(from, to);
		} else {
			give_buffer(from, to);
		}
	}
	if (!to->rx_waiting)
		return;
	if (to->rd_shut || from->wr_shut)
		rx_eof(to);
	else if (from->closed)
		rx_complete(to, -ECONNRESET, NULL, NULL);
}

/* Both ways, again while a shutdown changes the other way's state. */
static void pump(struct link_pair *p)
{
	do {
		p->again = false;
		flow(&p->end[0]);
		flow(&p->end[1]);
	} while (p->again);
}

/* ---- the socket calls ------------------------------------------------- */

static int link_recv(struct weir_sock *s)
{
	struct link_end *e = end_of(s);

	e->rx_waiting = true;
	pump(e->pair);
	return 0;
}

static int link_send(struct weir_sock *s, struct weir__sock_req *r)
{
	struct link_end *e = end_of(s);

	weir__req_push(&e->sends, r);
	pump(e->pair);
	return 0;
}

/* What still waits on e completes with -ECANCELED. */
static void abort_end(struct link_end *e)
{
	if (e->rx_waiting)
		rx_complete(e, -ECANCELED, NULL, NULL);
	while (e->sends.head)
		send_complete(e, -ECANCELED);
}

static void link_close(struct weir_sock *s)
{
	struct link_end *e = end_of(s);
	struct link_pair *p = e->pair;

	e->closed = true;
	abort_end(e);
	pump(p); /* the peer: its sends fail, its receive sees EOF or reset */
	if (peer(e)->closed && p->guard_armed)
		weir_timer_cancel(&p->guard);
	try_free(p);
}

static int link_fd(const struct weir_sock *s)
{
	(void)s;
	return -1;
}

static void link_release(struct weir_sock *s)
{
	try_free(end_of(s)->pair);
}

static const struct weir__sock_ops link_ops = {
	.recv = link_recv,
	.send = link_send,
	.close = link_close,
	.fd = link_fd,
	.release = link_release,
};

/* ---- the guard ---------------------------------------------------------- */

static void guard_fn(struct weir_timer *t, void *arg, int status)
{
	struct link_pair *p = arg;

	if (!status && !weir_timer_start(p->loop, t, GUARD_NS, guard_fn, p))
		return; /* a century passed: keep guarding */
	p->guard_armed = false;
	if (weir__loop_closing(p->loop)) {
		abort_end(&p->end[0]);
		abort_end(&p->end[1]);
		deliver_all(p);
	}
	try_free(p);
}

int weir__link_pair(struct weir_loop *loop, enum weir_sock_kind kind,
		    struct weir_sock **ret_a, struct weir_sock **ret_b)
{
	struct link_pair *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return -ENOMEM;
	p->loop = loop;
	for (int i = 0; i < 2; i++) {
		p->end[i].base.ops = &link_ops;
		p->end[i].base.loop = loop;
		p->end[i].base.kind = kind;
		p->end[i].pair = p;
	}
	rc = weir_timer_start(loop, &p->guard, GUARD_NS, guard_fn, p);
	if (rc) {
		free(p);
		return rc;
	}
	p->guard_armed = true;
	*ret_a = &p->end[0].base;
	*ret_b = &p->end[1].base;
	return 0;
}
