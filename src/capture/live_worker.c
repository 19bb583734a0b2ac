/* One worker: a thread in the queue's network namespace with its own
 * io_uring loop. Packets come in two ways, switched as NAPI switches
 * between interrupts and polling:
 *
 * - light load: a multishot receive (live_recv.c) hands each message
 *   over as it arrives, two system calls per wake-up;
 * - heavy load: once a round brings LIVE_BUSY messages or more, the
 *   receive is cancelled and the worker reads recvmmsg batches until a
 *   read brings fewer than LIVE_BUSY, then arms the receive again. An
 *   armed receive (like a multishot poll) stays on the socket's wait
 *   queue, and every arriving packet then pays a wake-up in the
 *   enqueuing softirq, on the sender's CPU: measured under a UDP flood,
 *   sock_def_readable took 5 % of that CPU with the receive armed
 *   throughout, 1 % with this switch. While the worker reads, nothing
 *   waits on the socket.
 *
 * Without buffer rings a one-shot poll, armed only once the socket is
 * empty, replaces the receive. Each batch's verdicts go out in one
 * message buffer. Worker 0 also runs the engine's housekeeping (pend
 * timeouts, flow expiry) on a timer.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <liburing.h>

#include "capture/live_internal.h"

#define TICK_NS 50000000ull          /* housekeeping period */
#define BATCH 64                     /* datagrams per recvmmsg */
#define BATCHES_PER_WAKE 16          /* then let posts and timers run */
#define FLOW_EXPIRE_MAX 4096         /* flows ended per tick */

void weir__live_flush(struct weir__live_worker *w)
{
	int rc;

	weir__verdicts_seal(&w->v);
	if (!w->v.len) {
		weir__verdicts_reset(&w->v); /* the backlog flag */
		return;
	}
	rc = weir__nfq_send(&w->sock, w->v.buf, w->v.len);
	LIVE_INC(w, verdict_batches);
	if (rc < 0)
		LIVE_INC(w, send_errors);
	weir__verdicts_reset(&w->v);
}

/* The kernel answers a request it refused with an error even unasked
 * (netlink_rcv_skb): a verdict for an id it does not hold would mean
 * a packet answered twice, so these are counted where `weir stats`
 * shows them instead of skipped. */
static void kernel_error(struct weir__live_worker *w,
			 const struct nlmsghdr *nlh)
{
	int e = weir__nfq_error(nlh);

	if (e == 0)
		return;  /* an acknowledgement */
	LIVE_INC(w, kernel_errors);
	atomic_store_explicit(&w->n.last_kernel_error, -e,
			      memory_order_relaxed);
}

void weir__live_dgram(struct weir__live_worker *w, void *buf, size_t len,
		      struct weir_buf *pbuf)
{
	struct nlmsghdr *nlh = buf;
	int left = (int)len;

	for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
		if (nlh->nlmsg_type == NLMSG_ERROR)
			kernel_error(w, nlh);
		else if (nlh->nlmsg_type != NLMSG_DONE)
			weir__live_message(w, nlh, pbuf);
}

static void drain_later(void *arg, int status);
static void arm_poll(struct weir__live_worker *w);

/* What waits for the next message once the socket is empty. */
static void arm_next(struct weir__live_worker *w)
{
	if (w->stopped || w->draining)
		return;
	if (!w->rr.registered) {
		if (!w->poll_armed)
			arm_poll(w);
	} else if (!w->rr.armed && !weir__io_busy(&w->rr.op)) {
		weir__live_recv_arm(w);
	}
}

/* Reads and classifies until a read brings fewer than LIVE_BUSY
 * messages, then arms what waits for the next message; or until the
 * budget is spent or a short read still brought LIVE_BUSY or more, and
 * then continues after the loop's other work. */
void weir__live_drain(struct weir__live_worker *w)
{
	/* Stopping reads everything: a packet left in the socket would be
	 * dropped by the kernel when it closes. */
	for (int b = 0; b < BATCHES_PER_WAKE || w->draining; b++) {
		int n = weir__nfq_recv(&w->sock);

		w->now = weir__mono_ns();
		/* A full read: the queue has a backlog (nfq_verdict.c). */
		w->v.backlog = n > 0 && n == (int)w->sock.usable;
		for (int i = 0; i < n; i++) {
			size_t len;
			void *d = weir__nfq_dgram(&w->sock, (unsigned)i, &len);

			weir__live_dgram(w, d, len,
					 weir__nfq_buf(&w->sock, (unsigned)i));
		}
		weir__live_flush(w);
		/* Also after an empty read when memory ran out: with no
		 * usable buffer every read is empty and nothing else would
		 * try again. */
		if (n > 0 || w->sock.usable < w->sock.batch)
			weir__nfq_recycle(&w->sock, n > 0 ? (unsigned)n : 0);
		if (n < (int)w->sock.usable || !w->sock.usable) {
			/* Short but busy: the sender is still at it, and
			 * the next read soon finds more. Arming the receive
			 * for it would cost a cancel and a round of small
			 * verdict batches; more batches take the queue's
			 * lock more often, which the enqueuing CPU then
			 * waits for (measured: 3-4 % more packets). */
			if (n >= LIVE_BUSY && !w->draining)
				break;
			arm_next(w);
			return;
		}
	}
	/* More is waiting: continue after the loop's other work. */
	weir__live_read_later(w);
}

void weir__live_read_later(struct weir__live_worker *w)
{
	if (!w->drain_posted &&
	    weir_loop_post_req(w->loop, &w->drain_req, drain_later, w) == 0)
		w->drain_posted = true;
}

static void drain_later(void *arg, int status)
{
	struct weir__live_worker *w = arg;

	w->drain_posted = false;
	if (status == 0)
		weir__live_drain(w);
}

static void on_readable(struct weir__io_op *op, int res, unsigned flags)
{
	struct weir__live_worker *w = (struct weir__live_worker *)
		((char *)op - offsetof(struct weir__live_worker, poll_op));

	(void)flags;
	w->poll_armed = false;
	if (res == -ECANCELED)
		return;
	weir__live_drain(w);
}

static void arm_poll(struct weir__live_worker *w)
{
	struct io_uring_sqe *sqe;

	w->poll_op.done = on_readable;
	sqe = weir__io_sqe(w->loop, &w->poll_op);
	if (!sqe)
		return;
	io_uring_prep_poll_add(sqe, w->sock.fd, POLLIN);
	w->poll_armed = true;
}

static void on_tick(struct weir_timer *t, void *arg, int status)
{
	struct weir__live_worker *w = arg;

	(void)t;
	if (status)
		return;
	weir_pend_expire(w->l->engine, 0);
	weir_flow_expire(w->l->flows, weir__mono_ns(), FLOW_EXPIRE_MAX);
	if (!w->stopped)
		weir_timer_start(w->loop, &w->tick, TICK_NS, on_tick, w);
}

static int enter_netns(const char *path, char *err, size_t errlen)
{
	int fd, rc = 0;

	if (!path)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || setns(fd, CLONE_NEWNET) < 0)
		rc = -errno;
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		snprintf(err, errlen, "network namespace %s: %s", path,
			 strerror(-rc));
	return rc;
}

static int worker_open(struct weir__live_worker *w)
{
	const struct weir__live_opts *o = &w->l->o;
	struct weir__nfq_cfg cfg = {
		.queue = (uint16_t)(o->queue_base + w->index),
		.copy_range = o->copy_range, .maxlen = o->maxlen,
		.fail_open = o->fail_open, .gso = true, .conntrack = true,
		.uid_gid = true };
	int rc;

	rc = enter_netns(o->netns, w->start_err, sizeof(w->start_err));
	if (rc == 0)
		rc = weir__nfq_open(&w->sock, &cfg, BATCH, o->rcvbuf,
				    w->start_err, sizeof(w->start_err));
	/* Bound asking for F_CONNTRACK, which tells whether the kernel has
	 * the glue (sock.no_conntrack, for the bypass); turned off before
	 * any rule steers a packet here when nothing reads it. A failure
	 * to turn it off only costs speed: the attributes stay on, and
	 * say so. */
	if (rc == 0 && !o->conntrack && !w->sock.no_conntrack) {
		char buf[WEIR__NFQ_CFG_BUF];

		if (weir__nfq_send(&w->sock, buf,
				   weir__nfq_ct_build(buf, cfg.queue,
						      false)) < 0)
			atomic_store(&w->l->conntrack, true);
	}
	if (rc < 0)
		return rc;
	w->n.early = w->sock.early;
	rc = weir__verdicts_init(&w->v, cfg.queue);
	if (rc == 0)
		rc = weir_loop_new(NULL, &w->loop);
	if (rc < 0)
		snprintf(w->start_err, sizeof(w->start_err),
			 "queue %u: %s", cfg.queue, strerror(-rc));
	return rc;
}

static void report_start(struct weir__live_worker *w, int rc)
{
	struct weir__live *l = w->l;

	pthread_mutex_lock(&l->start_lock);
	w->start_rc = rc;
	l->started++;
	pthread_cond_broadcast(&l->start_cond);
	pthread_mutex_unlock(&l->start_lock);
}

static void worker_close(struct weir__live_worker *w)
{
	if (w->loop)
		weir_loop_free(w->loop); /* cancels the poll and the timer */
	w->loop = NULL;
	weir__live_recv_free(w);
	weir__live_spare_free(w);
	weir__verdicts_fini(&w->v);
	if (w->sock.nl)
		weir__nfq_close(&w->sock);
}

void *weir__live_worker_main(void *arg)
{
	struct weir__live_worker *w = arg;
	int rc = worker_open(w);

	report_start(w, rc);
	if (rc < 0) {
		worker_close(w);
		return NULL;
	}
	/* The multishot receive path where the kernel has buffer rings;
	 * the poll path otherwise. */
	if (weir__live_recv_setup(w) == 0)
		weir__live_recv_arm(w);
	else
		arm_poll(w);
	if (w->index == 0)
		weir_timer_start(w->loop, &w->tick, TICK_NS, on_tick, w);
	weir_loop_run(w->loop);
	worker_close(w);
	return NULL;
}

/* ---- stopping ----------------------------------------------------------- */

void weir__live_maybe_done(struct weir__live_worker *w)
{
	/* A receive in flight may still deliver packets: wait for its
	 * end (cancelled by stop_begin). */
	if (!w->draining || w->held_head || w->stopped ||
	    weir__io_busy(&w->rr.op))
		return;
	w->stopped = true;
	weir__live_flush(w);
	weir_loop_stop(w->loop);
}

static void stop_begin(void *arg, int status)
{
	struct weir__live_worker *w = arg;

	if (status < 0)
		return; /* the loop closed first: nothing left to drain */
	w->draining = true;
	w->now = weir__mono_ns();
	/* A receive in flight may still take messages: the socket is read
	 * to its end once its last completion is in (live_recv.c), else a
	 * batch verdict here could cover a message not classified yet. */
	if (weir__io_busy(&w->rr.op))
		weir__live_recv_cancel(w);
	else
		weir__live_drain(w);
	weir__live_release_held(w);
	weir__live_flush(w);
	weir__live_maybe_done(w);
}

void weir__live_worker_stop(struct weir__live_worker *w)
{
	/* Cannot fail for memory; -ESHUTDOWN only if the loop already
	 * ended, and then it has nothing left to stop. */
	weir_loop_post_req(w->loop, &w->stop_req, stop_begin, w);
}
