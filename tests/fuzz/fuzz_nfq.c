/* libFuzzer harness for the NFQUEUE packet message decoder
 * (src/capture/nfq_msg.c, weir__nfq_decode): arbitrary bytes as one
 * netlink message, its length set to the input's (as the receive loop's
 * mnl_nlmsg_ok guarantees) and zero padding up to the next 4-byte
 * boundary, which the kernel always writes and libmnl reads. A decoded
 * message must point inside the input, and the metadata must be what
 * libnetfilter_queue's own attribute table says; a message weir refuses
 * must be one libnetfilter_queue refuses too, or one whose attributes
 * libmnl cannot walk to its end, and the packet id weir still takes
 * from it must be a packet header's. Aborts on the first disagreement.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "capture/nfq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "fuzz_check.h"

static uint32_t u32_of(const struct nlattr *a)
{
	return ntohl(mnl_attr_get_u32(a));
}

/* libmnl takes an attribute that ends in the padding, past the
 * message's length (weir refuses it: those bytes are not the message's;
 * the kernel never sends one). */
static bool past_end(const struct nlmsghdr *nlh, struct nlattr **tb)
{
	const char *end = (const char *)nlh + nlh->nlmsg_len;

	for (int t = 0; t <= NFQA_MAX; t++)
		if (tb[t] && (const char *)tb[t] + tb[t]->nla_len > end)
			return true;
	return false;
}

/* Whether libmnl's walk, which stops without a word at the first
 * attribute that does not fit, covered the message: every attribute it
 * took ends within nlmsg_len (not in the padding) and what it left is
 * shorter than an attribute header. weir refuses the rest. */
static bool walk_clean(const struct nlmsghdr *nlh)
{
	const char *base = (const char *)nlh;
	size_t end = nlh->nlmsg_len;
	size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
	struct nlattr *a;

	if (end < off)
		return false;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		if ((size_t)((const char *)a - base) + a->nla_len > end)
			return false;
		off = (size_t)((const char *)a - base) +
		      NLA_ALIGN(a->nla_len);
	}
	return off >= end || end - off < NLA_HDRLEN;
}

/* libnetfilter_queue's reading of a packet message, where it is a
 * message weir must take: a packet message whose attributes libmnl
 * walked to the end, with the packet header and payload (NFQA_SECCTX,
 * which libnetfilter_queue 1.0.5 wants as 4 bytes, aside: weir takes
 * any size of it; nfq_nlmsg_parse refuses the message then). */
static bool nfq_takes(const struct nlmsghdr *nlh, struct nlattr **tb)
{
	return (nlh->nlmsg_type & 0xff) == NFQNL_MSG_PACKET &&
	       nfq_nlmsg_parse(nlh, tb) >= 0 && tb[NFQA_PACKET_HDR] &&
	       tb[NFQA_PAYLOAD] && walk_clean(nlh);
}

/* An NFQA_SECCTX of another size than libnetfilter_queue wants. */
static bool odd_secctx(const struct nlmsghdr *nlh)
{
	struct nlattr *a;

	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg))
		if (mnl_attr_get_type(a) == NFQA_SECCTX &&
		    mnl_attr_get_payload_len(a) != sizeof(uint32_t))
			return true;
	return false;
}

/* Whether a packet message holds a whole packet header attribute, within
 * nlmsg_len, with that packet id. */
static bool header_says(const struct nlmsghdr *nlh, uint32_t id)
{
	const char *end = (const char *)nlh + nlh->nlmsg_len;
	struct nlattr *a;

	if ((nlh->nlmsg_type & 0xff) != NFQNL_MSG_PACKET)
		return false;
	mnl_attr_for_each(a, nlh, sizeof(struct nfgenmsg)) {
		const struct nfqnl_msg_packet_hdr *ph;

		if (mnl_attr_get_type(a) != NFQA_PACKET_HDR ||
		    mnl_attr_get_payload_len(a) != sizeof(*ph) ||
		    (const char *)a + a->nla_len > end)
			continue;
		ph = mnl_attr_get_payload(a);
		if (ntohl(ph->packet_id) == id)
			return true;
	}
	return false;
}

/* The metadata against libnetfilter_queue's reading of the message. */
static void oracle(const struct nlmsghdr *nlh, const struct weir__nfq_msg *m)
{
	struct nlattr *tb[NFQA_MAX + 1] = { 0 };
	const struct nfqnl_msg_packet_hdr *ph;

	/* weir checks the sizes libnetfilter_queue checks, and walks more
	 * strictly: only NFQA_SECCTX, or an attribute that libmnl found in
	 * the padding, can make it refuse what weir took. */
	if (nfq_nlmsg_parse(nlh, tb) < 0) {
		CHECK(odd_secctx(nlh) || !walk_clean(nlh));
		return;
	}
	CHECK(tb[NFQA_PACKET_HDR] && tb[NFQA_PAYLOAD]);
	if (past_end(nlh, tb))
		return; /* libmnl read into the padding: its values differ */
	ph = mnl_attr_get_payload(tb[NFQA_PACKET_HDR]);
	CHECK(m->id == ntohl(ph->packet_id));
	CHECK(m->hook == ph->hook);
	CHECK(m->payload == mnl_attr_get_payload(tb[NFQA_PAYLOAD]));
	CHECK(m->cap_len == mnl_attr_get_payload_len(tb[NFQA_PAYLOAD]));
	if (tb[NFQA_MARK])
		CHECK(m->meta.mark == u32_of(tb[NFQA_MARK]) &&
		      (m->meta.flags & WEIR_META_MARK));
	else
		CHECK(!(m->meta.flags & WEIR_META_MARK));
	CHECK(m->meta.ifindex_in == (tb[NFQA_IFINDEX_INDEV]
				     ? u32_of(tb[NFQA_IFINDEX_INDEV]) : 0));
	CHECK(m->meta.ifindex_out == (tb[NFQA_IFINDEX_OUTDEV]
				      ? u32_of(tb[NFQA_IFINDEX_OUTDEV]) : 0));
	CHECK(m->wire_len == (tb[NFQA_CAP_LEN] ? u32_of(tb[NFQA_CAP_LEN])
					       : m->cap_len));
	if (tb[NFQA_UID])
		CHECK(m->meta.uid == u32_of(tb[NFQA_UID]));
	if (tb[NFQA_CT_INFO])
		CHECK(m->meta.ct_state == u32_of(tb[NFQA_CT_INFO]) &&
		      (m->meta.flags & WEIR_META_CT));
	CHECK(!!(m->meta.flags & WEIR_META_GSO) ==
	      (tb[NFQA_SKB_INFO] && (u32_of(tb[NFQA_SKB_INFO]) &
				     NFQA_SKB_GSO)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct weir__nfq_msg m;
	struct nlmsghdr *nlh;
	uint8_t *copy;
	unsigned sum = 0;

	if (size < NLMSG_HDRLEN || size > 65536)
		return 0;
	/* The input's bytes and the padding, nothing more, so that ASan
	 * sees any read past them (malloc aligns for the headers). */
	copy = calloc(1, NLMSG_ALIGN(size));
	CHECK(copy != NULL);
	memcpy(copy, data, size);
	nlh = (struct nlmsghdr *)copy;
	nlh->nlmsg_len = (uint32_t)size;
	if (weir__nfq_decode(nlh, 7, &m) == 0) {
		CHECK(m.payload >= copy && m.payload <= copy + size);
		CHECK(m.cap_len <= (size_t)(copy + size - m.payload));
		for (uint32_t i = 0; i < m.cap_len; i++)
			sum += m.payload[i];
		CHECK(m.meta.queue_num == 7 && m.meta.queue_id == m.id);
		CHECK(m.meta.family == (m.hw_proto == 0x0800 ? AF_INET
					: m.hw_proto == 0x86dd ? AF_INET6 : 0));
		oracle(nlh, &m);
	} else {
		/* A refusal must be one libnetfilter_queue shares: weir
		 * classifies no packet whose message it refused (it only
		 * gives the fail mode's verdict to the id it read). */
		struct nlattr *tb[NFQA_MAX + 1] = { 0 };

		CHECK(!nfq_takes(nlh, tb));
		CHECK(!m.has_id || header_says(nlh, m.id));
	}
	free(copy);
	return (int)(sum & 0); /* libFuzzer wants 0 */
}
