/* weir event loop: one io_uring ring per loop, owned by the thread that
 * runs it. Every asynchronous operation of the loop (kernel operations,
 * timers, cross-thread posts) completes exactly once, on that thread, from
 * weir_loop_run() or weir_loop_run_once(), never inside the call that
 * started it. A loop that closes completes whatever is still outstanding
 * with -ECANCELED.
 *
 *   other threads ── weir_loop_post ──▶ queue ─┐ (one eventfd write per
 *                    weir_loop_stop ──▶ flag  ─┤  sleep wakes the loop)
 *                                              ▼
 *   loop thread:  run_once: submit + wait ─▶ dispatch CQEs ─▶ posts ─▶ timers
 *                    ▲                            │ op->done(op, res, flags)
 *                    └── callbacks start more ────┘
 *
 * Threads. Unless a function says otherwise, call it on the loop's thread:
 * the one running it, or, while no thread runs it, the one that owns it.
 * Any thread may call weir_loop_post() and weir_loop_stop();
 * weir_loop_stop() is also async-signal-safe. A loop may be created and
 * set up on one thread and run on another: it hands nothing to the kernel
 * before its first round (unless its submission queue fills up). Mind
 * that the kernel cancels a thread's io_uring requests when that thread
 * exits, so the thread that submits should outlive what it submitted.
 *
 * Socket and file operations: see "completion-based I/O for data
 * filters" at the end of this header (src/io/sock.c, sock_link.c, file.c,
 * iobuf.c). The same rules hold: exactly once, on the loop thread, never
 * inside the starting call, -ECANCELED at close; a start that fails
 * returns -errno and never completes.
 */
#ifndef WEIR_IO_H
#define WEIR_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

struct weir_loop;

/* ---- loops ---------------------------------------------------------- */

/* Loop settings. All-zero (or NULL) means the defaults. */
struct weir_loop_opts {
	unsigned sq_entries;   /* submission queue size; 0: 256. Rounded up
	                        * to a power of two by the kernel; at most
	                        * 32768 */
	unsigned cq_entries;   /* completion queue size; 0: 4 x sq_entries,
	                        * room for multishot bursts. At least
	                        * sq_entries */
};

/* A new loop with its ring, owned by the calling thread until another
 * thread runs it. *ret_loop is written only on success. Returns 0,
 * -EINVAL (bad opts), -ENOMEM, or the error of io_uring_setup(2) or
 * eventfd(2) (-ENOSYS, -EPERM when io_uring is disabled, -EMFILE...). */
int weir_loop_new(const struct weir_loop_opts *opts,
		  struct weir_loop **ret_loop);

/* Closes the loop: from now on, posts, timers and new operations are
 * refused (-ESHUTDOWN). Then completes, each exactly once and on the
 * calling thread: every queued post with -ECANCELED, every timer with
 * -ECANCELED, and every kernel operation, after cancelling them all in the
 * kernel and waiting until none is in flight (an operation the kernel
 * finished before the cancel took effect reports its real result). The
 * loop's memory stays valid, so threads that may still post get
 * -ESHUTDOWN instead of a crash, until weir_loop_free().
 * Returns 0 (also when already closed) or -EBUSY when the loop is running
 * (call it after weir_loop_run() returned, never from a callback). */
int weir_loop_close(struct weir_loop *loop);

/* Closes the loop if needed (see weir_loop_close()) and frees it. No other
 * thread may be inside a call on the loop or start one. NULL is fine. */
void weir_loop_free(struct weir_loop *loop);

/* Runs the loop until weir_loop_stop(). Returns 0 when stopped (the stop
 * is consumed), -EBUSY when the loop already runs (nested or from two
 * threads), -ESHUTDOWN when closed, or -errno of io_uring_enter(2). */
int weir_loop_run(struct weir_loop *loop);

/* One round: waits until at least one callback can run or `timeout_ns`
 * passes (-1: no limit; 0: do not wait), then runs every callback that
 * is ready (completions, posts, timers due). Returns the number of
 * callbacks run (0 after a timeout or a stop), or the errors of
 * weir_loop_run(). A pending stop makes it return without waiting, but
 * only weir_loop_run() consumes it. */
int weir_loop_run_once(struct weir_loop *loop, int64_t timeout_ns);

/* Makes weir_loop_run() return after the callbacks of its current round,
 * or at once if it is waiting; if the loop is not running, the next
 * weir_loop_run() returns at once. Any thread, async-signal-safe (a
 * lock-free flag and at most one write(2) on an eventfd); the loop must
 * not be freed while this runs. */
void weir_loop_stop(struct weir_loop *loop);

/* ---- cross-thread posts -------------------------------------------- */

/* A posted function: status is 0 when it runs, -ECANCELED when the loop
 * closed first. Either way it runs once, on the loop thread. */
typedef void (*weir_post_fn)(void *arg, int status);

/* Queues fn(arg, status) to run on the loop thread, in posting order,
 * never inside this call (from the loop thread too). Any thread, not
 * async-signal-safe (it allocates). Only a post that finds the loop
 * asleep writes to its eventfd; all others, however many, cost no
 * syscall. Returns 0, -EINVAL, -ENOMEM, or -ESHUTDOWN once the loop is
 * closing: then fn will not run. */
int weir_loop_post(struct weir_loop *loop, weir_post_fn fn, void *arg);

/* A post in the caller's storage, for paths that must neither allocate
 * nor fail (a held packet's resumption). Fields are private. */
struct weir_post {
	struct weir_post *next_;
	weir_post_fn fn_;
	void *arg_;
	int owned_;                 /* allocated by weir_loop_post() */
};

/* weir_loop_post() without allocating: `req` carries the post. Returns
 * 0, -EINVAL or -ESHUTDOWN (loop closing: fn will not run). `req` must
 * stay valid and must not be posted again until fn has started; fn may
 * then post it again or free it. Any thread. */
int weir_loop_post_req(struct weir_loop *loop, struct weir_post *req,
		       weir_post_fn fn, void *arg);

/* ---- timers --------------------------------------------------------- */

struct weir_timer;

/* A timer's callback: status 0 when it expired, -ECANCELED when it was
 * cancelled or the loop closed. The timer is idle again when this runs,
 * so it may start it again or free its storage. */
typedef void (*weir_timer_fn)(struct weir_timer *timer, void *arg,
			      int status);

/* A one-shot timer in the caller's storage, so that starting one never
 * allocates (the loop's heap of pointers grows by doubling, rarely). The
 * fields are private. Zero-filled storage is an idle timer. The storage
 * must stay valid and unmoved from weir_timer_start() until the callback
 * has run. Timers belong to the loop thread: other threads post first. */
struct weir_timer {
	uint64_t deadline_;         /* CLOCK_MONOTONIC ns */
	uint64_t seq_;              /* start order: ties fire first-started */
	weir_timer_fn fn_;
	void *arg_;
	struct weir_loop *loop_;
	struct weir_timer *next_;   /* list of cancelled timers */
	uint32_t slot_;             /* heap index + 1 while armed */
	uint32_t state_;            /* idle, armed, cancelled */
};

/* Starts an idle timer: fn(timer, arg, 0) runs from the loop once
 * `after_ns` nanoseconds have passed (0: in the next round, never inside
 * this call). Timers due at the same time fire in the order started.
 * Returns 0, -EINVAL, -EBUSY (the timer is armed or its cancellation
 * has not been delivered yet), -ENOMEM, -ESHUTDOWN (loop closing). */
int weir_timer_start(struct weir_loop *loop, struct weir_timer *timer,
		     uint64_t after_ns, weir_timer_fn fn, void *arg);

/* Moves an armed timer's expiry to `after_ns` from now, without a
 * callback: the cheap way to push back an idle timeout. Returns 0 or
 * -ENOENT (the timer is not armed). */
int weir_timer_modify(struct weir_timer *timer, uint64_t after_ns);

/* Cancels an armed timer: its callback runs with -ECANCELED from the loop,
 * never inside this call. Returns 0, -EALREADY (already cancelled, the
 * callback is pending) or -ENOENT (idle: never started, or its callback
 * has run or is running). */
int weir_timer_cancel(struct weir_timer *timer);

/* ---- statistics ---------------------------------------------------- */

/* Counters since the loop was made. ops_* count the loop's own
 * operations too (its eventfd read, cancellations), so that
 * ops_submitted == ops_completed + ops_inflight. */
struct weir_loop_stats {
	uint64_t rounds;          /* rounds of weir_loop_run_once() */
	uint64_t ops_submitted;   /* SQEs bound to an operation */
	uint64_t ops_completed;   /* final completions (no more to come) */
	uint64_t ops_inflight;    /* submitted, final completion not seen */
	uint64_t cqes;            /* all completions, multishot ones too */
	uint64_t posts;           /* posts run with status 0 */
	uint64_t posts_canceled;  /* posts run with -ECANCELED */
	uint64_t timers_fired;    /* timers run with status 0 */
	uint64_t timers_canceled; /* timers run with -ECANCELED */
	uint64_t timers_active;   /* armed now */
	uint64_t sleeps;          /* rounds that got ready to block in the
	                           * kernel (posters had to write) */
	uint64_t wakeups;         /* eventfd wake-ups the loop consumed */
	uint64_t wake_writes;     /* eventfd writes by posts and stops: at
	                           * most one per sleep */
};

/* Fills *ret_stats. Loop thread (wake_writes is exact at any time, the
 * rest only there). Returns 0 or -EINVAL. */
int weir_loop_stats(const struct weir_loop *loop,
		    struct weir_loop_stats *ret_stats);


/* ==== completion-based I/O for data filters ===========================
 *
 * The application tier's async I/O (after TMG's IFWXSocket, IFWXIOBuffer
 * and IFWXIOCompletion::CompleteAsyncIO). Every operation starts on a
 * loop, completes exactly once on that loop's thread, never inside the
 * call that started it, through ONE callback of the caller's choosing,
 * with the caller's 64-bit user-data word:
 *
 *   complete(target, success, error, buf, user_data, ext_addr, ext_len)
 *
 * An operation that fails to start returns a negative errno and never
 * completes; the caller keeps what it passed.
 */

/* ---- buffers ---------------------------------------------------------- */

/* A reference-counted byte buffer. `data`/`len` are the bytes in use,
 * `cap` how many `data` may hold. A buffer handed to a send is immutable
 * and belongs to the next hop until the send completes: the sender keeps
 * its reference but must not write to it before then, nor after while
 * weir_iobuf_writable() says no (a link hands the very buffer over, and
 * the receiver may still hold it). A window shares
 * another buffer's bytes (and keeps it alive): it is read-only. */
struct weir_iobuf {
	uint8_t *data;
	uint32_t len;
	uint32_t cap;
	/* private */
	uint32_t refcnt_;
	uint32_t flags_;
	struct weir_iobuf *parent_;
};

/* A buffer of `cap` bytes (len 0), one reference for the caller. NULL on
 * ENOMEM. Any thread. */
struct weir_iobuf *weir_iobuf_new(uint32_t cap);
/* A buffer holding a copy of bytes[0..len). */
struct weir_iobuf *weir_iobuf_from(const void *bytes, uint32_t len);
/* A read-only view of b's bytes [off, off+len) (clamped to b->len) that
 * keeps b alive. NULL on ENOMEM or off > b->len. */
struct weir_iobuf *weir_iobuf_window(struct weir_iobuf *b, uint32_t off,
				     uint32_t len);
/* +1 reference; returns b. Any thread (atomic). */
struct weir_iobuf *weir_iobuf_ref(struct weir_iobuf *b);
/* -1 reference; the last frees it. NULL is fine. Any thread. */
void weir_iobuf_unref(struct weir_iobuf *b);
/* True when nobody else holds a reference and it is not a window: the
 * only case where writing to data is allowed. */
bool weir_iobuf_writable(const struct weir_iobuf *b);

/* ---- the completion interface ----------------------------------------- */

/* success: the operation did what it was asked; otherwise error is the
 *   negative errno (-ECANCELED when its socket/file was closed first).
 * buf: receives and reads: the data (len 0 = end of stream), with one
 *   reference that now belongs to the callee; sends and writes: NULL.
 *   A receive into the caller's buffer hands that buffer back, also on
 *   failure; there, end of stream is "no bytes added" (len unchanged).
 *   On datagram sockets a 0-length buffer is an empty datagram, always;
 *   a datagram link's receive fails with -ESHUTDOWN once the peer shut
 *   down writing (datagrams have no end of stream to say it with). A
 *   datagram larger than the caller's buffer fails the receive with
 *   -EMSGSIZE and is dropped.
 * ext_addr/ext_len: for UDP receives only, the external address: the
 *   source when receiving from the external side, the destination when
 *   receiving from the internal side; NULL/0 otherwise. It comes from a
 *   packet: never use it for authentication. */
typedef void (*weir_io_complete_fn)(void *target, bool success, int error,
				    struct weir_iobuf *buf, uint64_t user_data,
				    const struct sockaddr *ext_addr,
				    socklen_t ext_len);

/* A filter's completion interface: the function and its object. */
struct weir_io_target {
	weir_io_complete_fn complete;
	void *target;
};

/* ---- sockets ----------------------------------------------------------- */

/* A socket as a data filter sees it: a real TCP or UDP socket, or one end
 * of an in-memory link to the neighbouring filter of a chain. Same calls,
 * same completions, either way. Owned by one loop; calls from its thread
 * only. */
struct weir_sock;

enum weir_sock_kind {
	WEIR_SOCK_STREAM = 1,   /* TCP, or a stream link */
	WEIR_SOCK_DGRAM,        /* UDP, or a datagram link */
};

/* Wraps a connected or bound socket fd (non-blocking is set), which the
 * weir_sock then owns and closes. `side_external`: receives report the
 * source address as the external address (else the destination; see
 * above). 0, -EINVAL, -ENOMEM. */
int weir_sock_from_fd(struct weir_loop *loop, int fd, bool side_external,
		      struct weir_sock **ret_sock);

/* Two linked in-memory ends: what one sends the other receives, in order,
 * without a copy (the very buffer is handed over). A send completes when
 * the other end's receive has taken the buffer; at most one send per end
 * waits for a receive (the back-pressure of a chain). A shutdown(SHUT_WR)
 * is seen by the other end as a 0-length receive (a datagram link:
 * -ESHUTDOWN, since an empty datagram is data); a close as an error
 * (-ECONNRESET) on its pending and later operations, except that the
 * other end still reads end of stream, not a reset, when the closing end
 * had shut down writing (as with TCP). Sends queue behind the waiting one
 * and complete in order. */
int weir_sock_pair(struct weir_loop *loop, enum weir_sock_kind kind,
		   struct weir_sock **ret_a, struct weir_sock **ret_b);

/* Receives into `buf` (appending after buf->len, up to buf->cap; the
 * caller's reference is handed to the operation and comes back in the
 * completion), or into a buffer weir supplies when buf is NULL (on a link
 * that is the sender's own buffer: zero copy). At most one receive in
 * flight per socket: -EBUSY. buf must be writable (-EINVAL) and not full
 * (-ENOBUFS). On a datagram socket it is weir_sock_recvfrom(). */
int weir_sock_recv(struct weir_sock *s, struct weir_iobuf *buf,
		   const struct weir_io_target *t, uint64_t user_data);
/* Sends all of buf's bytes (a stream send completes after the last byte
 * was taken). weir takes its own reference until the completion. Sends
 * complete in order. An empty send on a stream is refused (-EINVAL): on
 * a link it would read as end of stream. */
int weir_sock_send(struct weir_sock *s, struct weir_iobuf *buf,
		   const struct weir_io_target *t, uint64_t user_data);
/* Datagram receive; the completion carries the external address. */
int weir_sock_recvfrom(struct weir_sock *s, struct weir_iobuf *buf,
		       const struct weir_io_target *t, uint64_t user_data);
/* Datagram send to `to` (NULL: the connected peer). */
int weir_sock_sendto(struct weir_sock *s, struct weir_iobuf *buf,
		     const struct sockaddr *to, socklen_t to_len,
		     const struct weir_io_target *t, uint64_t user_data);
/* shutdown(2) after the sends already started; completes like a send. */
int weir_sock_shutdown(struct weir_sock *s, int how,
		       const struct weir_io_target *t, uint64_t user_data);
/* Closes: every operation still in flight completes with -ECANCELED
 * (once, from the loop), then the socket is freed. Close every socket
 * before weir_loop_free() (after weir_loop_close() is fine). */
void weir_sock_close(struct weir_sock *s);
/* The fd of a real socket (-1 for a link end), for splice and options. */
int weir_sock_fd(const struct weir_sock *s);
/* Stream or datagram. */
enum weir_sock_kind weir_sock_kind(const struct weir_sock *s);

/* ---- files ------------------------------------------------------------- */

/* A file for data filters: reads and writes at offsets, completing
 * through the same callback (the seed's spool file with WriteFile at an
 * offset). */
struct weir_file;

/* An anonymous temporary file in `dir` (O_TMPFILE: it never has a name
 * and vanishes with its last descriptor; NULL dir = /tmp). 0 or -errno. */
int weir_file_tmp(struct weir_loop *loop, const char *dir,
		  struct weir_file **ret_file);
/* Writes all of buf's bytes at `off`; weir holds a reference meanwhile. */
int weir_file_write(struct weir_file *f, uint64_t off, struct weir_iobuf *buf,
		    const struct weir_io_target *t, uint64_t user_data);
/* Reads up to `len` bytes at `off` into a new buffer handed to the
 * completion (len 0 in it: end of file). len 0 is refused (-EINVAL). */
int weir_file_read(struct weir_file *f, uint64_t off, uint32_t len,
		   const struct weir_io_target *t, uint64_t user_data);
/* Closes; operations in flight complete with -ECANCELED first. */
void weir_file_close(struct weir_file *f);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_IO_H */
