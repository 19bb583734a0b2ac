/* Cross-checks weir's packet core against scapy: parses every packet of a
 * pcap with weir_parse()/weir_csum_verify() and compares the descriptor,
 * field by field, with the expectation line gen_packets.py wrote for it;
 * then runs the builders and rewrites on eligible packets and writes the
 * results, with what each should be, for verify_built.py to dissect.
 *
 * usage: oracle_check IN.pcap IN.expect OUT_BUILT.pcap
 *
 * Expectations of built packets are derived from the ORIGINAL packet's
 * expectation line (scapy's view), not from weir's descriptor. Exit status
 * 0 when everything agreed, 1 on any mismatch, 2 on a usage or I/O error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <weir/craft.h>
#include <weir/csum.h>
#include <weir/packet.h>
#include <weir/pdesc.h>

#define KV_MAX 96
#define KV_KEY 24
#define KV_VAL 160
#define SNAPLEN 262144
#define MAX_FIELD_STATS 64

/* ---- key=value sets ---------------------------------------------------- */

struct kv {
	char key[KV_KEY];
	char val[KV_VAL];
};

struct kvset {
	struct kv kv[KV_MAX];
	int n;
};

static void kv_add(struct kvset *s, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void kv_add(struct kvset *s, const char *key, const char *fmt, ...)
{
	va_list ap;

	if (s->n >= KV_MAX)
		return;
	snprintf(s->kv[s->n].key, KV_KEY, "%s", key);
	va_start(ap, fmt);
	vsnprintf(s->kv[s->n].val, KV_VAL, fmt, ap);
	va_end(ap);
	s->n++;
}

static const char *kv_get(const struct kvset *s, const char *key)
{
	for (int i = 0; i < s->n; i++)
		if (strcmp(s->kv[i].key, key) == 0)
			return s->kv[i].val;
	return NULL;
}

static bool kv_is(const struct kvset *s, const char *key, const char *val)
{
	const char *v = kv_get(s, key);

	return v && strcmp(v, val) == 0;
}

static long kv_num(const struct kvset *s, const char *key, long dflt)
{
	const char *v = kv_get(s, key);

	return v ? strtol(v, NULL, 0) : dflt;
}

/* Splits one expectation line into s; the line is modified. */
static void kv_parse(struct kvset *s, char *line)
{
	char *save = NULL;

	s->n = 0;
	for (char *tok = strtok_r(line, " \t\r\n", &save); tok;
	     tok = strtok_r(NULL, " \t\r\n", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq)
			continue;
		*eq = '\0';
		kv_add(s, tok, "%s", eq + 1);
	}
}

/* ---- weir's view ------------------------------------------------------- */

static const char *perr_name(unsigned err)
{
	static const char *const names[] = {
		"none", "short", "version", "ihl", "totlen", "ipopt",
		"exthdr", "extlimit", "l4short", "tcpoff", "tcpopt",
		"udplen", "inner",
	};

	return err < sizeof(names) / sizeof(names[0]) ? names[err] : "?";
}

static const char *verdict_name(unsigned v)
{
	static const char *const names[] = {
		"none", "good", "bad", "absent", "uncheckable", "pseudo_ok",
	};

	return v < sizeof(names) / sizeof(names[0]) ? names[v] : "?";
}

static int fam_num(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 6 : 0;
}

static void kv_addr(struct kvset *s, const char *key, int family,
		    const uint8_t *addr)
{
	char buf[INET6_ADDRSTRLEN];

	if (family != AF_INET && family != AF_INET6)
		return;
	inet_ntop(family, addr, buf, sizeof(buf));
	kv_add(s, key, "%s", buf);
}

static void describe_l3(const struct weir_pdesc *pd, struct kvset *s)
{
	char ext[KV_VAL] = "none";
	size_t n = 0;

	kv_add(s, "fam", "%d", fam_num(pd->family));
	if (!(pd->flags & WEIR_PD_L3))
		return;
	kv_addr(s, "src", pd->family, pd->src);
	kv_addr(s, "dst", pd->family, pd->dst);
	kv_add(s, "proto", "%u", pd->proto);
	kv_add(s, "ttl", "%u", pd->ttl);
	kv_add(s, "tos", "%u", pd->tos);
	kv_add(s, "iplen", "%u", pd->ip_len);
	kv_add(s, "caplen", "%u", pd->cap_len);
	kv_add(s, "l3len", "%u", pd->l3_len);
	kv_add(s, "ipoptlen", "%u", pd->ipopt_len);
	kv_add(s, "flowlabel", "%u", pd->flowlabel);
	kv_add(s, "fragid", "%u", pd->frag_id);
	kv_add(s, "frag", "%u", pd->frag_off);
	kv_add(s, "mf", "%d", !!(pd->flags & WEIR_PD_MF));
	kv_add(s, "df", "%d", !!(pd->flags & WEIR_PD_DF));
	kv_add(s, "isfrag", "%d", !!(pd->flags & WEIR_PD_FRAG));
	kv_add(s, "later", "%d", !!(pd->flags & WEIR_PD_FRAG_LATER));
	kv_add(s, "truncated", "%d", !!(pd->flags & WEIR_PD_TRUNCATED));
	for (unsigned i = 0; i < pd->ext_count && i < WEIR_PD_MAX_EXT; i++)
		n += (size_t)snprintf(ext + n, n < sizeof(ext) ?
				      sizeof(ext) - n : 0, "%s%u:%u",
				      i ? "," : "", pd->ext[i].type,
				      pd->ext[i].len);
	kv_add(s, "ext", "%s", ext);
}

static void describe_tcp(const struct weir_pdesc *pd, struct kvset *s)
{
	kv_add(s, "tcpflags", "0x%02x", pd->tcp_flags);
	kv_add(s, "seq", "%u", pd->tcp_seq);
	kv_add(s, "ack", "%u", pd->tcp_ack);
	kv_add(s, "win", "%u", pd->tcp_win);
	kv_add(s, "urp", "%u", pd->tcp_urp);
	if (pd->flags & WEIR_PD_TCP_MSS)
		kv_add(s, "mss", "%u", pd->tcp_mss);
	else
		kv_add(s, "mss", "none");
	if (pd->flags & WEIR_PD_TCP_WSCALE)
		kv_add(s, "wscale", "%u", pd->tcp_wscale);
	else
		kv_add(s, "wscale", "none");
	kv_add(s, "sackok", "%d", !!(pd->flags & WEIR_PD_TCP_SACKOK));
	if (pd->flags & WEIR_PD_TCP_TS)
		kv_add(s, "ts", "%u,%u", pd->tcp_tsval, pd->tcp_tsecr);
	else
		kv_add(s, "ts", "none");
}

static void describe_icmp(const struct weir_pdesc *pd, struct kvset *s)
{
	kv_add(s, "icmp_type", "%u", pd->icmp_type);
	kv_add(s, "icmp_code", "%u", pd->icmp_code);
	kv_add(s, "icmp_rest", "0x%08x", pd->icmp_rest);
	kv_add(s, "icmp_err", "%d", !!(pd->flags & WEIR_PD_ICMP_ERR));
	if (!(pd->flags & WEIR_PD_INNER))
		return;
	kv_add(s, "inner_fam", "%d", fam_num(pd->inner.family));
	kv_addr(s, "inner_src", pd->inner.family, pd->inner.src);
	kv_addr(s, "inner_dst", pd->inner.family, pd->inner.dst);
	kv_add(s, "inner_proto", "%u", pd->inner.proto);
	kv_add(s, "inner_l4", "%d", !!(pd->flags & WEIR_PD_INNER_L4));
	if (!(pd->flags & WEIR_PD_INNER_L4))
		return;
	kv_add(s, "inner_sport", "%u", pd->inner.sport);
	kv_add(s, "inner_dport", "%u", pd->inner.dport);
}

static void describe_l4(const struct weir_pdesc *pd, struct kvset *s)
{
	if (!(pd->flags & WEIR_PD_L4))
		return;
	kv_add(s, "plen", "%u", pd->payload_len);
	switch (pd->proto) {
	case IPPROTO_TCP:
		kv_add(s, "sport", "%u", pd->sport);
		kv_add(s, "dport", "%u", pd->dport);
		describe_tcp(pd, s);
		break;
	case IPPROTO_UDP:
		kv_add(s, "sport", "%u", pd->sport);
		kv_add(s, "dport", "%u", pd->dport);
		kv_add(s, "udplen", "%u", pd->udp_len);
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		describe_icmp(pd, s);
		break;
	default:
		break;
	}
}

/* All fields weir reports for one parse, in gen_packets.py's format. */
static void describe_pd(const struct weir_pdesc *pd, int ret,
			const struct weir_csum_report *rep, struct kvset *s)
{
	s->n = 0;
	kv_add(s, "expect", "%s", ret == 0 ? "ok" : "error");
	kv_add(s, "perr", "%s", perr_name(pd->err));
	describe_l3(pd, s);
	describe_l4(pd, s);
	if (rep) {
		kv_add(s, "ipcsum", "%s", verdict_name(rep->ip));
		kv_add(s, "l4csum", "%s", verdict_name(rep->l4));
		kv_add(s, "inner_ipcsum", "%s", verdict_name(rep->inner_ip));
	}
}

/* ---- statistics -------------------------------------------------------- */

struct field_stat {
	char key[KV_KEY];
	unsigned count;
};

struct stats {
	unsigned packets, parsed_ok, clean, mismatched_pkts;
	unsigned fields_checked, field_mismatches;
	unsigned api_checks, api_failures;
	unsigned built, built_by_kind[8];
	struct field_stat by_field[MAX_FIELD_STATS];
	int n_fields;
};

static struct stats st;

static void count_field(const char *key)
{
	for (int i = 0; i < st.n_fields; i++) {
		if (strcmp(st.by_field[i].key, key) == 0) {
			st.by_field[i].count++;
			return;
		}
	}
	if (st.n_fields < MAX_FIELD_STATS) {
		snprintf(st.by_field[st.n_fields].key, KV_KEY, "%s", key);
		st.by_field[st.n_fields++].count = 1;
	}
}

/* ---- per-packet context ------------------------------------------------ */

struct ctx {
	unsigned idx;
	const uint8_t *data;
	uint32_t len;
	struct kvset exp;         /* scapy's expectation */
	struct weir_pkt *pkt;     /* parsed copy, for builders */
	long ref;                 /* built index of this original, -1 */
	bool clean;               /* weir agreed on every field */
};

struct out {
	pcap_t *dead;
	pcap_dumper_t *dump;
	FILE *side;
	unsigned n;
};

static const char *cat_of(const struct ctx *c)
{
	const char *cat = kv_get(&c->exp, "cat");

	return cat ? cat : "?";
}

static void api_fail(const struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void api_fail(const struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	st.api_failures++;
	printf("API-MISMATCH i=%u cat=%s: ", c->idx, cat_of(c));
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

static void api_expect(const struct ctx *c, const char *what, int got,
		       int want)
{
	st.api_checks++;
	if (got != want)
		api_fail(c, "%s returned %d (%s), expected %d (%s)", what,
			 got, got < 0 ? strerror(-got) : "-",
			 want, want < 0 ? strerror(-want) : "-");
}

static bool is_meta_key(const char *key)
{
	static const char *const meta[] = { "i", "cat", "rst", "unreach",
					    "why", "partial", NULL };

	for (int i = 0; meta[i]; i++)
		if (strcmp(key, meta[i]) == 0)
			return true;
	return false;
}

/* Compares weir's fields with scapy's, printing each disagreement. */
static void compare(struct ctx *c, const struct kvset *weir)
{
	c->clean = true;
	for (int i = 0; i < c->exp.n; i++) {
		const struct kv *e = &c->exp.kv[i];
		const char *w;

		if (is_meta_key(e->key))
			continue;
		st.fields_checked++;
		w = kv_get(weir, e->key);
		if (w && strcmp(w, e->val) == 0)
			continue;
		st.field_mismatches++;
		count_field(e->key);
		printf("MISMATCH i=%u cat=%s field=%s scapy=%s weir=%s\n",
		       c->idx, cat_of(c), e->key, e->val, w ? w : "<absent>");
		c->clean = false;
	}
	if (!c->clean)
		st.mismatched_pkts++;
}

static int check_parse(struct ctx *c)
{
	struct weir_pdesc pd;
	struct weir_csum_report rep;
	struct kvset weir;
	uint8_t *copy = malloc(c->len ? c->len : 1);
	int ret;

	if (!copy)
		return -ENOMEM;
	/* an exact-size copy, so that a sanitizer sees any overread */
	memcpy(copy, c->data, c->len);
	ret = weir_parse(copy, c->len, &pd);
	weir_csum_verify(copy, &pd, kv_is(&c->exp, "partial", "1"), &rep);
	describe_pd(&pd, ret, &rep, &weir);
	free(copy);
	compare(c, &weir);
	if (ret == 0)
		st.parsed_ok++;
	if (c->clean)
		st.clean++;
	return 0;
}

/* ---- output of built packets --------------------------------------------- */

static void out_write(struct out *o, const uint8_t *data, uint32_t len,
		      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void out_write(struct out *o, const uint8_t *data, uint32_t len,
		      const char *fmt, ...)
{
	struct pcap_pkthdr h = { .caplen = len, .len = len };
	va_list ap;

	h.ts.tv_sec = 1700000000 + o->n / 1000;
	h.ts.tv_usec = (o->n % 1000) * 1000;
	pcap_dump((u_char *)o->dump, &h, data);
	fprintf(o->side, "b=%u ", o->n);
	va_start(ap, fmt);
	vfprintf(o->side, fmt, ap);
	va_end(ap);
	fputc('\n', o->side);
	o->n++;
	st.built++;
}

/* The original, written once when a built packet refers to it. */
static long out_ref(struct out *o, struct ctx *c)
{
	if (c->ref < 0) {
		c->ref = o->n;
		out_write(o, c->data, c->len, "kind=orig orig=%u", c->idx);
	}
	return c->ref;
}

static int exp_addr(const struct ctx *c, const char *key, uint8_t *addr)
{
	const char *v = kv_get(&c->exp, key);
	int fam = kv_is(&c->exp, "fam", "4") ? AF_INET : AF_INET6;

	memset(addr, 0, 16);
	if (!v || inet_pton(fam, v, addr) != 1)
		return -EINVAL;
	return fam;
}

/* ---- builders ---------------------------------------------------------- */

/* TCP segment length as declared (payload + SYN + FIN), from scapy. */
static uint32_t exp_seglen(const struct ctx *c)
{
	long trunc = kv_num(&c->exp, "iplen", 0) -
		     kv_num(&c->exp, "caplen", 0);
	long flags = kv_num(&c->exp, "tcpflags", 0);

	return (uint32_t)(kv_num(&c->exp, "plen", 0) + trunc +
			  !!(flags & WEIR_TCP_SYN) + !!(flags & WEIR_TCP_FIN));
}

static void write_rst(struct out *o, struct ctx *c, const struct weir_pkt *r,
		      enum weir_end end)
{
	const struct kvset *e = &c->exp;
	long ref = out_ref(o, c);
	uint32_t flags = (uint32_t)kv_num(e, "tcpflags", 0);
	uint32_t seq = (uint32_t)strtoul(kv_get(e, "seq"), NULL, 10);
	uint32_t ack = (uint32_t)strtoul(kv_get(e, "ack"), NULL, 10);
	char ackx[32] = "";

	if (flags & WEIR_TCP_ACK)
		snprintf(ackx, sizeof(ackx), " ack_if_flag=%u", ack);
	if (end == WEIR_DST)
		out_write(o, r->data, r->len, "kind=rst_dst orig=%u ref=%ld "
			  "src=%s dst=%s sport=%s dport=%s seq=%u "
			  "flags_has=0x04 flags_allowed=0x14%s ttl=64 plen=0",
			  c->idx, ref, kv_get(e, "src"), kv_get(e, "dst"),
			  kv_get(e, "sport"), kv_get(e, "dport"), seq, ackx);
	else if (flags & WEIR_TCP_ACK)
		out_write(o, r->data, r->len, "kind=rst_src orig=%u ref=%ld "
			  "src=%s dst=%s sport=%s dport=%s seq=%u "
			  "tcpflags=0x04 ttl=64 plen=0", c->idx, ref,
			  kv_get(e, "dst"), kv_get(e, "src"),
			  kv_get(e, "dport"), kv_get(e, "sport"), ack);
	else
		out_write(o, r->data, r->len, "kind=rst_src orig=%u ref=%ld "
			  "src=%s dst=%s sport=%s dport=%s seq=0 ack=%u "
			  "tcpflags=0x14 ttl=64 plen=0", c->idx, ref,
			  kv_get(e, "dst"), kv_get(e, "src"),
			  kv_get(e, "dport"), kv_get(e, "sport"),
			  seq + exp_seglen(c));
}

static void try_rst(struct out *o, struct ctx *c)
{
	const char *want = kv_get(&c->exp, "rst");

	if (!want)
		return;
	for (int end = WEIR_SRC; end <= WEIR_DST; end++) {
		struct weir_pkt *r = NULL;
		int ret = weir_build_tcp_rst(c->pkt, (enum weir_end)end, &r);

		api_expect(c, end == WEIR_SRC ? "weir_build_tcp_rst(SRC)" :
			   "weir_build_tcp_rst(DST)", ret,
			   strcmp(want, "ok") == 0 ? 0 : -EINVAL);
		if (ret == 0 && strcmp(want, "ok") == 0)
			write_rst(o, c, r, (enum weir_end)end);
		if (ret == 0)
			weir_pkt_free(r);
	}
}

static void try_unreach(struct out *o, struct ctx *c)
{
	const char *want = kv_get(&c->exp, "unreach");
	bool v4 = kv_is(&c->exp, "fam", "4");
	uint8_t code = (uint8_t)(v4 ? c->idx % 16 : c->idx % 5);
	long caplen = kv_num(&c->exp, "caplen", 0);
	long limit = v4 ? 576 - 28 : 1280 - 48;
	struct weir_pkt *r = NULL;
	int ret;

	if (!want)
		return;
	ret = weir_build_icmp_unreach(c->pkt, code, &r);
	st.api_checks++;
	if (strcmp(want, "ok") == 0 && ret != 0)
		api_fail(c, "weir_build_icmp_unreach returned %d (%s), "
			 "expected success", ret, strerror(-ret));
	if (strcmp(want, "refuse") == 0 && ret != -EINVAL)
		api_fail(c, "weir_build_icmp_unreach returned %d, expected "
			 "-EINVAL (refuse: %s)", ret,
			 kv_get(&c->exp, "why"));
	if (ret == 0 && strcmp(want, "ok") == 0)
		out_write(o, r->data, r->len, "kind=unreach orig=%u ref=%ld "
			  "src=%s dst=%s icmp_type=%d icmp_code=%u qlen=%ld",
			  c->idx, out_ref(o, c), kv_get(&c->exp, "dst"),
			  kv_get(&c->exp, "src"), v4 ? 3 : 1, code,
			  caplen < limit ? caplen : limit);
	if (ret == 0)
		weir_pkt_free(r);
}

/* Deterministic payload bytes, regenerated by verify_built.py. */
static void fill_payload(uint8_t *buf, uint32_t len, unsigned seed)
{
	for (uint32_t j = 0; j < len; j++)
		buf[j] = (uint8_t)(seed * 31u + j * 7u + 1u);
}

static void build_udp_one(struct out *o, struct ctx *c,
			  const struct weir_udp_spec *sp, uint32_t plen)
{
	uint32_t max = sp->family == AF_INET ? 65535 - 28 : 65535 - 8;
	uint8_t *buf = calloc(1, plen ? plen : 1);
	struct weir_pkt *r = NULL;
	int ret;

	if (!buf)
		return;
	fill_payload(buf, plen, c->idx);
	ret = weir_build_udp(sp, buf, plen, &r);
	free(buf);
	api_expect(c, "weir_build_udp", ret, plen > max ? -EINVAL : 0);
	if (ret != 0)
		return;
	if (plen <= max)
		out_write(o, r->data, r->len, "kind=udp orig=%u src=%s dst=%s "
			  "sport=%u dport=%u ttl=%u plen=%u pseed=%u "
			  "l4csum=good", c->idx, kv_get(&c->exp, "dst"),
			  kv_get(&c->exp, "src"), sp->sport, sp->dport,
			  sp->ttl ? sp->ttl : 64, plen, c->idx);
	weir_pkt_free(r);
}

static void try_udp(struct out *o, struct ctx *c)
{
	static const uint32_t lens[] = { 0, 1, 7, 100, 512, 1000, 1472, 33,
					 1400, 9 };
	struct weir_udp_spec sp = { 0 };

	sp.family = exp_addr(c, "dst", sp.src);
	if (sp.family < 0 || exp_addr(c, "src", sp.dst) < 0)
		return;
	sp.sport = (uint16_t)(1024 + c->idx % 60000);
	sp.dport = (uint16_t)(53 + c->idx % 7);
	sp.ttl = (uint8_t)(c->idx % 4 == 0 ? 0 : (c->idx * 7) % 256);
	build_udp_one(o, c, &sp, lens[c->idx % 10]);
	if (c->idx % 500 == 3) {
		uint32_t max = sp.family == AF_INET ? 65507 : 65527;

		build_udp_one(o, c, &sp, max);
		build_udp_one(o, c, &sp, max + 1);
	}
}

/* ---- rewrites ---------------------------------------------------------- */

/* Arguments of the rewrites of one packet, derived from its index. */
struct rw_args {
	int family;
	uint8_t addr_src[16], addr_dst[16];
	char addr_src_s[INET6_ADDRSTRLEN], addr_dst_s[INET6_ADDRSTRLEN];
	uint16_t port_src, port_dst;
	uint8_t ttl;
	uint32_t off, old_len, new_len;
	bool can_port, can_mss, can_replace;
	int mss_ret;             /* what clamp_mss(536) must return */
	uint8_t *new_bytes;
};

enum rw_op {
	RW_ADDR_SRC = 1u << 0,
	RW_ADDR_DST = 1u << 1,
	RW_PORT_SRC = 1u << 2,
	RW_PORT_DST = 1u << 3,
	RW_TTL      = 1u << 4,
	RW_MSS      = 1u << 5,
	RW_REPLACE  = 1u << 6,
	RW_FINALIZE = 1u << 7,  /* weir_pkt_csum_finalize() */
};

#define RW_COUNT 8

static const char *const rw_names[RW_COUNT] = {
	"addr_src", "addr_dst", "port_src", "port_dst", "ttl", "mss",
	"replace", "finalize",
};

static void rw_addrs(const struct ctx *c, struct rw_args *a)
{
	unsigned i = c->idx;

	if (a->family == AF_INET) {
		snprintf(a->addr_src_s, sizeof(a->addr_src_s),
			 "198.51.100.%u", i % 254 + 1);
		snprintf(a->addr_dst_s, sizeof(a->addr_dst_s),
			 "203.0.113.%u", (i * 7) % 254 + 1);
	} else {
		snprintf(a->addr_src_s, sizeof(a->addr_src_s),
			 "2001:db8:ffff::%x:%x", (i + 1) >> 16,
			 (i + 1) & 0xffff);
		snprintf(a->addr_dst_s, sizeof(a->addr_dst_s),
			 "2001:db8:eeee:1::%x:%x", (i * 7 + 1) >> 16,
			 (i * 7 + 1) & 0xffff);
	}
	inet_pton(a->family, a->addr_src_s, a->addr_src);
	inet_pton(a->family, a->addr_dst_s, a->addr_dst);
}

static void rw_replace_args(const struct ctx *c, struct rw_args *a)
{
	static const int deltas[] = { 0, 1, 5, -1, 200, -1000, 3, 64 };
	long plen = kv_num(&c->exp, "plen", 0);
	long grow;

	a->off = plen ? (uint32_t)((c->idx * 13u) % (unsigned long)plen) : 0;
	a->old_len = (uint32_t)(plen - a->off) < c->idx % 9 ?
		     (uint32_t)(plen - a->off) : c->idx % 9;
	grow = (long)a->old_len + deltas[c->idx % 8];
	if (kv_num(&c->exp, "iplen", 0) > 65000)
		grow = (long)a->old_len + 100;
	a->new_len = grow < 0 ? 0 : (uint32_t)grow;
	if (plen == 0 && a->new_len == 0)
		a->new_len = c->idx % 20 + 1;
}

static bool rw_eligible(const struct ctx *c)
{
	const struct kvset *e = &c->exp;

	return c->clean && kv_is(e, "expect", "ok") &&
	       kv_is(e, "truncated", "0") && kv_is(e, "isfrag", "0") &&
	       !kv_is(e, "ipcsum", "bad") && !kv_is(e, "l4csum", "bad") &&
	       !kv_is(e, "inner_ipcsum", "bad");
}

static bool rw_init(const struct ctx *c, struct rw_args *a)
{
	const struct kvset *e = &c->exp;
	bool tcp = kv_is(e, "proto", "6"), udp = kv_is(e, "proto", "17");
	long mss = kv_is(e, "mss", "none") ? 0 : kv_num(e, "mss", 0);

	memset(a, 0, sizeof(*a));
	a->family = kv_is(e, "fam", "4") ? AF_INET : AF_INET6;
	rw_addrs(c, a);
	a->port_src = (uint16_t)(40000 + c->idx % 20000);
	a->port_dst = (uint16_t)(1 + (c->idx * 7) % 65535);
	a->ttl = (uint8_t)((c->idx * 3) % 256);
	a->can_port = (tcp || udp) && kv_get(e, "sport");
	a->can_mss = tcp && kv_get(e, "sport");
	a->mss_ret = a->can_mss && mss > 536;
	a->can_replace = kv_get(e, "plen") != NULL;
	/* trailing bytes past the IP length: where the payload ends is
	 * not obvious, so no replace there */
	if (kv_num(e, "caplen", 0) != (long)c->len)
		a->can_replace = false;
	if (a->can_replace)
		rw_replace_args(c, a);
	a->new_bytes = malloc(a->new_len ? a->new_len : 1);
	if (!a->new_bytes)
		return false;
	fill_payload(a->new_bytes, a->new_len, c->idx + 7919u);
	return true;
}

static int rw_apply_one(struct weir_pkt *p, const struct rw_args *a,
			unsigned op)
{
	switch (op) {
	case RW_ADDR_SRC:
		return weir_pkt_set_addr(p, WEIR_SRC, a->addr_src);
	case RW_ADDR_DST:
		return weir_pkt_set_addr(p, WEIR_DST, a->addr_dst);
	case RW_PORT_SRC:
		return weir_pkt_set_port(p, WEIR_SRC, a->port_src);
	case RW_PORT_DST:
		return weir_pkt_set_port(p, WEIR_DST, a->port_dst);
	case RW_TTL:
		return weir_pkt_set_ttl(p, a->ttl);
	case RW_MSS:
		return weir_pkt_clamp_mss(p, 536);
	case RW_FINALIZE:
		return weir_pkt_csum_finalize(p);
	default:
		return weir_pkt_replace_payload(p, a->off, a->old_len,
						a->new_bytes, a->new_len);
	}
}

static int rw_expected_ret(const struct ctx *c, const struct rw_args *a,
			   unsigned op)
{
	long iplen = kv_num(&c->exp, "iplen", 0);

	if (op == RW_MSS)
		return a->mss_ret;
	if (op == RW_REPLACE && iplen + (long)a->new_len -
	    (long)a->old_len > 65535)
		return -EMSGSIZE;
	return 0;
}

/* pkt->pd must describe the rewritten bytes. */
static void rw_check_pd(const struct ctx *c, const struct weir_pkt *p,
			const char *ops)
{
	struct weir_pdesc fresh;
	struct kvset kept, now;
	int ret = weir_parse(p->data, p->len, &fresh);

	describe_pd(&p->pd, 0, NULL, &kept);
	describe_pd(&fresh, ret, NULL, &now);
	st.api_checks++;
	for (int i = 0; i < now.n; i++) {
		const char *k = kv_get(&kept, now.kv[i].key);

		if (k && strcmp(k, now.kv[i].val) == 0)
			continue;
		api_fail(c, "after %s pkt->pd.%s=%s but the bytes parse to %s",
			 ops, now.kv[i].key, k ? k : "<absent>",
			 now.kv[i].val);
		return;
	}
}

static void rw_sidecar(char *buf, size_t size, const struct rw_args *a,
		       unsigned ops)
{
	size_t n = 0;

	n += (size_t)snprintf(buf + n, size - n, "ops=");
	for (unsigned i = 0; i < RW_COUNT; i++)
		if (ops & (1u << i))
			n += (size_t)snprintf(buf + n, size - n, "%s%s",
					      n > 4 ? "," : "", rw_names[i]);
	snprintf(buf + n, size - n, " addr_src=%s addr_dst=%s port_src=%u "
		 "port_dst=%u ttl=%u mss=536 mss_ret=%d off=%u old=%u "
		 "new_len=%u", a->addr_src_s, a->addr_dst_s, a->port_src,
		 a->port_dst, a->ttl, a->mss_ret, a->off, a->old_len,
		 a->new_len);
}

/* A partial sum stays partial through header rewrites; a payload
 * replacement or finalize completes it (csum.h). */
static void rw_check_state(const struct ctx *c, const struct weir_pkt *p,
			   unsigned ops)
{
	unsigned want;

	if (!kv_is(&c->exp, "partial", "1"))
		return;
	want = ops & (RW_REPLACE | RW_FINALIZE) ? WEIR_CSUM_VERIFIED :
	       WEIR_CSUM_PARTIAL;
	st.api_checks++;
	if (p->meta.csum_state != want)
		api_fail(c, "csum_state %u after ops 0x%x on a partial packet, "
			 "expected %u", p->meta.csum_state, ops, want);
}

/* Applies `ops` in order to a copy of the original and writes it. */
static void rw_run(struct out *o, struct ctx *c, const struct rw_args *a,
		   unsigned ops)
{
	struct weir_pkt *p = weir_pkt_copy(c->pkt);
	char side[512];
	bool ok = true;

	if (!p)
		return;
	for (unsigned i = 0; i < RW_COUNT && ok; i++) {
		unsigned op = 1u << i;
		int ret, want;

		if (!(ops & op))
			continue;
		ret = rw_apply_one(p, a, op);
		want = rw_expected_ret(c, a, op);
		api_expect(c, rw_names[i], ret, want);
		ok = ret == want && ret >= 0 && !(op == RW_REPLACE && ret);
	}
	if (ok)
		rw_check_state(c, p, ops);
	if (ok && (!(ops & RW_REPLACE) ||
		   rw_expected_ret(c, a, RW_REPLACE) == 0)) {
		rw_sidecar(side, sizeof(side), a, ops);
		rw_check_pd(c, p, side);
		out_write(o, p->data, p->len, "kind=rw orig=%u ref=%ld "
			  "partial=%d nseed_base=%u %s", c->idx,
			  out_ref(o, c), kv_is(&c->exp, "partial", "1"),
			  c->idx + 7919u, side);
	}
	weir_pkt_free(p);
}

/* Calls that must fail: a payload range past the end, and payload
 * replacement or port setting where the API refuses it. */
static void rw_refusals(struct ctx *c)
{
	const struct kvset *e = &c->exp;
	struct weir_pkt *p;
	uint8_t x = 'x';

	if (!kv_is(e, "expect", "ok") || !(p = weir_pkt_copy(c->pkt)))
		return;
	if (kv_is(e, "isfrag", "1") || kv_is(e, "truncated", "1"))
		api_expect(c, "replace_payload(fragment/truncated)",
			   weir_pkt_replace_payload(p, 0, 0, &x, 1),
			   -EINVAL);
	else if (kv_get(e, "plen") && kv_is(e, "caplen", kv_get(e, "iplen")))
		api_expect(c, "replace_payload(range past the end)",
			   weir_pkt_replace_payload(p, (uint32_t)kv_num(
				   e, "plen", 0), 1, &x, 1), -EINVAL);
	if (kv_get(e, "icmp_type"))
		api_expect(c, "set_port(ICMP)",
			   weir_pkt_set_port(p, WEIR_SRC, 1),
			   -EPROTONOSUPPORT);
	weir_pkt_free(p);
}

static void try_rewrites(struct out *o, struct ctx *c)
{
	struct rw_args a;
	unsigned all = RW_ADDR_SRC | RW_ADDR_DST | RW_TTL;

	rw_refusals(c);
	if (!rw_eligible(c) || !rw_init(c, &a))
		return;
	rw_run(o, c, &a, RW_ADDR_SRC);
	rw_run(o, c, &a, RW_ADDR_DST);
	rw_run(o, c, &a, RW_TTL);
	if (a.can_port) {
		rw_run(o, c, &a, RW_PORT_SRC);
		rw_run(o, c, &a, RW_PORT_DST);
		all |= RW_PORT_SRC | RW_PORT_DST;
	}
	if (a.can_mss) {
		rw_run(o, c, &a, RW_MSS);
		all |= RW_MSS;
	}
	if (a.can_replace) {
		rw_run(o, c, &a, RW_REPLACE);
		all |= RW_REPLACE;
	}
	rw_run(o, c, &a, all);
	if (kv_is(&c->exp, "partial", "1"))
		rw_run(o, c, &a, all | RW_FINALIZE);
	free(a.new_bytes);
}

static void try_builders(struct out *o, struct ctx *c)
{
	if (!kv_is(&c->exp, "expect", "ok"))
		return;
	c->pkt = weir_pkt_from_bytes(c->data, c->len);
	if (!c->pkt) {
		api_fail(c, "weir_pkt_from_bytes failed");
		return;
	}
	if (kv_is(&c->exp, "partial", "1"))
		c->pkt->meta.csum_state = WEIR_CSUM_PARTIAL;
	if (weir_pkt_parse(c->pkt) != 0) {
		api_fail(c, "weir_pkt_parse disagrees with weir_parse");
	} else {
		try_rst(o, c);
		try_unreach(o, c);
		try_udp(o, c);
		try_rewrites(o, c);
	}
	weir_pkt_free(c->pkt);
	c->pkt = NULL;
}

/* ---- main loop ----------------------------------------------------------- */

static int open_out(struct out *o, const char *path)
{
	char side[4096];

	o->dead = pcap_open_dead(DLT_RAW, SNAPLEN);
	if (!o->dead)
		return -ENOMEM;
	o->dump = pcap_dump_open(o->dead, path);
	if (!o->dump) {
		fprintf(stderr, "oracle_check: %s: %s\n", path,
			pcap_geterr(o->dead));
		return -EIO;
	}
	snprintf(side, sizeof(side), "%s.expect", path);
	o->side = fopen(side, "w");
	if (!o->side) {
		fprintf(stderr, "oracle_check: %s: %s\n", side,
			strerror(errno));
		return -errno;
	}
	return 0;
}

static void close_out(struct out *o)
{
	if (o->side)
		fclose(o->side);
	if (o->dump)
		pcap_dump_close(o->dump);
	if (o->dead)
		pcap_close(o->dead);
}

static int check_one(struct out *o, unsigned idx, const uint8_t *data,
		     uint32_t len, char *line)
{
	struct ctx *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	c->idx = idx;
	c->data = data;
	c->len = len;
	c->ref = -1;
	kv_parse(&c->exp, line);
	if (kv_num(&c->exp, "i", -1) != (long)idx) {
		fprintf(stderr, "oracle_check: expectation %u is for i=%s\n",
			idx, kv_get(&c->exp, "i") ? kv_get(&c->exp, "i") :
			"?");
		free(c);
		return -EINVAL;
	}
	ret = check_parse(c);
	if (ret == 0)
		try_builders(o, c);
	free(c);
	return ret;
}

static int run(pcap_t *in, FILE *exp, struct out *o)
{
	struct pcap_pkthdr *h;
	const u_char *data;
	char *line = NULL;
	size_t cap = 0;
	int ret = 0, r;

	while ((r = pcap_next_ex(in, &h, &data)) == 1) {
		if (getline(&line, &cap, exp) < 0) {
			fprintf(stderr, "oracle_check: expectations end "
				"before packet %u\n", st.packets);
			ret = -EINVAL;
			break;
		}
		ret = check_one(o, st.packets, data, h->caplen, line);
		if (ret < 0)
			break;
		st.packets++;
	}
	if (r == -1) {
		fprintf(stderr, "oracle_check: %s\n", pcap_geterr(in));
		ret = -EIO;
	}
	free(line);
	return ret;
}

static void summary(void)
{
	printf("oracle_check: %u packets, %u parsed ok, %u agreed fully, "
	       "%u with mismatches\n", st.packets, st.parsed_ok, st.clean,
	       st.mismatched_pkts);
	printf("oracle_check: %u fields compared, %u mismatched\n",
	       st.fields_checked, st.field_mismatches);
	for (int i = 0; i < st.n_fields; i++)
		printf("oracle_check:   field %-14s %u mismatches\n",
		       st.by_field[i].key, st.by_field[i].count);
	printf("oracle_check: %u API checks, %u failed; %u packets built\n",
	       st.api_checks, st.api_failures, st.built);
}

int main(int argc, char **argv)
{
	char errbuf[PCAP_ERRBUF_SIZE];
	struct out o = { 0 };
	pcap_t *in;
	FILE *exp;
	int ret;

	if (argc != 4) {
		fprintf(stderr, "usage: %s IN.pcap IN.expect OUT_BUILT.pcap\n",
			argv[0]);
		return 2;
	}
	in = pcap_open_offline(argv[1], errbuf);
	if (!in) {
		fprintf(stderr, "oracle_check: %s\n", errbuf);
		return 2;
	}
	if (pcap_datalink(in) != DLT_RAW && pcap_datalink(in) != DLT_IPV4 &&
	    pcap_datalink(in) != DLT_IPV6) {
		fprintf(stderr, "oracle_check: %s is not raw IP\n", argv[1]);
		pcap_close(in);
		return 2;
	}
	exp = fopen(argv[2], "r");
	if (!exp) {
		fprintf(stderr, "oracle_check: %s: %s\n", argv[2],
			strerror(errno));
		pcap_close(in);
		return 2;
	}
	ret = open_out(&o, argv[3]);
	if (ret == 0)
		ret = run(in, exp, &o);
	close_out(&o);
	fclose(exp);
	pcap_close(in);
	if (ret < 0)
		return 2;
	summary();
	return st.field_mismatches || st.api_failures ? 1 : 0;
}
