/* injblast: weir's side of the injection benchmark. The packets rawblast
 * sends (pkt.h), injected into the send path of weir's own namespace
 * through the live injector, the way a callout would: a new list per
 * injection, handed over with weir_inject_network_send(), freed by the
 * completion. Run it inside the namespace to send from (`ip netns exec`):
 * compartment 0 is the namespace the process runs in.
 *
 * Usage: injblast -S SRC -d DST [-s SPORT] [-p DPORT] [-l LEN]
 *                 [-t SECONDS] [-b LIST] [-w WINDOW]
 *   -S/-d  IPv4 source and destination written in the packets
 *   -s/-p  UDP ports (default 20000 and 9000)
 *   -l     UDP payload bytes (default 64)
 *   -t     injection time in seconds (default 5)
 *   -b     packets per injection, one list each (default 1)
 *   -w     packets in flight at most, accepted but not completed
 *          (default 4096): the bound a callout needs too, or it would
 *          queue without limit while the stack is busy
 * Prints on exit (also after SIGINT/SIGTERM):
 *   sent=N errors=E rejected=R seconds=S pps=P cpu=C
 * "sent" counts packets whose completion said 0, "errors" packets whose
 * completion carried an error, "rejected" inject calls that returned an
 * error (nothing accepted). After the injection time it waits for every
 * accepted injection to complete, and "seconds" runs from the first
 * injection to the last completion, so the receiver's count over the
 * same run divides by the same time. "cpu" is the CPU seconds of every
 * thread (the injector's too) over that time, pkt.h's bench_cpu_s().
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <weir/inject.h>

#include "pkt.h"

#define MAX_LIST 1024

/* The counters live on three cache lines, one per writer, so that the
 * harness does not add a line bouncing between the cores per injection:
 * the sender reads the completions' line only when its window looks full
 * (it keeps its own count of what it submitted), and the completions
 * read the sender's line only while it sleeps. */
struct blast {
	struct bench_pkt_spec spec;
	const char *src, *dst;
	double seconds;
	uint32_t list, window, lowat;
	uint8_t bytes[BENCH_PKT_HDRS + BENCH_PKT_MAX];
	uint32_t len;
	struct weir_engine *engine;
	struct weir_inject_live *live;
	struct weir_inject_handle *handle;
	/* The sender's own. */
	uint64_t submitted;             /* packets accepted */
	uint64_t done_seen;             /* its last read of done */
	unsigned long long rejected;
	int reject_status;
	/* Written by completions on the injector's thread. */
	_Alignas(64) _Atomic uint64_t done;  /* packets completed */
	_Atomic uint64_t ok, failed;
	_Atomic int fail_status;        /* the first error a packet had */
	/* Written by the sender when it goes to sleep on `room`. */
	_Alignas(64) _Atomic bool waiting;
	_Atomic uint64_t wake_at;       /* the done count it waits for */
	pthread_mutex_t lock;
	pthread_cond_t room;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int parse_args(struct blast *b, int argc, char **argv)
{
	int c;

	b->spec = (struct bench_pkt_spec){ .sport = 20000, .dport = 9000,
					   .payload = BENCH_PKT_PAYLOAD };
	b->seconds = 5;
	b->list = 1;
	b->window = 4096;
	while ((c = getopt(argc, argv, "S:d:s:p:l:t:b:w:")) != -1) {
		switch (c) {
		case 'S': b->src = optarg; break;
		case 'd': b->dst = optarg; break;
		case 's': b->spec.sport = (uint16_t)atoi(optarg); break;
		case 'p': b->spec.dport = (uint16_t)atoi(optarg); break;
		case 'l': b->spec.payload = (uint32_t)atoi(optarg); break;
		case 't': b->seconds = atof(optarg); break;
		case 'b': b->list = (uint32_t)atoi(optarg); break;
		case 'w': b->window = (uint32_t)atoi(optarg); break;
		default: return -1;
		}
	}
	b->lowat = b->window / 2;
	return bench_pkt_addrs(&b->spec, b->src, b->dst) == 0 &&
	       b->seconds > 0 && b->list >= 1 && b->list <= MAX_LIST &&
	       b->window >= b->list ? 0 : -1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- completions (the injector's thread) --------------------------- */

static void count_statuses(struct blast *b, const struct weir_nbl *nbl)
{
	uint64_t ok = 0, failed = 0;
	int expected = 0;

	for (const struct weir_pkt *p = nbl->first; p; p = p->next) {
		if (p->status == 0) {
			ok++;
			continue;
		}
		failed++;
		atomic_compare_exchange_strong(&b->fail_status, &expected,
					       p->status);
	}
	atomic_fetch_add_explicit(&b->ok, ok, memory_order_relaxed);
	atomic_fetch_add_explicit(&b->failed, failed, memory_order_relaxed);
}

static void on_complete(void *ctx, struct weir_nbl *nbl)
{
	struct blast *b = ctx;
	uint64_t n = nbl->count, done;

	count_statuses(b, nbl);
	weir_nbl_unref(nbl);
	/* Sequentially consistent with the sender's `waiting` store and
	 * `done` load: either it sees this count or we see it waiting (and
	 * its wake_at, stored before), and then the lock orders our signal
	 * after its wait. */
	done = atomic_fetch_add(&b->done, n) + n;
	if (atomic_load(&b->waiting) && done >= atomic_load(&b->wake_at)) {
		pthread_mutex_lock(&b->lock);
		pthread_cond_signal(&b->room);
		pthread_mutex_unlock(&b->lock);
	}
}

/* ---- the sender ---------------------------------------------------- */

/* Packets in flight, as the sender last saw them: an upper bound. */
static uint64_t inflight(const struct blast *b)
{
	return b->submitted - b->done_seen;
}

/* Sleeps until at most `limit` packets are in flight. The timeout only
 * bounds the damage of a completion that never comes (a broken
 * injector): the run ends then with the figures so far. */
static int wait_inflight(struct blast *b, uint64_t limit)
{
	uint64_t target = b->submitted - limit;
	int rc = 0;

	b->done_seen = atomic_load(&b->done);
	if (b->done_seen >= target)
		return 0;
	pthread_mutex_lock(&b->lock);
	atomic_store(&b->wake_at, target);
	atomic_store(&b->waiting, true);
	while (rc == 0 && (b->done_seen = atomic_load(&b->done)) < target) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 5;
		rc = pthread_cond_timedwait(&b->room, &b->lock, &ts);
	}
	atomic_store(&b->waiting, false);
	pthread_mutex_unlock(&b->lock);
	return rc ? -rc : 0;
}

/* Room for one more list, sleeping for it when the window is full:
 * then until half the window is free, not one list, since a wake-up
 * per completion would cost the sender more than the injection. */
static int make_room(struct blast *b)
{
	if (inflight(b) + b->list <= b->window)
		return 0;
	b->done_seen = atomic_load(&b->done);
	if (inflight(b) + b->list <= b->window)
		return 0;
	return wait_inflight(b, b->lowat < b->window - b->list ?
				b->lowat : b->window - b->list);
}

/* A fresh list of b->list packets, as a callout would build them. */
static struct weir_nbl *make_list(const struct blast *b)
{
	struct weir_nbl *nbl = weir_nbl_new();

	for (uint32_t i = 0; nbl && i < b->list; i++) {
		struct weir_pkt *p = weir_pkt_from_bytes(b->bytes, b->len);

		if (!p)
			return weir_nbl_unref(nbl);
		weir_nbl_add(nbl, p);
	}
	return nbl;
}

static int inject_one(struct blast *b)
{
	struct weir_nbl *nbl = make_list(b);
	int rc;

	if (!nbl)
		return -ENOMEM;
	rc = weir_inject_network_send(b->handle, 0, 0,
				      WEIR_COMPARTMENT_UNSPECIFIED, nbl,
				      on_complete, b);
	if (rc == 0) {
		b->submitted += b->list;
		return 0;
	}
	weir_nbl_unref(nbl);
	b->rejected++;
	if (!b->reject_status)
		b->reject_status = rc;
	return rc;
}

/* Injects until the time is up, then waits for the tail. Only "not
 * ready" and "closing" stop the run: they will not go away. The clock
 * is read every 64 injections, not every one: in a VM clock_gettime
 * costs a fair share of an injection. */
static double run(struct blast *b)
{
	double start = now_s();

	for (unsigned i = 1; !stop; i++) {
		int rc;

		if (i % 64 == 0 && now_s() - start >= b->seconds)
			break;
		if (make_room(b) < 0)
			break;
		rc = inject_one(b);
		if (rc == WEIR_INJECT_E_NOT_READY ||
		    rc == WEIR_INJECT_E_CLOSING)
			break;
	}
	wait_inflight(b, 0);
	return now_s() - start;
}

/* ---- set-up -------------------------------------------------------- */

static int setup(struct blast *b)
{
	struct weir_inject_live_opts opts = { 0 };  /* no compartments:
						     * our namespace only */
	int rc;

	b->len = bench_pkt_build(b->bytes, &b->spec);
	if (!b->len)
		return -EINVAL;
	b->engine = weir_engine_new();
	if (!b->engine)
		return -ENOMEM;
	rc = weir_inject_live_new(b->engine, &opts, &b->live);
	if (rc)
		return rc;
	return weir_inject_handle_create(b->engine, AF_INET,
					 WEIR_INJECT_NETWORK, &b->handle);
}

/* Destroy waits for what is still in flight (after a timeout in
 * wait_inflight), so the lists are all back before the injector goes. */
static void teardown(struct blast *b)
{
	weir_inject_handle_destroy(b->handle);
	weir_inject_live_free(b->live);
	weir_engine_free(b->engine);
}

static void report(struct blast *b, double secs, double cpu)
{
	uint64_t ok = atomic_load(&b->ok), failed = atomic_load(&b->failed);
	int fs = atomic_load(&b->fail_status);

	printf("sent=%llu errors=%llu rejected=%llu seconds=%.3f pps=%.0f "
	       "cpu=%.3f\n", (unsigned long long)ok,
	       (unsigned long long)failed, b->rejected, secs,
	       secs > 0 ? (double)ok / secs : 0.0, cpu);
	if (fs)
		fprintf(stderr, "injblast: first packet error: %s\n",
			weir_inject_strerror(fs));
	if (b->reject_status)
		fprintf(stderr, "injblast: first rejected injection: %s\n",
			weir_inject_strerror(b->reject_status));
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	/* Aligned as its cache-line members say (calloc promises 16). */
	struct blast *b = aligned_alloc(_Alignof(struct blast), sizeof(*b));
	double secs, cpu;
	int rc;

	if (b)
		memset(b, 0, sizeof(*b));
	if (!b || parse_args(b, argc, argv) < 0) {
		fprintf(stderr, "usage: injblast -S SRC -d DST [-s SPORT] "
				"[-p DPORT] [-l LEN] [-t SECONDS] [-b LIST] "
				"[-w WINDOW]\n");
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->room, NULL);
	rc = setup(b);
	if (rc) {
		fprintf(stderr, "injblast: setup: %s\n",
			weir_inject_strerror(rc));
		teardown(b);
		return 1;
	}
	cpu = bench_cpu_s();
	secs = run(b);
	report(b, secs, bench_cpu_s() - cpu);
	teardown(b);
	rc = b->rejected && !atomic_load(&b->ok) ? 1 : 0;
	free(b);
	return rc;
}
