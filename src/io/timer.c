/* Timers: a binary min-heap of the armed timers, ordered by deadline and
 * then by start order, in one array of pointers into the callers'
 * storage. Each timer keeps its slot, so cancelling or moving one is
 * O(log n) and starting one allocates nothing once the array is big
 * enough (it doubles).
 *
 * No kernel timer is armed: the heap's minimum bounds how long the loop
 * waits in io_uring_enter(2), whose EXT_ARG timeout costs neither an SQE
 * nor a CQE. Starting, moving or cancelling a timer is therefore a heap
 * operation with no syscall, whatever becomes the earliest. This holds
 * because a loop has one waiter, its own thread, and timers are
 * loop-thread only.
 */
#include <errno.h>
#include <stdlib.h>

#include "io/loop.h"

enum { T_IDLE, T_ARMED, T_CANCELED };

static bool before(const struct weir_timer *a, const struct weir_timer *b)
{
	if (a->deadline_ != b->deadline_)
		return a->deadline_ < b->deadline_;
	return a->seq_ < b->seq_;
}

static void place(struct weir__timers *h, struct weir_timer *t, uint32_t i)
{
	h->heap[i] = t;
	t->slot_ = i + 1;
}

static void sift_up(struct weir__timers *h, uint32_t i)
{
	struct weir_timer *t = h->heap[i];

	while (i > 0 && before(t, h->heap[(i - 1) / 2])) {
		place(h, h->heap[(i - 1) / 2], i);
		i = (i - 1) / 2;
	}
	place(h, t, i);
}

static void sift_down(struct weir__timers *h, uint32_t i)
{
	struct weir_timer *t = h->heap[i];
	uint32_t c;

	while ((c = 2 * i + 1) < h->n) {
		if (c + 1 < h->n && before(h->heap[c + 1], h->heap[c]))
			c++;
		if (!before(h->heap[c], t))
			break;
		place(h, h->heap[c], i);
		i = c;
	}
	place(h, t, i);
}

/* Restores the heap around slot i after its timer's key changed. */
static void fix(struct weir__timers *h, uint32_t i)
{
	if (i > 0 && before(h->heap[i], h->heap[(i - 1) / 2]))
		sift_up(h, i);
	else
		sift_down(h, i);
}

static void heap_remove(struct weir__timers *h, struct weir_timer *t)
{
	uint32_t i = t->slot_ - 1;
	struct weir_timer *last = h->heap[--h->n];

	t->slot_ = 0;
	if (i == h->n)
		return;
	place(h, last, i);
	fix(h, i);
}

static int heap_grow(struct weir__timers *h)
{
	struct weir_timer **v;
	uint32_t cap;

	if (h->n < h->cap)
		return 0;
	if (h->cap > UINT32_MAX / 2)
		return -ENOMEM;
	cap = h->cap ? h->cap * 2 : 64;
	v = realloc(h->heap, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	h->heap = v;
	h->cap = cap;
	return 0;
}

/* Sets the deadline and a new start number (for the tie order). */
static void set_due(struct weir__timers *h, struct weir_timer *t,
		    uint64_t after_ns)
{
	uint64_t now = weir__mono_ns();

	t->deadline_ = after_ns > UINT64_MAX - now ? UINT64_MAX
						  : now + after_ns;
	t->seq_ = h->seq++;
}

int weir_timer_start(struct weir_loop *loop, struct weir_timer *t,
		     uint64_t after_ns, weir_timer_fn fn, void *arg)
{
	struct weir__timers *h;
	int rc;

	if (!loop || !t || !fn)
		return -EINVAL;
	if (t->state_ != T_IDLE)
		return -EBUSY;
	if (loop->closing)
		return -ESHUTDOWN;
	h = &loop->timers;
	rc = heap_grow(h);
	if (rc)
		return rc;
	set_due(h, t, after_ns);
	t->fn_ = fn;
	t->arg_ = arg;
	t->loop_ = loop;
	t->next_ = NULL;
	t->state_ = T_ARMED;
	h->heap[h->n++] = t;
	sift_up(h, h->n - 1);
	return 0;
}

int weir_timer_modify(struct weir_timer *t, uint64_t after_ns)
{
	struct weir__timers *h;

	if (!t)
		return -EINVAL;
	if (t->state_ != T_ARMED)
		return -ENOENT;
	h = &t->loop_->timers;
	set_due(h, t, after_ns);
	fix(h, t->slot_ - 1);
	return 0;
}

int weir_timer_cancel(struct weir_timer *t)
{
	struct weir__timers *h;

	if (!t)
		return -EINVAL;
	if (t->state_ == T_CANCELED)
		return -EALREADY;
	if (t->state_ != T_ARMED)
		return -ENOENT;
	h = &t->loop_->timers;
	heap_remove(h, t);
	t->state_ = T_CANCELED;
	t->next_ = h->canceled;
	h->canceled = t;
	return 0;
}

/* How long the loop may wait for the next timer: -1 for ever, 0 when one
 * is due or a cancellation waits for delivery. */
int64_t weir__timers_wait_ns(struct weir__timers *h, uint64_t now)
{
	uint64_t d;

	if (h->canceled)
		return 0;
	if (!h->n)
		return -1;
	d = h->heap[0]->deadline_;
	if (d <= now)
		return 0;
	return d - now > INT64_MAX ? INT64_MAX : (int64_t)(d - now);
}

/* The timer is idle before its callback runs, which may start it again
 * or free it. */
static void deliver(struct weir_timer *t, int status)
{
	t->state_ = T_IDLE;
	t->next_ = NULL;
	t->fn_(t, t->arg_, status);
}

/* Delivers the cancellations made so far, oldest first. */
static unsigned run_canceled(struct weir_loop *loop)
{
	struct weir_timer *t = loop->timers.canceled, *fifo = NULL, *next;
	unsigned n = 0;

	loop->timers.canceled = NULL;
	for (; t; t = next) {
		next = t->next_;
		t->next_ = fifo;
		fifo = t;
	}
	for (t = fifo; t; t = next) {
		next = t->next_;
		loop->stats.timers_canceled++;
		deliver(t, -ECANCELED);
		n++;
	}
	return n;
}

/* Fires the timers due now that were started before this call: one that
 * a callback starts with a zero delay waits for the next round, so a
 * callback that keeps restarting itself cannot hold the loop. */
unsigned weir__timers_run(struct weir_loop *loop)
{
	struct weir__timers *h = &loop->timers;
	unsigned n = run_canceled(loop);
	uint64_t now, limit = h->seq;

	if (!h->n)
		return n;
	now = weir__mono_ns();
	while (h->n && h->heap[0]->deadline_ <= now &&
	       h->heap[0]->seq_ < limit) {
		struct weir_timer *t = h->heap[0];

		heap_remove(h, t);
		loop->stats.timers_fired++;
		deliver(t, 0);
		n++;
	}
	return n;
}

/* Cancels every timer, earliest first (starts are refused by now, but
 * callbacks may still cancel others). */
unsigned weir__timers_close(struct weir_loop *loop)
{
	struct weir__timers *h = &loop->timers;
	unsigned n = 0;

	while (h->canceled || h->n) {
		if (h->n)
			weir_timer_cancel(h->heap[0]);
		n += run_canceled(loop);
	}
	return n;
}

void weir__timers_exit(struct weir__timers *h)
{
	free(h->heap);
	h->heap = NULL;
	h->n = h->cap = 0;
}
