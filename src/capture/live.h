/* The live packet tier: worker threads, each with its own io_uring loop
 * and its own NFQUEUE queue, running every queued packet through the
 * engine's layers and answering the kernel with exactly one verdict per
 * packet. Internal to libweir; the weir daemon (`weir run`) reaches it
 * through WEIR_PRIVATE.
 *
 *   live.c         start, stop, statistics, connmark-bypass settings
 *   live_worker.c  one worker: the loop, receiving batches, timers
 *   live_path.c    one packet: decode, flow, layers, verdict; pends
 *   ifname.c       interface index → name, cached per worker
 *
 * Threads. Each worker thread owns its loop, socket, held packets and
 * counters. The engine is shared (classification is lock-free); a pend
 * may end on any thread, and its end is posted to the owning worker.
 */
#ifndef WEIR_CAPTURE_LIVE_H
#define WEIR_CAPTURE_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weir/engine.h>

struct weir__live;

struct weir__live_opts {
	struct weir_engine *engine;   /* borrowed; outlives the live tier */
	unsigned nqueues;             /* workers (one queue each), >= 1 */
	uint16_t queue_base;          /* queues base .. base + nqueues - 1 */
	uint32_t copy_range;          /* 0: 0xffff; at most 0xffff */
	uint32_t maxlen;              /* 0: 65536 */
	bool conntrack;               /* ask for the conntrack attributes
	                               * (where the kernel has the glue) */
	size_t rcvbuf;                /* 0: 64 MiB */
	bool fail_open;               /* overload and shutdown: accept */
	uint32_t ctmark_mask;         /* connmark bits of the bypass; 0: off */
	uint32_t vmark_mask;          /* packet-mark bits an NF_REPEAT verdict
	                               * uses to ask the rules to set the
	                               * connmark, where NFQUEUE cannot set
	                               * it itself (no conntrack glue) */
	uint32_t own_mark;            /* weir's injection mark (own_mark_mask
	                               * bits; mask 0: none) */
	uint32_t own_mark_mask;
	const char *own_ifname;       /* weir's TUN devices, a trailing '+'
	                               * for a prefix; NULL: none. Borrowed */
	bool own_forward;             /* weir's FORWARD rule does not skip
	                               * its own packets (skips_in_user,
	                               * steer.h): accept those with own_mark
	                               * or from own_ifname unclassified */
	const char *netns;            /* namespace path; NULL: weir's own */
	uint32_t compartment;         /* stamped on every packet's metadata */
	uint64_t pend_timeout_ns;     /* 0: 5 s */
	uint32_t pend_max;            /* 0: 4096 */
};

/* Counters of one queue (all workers summed by weir__live_stats). Every
 * packet received is eventually accepted or dropped exactly once:
 * received == accepted + dropped + held. */
struct weir__live_stats {
	uint64_t received;            /* packet messages from the kernel */
	uint64_t accepted;            /* verdicts: accept (all kinds) */
	uint64_t dropped;             /* verdicts: drop (block, absorb) */
	uint64_t replaced;            /* accepts with a new payload */
	uint64_t bypassed;            /* accepts that set the bypass mark */
	uint64_t own;                 /* weir's own packets, accepted
	                               * unclassified (own_mark, own_ifname) */
	uint64_t pended;              /* pends begun */
	uint64_t pend_timeouts;       /* pends the engine timed out */
	uint64_t held;                /* packets waiting for a pend now */
	uint64_t by_default;          /* verdicts no filter made */
	uint64_t unparsed;            /* packets without a usable IP header */
	uint64_t cut_short;           /* headers cut by the copy range:
	                               * dropped, never classified */
	uint64_t bad_msgs;            /* messages weir could not read; one
	                               * that named a packet (received) got
	                               * the fail mode's verdict */
	uint64_t verdict_batches;     /* sends of verdict messages */
	uint64_t busy_reads;          /* switches from the multishot
	                               * receive to recvmmsg reads (load) */
	uint64_t send_errors;         /* failed sends (packets stay queued) */
	uint64_t kernel_errors;       /* requests the kernel refused (an
	                               * NLMSG_ERROR back): a verdict for an
	                               * id it does not hold, a setting; 0
	                               * in a healthy run */
	int last_kernel_error;        /* errno of the newest, 0: none */
	uint64_t early;               /* queued before the bind ack: given
	                               * the fail mode's verdict at once */
};

/* Binds the queues (inside opts->netns when given), installs the
 * engine's pend handler and starts the workers. Returns 0, or -errno
 * with a reason in err; nothing is left running on failure. Bind before
 * steering packets to the queues. */
int weir__live_start(const struct weir__live_opts *opts,
		     struct weir__live **ret, char *err, size_t errlen);

/* Bytes of each packet the kernel copies up from now on (0: 0xffff):
 * WEIR_HEADERS_COPY when no callout in use reads past the headers.
 * Packets already queued keep the range they were queued with. Sent
 * from the caller's thread (a netlink send is one atomic datagram); not
 * concurrently with weir__live_stop. 0 or the first send's -errno. */
int weir__live_set_copy_range(struct weir__live *l, uint32_t copy_range);
/* Whether the kernel sends each packet's conntrack attributes from now
 * on (NFQA_CFG_F_CONNTRACK): off when nothing in use reads them
 * (control/plan.c); packets without them have their conntrack state
 * derived from weir's flows. Same threads and result as
 * weir__live_set_copy_range; after a failed send, weir__live_conntrack
 * still says the state before (some queues may have switched: call
 * again). The kernel's refusal of a sent message is not seen (no ack
 * is asked for, as with the copy range). */
int weir__live_set_conntrack(struct weir__live *l, bool on);
/* Whether packets queued now come with conntrack attributes: 1 (asked
 * for), 0 (not asked for), -EOPNOTSUPP (the kernel has no NFQUEUE
 * conntrack glue). Any thread. */
int weir__live_conntrack(const struct weir__live *l);
/* The connmark value that marks a flow as authorised by the current
 * policy generation (under opts->ctmark_mask), the packet-mark value
 * that asks the rules to set it (under opts->vmark_mask), and per
 * address family whether the loaded policy allows leaving flows in the
 * kernel (it has filters only at the connect and accept layers). ctmark
 * 0 turns it off. Any thread; takes effect at once. */
void weir__live_set_bypass(struct weir__live *l, uint32_t ctmark,
			   uint32_t vmark, bool ok_v4, bool ok_v6);
/* Whether forwarded packets get a flow in the engine's flow table (on
 * at start): off when nothing at ipforward reads flows (control/plan.c).
 * Any thread; takes effect with the next packet. */
void weir__live_set_forward_flows(struct weir__live *l, bool on);

/* Sums the workers' counters. Any thread. */
void weir__live_stats(struct weir__live *l, struct weir__live_stats *ret);

/* Stops: each worker reads what is still queued, gives every held
 * packet the fail mode's verdict, unbinds its queue and ends. The
 * caller removes its steering rules first so that nothing new arrives.
 * The final counters go to *ret_final when given. Frees l. NULL is
 * fine. */
void weir__live_stop(struct weir__live *l, struct weir__live_stats *ret_final);

#endif /* WEIR_CAPTURE_LIVE_H */
