/* Unit tests for packets and packet lists: ownership, refcounts, clone
 * (shared, read-only) versus copy (deep), copy-on-write, headroom. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include <weir/packet.h>

#include "packet/buf.h"

static const uint8_t bytes[] = { 0x45, 0, 0, 20, 1, 2, 0, 0, 64, 17,
				 0, 0, 10, 0, 0, 1, 10, 0, 0, 2 };

static void list_order_and_pop(void **state)
{
	struct weir_nbl *l = weir_nbl_new();
	struct weir_pkt *a = weir_pkt_alloc(10, 0), *b = weir_pkt_alloc(20, 0);

	(void)state;
	assert_int_equal(l->count, 0);
	assert_null(weir_nbl_pop(l));
	weir_nbl_add(l, a);
	weir_nbl_add(l, b);
	assert_int_equal(l->count, 2);
	assert_ptr_equal(l->first, a);
	assert_ptr_equal(a->next, b);
	assert_ptr_equal(weir_nbl_pop(l), a);
	assert_null(a->next);
	assert_int_equal(l->count, 1);
	weir_pkt_free(a); /* popped: ours now */
	weir_nbl_add(l, weir_pkt_alloc(30, 0));
	assert_int_equal(l->count, 2);
	assert_null(weir_nbl_unref(l));
}

static void refcount_keeps_list_alive(void **state)
{
	struct weir_nbl *l = weir_nbl_from_bytes(bytes, sizeof(bytes));

	(void)state;
	assert_ptr_equal(weir_nbl_ref(l), l);
	assert_null(weir_nbl_unref(l));
	/* Still alive: one reference left. */
	assert_memory_equal(l->first->data, bytes, sizeof(bytes));
	weir_nbl_unref(l);
	assert_null(weir_nbl_unref(NULL));
}

static void clone_shares_copy_does_not(void **state)
{
	struct weir_nbl *l = weir_nbl_from_bytes(bytes, sizeof(bytes));
	struct weir_nbl *c, *d;

	(void)state;
	l->first->meta.mark = 7;
	l->status = -EIO;
	c = weir_nbl_clone(l);
	d = weir_nbl_copy(l);
	assert_ptr_equal(c->first->data, l->first->data);
	assert_true(weir_pkt_is_shared(l->first));
	assert_true(weir_pkt_is_shared(c->first));
	assert_ptr_not_equal(d->first->data, l->first->data);
	assert_false(weir_pkt_is_shared(d->first));
	assert_memory_equal(d->first->data, bytes, sizeof(bytes));
	assert_int_equal(c->first->meta.mark, 7);
	assert_int_equal(d->first->meta.mark, 7);
	assert_int_equal(c->status, -EIO);
	weir_nbl_unref(l);
	/* The clone keeps the shared bytes alive and becomes sole owner. */
	assert_false(weir_pkt_is_shared(c->first));
	assert_memory_equal(c->first->data, bytes, sizeof(bytes));
	weir_nbl_unref(c);
	weir_nbl_unref(d);
}

static void write_makes_private(void **state)
{
	struct weir_pkt *p = weir_pkt_from_bytes(bytes, sizeof(bytes));
	struct weir_pkt *c = weir_pkt_clone(p);
	uint32_t head = weir_pkt_headroom(c);

	(void)state;
	assert_int_equal(weir_pkt_make_writable(c), 0);
	assert_ptr_not_equal(c->data, p->data);
	assert_int_equal(weir_pkt_headroom(c), head);
	c->data[8] = 1;
	assert_int_equal(p->data[8], 64);
	assert_false(weir_pkt_is_shared(p));
	assert_false(weir_pkt_is_shared(c));
	/* Already private: no copy. */
	uint8_t *before = p->data;
	assert_int_equal(weir_pkt_make_writable(p), 0);
	assert_ptr_equal(p->data, before);
	weir_pkt_free(p);
	weir_pkt_free(c);
}

static void headroom_push_pull(void **state)
{
	struct weir_pkt *p = weir_pkt_from_bytes(bytes, sizeof(bytes));
	struct weir_pkt *c;
	uint8_t *h;

	(void)state;
	assert_int_equal(weir_pkt_headroom(p), WEIR_PKT_HEADROOM);
	h = weir_pkt_push(p, 40);
	assert_non_null(h);
	assert_int_equal(p->len, sizeof(bytes) + 40);
	assert_memory_equal(p->data + 40, bytes, sizeof(bytes));
	assert_null(weir_pkt_push(p, WEIR_PKT_HEADROOM)); /* not enough */
	assert_non_null(weir_pkt_pull(p, 40));
	assert_memory_equal(p->data, bytes, sizeof(bytes));
	assert_null(weir_pkt_pull(p, 1000));
	/* Pushing through a shared packet copies first. */
	c = weir_pkt_clone(p);
	assert_non_null(weir_pkt_push(c, 8));
	assert_false(weir_pkt_is_shared(p));
	assert_memory_equal(c->data + 8, bytes, sizeof(bytes));
	weir_pkt_free(c);
	weir_pkt_free(p);
}

static void put_grows_and_moves(void **state)
{
	struct weir_pkt *p = weir_pkt_from_bytes(bytes, sizeof(bytes));
	uint32_t head = weir_pkt_headroom(p);

	(void)state;
	assert_int_equal(weir_pkt_put(p, 100), 0);
	assert_int_equal(p->len, sizeof(bytes) + 100);
	/* Past the small class: the buffer is replaced, bytes kept. */
	assert_int_equal(weir_pkt_put(p, 30000), 0);
	assert_int_equal(p->len, sizeof(bytes) + 30100);
	assert_int_equal(weir_pkt_headroom(p), head);
	assert_memory_equal(p->data, bytes, sizeof(bytes));
	p->data[p->len - 1] = 0x5a; /* writable to the end */
	weir_pkt_trim(p, 4);
	assert_int_equal(p->len, 4);
	weir_pkt_trim(p, 100); /* no-op */
	assert_int_equal(p->len, 4);
	assert_int_equal(weir_pkt_put(p, 20u << 20), -EMSGSIZE);
	weir_pkt_free(p);
}

static void parse_fills_descriptor(void **state)
{
	struct weir_pkt *p = weir_pkt_from_bytes(bytes, sizeof(bytes));

	(void)state;
	/* 20-byte IPv4 header claiming UDP but no UDP header: described. */
	assert_int_equal(weir_pkt_parse(p), -EBADMSG);
	assert_true(p->pd.flags & WEIR_PD_L3);
	assert_int_equal(p->pd.proto, 17);
	weir_pkt_free(p);
	weir_pkt_free(NULL);
}

/* A packet made inside a receive buffer is a view: shared while the
 * receiver holds the buffer, copied before a write, and the buffer is
 * free for reuse once the packet is gone. */
static void view_in_receive_buffer(void **state)
{
	struct weir_buf *b = weir__buf_new(2048);
	uint8_t *d;
	struct weir_pkt *p, *c;

	(void)state;
	assert_non_null(b);
	d = weir__buf_data(b);
	memset(d, 0xab, 2048);
	assert_false(weir__buf_shared(b));
	p = weir__pkt_in_buf(b, d + 100, 60);
	assert_non_null(p);
	assert_ptr_equal(p->data, d + 100);
	assert_true(weir__buf_shared(b));
	assert_true(weir_pkt_is_shared(p));
	c = weir_pkt_clone(p);
	weir_pkt_free(p);
	assert_true(weir__buf_shared(b));       /* the clone still refers */
	assert_int_equal(weir_pkt_make_writable(c), 0);
	assert_ptr_not_equal(c->data, d + 100); /* copied, not written in */
	assert_int_equal(c->data[0], 0xab);
	c->data[0] = 1;
	assert_int_equal(d[100], 0xab);
	assert_false(weir__buf_shared(b));
	weir_pkt_free(c);
	weir__buf_put(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(list_order_and_pop),
		cmocka_unit_test(refcount_keeps_list_alive),
		cmocka_unit_test(clone_shares_copy_does_not),
		cmocka_unit_test(write_makes_private),
		cmocka_unit_test(view_in_receive_buffer),
		cmocka_unit_test(headroom_push_pull),
		cmocka_unit_test(put_grows_and_moves),
		cmocka_unit_test(parse_fills_descriptor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
