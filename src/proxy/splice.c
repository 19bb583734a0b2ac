/* The kernel pump: a session with no data filter moves its bytes with
 * splice(2) through a pipe, socket -> pipe -> socket, and they never
 * enter user space (what HAProxy's `option splice-auto` does).
 *
 * Non-blocking splices driven by readiness: the loop thread splices as
 * long as the kernel moves bytes, and when a side would block it arms a
 * one-shot io_uring poll (POLLIN on the source or POLLOUT on the
 * destination) and returns to the loop; the poll's completion runs the
 * direction again. Splicing inside io_uring (IORING_OP_SPLICE) would
 * punt every blocking socket splice to a kernel worker thread; readiness
 * plus direct splices keeps the work on this thread.
 *
 * End of stream: when the source reports EOF and the pipe is empty, the
 * destination is shut down for writing (a half-close passes through);
 * the session ends when both directions are done.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy/proxy_internal.h"

/* Larger than the default 64 KiB: fewer rounds per megabyte at high
 * rates (HAProxy's tune.pipesize does the same). Only for directions
 * that move more than BIG_AFTER: each large pipe counts against the
 * user's pipe pages (fs.pipe-user-pages-soft), and short exchanges gain
 * nothing from it. */
#define PIPE_BYTES (1u << 20)
#define BIG_AFTER (256u << 10)

static void on_ready(struct weir__io_op *op, int res, unsigned flags)
{
	struct weir__splice_dir *d =
		weir__container_of(op, struct weir__splice_dir, poll_op);
	struct weir_session *s = d->s;

	(void)flags;
	if (res < 0 && res != -ECANCELED && !s->aborted)
		weir__session_fail(s, res);
	else if (!s->aborted && !d->done)
		weir__splice_run(d);
	weir__session_op_done(s);
}

int weir__splice_init(struct weir__splice_dir *d, struct weir_session *s,
		      int src, int dst, uint64_t *bytes)
{
	struct weir__worker *w = s->w;

	*d = (struct weir__splice_dir){ .s = s, .src = src, .dst = dst,
					.bytes = bytes, .pipe = { -1, -1 } };
	d->poll_op.done = on_ready;
	if (w->npipes) {
		w->npipes--;
		d->pipe[0] = w->pipes[w->npipes][0];
		d->pipe[1] = w->pipes[w->npipes][1];
		return 0;
	}
	if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC))
		return -errno;
	return 0;
}

/* An empty pipe goes back to the worker's pool; one with bytes left (the
 * session was cut) cannot be reused. */
void weir__splice_fini(struct weir__splice_dir *d)
{
	struct weir__worker *w = d->s ? d->s->w : NULL;

	if (d->pipe[0] < 0)
		return;
	if (w && !d->in_pipe && w->npipes < WEIR__PIPE_POOL) {
		w->pipes[w->npipes][0] = d->pipe[0];
		w->pipes[w->npipes][1] = d->pipe[1];
		w->npipes++;
	} else {
		close(d->pipe[0]);
		close(d->pipe[1]);
	}
	d->pipe[0] = d->pipe[1] = -1;
}

/* A direction that carries a lot gets a large pipe (best effort: a
 * smaller one only costs rounds). */
static void maybe_grow(struct weir__splice_dir *d)
{
	if (d->big || d->moved < BIG_AFTER)
		return;
	d->big = true;
	fcntl(d->pipe[1], F_SETPIPE_SZ, PIPE_BYTES);
}

/* Waits for fd to be ready for `events`. False if the loop refused. */
static bool wait_for(struct weir__splice_dir *d, int fd, short events)
{
	struct io_uring_sqe *sqe = weir__io_sqe(d->s->w->loop, &d->poll_op);

	if (!sqe)
		return false;
	io_uring_prep_poll_add(sqe, fd, (unsigned)events);
	d->s->ops++;
	return true;
}

enum step { STEP_MOVED, STEP_WAIT, STEP_FAIL };

static enum step fill(struct weir__splice_dir *d)
{
	ssize_t n = splice(d->src, NULL, d->pipe[1], NULL, PIPE_BYTES,
			   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);

	if (n > 0) {
		d->in_pipe += (uint32_t)n;
		return STEP_MOVED;
	}
	if (n == 0) {
		d->src_eof = true;
		return STEP_MOVED;
	}
	if (errno == EAGAIN)
		return STEP_WAIT;
	return STEP_FAIL;
}

static enum step drain(struct weir__splice_dir *d)
{
	ssize_t n = splice(d->pipe[0], NULL, d->dst, NULL, d->in_pipe,
			   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);

	if (n > 0) {
		d->in_pipe -= (uint32_t)n;
		*d->bytes += (uint64_t)n;
		d->moved += (uint64_t)n;
		maybe_grow(d);
		return STEP_MOVED;
	}
	if (n < 0 && errno == EAGAIN)
		return STEP_WAIT;
	return STEP_FAIL;
}

static void finish(struct weir__splice_dir *d)
{
	shutdown(d->dst, SHUT_WR);
	d->done = true;
	weir__session_dir_done(d->s);
}

void weir__splice_run(struct weir__splice_dir *d)
{
	for (;;) {
		enum step st;

		if (d->in_pipe) {
			st = drain(d);
			if (st == STEP_WAIT) {
				if (!wait_for(d, d->dst, POLLOUT))
					weir__session_fail(d->s, -ESHUTDOWN);
				return;
			}
		} else if (d->src_eof) {
			finish(d);
			return;
		} else {
			st = fill(d);
			if (st == STEP_WAIT) {
				if (!wait_for(d, d->src, POLLIN | POLLRDHUP))
					weir__session_fail(d->s, -ESHUTDOWN);
				return;
			}
		}
		if (st == STEP_FAIL) {
			weir__session_fail(d->s, -errno);
			return;
		}
	}
}
