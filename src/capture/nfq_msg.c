/* NFQUEUE messages: a packet message decoded into the IP packet and
 * weir's metadata, and the config messages that bind a queue. Pure
 * functions over netlink buffers, so they are unit-tested without a
 * kernel.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "capture/nfq.h"

#ifndef NFQA_SKB_CSUM_NOTVERIFIED
#define NFQA_SKB_CSUM_NOTVERIFIED (1 << 2)
#endif

/* The loopback device has index 1 in every network namespace. */
#define LOOPBACK_IFINDEX 1

static const void *attr_data(const struct nlattr *a)
{
	return (const char *)a + NLA_HDRLEN;
}

static uint32_t attr_len(const struct nlattr *a)
{
	return (uint32_t)(a->nla_len - NLA_HDRLEN);
}

static uint32_t be32_attr(const struct nlattr *a)
{
	uint32_t v;

	memcpy(&v, attr_data(a), sizeof(v));
	return ntohl(v);
}

/* The payload size a type must have (0: any), as libnetfilter_queue's
 * nfq_nlmsg_parse checks it - but for NFQA_SECCTX, a string that
 * libnetfilter_queue 1.0.5 wants as 4 bytes (weir does not read it). */
static uint32_t fixed_len(unsigned type)
{
	switch (type) {
	case NFQA_MARK:
	case NFQA_IFINDEX_INDEV:
	case NFQA_IFINDEX_OUTDEV:
	case NFQA_IFINDEX_PHYSINDEV:
	case NFQA_IFINDEX_PHYSOUTDEV:
	case NFQA_CAP_LEN:
	case NFQA_SKB_INFO:
	case NFQA_UID:
	case NFQA_GID:
	case NFQA_CT_INFO:
		return sizeof(uint32_t);
	case NFQA_TIMESTAMP:
		return sizeof(struct nfqnl_msg_packet_timestamp);
	case NFQA_HWADDR:
		return sizeof(struct nfqnl_msg_packet_hw);
	case NFQA_PACKET_HDR:
		return sizeof(struct nfqnl_msg_packet_hdr);
	default:
		return 0;
	}
}

/* The packet message's attributes by type. An attribute that runs past
 * the message, or a fixed-size one of another size, refuses the whole
 * message; types weir does not know are skipped. A loop of its own, not
 * nfq_nlmsg_parse: that one calls back per attribute through libmnl,
 * which took about 2 % of a worker's time under a flood (this runs for
 * every packet). */
static int parse_attrs(const struct nlmsghdr *nlh,
		       const struct nlattr *tb[NFQA_MAX + 1])
{
	size_t off = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(struct nfgenmsg));
	size_t end = nlh->nlmsg_len;

	if (end < off)
		return -1;
	while (end - off >= NLA_HDRLEN) {
		const struct nlattr *a = (const void *)((const char *)nlh + off);
		unsigned type = a->nla_type & NLA_TYPE_MASK;
		uint32_t want;

		if (a->nla_len < NLA_HDRLEN || a->nla_len > end - off)
			return -1;
		if (type <= NFQA_MAX) {
			want = fixed_len(type);
			if (want && attr_len(a) != want)
				return -1;
			tb[type] = a;
		}
		off += NLA_ALIGN(a->nla_len);
		if (off > end)
			break; /* the last attribute, unpadded */
	}
	return 0;
}

static uint8_t direction_of(uint8_t hook)
{
	switch (hook) {
	case WEIR__HOOK_PREROUTING:
	case WEIR__HOOK_INPUT:
		return WEIR_DIR_INBOUND;
	case WEIR__HOOK_OUTPUT:
	case WEIR__HOOK_POSTROUTING:
		return WEIR_DIR_OUTBOUND;
	case WEIR__HOOK_FORWARD:
		return WEIR_DIR_FORWARD;
	default:
		return WEIR_DIR_NONE;
	}
}

static int ct_attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if ((type == CTA_ID || type == CTA_MARK) &&
	    mnl_attr_validate(a, MNL_TYPE_U32) == 0)
		tb[type] = a;
	return MNL_CB_OK;
}

/* The conntrack id and connmark from the NFQA_CT nest. */
static void decode_ct(const struct nlattr *nest, struct weir__nfq_msg *m)
{
	const struct nlattr *tb[CTA_MAX + 1] = { 0 };

	if (mnl_attr_parse_nested(nest, ct_attr_cb, tb) < 0)
		return;
	if (tb[CTA_ID])
		m->meta.ct_id = be32_attr(tb[CTA_ID]);
	if (tb[CTA_MARK]) {
		m->ctmark = be32_attr(tb[CTA_MARK]);
		m->has_ctmark = true;
	}
}

static void decode_csum(const struct nlattr **attr, struct weir__nfq_msg *m)
{
	uint32_t info = attr[NFQA_SKB_INFO] ? be32_attr(attr[NFQA_SKB_INFO])
					    : 0;

	if (info & NFQA_SKB_GSO)
		m->meta.flags |= WEIR_META_GSO;
	/* Without the attribute the kernel vouches for the checksum (it
	 * only says "not verified" when it did not). */
	if (info & NFQA_SKB_CSUMNOTREADY)
		m->meta.csum_state = WEIR_CSUM_PARTIAL;
	else if (info & NFQA_SKB_CSUM_NOTVERIFIED)
		m->meta.csum_state = WEIR_CSUM_UNKNOWN;
	else
		m->meta.csum_state = WEIR_CSUM_VERIFIED;
}

static void decode_meta(const struct nlattr **attr, struct weir__nfq_msg *m)
{
	struct weir_pkt_meta *mt = &m->meta;

	if (attr[NFQA_MARK]) {
		mt->mark = be32_attr(attr[NFQA_MARK]);
		mt->flags |= WEIR_META_MARK;
	}
	if (attr[NFQA_IFINDEX_INDEV])
		mt->ifindex_in = be32_attr(attr[NFQA_IFINDEX_INDEV]);
	if (attr[NFQA_IFINDEX_OUTDEV])
		mt->ifindex_out = be32_attr(attr[NFQA_IFINDEX_OUTDEV]);
	if (mt->ifindex_in == LOOPBACK_IFINDEX ||
	    mt->ifindex_out == LOOPBACK_IFINDEX)
		mt->flags |= WEIR_META_LOOPBACK;
	if (attr[NFQA_UID]) {
		mt->uid = be32_attr(attr[NFQA_UID]);
		mt->flags |= WEIR_META_UID;
	}
	if (attr[NFQA_GID]) {
		mt->gid = be32_attr(attr[NFQA_GID]);
		mt->flags |= WEIR_META_GID;
	}
	if (attr[NFQA_CT_INFO]) {
		mt->ct_state = be32_attr(attr[NFQA_CT_INFO]);
		mt->flags |= WEIR_META_CT;
	}
	if (attr[NFQA_CT])
		decode_ct(attr[NFQA_CT], m);
	if (attr[NFQA_TIMESTAMP]) {
		/* Netlink attributes are only 4-byte aligned: copy the two
		 * 64-bit fields out instead of reading them in place. */
		struct nfqnl_msg_packet_timestamp ts;

		memcpy(&ts, attr_data(attr[NFQA_TIMESTAMP]), sizeof(ts));
		mt->timestamp_ns = be64toh(ts.sec) * 1000000000ull +
				   be64toh(ts.usec) * 1000ull;
	}
	decode_csum(attr, m);
}

int weir__nfq_decode(const struct nlmsghdr *nlh, uint16_t queue,
		     struct weir__nfq_msg *ret)
{
	const struct nlattr *attr[NFQA_MAX + 1] = { 0 };
	struct nfqnl_msg_packet_hdr ph;
	bool broken;

	memset(ret, 0, sizeof(*ret));
	if ((nlh->nlmsg_type & 0xff) != NFQNL_MSG_PACKET)
		return -EBADMSG;
	/* The attributes before a broken one are kept: the header comes
	 * first, and its id lets the packet get a verdict all the same. */
	broken = parse_attrs(nlh, attr) < 0;
	if (!attr[NFQA_PACKET_HDR])
		return -EBADMSG;
	memcpy(&ph, attr_data(attr[NFQA_PACKET_HDR]), sizeof(ph));
	ret->id = ntohl(ph.packet_id);
	if (broken || !attr[NFQA_PAYLOAD]) {
		ret->has_id = true;
		return -EBADMSG;
	}
	ret->hw_proto = ntohs(ph.hw_protocol);
	ret->hook = ph.hook;
	ret->payload = attr_data(attr[NFQA_PAYLOAD]);
	ret->cap_len = attr_len(attr[NFQA_PAYLOAD]);
	ret->wire_len = attr[NFQA_CAP_LEN] ? be32_attr(attr[NFQA_CAP_LEN])
					   : ret->cap_len;
	ret->meta.family = ret->hw_proto == 0x86dd ? AF_INET6
			   : ret->hw_proto == 0x0800 ? AF_INET : 0;
	ret->meta.direction = direction_of(ret->hook);
	ret->meta.queue_id = ret->id;
	ret->meta.queue_num = queue;
	ret->meta.flags |= WEIR_META_QUEUED;
	decode_meta(attr, ret);
	return 0;
}

int weir__nfq_error(const struct nlmsghdr *nlh)
{
	const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

	if (nlh->nlmsg_type != NLMSG_ERROR ||
	    nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*e)))
		return -EBADMSG;
	/* Positive errors do not exist; a kernel that sent one is read as
	 * refusing, not as acknowledging. */
	return e->error > 0 ? -e->error : e->error;
}

size_t weir__nfq_cfg_build(char *buf, const struct weir__nfq_cfg *cfg)
{
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG,
					     cfg->queue);
	uint32_t flags = 0, mask = NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO |
				   NFQA_CFG_F_CONNTRACK | NFQA_CFG_F_UID_GID;

	/* One message: the kernel binds first, then applies the rest to
	 * the new instance; the ack reports any refusal. */
	nlh->nlmsg_flags |= NLM_F_ACK;
	nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_BIND);
	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, (int)cfg->copy_range);
	nfq_nlmsg_cfg_put_qmaxlen(nlh, cfg->maxlen);
	flags |= cfg->fail_open ? NFQA_CFG_F_FAIL_OPEN : 0;
	flags |= cfg->gso ? NFQA_CFG_F_GSO : 0;
	flags |= cfg->conntrack ? NFQA_CFG_F_CONNTRACK : 0;
	flags |= cfg->uid_gid ? NFQA_CFG_F_UID_GID : 0;
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(flags));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(mask));
	return nlh->nlmsg_len;
}

size_t weir__nfq_copy_build(char *buf, uint16_t queue, uint32_t copy_range)
{
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue);

	nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, (int)copy_range);
	return nlh->nlmsg_len;
}

size_t weir__nfq_ct_build(char *buf, uint16_t queue, bool conntrack)
{
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue);

	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS,
			 htonl(conntrack ? NFQA_CFG_F_CONNTRACK : 0));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_CONNTRACK));
	return nlh->nlmsg_len;
}

size_t weir__nfq_unbind_build(char *buf, uint16_t queue)
{
	struct nlmsghdr *nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, queue);

	nfq_nlmsg_cfg_put_cmd(nlh, AF_UNSPEC, NFQNL_CFG_CMD_UNBIND);
	return nlh->nlmsg_len;
}
