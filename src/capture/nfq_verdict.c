/* The verdict batcher. NFQUEUE's batch verdict accepts every queued
 * packet with an id up to its own in one message, which is what makes
 * user-space filtering affordable (one message per packet costs a fifth
 * of the UDP rate and half of the TCP throughput here, BASELINES.md).
 * It can only cover plain accepts below every packet that stays queued
 * (a pended one); drops, marks, new payloads and late verdicts get
 * single messages, written first so that the batch, which comes last,
 * no longer finds them in the queue.
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
	v->nsingle++;
	return 0;
}

static bool plain(const struct weir__verdict *d)
{
	return d->accept && !d->repeat && !d->set_mark && !d->set_ctmark &&
	       !d->payload;
}

int weir__verdicts_add(struct weir__verdicts *v, const struct weir__verdict *d,
		       uint32_t low_held, bool single)
{
	if (single || !plain(d) || d->id >= low_held)
		return put_single(v, d);
	if (!v->batch && reserve(v, VERDICT_ROOM) < 0)
		return -ENOMEM;
	if (!v->batch || d->id > v->batch_id)
		v->batch_id = d->id;
	v->batch = true;
	v->nbatched++;
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
}

void weir__verdicts_reset(struct weir__verdicts *v)
{
	v->len = 0;
	v->batch = false;
	v->batch_id = 0;
	v->nbatched = 0;
	v->nsingle = 0;
}
