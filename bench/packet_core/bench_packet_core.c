/* Benchmark of the weir packet core: nanoseconds per packet of weir_parse,
 * full checksum verification and a NAT-like rewrite (address + port with
 * incremental checksums) over a deterministic IMIX-like mix of IPv4/IPv6
 * TCP/UDP packets, each next to a plain memcpy of the same bytes measured
 * in the same runs.
 *
 * Usage: bench_packet_core [PASSES]   (passes over the mix per run, def. 64)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <weir/craft.h>
#include <weir/csum.h>
#include <weir/packet.h>
#include <weir/pdesc.h>

#define NPKT 4096u          /* packets in the mix */
#define RUNS 11             /* timed runs per operation; the median counts */
#define DEF_PASSES 64u      /* passes over the whole mix per run */
#define SLOT_ALIGN 64u      /* each packet starts on a cache line */
#define SCRATCH 2048u       /* memcpy destination, > largest packet */

/* Keeps the compiler from dropping or merging work on p. */
#define BARRIER(p) __asm__ volatile("" : : "r"(p) : "memory")

static volatile uint64_t g_sink;

/* One packet of the mix. */
struct mpkt {
	uint8_t *data;
	uint32_t len;
	uint8_t family;
	uint8_t proto;
	uint8_t opts;          /* TCP option bytes */
};

/* Everything a timed run needs. */
struct bench {
	struct mpkt pkts[NPKT];
	struct weir_pdesc *pds;         /* pre-parsed, for verify */
	struct weir_pkt **wpkts;        /* private packets, for the rewrite */
	uint8_t *arena;
	uint8_t scratch[SCRATCH];
	unsigned passes;
};

/* ---- deterministic packet mix -------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v);
}

/* Reference Internet checksum, independent of weir's. */
static uint32_t ref_sum(uint32_t s, const uint8_t *p, size_t n)
{
	for (; n > 1; p += 2, n -= 2)
		s += (uint32_t)(p[0] << 8 | p[1]);
	if (n)
		s += (uint32_t)p[0] << 8;
	return s;
}

static uint16_t ref_final(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* IMIX 7:4:1 of 64, 576 and 1500-byte IP packets. */
static uint32_t pick_size(uint64_t *rng)
{
	uint64_t r = rng_next(rng) % 12;

	return r < 7 ? 64 : r < 11 ? 576 : 1500;
}

/* 10% of TCP segments are SYNs with MSS/SACK/TS/WS, half carry TS only. */
static uint8_t pick_opts(uint64_t *rng, uint8_t proto)
{
	uint64_t r = rng_next(rng) % 10;

	if (proto != IPPROTO_TCP)
		return 0;
	return r == 0 ? 20 : r <= 5 ? 12 : 0;
}

static void fill_tcp_opts(uint8_t *o, uint8_t n, uint64_t *rng)
{
	static const uint8_t syn[20] = {
		2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 0, 0, 0, 0, 0,
		1, 3, 3, 7,
	};
	static const uint8_t ts[12] = { 1, 1, 8, 10 };

	memcpy(o, n == 20 ? syn : ts, n);
	put32(o + (n == 20 ? 8 : 4), (uint32_t)rng_next(rng));
}

static uint32_t build_ip(uint8_t *p, const struct mpkt *m, uint32_t l4len,
			 uint64_t *rng)
{
	uint32_t r = (uint32_t)rng_next(rng);

	if (m->family == AF_INET) {
		memset(p, 0, 20);
		p[0] = 0x45;
		put16(p + 2, 20 + l4len);
		put16(p + 4, r & 0xffff);
		p[6] = 0x40;                    /* DF */
		p[8] = 64;
		p[9] = m->proto;
		put32(p + 12, 0x0a000000u | (r >> 8));   /* 10/8 */
		put32(p + 16, 0xc6330000u | (r & 0xffff)); /* 198.51/16 */
		put16(p + 10, ref_final(ref_sum(0, p, 20)));
		return 20;
	}
	memset(p, 0, 40);
	put32(p, 0x60000000u | (r & 0xfffff));
	put16(p + 4, l4len);
	p[6] = m->proto;
	p[7] = 64;
	p[8] = 0xfd;                            /* fd00::/8 */
	put32(p + 20, r);
	put32(p + 24, 0x20010db8u);             /* 2001:db8::/32 */
	put32(p + 36, r ^ 0x5a5a5a5au);
	return 40;
}

static void build_l4(uint8_t *l4, const struct mpkt *m, uint32_t l4len,
		     uint64_t *rng)
{
	uint32_t r = (uint32_t)rng_next(rng);

	put16(l4, 1024 + (r % 60000));
	put16(l4 + 2, (r >> 16) & 1 ? 443 : 53);
	if (m->proto == IPPROTO_UDP) {
		put16(l4 + 4, l4len);
		put16(l4 + 6, 0);
		return;
	}
	put32(l4 + 4, (uint32_t)rng_next(rng));
	put32(l4 + 8, (uint32_t)rng_next(rng));
	l4[12] = (uint8_t)(((20 + m->opts) / 4) << 4);
	l4[13] = m->opts == 20 ? 0x02 : 0x18;   /* SYN or PSH|ACK */
	put16(l4 + 14, 65535);
	memset(l4 + 16, 0, 4);
	if (m->opts)
		fill_tcp_opts(l4 + 20, m->opts, rng);
}

/* The L4 checksum over pseudo-header + segment, stored big-endian. */
static void fill_l4_csum(uint8_t *p, const struct mpkt *m, uint32_t l3len)
{
	uint32_t l4len = m->len - l3len, s;
	uint8_t *field = p + l3len + (m->proto == IPPROTO_TCP ? 16 : 6);
	uint16_t c;

	if (m->family == AF_INET)
		s = ref_sum(0, p + 12, 8);
	else
		s = ref_sum(0, p + 8, 32);
	s += m->proto + (l4len >> 16) + (l4len & 0xffff);
	s = ref_sum(s, p + l3len, l4len);
	c = ref_final(s);
	if (c == 0 && m->proto == IPPROTO_UDP)
		c = 0xffff;
	put16(field, c);
}

/* Writes one packet of the mix at p; returns its length. */
static uint32_t build_pkt(uint8_t *p, struct mpkt *m, uint64_t *rng)
{
	uint32_t hdr, l3len, l4hdr, l4len;

	m->family = rng_next(rng) % 10 < 7 ? AF_INET : AF_INET6;
	m->proto = rng_next(rng) % 4 < 3 ? IPPROTO_TCP : IPPROTO_UDP;
	m->opts = pick_opts(rng, m->proto);
	l4hdr = m->proto == IPPROTO_TCP ? 20u + m->opts : 8u;
	hdr = (m->family == AF_INET ? 20u : 40u) + l4hdr;
	m->len = pick_size(rng);
	if (m->len < hdr)
		m->len = hdr;
	l4len = m->len - (m->family == AF_INET ? 20u : 40u);
	l3len = build_ip(p, m, l4len, rng);
	build_l4(p + l3len, m, l4len, rng);
	for (uint32_t i = hdr; i < m->len; i++)
		p[i] = (uint8_t)rng_next(rng);
	fill_l4_csum(p, m, l3len);
	return m->len;
}

static int build_mix(struct bench *b)
{
	uint64_t rng = 0x77656972u;     /* "weir" */
	size_t off = 0;

	b->arena = aligned_alloc(SLOT_ALIGN, (size_t)NPKT * 1536u);
	if (!b->arena)
		return -ENOMEM;
	for (unsigned i = 0; i < NPKT; i++) {
		b->pkts[i].data = b->arena + off;
		build_pkt(b->pkts[i].data, &b->pkts[i], &rng);
		off += (b->pkts[i].len + SLOT_ALIGN - 1) & ~(SLOT_ALIGN - 1);
	}
	return 0;
}

/* ---- set-up and sanity --------------------------------------------- */

/* Every packet must parse and verify, or the figures mean nothing. */
static int check_mix(struct bench *b)
{
	struct weir_csum_report rep;
	unsigned bad = 0;

	for (unsigned i = 0; i < NPKT; i++) {
		struct mpkt *m = &b->pkts[i];

		if (weir_parse(m->data, m->len, &b->pds[i]) != 0 ||
		    weir_csum_verify(m->data, &b->pds[i], false, &rep) != 0 ||
		    rep.l4 != WEIR_CSUM_GOOD) {
			if (bad++ < 5)
				fprintf(stderr, "packet %u (%u bytes) does not "
					"parse/verify: err %s, l4 verdict %u\n",
					i, m->len,
					weir_perr_str(b->pds[i].err), rep.l4);
		}
	}
	if (bad)
		fprintf(stderr, "%u of %u packets rejected\n", bad, NPKT);
	return bad ? -EBADMSG : 0;
}

static int make_wpkts(struct bench *b)
{
	for (unsigned i = 0; i < NPKT; i++) {
		b->wpkts[i] = weir_pkt_from_bytes(b->pkts[i].data,
						  b->pkts[i].len);
		if (!b->wpkts[i] || weir_pkt_parse(b->wpkts[i]) != 0)
			return -ENOMEM;
	}
	return 0;
}

/* After the rewrites every packet must still verify. */
static unsigned count_rewrite_bad(const struct bench *b)
{
	struct weir_csum_report rep;
	struct weir_pdesc pd;
	unsigned bad = 0;

	for (unsigned i = 0; i < NPKT; i++) {
		const struct weir_pkt *p = b->wpkts[i];

		if (weir_parse(p->data, p->len, &pd) != 0 ||
		    weir_csum_verify(p->data, &pd, false, &rep) != 0)
			bad++;
	}
	return bad;
}

/* ---- timed loops --------------------------------------------------- */

typedef void (*run_fn)(struct bench *b);

static void run_memcpy(struct bench *b)
{
	uint64_t acc = 0;

	for (unsigned pass = 0; pass < b->passes; pass++) {
		for (unsigned i = 0; i < NPKT; i++) {
			memcpy(b->scratch, b->pkts[i].data, b->pkts[i].len);
			BARRIER(b->scratch);
			acc += b->scratch[i & 63];
		}
	}
	g_sink += acc;
}

static void run_parse(struct bench *b)
{
	struct weir_pdesc pd;
	uint64_t acc = 0;

	for (unsigned pass = 0; pass < b->passes; pass++) {
		for (unsigned i = 0; i < NPKT; i++) {
			weir_parse(b->pkts[i].data, b->pkts[i].len, &pd);
			BARRIER(&pd);
			acc += pd.flags + pd.payload_off;
		}
	}
	g_sink += acc;
}

static void run_verify(struct bench *b)
{
	struct weir_csum_report rep;
	uint64_t acc = 0;

	for (unsigned pass = 0; pass < b->passes; pass++) {
		for (unsigned i = 0; i < NPKT; i++) {
			acc += (unsigned)weir_csum_verify(b->pkts[i].data,
							  &b->pds[i], false,
							  &rep);
			BARRIER(&rep);
			acc += rep.l4;
		}
	}
	g_sink += acc;
}

/* NAT source rewrite, alternating between two public addresses/ports. */
static void run_nat(struct bench *b)
{
	static const uint8_t a4[2][16] = { { 192, 0, 2, 1 }, { 203, 0, 113, 7 } };
	static const uint8_t a6[2][16] = {
		{ 0x20, 0x01, 0x0d, 0xb8, [15] = 1 },
		{ 0x20, 0x01, 0x0d, 0xb8, 0xff, [15] = 7 },
	};
	static const uint16_t port[2] = { 40000, 50123 };
	uint64_t acc = 0;

	for (unsigned pass = 0; pass < b->passes; pass++) {
		unsigned k = pass & 1;

		for (unsigned i = 0; i < NPKT; i++) {
			struct weir_pkt *p = b->wpkts[i];
			const uint8_t *a = p->pd.family == AF_INET ? a4[k] : a6[k];

			acc += (unsigned)weir_pkt_set_addr(p, WEIR_SRC, a);
			acc += (unsigned)weir_pkt_set_port(p, WEIR_SRC, port[k]);
			BARRIER(p->data);
		}
	}
	g_sink += acc;
}

/* ---- measurement and report ---------------------------------------- */

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return v[n / 2];
}

static double time_run(run_fn fn, struct bench *b)
{
	double t0 = now_ns();

	fn(b);
	return (now_ns() - t0) / ((double)b->passes * NPKT);
}

/* Interleaves weir and memcpy runs so both see the same machine state. */
static void measure(run_fn fn, struct bench *b, double *ret_weir,
		    double *ret_copy)
{
	double w[RUNS], c[RUNS];

	fn(b);
	run_memcpy(b);
	for (int r = 0; r < RUNS; r++) {
		w[r] = time_run(fn, b);
		c[r] = time_run(run_memcpy, b);
	}
	*ret_weir = median(w, RUNS);
	*ret_copy = median(c, RUNS);
}

static void print_mix(const struct bench *b)
{
	unsigned v4 = 0, tcp = 0, opts = 0, small = 0, mid = 0;
	uint64_t bytes = 0;

	for (unsigned i = 0; i < NPKT; i++) {
		const struct mpkt *m = &b->pkts[i];

		v4 += m->family == AF_INET;
		tcp += m->proto == IPPROTO_TCP;
		opts += m->opts != 0;
		small += m->len < 576;
		mid += m->len == 576;
		bytes += m->len;
	}
	printf("mix: %u packets, mean %.1f bytes (IP length), IPv4 %.1f%% / "
	       "IPv6 %.1f%%, TCP %.1f%% / UDP %.1f%%, TCP with options %.1f%%\n",
	       NPKT, (double)bytes / NPKT, 100.0 * v4 / NPKT,
	       100.0 * (NPKT - v4) / NPKT, 100.0 * tcp / NPKT,
	       100.0 * (NPKT - tcp) / NPKT, tcp ? 100.0 * opts / tcp : 0.0);
	printf("sizes: IMIX 7:4:1 -> 64..80 B %.1f%%, 576 B %.1f%%, 1500 B "
	       "%.1f%% (small packets grow to fit IPv6/TCP option headers)\n",
	       100.0 * small / NPKT, 100.0 * mid / NPKT,
	       100.0 * (NPKT - small - mid) / NPKT);
	printf("timing: median of %d runs x %u passes over the mix, "
	       "CLOCK_MONOTONIC; memcpy = copy of each packet's bytes\n\n",
	       RUNS, b->passes);
}

static void print_row(const char *name, run_fn fn, struct bench *b)
{
	double w, c;

	measure(fn, b, &w, &c);
	printf("%-32s | %11.2f | %13.2f | %6.2f\n", name, w, c, w / c);
}

static int bench_all(struct bench *b)
{
	unsigned bad;

	print_mix(b);
	printf("%-32s | %11s | %13s | %6s\n", "operation", "weir ns/pkt",
	       "memcpy ns/pkt", "ratio");
	printf("---------------------------------+-------------+"
	       "---------------+-------\n");
	print_row("weir_parse", run_parse, b);
	print_row("weir_csum_verify (IPv4 hdr + L4)", run_verify, b);
	print_row("NAT set_addr+set_port (incr.)", run_nat, b);
	bad = count_rewrite_bad(b);
	printf("\nafter %u NAT rewrites per packet: %u of %u packets fail "
	       "verification\n", (RUNS + 1) * b->passes, bad, NPKT);
	return bad ? 1 : 0;
}

static void free_bench(struct bench *b)
{
	for (unsigned i = 0; b->wpkts && i < NPKT; i++)
		weir_pkt_free(b->wpkts[i]);
	free(b->wpkts);
	free(b->pds);
	free(b->arena);
	free(b);
}

int main(int argc, char **argv)
{
	struct bench *b = calloc(1, sizeof(*b));
	int rc = 1;

	if (!b)
		return 1;
	b->passes = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : DEF_PASSES;
	if (!b->passes)
		b->passes = DEF_PASSES;
	b->pds = calloc(NPKT, sizeof(*b->pds));
	b->wpkts = calloc(NPKT, sizeof(*b->wpkts));
	if (!b->pds || !b->wpkts || build_mix(b) != 0)
		fprintf(stderr, "out of memory\n");
	else if (check_mix(b) != 0)
		fprintf(stderr, "the mix does not parse/verify: no figures\n");
	else if (make_wpkts(b) != 0)
		fprintf(stderr, "weir_pkt_from_bytes/parse failed\n");
	else
		rc = bench_all(b);
	free_bench(b);
	return rc;
}
