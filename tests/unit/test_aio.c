/* Unit tests for the application tier's completion-based I/O: buffers,
 * real sockets (AF_UNIX stream pair, TCP and UDP over loopback, IPv4 and
 * IPv6), in-memory links (zero copy, back-pressure, shutdown, reset,
 * close) and files at offsets. Every completion is counted: exactly once,
 * never inside the call that started it (a flag is up during each call),
 * with its target and user data; closing a socket or the whole loop with
 * operations outstanding completes each once with -ECANCELED. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <weir/io.h>

#define MS 1000000ll

/* ---- completions, recorded -------------------------------------------- */

/* One operation's completion. */
struct ev {
	int calls;
	bool success;
	int error;
	struct weir_iobuf *buf;
	uint64_t ud;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int order;                 /* global completion order */
};

static int in_call;            /* up while a starting call runs */
static int completions;        /* all completions so far */

static void on_done(void *target, bool success, int error,
		    struct weir_iobuf *buf, uint64_t ud,
		    const struct sockaddr *addr, socklen_t addr_len)
{
	struct ev *e = target;

	assert_int_equal(in_call, 0);   /* never inside the starting call */
	e->calls++;
	e->success = success;
	e->error = error;
	e->buf = buf;
	e->ud = ud;
	e->addr_len = addr_len;
	e->order = completions++;
	assert_true(success ? error == 0 : error < 0);
	assert_true(addr_len <= sizeof(e->addr));
	assert_true(!addr_len == !addr);
	if (addr_len)
		memcpy(&e->addr, addr, addr_len);
}

#define TARGET(e) (&(struct weir_io_target){ on_done, (e) })

/* A starting call, with the "inside" flag up while it runs. */
static int call_rc;
#define CALL(expr) (in_call = 1, call_rc = (expr), in_call = 0, call_rc)

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
	completions = 0;
	return loop;
}

/* Runs rounds until *calls reaches n (10 s guard against a hang). */
static void run_until(struct weir_loop *loop, const int *calls, int n)
{
	uint64_t end = mono_ns() + 10000 * MS;

	while (*calls < n) {
		assert_true(weir_loop_run_once(loop, 50 * MS) >= 0);
		assert_true(mono_ns() < end);
	}
}

/* A few rounds with nothing awaited: what must not complete does not. */
static void spin(struct weir_loop *loop)
{
	for (int i = 0; i < 5; i++)
		assert_true(weir_loop_run_once(loop, 2 * MS) >= 0);
}

static void expect_ok(const struct ev *e, uint64_t ud)
{
	assert_int_equal(e->calls, 1);
	assert_true(e->success);
	assert_int_equal(e->error, 0);
	assert_int_equal(e->ud, ud);
}

static void expect_err(const struct ev *e, int err)
{
	assert_int_equal(e->calls, 1);
	assert_false(e->success);
	assert_int_equal(e->error, err);
}

static struct weir_iobuf *text(const char *s)
{
	return weir_iobuf_from(s, (uint32_t)strlen(s));
}

static void expect_bytes(const struct weir_iobuf *b, const char *s)
{
	assert_non_null(b);
	assert_int_equal(b->len, strlen(s));
	assert_memory_equal(b->data, s, b->len);
}

/* ---- buffers ----------------------------------------------------------- */

static void buffers(void **state)
{
	struct weir_iobuf *b, *w, *ww;

	(void)state;
	b = weir_iobuf_new(64);
	assert_non_null(b);
	assert_int_equal(b->len, 0);
	assert_int_equal(b->cap, 64);
	assert_true(weir_iobuf_writable(b));
	weir_iobuf_ref(b);
	assert_false(weir_iobuf_writable(b));   /* shared */
	weir_iobuf_unref(b);
	assert_true(weir_iobuf_writable(b));
	weir_iobuf_unref(b);

	b = weir_iobuf_from("hello world", 11);
	expect_bytes(b, "hello world");
	w = weir_iobuf_window(b, 6, 100);       /* clamped */
	expect_bytes(w, "world");
	assert_false(weir_iobuf_writable(w));
	assert_false(weir_iobuf_writable(b));   /* the window holds it */
	assert_null(weir_iobuf_window(b, 12, 1));
	ww = weir_iobuf_window(w, 1, 3);
	expect_bytes(ww, "orl");
	weir_iobuf_unref(b);                    /* windows keep the bytes */
	weir_iobuf_unref(w);
	expect_bytes(ww, "orl");
	weir_iobuf_unref(ww);
	weir_iobuf_unref(NULL);
}

/* ---- real sockets ------------------------------------------------------ */

static void wrap_pair(struct weir_loop *loop, int type, struct weir_sock **a,
		      struct weir_sock **b)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(weir_sock_from_fd(loop, sv[0], false, a), 0);
	assert_int_equal(weir_sock_from_fd(loop, sv[1], false, b), 0);
	assert_int_equal(weir_sock_fd(*a), sv[0]);
}

static void unix_round_trip(void **state)
{
	struct weir_loop *loop = new_loop();
	struct weir_sock *a, *b;
	struct ev rx = { 0 }, tx = { 0 }, rx2 = { 0 }, eof = { 0 }, sh = { 0 };
	struct weir_iobuf *msg = text("hello"), *mine;

	(void)state;
	wrap_pair(loop, SOCK_STREAM, &a, &b);
	assert_int_equal(CALL(weir_sock_recv(b, NULL, TARGET(&rx), 11)), 0);
	assert_int_equal(CALL(weir_sock_recv(b, NULL, TARGET(&rx), 11)),
			 -EBUSY);
	assert_int_equal(CALL(weir_sock_send(a, msg, TARGET(&tx), 22)), 0);
	assert_int_equal(rx.calls + tx.calls, 0);
	run_until(loop, &rx.calls, 1);
	run_until(loop, &tx.calls, 1);
	expect_ok(&tx, 22);
	assert_null(tx.buf);
	expect_ok(&rx, 11);
	expect_bytes(rx.buf, "hello");
	assert_int_equal(rx.addr_len, 0);
	assert_true(weir_iobuf_writable(msg)); /* weir let go of it */
	weir_iobuf_unref(rx.buf);

	/* A caller's buffer: appended to, and handed back. */
	mine = weir_iobuf_new(16);
	memcpy(mine->data, ">>", 2);
	mine->len = 2;
	assert_int_equal(CALL(weir_sock_recv(b, mine, TARGET(&rx2), 33)), 0);
	assert_int_equal(CALL(weir_sock_send(a, msg, TARGET(&tx), 22)), 0);
	run_until(loop, &rx2.calls, 1);
	expect_ok(&rx2, 33);
	assert_ptr_equal(rx2.buf, mine);
	expect_bytes(mine, ">>hello");
	weir_iobuf_unref(mine);

	/* End of stream: a 0-length buffer, after the shutdown completes. */
	assert_int_equal(CALL(weir_sock_recv(b, NULL, TARGET(&eof), 44)), 0);
	assert_int_equal(CALL(weir_sock_shutdown(a, SHUT_WR, TARGET(&sh), 55)),
			 0);
	run_until(loop, &eof.calls, 1);
	run_until(loop, &sh.calls, 1);
	expect_ok(&sh, 55);
	expect_ok(&eof, 44);
	assert_int_equal(eof.buf->len, 0);
	weir_iobuf_unref(eof.buf);
	assert_int_equal(tx.calls, 2);

	weir_iobuf_unref(msg);
	weir_sock_close(a);
	weir_sock_close(b);
	weir_loop_free(loop);
}

static void tcp_pair(struct weir_loop *loop, struct weir_sock **cli,
		     struct weir_sock **srv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int l, c, s;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(l >= 0);
	assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &len), 0);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(connect(c, (struct sockaddr *)&sin, sizeof(sin)), 0);
	s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	assert_true(s >= 0);
	close(l);
	assert_int_equal(weir_sock_from_fd(loop, c, true, cli), 0);
	assert_int_equal(weir_sock_from_fd(loop, s, false, srv), 0);
}

/* One-byte stream sends complete (a byte count of 1 once read as "sent
 * short, resubmitted": the send never completed and held up the
 * socket's queue), and a receive and a send on one socket both ways. */
static void tcp_one_byte(void **state)
{
	struct weir_loop *loop = new_loop();
	struct weir_sock *c, *srv;
	struct ev rx = { 0 }, tx = { 0 }, tx2 = { 0 }, back = { 0 };
	struct weir_iobuf *x = text("X"), *y = text("Y");

	(void)state;
	tcp_pair(loop, &c, &srv);
	assert_int_equal(CALL(weir_sock_recv(srv, NULL, TARGET(&rx), 1)), 0);
	assert_int_equal(CALL(weir_sock_recv(c, NULL, TARGET(&back), 4)), 0);
	assert_int_equal(CALL(weir_sock_send(srv, x, TARGET(&tx), 2)), 0);
	assert_int_equal(CALL(weir_sock_send(srv, y, TARGET(&tx2), 3)), 0);
	run_until(loop, &tx.calls, 1);
	run_until(loop, &tx2.calls, 1);
	expect_ok(&tx, 2);
	expect_ok(&tx2, 3);
	run_until(loop, &back.calls, 1);
	expect_ok(&back, 4);
	weir_iobuf_unref(back.buf);
	assert_int_equal(CALL(weir_sock_send(c, x, TARGET(&tx), 5)), 0);
	run_until(loop, &rx.calls, 1);
	expect_ok(&rx, 1);
	expect_bytes(rx.buf, "X");
	weir_iobuf_unref(rx.buf);
	weir_iobuf_unref(x);
	weir_iobuf_unref(y);
	weir_sock_close(c);
	weir_sock_close(srv);
	weir_loop_free(loop);
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + i / 251);
}

static struct weir_iobuf *patterned(size_t from, uint32_t len)
{
	struct weir_iobuf *b = weir_iobuf_new(len);

	for (uint32_t i = 0; i < len; i++)
		b->data[i] = pattern(from + i);
	b->len = len;
	return b;
}

/* The receiver of a large transfer: receives again from its callback. */
struct sink {
	struct weir_sock *s;
	size_t got, want;
	int recvs, bad, eof;
};

static void sink_done(void *target, bool success, int error,
		      struct weir_iobuf *buf, uint64_t ud,
		      const struct sockaddr *addr, socklen_t addr_len)
{
	struct sink *k = target;

	(void)error, (void)ud, (void)addr, (void)addr_len;
	assert_int_equal(in_call, 0);
	assert_true(success);
	k->recvs++;
	if (!buf->len)
		k->eof++;
	for (uint32_t i = 0; i < buf->len; i++)
		k->bad += buf->data[i] != pattern(k->got + i);
	k->got += buf->len;
	weir_iobuf_unref(buf);
	if (k->got < k->want)
		assert_int_equal(weir_sock_recv(k->s, NULL, &(struct
				 weir_io_target){ sink_done, k }, 0), 0);
}

static void tcp_large_in_order(void **state)
{
	struct weir_loop *loop = new_loop();
	struct weir_sock *cli, *srv;
	const uint32_t sizes[] = { 8u << 20, 100, 1u << 20 };
	struct ev tx[3] = { { 0 } };
	struct sink k = { 0 };
	size_t off = 0;

	(void)state;
	tcp_pair(loop, &cli, &srv);
	for (int i = 0; i < 3; i++) {
		struct weir_iobuf *b = patterned(off, sizes[i]);

		assert_int_equal(CALL(weir_sock_send(cli, b, TARGET(&tx[i]),
						     (uint64_t)i)), 0);
		weir_iobuf_unref(b);    /* weir holds its own reference */
		off += sizes[i];
	}
	k.s = srv;
	k.want = off;
	assert_int_equal(CALL(weir_sock_recv(srv, NULL,
			 &(struct weir_io_target){ sink_done, &k }, 0)), 0);
	run_until(loop, &tx[2].calls, 1);
	while (k.got < k.want)
		assert_true(weir_loop_run_once(loop, 50 * MS) >= 0);
	assert_int_equal(k.got, off);
	assert_int_equal(k.bad, 0);
	for (int i = 0; i < 3; i++) {
		expect_ok(&tx[i], (uint64_t)i);
		assert_int_equal(tx[i].order, i);   /* in order */
	}
	weir_sock_close(cli);
	weir_sock_close(srv);
	weir_loop_free(loop);
}

static void tcp_eof(void **state)
{
	struct weir_loop *loop = new_loop();
	struct weir_sock *cli, *srv;
	struct ev rx = { 0 };

	(void)state;
	tcp_pair(loop, &cli, &srv);
	assert_int_equal(CALL(weir_sock_recv(srv, NULL, TARGET(&rx), 9)), 0);
	shutdown(weir_sock_fd(cli), SHUT_WR);
	run_until(loop, &rx.calls, 1);
	expect_ok(&rx, 9);
	assert_int_equal(rx.buf->len, 0);
	weir_iobuf_unref(rx.buf);
	weir_sock_close(cli);
	weir_sock_close(srv);
	weir_loop_free(loop);
}

/* ---- UDP --------------------------------------------------------------- */

static int udp_bound(int family, struct sockaddr_storage *ret_addr,
		     socklen_t *ret_len)
{
	struct sockaddr_storage ss = { .ss_family = (sa_family_t)family };
	socklen_t len;
	int fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -1;
	if (family == AF_INET) {
		((struct sockaddr_in *)&ss)->sin_addr.s_addr =
			htonl(INADDR_LOOPBACK);
		len = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
		len = sizeof(struct sockaddr_in6);
	}
	if (bind(fd, (struct sockaddr *)&ss, len)) {
		close(fd);
		return -1;
	}
	*ret_len = sizeof(*ret_addr);
	getsockname(fd, (struct sockaddr *)ret_addr, ret_len);
	return fd;
}

static void expect_addr(const struct ev *e, const struct sockaddr_storage *a,
			socklen_t len)
{
	assert_int_equal(e->addr_len, len);
	assert_memory_equal(&e->addr, a, len);
}

static void udp_family(int family)
{
	struct weir_loop *loop = new_loop();
	struct sockaddr_storage ext_a, int_a, snd_a;
	socklen_t ext_l, int_l, snd_l;
	int fe = udp_bound(family, &ext_a, &ext_l);
	int fi = udp_bound(family, &int_a, &int_l);
	int fs = udp_bound(family, &snd_a, &snd_l);
	struct weir_sock *ext, *in, *snd;
	struct ev r1 = { 0 }, r2 = { 0 }, t1 = { 0 }, t2 = { 0 };
	struct weir_iobuf *d1 = text("datagram one"), *d2 = text("two");

	if (fe < 0 || fi < 0 || fs < 0) {
		fprintf(stderr, "skip: no loopback for family %d\n", family);
		weir_loop_free(loop);
		return;
	}
	assert_int_equal(weir_sock_from_fd(loop, fe, true, &ext), 0);
	assert_int_equal(weir_sock_from_fd(loop, fi, false, &in), 0);
	assert_int_equal(weir_sock_from_fd(loop, fs, true, &snd), 0);
	assert_int_equal(CALL(weir_sock_recvfrom(ext, NULL, TARGET(&r1), 1)),
			 0);
	assert_int_equal(CALL(weir_sock_recvfrom(in, NULL, TARGET(&r2), 2)),
			 0);
	assert_int_equal(CALL(weir_sock_sendto(snd, d1,
			 (struct sockaddr *)&ext_a, ext_l, TARGET(&t1), 3)), 0);
	assert_int_equal(CALL(weir_sock_sendto(snd, d2,
			 (struct sockaddr *)&int_a, int_l, TARGET(&t2), 4)), 0);
	run_until(loop, &r1.calls, 1);
	run_until(loop, &r2.calls, 1);
	expect_ok(&t1, 3);
	expect_ok(&t2, 4);
	/* External side: the source. Internal side: the destination. */
	expect_ok(&r1, 1);
	expect_bytes(r1.buf, "datagram one");
	assert_int_equal(r1.buf->cap, r1.buf->len);  /* no 64 KiB kept */
	expect_addr(&r1, &snd_a, snd_l);
	expect_ok(&r2, 2);
	expect_bytes(r2.buf, "two");
	expect_addr(&r2, &int_a, int_l);
	weir_iobuf_unref(r1.buf);
	weir_iobuf_unref(r2.buf);
	weir_iobuf_unref(d1);
	weir_iobuf_unref(d2);
	weir_sock_close(ext);
	weir_sock_close(in);
	weir_sock_close(snd);
	weir_loop_free(loop);
}

static void udp_ipv4(void **state)
{
	(void)state;
	udp_family(AF_INET);
}

static void udp_ipv6(void **state)
{
	(void)state;
	udp_family(AF_INET6);
}

/* A datagram larger than the caller's buffer is reported, not cut. */
static void udp_too_big(void **state)
{
	struct weir_loop *loop = new_loop();
	struct sockaddr_storage a;
	socklen_t al;
	int fa = udp_bound(AF_INET, &a, &al);
	struct weir_sock *r, *s;
	struct weir_iobuf *small = weir_iobuf_new(4), *d = text("too long");
	struct ev rx = { 0 }, tx = { 0 };

	(void)state;
	assert_int_equal(weir_sock_from_fd(loop, fa, true, &r), 0);
	assert_int_equal(weir_sock_from_fd(loop, socket(AF_INET, SOCK_DGRAM |
			 SOCK_CLOEXEC, 0), true, &s), 0);
	assert_int_equal(CALL(weir_sock_recvfrom(r, small, TARGET(&rx), 0)), 0);
	assert_int_equal(CALL(weir_sock_sendto(s, d, (struct sockaddr *)&a,
					       al, TARGET(&tx), 0)), 0);
	run_until(loop, &rx.calls, 1);
	expect_err(&rx, -EMSGSIZE);
	assert_ptr_equal(rx.buf, small);        /* handed back */
	assert_int_equal(small->len, 0);
	weir_iobuf_unref(small);
	weir_iobuf_unref(d);
	weir_sock_close(r);
	weir_sock_close(s);
	weir_loop_free(loop);
}

/* ---- closing real sockets ---------------------------------------------- */

/* A send that cannot finish (nobody reads), one queued behind it, a
 * receive that waits: close completes each once with -ECANCELED. */
static void close_with_ops_in_flight(void **state)
{
	struct weir_loop *loop = new_loop();
	struct weir_sock *a, *b;
	struct weir_iobuf *big = patterned(0, 8u << 20), *small = text("x");
	struct ev tx1 = { 0 }, tx2 = { 0 }, rx = { 0 }, rxb = { 0 };

	(void)state;
	wrap_pair(loop, SOCK_STREAM, &a, &b);
	assert_int_equal(CALL(weir_sock_send(a, big, TARGET(&tx1), 1)), 0);
	assert_int_equal(CALL(weir_sock_send(a, small, TARGET(&tx2), 2)), 0);
	assert_int_equal(CALL(weir_sock_recv(a, NULL, TARGET(&rx), 3)), 0);
	spin(loop);
	assert_int_equal(tx1.calls + tx2.calls + rx.calls, 0);
	in_call = 1;
	weir_sock_close(a);                     /* nothing inside close */
	in_call = 0;
	run_until(loop, &tx2.calls, 1);
	run_until(loop, &rx.calls, 1);
	run_until(loop, &tx1.calls, 1);
	expect_err(&tx1, -ECANCELED);
	expect_err(&tx2, -ECANCELED);
	expect_err(&rx, -ECANCELED);
	assert_null(rx.buf);
	assert_true(tx1.order < tx2.order);
	assert_true(weir_iobuf_writable(big));

	/* The peer sees the data that went, then the end. */
	assert_int_equal(CALL(weir_sock_recv(b, NULL, TARGET(&rxb), 4)), 0);
	run_until(loop, &rxb.calls, 1);
	assert_true(rxb.success);
	weir_iobuf_unref(rxb.buf);
	spin(loop);
	assert_int_equal(tx1.calls + tx2.calls + rx.calls, 3);
	weir_iobuf_unref(big);
	weir_iobuf_unref(small);
	weir_sock_close(b);
	weir_loop_free(loop);
}

/* A completion that closes its own socket while another op is pending. */
struct closer {
	struct weir_sock *s;
	int calls;
};

static void close_from_callback(void *target, bool success, int error,
				struct weir_iobuf *buf, uint64_t ud,
				const struct sockaddr *addr,
				socklen_t addr_len)
{
	struct closer *c = target;

	(void)success, (void)error, (void)ud, (void)addr, (void)addr_len;
	c->calls++;
	weir_iobuf_unref(buf);
	weir_sock_close(c->s);
}

static void close_inside_completion(void **state)
{
	struct weir_loop *loop = new_loop();
	struct weir_sock *a, *b;
	struct weir_iobuf *big = patterned(0, 8u << 20), *m = text("ping");
	struct ev tx = { 0 }, tx2 = { 0 };
	struct closer c = { 0 };

	(void)state;
	wrap_pair(loop, SOCK_STREAM, &a, &b);
	c.s = a;
	assert_int_equal(CALL(weir_sock_send(a, big, TARGET(&tx), 1)), 0);
	assert_int_equal(CALL(weir_sock_send(a, m, TARGET(&tx2), 2)), 0);
	assert_int_equal(CALL(weir_sock_recv(a, NULL, &(struct weir_io_target){
			 close_from_callback, &c }, 0)), 0);
	assert_int_equal(write(weir_sock_fd(b), "!", 1), 1);
	run_until(loop, &c.calls, 1);
	run_until(loop, &tx2.calls, 1);
	expect_err(&tx, -ECANCELED);
	expect_err(&tx2, -ECANCELED);
	assert_int_equal(c.calls, 1);
	weir_iobuf_unref(big);
	weir_iobuf_unref(m);
	weir_sock_close(b);
	weir_loop_free(loop);
}

/* ---- links ------------------------------------------------------------- */

static void link_zero_copy_and_backpressure(void **state)
{
	struct weir_loop *loop = new_loop();
	struct weir_sock *a, *b;
	struct weir_iobuf *m1 = text("first"), *m2 = text("second");
	struct ev t1 = { 0 }, t2 = { 0 }, r1 = { 0 }, r2 = { 0 };

	(void)state;
	assert_int_equal(weir_sock_pair(loop, WEIR_SOCK_STREAM, &a, &b), 0);
	assert_int_equal(weir_sock_fd(a), -1);
	assert_int_equal(CALL(weir_sock_send(a, m1, TARGET(&t1), 1)), 0);
	assert_int_equal(CALL(weir_sock_send(a, m2, TARGET(&t2), 2)), 0);
	spin(loop);
	assert_int_equal(t1.calls + t2.calls, 0);    /* nobody took them */
	assert_int_equal(CALL(weir_sock_recv(b, NULL, TARGET(&r1), 3)), 0);
	run_until(loop, &r1.calls, 1);
	run_until(loop, &t1.calls, 1);
	expect_ok(&r1, 3);
	expect_ok(&t1, 1);
	assert_ptr_equal(r1.buf, m1);                /* the very buffer */
	spin(loop);
	assert_int_equal(t2.calls, 0);               /* still waits */
	assert_int_equal(CALL(weir_sock_recv(b, NULL, TARGET(&r2), 4)), 0);
	run_until(loop, &t2.calls, 1);
	run_until(loop, &r2.calls, 1);
	expect_ok(&t2, 2);
	assert_ptr_equal(r2.buf, m2);
	expect_bytes(r2.buf, "second");
	weir_iobuf_unref(r1.buf);
	weir_iobuf_unref(r2.buf);
	assert_true(weir_iobuf_writable(m1));
	weir_iobuf_unref(m1);
	weir_iobuf_unref(m2);
	weir_sock_close(a);
	weir_sock_close(b);
	spin(loop);
	weir_loop_free(loop);
}

/* A receive into the caller's buffer takes what fits; the send completes
 * when its last byte was taken (the rest comes as a window). */
static void link_copy_partial(void **state)
{
	struct weir_loop *loop = new_loop();
	struct weir_sock *a, *b;
	struct weir_iobuf *m = text("0123456789"), *small = weir_iobuf_new(4);
	struct ev t = { 0 }, r1 = { 0 }, r2 = { 0 };

	(void)state;
	assert_int_equal(weir_sock_pair(loop, WEIR_SOCK_STREAM, &a, &b), 0);
	assert_int_equal(CALL(weir_sock_recv(b, small, TARGET(&r1), 1)), 0);
	assert_int_equal(CALL(weir_sock_send(a, m, TARGET(&t), 2)), 0);
	run_until(loop, &r1.calls, 1);
	expect_ok(&r1, 1);
	assert_ptr_equal(r1.buf, small);
	expect_bytes(small, "0123");
	spin(loop);
	assert_int_equal(t.calls, 0);
	assert_int_equal(CALL(weir_sock_recv(b, NULL, TARGET(&r2), 3)), 0);
	run_until(loop, &t.calls, 1);
	run_until(loop, &r2.calls, 1);
	expect_ok(&t, 2);
	expect_bytes(r2.buf, "456789");
	assert_ptr_equal(r2.buf->data, m->data + 4); /* no copy */
	weir_iobuf_unref(r2.buf);
	weir_iobuf_unref(small);
	weir_iobuf_unref(m);
	weir_sock_close(a);
	weir_sock_close(b);
	weir_loop_free(loop);
}

static void link_shutdown_and_close(void **state)
{
	struct weir_loop *loop = new_loop();
	struct weir_sock *a, *b;
	struct weir_iobuf *m = text("last words");
	struct ev t = { 0 }, sh = { 0 }, r1 = { 0 }, r2 = { 0 }, r3 = { 0 };
	struct ev late = { 0 }, own_tx = { 0 }, own_rx = { 0 };

	(void)state;
	assert_int_equal(weir_sock_pair(loop, WEIR_SOCK_STREAM, &a, &b), 0);
	assert_int_equal(CALL(weir_sock_send(a, m, TARGET(&t), 1)), 0);
	assert_int_equal(CALL(weir_sock_shutdown(a, SHUT_WR, TARGET(&sh), 2)),
			 0);
	spin(loop);
	assert_int_equal(sh.calls, 0);          /* after the send */
	assert_int_equal(CALL(weir_sock_recv(b, NULL, TARGET(&r1), 3)), 0);
	run_until(loop, &sh.calls, 1);
	expect_ok(&t, 1);
	expect_ok(&r1, 3);
	expect_ok(&sh, 2);
	assert_true(t.order < sh.order);
	assert_int_equal(CALL(weir_sock_recv(b, NULL, TARGET(&r2), 4)), 0);
	run_until(loop, &r2.calls, 1);
	expect_ok(&r2, 4);
	assert_int_equal(r2.buf->len, 0);       /* end of stream */
	weir_iobuf_unref(r1.buf);
	weir_iobuf_unref(r2.buf);

	/* b: a send and a receive wait; a closes without them... */
	assert_int_equal(CALL(weir_sock_send(b, m, TARGET(&own_tx), 5)), 0);
	weir_sock_close(a);
	run_until(loop, &own_tx.calls, 1);
	expect_err(&own_tx, -ECONNRESET);       /* the peer is gone */
	/* ... its shutdown came first: b reads the end, not a reset. */
	assert_int_equal(CALL(weir_sock_recv(b, NULL, TARGET(&r3), 6)), 0);
	run_until(loop, &r3.calls, 1);
	expect_ok(&r3, 6);
	assert_int_equal(r3.buf->len, 0);
	weir_iobuf_unref(r3.buf);
	assert_int_equal(CALL(weir_sock_send(b, m, TARGET(&late), 7)), 0);
	run_until(loop, &late.calls, 1);
	expect_err(&late, -ECONNRESET);
	(void)own_rx;
	weir_sock_close(b);
	spin(loop);
	assert_true(weir_iobuf_writable(m));
	weir_iobuf_unref(m);
	weir_loop_free(loop);
}

/* A close without shutdown: the peer's pending receive and send get
 * -ECONNRESET, the closer's own pending ops -ECANCELED, each once. */
static void link_reset(void **state)
{
	struct weir_loop *loop = new_loop();
	struct weir_sock *a, *b;
	struct weir_iobuf *m1 = text("a to b"), *m2 = text("queued"),
			  *m3 = text("b to a");
	struct ev a_tx1 = { 0 }, a_tx2 = { 0 }, a_rx = { 0 }, b_rx = { 0 };
	struct ev b_tx = { 0 }, b_rx2 = { 0 };

	(void)state;
	assert_int_equal(weir_sock_pair(loop, WEIR_SOCK_STREAM, &a, &b), 0);
	/* a: two sends wait (b has no receive), and a receive waits */
	assert_int_equal(CALL(weir_sock_send(a, m1, TARGET(&a_tx1), 1)), 0);
	assert_int_equal(CALL(weir_sock_send(a, m2, TARGET(&a_tx2), 2)), 0);
	spin(loop);
	/* b's send goes to a's receive: take it first, then wait again */
	assert_int_equal(CALL(weir_sock_recv(a, NULL, TARGET(&a_rx), 3)), 0);
	assert_int_equal(CALL(weir_sock_send(b, m3, TARGET(&b_tx), 4)), 0);
	run_until(loop, &b_tx.calls, 1);
	expect_ok(&a_rx, 3);
	assert_ptr_equal(a_rx.buf, m3);
	weir_iobuf_unref(a_rx.buf);
	memset(&a_rx, 0, sizeof(a_rx));
	assert_int_equal(CALL(weir_sock_recv(a, NULL, TARGET(&a_rx), 3)), 0);
	spin(loop);
	assert_int_equal(a_tx1.calls + a_tx2.calls + a_rx.calls, 0);

	in_call = 1;
	weir_sock_close(a);
	in_call = 0;
	assert_int_equal(CALL(weir_sock_recv(b, NULL, TARGET(&b_rx), 5)), 0);
	run_until(loop, &b_rx.calls, 1);
	run_until(loop, &a_rx.calls, 1);
	expect_err(&a_tx1, -ECANCELED);
	expect_err(&a_tx2, -ECANCELED);
	expect_err(&a_rx, -ECANCELED);
	expect_err(&b_rx, -ECONNRESET);
	assert_null(b_rx.buf);
	/* and later operations too */
	assert_int_equal(CALL(weir_sock_recv(b, NULL, TARGET(&b_rx2), 6)), 0);
	run_until(loop, &b_rx2.calls, 1);
	expect_err(&b_rx2, -ECONNRESET);
	spin(loop);
	assert_int_equal(a_tx1.calls + a_tx2.calls + a_rx.calls + b_rx.calls +
			 b_rx2.calls + b_tx.calls, 6);
	weir_sock_close(b);
	spin(loop);
	weir_iobuf_unref(m1);
	weir_iobuf_unref(m2);
	weir_iobuf_unref(m3);
	weir_loop_free(loop);
}

/* Datagram links carry sendto's address to recvfrom. */
static void link_datagrams(void **state)
{
	struct weir_loop *loop = new_loop();
	struct weir_sock *a, *b;
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_port = htons(53) };
	struct weir_iobuf *d = text("query"), *small = weir_iobuf_new(2);
	struct weir_iobuf *empty = weir_iobuf_new(8);
	struct ev t1 = { 0 }, t2 = { 0 }, r1 = { 0 }, r2 = { 0 }, e = { 0 };
	struct ev t3 = { 0 }, r3 = { 0 };
	struct ev sh = { 0 };

	(void)state;
	to.sin_addr.s_addr = htonl(0x0a000001);
	assert_int_equal(weir_sock_pair(loop, WEIR_SOCK_DGRAM, &a, &b), 0);
	assert_int_equal(CALL(weir_sock_sendto(a, d, (struct sockaddr *)&to,
					       sizeof(to), TARGET(&t1), 1)), 0);
	assert_int_equal(CALL(weir_sock_recvfrom(b, NULL, TARGET(&r1), 2)), 0);
	run_until(loop, &r1.calls, 1);
	expect_ok(&r1, 2);
	assert_ptr_equal(r1.buf, d);
	assert_int_equal(r1.addr_len, sizeof(to));
	assert_memory_equal(&r1.addr, &to, sizeof(to));
	weir_iobuf_unref(r1.buf);
	/* too big for the caller's buffer: reported, and dropped */
	assert_int_equal(CALL(weir_sock_recvfrom(b, small, TARGET(&r2), 3)), 0);
	assert_int_equal(CALL(weir_sock_send(a, d, TARGET(&t2), 4)), 0);
	run_until(loop, &t2.calls, 1);
	expect_err(&r2, -EMSGSIZE);
	assert_ptr_equal(r2.buf, small);
	/* an empty datagram is data: it arrives as one */
	assert_int_equal(CALL(weir_sock_send(a, empty, TARGET(&t3), 7)), 0);
	assert_int_equal(CALL(weir_sock_recvfrom(b, NULL, TARGET(&r3), 8)), 0);
	run_until(loop, &r3.calls, 1);
	expect_ok(&r3, 8);
	assert_int_equal(r3.buf->len, 0);
	weir_iobuf_unref(r3.buf);
	/* a shutdown fails the peer's receive with -ESHUTDOWN (a datagram
	 * link has no end of stream), with the caller's buffer back */
	assert_int_equal(CALL(weir_sock_shutdown(a, SHUT_WR, TARGET(&sh), 5)),
			 0);
	assert_int_equal(CALL(weir_sock_recvfrom(b, small, TARGET(&e), 6)), 0);
	run_until(loop, &e.calls, 1);
	expect_err(&e, -ESHUTDOWN);
	assert_ptr_equal(e.buf, small);
	weir_iobuf_unref(empty);
	weir_iobuf_unref(small);
	weir_iobuf_unref(d);
	weir_sock_close(b);
	weir_sock_close(a);
	spin(loop);
	weir_loop_free(loop);
}

/* Many sends queued at once go through in order, each the very buffer,
 * to a receiver that receives again from its completion. */
#define NBUF 1000

struct relay {
	struct weir_sock *s;
	struct weir_iobuf *sent[NBUF];
	int got, bad;
};

static void relay_done(void *target, bool success, int error,
		       struct weir_iobuf *buf, uint64_t ud,
		       const struct sockaddr *addr, socklen_t addr_len)
{
	struct relay *r = target;

	(void)error, (void)ud, (void)addr, (void)addr_len;
	assert_int_equal(in_call, 0);
	assert_true(success);
	r->bad += buf != r->sent[r->got];
	r->got++;
	weir_iobuf_unref(buf);
	if (r->got < NBUF)
		assert_int_equal(CALL(weir_sock_recv(r->s, NULL,
			&(struct weir_io_target){ relay_done, r }, 0)), 0);
}

static void link_many_in_order(void **state)
{
	struct weir_loop *loop = new_loop();
	struct weir_sock *a, *b;
	static struct ev tx[NBUF];
	static struct relay r;
	char name[16];

	(void)state;
	memset(tx, 0, sizeof(tx));
	memset(&r, 0, sizeof(r));
	assert_int_equal(weir_sock_pair(loop, WEIR_SOCK_STREAM, &a, &b), 0);
	r.s = b;
	for (int i = 0; i < NBUF; i++) {
		snprintf(name, sizeof(name), "buf %d", i);
		r.sent[i] = text(name);
		assert_int_equal(CALL(weir_sock_send(a, r.sent[i],
				 TARGET(&tx[i]), (uint64_t)i)), 0);
	}
	assert_int_equal(CALL(weir_sock_recv(b, NULL,
			 &(struct weir_io_target){ relay_done, &r }, 0)), 0);
	run_until(loop, &tx[NBUF - 1].calls, 1);
	assert_int_equal(r.got, NBUF);
	assert_int_equal(r.bad, 0);
	for (int i = 0; i < NBUF; i++) {
		expect_ok(&tx[i], (uint64_t)i);
		assert_true(i == 0 || tx[i].order > tx[i - 1].order);
		assert_true(weir_iobuf_writable(r.sent[i]));
		weir_iobuf_unref(r.sent[i]);
	}
	weir_sock_close(a);
	weir_sock_close(b);
	spin(loop);
	weir_loop_free(loop);
}

/* A completion that closes both ends of a link while the loop closes. */
struct both {
	struct weir_sock *a, *b;
	int calls;
};

static void close_both(void *target, bool success, int error,
		       struct weir_iobuf *buf, uint64_t ud,
		       const struct sockaddr *addr, socklen_t addr_len)
{
	struct both *k = target;

	(void)success, (void)error, (void)ud, (void)addr, (void)addr_len;
	assert_int_equal(in_call, 0);
	k->calls++;
	weir_iobuf_unref(buf);
	if (k->a) {
		weir_sock_close(k->a);
		weir_sock_close(k->b);
		k->a = k->b = NULL;
	}
}

/* The loop closes with a link's completions still queued (they run with
 * their real results) and with ops that wait (-ECANCELED); callbacks
 * close sockets meanwhile. Each completes once; nothing leaks. */
static void loop_close_with_queued_completions(void **state)
{
	struct weir_loop *loop = new_loop();
	struct weir_sock *a, *b, *c, *d;
	struct weir_iobuf *m = text("in transit");
	struct ev tx = { 0 }, late = { 0 };
	struct both k1 = { 0 }, k2 = { 0 };

	(void)state;
	assert_int_equal(weir_sock_pair(loop, WEIR_SOCK_STREAM, &a, &b), 0);
	assert_int_equal(weir_sock_pair(loop, WEIR_SOCK_DGRAM, &c, &d), 0);
	k1.a = a;
	k1.b = b;
	k2.a = c;
	k2.b = d;
	/* a -> b completes at once (queued, not delivered) */
	assert_int_equal(CALL(weir_sock_recv(b, NULL, &(struct weir_io_target){
			 close_both, &k1 }, 0)), 0);
	assert_int_equal(CALL(weir_sock_send(a, m, TARGET(&tx), 1)), 0);
	/* c waits; d's send waits too */
	assert_int_equal(CALL(weir_sock_recv(c, NULL, &(struct weir_io_target){
			 close_both, &k2 }, 0)), 0);
	assert_int_equal(CALL(weir_sock_send(c, m, TARGET(&late), 2)), 0);
	assert_int_equal(tx.calls + late.calls + k1.calls + k2.calls, 0);
	assert_int_equal(weir_loop_close(loop), 0);
	expect_ok(&tx, 1);
	assert_int_equal(k1.calls, 1);
	assert_int_equal(k2.calls, 1);
	expect_err(&late, -ECANCELED);
	assert_true(weir_iobuf_writable(m));
	weir_iobuf_unref(m);
	weir_loop_free(loop);
}

/* ---- refusals ------------------------------------------------------------ */

static void refusals(void **state)
{
	struct weir_loop *loop = new_loop();
	struct weir_sock *a, *b;
	struct weir_iobuf *empty = weir_iobuf_new(8), *shared = text("s");
	struct weir_iobuf *full = text("full");
	struct ev x = { 0 };
	struct weir_io_target none = { NULL, NULL };

	(void)state;
	assert_int_equal(weir_sock_pair(loop, WEIR_SOCK_STREAM, &a, &b), 0);
	assert_int_equal(CALL(weir_sock_send(a, empty, TARGET(&x), 0)),
			 -EINVAL);
	assert_int_equal(CALL(weir_sock_send(a, NULL, TARGET(&x), 0)),
			 -EINVAL);
	assert_int_equal(CALL(weir_sock_send(a, shared, &none, 0)), -EINVAL);
	weir_iobuf_ref(shared);
	assert_int_equal(CALL(weir_sock_recv(a, shared, TARGET(&x), 0)),
			 -EINVAL);
	weir_iobuf_unref(shared);
	assert_int_equal(CALL(weir_sock_recv(a, full, TARGET(&x), 0)),
			 -ENOBUFS);
	assert_int_equal(CALL(weir_sock_shutdown(a, 42, TARGET(&x), 0)),
			 -EINVAL);
	assert_int_equal(CALL(weir_sock_sendto(a, shared,
			 (struct sockaddr *)&(struct sockaddr_in){ 0 },
			 sizeof(struct sockaddr_in), TARGET(&x), 0)), -EISCONN);
	assert_int_equal(weir_sock_from_fd(loop, 0x7fff, false, &a), -EINVAL);
	spin(loop);
	assert_int_equal(x.calls, 0);           /* failed starts never call */
	weir_sock_close(a);
	weir_sock_close(b);
	assert_int_equal(weir_loop_close(loop), 0);
	assert_int_equal(weir_sock_pair(loop, WEIR_SOCK_STREAM, &a, &b),
			 -ESHUTDOWN);
	weir_iobuf_unref(empty);
	weir_iobuf_unref(shared);
	weir_iobuf_unref(full);
	weir_loop_free(loop);
}

/* ---- the loop closes with everything outstanding ----------------------- */

static void loop_close_completes_all(void **state)
{
	struct weir_loop *loop = new_loop();
	struct weir_sock *ua, *ub, *la, *lb, *ta, *tb;
	struct weir_iobuf *big = patterned(0, 8u << 20), *m = text("m");
	struct ev ev[8] = { { 0 } };
	struct weir_file *f;
	int total = 0;

	(void)state;
	wrap_pair(loop, SOCK_STREAM, &ua, &ub);
	assert_int_equal(weir_sock_pair(loop, WEIR_SOCK_STREAM, &la, &lb), 0);
	assert_int_equal(weir_sock_pair(loop, WEIR_SOCK_DGRAM, &ta, &tb), 0);
	assert_int_equal(weir_file_tmp(loop, NULL, &f), 0);
	assert_int_equal(CALL(weir_sock_recv(ua, NULL, TARGET(&ev[0]), 0)), 0);
	assert_int_equal(CALL(weir_sock_send(ub, big, TARGET(&ev[1]), 1)), 0);
	assert_int_equal(CALL(weir_sock_send(ub, m, TARGET(&ev[2]), 2)), 0);
	assert_int_equal(CALL(weir_sock_recv(ub, NULL, TARGET(&ev[3]), 3)), 0);
	assert_int_equal(CALL(weir_sock_send(la, m, TARGET(&ev[4]), 4)), 0);
	assert_int_equal(CALL(weir_sock_send(la, m, TARGET(&ev[5]), 5)), 0);
	assert_int_equal(CALL(weir_sock_recv(la, NULL, TARGET(&ev[6]), 6)), 0);
	assert_int_equal(CALL(weir_sock_recvfrom(ta, NULL, TARGET(&ev[7]), 7)),
			 0);
	assert_int_equal(weir_loop_run_once(loop, 0) >= 0, 1);
	assert_int_equal(weir_loop_close(loop), 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(ev[i].calls, 1);
		if (i == 0 && ev[i].success) {  /* ub's first bytes came */
			weir_iobuf_unref(ev[i].buf);
			continue;
		}
		if (i == 1 && ev[i].success)
			continue;
		assert_int_equal(ev[i].error, -ECANCELED);
		total++;
	}
	assert_true(total >= 6);
	/* New operations are refused; closing afterwards is quiet. */
	assert_int_equal(CALL(weir_sock_recv(lb, NULL, TARGET(&ev[0]), 0)),
			 -ESHUTDOWN);
	assert_int_equal(CALL(weir_sock_send(ua, m, TARGET(&ev[0]), 0)),
			 -ESHUTDOWN);
	weir_sock_close(ua);
	weir_sock_close(ub);
	weir_sock_close(la);
	weir_sock_close(lb);
	weir_sock_close(ta);
	weir_sock_close(tb);
	weir_file_close(f);
	for (int i = 0; i < 8; i++)
		assert_int_equal(ev[i].calls, 1);
	weir_iobuf_unref(big);
	weir_iobuf_unref(m);
	weir_loop_free(loop);
}

/* ---- files ------------------------------------------------------------- */

static void file_offsets(void **state)
{
	struct weir_loop *loop = new_loop();
	struct weir_file *f;
	struct weir_iobuf *c = text("CCCC"), *a = text("AAAA"),
			  *b = text("BBBB"), *big = patterned(0, 3u << 20);
	struct ev w[4] = { { 0 } }, r = { 0 }, rb = { 0 }, eof = { 0 };

	(void)state;
	assert_int_equal(weir_file_tmp(loop, NULL, &f), 0);
	assert_int_equal(weir_file_tmp(loop, "/nonexistent-weir", &f) < 0, 1);
	assert_int_equal(CALL(weir_file_write(f, 8, c, TARGET(&w[0]), 0)), 0);
	assert_int_equal(CALL(weir_file_write(f, 12, big, TARGET(&w[1]), 1)),
			 0);
	assert_int_equal(CALL(weir_file_write(f, 0, a, TARGET(&w[2]), 2)), 0);
	assert_int_equal(CALL(weir_file_write(f, 4, b, TARGET(&w[3]), 3)), 0);
	assert_int_equal(completions, 0);
	for (int i = 0; i < 4; i++) {
		run_until(loop, &w[i].calls, 1);
		expect_ok(&w[i], (uint64_t)i);
		assert_null(w[i].buf);
	}
	assert_int_equal(CALL(weir_file_read(f, 0, 12, TARGET(&r), 9)), 0);
	assert_int_equal(CALL(weir_file_read(f, 12, 3u << 20, TARGET(&rb),
					     10)), 0);
	assert_int_equal(CALL(weir_file_read(f, (3u << 20) + 12, 100,
					     TARGET(&eof), 11)), 0);
	assert_int_equal(CALL(weir_file_read(f, 0, 0, TARGET(&eof), 11)),
			 -EINVAL);
	run_until(loop, &r.calls, 1);
	run_until(loop, &rb.calls, 1);
	run_until(loop, &eof.calls, 1);
	expect_ok(&r, 9);
	expect_bytes(r.buf, "AAAABBBBCCCC");
	expect_ok(&rb, 10);
	assert_int_equal(rb.buf->len, big->len);
	assert_memory_equal(rb.buf->data, big->data, big->len);
	expect_ok(&eof, 11);
	assert_int_equal(eof.buf->len, 0);
	weir_iobuf_unref(r.buf);
	weir_iobuf_unref(rb.buf);
	weir_iobuf_unref(eof.buf);
	spin(loop);
	assert_int_equal(completions, 7);
	assert_true(weir_iobuf_writable(big));
	weir_file_close(f);
	weir_iobuf_unref(a);
	weir_iobuf_unref(b);
	weir_iobuf_unref(c);
	weir_iobuf_unref(big);
	weir_loop_free(loop);
}

/* A file closed with operations in flight: each completes once, with its
 * real result or -ECANCELED; the file goes after the last. */
static void file_close_in_flight(void **state)
{
	struct weir_loop *loop = new_loop();
	struct weir_file *f;
	struct weir_iobuf *big = patterned(0, 4u << 20);
	struct ev w = { 0 }, r = { 0 };

	(void)state;
	assert_int_equal(weir_file_tmp(loop, NULL, &f), 0);
	assert_int_equal(CALL(weir_file_write(f, 0, big, TARGET(&w), 1)), 0);
	assert_int_equal(CALL(weir_file_read(f, 0, 16, TARGET(&r), 2)), 0);
	in_call = 1;
	weir_file_close(f);
	in_call = 0;
	run_until(loop, &w.calls, 1);
	run_until(loop, &r.calls, 1);
	assert_true(w.success || w.error == -ECANCELED);
	assert_true(r.success || r.error == -ECANCELED);
	weir_iobuf_unref(r.buf);
	spin(loop);
	assert_int_equal(w.calls + r.calls, 2);
	weir_iobuf_unref(big);
	weir_loop_free(loop);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(buffers),
		cmocka_unit_test(unix_round_trip),
		cmocka_unit_test(tcp_large_in_order),
		cmocka_unit_test(tcp_one_byte),
		cmocka_unit_test(tcp_eof),
		cmocka_unit_test(udp_ipv4),
		cmocka_unit_test(udp_ipv6),
		cmocka_unit_test(udp_too_big),
		cmocka_unit_test(close_with_ops_in_flight),
		cmocka_unit_test(close_inside_completion),
		cmocka_unit_test(link_zero_copy_and_backpressure),
		cmocka_unit_test(link_copy_partial),
		cmocka_unit_test(link_shutdown_and_close),
		cmocka_unit_test(link_reset),
		cmocka_unit_test(link_datagrams),
		cmocka_unit_test(link_many_in_order),
		cmocka_unit_test(loop_close_with_queued_completions),
		cmocka_unit_test(refusals),
		cmocka_unit_test(loop_close_completes_all),
		cmocka_unit_test(file_offsets),
		cmocka_unit_test(file_close_in_flight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
