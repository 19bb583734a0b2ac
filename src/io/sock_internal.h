/* What the two kinds of weir_sock share: the public calls (sock.c) check
 * their arguments, build the request and dispatch through a small table
 * to the real socket (sock.c) or the in-memory link end (sock_link.c).
 * Not public; src/io/ only.
 *
 * Requests. A receive is embedded in the socket (one in flight at a
 * time); sends and shutdowns are allocated, queued in order, and freed
 * after their completion ran. A request's target is copied, so callers
 * may pass one that lives on their stack.
 */
#ifndef WEIR_IO_SOCK_INTERNAL_H
#define WEIR_IO_SOCK_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "io/io_internal.h"

/* Buffers that weir allocates for receives given none: 64 KiB for a
 * stream (fewer, larger receives: with 16 KiB a pass-through chain moved
 * 4 Gbit/s, with 64 KiB 7 on the reference machine), a whole datagram
 * (truncation would lose data). */
#define WEIR__RECV_STREAM_CAP (64u * 1024)
#define WEIR__RECV_DGRAM_CAP  (64u * 1024)

enum weir__sock_op {
	WEIR__OP_RECV = 1,
	WEIR__OP_SEND,
	WEIR__OP_SHUTDOWN,
};

struct weir__sock_req {
	struct weir__sock_req *next;
	struct weir_io_target t;
	uint64_t user_data;
	struct weir_iobuf *buf;     /* send: weir's reference; recv: the
	                             * caller's or one weir allocated */
	uint32_t done;              /* bytes sent so far (short sends) */
	uint8_t op;                 /* enum weir__sock_op */
	bool own_buf;               /* recv: weir allocated buf */
	bool want_addr;             /* recv: report the external address */
	int how;                    /* shutdown */
	int res;                    /* result to deliver (links) */
	socklen_t addr_len;         /* 0: no address */
	struct sockaddr_storage addr;
};

/* A FIFO of requests. */
struct weir__req_q {
	struct weir__sock_req *head, *tail;
};

static inline void weir__req_push(struct weir__req_q *q,
				  struct weir__sock_req *r)
{
	r->next = NULL;
	if (q->tail)
		q->tail->next = r;
	else
		q->head = r;
	q->tail = r;
}

static inline struct weir__sock_req *weir__req_pop(struct weir__req_q *q)
{
	struct weir__sock_req *r = q->head;

	if (r) {
		q->head = r->next;
		if (!q->head)
			q->tail = NULL;
		r->next = NULL;
	}
	return r;
}

struct weir_sock;

struct weir__sock_ops {
	/* Starts s->rx (filled by the caller, rx_busy set). 0 or -errno;
	 * on failure s->rx.buf is untouched and still the caller's. */
	int (*recv)(struct weir_sock *s);
	/* Queues a send or shutdown; on success the request is the
	 * socket's until its completion ran. */
	int (*send)(struct weir_sock *s, struct weir__sock_req *r);
	void (*close)(struct weir_sock *s);
	int (*fd)(const struct weir_sock *s);
	/* The hold is gone: free if closed and idle. */
	void (*release)(struct weir_sock *s);
};

struct weir_sock {
	const struct weir__sock_ops *ops;
	struct weir_loop *loop;
	weir__sock_obs_fn obs;      /* weir__sock_observe() */
	void *obs_arg;
	bool closed_;               /* weir_sock_close() was called: new
	                             * operations are refused */
	bool held_;                 /* weir__sock_hold(): memory kept after
	                             * close until weir__sock_release() */
	bool idle_told_;            /* WEIR__SOCK_EV_FREED was sent */
	enum weir_sock_kind kind;
	bool rx_busy;               /* from the start of a receive until its
	                             * completion begins */
	struct weir__sock_req rx;
	uint64_t rx_bytes;          /* received so far (real sockets) */
};

/* Tells the observer, if any (io_internal.h). */
static inline void weir__sock_notify(struct weir_sock *s, int ev, int res)
{
	if (s->obs)
		s->obs(s->obs_arg, s, ev, res);
}

/* Closed and idle (every completion delivered): tells the observer once
 * (WEIR__SOCK_EV_FREED). Returns true when the memory may go now (not
 * held). The caller keeps its own depth count up around this call when
 * the observer may release it re-entrantly. */
static inline bool weir__sock_idle(struct weir_sock *s)
{
	if (!s->idle_told_) {
		s->idle_told_ = true;
		weir__sock_notify(s, WEIR__SOCK_EV_FREED, 0);
	}
	return !s->held_;
}

/* Calls the request's completion. `res`: >= 0 success, else -errno. */
static inline void weir__req_deliver(const struct weir__sock_req *r,
				     int res, struct weir_iobuf *buf,
				     const struct sockaddr *addr,
				     socklen_t addr_len)
{
	r->t.complete(r->t.target, res >= 0, res < 0 ? res : 0, buf,
		      r->user_data, addr, addr_len);
}

/* True once weir_loop_close() began: new operations get -ESHUTDOWN. */
bool weir__loop_closing(const struct weir_loop *loop);

/* iobuf.c: a 0-length buffer that is never freed (end of stream where
 * nothing was allocated; it cannot fail). */
struct weir_iobuf *weir__iobuf_empty(void);
/* iobuf.c: b without its unused tail (b itself if shared or not worth
 * it); b may move. */
struct weir_iobuf *weir__iobuf_shrink(struct weir_iobuf *b);

/* sock_link.c */
int weir__link_pair(struct weir_loop *loop, enum weir_sock_kind kind,
		    struct weir_sock **ret_a, struct weir_sock **ret_b);

#endif /* WEIR_IO_SOCK_INTERNAL_H */
