/* Unit tests for the io_uring event loop: posts from many threads and from
 * the loop thread, timers (order, ties, cancel, modify, thousands), kernel
 * operations through op records (NOP, pipe read, socket recv, multishot
 * recv with a provided-buffer ring), close with everything outstanding,
 * and stop from another thread, from a callback and from a signal. Each
 * callback is counted: exactly once, on the loop thread, never inline. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <weir/io.h>

#include "io/io_internal.h"
#include "io/loop.h"

#define MS 1000000ll

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct weir_loop *new_loop(void)
{
	struct weir_loop *loop = NULL;

	assert_int_equal(weir_loop_new(NULL, &loop), 0);
	assert_non_null(loop);
	return loop;
}

/* Runs rounds until *done is true. The 10 s limit is a guard against a
 * hang, not a synchronisation: every test's condition comes from events. */
static void run_until(struct weir_loop *loop, const atomic_int *done)
{
	uint64_t end = mono_ns() + 10000 * MS;

	while (!atomic_load(done)) {
		assert_true(weir_loop_run_once(loop, 100 * MS) >= 0);
		assert_true(mono_ns() < end);
	}
}

static struct weir_loop_stats stats_of(struct weir_loop *loop)
{
	struct weir_loop_stats st;

	assert_int_equal(weir_loop_stats(loop, &st), 0);
	assert_int_equal(st.ops_submitted, st.ops_completed + st.ops_inflight);
	return st;
}

/* ---- lifetime --------------------------------------------------------- */

static void new_and_free(void **state)
{
	struct weir_loop_opts bad = { .sq_entries = 64, .cq_entries = 32 };
	struct weir_loop_opts ok = { .sq_entries = 8 };
	struct weir_loop *loop = NULL;
	struct weir_loop_stats st;

	(void)state;
	assert_int_equal(weir_loop_new(&bad, &loop), -EINVAL);
	assert_null(loop);
	assert_int_equal(weir_loop_new(NULL, NULL), -EINVAL);
	assert_int_equal(weir_loop_new(&ok, &loop), 0);
	st = stats_of(loop);
	assert_int_equal(st.ops_submitted, 0);
	assert_int_equal(weir_loop_run_once(loop, 0), 0);
	assert_int_equal(weir_loop_run_once(loop, -2), -EINVAL);
	weir_loop_free(loop);
	weir_loop_free(NULL);
}

static void run_once_timeout(void **state)
{
	struct weir_loop *loop = new_loop();
	uint64_t t0 = mono_ns();

	(void)state;
	assert_int_equal(weir_loop_run_once(loop, 0), 0);
	assert_int_equal(weir_loop_run_once(loop, 3 * MS), 0);
	assert_true(mono_ns() - t0 >= 3 * MS);
	weir_loop_free(loop);
}

/* ---- posts ------------------------------------------------------------ */

#define POSTERS 8
#define PER_POSTER 20000

struct posts {
	struct weir_loop *loop;
	pthread_t loop_thread;
	atomic_int ran;
	atomic_int done;
	atomic_int bad;               /* wrong thread, order or status */
	uint32_t last[POSTERS];       /* per poster, last sequence run */
	int idx;
};

static struct posts P;

static void counted(void *arg, int status)
{
	uintptr_t v = (uintptr_t)arg;
	uint32_t who = (uint32_t)(v >> 32), seq = (uint32_t)v;

	if (status || !pthread_equal(pthread_self(), P.loop_thread) ||
	    seq != P.last[who] + 1)
		atomic_fetch_add(&P.bad, 1);
	P.last[who] = seq;
	if (atomic_fetch_add(&P.ran, 1) + 1 == POSTERS * PER_POSTER)
		atomic_store(&P.done, 1);
}

static void *poster(void *arg)
{
	uintptr_t who = (uintptr_t)arg;

	for (uint32_t seq = 1; seq <= PER_POSTER; seq++) {
		if (weir_loop_post(P.loop, counted,
				   (void *)(who << 32 | seq)) != 0)
			atomic_fetch_add(&P.bad, 1);
		if (seq % 64 == 0)
			sched_yield(); /* spread posts over many rounds */
	}
	return NULL;
}

static void posts_from_many_threads(void **state)
{
	pthread_t th[POSTERS];
	struct weir_loop_stats st;

	(void)state;
	memset(&P, 0, sizeof(P));
	P.loop = new_loop();
	P.loop_thread = pthread_self();
	for (uintptr_t i = 0; i < POSTERS; i++)
		pthread_create(&th[i], NULL, poster, (void *)i);
	run_until(P.loop, &P.done);
	for (int i = 0; i < POSTERS; i++)
		pthread_join(th[i], NULL);
	/* Nothing more may run: each post exactly once. */
	assert_int_equal(weir_loop_run_once(P.loop, 0), 0);
	assert_int_equal(atomic_load(&P.ran), POSTERS * PER_POSTER);
	assert_int_equal(atomic_load(&P.bad), 0);
	st = stats_of(P.loop);
	assert_int_equal(st.posts, POSTERS * PER_POSTER);
	/* Coalescing: at most one write per sleep of the loop. */
	assert_true(st.wake_writes <= st.sleeps);
	assert_true(st.wakeups <= st.wake_writes);
	print_message("  %d posts: %llu eventfd writes, %llu sleeps, "
		      "%llu rounds\n", POSTERS * PER_POSTER,
		      (unsigned long long)st.wake_writes,
		      (unsigned long long)st.sleeps,
		      (unsigned long long)st.rounds);
	weir_loop_free(P.loop);
}

static void *post_batch(void *arg)
{
	for (uint32_t seq = 1; seq <= 1000; seq++)
		if (weir_loop_post(arg, counted, (void *)(uintptr_t)seq))
			atomic_fetch_add(&P.bad, 1);
	return NULL;
}

/* Posts made while the loop does not sleep cost no eventfd write; once it
 * sleeps, the first post wakes it and the others do not write. */
static void posts_coalesce(void **state)
{
	pthread_t th;

	(void)state;
	memset(&P, 0, sizeof(P));
	P.loop = new_loop();
	P.loop_thread = pthread_self();
	pthread_create(&th, NULL, post_batch, P.loop);
	pthread_join(th, NULL);
	assert_int_equal(stats_of(P.loop).wake_writes, 0);
	assert_int_equal(weir_loop_run_once(P.loop, -1), 1000);
	/* The loop sleeps (briefly): it is awake again with no write. */
	assert_int_equal(weir_loop_run_once(P.loop, 1 * MS), 0);
	assert_int_equal(stats_of(P.loop).wake_writes, 0);
	/* Asleep, as far as posters can tell: one write for 1000 posts. */
	memset(P.last, 0, sizeof(P.last));
	atomic_store(&P.loop->awake, 0);
	pthread_create(&th, NULL, post_batch, P.loop);
	pthread_join(th, NULL);
	assert_int_equal(stats_of(P.loop).wake_writes, 1);
	assert_int_equal(weir_loop_run_once(P.loop, -1), 1000);
	assert_int_equal(atomic_load(&P.bad), 0);
	weir_loop_free(P.loop);
}

struct racer {
	struct weir_loop *loop;
	atomic_int accepted, ran, canceled, bad;
};

static void raced(void *arg, int status)
{
	struct racer *r = arg;

	if (status == 0)
		atomic_fetch_add(&r->ran, 1);
	else if (status == -ECANCELED)
		atomic_fetch_add(&r->canceled, 1);
	else
		atomic_fetch_add(&r->bad, 1);
}

static void *post_until_refused(void *arg)
{
	struct racer *r = arg;
	int rc;

	while ((rc = weir_loop_post(r->loop, raced, r)) == 0)
		atomic_fetch_add(&r->accepted, 1);
	if (rc != -ESHUTDOWN)
		atomic_fetch_add(&r->bad, 1);
	return NULL;
}

/* Posts racing with close: each accepted post runs exactly once (0 or
 * -ECANCELED), each refused one never. */
static void posts_race_close(void **state)
{
	struct racer r = { .loop = new_loop() };
	pthread_t th[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, post_until_refused, &r);
	while (atomic_load(&r.ran) < 10000)
		assert_true(weir_loop_run_once(r.loop, 1000 * MS) >= 0);
	assert_int_equal(weir_loop_close(r.loop), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(atomic_load(&r.bad), 0);
	assert_int_equal(atomic_load(&r.ran) + atomic_load(&r.canceled),
			 atomic_load(&r.accepted));
	print_message("  %d run, %d cancelled by the close\n",
		      atomic_load(&r.ran), atomic_load(&r.canceled));
	weir_loop_free(r.loop);
}

struct reqs {
	struct weir_loop *loop;
	struct weir_post req[64];
	int runs[64], status[64];
	int again;                    /* reposts of req[0] left */
	atomic_int done;
};

static struct reqs R;

static void on_req(void *arg, int status)
{
	int i = (int)(intptr_t)arg;

	R.runs[i]++;
	R.status[i] = status;
	/* The record is free again: it may be posted from its own call. */
	if (i == 0 && status == 0 && R.again-- > 0)
		assert_int_equal(weir_loop_post_req(R.loop, &R.req[0], on_req,
						    arg), 0);
	else if (i == 0)
		atomic_store(&R.done, 1);
}

static void *post_reqs(void *arg)
{
	(void)arg;
	for (intptr_t i = 1; i < 64; i++)
		if (weir_loop_post_req(R.loop, &R.req[i], on_req, (void *)i))
			abort();
	return NULL;
}

/* Posts in caller storage: no allocation, reusable from their callback,
 * cancelled by close like the others. */
static void post_req_in_caller_storage(void **state)
{
	pthread_t th;

	(void)state;
	memset(&R, 0, sizeof(R));
	R.loop = new_loop();
	R.again = 3;
	pthread_create(&th, NULL, post_reqs, NULL);
	pthread_join(th, NULL);
	assert_int_equal(weir_loop_post_req(R.loop, &R.req[0], on_req, 0), 0);
	assert_int_equal(weir_loop_post_req(R.loop, NULL, on_req, 0), -EINVAL);
	run_until(R.loop, &R.done);
	assert_int_equal(R.runs[0], 4);
	for (int i = 1; i < 64; i++) {
		assert_int_equal(R.runs[i], 1);
		assert_int_equal(R.status[i], 0);
		/* Queued again, then cancelled by the close. */
		assert_int_equal(weir_loop_post_req(R.loop, &R.req[i], on_req,
						    (void *)(intptr_t)i), 0);
	}
	assert_int_equal(weir_loop_close(R.loop), 0);
	for (int i = 1; i < 64; i++) {
		assert_int_equal(R.runs[i], 2);
		assert_int_equal(R.status[i], -ECANCELED);
	}
	assert_int_equal(weir_loop_post_req(R.loop, &R.req[1], on_req, 0),
			 -ESHUTDOWN);
	weir_loop_free(R.loop);
}

struct nested {
	struct weir_loop *loop;
	int outer, inner;
	int inner_during_outer;       /* inner ran inside outer: a bug */
	int rc_run, rc_close;
};

static void inner_post(void *arg, int status)
{
	struct nested *n = arg;

	assert_int_equal(status, 0);
	n->inner++;
}

static void outer_post(void *arg, int status)
{
	struct nested *n = arg;
	uint64_t writes = stats_of(n->loop).wake_writes;

	assert_int_equal(status, 0);
	n->outer++;
	assert_int_equal(weir_loop_post(n->loop, inner_post, n), 0);
	n->inner_during_outer = n->inner;
	/* On the loop thread: no eventfd write needed. */
	assert_int_equal(stats_of(n->loop).wake_writes, writes);
	/* No nesting, no closing from a callback. */
	n->rc_run = weir_loop_run_once(n->loop, 0);
	n->rc_close = weir_loop_close(n->loop);
}

static void post_from_loop_thread(void **state)
{
	struct nested n = { .loop = new_loop() };

	(void)state;
	/* Posted by the owner before it runs the loop: not run yet. */
	assert_int_equal(weir_loop_post(n.loop, outer_post, &n), 0);
	assert_int_equal(n.outer, 0);
	assert_int_equal(weir_loop_post(NULL, outer_post, &n), -EINVAL);
	assert_int_equal(weir_loop_post(n.loop, NULL, &n), -EINVAL);
	assert_int_equal(weir_loop_run_once(n.loop, -1), 1);
	assert_int_equal(n.outer, 1);
	assert_int_equal(n.inner_during_outer, 0);
	assert_int_equal(n.rc_run, -EBUSY);
	assert_int_equal(n.rc_close, -EBUSY);
	/* The inner post runs in the next round, without waiting. */
	assert_int_equal(weir_loop_run_once(n.loop, -1), 1);
	assert_int_equal(n.inner, 1);
	weir_loop_free(n.loop);
}

/* ---- timers ----------------------------------------------------------- */

struct fired {
	int order[16];
	int n;
	int status[16];
	atomic_int done;
	int want;
};

struct tagged {
	struct weir_timer t;
	int tag;
	struct fired *f;
};

static void on_tagged(struct weir_timer *t, void *arg, int status)
{
	struct tagged *x = arg;

	assert_ptr_equal(t, &x->t);
	x->f->status[x->f->n] = status;
	x->f->order[x->f->n++] = x->tag;
	if (x->f->n == x->f->want)
		atomic_store(&x->f->done, 1);
}

/* Fire order is deadline order. The delays are 10 ms apart, so unless
 * starting them took 5 ms (a preempted test), that is also the order of
 * the delays. Zero delays (equal or nearly equal deadlines) fire in the
 * order started. */
static void timers_fire_in_order(void **state)
{
	static const uint64_t after[] = { 50, 10, 30, 20, 40, 0, 0, 0 };
	static const int expect[] = { 5, 6, 7, 1, 3, 2, 4, 0 };
	struct weir_loop *loop = new_loop();
	struct tagged x[8];
	struct fired f = { .want = 8 };
	uint64_t t0 = mono_ns(), took;

	(void)state;
	memset(x, 0, sizeof(x));
	for (int i = 0; i < 8; i++) {
		x[i].tag = i;
		x[i].f = &f;
		assert_int_equal(weir_timer_start(loop, &x[i].t, after[i] * MS,
						  on_tagged, &x[i]), 0);
	}
	took = mono_ns() - t0;
	/* Zero delay still waits for the loop. */
	assert_int_equal(f.n, 0);
	assert_int_equal(weir_timer_start(loop, &x[0].t, 1, on_tagged, &x[0]),
			 -EBUSY);
	assert_int_equal(stats_of(loop).timers_active, 8);
	run_until(loop, &f.done);
	for (int i = 0; i < 8; i++) {
		const struct weir_timer *a = &x[f.order[i]].t;

		assert_int_equal(f.status[i], 0);
		if (i) {
			const struct weir_timer *b = &x[f.order[i - 1]].t;

			assert_true(b->deadline_ < a->deadline_ ||
				    (b->deadline_ == a->deadline_ &&
				     b->seq_ < a->seq_));
		}
		if (took < 5 * MS)
			assert_int_equal(f.order[i], expect[i]);
	}
	assert_int_equal(weir_loop_run_once(loop, 0), 0);
	assert_int_equal(stats_of(loop).timers_fired, 8);
	assert_int_equal(stats_of(loop).timers_active, 0);
	weir_loop_free(loop);
}

static void timer_cancel_once(void **state)
{
	struct weir_loop *loop = new_loop();
	struct fired f = { .want = 1 };
	struct tagged x = { .tag = 9, .f = &f };

	(void)state;
	assert_int_equal(weir_timer_cancel(&x.t), -ENOENT); /* never started */
	assert_int_equal(weir_timer_start(loop, &x.t, 3600000 * MS, on_tagged,
					  &x), 0);
	assert_int_equal(weir_timer_cancel(&x.t), 0);
	assert_int_equal(f.n, 0);                           /* not inline */
	assert_int_equal(weir_timer_cancel(&x.t), -EALREADY);
	assert_int_equal(weir_timer_modify(&x.t, 0), -ENOENT);
	assert_int_equal(weir_timer_start(loop, &x.t, 0, on_tagged, &x),
			 -EBUSY);
	/* Delivered by the next round, which does not wait for it. */
	assert_int_equal(weir_loop_run_once(loop, -1), 1);
	assert_int_equal(f.n, 1);
	assert_int_equal(f.status[0], -ECANCELED);
	assert_int_equal(weir_timer_cancel(&x.t), -ENOENT);
	assert_int_equal(weir_loop_run_once(loop, 0), 0);
	assert_int_equal(f.n, 1);
	assert_int_equal(stats_of(loop).timers_canceled, 1);
	weir_loop_free(loop);
}

static void timer_modify(void **state)
{
	struct weir_loop *loop = new_loop();
	struct fired f = { .want = 2 };
	struct tagged a = { .tag = 1, .f = &f }, b = { .tag = 2, .f = &f };

	(void)state;
	assert_int_equal(weir_timer_start(loop, &a.t, 1 * MS, on_tagged, &a),
			 0);
	assert_int_equal(weir_timer_start(loop, &b.t, 3600000 * MS, on_tagged,
					  &b), 0);
	/* b is pulled in before a, then a pushed back behind it. */
	assert_int_equal(weir_timer_modify(&b.t, 0), 0);
	assert_int_equal(weir_timer_modify(&a.t, 2 * MS), 0);
	run_until(loop, &f.done);
	assert_int_equal(f.order[0], 2);
	assert_int_equal(f.order[1], 1);
	weir_loop_free(loop);
}

struct periodic {
	struct weir_timer t;
	int left;
	atomic_int done;
};

static void on_periodic(struct weir_timer *t, void *arg, int status)
{
	struct periodic *p = arg;

	assert_int_equal(status, 0);
	if (--p->left)
		assert_int_equal(weir_timer_start(t->loop_, t, 0, on_periodic,
						  p), 0);
	else
		atomic_store(&p->done, 1);
}

/* A timer restarted from its callback with no delay fires once a round. */
static void timer_restart_from_callback(void **state)
{
	struct weir_loop *loop = new_loop();
	struct periodic p = { .left = 5 };

	(void)state;
	assert_int_equal(weir_timer_start(loop, &p.t, 0, on_periodic, &p), 0);
	for (int i = 4; i >= 0; i--) {
		assert_int_equal(weir_loop_run_once(loop, -1), 1);
		assert_int_equal(p.left, i);
	}
	assert_true(atomic_load(&p.done));
	weir_loop_free(loop);
}

#define MANY 10000

struct many {
	struct weir_timer t[MANY];
	int calls[MANY];
	uint64_t last_deadline;
	int fired, canceled, disorder;
	atomic_int done;
};

static void on_many(struct weir_timer *t, void *arg, int status)
{
	struct many *m = arg;
	size_t i = (size_t)(t - m->t);

	m->calls[i]++;
	if (status == -ECANCELED) {
		m->canceled++;
	} else {
		if (t->deadline_ < m->last_deadline)
			m->disorder++;
		m->last_deadline = t->deadline_;
		m->fired++;
	}
	if (m->fired + m->canceled == MANY)
		atomic_store(&m->done, 1);
}

static void thousands_of_timers(void **state)
{
	struct weir_loop *loop = new_loop();
	struct many *m = calloc(1, sizeof(*m));
	unsigned seed = 12345;

	(void)state;
	assert_non_null(m);
	for (int i = 0; i < MANY; i++) {
		seed = seed * 1103515245u + 12345u;
		assert_int_equal(weir_timer_start(loop, &m->t[i],
						  (seed >> 8) % (3 * MS),
						  on_many, m), 0);
	}
	for (int i = 0; i < MANY; i += 3)
		assert_int_equal(weir_timer_cancel(&m->t[i]), 0);
	run_until(loop, &m->done);
	assert_int_equal(weir_loop_run_once(loop, 0), 0);
	for (int i = 0; i < MANY; i++)
		assert_int_equal(m->calls[i], 1);
	assert_int_equal(m->canceled, (MANY + 2) / 3);
	assert_int_equal(m->disorder, 0);
	assert_int_equal(stats_of(loop).timers_active, 0);
	weir_loop_free(loop);
	free(m);
}

/* ---- kernel operations ------------------------------------------------ */

struct rec {
	struct weir__io_op op;
	int calls, res[8];
	unsigned flags[8];
	atomic_int done;
};

static void on_rec(struct weir__io_op *op, int res, unsigned flags)
{
	struct rec *r = weir__container_of(op, struct rec, op);

	assert_true(r->calls < 8);
	r->res[r->calls] = res;
	r->flags[r->calls++] = flags;
	if (!(flags & IORING_CQE_F_MORE))
		atomic_store(&r->done, 1);
}

static void nop_completes_through_op(void **state)
{
	struct weir_loop *loop = new_loop();
	struct rec r = { .op.done = on_rec };
	struct io_uring_sqe *sqe;

	(void)state;
	sqe = weir__io_sqe(loop, &r.op);
	assert_non_null(sqe);
	io_uring_prep_nop(sqe);
	assert_true(weir__io_busy(&r.op));
	assert_int_equal(stats_of(loop).ops_inflight, 1);
	assert_int_equal(r.calls, 0);
	assert_int_equal(weir_loop_run_once(loop, -1), 1);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res[0], 0);
	assert_false(weir__io_busy(&r.op));
	assert_int_equal(weir__io_cancel(loop, &r.op), -ENOENT);
	weir_loop_free(loop);
}

/* A tiny ring: the 9th SQE makes weir__io_sqe submit the first 8. */
static void full_queue_submits(void **state)
{
	struct weir_loop_opts o = { .sq_entries = 8, .cq_entries = 64 };
	struct weir_loop *loop = NULL;
	struct rec r[20];
	int ran = 0;

	(void)state;
	assert_int_equal(weir_loop_new(&o, &loop), 0);
	memset(r, 0, sizeof(r));
	for (int i = 0; i < 20; i++) {
		struct io_uring_sqe *sqe;

		r[i].op.done = on_rec;
		sqe = weir__io_sqe(loop, &r[i].op);
		assert_non_null(sqe);
		io_uring_prep_nop(sqe);
	}
	/* Submitted ones have completed in the kernel, but not run. */
	for (int i = 0; i < 20; i++)
		assert_int_equal(r[i].calls, 0);
	assert_int_equal(weir__io_reserve(loop, 9), -EINVAL);
	assert_int_equal(weir__io_reserve(loop, 8), 0);
	while (ran < 20) {
		int rc = weir_loop_run_once(loop, -1);

		assert_true(rc > 0);
		ran += rc;
	}
	assert_int_equal(ran, 20);
	for (int i = 0; i < 20; i++)
		assert_int_equal(r[i].calls, 1);
	weir_loop_free(loop);
}

static void pipe_read(void **state)
{
	struct weir_loop *loop = new_loop();
	struct rec r = { .op.done = on_rec };
	char buf[16] = { 0 };
	int fds[2];

	(void)state;
	assert_int_equal(pipe(fds), 0);
	io_uring_prep_read(weir__io_sqe(loop, &r.op), fds[0], buf,
			   sizeof(buf), 0);
	assert_int_equal(weir_loop_run_once(loop, 0), 0); /* no data yet */
	assert_int_equal(r.calls, 0);
	assert_int_equal(write(fds[1], "hello", 5), 5);
	run_until(loop, &r.done);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.res[0], 5);
	assert_memory_equal(buf, "hello", 5);
	weir_loop_free(loop);
	close(fds[0]);
	close(fds[1]);
}

static void socket_recv(void **state)
{
	struct weir_loop *loop = new_loop();
	struct rec r = { .op.done = on_rec };
	char buf[16] = { 0 };
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	io_uring_prep_recv(weir__io_sqe(loop, &r.op), sv[0], buf,
			   sizeof(buf), 0);
	assert_int_equal(send(sv[1], "abc", 3, 0), 3);
	run_until(loop, &r.done);
	assert_int_equal(r.res[0], 3);
	assert_memory_equal(buf, "abc", 3);
	weir_loop_free(loop);
	close(sv[0]);
	close(sv[1]);
}

/* A provided-buffer ring of 8 buffers of 64 bytes, group `bgid`. */
struct bufring {
	struct io_uring_buf_ring *br;
	char bufs[8][64];
};

static int bufring_setup(struct weir_loop *loop, struct bufring *b,
			 unsigned short bgid)
{
	struct io_uring_buf_reg reg = { .ring_entries = 8, .bgid = bgid };
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int rc;

	assert_true(p != MAP_FAILED);
	b->br = p;
	reg.ring_addr = (uint64_t)(uintptr_t)p;
	rc = io_uring_register_buf_ring(weir__io_ring(loop), &reg, 0);
	if (rc)
		return rc;
	io_uring_buf_ring_init(b->br);
	for (unsigned short i = 0; i < 8; i++)
		io_uring_buf_ring_add(b->br, b->bufs[i], sizeof(b->bufs[i]), i,
				      io_uring_buf_ring_mask(8), i);
	io_uring_buf_ring_advance(b->br, 8);
	return 0;
}

static void multishot_recv(void **state)
{
	static const char *const msg[] = { "one", "two!", "three" };
	struct weir_loop *loop = new_loop();
	struct rec r = { .op.done = on_rec };
	struct io_uring_sqe *sqe;
	struct bufring b;
	int sv[2], rc;

	(void)state;
	rc = bufring_setup(loop, &b, 7);
	if (rc) {
		weir_loop_free(loop);
		munmap(b.br, 4096);
		skip();
	}
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(send(sv[1], msg[i], strlen(msg[i]), 0),
				 (ssize_t)strlen(msg[i]));
	sqe = weir__io_sqe(loop, &r.op);
	io_uring_prep_recv_multishot(sqe, sv[0], NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 7;
	while (r.calls < 3)
		assert_true(weir_loop_run_once(loop, 1000 * MS) > 0);
	for (int i = 0; i < 3; i++) {
		unsigned bid = r.flags[i] >> IORING_CQE_BUFFER_SHIFT;

		assert_int_equal(r.res[i], (int)strlen(msg[i]));
		assert_true(r.flags[i] & IORING_CQE_F_MORE);
		assert_true(r.flags[i] & IORING_CQE_F_BUFFER);
		assert_true(bid < 8);
		assert_memory_equal(b.bufs[bid], msg[i], strlen(msg[i]));
	}
	assert_true(weir__io_busy(&r.op));   /* still armed */
	assert_int_equal(weir__io_cancel(loop, &r.op), 0);
	run_until(loop, &r.done);
	assert_int_equal(r.calls, 4);
	assert_int_equal(r.res[3], -ECANCELED);
	assert_false(r.flags[3] & IORING_CQE_F_MORE);
	assert_false(weir__io_busy(&r.op));
	assert_int_equal(stats_of(loop).cqes - stats_of(loop).ops_completed,
			 3);
	weir_loop_free(loop);
	munmap(b.br, 4096);
	close(sv[0]);
	close(sv[1]);
}

struct owned {
	struct weir__io_op op;
	int *freed;
};

static void free_self(struct weir__io_op *op, int res, unsigned flags)
{
	struct owned *o = weir__container_of(op, struct owned, op);

	(void)res, (void)flags;
	(*o->freed)++;
	free(o);
}

/* The dispatcher does not touch an op after its final callback. */
static void callback_frees_its_op(void **state)
{
	struct weir_loop *loop = new_loop();
	int freed = 0;

	(void)state;
	for (int i = 0; i < 4; i++) {
		struct owned *o = calloc(1, sizeof(*o));

		o->op.done = free_self;
		o->freed = &freed;
		io_uring_prep_nop(weir__io_sqe(loop, &o->op));
	}
	while (freed < 4)
		assert_true(weir_loop_run_once(loop, -1) > 0);
	weir_loop_free(loop);
}

/* ---- close ------------------------------------------------------------ */

struct closing {
	struct weir_loop *loop;
	struct rec recv, multi;
	struct tagged t[3];
	struct fired tf;
	int posts[3], post_status[3];
	int resubmit_null, resubmit_errno;
	int post_after, timer_after;
};

static struct closing C;

static void on_closing_post(void *arg, int status)
{
	int i = (int)(intptr_t)arg;

	C.posts[i]++;
	C.post_status[i] = status;
	C.post_after = weir_loop_post(C.loop, on_closing_post, arg);
}

static void on_closing_recv(struct weir__io_op *op, int res, unsigned flags)
{
	on_rec(op, res, flags);
	/* A callback that tries to go on is refused. */
	errno = 0;
	C.resubmit_null = weir__io_sqe(C.loop, op) == NULL;
	C.resubmit_errno = errno;
	C.timer_after = weir_timer_start(C.loop, &C.t[0].t, 0, on_tagged,
					 &C.t[0]);
}

static void *post_three(void *arg)
{
	(void)arg;
	for (intptr_t i = 0; i < 3; i++)
		weir_loop_post(C.loop, on_closing_post, (void *)i);
	return NULL;
}

static void close_cancels_everything(void **state)
{
	char buf[16];
	struct bufring b;
	int sv[2], ms[2];
	pthread_t th;
	bool multi;

	(void)state;
	memset(&C, 0, sizeof(C));
	C.loop = new_loop();
	C.recv.op.done = on_closing_recv;
	C.multi.op.done = on_rec;
	C.tf.want = 3;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	io_uring_prep_recv(weir__io_sqe(C.loop, &C.recv.op), sv[0], buf,
			   sizeof(buf), 0);
	multi = bufring_setup(C.loop, &b, 3) == 0;
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, ms), 0);
	if (multi) {
		struct io_uring_sqe *sqe = weir__io_sqe(C.loop, &C.multi.op);

		io_uring_prep_recv_multishot(sqe, ms[0], NULL, 0, 0);
		sqe->flags |= IOSQE_BUFFER_SELECT;
		sqe->buf_group = 3;
	}
	/* The ops reach the kernel and wait there. */
	assert_int_equal(weir_loop_run_once(C.loop, 0), 0);
	for (int i = 0; i < 3; i++) {
		C.t[i].tag = i;
		C.t[i].f = &C.tf;
		assert_int_equal(weir_timer_start(C.loop, &C.t[i].t,
						  (uint64_t)(i + 1) * 3600000 *
						  MS, on_tagged, &C.t[i]), 0);
	}
	pthread_create(&th, NULL, post_three, NULL);
	pthread_join(th, NULL);

	assert_int_equal(weir_loop_close(C.loop), 0);
	assert_int_equal(weir_loop_close(C.loop), 0);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(C.posts[i], 1);
		assert_int_equal(C.post_status[i], -ECANCELED);
		assert_int_equal(C.tf.order[i], i);
		assert_int_equal(C.tf.status[i], -ECANCELED);
	}
	assert_int_equal(C.post_after, -ESHUTDOWN);
	assert_int_equal(C.tf.n, 3);
	assert_int_equal(C.recv.calls, 1);
	assert_int_equal(C.recv.res[0], -ECANCELED);
	assert_true(C.resubmit_null);
	assert_int_equal(C.resubmit_errno, ESHUTDOWN);
	assert_int_equal(C.timer_after, -ESHUTDOWN);
	if (multi) {
		assert_int_equal(C.multi.calls, 1);
		assert_int_equal(C.multi.res[0], -ECANCELED);
	}
	assert_int_equal(stats_of(C.loop).ops_inflight, 0);
	/* Closed, still valid memory: everything is refused. */
	assert_int_equal(weir_loop_post(C.loop, on_closing_post, NULL),
			 -ESHUTDOWN);
	assert_int_equal(weir_loop_run_once(C.loop, 0), -ESHUTDOWN);
	assert_int_equal(weir_loop_run(C.loop), -ESHUTDOWN);
	weir_loop_stop(C.loop);
	weir_loop_free(C.loop);
	if (multi)
		munmap(b.br, 4096);
	close(sv[0]);
	close(sv[1]);
	close(ms[0]);
	close(ms[1]);
}

/* ---- stop ------------------------------------------------------------- */

static void *stop_it(void *arg)
{
	weir_loop_stop(arg);
	return NULL;
}

static void stop_from_another_thread(void **state)
{
	struct weir_loop *loop = new_loop();
	pthread_t th;

	(void)state;
	/* Before run or during it: run returns either way. */
	pthread_create(&th, NULL, stop_it, loop);
	assert_int_equal(weir_loop_run(loop), 0);
	pthread_join(th, NULL);
	/* The stop was consumed: a pending one ends the next run at once. */
	weir_loop_stop(loop);
	assert_int_equal(weir_loop_run(loop), 0);
	weir_loop_free(loop);
}

static void stop_in_post(void *arg, int status)
{
	assert_int_equal(status, 0);
	weir_loop_stop(arg);
}

static void stop_from_callback(void **state)
{
	struct weir_loop *loop = new_loop();

	(void)state;
	assert_int_equal(weir_loop_post(loop, stop_in_post, loop), 0);
	assert_int_equal(weir_loop_run(loop), 0);
	assert_int_equal(stats_of(loop).posts, 1);
	weir_loop_free(loop);
}

static struct weir_loop *sig_loop;

static void on_sigusr1(int sig)
{
	(void)sig;
	weir_loop_stop(sig_loop);
}

static void *signal_it(void *arg)
{
	pthread_kill(*(pthread_t *)arg, SIGUSR1);
	return NULL;
}

static void stop_from_signal_handler(void **state)
{
	struct sigaction sa = { .sa_handler = on_sigusr1 }, old;
	pthread_t self = pthread_self(), th;

	(void)state;
	sig_loop = new_loop();
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	pthread_create(&th, NULL, signal_it, &self);
	assert_int_equal(weir_loop_run(sig_loop), 0);
	pthread_join(th, NULL);
	sigaction(SIGUSR1, &old, NULL);
	weir_loop_free(sig_loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(new_and_free),
		cmocka_unit_test(run_once_timeout),
		cmocka_unit_test(posts_from_many_threads),
		cmocka_unit_test(posts_coalesce),
		cmocka_unit_test(posts_race_close),
		cmocka_unit_test(post_req_in_caller_storage),
		cmocka_unit_test(post_from_loop_thread),
		cmocka_unit_test(timers_fire_in_order),
		cmocka_unit_test(timer_cancel_once),
		cmocka_unit_test(timer_modify),
		cmocka_unit_test(timer_restart_from_callback),
		cmocka_unit_test(thousands_of_timers),
		cmocka_unit_test(nop_completes_through_op),
		cmocka_unit_test(full_queue_submits),
		cmocka_unit_test(pipe_read),
		cmocka_unit_test(socket_recv),
		cmocka_unit_test(multishot_recv),
		cmocka_unit_test(callback_frees_its_op),
		cmocka_unit_test(close_cancels_everything),
		cmocka_unit_test(stop_from_another_thread),
		cmocka_unit_test(stop_from_callback),
		cmocka_unit_test(stop_from_signal_handler),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
