/* The loop object, shared by the files of src/io/ only.
 *
 * Two halves on separate cache lines: what other threads touch (the post
 * queue, the wake and stop flags) and what only the loop thread touches
 * (the ring, timers, counters), so that posters do not bounce the loop's
 * hot line.
 */
#ifndef WEIR_IO_LOOP_H
#define WEIR_IO_LOOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "io/io_internal.h"

#define WEIR__CACHELINE 64

/* Armed timers: a binary min-heap on (deadline, seq) of pointers into the
 * callers' storage; each timer knows its slot, so cancel is O(log n). */
struct weir__timers {
	struct weir_timer **heap;
	uint32_t n, cap;
	uint64_t seq;                   /* next start number */
	struct weir_timer *canceled;    /* awaiting -ECANCELED, LIFO */
};

struct weir_loop {
	/* ---- any thread ---- */
	_Alignas(WEIR__CACHELINE)
	_Atomic(struct weir_post *) posts;   /* LIFO stack, or the closed
	                                      * mark (see post.c) */
	atomic_int awake;               /* 1: posters need not write (post.c) */
	atomic_int stop;
	atomic_ulong wake_writes;
	int efd;                        /* eventfd (blocking: see post.c) */

	/* ---- loop thread ---- */
	_Alignas(WEIR__CACHELINE)
	struct io_uring ring;
	atomic_int running;             /* in run/run_once/close */
	bool closing;                   /* no new posts, timers or ops */
	bool closed;                    /* everything completed */
	bool wake_armed;                /* the eventfd read is in flight */
	bool cancel_all;                /* a cancel-any is wanted (close) */
	uint32_t inflight;              /* SQEs without their final CQE */
	struct weir__io_op wake_op;     /* the eventfd read */
	struct weir__io_op cancel_op;   /* shared by all cancel requests */
	uint64_t wake_buf;
	struct weir__timers timers;
	struct weir_loop_stats stats;   /* wake_writes, timers_active and
	                                 * ops_inflight are filled on read */
};

/* op.c */
int weir__io_ring_init(struct weir_loop *loop, unsigned sq, unsigned cq);
struct io_uring_sqe *weir__io_sqe_any(struct weir_loop *loop,
				      struct weir__io_op *op);
int weir__io_submit_wait(struct weir_loop *loop, int64_t wait_ns);
unsigned weir__io_reap(struct weir_loop *loop);
int weir__io_cancel_all(struct weir_loop *loop);

/* post.c */
int weir__posts_init(struct weir_loop *loop);
void weir__posts_exit(struct weir_loop *loop);
void weir__wake(struct weir_loop *loop);
void weir__wake_arm(struct weir_loop *loop);
bool weir__posts_ready(struct weir_loop *loop);
bool weir__sleep_begin(struct weir_loop *loop);
void weir__sleep_end(struct weir_loop *loop);
unsigned weir__posts_run(struct weir_loop *loop);
unsigned weir__posts_close(struct weir_loop *loop);

/* timer.c */
void weir__timers_exit(struct weir__timers *t);
int64_t weir__timers_wait_ns(struct weir__timers *t, uint64_t now);
unsigned weir__timers_run(struct weir_loop *loop);
unsigned weir__timers_close(struct weir_loop *loop);

/* loop.c */
uint64_t weir__mono_ns(void);
struct weir_loop *weir__loop_current(void);

#endif /* WEIR_IO_LOOP_H */
