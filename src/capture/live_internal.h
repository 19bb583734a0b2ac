/* Private to src/capture/live*.c: the workers and held packets. */
#ifndef WEIR_CAPTURE_LIVE_INTERNAL_H
#define WEIR_CAPTURE_LIVE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <weir/io.h>

#include "capture/live.h"
#include "capture/nfq.h"
#include "engine/path.h"
#include "io/io_internal.h"

struct weir__live_worker;

/* Interface names by index, cached (names rarely change; a stale name
 * lives at most IFNAME_TTL_NS). */
#define IFNAME_SLOTS 64
struct ifname_slot {
	uint32_t index;
	uint64_t until;
	char name[16];
};
struct ifname_cache {
	struct ifname_slot slot[IFNAME_SLOTS];
};
/* The name of ifindex, "" when unknown. */
const char *weir__ifname(struct ifname_cache *c, uint32_t ifindex,
			 uint64_t now);

/* A packet waiting for a pend to end, or in the middle of its layers.
 * Owned by its worker's held list. */
struct weir__held {
	struct weir__live_worker *w;
	struct weir__held *prev, *next;   /* held list, in id order */
	struct weir_pkt *pkt;             /* owned */
	uint32_t id;                      /* NFQUEUE packet id */
	uint8_t where;                    /* enum weir__path_where */
	uint8_t nsteps, next_step;
	bool replaced;
	bool ale_permit;                  /* an ALE layer permitted it */
	struct weir__step steps[WEIR__PATH_MAX];
	uint64_t flow_id;
	uint64_t pend_id;                 /* the pend it waits for */
	/* Set by the pend handler (any thread), read after the post; the
	 * post lives here so that it cannot fail for memory. */
	struct weir_post resume_req;
	uint8_t end_how, end_action;
	struct weir_pkt *end_replacement;
};

/* Counters are written by the worker only and read by anyone. */
#define LIVE_INC(w, field) \
	atomic_store_explicit(&(w)->n.field, \
		atomic_load_explicit(&(w)->n.field, memory_order_relaxed) + 1, \
		memory_order_relaxed)

struct live_counters {
	_Atomic uint64_t received, accepted, dropped, replaced, bypassed,
		pended, pend_timeouts, held, by_default, unparsed, cut_short, bad_msgs,
		verdict_batches, send_errors, early, busy_reads, own,
		kernel_errors;
	_Atomic int last_kernel_error;    /* errno of the newest one */
};

/* Messages in one receive round or one read that mean load: the worker
 * switches to reads (live_recv.c), and stays reading while reads bring
 * this many (live_worker.c). */
#define LIVE_BUSY 8

/* The multishot receive path (live_recv.c). */
#define RECV_RING_BUFS 64
struct recv_ring {
	struct io_uring_buf_ring *br;     /* mmap'd, registered */
	struct weir_buf *bufs[RECV_RING_BUFS];
	struct weir__io_op op;
	struct weir_post flush_req;
	unsigned round_msgs;              /* messages this round */
	bool registered, armed, flush_posted;
	bool to_drain;                    /* cancelled for recvmmsg reads */
};

struct weir__live_worker {
	struct weir__live *l;
	unsigned index;
	pthread_t thread;
	struct weir_loop *loop;
	struct weir__nfq_sock sock;
	struct weir__verdicts v;
	struct weir__io_op poll_op;
	struct recv_ring rr;              /* used when rr.registered */
	struct weir_timer tick;           /* worker 0: pend + flow expiry */
	struct weir_post drain_req;       /* continue reading later */
	struct weir_post stop_req;
	bool drain_posted;
	struct weir__held *held_head, *held_tail;
	struct weir__held *spare;         /* released records, for reuse */
	unsigned nspare;
	struct ifname_cache ifn;
	bool draining;                    /* stopping: no new pends */
	bool poll_armed;
	bool stopped;                     /* drained: the loop ends */
	uint64_t now;                     /* this batch's clock */
	struct live_counters n;
	/* start-up hand-shake */
	int start_rc;
	char start_err[160];
};

struct weir__live {
	struct weir__live_opts o;
	struct weir_engine *engine;
	struct weir_flow_table *flows;
	unsigned nworkers;
	struct weir__live_worker *workers;
	_Atomic uint32_t bypass_mark;     /* connmark; 0: off */
	_Atomic uint32_t bypass_vmark;    /* packet mark for NF_REPEAT */
	_Atomic bool bypass_ok[2];        /* v4, v6 */
	_Atomic bool forward_flows;       /* forwarded packets get flows */
	_Atomic bool conntrack;           /* F_CONNTRACK asked for */
	size_t own_iflen;                 /* o.own_ifname without its '+' */
	bool own_ifprefix;                /* it ended with '+' */
	pthread_mutex_t start_lock;
	pthread_cond_t start_cond;
	unsigned started;
};

/* live_worker.c */
void *weir__live_worker_main(void *arg);
void weir__live_worker_stop(struct weir__live_worker *w);
/* Sends the collected verdicts. */
void weir__live_flush(struct weir__live_worker *w);
/* Draining and nothing held any more: ends the worker's loop. */
void weir__live_maybe_done(struct weir__live_worker *w);
/* Reads the socket with recvmmsg until it is empty (then arms the
 * receive or the poll again) or a budget is spent. Only while no
 * multishot receive is in flight: the two would reorder messages. */
void weir__live_drain(struct weir__live_worker *w);
/* weir__live_drain() after the loop's other work (also: a receive that
 * could not be armed for want of a submission slot tries again then). */
void weir__live_read_later(struct weir__live_worker *w);

/* Handles one datagram (netlink messages) received into pbuf. */
void weir__live_dgram(struct weir__live_worker *w, void *buf, size_t len,
		      struct weir_buf *pbuf);

/* live_recv.c */
int weir__live_recv_setup(struct weir__live_worker *w);
void weir__live_recv_arm(struct weir__live_worker *w);
void weir__live_recv_cancel(struct weir__live_worker *w);
void weir__live_recv_free(struct weir__live_worker *w);

/* live_path.c */
/* Handles one netlink message from the queue. */
/* Handles one netlink message from the queue; its packet points into
 * pbuf without a copy. */
void weir__live_message(struct weir__live_worker *w, struct nlmsghdr *nlh,
			struct weir_buf *pbuf);
/* The engine's pend handler (installed by weir__live_start). */
void weir__live_pend_end(void *arg, uint64_t cookie, uint64_t pend_id,
			 enum weir_pend_end how, uint8_t action,
			 struct weir_pkt *replacement);
/* Frees the recycled packet records (the worker ends). */
void weir__live_spare_free(struct weir__live_worker *w);
/* Ends every held packet with the fail mode's verdict (stopping). */
void weir__live_release_held(struct weir__live_worker *w);

#endif /* WEIR_CAPTURE_LIVE_INTERNAL_H */
