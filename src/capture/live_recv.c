/* The worker's receive path under light load: a multishot recv on the
 * queue's socket with a ring of provided buffers (Linux 5.19+). The
 * kernel copies each packet message into one of the ring's buffers from
 * the worker's own task work, and the loop reaps them all in one
 * io_uring_enter; the round's verdicts go out in one send, posted to run
 * after the round's completions. Per wake-up that is two system calls
 * (io_uring_enter, sendto) where the poll + recvmmsg path needs three,
 * which matters on TCP's latency-bound path (about one packet per
 * wake-up: measured, TCP through weir gained about 15 %). A round of
 * LIVE_BUSY messages or more means load: the receive is cancelled and
 * the worker reads with recvmmsg while reads bring that many
 * (live_worker.c says why), then arms it again. The ring's buffers are
 * packet buffers (packet/buf.h): a packet still referenced when its
 * buffer goes back to the ring gets a new buffer instead. Without buffer
 * rings the worker falls back to the poll path (live_worker.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <liburing.h>

#include "capture/live_internal.h"
#include "packet/buf.h"

#define RING_BGID 1

static size_t ring_bytes(void)
{
	return RECV_RING_BUFS * sizeof(struct io_uring_buf);
}

static void put_back(struct weir__live_worker *w, unsigned short bid)
{
	struct recv_ring *r = &w->rr;

	if (weir__buf_shared(r->bufs[bid])) {
		struct weir_buf *nb = weir__buf_new(w->sock.bufsz);

		if (!nb)
			return; /* the ring runs one short until memory */
		weir__buf_put(r->bufs[bid]);
		r->bufs[bid] = nb;
	}
	io_uring_buf_ring_add(r->br, weir__buf_data(r->bufs[bid]),
			      (unsigned)w->sock.bufsz, bid,
			      io_uring_buf_ring_mask(RECV_RING_BUFS), 0);
	io_uring_buf_ring_advance(r->br, 1);
}

static void flush_round(void *arg, int status)
{
	struct weir__live_worker *w = arg;
	struct recv_ring *r = &w->rr;
	bool busy = r->round_msgs >= LIVE_BUSY;

	r->flush_posted = false;
	r->round_msgs = 0;
	if (status)
		return;
	weir__live_flush(w);
	/* The cancelled receive's last completion starts the reads. */
	if (busy && r->armed && !r->to_drain && !w->draining &&
	    weir__io_cancel(w->loop, &r->op) == 0) {
		r->to_drain = true;
		LIVE_INC(w, busy_reads);
	}
}

static void on_recv(struct weir__io_op *op, int res, unsigned flags)
{
	struct weir__live_worker *w = (struct weir__live_worker *)
		((char *)op - offsetof(struct weir__live_worker, rr.op));

	if (!(flags & IORING_CQE_F_MORE))
		w->rr.armed = false;
	if (res >= 0 && (flags & IORING_CQE_F_BUFFER)) {
		unsigned short bid = (unsigned short)
			(flags >> IORING_CQE_BUFFER_SHIFT);

		w->now = weir__mono_ns();
		weir__live_dgram(w, weir__buf_data(w->rr.bufs[bid]),
				 (size_t)res, w->rr.bufs[bid]);
		put_back(w, bid);
		w->rr.round_msgs++;
		if (!w->rr.flush_posted &&
		    weir_loop_post_req(w->loop, &w->rr.flush_req, flush_round,
				       w) == 0)
			w->rr.flush_posted = true;
	}
	if (w->rr.armed)
		return;
	/* The last completion: nothing can arrive through the ring any
	 * more, so reading the socket directly keeps the order. -ENOBUFS
	 * (every buffer filled before the loop came round) is load too. */
	if (!w->rr.to_drain && !w->draining &&
	    (res == -ENOBUFS ||
	     (res != -ECANCELED && w->rr.round_msgs >= LIVE_BUSY))) {
		w->rr.to_drain = true;
		LIVE_INC(w, busy_reads);
	}
	if (w->rr.to_drain || w->draining) {
		/* This round's switch is this one: flush_round must not
		 * cancel the receive the reads arm again. */
		w->rr.to_drain = false;
		w->rr.round_msgs = 0;
		if (!w->stopped)
			weir__live_drain(w);
	} else if (!w->stopped && res != -ECANCELED) {
		weir__live_recv_arm(w);
	}
	if (w->draining)
		weir__live_maybe_done(w);
}

void weir__live_recv_arm(struct weir__live_worker *w)
{
	struct io_uring_sqe *sqe;

	w->rr.op.done = on_recv;
	sqe = weir__io_sqe(w->loop, &w->rr.op);
	if (!sqe) {
		/* No slot (or closing: the post fails then too). */
		weir__live_read_later(w);
		return;
	}
	io_uring_prep_recv_multishot(sqe, w->sock.fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = RING_BGID;
	w->rr.armed = true;
}

int weir__live_recv_setup(struct weir__live_worker *w)
{
	struct recv_ring *r = &w->rr;
	struct io_uring_buf_reg reg = { .ring_entries = RECV_RING_BUFS,
					.bgid = RING_BGID };
	void *p = mmap(NULL, ring_bytes(), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int rc;

	if (p == MAP_FAILED)
		return -ENOMEM;
	r->br = p;
	reg.ring_addr = (uint64_t)(uintptr_t)p;
	rc = io_uring_register_buf_ring(weir__io_ring(w->loop), &reg, 0);
	if (rc < 0) {
		munmap(p, ring_bytes());
		r->br = NULL;
		return rc;
	}
	r->registered = true;
	io_uring_buf_ring_init(r->br);
	for (unsigned short i = 0; i < RECV_RING_BUFS; i++) {
		r->bufs[i] = weir__buf_new(w->sock.bufsz);
		if (!r->bufs[i]) {
			/* A ring without buffers would fail every receive
			 * at once: the poll path instead (recv_free frees
			 * what was made). */
			io_uring_unregister_buf_ring(weir__io_ring(w->loop),
						     RING_BGID);
			r->registered = false;
			return -ENOMEM;
		}
		io_uring_buf_ring_add(r->br, weir__buf_data(r->bufs[i]),
				      (unsigned)w->sock.bufsz, i,
				      io_uring_buf_ring_mask(RECV_RING_BUFS),
				      i);
	}
	io_uring_buf_ring_advance(r->br, RECV_RING_BUFS);
	return 0;
}

void weir__live_recv_cancel(struct weir__live_worker *w)
{
	if (w->rr.armed || weir__io_busy(&w->rr.op))
		weir__io_cancel(w->loop, &w->rr.op);
}

/* After the loop closed (nothing in flight). */
void weir__live_recv_free(struct weir__live_worker *w)
{
	struct recv_ring *r = &w->rr;

	for (unsigned i = 0; i < RECV_RING_BUFS; i++) {
		weir__buf_put(r->bufs[i]);
		r->bufs[i] = NULL;
	}
	if (r->br)
		munmap(r->br, ring_bytes());
	r->br = NULL;
}
