/* The verdict batcher. NFQUEUE's batch verdict accepts every queued
 * packet with an id up to its own in one message, and one send carries
 * all of a receive batch's verdicts, which is what makes user-space
 * filtering affordable (one message per packet costs a fifth of the
 * UDP rate and half of the TCP throughput here, BASELINES.md of the
 * team's shared notes). A batch message can only cover plain accepts
 * before every packet that stays queued (a pended one); drops, marks,
 * new payloads and packets after a held one get single messages,
 * written before any batch message that covers their id, which then no
 * longer finds them in the queue. Ids are compared as the kernel
 * compares them, as serial numbers that wrap.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#include "capture/nfq.h"

/* Room for one verdict message without payload, attributes included. */
#define VERDICT_ROOM 128u

/* Packets one batch message covers at most; a receive batch's accepts
 * go out as several batch messages in the same send. The kernel walks a
 * batch message's packets under the queue's lock, and the CPU that
 * queues packets (under a flood, the sender's, in its softirq) takes
 * that lock for every packet it queues: the longer the walk, the longer
 * it spins (measured on 2026-12-03: 140-410 ns per packet in the
 * enqueuing CPU's lock slow path with walks of 30-40 packets). Spans of
 * 4 verdicted 1-10 % more packets of a UDP flood than one message per
 * receive batch (1 and 2 did about the same, 8 and 16 gained less); a
 * message costs the verdicting CPU one pass through nfnetlink, so 4.
 * Not with a backlog (v->backlog): then the verdicting CPU is the one
 * that cannot keep up, and each message costs it a turn of the
 * contended lock. */
#define BATCH_SPAN 4u

int weir__verdicts_init(struct weir__verdicts *v, uint16_t queue)
{
	memset(v, 0, sizeof(*v));
	v->queue = queue;
	v->cap = 64 * VERDICT_ROOM;
	v->buf = malloc(v->cap);
	return v->buf ? 0 : -ENOMEM;
}

void weir__verdicts_fini(struct weir__verdicts *v)
{
	free(v->buf);
	memset(v, 0, sizeof(*v));
}

/* Makes room for `more` bytes plus, while a batch is open, its final
 * message, so that sealing never needs memory. */
static int reserve(struct weir__verdicts *v, size_t more)
{
	size_t cap = v->cap;
	char *nb;

	more += v->batch ? VERDICT_ROOM : 0;

	if (v->len + more <= v->cap)
		return 0;
	while (cap < v->len + more)
		cap *= 2;
	nb = realloc(v->buf, cap);
	if (!nb)
		return -ENOMEM;
	v->buf = nb;
	v->cap = cap;
	return 0;
}

static void put_ctmark(struct nlmsghdr *nlh, uint32_t ctmark, uint32_t mask)
{
	struct nlattr *nest = mnl_attr_nest_start(nlh, NFQA_CT);

	/* The kernel hands the nest to ctnetlink, which sets the flow's
	 * mark to (mark & ~mask) ^ ctmark: this is how a flow leaves the
	 * queue (connmark bypass) without touching others' mark bits. */
	mnl_attr_put_u32(nlh, CTA_MARK, htonl(ctmark & mask));
	mnl_attr_put_u32(nlh, CTA_MARK_MASK, htonl(mask));
	mnl_attr_nest_end(nlh, nest);
}

static int put_single(struct weir__verdicts *v, const struct weir__verdict *d)
{
	struct nlmsghdr *nlh;
	int rc = reserve(v, VERDICT_ROOM + MNL_ALIGN(d->payload_len));

	if (rc < 0)
		return rc;
	nlh = nfq_nlmsg_put(v->buf + v->len, NFQNL_MSG_VERDICT, v->queue);
	nfq_nlmsg_verdict_put(nlh, (int)d->id, !d->accept ? NF_DROP
					       : d->repeat ? NF_REPEAT
							   : NF_ACCEPT);
	if (d->set_mark)
		nfq_nlmsg_verdict_put_mark(nlh, d->mark);
	if (d->set_ctmark)
		put_ctmark(nlh, d->ctmark, d->ctmark_mask);
	if (d->payload && d->accept)
		nfq_nlmsg_verdict_put_pkt(nlh, d->payload, d->payload_len);
	v->len += nlh->nlmsg_len;
	return 0;
}

static bool plain(const struct weir__verdict *d)
{
	return d->accept && !d->repeat && !d->set_mark && !d->set_ctmark &&
	       !d->payload;
}

/* Whether id is at or after the lowest held id: such a packet must stay
 * out of batch messages, which would cover the held one. */
static bool at_or_after_held(uint32_t id, uint64_t low_held)
{
	return low_held != WEIR__NO_HELD &&
	       !weir__nfq_id_after((uint32_t)low_held, id);
}

int weir__verdicts_add(struct weir__verdicts *v, const struct weir__verdict *d,
		       uint64_t low_held, bool single)
{
	if (single || !plain(d) || at_or_after_held(d->id, low_held))
		return put_single(v, d);
	if (v->batch && !v->backlog && v->span >= BATCH_SPAN) {
		/* Room for the next message too before this one is sealed,
		 * so that a failure leaves buf as it was. Every single
		 * verdict at or before batch_id is in buf already: a read's
		 * packets come in id order and are answered or held as
		 * they are handled, and while a packet is held every later
		 * one gets a single message (low_held), so a held packet's
		 * late verdict comes after every batched id. */
		if (reserve(v, VERDICT_ROOM) < 0)
			return -ENOMEM;
		weir__verdicts_seal(v);
	}
	if (!v->batch && reserve(v, VERDICT_ROOM) < 0)
		return -ENOMEM;
	if (!v->batch || weir__nfq_id_after(d->id, v->batch_id))
		v->batch_id = d->id;
	v->batch = true;
	v->span++;
	return 0;
}

void weir__verdicts_seal(struct weir__verdicts *v)
{
	struct nlmsghdr *nlh;

	if (!v->batch)
		return;
	/* reserve() kept the room for this message. */
	nlh = nfq_nlmsg_put(v->buf + v->len, NFQNL_MSG_VERDICT_BATCH,
			    v->queue);
	nfq_nlmsg_verdict_put(nlh, (int)v->batch_id, NF_ACCEPT);
	v->len += nlh->nlmsg_len;
	v->batch = false;
	v->span = 0;
}

void weir__verdicts_reset(struct weir__verdicts *v)
{
	v->len = 0;
	v->batch = false;
	v->batch_id = 0;
	v->span = 0;
	v->backlog = false;
}
