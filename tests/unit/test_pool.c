/* Unit tests for the per-thread block pools: reuse without malloc,
 * cross-thread frees, pools that outlive their thread, oversize buffers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <weir/packet.h>

static void stats(struct weir_pool_stats *s)
{
	assert_int_equal(weir_pool_stats(NULL, s), 0);
}

static void reuse_without_new_slabs(void **state)
{
	struct weir_pool_stats a, b;
	struct weir_pkt *p[100];

	(void)state;
	for (int i = 0; i < 100; i++)
		p[i] = weir_pkt_alloc(1500, WEIR_PKT_HEADROOM);
	for (int i = 0; i < 100; i++)
		weir_pkt_free(p[i]);
	stats(&a);
	/* The same working set again must not touch malloc. */
	for (int round = 0; round < 50; round++) {
		for (int i = 0; i < 100; i++) {
			p[i] = weir_pkt_alloc(1500, WEIR_PKT_HEADROOM);
			assert_non_null(p[i]);
			memset(p[i]->data, i, 1500);
		}
		for (int i = 0; i < 100; i++)
			weir_pkt_free(p[i]);
	}
	stats(&b);
	assert_int_equal(b.slab_mallocs, a.slab_mallocs);
	assert_int_equal(b.in_use, a.in_use);
	assert_true(b.allocs >= a.allocs + 50 * 200);
}

static void in_use_balances(void **state)
{
	struct weir_pool_stats a, b;
	struct weir_nbl *l;

	(void)state;
	stats(&a);
	l = weir_nbl_new();
	weir_nbl_add(l, weir_pkt_alloc(64, 0));
	weir_nbl_add(l, weir_pkt_alloc(9000, 0));  /* large class */
	stats(&b);
	assert_int_equal(b.in_use, a.in_use + 5); /* list, 2 pkts, 2 bufs */
	weir_nbl_unref(l);
	stats(&b);
	assert_int_equal(b.in_use, a.in_use);
}

static void oversize_falls_back(void **state)
{
	struct weir_pool_stats a, b;
	struct weir_pkt *p;

	(void)state;
	stats(&a);
	p = weir_pkt_alloc(200000, 64);
	assert_non_null(p);
	memset(p->data, 0xab, 200000);
	assert_int_equal(p->len, 200000);
	assert_true(weir_pkt_headroom(p) >= 64);
	weir_pkt_free(p);
	stats(&b);
	assert_int_equal(b.oversize, a.oversize + 1);
	assert_null(weir_pkt_alloc(20u << 20, 0)); /* past the 16 MiB cap */
}

struct handoff {
	struct weir_pkt *pkts[64];
	int n;
};

static void *free_them(void *arg)
{
	struct handoff *h = arg;

	for (int i = 0; i < h->n; i++)
		weir_pkt_free(h->pkts[i]);
	return NULL;
}

static void remote_free_returns_blocks(void **state)
{
	struct weir_pool_stats a, b;
	struct handoff h = { .n = 64 };
	pthread_t t;

	(void)state;
	stats(&a);
	for (int i = 0; i < h.n; i++)
		h.pkts[i] = weir_pkt_alloc(100, 0);
	assert_int_equal(pthread_create(&t, NULL, free_them, &h), 0);
	pthread_join(t, NULL);
	stats(&b);
	assert_int_equal(b.frees_remote, a.frees_remote + 2 * 64);
	assert_int_equal(b.in_use, a.in_use);
	/* The owner adopts the returned blocks instead of growing. */
	for (int i = 0; i < h.n; i++)
		h.pkts[i] = weir_pkt_alloc(100, 0);
	stats(&a);
	assert_int_equal(a.slab_mallocs, b.slab_mallocs);
	for (int i = 0; i < h.n; i++)
		weir_pkt_free(h.pkts[i]);
}

static void *alloc_and_exit(void *arg)
{
	struct handoff *h = arg;

	for (int i = 0; i < h->n; i++) {
		h->pkts[i] = weir_pkt_alloc(70000, 0);
		memset(h->pkts[i]->data, i, 100);
	}
	return NULL;
}

/* Blocks of a thread that exited stay valid; the last free releases the
 * pool (LeakSanitizer checks that nothing is left behind). */
static void pool_outlives_thread(void **state)
{
	struct handoff h = { .n = 16 };
	pthread_t t;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, alloc_and_exit, &h), 0);
	pthread_join(t, NULL);
	for (int i = 0; i < h.n; i++) {
		assert_int_equal(h.pkts[i]->data[99], i);
		weir_pkt_free(h.pkts[i]);
	}
}

static void *churn(void *arg)
{
	_Atomic(struct weir_pkt *) *slot = arg;

	for (int i = 0; i < 20000; i++) {
		struct weir_pkt *p = weir_pkt_alloc(64, 0);
		struct weir_pkt *old = atomic_exchange(slot, p);

		weir_pkt_free(old);
	}
	return NULL;
}

/* Two threads swap packets through one slot, so each frees the other's
 * blocks half the time: exercises the remote stack under contention. */
static void concurrent_cross_frees(void **state)
{
	_Atomic(struct weir_pkt *) slot = NULL;
	pthread_t a, b;

	(void)state;
	pthread_create(&a, NULL, churn, &slot);
	pthread_create(&b, NULL, churn, &slot);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	weir_pkt_free(atomic_load(&slot));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(reuse_without_new_slabs),
		cmocka_unit_test(in_use_balances),
		cmocka_unit_test(oversize_falls_back),
		cmocka_unit_test(remote_free_returns_blocks),
		cmocka_unit_test(pool_outlives_thread),
		cmocka_unit_test(concurrent_cross_frees),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
