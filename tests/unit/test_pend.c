/* Unit tests for pended classifications: completion from another thread,
 * timeouts with the filter's default, completion after timeout, limits,
 * cancellation at engine free; each pend ends exactly once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weir/callout.h>
#include <weir/engine.h>

#define L WEIR_LAYER_ALE_CONNECT_V4

static int pend_rc;
static uint64_t pend_id;

/* Pends every packet; when pending is refused, blocks at once. */
static void pender(void *priv, const struct weir_classify_in *in,
		   const struct weir_filter_view *f, uint64_t flow_ctx,
		   struct weir_callout_out *out)
{
	(void)priv, (void)flow_ctx;
	pend_rc = weir_pend(in, f, out, &pend_id);
	if (pend_rc)
		out->action = WEIR_ACTION_BLOCK;
}

struct ended {
	int n;
	uint64_t cookie, id;
	enum weir_pend_end how;
	uint8_t action;
	struct weir_pkt *repl;
};

static struct ended ends;
static pthread_mutex_t ends_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_end(void *arg, uint64_t cookie, uint64_t id,
		   enum weir_pend_end how, uint8_t action,
		   struct weir_pkt *repl)
{
	(void)arg;
	pthread_mutex_lock(&ends_lock);
	ends = (struct ended){ ends.n + 1, cookie, id, how, action, repl };
	pthread_mutex_unlock(&ends_lock);
}

static struct weir_engine *setup(uint32_t flags, bool handler, uint32_t max)
{
	static const struct weir_callout c = { .name = "pender",
					       .classify = pender };
	struct weir_filter_spec s = { .layer = L,
		.action = WEIR_ACTION_CALLOUT_TERMINATING, .flags = flags };
	struct weir_engine *e = weir_engine_new();
	struct weir_txn *t;

	memset(&ends, 0, sizeof(ends));
	weir_callout_register(e, &c);
	strcpy(s.callout, "pender");
	t = weir_txn_begin(e);
	assert_int_equal(weir_txn_add(t, &s, NULL, NULL), 0);
	assert_int_equal(weir_txn_commit(t), 0);
	if (handler)
		assert_int_equal(weir_engine_set_pend(e, on_end, NULL, max,
						      1000000000u), 0);
	return e;
}

static struct weir_decision classify(struct weir_engine *e, uint64_t cookie,
				     uint64_t now)
{
	struct weir_fields f = { .family = AF_INET, .present = 3 };
	struct weir_classify_in in = { .layer = L, .fields = &f,
				       .cookie = cookie, .now_ns = now };
	struct weir_decision d;

	assert_int_equal(weir_classify(e, &in, &d), 0);
	return d;
}

static void no_handler_no_pend(void **state)
{
	struct weir_engine *e = setup(0, false, 0);
	struct weir_decision d = classify(e, 1, 1);

	(void)state;
	assert_int_equal(pend_rc, -ENOTSUP);
	assert_false(d.pended);
	assert_int_equal(d.action, WEIR_ACTION_BLOCK);
	weir_engine_free(e);
}

struct later {
	struct weir_engine *e;
	uint64_t id;
	int rc;
};

static void *complete_later(void *arg)
{
	struct later *l = arg;

	usleep(20000);
	l->rc = weir_pend_complete(l->e, l->id, WEIR_ACTION_PERMIT, NULL);
	return NULL;
}

static void completed_from_another_thread(void **state)
{
	struct weir_engine *e = setup(0, true, 16);
	struct weir_decision d = classify(e, 77, 1);
	struct later l = { .e = e };
	pthread_t t;

	(void)state;
	assert_int_equal(pend_rc, 0);
	assert_true(d.pended);
	assert_int_equal(d.pend_id, pend_id);
	assert_int_equal(weir_pend_count(e), 1);
	l.id = d.pend_id;
	pthread_create(&t, NULL, complete_later, &l);
	pthread_join(t, NULL);
	assert_int_equal(l.rc, 0);
	assert_int_equal(ends.n, 1);
	assert_int_equal(ends.cookie, 77);
	assert_int_equal(ends.how, WEIR_PEND_COMPLETED);
	assert_int_equal(ends.action, WEIR_ACTION_PERMIT);
	assert_int_equal(weir_pend_count(e), 0);
	/* Twice is an error, and the handler is not called again. */
	assert_int_equal(weir_pend_complete(e, l.id, WEIR_ACTION_BLOCK, NULL),
			 -ENOENT);
	assert_int_equal(weir_pend_complete(e, l.id, 9, NULL), -EINVAL);
	assert_int_equal(ends.n, 1);
	weir_engine_free(e);
}

static void timeout_takes_the_default(void **state)
{
	struct weir_engine *e = setup(WEIR_FILTER_PEND_PERMIT, true, 16);
	struct weir_decision d = classify(e, 5, 1000);
	struct weir_pkt *repl = weir_pkt_alloc(20, 0);

	(void)state;
	assert_true(d.pended);
	assert_int_equal(weir_pend_expire(e, 1000 + 999999999u), 0);
	assert_int_equal(weir_pend_expire(e, 1000 + 1000000000u), 1);
	assert_int_equal(ends.how, WEIR_PEND_TIMED_OUT);
	assert_int_equal(ends.action, WEIR_ACTION_PERMIT);
	/* Too late: a clear error, and the packet stays the caller's. */
	assert_int_equal(weir_pend_complete(e, d.pend_id, WEIR_ACTION_BLOCK,
					    repl), -ETIMEDOUT);
	assert_int_equal(ends.n, 1);
	weir_pkt_free(repl);
	weir_engine_free(e);

	e = setup(0, true, 16); /* without the flag: block */
	classify(e, 6, 1);
	weir_pend_expire(e, 2000000000u);
	assert_int_equal(ends.action, WEIR_ACTION_BLOCK);
	weir_engine_free(e);
}

static void limit_and_cancel(void **state)
{
	struct weir_engine *e = setup(0, true, 2);
	struct weir_pkt *repl = weir_pkt_alloc(20, 0);
	struct weir_decision a = classify(e, 1, 1), b = classify(e, 2, 1);
	struct weir_decision c = classify(e, 3, 1);

	(void)state;
	assert_true(a.pended && b.pended);
	assert_false(c.pended); /* over the limit: decided at once */
	assert_int_equal(pend_rc, -ENOSPC);
	assert_int_equal(weir_pend_complete(e, a.pend_id, WEIR_ACTION_BLOCK,
					    repl), 0);
	assert_ptr_equal(ends.repl, repl); /* handed over */
	weir_pkt_free(repl);
	assert_int_equal(weir_engine_set_pend(e, on_end, NULL, 0, 1), -EINVAL);
	/* b is still held: its handler cannot go away. */
	assert_int_equal(weir_engine_set_pend(e, NULL, NULL, 2, 1), -EBUSY);
	weir_engine_free(e); /* b is cancelled */
	assert_int_equal(ends.n, 2);
	assert_int_equal(ends.how, WEIR_PEND_CANCELLED);
	assert_int_equal(ends.cookie, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(no_handler_no_pend),
		cmocka_unit_test(completed_from_another_thread),
		cmocka_unit_test(timeout_takes_the_default),
		cmocka_unit_test(limit_and_cancel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
