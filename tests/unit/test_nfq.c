/* NFQUEUE messages and the verdict batcher, without a kernel: packet
 * messages built by hand as the kernel lays them out, verdict buffers
 * read back message by message. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nfnetlink_queue.h>

#include "capture/nfq.h"

static const uint8_t ip4[28] = {
	0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
	0x30, 0x39, 0, 53, 0, 8, 0, 0 };

/* A packet message as nfnetlink_queue builds it. */
static struct nlmsghdr *packet_msg(char *buf, uint32_t id, uint8_t hook,
				   bool extras)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *g;
	struct nfqnl_msg_packet_hdr ph = { .packet_id = htonl(id),
					   .hw_protocol = htons(0x0800),
					   .hook = hook };

	nlh->nlmsg_type = NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET;
	g = mnl_nlmsg_put_extra_header(nlh, sizeof(*g));
	g->nfgen_family = AF_UNSPEC;
	g->res_id = htons(3);
	mnl_attr_put(nlh, NFQA_PACKET_HDR, sizeof(ph), &ph);
	if (extras) {
		struct nlattr *ct;

		mnl_attr_put_u32(nlh, NFQA_MARK, htonl(0x42));
		mnl_attr_put_u32(nlh, NFQA_IFINDEX_INDEV, htonl(1));
		mnl_attr_put_u32(nlh, NFQA_UID, htonl(1000));
		mnl_attr_put_u32(nlh, NFQA_GID, htonl(100));
		mnl_attr_put_u32(nlh, NFQA_CT_INFO, htonl(2));
		mnl_attr_put_u32(nlh, NFQA_SKB_INFO,
				 htonl(NFQA_SKB_GSO | NFQA_SKB_CSUMNOTREADY));
		mnl_attr_put_u32(nlh, NFQA_CAP_LEN, htonl(1500));
		ct = mnl_attr_nest_start(nlh, NFQA_CT);
		mnl_attr_put_u32(nlh, CTA_ID, htonl(77));
		mnl_attr_put_u32(nlh, CTA_MARK, htonl(0x01000005));
		mnl_attr_nest_end(nlh, ct);
	}
	mnl_attr_put(nlh, NFQA_PAYLOAD, sizeof(ip4), ip4);
	return nlh;
}

static void decode_minimal(void **state)
{
	char buf[1024];
	struct weir__nfq_msg m;

	(void)state;
	assert_int_equal(weir__nfq_decode(packet_msg(buf, 9, 2, false), 3, &m),
			 0);
	assert_int_equal(m.id, 9);
	assert_int_equal(m.hook, WEIR__HOOK_FORWARD);
	assert_int_equal(m.meta.direction, WEIR_DIR_FORWARD);
	assert_int_equal(m.meta.family, AF_INET);
	assert_int_equal(m.cap_len, sizeof(ip4));
	assert_int_equal(m.wire_len, sizeof(ip4));
	assert_memory_equal(m.payload, ip4, sizeof(ip4));
	assert_int_equal(m.meta.queue_num, 3);
	assert_int_equal(m.meta.queue_id, 9);
	assert_true(m.meta.flags & WEIR_META_QUEUED);
	assert_false(m.meta.flags & (WEIR_META_MARK | WEIR_META_CT |
				     WEIR_META_UID | WEIR_META_LOOPBACK));
	assert_int_equal(m.meta.csum_state, WEIR_CSUM_VERIFIED);
	assert_false(m.has_ctmark);
}

static void decode_attributes(void **state)
{
	char buf[1024];
	struct weir__nfq_msg m;

	(void)state;
	assert_int_equal(weir__nfq_decode(packet_msg(buf, 1, 1, true), 0, &m),
			 0);
	assert_int_equal(m.meta.direction, WEIR_DIR_INBOUND);
	assert_int_equal(m.meta.mark, 0x42);
	assert_true(m.meta.flags & WEIR_META_MARK);
	assert_int_equal(m.meta.ifindex_in, 1);
	assert_true(m.meta.flags & WEIR_META_LOOPBACK);
	assert_int_equal(m.meta.uid, 1000);
	assert_int_equal(m.meta.gid, 100);
	assert_int_equal(m.meta.ct_state, 2);
	assert_int_equal(m.meta.ct_id, 77);
	assert_true(m.has_ctmark);
	assert_int_equal(m.ctmark, 0x01000005);
	assert_true(m.meta.flags & WEIR_META_GSO);
	assert_int_equal(m.meta.csum_state, WEIR_CSUM_PARTIAL);
	assert_int_equal(m.wire_len, 1500);
}

static void decode_refuses(void **state)
{
	char buf[1024];
	struct weir__nfq_msg m;
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);

	(void)state;
	nlh->nlmsg_type = NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_PACKET;
	mnl_nlmsg_put_extra_header(nlh, sizeof(struct nfgenmsg));
	assert_int_equal(weir__nfq_decode(nlh, 0, &m), -EBADMSG);
	assert_false(m.has_id);
	nlh = packet_msg(buf, 1, 1, false);
	nlh->nlmsg_type = NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_VERDICT;
	assert_int_equal(weir__nfq_decode(nlh, 0, &m), -EBADMSG);
	assert_false(m.has_id);
}

/* The attribute of that type in a built message. */
static struct nlattr *find_attr(struct nlmsghdr *nlh, unsigned type)
{
	struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == type)
			return a;
	fail_msg("no attribute %u", type);
	return NULL;
}

/* Attributes as the parser checks them: bounds, fixed sizes, unknown
 * types skipped, an unpadded last attribute. */
static void decode_attr_bounds(void **state)
{
	char buf[1024];
	struct weir__nfq_msg m;
	struct nlmsghdr *nlh;
	uint8_t odd[3] = { 1, 2, 3 };

	(void)state;
	/* A 32-bit attribute of another size: refused, but the header
	 * before it names the packet, which gets a verdict all the same
	 * (live_path.c). */
	nlh = packet_msg(buf, 33, 1, false);
	mnl_attr_put(nlh, NFQA_MARK, 2, odd);
	assert_int_equal(weir__nfq_decode(nlh, 0, &m), -EBADMSG);
	assert_true(m.has_id);
	assert_int_equal(m.id, 33);
	/* A packet header one byte short. */
	nlh = packet_msg(buf, 1, 1, false);
	find_attr(nlh, NFQA_PACKET_HDR)->nla_len--;
	assert_int_equal(weir__nfq_decode(nlh, 0, &m), -EBADMSG);
	assert_false(m.has_id);
	/* An attribute running past the message, and one shorter than its
	 * own header: the same. */
	nlh = packet_msg(buf, 31, 1, false);
	find_attr(nlh, NFQA_PAYLOAD)->nla_len += 4;
	assert_int_equal(weir__nfq_decode(nlh, 0, &m), -EBADMSG);
	assert_true(m.has_id);
	assert_int_equal(m.id, 31);
	nlh = packet_msg(buf, 32, 1, false);
	find_attr(nlh, NFQA_PAYLOAD)->nla_len = 2;
	assert_int_equal(weir__nfq_decode(nlh, 0, &m), -EBADMSG);
	assert_true(m.has_id);
	assert_int_equal(m.id, 32);
	/* A type weir does not know, of any size, is skipped; so are the
	 * flag bits of a type. */
	nlh = packet_msg(buf, 7, 1, false);
	mnl_attr_put(nlh, NFQA_MAX + 1, sizeof(odd), odd);
	mnl_attr_put_u32(nlh, NFQA_MARK | NLA_F_NET_BYTEORDER, htonl(5));
	assert_int_equal(weir__nfq_decode(nlh, 0, &m), 0);
	assert_int_equal(m.id, 7);
	assert_int_equal(m.meta.mark, 5);
	/* The last attribute without its padding: the payload as long as
	 * the message says. */
	nlh = packet_msg(buf, 8, 1, false);
	find_attr(nlh, NFQA_PAYLOAD)->nla_len -= 1;
	nlh->nlmsg_len -= 1;
	assert_int_equal(weir__nfq_decode(nlh, 0, &m), 0);
	assert_int_equal(m.cap_len, sizeof(ip4) - 1);
	assert_memory_equal(m.payload, ip4, sizeof(ip4) - 1);
	/* A message too short for its own headers. */
	nlh->nlmsg_len = NLMSG_HDRLEN + 2;
	assert_int_equal(weir__nfq_decode(nlh, 0, &m), -EBADMSG);
}

/* One verdict message read back. */
struct seen {
	int type;
	uint32_t id, verdict;
	bool mark, payload, ct;
};

static int read_back(const struct weir__verdicts *v, struct seen *out, int max)
{
	const struct nlmsghdr *nlh = (const void *)v->buf;
	int len = (int)v->len, n = 0;

	for (; mnl_nlmsg_ok(nlh, len) && n < max;
	     nlh = mnl_nlmsg_next(nlh, &len), n++) {
		struct nlattr *a;

		out[n] = (struct seen){ .type = nlh->nlmsg_type & 0xff };
		mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
			if (mnl_attr_get_type(a) == NFQA_VERDICT_HDR) {
				const struct nfqnl_msg_verdict_hdr *h =
					mnl_attr_get_payload(a);
				out[n].id = ntohl(h->id);
				out[n].verdict = ntohl(h->verdict);
			}
			out[n].mark |= mnl_attr_get_type(a) == NFQA_MARK;
			out[n].payload |= mnl_attr_get_type(a) == NFQA_PAYLOAD;
			out[n].ct |= mnl_attr_get_type(a) == NFQA_CT;
		}
	}
	assert_int_equal(len, 0);
	return n;
}

/* 64 plain accepts: batch messages of 4 packets each (nfq_verdict.c
 * says why), in id order, all in one buffer. */
static void batch_of_plain_accepts(void **state)
{
	struct weir__verdicts v;
	struct seen s[20];

	(void)state;
	assert_int_equal(weir__verdicts_init(&v, 5), 0);
	for (uint32_t id = 10; id < 74; id++)
		assert_int_equal(weir__verdicts_add(&v, &(struct weir__verdict){
			.id = id, .accept = true }, WEIR__NO_HELD, false), 0);
	weir__verdicts_seal(&v);
	assert_int_equal(read_back(&v, s, 20), 16);
	for (int i = 0; i < 16; i++) {
		assert_int_equal(s[i].type, NFQNL_MSG_VERDICT_BATCH);
		assert_int_equal(s[i].id, 13 + 4 * i);
		assert_int_equal(s[i].verdict, NF_ACCEPT);
	}
	weir__verdicts_reset(&v);
	/* With a backlog: one message for them all. */
	v.backlog = true;
	for (uint32_t id = 74; id < 138; id++)
		assert_int_equal(weir__verdicts_add(&v, &(struct weir__verdict){
			.id = id, .accept = true }, WEIR__NO_HELD, false), 0);
	weir__verdicts_seal(&v);
	assert_int_equal(read_back(&v, s, 20), 1);
	assert_int_equal(s[0].id, 137);
	weir__verdicts_reset(&v);
	assert_false(v.backlog);
	weir__verdicts_seal(&v);
	assert_int_equal(v.len, 0);
	weir__verdicts_fini(&v);
}

/* Drops and rewrites go first as single messages, the batch last, and
 * nothing at or above a held packet's id joins the batch. */
static void singles_before_batch(void **state)
{
	static const uint8_t repl[20] = { 0x45 };
	struct weir__verdicts v;
	struct seen s[8];

	(void)state;
	assert_int_equal(weir__verdicts_init(&v, 0), 0);
	weir__verdicts_add(&v, &(struct weir__verdict){ .id = 1,
		.accept = true }, 4, false);
	weir__verdicts_add(&v, &(struct weir__verdict){ .id = 2 }, 4, false);
	weir__verdicts_add(&v, &(struct weir__verdict){ .id = 3,
		.accept = true, .payload = repl, .payload_len = 20 }, 4, false);
	weir__verdicts_add(&v, &(struct weir__verdict){ .id = 5,
		.accept = true }, 4, false);
	weir__verdicts_add(&v, &(struct weir__verdict){ .id = 6,
		.accept = true, .set_ctmark = true, .ctmark = 0x01000000,
		.ctmark_mask = 0xff000000 }, WEIR__NO_HELD, false);
	weir__verdicts_seal(&v);
	assert_int_equal(read_back(&v, s, 8), 5);
	assert_int_equal(s[0].id, 2);
	assert_int_equal(s[0].verdict, NF_DROP);
	assert_int_equal(s[1].id, 3);
	assert_true(s[1].payload);
	assert_int_equal(s[2].id, 5);
	assert_int_equal(s[2].type, NFQNL_MSG_VERDICT);
	assert_int_equal(s[3].id, 6);
	assert_true(s[3].ct);
	assert_int_equal(s[4].type, NFQNL_MSG_VERDICT_BATCH);
	assert_int_equal(s[4].id, 1);
	weir__verdicts_fini(&v);
}

/* The kernel's side of one verdict buffer, on a queue that holds ids
 * q[0..n) in arrival order: a single verdict takes its packet; a batch
 * verdict walks the queue from its head and accepts packets until the
 * first one whose id comes after its own (nfq_id_after: serial order,
 * ids wrap). got[i] is the verdict packet q[i] received plus 1 (0:
 * none); a single verdict for a packet no longer queued fails. */
static void kernel_applies(const struct seen *s, int nmsg, const uint32_t *q,
			   uint32_t n, uint32_t *got)
{
	for (int i = 0; i < nmsg; i++) {
		uint32_t k = 0;

		if (s[i].type == NFQNL_MSG_VERDICT) {
			while (k < n && q[k] != s[i].id)
				k++;
			assert_true(k < n);
			assert_int_equal(got[k], 0);
			got[k] = s[i].verdict + 1;
			continue;
		}
		for (; k < n; k++) {
			if (got[k])
				continue; /* dequeued already */
			if (weir__nfq_id_after(q[k], s[i].id))
				break;
			got[k] = NF_ACCEPT + 1;
		}
	}
}

enum { MIX_N = 300, MIX_HELD = 4 };

/* A random worker's round: packets answered or held in arrival order,
 * held ones resumed later (their verdict then goes with the lowest id
 * still held, as give_verdict() passes it). */
struct mix {
	uint32_t q[MIX_N];
	uint32_t want[MIX_N];
	uint32_t held[MIX_HELD];      /* indexes into q, in arrival order */
	unsigned nheld;
	uint64_t rng;
};

static uint64_t mix_next(struct mix *m)
{
	m->rng ^= m->rng << 13;
	m->rng ^= m->rng >> 7;
	m->rng ^= m->rng << 17;
	return m->rng;
}

static uint64_t mix_low(const struct mix *m)
{
	return m->nheld ? m->q[m->held[0]] : WEIR__NO_HELD;
}

static void mix_answer(struct mix *m, struct weir__verdicts *v, uint32_t k)
{
	assert_int_equal(weir__verdicts_add(v, &(struct weir__verdict){
		.id = m->q[k], .accept = m->want[k] == NF_ACCEPT },
		mix_low(m), false), 0);
}

/* Resumes held packet j: out of the held list first, then answered. */
static void mix_resume(struct mix *m, struct weir__verdicts *v, unsigned j)
{
	uint32_t k = m->held[j];

	memmove(&m->held[j], &m->held[j + 1],
		(m->nheld - j - 1) * sizeof(m->held[0]));
	m->nheld--;
	mix_answer(m, v, k);
}

/* Random mixes of accepts and drops, up to MIX_HELD packets held at once
 * and resumed at random points, ids that wrap past 2^32 in the middle,
 * with and without backlog: every packet gets exactly the verdict it was
 * given, however the accepts were cut into batch messages. */
static void batches_keep_every_verdict(void **state)
{
	static struct seen s[2 * MIX_N];
	static struct mix m = { .rng = 0x2545f4914f6cdd1dull };
	uint32_t got[MIX_N];

	(void)state;
	for (int round = 0; round < 400; round++) {
		uint32_t base = UINT32_MAX - 150 + (uint32_t)round;
		struct weir__verdicts v;

		assert_int_equal(weir__verdicts_init(&v, 0), 0);
		v.backlog = round % 2;
		m.nheld = 0;
		memset(got, 0, sizeof(got));
		for (uint32_t k = 0; k < MIX_N; k++) {
			uint64_t r = mix_next(&m);

			m.q[k] = base + k;
			m.want[k] = r % 5 ? NF_ACCEPT : NF_DROP;
			if (m.nheld && r % 11 == 0)
				mix_resume(&m, &v, (unsigned)(r >> 8) % m.nheld);
			if (m.nheld < MIX_HELD && r % 23 == 0)
				m.held[m.nheld++] = k;
			else
				mix_answer(&m, &v, k);
		}
		while (m.nheld)
			mix_resume(&m, &v, (unsigned)mix_next(&m) % m.nheld);
		weir__verdicts_seal(&v);
		kernel_applies(s, read_back(&v, s, 2 * MIX_N), m.q, MIX_N, got);
		for (uint32_t k = 0; k < MIX_N; k++)
			assert_int_equal(got[k], m.want[k] + 1);
		weir__verdicts_fini(&v);
	}
}

/* Many large payloads: the buffer grows and the batch still fits. */
static void grows(void **state)
{
	static uint8_t big[60000];
	struct weir__verdicts v;
	struct seen s[40];

	(void)state;
	assert_int_equal(weir__verdicts_init(&v, 0), 0);
	weir__verdicts_add(&v, &(struct weir__verdict){ .id = 1,
		.accept = true }, WEIR__NO_HELD, false);
	for (uint32_t id = 2; id < 34; id++)
		assert_int_equal(weir__verdicts_add(&v, &(struct weir__verdict){
			.id = id, .accept = true, .payload = big,
			.payload_len = sizeof(big) }, WEIR__NO_HELD, false), 0);
	weir__verdicts_seal(&v);
	assert_int_equal(read_back(&v, s, 40), 33);
	assert_int_equal(s[32].type, NFQNL_MSG_VERDICT_BATCH);
	weir__verdicts_fini(&v);
}

static void config_message(void **state)
{
	char buf[WEIR__NFQ_CFG_BUF];
	struct weir__nfq_cfg cfg = { .queue = 7, .copy_range = 0xffff,
				     .maxlen = 65536, .fail_open = true,
				     .gso = true, .conntrack = true };
	size_t n = weir__nfq_cfg_build(buf, &cfg);
	const struct nlmsghdr *nlh = (const void *)buf;
	struct nlattr *a;
	uint32_t flags = 0, mask = 0;

	(void)state;
	assert_true(n > 0 && n <= sizeof(buf));
	assert_true(nlh->nlmsg_flags & NLM_F_ACK);
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) == NFQA_CFG_FLAGS)
			flags = ntohl(mnl_attr_get_u32(a));
		if (mnl_attr_get_type(a) == NFQA_CFG_MASK)
			mask = ntohl(mnl_attr_get_u32(a));
	}
	assert_int_equal(flags, NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO |
				NFQA_CFG_F_CONNTRACK);
	assert_true(mask & NFQA_CFG_F_UID_GID);
}

/* The flags and mask of a message; -1 for a flag attribute missing. */
static void flags_of(const char *buf, int64_t *flags, int64_t *mask)
{
	const struct nlmsghdr *nlh = (const void *)buf;
	struct nlattr *a;

	*flags = *mask = -1;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if (mnl_attr_get_type(a) == NFQA_CFG_FLAGS)
			*flags = ntohl(mnl_attr_get_u32(a));
		if (mnl_attr_get_type(a) == NFQA_CFG_MASK)
			*mask = ntohl(mnl_attr_get_u32(a));
		/* Nothing else: no rebind, no other parameter. */
		assert_true(mnl_attr_get_type(a) == NFQA_CFG_FLAGS ||
			    mnl_attr_get_type(a) == NFQA_CFG_MASK);
	}
}

/* Turning the conntrack attributes on or off touches that flag alone:
 * fail-open, GSO and uid/gid stay as bound. */
static void conntrack_message(void **state)
{
	char buf[WEIR__NFQ_CFG_BUF];
	const struct nlmsghdr *nlh = (const void *)buf;
	const struct nfgenmsg *g;
	int64_t flags, mask;

	(void)state;
	assert_true(weir__nfq_ct_build(buf, 9, false) <= sizeof(buf));
	g = mnl_nlmsg_get_payload(nlh);
	assert_int_equal(ntohs(g->res_id), 9);
	assert_int_equal(nlh->nlmsg_type,
			 (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_CONFIG);
	flags_of(buf, &flags, &mask);
	assert_int_equal(flags, 0);
	assert_int_equal(mask, NFQA_CFG_F_CONNTRACK);
	weir__nfq_ct_build(buf, 9, true);
	flags_of(buf, &flags, &mask);
	assert_int_equal(flags, NFQA_CFG_F_CONNTRACK);
	assert_int_equal(mask, NFQA_CFG_F_CONNTRACK);
}

/* An NLMSG_ERROR message carrying `error`, `len` bytes long. */
static const struct nlmsghdr *error_msg(char *buf, int error, uint32_t len)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlmsgerr *e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e));

	nlh->nlmsg_type = NLMSG_ERROR;
	e->error = error;
	nlh->nlmsg_len = len;
	return nlh;
}

/* The kernel's refusals are told from its acknowledgements; a message
 * too short to hold the error, or of another type, is not an answer. */
static void error_messages(void **state)
{
	char buf[256] __attribute__((aligned(8)));
	uint32_t full = (uint32_t)mnl_nlmsg_size(sizeof(struct nlmsgerr));

	(void)state;
	assert_int_equal(weir__nfq_error(error_msg(buf, -ENOENT, full)),
			 -ENOENT);
	assert_int_equal(weir__nfq_error(error_msg(buf, 0, full)), 0);
	assert_int_equal(weir__nfq_error(error_msg(buf, EPERM, full)), -EPERM);
	assert_int_equal(weir__nfq_error(error_msg(buf, -ENOENT, full - 1)),
			 -EBADMSG);
	((struct nlmsghdr *)buf)->nlmsg_len = full;
	((struct nlmsghdr *)buf)->nlmsg_type = NLMSG_DONE;
	assert_int_equal(weir__nfq_error((const void *)buf), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(decode_minimal),
		cmocka_unit_test(decode_attributes),
		cmocka_unit_test(decode_refuses),
		cmocka_unit_test(decode_attr_bounds),
		cmocka_unit_test(batch_of_plain_accepts),
		cmocka_unit_test(singles_before_batch),
		cmocka_unit_test(batches_keep_every_verdict),
		cmocka_unit_test(grows),
		cmocka_unit_test(config_message),
		cmocka_unit_test(conntrack_message),
		cmocka_unit_test(error_messages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
