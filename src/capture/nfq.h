/* NFQUEUE, the live packet source: one netlink socket bound to one
 * queue, the messages it carries, and the verdicts weir sends back.
 * Internal to libweir; the weir daemon reaches it through the private
 * symbol set (libweir.map, WEIR_PRIVATE).
 *
 *   nfq_msg.c      packet messages → weir_pkt + metadata; config and
 *                  verdict messages (pure functions, unit-tested)
 *   nfq_verdict.c  the verdict batcher: one batch verdict for the
 *                  in-order plain accepts, single verdicts for the rest
 *   nfq_queue.c    the socket: bind, flags, receive in batches, send
 *
 * Uses the libmnl-based libnetfilter_queue API, not the deprecated
 * nfnl one.
 */
#ifndef WEIR_CAPTURE_NFQ_H
#define WEIR_CAPTURE_NFQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>
#include <sys/uio.h>

#include <weir/packet.h>

struct nlmsghdr;

/* Netfilter hooks as NFQUEUE reports them (NF_INET_*). */
enum weir__nf_hook {
	WEIR__HOOK_PREROUTING = 0,
	WEIR__HOOK_INPUT = 1,
	WEIR__HOOK_FORWARD = 2,
	WEIR__HOOK_OUTPUT = 3,
	WEIR__HOOK_POSTROUTING = 4,
};

/* ---- packet messages (nfq_msg.c) --------------------------------------- */

/* One NFQNL_MSG_PACKET, decoded. Pointers point into the message. */
struct weir__nfq_msg {
	uint32_t id;               /* packet id: what the verdict names */
	uint16_t hw_proto;         /* ETH_P_IP / ETH_P_IPV6 (host order) */
	uint8_t hook;              /* enum weir__nf_hook */
	const uint8_t *payload;    /* the IP packet, up to the copy range */
	uint32_t cap_len;          /* bytes in payload */
	uint32_t wire_len;         /* the packet's length (NFQA_CAP_LEN) */
	bool has_ctmark;
	uint32_t ctmark;           /* the flow's connmark, with has_ctmark */
	bool has_id;               /* on -EBADMSG: a packet message whose
	                            * header attribute was read; id names
	                            * its packet, which awaits a verdict */
	struct weir_pkt_meta meta; /* what the attributes told */
};

/* Decodes a packet message of queue `queue`. 0; -EBADMSG for a
 * message that is not a well-formed packet message (then only id and
 * has_id are set). */
int weir__nfq_decode(const struct nlmsghdr *nlh, uint16_t queue,
		     struct weir__nfq_msg *ret);

/* The error an NLMSG_ERROR message carries: -errno for a request the
 * kernel refused (a verdict for an id it does not hold, a setting), 0
 * for an acknowledgement, -EBADMSG for a message too short to say. */
int weir__nfq_error(const struct nlmsghdr *nlh);

/* Queue settings sent at bind time. */
struct weir__nfq_cfg {
	uint16_t queue;
	uint32_t copy_range;       /* bytes of each packet copied up */
	uint32_t maxlen;           /* packets the kernel may hold */
	bool fail_open;            /* full queue: the kernel accepts */
	bool gso;                  /* NFQA_CFG_F_GSO: whole super-packets */
	bool conntrack;            /* NFQA_CFG_F_CONNTRACK */
	bool uid_gid;              /* NFQA_CFG_F_UID_GID */
};

/* Writes the bind + params + flags config messages for cfg into buf
 * (at least WEIR__NFQ_CFG_BUF bytes) as one batch; returns its length. */
#define WEIR__NFQ_CFG_BUF 512
size_t weir__nfq_cfg_build(char *buf, const struct weir__nfq_cfg *cfg);
/* The unbind message (sent before closing, so queued packets are not
 * left to the socket's destruction). */
size_t weir__nfq_unbind_build(char *buf, uint16_t queue);
/* The message that changes a bound queue's copy range (packets queued
 * from then on); the receive buffers always hold WEIR__NFQ_COPY_MAX. */
#define WEIR__NFQ_COPY_MAX 0xffffu
size_t weir__nfq_copy_build(char *buf, uint16_t queue, uint32_t copy_range);
/* The message that turns NFQA_CFG_F_CONNTRACK on or off on a bound
 * queue (other flags untouched; packets queued from then on). */
size_t weir__nfq_ct_build(char *buf, uint16_t queue, bool conntrack);

/* ---- verdicts (nfq_verdict.c) ------------------------------------------ */

/* One packet's verdict. */
struct weir__verdict {
	uint32_t id;
	bool accept;               /* false: drop */
	bool repeat;               /* with accept: NF_REPEAT, the hook runs
	                            * again (with the new mark) */
	bool set_mark;
	uint32_t mark;             /* packet mark, with set_mark */
	bool set_ctmark;
	uint32_t ctmark;           /* connmark bits to set, with set_ctmark */
	uint32_t ctmark_mask;      /* the bits ctmark replaces */
	const uint8_t *payload;    /* replacement packet, NULL: unchanged */
	uint32_t payload_len;
};

/* Collects the verdicts of one receive batch into one send. Plain
 * accepts (no mark, no payload) of packets before the lowest held id go
 * into NFQNL_MSG_VERDICT_BATCH messages of a few packets each (why:
 * nfq_verdict.c), each after the single verdicts of lower ids, because a
 * batch verdict covers every packet with an id up to its own that is
 * still queued. Everything else gets its own message. */
struct weir__verdicts {
	char *buf;                 /* netlink messages, sent by flush */
	size_t len, cap;
	uint16_t queue;
	uint32_t batch_id;         /* highest id for the batch, with batch */
	bool batch;                /* a batch message is open */
	uint32_t span;             /* packets the open batch message covers */
	bool backlog;              /* set by the caller for one read, cleared
	                            * by reset: the queue has a backlog, one
	                            * batch message for all (nfq_verdict.c) */
};

int weir__verdicts_init(struct weir__verdicts *v, uint16_t queue);
void weir__verdicts_fini(struct weir__verdicts *v);

/* Whether packet id a comes after b. Ids are 32-bit and wrap (at a
 * million packets a second, every 70 minutes): the kernel orders them
 * as serial numbers (nfq_id_after), and so must we. */
static inline bool weir__nfq_id_after(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b) > 0;
}

/* No packet is held: low_held of weir__verdicts_add(). */
#define WEIR__NO_HELD UINT64_MAX

/* Adds one verdict. `low_held` is the lowest id of a packet that stays
 * queued past this batch (pended), WEIR__NO_HELD when none; `single`
 * forces a message of its own (an early answer, before the queue is
 * configured). 0 or -ENOMEM (buf is then unchanged). */
int weir__verdicts_add(struct weir__verdicts *v, const struct weir__verdict *d,
		       uint64_t low_held, bool single);

/* Closes the batch: appends the batch verdict, if any. The caller
 * sends buf[0..len) and then calls weir__verdicts_reset(). */
void weir__verdicts_seal(struct weir__verdicts *v);
void weir__verdicts_reset(struct weir__verdicts *v);

/* ---- the socket (nfq_queue.c) ----------------------------------------- */

/* A netlink socket bound to one queue, in the network namespace of the
 * thread that opened it, with buffers to receive a batch of messages in
 * one recvmmsg (as the minimal NFQUEUE program does). The buffers are
 * packet buffers (packet/buf.h): packets point into them without a
 * copy, and weir__nfq_recycle() replaces those still referenced. */
struct weir__nfq_sock {
	struct mnl_socket *nl;
	int fd;
	uint16_t queue;
	unsigned batch;            /* datagrams per receive */
	size_t bufsz;              /* bytes per datagram buffer */
	struct weir_buf **bufs;    /* batch of them */
	unsigned usable;           /* slots with a buffer (normally batch) */
	uint64_t replaced;         /* buffers still referenced after a batch */
	struct mmsghdr *msgs;
	struct iovec *iov;
	uint64_t early;            /* packets that came before the bind ack */
	bool no_conntrack;         /* the kernel cannot report conntrack */
};

/* Opens the socket, sets a receive buffer of `rcvbuf` bytes (forced
 * past rmem_max when root), NETLINK_NO_ENOBUFS, binds cfg->queue and
 * applies cfg, waiting for the kernel's answer. 0 or -errno with a
 * reason in err (-EBUSY: another program holds the queue). */
int weir__nfq_open(struct weir__nfq_sock *s, const struct weir__nfq_cfg *cfg,
		   unsigned batch, size_t rcvbuf, char *err, size_t errlen);
/* Receives up to `batch` datagrams without waiting: their count (0:
 * nothing there) or -errno. Datagram i is weir__nfq_dgram(s, i). */
int weir__nfq_recv(struct weir__nfq_sock *s);
static inline void *weir__nfq_dgram(const struct weir__nfq_sock *s,
				    unsigned i, size_t *ret_len)
{
	*ret_len = s->msgs[i].msg_len;
	return s->iov[i].iov_base;
}
/* The packet buffer of datagram i. */
static inline struct weir_buf *weir__nfq_buf(const struct weir__nfq_sock *s,
					     unsigned i)
{
	return s->bufs[i];
}
/* After the first n datagrams were handled: buffers a packet still
 * refers to (held, cloned) are replaced by new ones. */
void weir__nfq_recycle(struct weir__nfq_sock *s, unsigned n);
/* Sends a buffer of netlink messages (verdicts). 0 or -errno. */
int weir__nfq_send(struct weir__nfq_sock *s, const void *buf, size_t len);
/* Unbinds the queue and closes. Packets still queued are dropped by the
 * kernel, so the caller drains and verdicts them first. */
void weir__nfq_close(struct weir__nfq_sock *s);

#endif /* WEIR_CAPTURE_NFQ_H */
