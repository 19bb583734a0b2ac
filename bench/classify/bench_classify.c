/* Benchmark of the filter engine's compiled classifier against the linear
 * reference evaluator, in the same run: median nanoseconds per
 * classification for 10, 1k, 10k and 100k filters of a realistic mix.
 *
 * The mix (IPv4 forward layer, automatic weights, one sublayer), shaped
 * like a gateway policy: internal servers in 10.0.0.0/8, the rest of the
 * Internet outside it:
 *   35% blocklist (a threat feed): src anywhere, 60% /32, 30% /24, 10%
 *       /16-/23                                                -> block
 *   30% services: dst server /24-/32 in 10/8, tcp or udp, one port -> permit
 *   25% pinholes: exact 5-tuples, src anywhere, dst a 10/8 server  -> permit
 *    5% port ranges: dst /24 in 10/8, tcp, dst port range       -> permit
 *    5% sets: src in {3-8 prefixes anywhere}, dst port in {2-4}  -> block
 * Half the packets are built to hit a random filter; half are random
 * (src anywhere, dst in 10/8).
 *
 * An extra line adds to the largest mix 2 500 filters on one server that
 * differ only by a port range (bench/packet/policy.sh's "range" filters:
 * 6 ports each, tcp and udp) and sends every packet to that server, at
 * random ports: the case where one hash key holds thousands of records.
 *
 * Usage: bench_classify [-p | -r] [MAX_FILTERS]   (default 100000)
 *   -p  profile: only MAX_FILTERS, classifier only, no linear evaluator
 *       (for valgrind --tool=cachegrind / callgrind)
 *   -r  profile the extra line only
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

#include <weir/engine.h>

#include "engine/engine_internal.h"

#define NPKT 20000
#define NPKT_LINEAR 400

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static const uint16_t common_ports[] = { 22, 25, 53, 80, 110, 123, 143, 443,
					 993, 3306, 5432, 6379, 8080, 8443 };

struct fspec {
	struct weir_filter_spec s;
	struct weir_cond c[5];
	struct weir_val set[12];
};

static void addr(uint8_t *a, uint32_t v)
{
	memset(a, 0, 16);
	a[0] = (uint8_t)(v >> 24);
	a[1] = (uint8_t)(v >> 16);
	a[2] = (uint8_t)(v >> 8);
	a[3] = (uint8_t)v;
}

/* The network part of ip for a prefix length 0..32. */
static uint32_t net(uint32_t ip, unsigned plen)
{
	return plen ? ip & (0xffffffffu << (32 - plen)) : 0;
}

/* A server address: 10.0.0.0/8. */
static uint32_t rnd_ip(void)
{
	return 0x0a000000u | rnd(1u << 24);
}

/* Any unicast address outside 10/8. */
static uint32_t rnd_any(void)
{
	uint32_t ip;

	do
		ip = (uint32_t)rnd(0xe0000000u);
	while ((ip >> 24) == 10 || (ip >> 24) == 0);
	return ip;
}

static unsigned feed_plen(void)
{
	uint32_t r = rnd(10);

	return r < 6 ? 32 : r < 9 ? 24 : 16 + rnd(8);
}

static void cond_prefix(struct weir_cond *c, uint16_t field, uint32_t ip,
			unsigned plen)
{
	memset(c, 0, sizeof(*c));
	c->field = field;
	c->match = plen == 32 ? WEIR_MATCH_EQ : WEIR_MATCH_PREFIX;
	addr(c->v.addr, net(ip, plen));
	c->v.plen = (uint8_t)plen;
}

static void cond_num(struct weir_cond *c, uint16_t field, uint8_t match,
		     uint64_t lo, uint64_t hi)
{
	memset(c, 0, sizeof(*c));
	c->field = field;
	c->match = match;
	c->v.lo = lo;
	c->v.hi = hi;
}

static void make_filter(struct fspec *f)
{
	uint32_t kind = rnd(100), n = 0;
	struct weir_cond *c = f->c;

	memset(&f->s, 0, sizeof(f->s));
	f->s.layer = WEIR_LAYER_IPFORWARD_V4;
	f->s.action = WEIR_ACTION_PERMIT;
	if (kind < 35) {
		cond_prefix(&c[n++], WEIR_FIELD_IP_SRC, rnd_any(), feed_plen());
		f->s.action = WEIR_ACTION_BLOCK;
	} else if (kind < 65) {
		cond_prefix(&c[n++], WEIR_FIELD_IP_DST, rnd_ip(), 24 + rnd(9));
		cond_num(&c[n++], WEIR_FIELD_IP_PROTO, WEIR_MATCH_EQ,
			 rnd(2) ? 6 : 17, 0);
		cond_num(&c[n++], WEIR_FIELD_DST_PORT, WEIR_MATCH_EQ,
			 rnd(2) ? common_ports[rnd(14)] : rnd(65536), 0);
	} else if (kind < 90) {
		cond_prefix(&c[n++], WEIR_FIELD_IP_SRC, rnd_any(), 32);
		cond_prefix(&c[n++], WEIR_FIELD_IP_DST, rnd_ip(), 32);
		cond_num(&c[n++], WEIR_FIELD_IP_PROTO, WEIR_MATCH_EQ, 6, 0);
		cond_num(&c[n++], WEIR_FIELD_SRC_PORT, WEIR_MATCH_EQ,
			 1024 + rnd(64512), 0);
		cond_num(&c[n++], WEIR_FIELD_DST_PORT, WEIR_MATCH_EQ,
			 common_ports[rnd(14)], 0);
		f->s.action = rnd(2) ? WEIR_ACTION_PERMIT : WEIR_ACTION_BLOCK;
	} else if (kind < 95) {
		uint32_t lo = rnd(60000);

		cond_prefix(&c[n++], WEIR_FIELD_IP_DST, rnd_ip(), 24);
		cond_num(&c[n++], WEIR_FIELD_IP_PROTO, WEIR_MATCH_EQ, 6, 0);
		cond_num(&c[n++], WEIR_FIELD_DST_PORT, WEIR_MATCH_RANGE, lo,
			 lo + rnd(5000));
	} else {
		uint32_t na = 3 + rnd(6), np = 2 + rnd(3);

		memset(&c[n], 0, sizeof(c[n]));
		c[n].field = WEIR_FIELD_IP_SRC;
		c[n].match = WEIR_MATCH_IN_SET;
		c[n].set = f->set;
		c[n++].set_len = na;
		for (uint32_t i = 0; i < na; i++) {
			f->set[i].plen = (uint8_t)(24 + rnd(9));
			addr(f->set[i].addr, net(rnd_any(), f->set[i].plen));
		}
		memset(&c[n], 0, sizeof(c[n]));
		c[n].field = WEIR_FIELD_DST_PORT;
		c[n].match = WEIR_MATCH_IN_SET;
		c[n].set = f->set + 8;
		c[n++].set_len = np;
		for (uint32_t i = 0; i < np; i++)
			f->set[8 + i] = (struct weir_val){
				.lo = common_ports[rnd(14)], .hi = 0 };
		f->s.action = WEIR_ACTION_BLOCK;
	}
	f->s.conds = c;
	f->s.ncond = n;
}

/* A packet that hits filter f (where its conditions allow). */
static void packet_for(const struct fspec *f, struct weir_fields *p)
{
	for (uint32_t i = 0; i < f->s.ncond; i++) {
		const struct weir_cond *c = &f->c[i];
		const struct weir_val *v = c->match == WEIR_MATCH_IN_SET
					   ? &c->set[rnd(c->set_len)] : &c->v;
		uint8_t *a = c->field == WEIR_FIELD_IP_SRC ? p->src : p->dst;

		if (c->field <= WEIR_FIELD_IP_DST) {
			memcpy(a, v->addr, 4);
			if (v->plen < 32)
				a[3] |= (uint8_t)rnd(2);
		} else if (c->match == WEIR_MATCH_RANGE) {
			p->num[c->field] = v->lo + rnd((uint32_t)(v->hi - v->lo + 1));
		} else {
			p->num[c->field] = v->lo;
		}
	}
}

static void make_packet(struct weir_fields *p, const struct fspec *fs,
			uint32_t n)
{
	memset(p, 0, sizeof(*p));
	p->family = 2; /* AF_INET */
	addr(p->src, rnd_any());
	addr(p->dst, rnd_ip());
	p->num[WEIR_FIELD_IP_PROTO] = rnd(2) ? 6 : 17;
	p->num[WEIR_FIELD_SRC_PORT] = 1024 + rnd(64512);
	p->num[WEIR_FIELD_DST_PORT] = rnd(2) ? common_ports[rnd(14)]
					     : rnd(65536);
	p->present = 1u << WEIR_FIELD_IP_SRC | 1u << WEIR_FIELD_IP_DST |
		     1u << WEIR_FIELD_IP_PROTO | 1u << WEIR_FIELD_SRC_PORT |
		     1u << WEIR_FIELD_DST_PORT;
	if (rnd(2))
		packet_for(&fs[rnd(n)], p);
}

/* ---- the extra line: many port ranges on one server ----------------- */

#define NRANGE 2500
#define RANGE_SERVER 0x0a4d0202u /* 10.77.2.2 */

/* Filter j of policy.sh's "range" kind: 6 ports from 30000 + 7j % 30000,
 * tcp for even j, udp for odd. */
static void make_range_filter(struct fspec *f, uint32_t j)
{
	uint32_t lo = 30000 + (j * 7) % 30000;

	memset(&f->s, 0, sizeof(f->s));
	f->s.layer = WEIR_LAYER_IPFORWARD_V4;
	f->s.action = WEIR_ACTION_BLOCK;
	cond_prefix(&f->c[0], WEIR_FIELD_IP_DST, RANGE_SERVER, 32);
	cond_num(&f->c[1], WEIR_FIELD_IP_PROTO, WEIR_MATCH_EQ,
		 j % 2 ? 17 : 6, 0);
	cond_num(&f->c[2], WEIR_FIELD_DST_PORT, WEIR_MATCH_RANGE, lo, lo + 5);
	f->s.conds = f->c;
	f->s.ncond = 3;
}

/* A packet to the server: tcp or udp, any source, any port (most miss
 * every range, as the replay's packets to port 9000 do). */
static void make_range_packet(struct weir_fields *p)
{
	memset(p, 0, sizeof(*p));
	p->family = 2; /* AF_INET */
	addr(p->src, rnd_any());
	addr(p->dst, RANGE_SERVER);
	p->num[WEIR_FIELD_IP_PROTO] = rnd(2) ? 6 : 17;
	p->num[WEIR_FIELD_SRC_PORT] = 1024 + rnd(64512);
	p->num[WEIR_FIELD_DST_PORT] = rnd(65536);
	p->present = 1u << WEIR_FIELD_IP_SRC | 1u << WEIR_FIELD_IP_DST |
		     1u << WEIR_FIELD_IP_PROTO | 1u << WEIR_FIELD_SRC_PORT |
		     1u << WEIR_FIELD_DST_PORT;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static uint64_t median(uint64_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_u64);
	return v[n / 2];
}

/* The clock's own cost, subtracted from every sample. */
static uint64_t timer_overhead(void)
{
	static uint64_t s[1000];

	for (int i = 0; i < 1000; i++) {
		uint64_t t0 = now_ns();

		s[i] = now_ns() - t0;
	}
	return median(s, 1000);
}

/* A packet as the bench keeps it: 16 bytes. The capture builds a
 * packet's fields on its stack from a receive buffer it recycles, so
 * classification finds them hot and the packets' memory does not grow
 * with their number; a 20 000-entry array of struct weir_fields (296
 * bytes each) would stream 6 MB through the caches on every pass and
 * evict the very tables being measured. */
struct tuple5 {
	uint32_t src, dst;           /* network order */
	uint16_t sport, dport;
	uint8_t proto, has_ports;
};

static void compact(const struct weir_fields *f, struct tuple5 *t)
{
	memcpy(&t->src, f->src, 4);
	memcpy(&t->dst, f->dst, 4);
	t->sport = (uint16_t)f->num[WEIR_FIELD_SRC_PORT];
	t->dport = (uint16_t)f->num[WEIR_FIELD_DST_PORT];
	t->proto = (uint8_t)f->num[WEIR_FIELD_IP_PROTO];
	t->has_ports = !!(f->present & 1ull << WEIR_FIELD_DST_PORT);
}

static void fields_of(const struct tuple5 *t, struct weir_fields *f)
{
	memset(f, 0, sizeof(*f));
	f->family = 2; /* AF_INET */
	memcpy(f->src, &t->src, 4);
	memcpy(f->dst, &t->dst, 4);
	f->num[WEIR_FIELD_IP_PROTO] = t->proto;
	f->num[WEIR_FIELD_SRC_PORT] = t->sport;
	f->num[WEIR_FIELD_DST_PORT] = t->dport;
	f->present = 1u << WEIR_FIELD_IP_SRC | 1u << WEIR_FIELD_IP_DST |
		     1u << WEIR_FIELD_IP_PROTO;
	if (t->has_ports)
		f->present |= 1u << WEIR_FIELD_SRC_PORT |
			      1u << WEIR_FIELD_DST_PORT;
}

static double median_ns(struct weir_engine *e, const struct tuple5 *p,
			size_t n, uint64_t overhead, uint64_t *sink)
{
	uint64_t *s = malloc(sizeof(*s) * n);
	struct weir_decision d;
	double m;

	for (size_t i = 0; i < n; i++) {
		struct weir_fields cur;
		struct weir_classify_in in = { .layer = WEIR_LAYER_IPFORWARD_V4,
					       .fields = &cur };
		uint64_t t0;

		/* Written just before, as weir_fields_from_pkt does. */
		fields_of(&p[i], &cur);
		__asm__ volatile("" : : "r"(&cur) : "memory");
		t0 = now_ns();

		weir_classify(e, &in, &d);
		s[i] = now_ns() - t0;
		s[i] = s[i] > overhead ? s[i] - overhead : 0;
		*sink += d.filter_id;
	}
	m = (double)median(s, n);
	free(s);
	return m;
}

/* Mean ns per classification over the whole batch, no per-call clock
 * (building each packet's fields included). */
static double mean_ns(struct weir_engine *e, const struct tuple5 *p,
		      size_t n, uint64_t *sink)
{
	struct weir_decision d;
	uint64_t t0 = now_ns();

	for (int rep = 0; rep < 5; rep++)
		for (size_t i = 0; i < n; i++) {
			struct weir_fields cur;
			struct weir_classify_in in = {
				.layer = WEIR_LAYER_IPFORWARD_V4,
				.fields = &cur };

			fields_of(&p[i], &cur); /* counted in the mean */
			weir_classify(e, &in, &d);
			*sink += d.filter_id;
		}
	return (double)(now_ns() - t0) / (5.0 * (double)n);
}

static struct weir_engine *load(const struct fspec *fs, uint32_t n,
				bool linear, double *build_ms)
{
	struct weir_engine *e = weir_engine_new();
	struct weir_txn *t = weir_txn_begin(e);
	uint64_t t0 = now_ns();

	e->use_linear = linear;
	for (uint32_t i = 0; i < n; i++)
		if (weir_txn_add(t, &fs[i].s, NULL, NULL) < 0)
			abort();
	if (weir_txn_commit(t) < 0)
		abort();
	*build_ms = (double)(now_ns() - t0) / 1e6;
	return e;
}

/* ---- the machine's floor: one load from memory ---------------------- */

/* Nanoseconds per dependent load, chasing pointers through `bytes` in
 * random order (one per cache line, huge pages as the tables have). A
 * lookup whose record is not cached pays at least one such load, so at
 * 100k filters this, not the classifier's work, is most of the median. */
static double load_ns(size_t bytes)
{
	size_t n = bytes / 64, huge = 2u << 20, steps = 1000000;
	char *m = aligned_alloc(huge, (bytes + huge - 1) / huge * huge);
	uint32_t *perm = malloc(sizeof(*perm) * n);
	char *p;
	uint64_t t0;

	if (!m || !perm)
		abort();
	madvise(m, bytes, MADV_HUGEPAGE);
	for (size_t i = 0; i < n; i++)
		perm[i] = (uint32_t)i;
	for (size_t i = n - 1; i > 0; i--) {
		/* Its own stream: the filters and packets drawn after this
		 * stay the same with or without the probe. */
		size_t j = (size_t)((i * 0x9e3779b97f4a7c15ull >> 17) %
				    (i + 1));
		uint32_t x = perm[i];

		perm[i] = perm[j];
		perm[j] = x;
	}
	for (size_t i = 0; i < n; i++)
		*(char **)(m + (size_t)perm[i] * 64) =
			m + (size_t)perm[(i + 1) % n] * 64;
	p = m;
	for (size_t i = 0; i < n; i++) /* warm the TLB and what caches can */
		p = *(char **)p;
	t0 = now_ns();
	for (size_t i = 0; i < steps; i++)
		p = *(char **)p;
	t0 = now_ns() - t0;
	__asm__ volatile("" : : "r"(p));
	free(perm);
	free(m);
	return (double)t0 / (double)steps;
}

static void floor_line(double table_mb)
{
	printf("\nmemory, ns per dependent load (pointer chase): 1 MB %.0f, "
	       "4 MB %.0f, 16 MB %.0f\n", load_ns(1u << 20),
	       load_ns(4u << 20), load_ns(16u << 20));
	printf("the classifier's tables at the largest size: %.1f MB\n",
	       table_mb);
}

/* Evicts the caches: writes 64 MB, more than the machine's caches hold,
 * so that the pass that follows finds nothing of the tables cached. */
static void flush_caches(void)
{
	static volatile char big[64u << 20];

	for (size_t i = 0; i < sizeof(big); i += 64)
		big[i] = (char)i;
}

/* The cold and the warm median of the same packets (see main). */
static void cold_warm(struct weir_engine *e, const struct tuple5 *p,
		      uint64_t overhead, uint64_t *sink, double *cold,
		      double *warm)
{
	flush_caches();
	*cold = median_ns(e, p, NPKT, overhead, sink);
	*warm = median_ns(e, p, NPKT, overhead, sink);
}

/* The extra line; fs has room for n + NRANGE filters. */
static void range_line(struct fspec *fs, uint32_t n, struct tuple5 *pk,
		       uint64_t overhead, uint64_t *sink)
{
	struct weir_engine *e;
	double bms, cold, warm, mean;

	for (uint32_t j = 0; j < NRANGE; j++)
		make_range_filter(&fs[n + j], j);
	for (int i = 0; i < NPKT; i++) {
		struct weir_fields f;

		make_range_packet(&f);
		compact(&f, &pk[i]);
	}
	e = load(fs, n + NRANGE, false, &bms);
	cold_warm(e, pk, overhead, sink, &cold, &warm);
	mean = mean_ns(e, pk, NPKT, sink);
	printf("\n%u + %u port ranges on one server, packets to it:\n",
	       n, NRANGE);
	printf("%8u | %7.0f | %7.0f | %7.0f | %12s | %8s | %9.1f\n",
	       n + NRANGE, cold, warm, mean, "-", "-", bms);
	weir_engine_free(e);
}

int main(int argc, char **argv)
{
	static const uint32_t sizes[] = { 10, 1000, 10000, 100000 };
	bool ranges = argc > 1 && !strcmp(argv[1], "-r");
	bool profile = ranges || (argc > 1 && !strcmp(argv[1], "-p"));
	uint32_t max = argc > 1 + profile ? (uint32_t)atoi(argv[1 + profile])
					   : 100000;
	struct fspec *fs = calloc(max + NRANGE, sizeof(*fs));
	struct tuple5 *pk = calloc(NPKT, sizeof(*pk));
	uint64_t overhead = timer_overhead(), sink = 0;
	double first = 0, last = 0, last_cold = 0, last_lin = 0;
	double table_mb = 0;

	for (uint32_t i = 0; i < max; i++)
		make_filter(&fs[i]);
	printf("weir classifier vs linear evaluator, IPv4 forward layer, "
	       "realistic mix (see source)\n");
	printf("median ns per classification (clock overhead %lu ns "
	       "subtracted)\n", (unsigned long)overhead);
	printf("cold: caches flushed first, each packet's filter read for "
	       "the first time;\nwarm: the same packets again, as a flow's "
	       "later packets; mean: back to back\n\n");
	printf("%8s | %7s | %7s | %7s | %12s | %8s | %9s\n", "filters",
	       "cold", "warm", "mean", "linear ns", "speedup", "build ms");
	printf("---------+---------+---------+---------+--------------+--------"
	       "--+----------\n");
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		uint32_t n = sizes[k];
		double bms, lms, cold, w, l, mean;
		struct weir_engine *ec, *el;

		if (n > max)
			break;
		if (ranges || (profile && n != max))
			continue;
		for (int i = 0; i < NPKT; i++) {
			struct weir_fields f;

			make_packet(&f, fs, n);
			compact(&f, &pk[i]);
		}
		ec = load(fs, n, false, &bms);
		el = load(fs, profile ? 0 : n, true, &lms);
		cold_warm(ec, pk, overhead, &sink, &cold, &w);
		mean = mean_ns(ec, pk, NPKT, &sink);
		l = profile ? 0 : median_ns(el, pk, NPKT_LINEAR, overhead,
					    &sink);
		printf("%8u | %7.0f | %7.0f | %7.0f | %12.0f | %7.0fx | "
		       "%9.1f\n", n, cold, w, mean, l, w > 0 ? l / w : 0,
		       bms);
		table_mb = (double)weir__cls_bytes(
			ec->rs->layers[WEIR_LAYER_IPFORWARD_V4].cls) / 1e6;
		if (!k)
			first = w;
		last = w;
		last_cold = cold;
		last_lin = l;
		weir_engine_free(ec);
		weir_engine_free(el);
	}
	if (profile)
		goto extra;
	printf("\ngrowth from %u to %u filters, warm: %.2fx (target <= 3x)\n",
	       sizes[0], max, first > 0 ? last / first : 0);
	printf("at %u filters, warm: %.0f ns (target <= 150), %.0fx faster "
	       "than linear (target >= 50x)\n", max, last,
	       last > 0 ? last_lin / last : 0);
	printf("at %u filters, cold: %.0f ns: a packet whose filter's "
	       "record is not cached waits for one load from memory\n", max,
	       last_cold);
	floor_line(table_mb);
extra:
	if (ranges || !profile)
		range_line(fs, max, pk, overhead, &sink);
	free(fs);
	free(pk);
	return sink == 42 ? 1 : 0;
}
