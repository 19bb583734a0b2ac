/* The live injector's parts: compartments (sockets and TUN devices in a
 * namespace), the sender that runs on the injector's loop, and the
 * object tying them together. Internal to src/inject/.
 */
#ifndef WEIR_INJECT_LIVE_INTERNAL_H
#define WEIR_INJECT_LIVE_INTERNAL_H

#include <net/if.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>

#include <weir/inject.h>
#include <weir/io.h>

#include "io/io_internal.h"

#define WEIR__INJ_DEFAULT_MARK 0x570000u
#define WEIR__INJ_DEFAULT_TUN "weir-inj%d"
/* Packets handed to the kernel per sendmmsg. */
#define WEIR__INJ_BATCH 64
/* A TCP super-packet longer than this is segmented to it before the send
 * and forward paths (the interfaces weir works with have a 1500-byte
 * MTU; a larger packet on the wire needs a GSO-capable socket path). */
#define WEIR__INJ_SEG_MTU 1500u

/* One namespace's injection endpoints. */
struct weir__inj_comp {
	uint32_t id;
	int raw4, raw6;            /* IPPROTO_RAW, IP_HDRINCL, SO_MARK */
	int tun;                   /* IFF_TUN | IFF_NO_PI, non-blocking */
	char tun_name[IF_NAMESIZE];
	int netns;                 /* fd of the namespace (id 0: -1) */
};

/* One packet on its way out: the req it belongs to, the bytes, and the
 * packet whose status it sets. */
struct weir__inj_slot {
	struct weir_inject_req *req;
	struct weir_pkt *pkt;      /* status goes here */
	const uint8_t *data;
	uint32_t len;
};

struct weir_inject_live {
	struct weir_injector *injector;
	struct weir_loop *loop;
	pthread_t thread;
	bool thread_started;
	uint32_t mark;
	struct weir__inj_comp *comps;   /* comps[0]: weir's own namespace */
	size_t ncomps;

	/* Hand-off from injecting threads: a lock-free LIFO of reqs
	 * (linked through backend_[0]) and one post to wake the loop. */
	_Atomic(struct weir_inject_req *) incoming;
	_Atomic bool posted;
	struct weir_post post;
	_Atomic bool stopping;

	/* Loop thread only: reqs being sent, in order (linked through
	 * backend_[0]); each counts its unsent packets in backend_word_[0]
	 * and keeps segments it made in backend_[1] (a weir_nbl). */
	struct weir_inject_req *work, *work_tail;
	struct weir_pkt *cursor;        /* next packet of `work` */
	struct weir__io_op wait_op;     /* POLLOUT after EAGAIN */
	bool waiting;

	_Atomic uint64_t n_reqs, n_packets, n_errors, n_segmented;
};

/* ---- live_ns.c ---- */
/* Opens c's sockets and TUN device in the namespace at `path` (NULL:
 * the calling thread's own). 0 or -errno, with nothing left open. */
int weir__inj_comp_open(struct weir__inj_comp *c, const char *path,
			uint32_t mark, const char *tun_name);
void weir__inj_comp_close(struct weir__inj_comp *c);

/* ---- live_send.c ---- */
/* Moves newly posted reqs to the work list and sends what it can. */
void weir__inj_pump(struct weir_inject_live *l);
/* Finishes every req (work and incoming) with `status`. Loop thread, or
 * any thread once the loop has stopped. */
void weir__inj_fail_all(struct weir_inject_live *l, int status);

#endif /* WEIR_INJECT_LIVE_INTERNAL_H */
