/* The loop: its lifetime, its rounds (submit and wait in one syscall,
 * then completions, posts and timers), stop, and the close that completes
 * everything outstanding.
 */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "io/loop.h"

#define SQ_DEFAULT 256u
#define SQ_MAX 32768u
#define CQ_MAX 65536u
#define NS_PER_MS 1000000

/* The loop this thread is running, so that its own posts skip the wake. */
static _Thread_local struct weir_loop *tls_loop;

uint64_t weir__mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct weir_loop *weir__loop_current(void)
{
	return tls_loop;
}

static int ring_sizes(const struct weir_loop_opts *o, unsigned *ret_sq,
		      unsigned *ret_cq)
{
	unsigned sq = o && o->sq_entries ? o->sq_entries : SQ_DEFAULT;
	unsigned cq = o && o->cq_entries ? o->cq_entries : 4 * sq;

	if (sq > SQ_MAX || cq > CQ_MAX || cq < sq)
		return -EINVAL;
	*ret_sq = sq;
	*ret_cq = cq;
	return 0;
}

int weir_loop_new(const struct weir_loop_opts *opts,
		  struct weir_loop **ret_loop)
{
	size_t size = (sizeof(struct weir_loop) + WEIR__CACHELINE - 1) &
		      ~(size_t)(WEIR__CACHELINE - 1);
	struct weir_loop *loop;
	unsigned sq, cq;
	int rc;

	if (!ret_loop)
		return -EINVAL;
	rc = ring_sizes(opts, &sq, &cq);
	if (rc)
		return rc;
	loop = aligned_alloc(WEIR__CACHELINE, size);
	if (!loop)
		return -ENOMEM;
	memset(loop, 0, sizeof(*loop));
	atomic_init(&loop->stop, 0);
	atomic_init(&loop->running, 0);
	rc = weir__io_ring_init(loop, sq, cq);
	if (rc)
		goto fail_free;
	rc = weir__posts_init(loop);
	if (rc)
		goto fail_ring;
	*ret_loop = loop;
	return 0;

fail_ring:
	io_uring_queue_exit(&loop->ring);
fail_free:
	free(loop);
	return rc;
}

/* Marks the loop as run by this thread; one runner at a time. */
static int enter(struct weir_loop *loop, struct weir_loop **ret_prev)
{
	if (atomic_exchange(&loop->running, 1))
		return -EBUSY;
	if (loop->closing) {
		atomic_store(&loop->running, 0);
		return -ESHUTDOWN;
	}
	*ret_prev = tls_loop;
	tls_loop = loop;
	return 0;
}

static void leave(struct weir_loop *loop, struct weir_loop *prev)
{
	tls_loop = prev;
	atomic_store(&loop->running, 0);
}

/* How long this round may wait: not at all when callbacks are ready,
 * else until the caller's timeout or the next timer, whichever comes
 * first; briefly when the eventfd read could not be put in the ring, so
 * that a post is not missed for long. */
static int64_t wait_ns(struct weir_loop *loop, int64_t timeout_ns)
{
	int64_t t = timeout_ns, due;

	if (!t || io_uring_cq_ready(&loop->ring))
		return 0;
	if (loop->timers.n || loop->timers.canceled) {
		due = weir__timers_wait_ns(&loop->timers, weir__mono_ns());
		if (!due)
			return 0;
		if (due > 0 && (t < 0 || due < t))
			t = due;
	}
	if (!loop->wake_armed && (t < 0 || t > NS_PER_MS))
		t = NS_PER_MS;
	return t;
}

/* One round. Returns the callbacks run for users, or a hard -errno. */
static int round_once(struct weir_loop *loop, int64_t timeout_ns)
{
	int64_t wait;
	unsigned n;
	int rc;

	weir__wake_arm(loop);
	wait = wait_ns(loop, timeout_ns);
	if (wait) {
		loop->stats.sleeps++;
		if (!weir__sleep_begin(loop))
			wait = 0; /* a post or stop came in */
	}
	rc = weir__io_submit_wait(loop, wait);
	if (wait)
		weir__sleep_end(loop);
	if (rc < 0 && rc != -ETIME)
		return rc;
	loop->stats.rounds++;
	n = weir__io_reap(loop);
	n += weir__posts_run(loop);
	n += weir__timers_run(loop);
	return n > INT_MAX ? INT_MAX : (int)n;
}

/* Rounds until a callback ran, the timeout passed, or a stop came: a
 * round may run none (a wake-up for posts an earlier round took). */
static int rounds(struct weir_loop *loop, int64_t timeout_ns)
{
	uint64_t end = timeout_ns > 0 ? weir__mono_ns() + (uint64_t)timeout_ns
				      : 0;
	int64_t left = timeout_ns;
	uint64_t now;
	int n;

	for (;;) {
		n = round_once(loop, left);
		if (n || !timeout_ns || atomic_load(&loop->stop))
			return n;
		if (timeout_ns > 0) {
			now = weir__mono_ns();
			if (now >= end)
				return 0;
			left = (int64_t)(end - now);
		}
	}
}

int weir_loop_run_once(struct weir_loop *loop, int64_t timeout_ns)
{
	struct weir_loop *prev;
	int rc;

	if (!loop || timeout_ns < -1)
		return -EINVAL;
	rc = enter(loop, &prev);
	if (rc)
		return rc;
	rc = rounds(loop, timeout_ns);
	leave(loop, prev);
	return rc;
}

int weir_loop_run(struct weir_loop *loop)
{
	struct weir_loop *prev;
	int rc;

	if (!loop)
		return -EINVAL;
	rc = enter(loop, &prev);
	if (rc)
		return rc;
	while (!atomic_exchange(&loop->stop, 0)) {
		rc = round_once(loop, -1);
		if (rc < 0)
			break;
		rc = 0;
	}
	leave(loop, prev);
	return rc;
}

void weir_loop_stop(struct weir_loop *loop)
{
	if (!loop)
		return;
	atomic_store(&loop->stop, 1);
	weir__wake(loop);
}

/* Cancels every kernel operation and dispatches until none is in flight.
 * The cancel request is repeated if operations outlive it (one the kernel
 * was still issuing, or running in io-wq). If the ring itself fails,
 * nothing more can complete and the rest is given up. */
static void drain(struct weir_loop *loop)
{
	bool want_cancel = true;
	int rc;

	while (loop->inflight) {
		if (want_cancel && !weir__io_cancel_all(loop))
			want_cancel = false;
		rc = weir__io_submit_wait(loop, want_cancel ? NS_PER_MS
						 : 1000 * NS_PER_MS);
		weir__io_reap(loop);
		if (rc == -ETIME)
			want_cancel = true;
		else if (rc < 0)
			break;
	}
}

int weir_loop_close(struct weir_loop *loop)
{
	struct weir_loop *prev;

	if (!loop)
		return -EINVAL;
	if (loop->closed)
		return 0;
	if (atomic_exchange(&loop->running, 1))
		return -EBUSY;
	prev = tls_loop;
	tls_loop = loop;
	loop->closing = true;
	weir__posts_close(loop);
	weir__timers_close(loop);
	drain(loop);
	loop->closed = true;
	leave(loop, prev);
	return 0;
}

void weir_loop_free(struct weir_loop *loop)
{
	int rc;

	if (!loop)
		return;
	rc = weir_loop_close(loop);
	assert(rc == 0 && "weir_loop_free on a running loop");
	if (rc)
		return; /* freeing under the runner's feet would be worse */
	weir__posts_exit(loop);
	io_uring_queue_exit(&loop->ring);
	weir__timers_exit(&loop->timers);
	free(loop);
}

int weir_loop_stats(const struct weir_loop *loop,
		    struct weir_loop_stats *ret_stats)
{
	if (!loop || !ret_stats)
		return -EINVAL;
	*ret_stats = loop->stats;
	ret_stats->ops_inflight = loop->inflight;
	ret_stats->timers_active = loop->timers.n;
	ret_stats->wake_writes = atomic_load_explicit(&loop->wake_writes,
						      memory_order_relaxed);
	return 0;
}
