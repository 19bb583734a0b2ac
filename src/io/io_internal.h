/* The loop's kernel-operation interface for the other modules of libweir
 * (capture, inject, proxy): operation records, SQEs bound to them, and
 * cancellation. Not public.
 *
 * Every SQE's user_data is the address of a struct weir__io_op that the
 * caller embeds in its own object (container_of style). When a CQE
 * arrives, the loop calls op->done(op, cqe->res, cqe->flags), from
 * weir_loop_run()/run_once() only:
 *
 *   op = { .done = my_done };
 *   sqe = weir__io_sqe(loop, &obj->op);      user_data = &obj->op
 *   io_uring_prep_recv(sqe, fd, ...);         prep_* keeps user_data
 *        ... later, on the loop ...
 *   my_done(&obj->op, res, flags)             once per CQE; the last one
 *                                             has no IORING_CQE_F_MORE
 *
 * Lifetime. The op's storage must stay valid until its final CQE (the
 * first without IORING_CQE_F_MORE) has been dispatched: for a multishot
 * operation, that is after every intermediate CQE. The final CQE is
 * accounted before done runs, so done may free the op or reuse it for a
 * new SQE. An op may have several SQEs in flight; inflight_ counts them.
 *
 * Shutdown. weir_loop_close() cancels everything in the kernel and waits
 * until every op had its final CQE; ops cannot be started any more (see
 * weir__io_sqe), so a done callback that resubmits gets NULL and must
 * treat that as the end.
 */
#ifndef WEIR_IO_INTERNAL_H
#define WEIR_IO_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <liburing.h>

#include <weir/io.h>

/* The object that embeds member `m` (of type T) at `p`. */
#ifndef weir__container_of
#define weir__container_of(p, T, m) \
	((T *)(void *)((char *)(p) - offsetof(T, m)))
#endif

struct weir__io_op;

/* res is cqe->res (>= 0 or -errno), flags cqe->flags (IORING_CQE_F_MORE,
 * IORING_CQE_F_BUFFER with the buffer id above IORING_CQE_BUFFER_SHIFT,
 * ...). Runs on the loop thread. */
typedef void (*weir__io_done_fn)(struct weir__io_op *op, int res,
				 unsigned flags);

struct weir__io_op {
	weir__io_done_fn done;   /* set by the owner before binding */
	uint32_t inflight_;      /* private: SQEs without their final CQE */
};

/* An SQE of the loop bound to `op` (user_data set, inflight counted), for
 * the caller to fill with an io_uring_prep_*() helper at once, before it
 * asks for another SQE or returns to the loop. Never set its user_data,
 * nor IOSQE_CQE_SKIP_SUCCESS (the loop counts on one final CQE per SQE).
 * Once bound, the op's done will run: if the caller changes its mind, it
 * preps a NOP. When the submission queue is full, submits it first and
 * retries (completions are still only dispatched by the loop). Returns
 * NULL, with nothing bound, and errno EBUSY (the queue stayed full: the
 * kernel refused more, e.g. a completion queue overflow) or ESHUTDOWN
 * (the loop is closing). Loop thread only. */
struct io_uring_sqe *weir__io_sqe(struct weir_loop *loop,
				  struct weir__io_op *op);

/* Makes room for `n` SQEs, submitting the queue if needed, so that a
 * chain of linked SQEs (IOSQE_IO_LINK) is not split across submissions.
 * Returns 0, -EINVAL (n larger than the queue) or -EBUSY. */
int weir__io_reserve(struct weir_loop *loop, unsigned n);

/* Asks the kernel to cancel every SQE of `op` in flight: each still
 * completes through op->done, most likely with -ECANCELED (or its real
 * result, if it won the race). Returns 0, -ENOENT (nothing in flight) or
 * -EBUSY (no SQE for the cancel request; try again from the loop). */
int weir__io_cancel(struct weir_loop *loop, struct weir__io_op *op);

/* CLOCK_MONOTONIC in nanoseconds: the clock of timers, and the one the
 * capture hands the engine. */
uint64_t weir__mono_ns(void);

/* The loop's ring, for what this interface does not cover: registering
 * provided-buffer rings (io_uring_register_buf_ring), fixed files,
 * probing opcodes. Never submit or reap with it directly. */
struct io_uring *weir__io_ring(struct weir_loop *loop);

/* ---- socket observers (for the proxy's sessions) ---- */

struct weir_sock;

/* What an observer of a weir_sock hears, on the loop thread, after the
 * completion that caused it has run:
 *  WEIR__SOCK_EV_SHUT_WR: a shutdown for writing (or both) completed;
 *  WEIR__SOCK_EV_ERROR:   an operation failed with res (not -ECANCELED);
 *  WEIR__SOCK_EV_FREED:   the socket is closed and every completion of
 *                         it delivered; unless held, it is gone (the
 *                         observer must not touch it).
 *                         This one may come inside weir_sock_close(),
 *                         when nothing of the socket was in flight. */
enum weir__sock_ev {
	WEIR__SOCK_EV_SHUT_WR = 1,
	WEIR__SOCK_EV_ERROR,
	WEIR__SOCK_EV_FREED,
};
typedef void (*weir__sock_obs_fn)(void *arg, struct weir_sock *s, int ev,
				  int res);
/* Sets (or, with NULL, clears) the socket's one observer. */
void weir__sock_observe(struct weir_sock *s, weir__sock_obs_fn fn,
			void *arg);
/* Keeps the socket's memory after its close and last completion (it then
 * reports WEIR__SOCK_EV_FREED, meaning closed and idle), so that those
 * who still hold a pointer get -ESHUTDOWN from it instead of touching
 * freed memory. weir__sock_release() lets it go (at once if idle). */
void weir__sock_hold(struct weir_sock *s);
void weir__sock_release(struct weir_sock *s);
/* The original destination a received message's ancillary data gives
 * (IP_ORIGDSTADDR / IPV6_ORIGDSTADDR: the socket asked for it with
 * IP(V6)_RECVORIGDSTADDR), into *dst; its length, or 0 if none. */
socklen_t weir__orig_dst(struct msghdr *msg,
			 struct sockaddr_storage *dst);
/* Bytes a real socket has received (0 for a link): a chained session's
 * byte counts, taken from its two real sockets. */
uint64_t weir__sock_rx_bytes(const struct weir_sock *s);

static inline bool weir__io_busy(const struct weir__io_op *op)
{
	return op->inflight_ != 0;
}

#endif /* WEIR_IO_INTERNAL_H */
