/* Operation records and the ring: binding SQEs to ops, submitting and
 * waiting, the one place where completions are dispatched, and
 * cancellation in the kernel.
 */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "io/loop.h"

static void cancel_done(struct weir__io_op *op, int res, unsigned flags)
{
	/* -ENOENT (the target had completed) and -EALREADY (it is running
	 * and will complete by itself) are normal: the target's own CQE
	 * is what matters. */
	(void)op, (void)res, (void)flags;
}

/* The ring, with the setup flags worth having where the kernel has them:
 * COOP_TASKRUN (5.19) runs completion work when the loop enters the
 * kernel anyway instead of interrupting it with an IPI, TASKRUN_FLAG says
 * when such work waits, SUBMIT_ALL (5.18) keeps submitting past an SQE
 * that fails. Older kernels get a plain ring. */
int weir__io_ring_init(struct weir_loop *loop, unsigned sq, unsigned cq)
{
	static const unsigned tries[] = {
		IORING_SETUP_COOP_TASKRUN | IORING_SETUP_TASKRUN_FLAG |
			IORING_SETUP_SUBMIT_ALL,
		0,
	};
	struct io_uring_params p;
	int rc = -EINVAL;

	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		memset(&p, 0, sizeof(p));
		p.flags = tries[i] | IORING_SETUP_CQSIZE;
		p.cq_entries = cq;
		rc = io_uring_queue_init_params(sq, &loop->ring, &p);
		if (rc != -EINVAL)
			break;
	}
	loop->cancel_op.done = cancel_done;
	return rc;
}

static struct io_uring_sqe *get_sqe(struct weir_loop *loop)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);

	if (sqe)
		return sqe;
	/* Full: hand the queue to the kernel and try once more. What
	 * completes meanwhile waits in the CQ ring for the loop. */
	io_uring_submit(&loop->ring);
	return io_uring_get_sqe(&loop->ring);
}

/* weir__io_sqe() without the closing check: close needs SQEs for its
 * cancel requests. */
struct io_uring_sqe *weir__io_sqe_any(struct weir_loop *loop,
				      struct weir__io_op *op)
{
	struct io_uring_sqe *sqe = get_sqe(loop);

	if (!sqe) {
		errno = EBUSY;
		return NULL;
	}
	io_uring_sqe_set_data(sqe, op);
	op->inflight_++;
	loop->inflight++;
	loop->stats.ops_submitted++;
	return sqe;
}

struct io_uring_sqe *weir__io_sqe(struct weir_loop *loop,
				  struct weir__io_op *op)
{
	assert(loop && op && op->done);
	if (loop->closing) {
		errno = ESHUTDOWN;
		return NULL;
	}
	return weir__io_sqe_any(loop, op);
}

int weir__io_reserve(struct weir_loop *loop, unsigned n)
{
	struct io_uring *ring = &loop->ring;

	if (loop->closing)
		return -ESHUTDOWN;
	if (n > ring->sq.ring_entries)
		return -EINVAL;
	if (io_uring_sq_space_left(ring) >= n)
		return 0;
	io_uring_submit(ring);
	return io_uring_sq_space_left(ring) >= n ? 0 : -EBUSY;
}

struct io_uring *weir__io_ring(struct weir_loop *loop)
{
	return &loop->ring;
}

int weir__io_cancel(struct weir_loop *loop, struct weir__io_op *op)
{
	struct io_uring_sqe *sqe;

	if (!op->inflight_)
		return -ENOENT;
	if (loop->closing)
		return 0; /* close cancels everything already */
	sqe = weir__io_sqe_any(loop, &loop->cancel_op);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op,
			       IORING_ASYNC_CANCEL_ALL);
	return 0;
}

/* One request that cancels every request of the ring (5.19). */
int weir__io_cancel_all(struct weir_loop *loop)
{
	struct io_uring_sqe *sqe = weir__io_sqe_any(loop, &loop->cancel_op);

	if (!sqe)
		return -EBUSY;
	io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
	return 0;
}

/* Work the kernel holds for us: completions to post (COOP_TASKRUN) or
 * that overflowed the CQ ring. */
static bool kernel_has_events(const struct io_uring *ring)
{
	unsigned kflags = IO_URING_READ_ONCE(*ring->sq.kflags);

	return kflags & (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW);
}

/* Submits what is queued and waits up to wait_ns (-1: no limit, 0: not
 * at all) for a completion, in one io_uring_enter(2) (EXT_ARG timeout).
 * Polling enters the kernel only when there is something to submit or
 * collect. Returns 0, -ETIME (waited in vain) or a hard -errno; an
 * interrupted wait, or a CQ overflow to reap first, is not an error. */
int weir__io_submit_wait(struct weir_loop *loop, int64_t wait_ns)
{
	struct io_uring *ring = &loop->ring;
	struct __kernel_timespec ts;
	struct io_uring_cqe *cqe;
	int rc;

	if (!wait_ns) {
		if (!io_uring_sq_ready(ring) && !kernel_has_events(ring))
			return 0;
		rc = io_uring_submit_and_get_events(ring);
	} else {
		ts.tv_sec = wait_ns / 1000000000;
		ts.tv_nsec = wait_ns % 1000000000;
		rc = io_uring_submit_and_wait_timeout(ring, &cqe, 1,
						      wait_ns > 0 ? &ts : NULL,
						      NULL);
	}
	if (rc == -EINTR || rc == -EAGAIN || rc == -EBUSY)
		return 0;
	return rc < 0 ? rc : 0;
}

static struct io_uring_cqe *next_cqe(struct io_uring *ring)
{
	struct io_uring_cqe *cqe;
	unsigned head;

	io_uring_for_each_cqe(ring, head, cqe)
		return cqe;
	return NULL;
}

/* The dispatch. The final CQE of an SQE is accounted before done runs,
 * so that done may free the op, reuse it, or close over its state. */
static unsigned dispatch(struct weir_loop *loop, struct weir__io_op *op,
			 int res, unsigned flags)
{
	bool internal = op == &loop->wake_op || op == &loop->cancel_op;

	assert(op && op->done && op->inflight_ > 0);
	loop->stats.cqes++;
	if (!(flags & IORING_CQE_F_MORE)) {
		op->inflight_--;
		loop->inflight--;
		loop->stats.ops_completed++;
	}
	op->done(op, res, flags);
	return !internal;
}

/* Dispatches the CQEs that are ready, at most a ring's worth so that
 * operations completing as fast as callbacks restart them cannot starve
 * posts and timers. Each CQE is released before its callback runs: the
 * callback may submit, and the kernel may then post more. Returns the
 * number of callbacks run for the loop's users. */
unsigned weir__io_reap(struct weir_loop *loop)
{
	struct io_uring *ring = &loop->ring;
	struct io_uring_cqe *cqe;
	unsigned n = 0;

	for (unsigned budget = ring->cq.ring_entries; budget; budget--) {
		struct weir__io_op *op;
		unsigned flags;
		int res;

		cqe = next_cqe(ring);
		if (!cqe)
			break;
		op = io_uring_cqe_get_data(cqe);
		res = cqe->res;
		flags = cqe->flags;
		io_uring_cqe_seen(ring, cqe);
		n += dispatch(loop, op, res, flags);
	}
	return n;
}
