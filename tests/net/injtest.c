/* The live injector against the real stack: run by test_inject.sh inside
 * namespace A (weir's own), with namespace B (/run/netns/$PEER) joined by
 * a veth pair: A 10.201.0.1 fd20::1 -- B 10.201.0.2 fd20::2.
 *
 *   injtest CASE PEER_NETNS_NAME A_IFNAME
 *
 * Prints what it checks and exits 0 when the case holds.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weir/craft.h>
#include <weir/inject.h>

#define A4 "10.201.0.1"
#define B4 "10.201.0.2"
#define A6 "fd20::1"
#define B6 "fd20::2"

static const char *peer_ns;
static int failures;

#define CHECK(cond, ...)                                                  \
	do {                                                              \
		if (!(cond)) {                                            \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                     \
			fputc('\n', stderr);                              \
			failures++;                                       \
		}                                                         \
	} while (0)

/* ---- sockets in either namespace -------------------------------------- */

struct sock_req {
	int family, type, proto;
	uint16_t port;
	int fd;
};

static int make_sock(struct sock_req *r)
{
	int fd = socket(r->family, r->type | SOCK_CLOEXEC, r->proto);
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6,
				   .sin6_port = htons(r->port) };
	struct sockaddr_in a4 = { .sin_family = AF_INET,
				  .sin_port = htons(r->port) };

	if (fd < 0 || !r->port)
		return fd;
	/* v4 and v6 sockets share the port: keep v6 to v6. */
	if (r->family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &(int){ 1 },
			   sizeof(int));
	if (r->family == AF_INET6 ?
		    bind(fd, (struct sockaddr *)&a6, sizeof(a6)) :
		    bind(fd, (struct sockaddr *)&a4, sizeof(a4))) {
		close(fd);
		return -1;
	}
	return fd;
}

static void *in_peer(void *arg)
{
	struct sock_req *r = arg;
	char path[256];
	int ns;

	snprintf(path, sizeof(path), "/run/netns/%s", peer_ns);
	ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0 || setns(ns, CLONE_NEWNET)) {
		r->fd = -1;
		return NULL;
	}
	close(ns);
	r->fd = make_sock(r);
	return NULL;
}

/* A socket in the peer namespace B, or in A (here). */
static int sock_at(bool peer, int family, int type, int proto, uint16_t port)
{
	struct sock_req r = { family, type, proto, port, -1 };
	pthread_t t;

	if (!peer)
		return make_sock(&r);
	pthread_create(&t, NULL, in_peer, &r);
	pthread_join(t, NULL);
	return r.fd;
}

/* Bytes received within 2 s, or -1. */
static ssize_t recv_within(int fd, void *buf, size_t len)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, 2000) != 1)
		return -1;
	return recv(fd, buf, len, 0);
}

/* ---- injections ---------------------------------------------------- */

struct waiter {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int calls;
	int status;
	pthread_t thread;
};

static struct waiter W = { PTHREAD_MUTEX_INITIALIZER,
			   PTHREAD_COND_INITIALIZER, 0, 0, 0 };

static void on_done(void *ctx, struct weir_nbl *nbl)
{
	struct waiter *w = ctx;

	pthread_mutex_lock(&w->lock);
	w->calls++;
	w->status = nbl->status;
	w->thread = pthread_self();
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	weir_nbl_unref(nbl);
}

/* Waits until `n` completions ran in all; their count. */
static int wait_calls(int n)
{
	struct timespec ts;
	int calls;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 3;
	pthread_mutex_lock(&W.lock);
	while (W.calls < n &&
	       pthread_cond_timedwait(&W.cond, &W.lock, &ts) == 0)
		;
	calls = W.calls;
	pthread_mutex_unlock(&W.lock);
	return calls;
}

static struct weir_nbl *udp(int family, const char *src, const char *dst,
			    uint16_t dport, const char *text)
{
	struct weir_udp_spec s = { .family = family, .sport = 40000,
				   .dport = dport };
	struct weir_pkt *p;
	struct weir_nbl *l = weir_nbl_new();

	inet_pton(family, src, s.src);
	inet_pton(family, dst, s.dst);
	if (weir_build_udp(&s, text, (uint32_t)strlen(text), &p)) {
		fprintf(stderr, "cannot build a packet\n");
		exit(2);
	}
	weir_nbl_add(l, p);
	return l;
}

/* A bare UDP segment (header with a zero checksum, then text), for
 * transport injection, and the addresses it goes between. */
static struct weir_nbl *segment(uint16_t dport, const char *text,
				struct weir_inject_transport *t, int family,
				const char *local, const char *remote)
{
	uint8_t b[256];
	size_t n = strlen(text);
	uint16_t v[4] = { htons(40000), htons(dport), htons((uint16_t)(8 + n)),
			  0 };

	memcpy(b, v, 8);
	memcpy(b + 8, text, n);
	memset(t, 0, sizeof(*t));
	t->protocol = IPPROTO_UDP;
	t->local.ss_family = t->remote.ss_family = (sa_family_t)family;
	inet_pton(family, local, family == AF_INET6
		? (void *)&((struct sockaddr_in6 *)&t->local)->sin6_addr
		: (void *)&((struct sockaddr_in *)&t->local)->sin_addr);
	inet_pton(family, remote, family == AF_INET6
		? (void *)&((struct sockaddr_in6 *)&t->remote)->sin6_addr
		: (void *)&((struct sockaddr_in *)&t->remote)->sin_addr);
	return weir_nbl_from_bytes(b, (uint32_t)(8 + n));
}

struct env {
	struct weir_engine *e;
	struct weir_inject_live *live;
	struct weir_inject_handle *net, *fwd, *tr;
};

static void env_up(struct env *v)
{
	char path[256];
	struct weir_inject_compartment comp = { .id = 1, .netns_path = path };
	struct weir_inject_live_opts o = { .compartments = &comp,
					   .ncompartments = 1 };
	int rc;

	snprintf(path, sizeof(path), "/run/netns/%s", peer_ns);
	v->e = weir_engine_new();
	rc = weir_inject_live_new(v->e, &o, &v->live);
	if (rc) {
		fprintf(stderr, "weir_inject_live_new: %s\n", strerror(-rc));
		exit(2);
	}
	weir_inject_handle_create(v->e, AF_UNSPEC, WEIR_INJECT_NETWORK,
				  &v->net);
	weir_inject_handle_create(v->e, AF_UNSPEC, WEIR_INJECT_FORWARD,
				  &v->fwd);
	weir_inject_handle_create(v->e, AF_UNSPEC, WEIR_INJECT_TRANSPORT,
				  &v->tr);
}

static void env_down(struct env *v)
{
	CHECK(weir_inject_handle_destroy(v->net) == 0, "destroy");
	CHECK(weir_inject_handle_destroy(v->fwd) == 0, "destroy");
	CHECK(weir_inject_handle_destroy(v->tr) == 0, "destroy");
	weir_inject_live_free(v->live);
	weir_engine_free(v->e);
}

/* Injects one UDP datagram and checks it arrives at `rx` intact. */
static int expected;  /* completions so far, by the cases' count */

static void one(int rc, int rx, const char *text, const char *what)
{
	char buf[256];
	ssize_t n;

	CHECK(rc == 0, "%s: inject: %s", what, weir_inject_strerror(rc));
	expected += rc == 0;
	CHECK(wait_calls(expected) == expected, "%s: one completion", what);
	CHECK(W.status == 0, "%s: status %s", what,
	      weir_inject_strerror(W.status));
	CHECK(!pthread_equal(W.thread, pthread_self()),
	      "%s: completion on the injector's thread", what);
	n = recv_within(rx, buf, sizeof(buf));
	CHECK(n == (ssize_t)strlen(text) && !memcmp(buf, text, (size_t)n),
	      "%s: datagram arrived (%zd bytes)", what, n);
	printf("ok %s\n", what);
}

static void case_paths(struct env *v, const char *ifname)
{
	int b4 = sock_at(true, AF_INET, SOCK_DGRAM, 0, 9000);
	int b6 = sock_at(true, AF_INET6, SOCK_DGRAM, 0, 9000);
	int a4 = sock_at(false, AF_INET, SOCK_DGRAM, 0, 9001);
	int a6 = sock_at(false, AF_INET6, SOCK_DGRAM, 0, 9001);
	unsigned oif = if_nametoindex(ifname);
	struct weir_inject_transport t;

	CHECK(b4 >= 0 && b6 >= 0 && a4 >= 0 && a6 >= 0, "sockets");
	one(weir_inject_network_send(v->net, 1, 0, 0,
				     udp(AF_INET, A4, B4, 9000, "send4"),
				     on_done, &W), b4, "send4", "send path v4");
	one(weir_inject_network_send(v->net, 1, 0, 0,
				     udp(AF_INET6, A6, B6, 9000, "send6"),
				     on_done, &W), b6, "send6", "send path v6");
	/* As if B had sent it to A: delivered to A's socket. */
	one(weir_inject_network_receive(v->net, 1, 0, 0, oif,
					udp(AF_INET, B4, A4, 9001, "recv4"),
					on_done, &W), a4, "recv4",
	    "receive path v4");
	one(weir_inject_network_receive(v->net, 1, 0, 0, oif,
					udp(AF_INET6, B6, A6, 9001, "recv6"),
					on_done, &W), a6, "recv6",
	    "receive path v6");
	one(weir_inject_forward(v->fwd, 1, 0, 0, oif,
				udp(AF_INET, A4, B4, 9000, "fwd4"), on_done,
				&W), b4, "fwd4", "forward path v4");
	one(weir_inject_forward(v->fwd, 1, 0, 0, oif,
				udp(AF_INET6, A6, B6, 9000, "fwd6"), on_done,
				&W), b6, "fwd6", "forward path v6");
	/* Transport injection: weir builds the IP header and checksums;
	 * the kernel's UDP would drop the datagram if they were wrong. */
	one(weir_inject_transport_send(v->tr, 1, 0, 0, &t,
				       segment(9000, "tsend4", &t, AF_INET,
					       A4, B4), on_done, &W),
	    b4, "tsend4", "transport send v4");
	one(weir_inject_transport_send(v->tr, 1, 0, 0, &t,
				       segment(9000, "tsend6", &t, AF_INET6,
					       A6, B6), on_done, &W),
	    b6, "tsend6", "transport send v6");
	one(weir_inject_transport_receive(v->tr, 1, 0, 0, oif, &t,
					  segment(9001, "trecv4", &t, AF_INET,
						  A4, B4), on_done, &W),
	    a4, "trecv4", "transport receive v4");
	/* From inside compartment 1 (B): B's send path to A. */
	one(weir_inject_network_send(v->net, 1, 0, 1,
				     udp(AF_INET, B4, A4, 9001, "comp"),
				     on_done, &W), a4, "comp",
	    "send path in compartment 1");
	close(b4), close(b6), close(a4), close(a6);
}

static void case_errors(struct env *v)
{
	struct weir_nbl *l = udp(AF_INET, A4, B4, 9000, "x");

	CHECK(weir_inject_network_send(v->net, 0, 0, 7, l, on_done, &W) ==
		      WEIR_INJECT_E_NOT_READY, "unknown compartment");
	CHECK(weir_inject_network_send(v->net, 0, 4, 0, l, on_done, &W) ==
		      -EINVAL, "flags");
	CHECK(weir_inject_network_send(v->fwd, 0, 0, 0, l, on_done, &W) ==
		      WEIR_INJECT_E_STALE, "stale");
	CHECK(weir_inject_forward(v->net, 0, 0, 0, 1, l, on_done, &W) ==
		      WEIR_INJECT_E_STALE, "stale");
	CHECK(l->first->meta.inject_id == 0, "refused: no record");
	weir_nbl_unref(l);
	printf("ok errors\n");
}

/* A TCP super-packet leaves as MTU-sized segments. */
static void case_gso(struct env *v)
{
	int raw = sock_at(true, AF_INET, SOCK_RAW, IPPROTO_TCP, 0);
	struct weir_inject_live_stats st;
	uint8_t hdr[40] = { 0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, IPPROTO_TCP };
	uint32_t total = 40 + 8000, got = 0;
	struct weir_pkt *p = weir_pkt_alloc(total, 64);
	struct weir_nbl *l = weir_nbl_new();
	uint8_t buf[70000];
	int segs = 0;
	ssize_t n;

	hdr[2] = (uint8_t)(total >> 8), hdr[3] = (uint8_t)total;
	inet_pton(AF_INET, A4, hdr + 12);
	inet_pton(AF_INET, B4, hdr + 16);
	hdr[20] = 0x9c, hdr[21] = 0x40;           /* sport 40000 */
	hdr[22] = 0, hdr[23] = 9;                 /* dport 9 */
	hdr[32] = 0x50, hdr[33] = 0x18;           /* doff 5, PSH|ACK */
	hdr[34] = 0xff;                           /* window */
	memcpy(p->data, hdr, 40);
	memset(p->data + 40, 'z', 8000);
	weir_pkt_parse(p);  /* checksums: weir_pkt_segment completes them */
	weir_nbl_add(l, p);
	CHECK(raw >= 0, "raw socket in B");
	CHECK(weir_inject_network_send(v->net, 0, 0, 0, l, on_done, &W) == 0,
	      "inject super-packet");
	wait_calls(++expected);
	CHECK(W.status == 0, "gso status %s", weir_inject_strerror(W.status));
	while (got < 8000 && (n = recv_within(raw, buf, sizeof(buf))) > 0) {
		CHECK(n <= 1500, "segment of %zd bytes", n);
		got += (uint32_t)n - 40;
		segs++;
	}
	CHECK(got == 8000, "8000 payload bytes arrived (%u)", got);
	CHECK(segs >= 6, "in %d segments", segs);
	weir_inject_live_stats(v->live, &st);
	CHECK(st.segmented >= 1, "counted as segmented");
	close(raw);
	printf("ok gso (%d segments)\n", segs);
}

/* Destroying a handle with injections in flight: every completion runs
 * once, before destroy returns; injecting while closing is refused. */
static void case_destroy(struct env *v)
{
	struct weir_inject_handle *h;
	int start = W.calls, accepted = 0;

	weir_inject_handle_create(v->e, AF_INET, WEIR_INJECT_NETWORK, &h);
	for (int i = 0; i < 2000; i++) {
		struct weir_nbl *l = udp(AF_INET, A4, B4, 9999, "burst");

		if (weir_inject_network_send(h, 0, 0, 0, l, on_done, &W)) {
			weir_nbl_unref(l);
			continue;
		}
		accepted++;
	}
	weir_inject_handle_close(h);
	{
		struct weir_nbl *l = udp(AF_INET, A4, B4, 9999, "late");

		CHECK(weir_inject_network_send(h, 0, 0, 0, l, on_done, &W) ==
			      WEIR_INJECT_E_CLOSING, "closing");
		weir_nbl_unref(l);
	}
	CHECK(weir_inject_handle_destroy(h) == 0, "destroy");
	CHECK(W.calls - start == accepted, "%d completions for %d accepted",
	      W.calls - start, accepted);
	CHECK(accepted == 2000, "all accepted (%d)", accepted);
	usleep(200 * 1000);
	CHECK(W.calls - start == accepted, "no completion after destroy");
	printf("ok destroy with %d in flight\n", accepted);
}

int main(int argc, char **argv)
{
	struct env v;

	if (argc != 4) {
		fprintf(stderr, "usage: injtest CASE PEER_NETNS IFNAME\n");
		return 2;
	}
	peer_ns = argv[2];
	env_up(&v);
	if (!strcmp(argv[1], "paths"))
		case_paths(&v, argv[3]);
	else if (!strcmp(argv[1], "errors"))
		case_errors(&v);
	else if (!strcmp(argv[1], "gso"))
		case_gso(&v);
	else if (!strcmp(argv[1], "destroy"))
		case_destroy(&v);
	else
		return fprintf(stderr, "unknown case\n"), 2;
	env_down(&v);
	return failures ? 1 : 0;
}
