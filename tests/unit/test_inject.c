/* Injection handles, the inject functions' contract and the injection
 * state, against a scripted injector (the live one is tested in
 * tests/net/, the replay one in tests/replay/).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <weir/csum.h>
#include <weir/inject.h>
#include <weir/pdesc.h>

#include "pktgen.h"

/* ---- a scripted injector ------------------------------------------ */

#define MAXQ 8192

struct fake {
	pthread_mutex_t lock;
	struct weir_inject_req *q[MAXQ];
	int n;
	int refuse;            /* submit returns this when non-zero */
	int shutdowns;
};

static int fake_submit(void *arg, struct weir_inject_req *req)
{
	struct fake *f = arg;

	if (f->refuse)
		return f->refuse;
	pthread_mutex_lock(&f->lock);
	f->q[f->n++] = req;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

/* Completes everything queued with `status`; returns how many. */
static int fake_flush(struct fake *f, int status)
{
	int n = 0;

	for (;;) {
		struct weir_inject_req *req = NULL;

		pthread_mutex_lock(&f->lock);
		if (f->n)
			req = f->q[--f->n];
		pthread_mutex_unlock(&f->lock);
		if (!req)
			return n;
		weir_inject_req_done(req, status);
		n++;
	}
}

static void fake_shutdown(void *arg)
{
	struct fake *f = arg;

	f->shutdowns++;
	fake_flush(f, -ECANCELED);
}

static const struct weir_inject_ops fake_ops = {
	.submit = fake_submit, .shutdown = fake_shutdown };

/* ---- completions --------------------------------------------------- */

struct done {
	int calls;
	int status;
	struct weir_nbl *nbl;
};

static void on_done(void *ctx, struct weir_nbl *nbl)
{
	struct done *d = ctx;

	d->calls++;
	d->status = nbl->status;
	d->nbl = nbl;
}

static struct weir_nbl *udp_list(int family)
{
	uint8_t buf[256];
	struct tpkt t = {
		.family = family, .proto = IPPROTO_UDP,
		.src = family == AF_INET ? "10.0.0.1" : "fd00::1",
		.dst = family == AF_INET ? "10.0.0.2" : "fd00::2",
		.sport = 1000, .dport = 53, .payload = (const uint8_t *)"hi",
		.payload_len = 2 };
	size_t n = tpkt_make(&t, buf);

	return weir_nbl_from_bytes(buf, (uint32_t)n);
}

struct env {
	struct weir_engine *e;
	struct fake f;
	struct weir_injector *inj;
	struct weir_inject_handle *h;
};

static int setup(void **state)
{
	struct env *v = calloc(1, sizeof(*v));

	v->e = weir_engine_new();
	pthread_mutex_init(&v->f.lock, NULL);
	assert_int_equal(weir_injector_new(v->e, &fake_ops, &v->f, &v->inj),
			 0);
	assert_int_equal(weir_inject_handle_create(v->e, AF_UNSPEC,
						   WEIR_INJECT_NETWORK, &v->h),
			 0);
	*state = v;
	return 0;
}

static int teardown(void **state)
{
	struct env *v = *state;

	fake_flush(&v->f, 0);
	assert_int_equal(weir_inject_handle_destroy(v->h), 0);
	weir_injector_free(v->inj);
	weir_engine_free(v->e);
	free(v);
	return 0;
}

/* ---- tests --------------------------------------------------------- */

static void test_create_args(void **state)
{
	struct weir_engine *e = weir_engine_new();
	struct weir_inject_handle *h;

	(void)state;
	assert_int_equal(weir_inject_handle_create(e, AF_PACKET,
						   WEIR_INJECT_NETWORK, &h),
			 -EINVAL);
	assert_int_equal(weir_inject_handle_create(e, AF_INET, 0, &h), -EINVAL);
	assert_int_equal(weir_inject_handle_create(NULL, AF_INET,
						   WEIR_INJECT_NETWORK, &h),
			 -EINVAL);
	assert_int_equal(weir_inject_handle_destroy(NULL), 0);
	weir_engine_free(e);
}

static void test_completion_once(void **state)
{
	struct env *v = *state;
	struct weir_nbl *nbl = udp_list(AF_INET);
	struct done d = { 0 };

	assert_int_equal(weir_inject_network_send(v->h, 7, 0, 0, nbl, on_done,
						  &d), 0);
	/* Never inside the call. */
	assert_int_equal(d.calls, 0);
	assert_int_equal(weir_inject_handle_inflight(v->h), 1);
	assert_int_equal(fake_flush(&v->f, 0), 1);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.status, 0);
	assert_ptr_equal(d.nbl, nbl);
	assert_int_equal(weir_inject_handle_inflight(v->h), 0);
	assert_int_equal(fake_flush(&v->f, 0), 0);
	assert_int_equal(d.calls, 1);
	weir_nbl_unref(nbl);
}

static void test_packet_status(void **state)
{
	struct env *v = *state;
	struct weir_nbl *nbl = udp_list(AF_INET);
	struct done d = { 0 };

	assert_int_equal(weir_inject_network_receive(v->h, 0, 0, 0, 3, nbl,
						     on_done, &d), 0);
	assert_int_equal(v->f.q[0]->path, WEIR_PATH_RECEIVE);
	assert_int_equal(v->f.q[0]->ifindex, 3);
	v->f.q[0]->nbl->first->status = -EMSGSIZE;
	fake_flush(&v->f, 0);
	assert_int_equal(d.status, -EMSGSIZE);
	weir_nbl_unref(nbl);
}

static void test_flags_and_params(void **state)
{
	struct env *v = *state;
	struct weir_nbl *nbl = udp_list(AF_INET), *empty = weir_nbl_new();
	struct done d = { 0 };

	assert_int_equal(weir_inject_network_send(v->h, 0, 1, 0, nbl, on_done,
						  &d), -EINVAL);
	assert_int_equal(weir_inject_network_send(v->h, 0, 0x80000000u, 0,
						  nbl, on_done, &d), -EINVAL);
	assert_int_equal(weir_inject_network_send(v->h, 0, 0, 0, empty,
						  on_done, &d), -EINVAL);
	assert_int_equal(weir_inject_network_send(v->h, 0, 0, 0, nbl, NULL,
						  &d), -EINVAL);
	assert_int_equal(weir_inject_network_send(NULL, 0, 0, 0, nbl, on_done,
						  &d), -EINVAL);
	assert_int_equal(d.calls, 0);
	assert_int_equal(v->f.n, 0);
	assert_string_equal(weir_inject_strerror(-EINVAL), "invalid parameter");
	weir_nbl_unref(nbl);
	weir_nbl_unref(empty);
}

static void test_family(void **state)
{
	struct env *v = *state;
	struct weir_inject_handle *h4;
	struct weir_nbl *nbl6 = udp_list(AF_INET6);
	struct weir_nbl *junk = weir_nbl_from_bytes("\x12\x34garbage-garbage-garbage", 24);
	struct done d = { 0 };

	assert_int_equal(weir_inject_handle_create(v->e, AF_INET,
						   WEIR_INJECT_NETWORK, &h4),
			 0);
	assert_int_equal(weir_inject_network_send(h4, 0, 0, 0, nbl6, on_done,
						  &d), -EINVAL);
	assert_int_equal(weir_inject_network_send(v->h, 0, 0, 0, junk,
						  on_done, &d), -EINVAL);
	assert_int_equal(weir_inject_network_send(v->h, 0, 0, 0, nbl6,
						  on_done, &d), 0);
	fake_flush(&v->f, 0);
	assert_int_equal(d.calls, 1);
	assert_int_equal(weir_inject_handle_destroy(h4), 0);
	weir_nbl_unref(nbl6);
	weir_nbl_unref(junk);
}

/* A packet with fewer bytes than its IP length (as a headers-only
 * capture hands it up) is refused: sent, it would go out cut short. */
static void test_short_packet(void **state)
{
	struct env *v = *state;
	struct done d = { 0 };

	for (int fam = AF_INET; fam; fam = fam == AF_INET ? AF_INET6 : 0) {
		struct weir_nbl *nbl = udp_list(fam);

		weir_pkt_trim(nbl->first, nbl->first->len - 1);
		assert_int_equal(weir_inject_network_send(v->h, 0, 0, 0, nbl,
							  on_done, &d),
				 -EINVAL);
		weir_nbl_unref(nbl);
	}
	assert_int_equal(d.calls, 0);
	assert_int_equal(v->f.n, 0);
}

static void test_stale(void **state)
{
	struct env *v = *state;
	struct weir_inject_handle *fwd, *tr;
	struct weir_nbl *nbl = udp_list(AF_INET);
	struct done d = { 0 };

	assert_int_equal(weir_inject_handle_create(v->e, AF_INET,
						   WEIR_INJECT_FORWARD, &fwd),
			 0);
	assert_int_equal(weir_inject_handle_create(v->e, AF_INET,
						   WEIR_INJECT_TRANSPORT, &tr),
			 0);
	assert_int_equal(weir_inject_network_send(fwd, 0, 0, 0, nbl, on_done,
						  &d), WEIR_INJECT_E_STALE);
	assert_int_equal(weir_inject_network_receive(tr, 0, 0, 0, 1, nbl,
						     on_done, &d),
			 WEIR_INJECT_E_STALE);
	assert_int_equal(weir_inject_forward(v->h, 0, 0, 0, 2, nbl, on_done,
					     &d), WEIR_INJECT_E_STALE);
	assert_int_equal(weir_inject_forward(fwd, 0, 0, 0, 0, nbl, on_done,
					     &d), -EINVAL);
	assert_int_equal(weir_inject_forward(fwd, 0, 0, 0, 2, nbl, on_done,
					     &d), 0);
	assert_int_equal(v->f.q[0]->path, WEIR_PATH_FORWARD);
	fake_flush(&v->f, 0);
	assert_int_equal(d.calls, 1);
	assert_string_equal(weir_inject_strerror(WEIR_INJECT_E_STALE),
			    "stale handle");
	weir_inject_handle_destroy(fwd);
	weir_inject_handle_destroy(tr);
	weir_nbl_unref(nbl);
}

static void test_not_ready(void **state)
{
	struct weir_engine *e = weir_engine_new();
	struct weir_inject_handle *h;
	struct weir_nbl *nbl = udp_list(AF_INET);
	struct weir_injector *inj;
	struct fake f = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct done d = { 0 };

	(void)state;
	/* A handle made before the packet source installs its injector. */
	assert_int_equal(weir_inject_handle_create(e, AF_INET,
						   WEIR_INJECT_NETWORK, &h),
			 0);
	assert_int_equal(weir_inject_network_send(h, 0, 0, 0, nbl, on_done,
						  &d), WEIR_INJECT_E_NOT_READY);
	assert_int_equal(weir_injector_new(e, &fake_ops, &f, &inj), 0);
	assert_int_equal(weir_injector_new(e, &fake_ops, &f, &inj), -EEXIST);
	/* The backend refuses a compartment it does not know. */
	f.refuse = WEIR_INJECT_E_NOT_READY;
	assert_int_equal(weir_inject_network_send(h, 0, 0, 9, nbl, on_done,
						  &d), WEIR_INJECT_E_NOT_READY);
	assert_int_equal(nbl->first->meta.inject_id, 0);
	assert_int_equal(weir_inject_handle_inflight(h), 0);
	f.refuse = 0;
	assert_int_equal(weir_inject_network_send(h, 0, 0, 0, nbl, on_done,
						  &d), 0);
	/* Uninstalling cancels what the backend still holds. */
	weir_injector_free(inj);
	assert_int_equal(f.shutdowns, 1);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.status, -ECANCELED);
	assert_int_equal(weir_inject_network_send(h, 0, 0, 0, nbl, on_done,
						  &d), WEIR_INJECT_E_NOT_READY);
	assert_string_equal(weir_inject_strerror(WEIR_INJECT_E_NOT_READY),
			    "stack not ready");
	weir_inject_handle_destroy(h);
	weir_nbl_unref(nbl);
	weir_engine_free(e);
}

static void *flush_later(void *arg)
{
	struct fake *f = arg;

	usleep(100 * 1000);
	fake_flush(f, 0);
	return NULL;
}

static void test_destroy_waits(void **state)
{
	struct env *v = *state;
	struct weir_inject_handle *h;
	struct weir_nbl *nbl[5];
	struct done d = { 0 };
	pthread_t t;

	assert_int_equal(weir_inject_handle_create(v->e, AF_INET,
						   WEIR_INJECT_NETWORK, &h),
			 0);
	for (int i = 0; i < 5; i++) {
		nbl[i] = udp_list(AF_INET);
		assert_int_equal(weir_inject_network_send(h, 0, 0, 0, nbl[i],
							  on_done, &d), 0);
	}
	weir_inject_handle_close(h);
	assert_int_equal(weir_inject_network_send(h, 0, 0, 0, nbl[0], on_done,
						  &d), WEIR_INJECT_E_CLOSING);
	assert_string_equal(weir_inject_strerror(WEIR_INJECT_E_CLOSING),
			    "handle closing");
	assert_int_equal(d.calls, 0);
	pthread_create(&t, NULL, flush_later, &v->f);
	assert_int_equal(weir_inject_handle_destroy(h), 0);
	/* Every completion ran, once, before destroy returned. */
	assert_int_equal(d.calls, 5);
	pthread_join(t, NULL);
	for (int i = 0; i < 5; i++)
		weir_nbl_unref(nbl[i]);
}

struct self_destroy {
	struct weir_inject_handle *h;
	int rc;
};

static void destroy_in_completion(void *ctx, struct weir_nbl *nbl)
{
	struct self_destroy *s = ctx;

	(void)nbl;
	s->rc = weir_inject_handle_destroy(s->h);
}

static void test_destroy_from_completion(void **state)
{
	struct env *v = *state;
	struct self_destroy s = { 0 };
	struct weir_nbl *nbl = udp_list(AF_INET);

	assert_int_equal(weir_inject_handle_create(v->e, AF_INET,
						   WEIR_INJECT_NETWORK, &s.h),
			 0);
	assert_int_equal(weir_inject_network_send(s.h, 0, 0, 0, nbl,
						  destroy_in_completion, &s),
			 0);
	fake_flush(&v->f, 0);
	assert_int_equal(s.rc, -EDEADLK);
	assert_int_equal(weir_inject_handle_destroy(s.h), 0);
	weir_nbl_unref(nbl);
}

static void test_state(void **state)
{
	struct env *v = *state;
	struct weir_inject_handle *other;
	struct weir_nbl *nbl = udp_list(AF_INET);
	struct weir_pkt *p = nbl->first;
	struct done d = { 0 };
	uint64_t ctx = 99;

	assert_int_equal(weir_inject_handle_create(v->e, AF_INET,
						   WEIR_INJECT_NETWORK, &other),
			 0);
	assert_int_equal(weir_injection_state(v->h, p, &ctx),
			 WEIR_NOT_INJECTED);
	assert_int_equal(ctx, 0);
	assert_int_equal(weir_inject_network_send(v->h, 0x1234, 0, 0, nbl,
						  on_done, &d), 0);
	fake_flush(&v->f, 0);
	assert_int_not_equal(p->meta.inject_id, 0);
	p->meta.layer = 3;
	assert_int_equal(weir_injection_state(v->h, p, &ctx),
			 WEIR_INJECTED_BY_SELF);
	assert_int_equal(ctx, 0x1234);
	assert_int_equal(weir_injection_state(other, p, &ctx),
			 WEIR_INJECTED_BY_OTHER);
	assert_int_equal(ctx, 0);
	/* Same layer again: still self. Another layer: previously. */
	assert_int_equal(weir_injection_state(v->h, p, NULL),
			 WEIR_INJECTED_BY_SELF);
	p->meta.layer = 5;
	assert_int_equal(weir_injection_state(v->h, p, &ctx),
			 WEIR_PREVIOUSLY_INJECTED_BY_SELF);
	assert_int_equal(ctx, 0x1234);
	/* Re-injected by the other handle: the first one's is previous. */
	assert_int_equal(weir_inject_network_send(other, 0x55, 0, 0, nbl,
						  on_done, &d), 0);
	fake_flush(&v->f, 0);
	p->meta.layer = 3;
	assert_int_equal(weir_injection_state(other, p, &ctx),
			 WEIR_INJECTED_BY_SELF);
	assert_int_equal(ctx, 0x55);
	assert_int_equal(weir_injection_state(v->h, p, &ctx),
			 WEIR_PREVIOUSLY_INJECTED_BY_SELF);
	assert_int_equal(ctx, 0x1234);
	/* A clone keeps the record. */
	{
		struct weir_pkt *c = weir_pkt_clone(p);

		assert_int_equal(weir_injection_state(other, c, NULL),
				 WEIR_INJECTED_BY_SELF);
		weir_pkt_free(c);
	}
	assert_int_equal(weir_injection_state(NULL, p, &ctx),
			 WEIR_NOT_INJECTED);
	weir_inject_handle_destroy(other);
	weir_nbl_unref(nbl);
}

struct race {
	struct weir_inject_handle *h;
	_Atomic int accepted, refused, done;
};

static void race_done(void *ctx, struct weir_nbl *nbl)
{
	struct race *r = ctx;

	atomic_fetch_add(&r->done, 1);
	weir_nbl_unref(nbl);
}

static void *race_injector(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < 2000; i++) {
		struct weir_nbl *nbl = udp_list(AF_INET);
		int rc = weir_inject_network_send(r->h, 0, 0, 0, nbl,
						  race_done, r);

		if (rc) {
			assert_int_equal(rc, WEIR_INJECT_E_CLOSING);
			atomic_fetch_add(&r->refused, 1);
			weir_nbl_unref(nbl);
		} else {
			atomic_fetch_add(&r->accepted, 1);
		}
	}
	return NULL;
}

static void *race_completer(void *arg)
{
	struct fake *f = arg;

	for (int i = 0; i < 400; i++) {
		fake_flush(f, 0);
		usleep(100);
	}
	return NULL;
}

/* Transport injection: weir builds the IP header (and checksums) in
 * front of each segment, the injector sees IP packets, the completion
 * gets the segments back as given. */
static void set_addr(struct sockaddr_storage *ss, int family,
		     const char *text)
{
	memset(ss, 0, sizeof(*ss));
	ss->ss_family = (sa_family_t)family;
	if (family == AF_INET6)
		inet_pton(AF_INET6, text,
			  &((struct sockaddr_in6 *)ss)->sin6_addr);
	else
		inet_pton(AF_INET, text, &((struct sockaddr_in *)ss)->sin_addr);
}

static const uint8_t udp_seg[] = { 0x03, 0xe8, 0x00, 0x35, 0x00, 0x0d,
				   0xde, 0xad, 'h', 'e', 'l', 'l', 'o' };

static void check_wrapped(const struct weir_pkt *p, int family,
			  const char *src)
{
	struct weir_pdesc pd;
	struct weir_csum_report rep;
	uint8_t want[16];
	size_t hl = family == AF_INET6 ? 40 : 20;

	assert_int_equal(p->len, hl + sizeof(udp_seg));
	assert_int_equal(weir_parse(p->data, p->len, &pd), 0);
	assert_int_equal(weir_csum_verify(p->data, &pd, false, &rep), 0);
	assert_int_equal(rep.l4, WEIR_CSUM_GOOD);
	inet_pton(family, src, want);
	if (family == AF_INET6) {
		assert_int_equal(p->data[0] >> 4, 6);
		assert_int_equal(p->data[6], IPPROTO_UDP);
		assert_memory_equal(p->data + 8, want, 16);
	} else {
		assert_int_equal(rep.ip, WEIR_CSUM_GOOD);
		assert_int_equal(p->data[0], 0x45);
		assert_int_equal(p->data[8], 64);        /* default TTL */
		assert_memory_equal(p->data + 12, want, 4);
	}
	/* the payload after the headers, untouched */
	assert_memory_equal(p->data + hl + 8, "hello", 5);
}

static void transport_case(struct env *v, int family, bool receive)
{
	struct weir_inject_handle *th;
	struct weir_inject_transport t = { .protocol = IPPROTO_UDP };
	struct weir_nbl *nbl = weir_nbl_from_bytes(udp_seg, sizeof(udp_seg));
	struct done d = { 0 };
	const char *local = family == AF_INET6 ? "fd00::1" : "10.0.0.1";
	const char *remote = family == AF_INET6 ? "fd00::2" : "10.0.0.2";

	set_addr(&t.local, family, local);
	set_addr(&t.remote, family, remote);
	assert_int_equal(weir_inject_handle_create(v->e, family,
						   WEIR_INJECT_TRANSPORT, &th),
			 0);
	assert_int_equal(receive
		? weir_inject_transport_receive(th, 7, 0, 0, 3, &t, nbl,
						on_done, &d)
		: weir_inject_transport_send(th, 7, 0, 0, &t, nbl, on_done,
					     &d), 0);
	assert_int_equal(v->f.n, 1);
	assert_int_equal(v->f.q[0]->path,
			 receive ? WEIR_PATH_RECEIVE : WEIR_PATH_SEND);
	check_wrapped(nbl->first, family, receive ? remote : local);
	assert_int_equal(fake_flush(&v->f, 0), 1);
	assert_int_equal(d.calls, 1);
	assert_int_equal(d.status, 0);
	/* back as given: the segment, its checksum now filled in */
	assert_int_equal(nbl->first->len, sizeof(udp_seg));
	assert_memory_equal(nbl->first->data, udp_seg, 6);
	assert_memory_equal(nbl->first->data + 8, udp_seg + 8, 5);
	weir_nbl_unref(nbl);
	assert_int_equal(weir_inject_handle_destroy(th), 0);
}

/* A protocol without a checksum weir knows (GRE): its bytes go as
 * given, the IPv4 header checksum is right. */
static void transport_other(struct env *v)
{
	static const uint8_t gre[] = { 0, 0, 0x08, 0x00, 1, 2, 3, 4 };
	struct weir_inject_handle *th;
	struct weir_inject_transport t = { .protocol = 47 };
	struct weir_nbl *nbl = weir_nbl_from_bytes(gre, sizeof(gre));
	struct done d = { 0 };
	struct weir_pdesc pd;
	struct weir_csum_report rep;

	set_addr(&t.local, AF_INET, "10.0.0.1");
	set_addr(&t.remote, AF_INET, "10.0.0.2");
	assert_int_equal(weir_inject_handle_create(v->e, AF_INET,
						   WEIR_INJECT_TRANSPORT, &th),
			 0);
	assert_int_equal(weir_inject_transport_send(th, 0, 0, 0, &t, nbl,
						    on_done, &d), 0);
	assert_int_equal(weir_parse(nbl->first->data, nbl->first->len, &pd),
			 0);
	weir_csum_verify(nbl->first->data, &pd, false, &rep);
	assert_int_equal(rep.ip, WEIR_CSUM_GOOD);
	assert_memory_equal(nbl->first->data + 20, gre, sizeof(gre));
	assert_int_equal(fake_flush(&v->f, 0), 1);
	assert_memory_equal(nbl->first->data, gre, sizeof(gre));
	weir_nbl_unref(nbl);
	assert_int_equal(weir_inject_handle_destroy(th), 0);
}

static void test_transport(void **state)
{
	struct env *v = *state;

	transport_case(v, AF_INET, false);
	transport_case(v, AF_INET6, false);
	transport_case(v, AF_INET, true);
	transport_other(v);
}

static void test_transport_errors(void **state)
{
	struct env *v = *state;
	struct weir_inject_handle *th;
	struct weir_inject_transport t = { .protocol = IPPROTO_UDP };
	struct weir_nbl *nbl = weir_nbl_from_bytes(udp_seg, 4);
	struct done d = { 0 };

	set_addr(&t.local, AF_INET, "10.0.0.1");
	set_addr(&t.remote, AF_INET, "10.0.0.2");
	assert_int_equal(weir_inject_handle_create(v->e, AF_INET,
						   WEIR_INJECT_TRANSPORT, &th),
			 0);
	/* each function its handle type */
	assert_int_equal(weir_inject_transport_send(v->h, 0, 0, 0, &t, nbl,
						    on_done, &d),
			 WEIR_INJECT_E_STALE);
	assert_int_equal(weir_inject_network_send(th, 0, 0, 0, nbl, on_done,
						  &d), WEIR_INJECT_E_STALE);
	/* a UDP header cut short: refused, the bytes as they were */
	assert_int_equal(weir_inject_transport_send(th, 0, 0, 0, &t, nbl,
						    on_done, &d), -EINVAL);
	assert_int_equal(nbl->first->len, 4);
	assert_memory_equal(nbl->first->data, udp_seg, 4);
	/* addresses of two families, or of one the handle does not do */
	set_addr(&t.remote, AF_INET6, "fd00::2");
	assert_int_equal(weir_inject_transport_send(th, 0, 0, 0, &t, nbl,
						    on_done, &d), -EINVAL);
	set_addr(&t.local, AF_INET6, "fd00::1");
	assert_int_equal(weir_inject_transport_send(th, 0, 0, 0, &t, nbl,
						    on_done, &d), -EINVAL);
	assert_int_equal(weir_inject_transport_send(th, 0, 1, 0, &t, nbl,
						    on_done, &d), -EINVAL);
	assert_int_equal(d.calls, 0);
	assert_int_equal(v->f.n, 0);
	weir_nbl_unref(nbl);
	assert_int_equal(weir_inject_handle_destroy(th), 0);
}

/* Injections from two threads while a third completes and the handle is
 * destroyed: every accepted one completes exactly once. */
static void test_destroy_race(void **state)
{
	struct env *v = *state;
	struct race r = { 0 };
	pthread_t a, b, c;

	assert_int_equal(weir_inject_handle_create(v->e, AF_INET,
						   WEIR_INJECT_NETWORK, &r.h),
			 0);
	v->f.refuse = 0;
	pthread_create(&c, NULL, race_completer, &v->f);
	pthread_create(&a, NULL, race_injector, &r);
	pthread_create(&b, NULL, race_injector, &r);
	usleep(2000);
	weir_inject_handle_close(r.h);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	assert_int_equal(weir_inject_handle_destroy(r.h), 0);
	assert_int_equal(atomic_load(&r.done), atomic_load(&r.accepted));
	assert_int_equal(atomic_load(&r.accepted) + atomic_load(&r.refused),
			 4000);
	pthread_join(c, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_args),
		cmocka_unit_test_setup_teardown(test_completion_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_packet_status, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_flags_and_params, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_family, setup, teardown),
		cmocka_unit_test_setup_teardown(test_short_packet, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_stale, setup, teardown),
		cmocka_unit_test(test_not_ready),
		cmocka_unit_test_setup_teardown(test_destroy_waits, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_destroy_from_completion,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_transport_errors, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_destroy_race, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
