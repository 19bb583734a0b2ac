/* Cross-thread hand-off: the post queue and the eventfd that wakes the
 * loop.
 *
 * Queue. A lock-free stack of records (allocated by weir_loop_post, or the
 * caller's with weir_loop_post_req): posters push with a CAS, the loop
 * takes the whole stack with one exchange and reverses it, so posts run in
 * the order they were pushed. Nobody pops a single record, so the ABA
 * problem of Treiber stacks cannot arise. Closing swaps in a mark that
 * pushes refuse: a post lands either before the swap, and the close
 * cancels it, or after, and gets -ESHUTDOWN. No post is lost between.
 *
 * Wake-up. The loop keeps one IORING_OP_READ on an eventfd in its ring,
 * and a write completes it, ending the loop's wait. `awake` says that no
 * write is needed: it is 1 while the loop runs callbacks, or once a write
 * is on its way. A poster writes only when it turns `awake` from 0 to 1.
 * Before it sleeps, the loop sets `awake` to 0 and then looks at the
 * queue and the stop flag once more (weir__sleep_begin): a poster that
 * found `awake` at 1 pushed before that clear, so the loop sees its post
 * and does not sleep; one that found 0 writes and ends the sleep. Hence
 * at most one write per sleep, however many posts; a busy loop that never
 * sleeps costs posters no syscall at all, and posts made on the loop
 * thread never write.
 *
 * The eventfd is blocking on purpose: io_uring fails a read on an
 * O_NONBLOCK file with -EAGAIN instead of waiting for it to be readable.
 * A write never blocks: the counter holds at most a few unconsumed writes.
 */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "io/loop.h"

/* stop() must be async-signal-safe: only lock-free atomics are. */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "lock-free int atomics");
_Static_assert(ATOMIC_LONG_LOCK_FREE == 2, "lock-free long atomics");

/* The head of a closed loop's queue; never dereferenced. */
static struct weir_post closed_mark;

static void wake_done(struct weir__io_op *op, int res, unsigned flags)
{
	struct weir_loop *loop = weir__container_of(op, struct weir_loop,
						    wake_op);

	(void)flags;
	loop->wake_armed = false;
	if (res >= 0)
		loop->stats.wakeups++;
	weir__wake_arm(loop);
}

int weir__posts_init(struct weir_loop *loop)
{
	atomic_init(&loop->posts, NULL);
	atomic_init(&loop->awake, 1); /* until it first sleeps */
	atomic_init(&loop->wake_writes, 0);
	loop->wake_op.done = wake_done;
	loop->efd = eventfd(0, EFD_CLOEXEC);
	return loop->efd < 0 ? -errno : 0;
}

void weir__posts_exit(struct weir_loop *loop)
{
	assert(atomic_load(&loop->posts) == NULL ||
	       atomic_load(&loop->posts) == &closed_mark);
	if (loop->efd >= 0)
		close(loop->efd);
}

/* Puts the eventfd read in the ring unless it is there. If the ring has
 * no SQE to spare, the loop tries again next round and meanwhile waits
 * briefly (see run_once). */
void weir__wake_arm(struct weir_loop *loop)
{
	struct io_uring_sqe *sqe;

	if (loop->wake_armed || loop->closing)
		return;
	sqe = weir__io_sqe(loop, &loop->wake_op);
	if (!sqe)
		return;
	io_uring_prep_read(sqe, loop->efd, &loop->wake_buf,
			   sizeof(loop->wake_buf), 0);
	loop->wake_armed = true;
}

/* Any thread, async-signal-safe: atomics and write(2), errno kept. */
void weir__wake(struct weir_loop *loop)
{
	uint64_t one = 1;
	int saved = errno;

	if (atomic_exchange(&loop->awake, 1))
		return;
	atomic_fetch_add_explicit(&loop->wake_writes, 1,
				  memory_order_relaxed);
	while (write(loop->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
	errno = saved;
}

/* Pushes p, unless the loop is closing. */
static int push(struct weir_loop *loop, struct weir_post *p)
{
	struct weir_post *head = atomic_load_explicit(&loop->posts,
						      memory_order_relaxed);

	do {
		if (head == &closed_mark)
			return -ESHUTDOWN;
		p->next_ = head;
	} while (!atomic_compare_exchange_weak(&loop->posts, &head, p));
	if (weir__loop_current() != loop)
		weir__wake(loop);
	return 0;
}

int weir_loop_post_req(struct weir_loop *loop, struct weir_post *req,
		       weir_post_fn fn, void *arg)
{
	if (!loop || !req || !fn)
		return -EINVAL;
	req->fn_ = fn;
	req->arg_ = arg;
	req->owned_ = 0;
	return push(loop, req);
}

int weir_loop_post(struct weir_loop *loop, weir_post_fn fn, void *arg)
{
	struct weir_post *p;
	int rc;

	if (!loop || !fn)
		return -EINVAL;
	p = malloc(sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->fn_ = fn;
	p->arg_ = arg;
	p->owned_ = 1;
	rc = push(loop, p);
	if (rc)
		free(p);
	return rc;
}

bool weir__posts_ready(struct weir_loop *loop)
{
	struct weir_post *p = atomic_load(&loop->posts);

	return p && p != &closed_mark;
}

/* The loop is about to sleep: from now on, a post or a stop must write.
 * Returns false, and stays awake, if one came in meanwhile. The clear and
 * the loads are sequentially consistent, like the posters' push and
 * exchange, which is what the argument above needs. */
bool weir__sleep_begin(struct weir_loop *loop)
{
	atomic_store(&loop->awake, 0);
	if (!weir__posts_ready(loop) && !atomic_load(&loop->stop))
		return true;
	atomic_store_explicit(&loop->awake, 1, memory_order_relaxed);
	return false;
}

/* Awake again: writes are not needed until the next sleep_begin. Relaxed
 * is enough, it only spares posters a write. */
void weir__sleep_end(struct weir_loop *loop)
{
	atomic_store_explicit(&loop->awake, 1, memory_order_relaxed);
}

/* Runs a taken stack oldest first. Each record is done with before its
 * function runs (freed, if the loop allocated it), so that the function
 * may post it again or free it. */
static unsigned run(struct weir_post *p, int status, uint64_t *counter)
{
	struct weir_post *fifo = NULL, *next;
	unsigned n = 0;

	for (; p; p = next) {
		next = p->next_;
		p->next_ = fifo;
		fifo = p;
	}
	for (p = fifo; p; p = next) {
		weir_post_fn fn = p->fn_;
		void *arg = p->arg_;

		next = p->next_;
		if (p->owned_)
			free(p);
		(*counter)++;
		fn(arg, status);
		n++;
	}
	return n;
}

unsigned weir__posts_run(struct weir_loop *loop)
{
	if (!weir__posts_ready(loop))
		return 0;
	return run(atomic_exchange(&loop->posts, NULL), 0,
		   &loop->stats.posts);
}

/* From now on posts get -ESHUTDOWN; those queued are cancelled. */
unsigned weir__posts_close(struct weir_loop *loop)
{
	struct weir_post *p = atomic_exchange(&loop->posts, &closed_mark);

	if (p == &closed_mark)
		return 0;
	return run(p, -ECANCELED, &loop->stats.posts_canceled);
}
