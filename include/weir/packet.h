/* weir packet core: packets, packet lists, metadata and per-thread pools.
 *
 * A weir_nbl ("net buffer list", after WFP's NET_BUFFER_LIST) is an ordered
 * list of one or more weir_pkt. Each packet points into a reference-counted
 * data buffer that starts with headroom, so headers can be prepended without
 * a copy:
 *
 *     weir_nbl ──first──▶ weir_pkt ──next──▶ weir_pkt ──next──▶ NULL
 *                           │ data, len, meta, pd, status
 *                           ▼
 *               buffer: [ headroom | data ........ len | tailroom ]
 *                        ▲ shared by clones, refcounted, pooled
 *
 * Packets and lists come from a weir_pool. Every thread has its own pool
 * (weir_pool_thread()), so the fast path never calls malloc: blocks are
 * recycled through a thread-local free list. An object may be freed from any
 * thread; a foreign free goes back to its owner through a lock-free stack.
 *
 * Ownership rules, in one place:
 *  - weir_nbl_new()/weir_pkt_alloc()/clone/copy return an object the caller
 *    owns (one reference), or NULL with nothing allocated.
 *  - weir_nbl_add() transfers the packet into the list; the list frees it.
 *  - weir_nbl_unref() drops one reference; the last one frees every packet.
 *  - A packet whose buffer is shared with a clone is read-only. Every
 *    function in weir that writes packet bytes calls weir_pkt_make_writable()
 *    first; code writing through pkt->data by hand must do the same.
 */
#ifndef WEIR_PACKET_H
#define WEIR_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <weir/pdesc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Direction of a packet relative to the host that classifies it. */
enum weir_direction {
	WEIR_DIR_NONE = 0,
	WEIR_DIR_INBOUND,
	WEIR_DIR_OUTBOUND,
	WEIR_DIR_FORWARD,
};

/* State of the checksums as the capture source reported them. */
enum weir_csum_state {
	WEIR_CSUM_UNKNOWN = 0,  /* nobody checked: verify before trusting */
	WEIR_CSUM_VERIFIED,     /* the kernel or NIC verified the L4 sum */
	WEIR_CSUM_PARTIAL,      /* L4 field holds only the pseudo-header sum
	                         * (offload/GSO); the payload sum is added by
	                         * the stack on transmit. See csum.h. */
};

/* Bits of weir_pkt_meta.flags telling which optional fields are valid. */
enum weir_meta_flag {
	WEIR_META_UID      = 1u << 0,  /* uid is valid */
	WEIR_META_GID      = 1u << 1,  /* gid is valid */
	WEIR_META_CT       = 1u << 2,  /* ct_state is valid; ct_id too
	                                * when the kernel reported it
	                                * (else 0: ct_state came from
	                                * weir's flows) */
	WEIR_META_GSO      = 1u << 3,  /* a GSO super-packet (may exceed MTU) */
	WEIR_META_MARK     = 1u << 4,  /* mark is valid */
	WEIR_META_LOOPBACK = 1u << 5,  /* seen on a loopback interface */
	WEIR_META_QUEUED   = 1u << 6,  /* queue_id names a held kernel packet */
};

/* Per-packet metadata: what the capture source knew besides the bytes.
 * All-zero is a valid "nothing known" state. */
struct weir_pkt_meta {
	uint64_t timestamp_ns;  /* capture time, CLOCK_REALTIME, 0 = unknown */
	uint32_t flags;         /* enum weir_meta_flag */
	uint16_t layer;         /* engine layer id (engine.h), 0 = unset */
	uint8_t direction;      /* enum weir_direction */
	uint8_t family;         /* AF_INET, AF_INET6 or 0 */
	uint32_t ifindex_in;    /* 0 = none */
	uint32_t ifindex_out;   /* 0 = none */
	uint32_t compartment;   /* weir compartment id, 0 = weir's own netns */
	uint32_t mark;          /* skb mark */
	uint32_t ct_state;      /* conntrack ctinfo (IP_CT_*) */
	uint32_t ct_id;         /* conntrack id */
	uint32_t uid, gid;      /* owning socket, see WEIR_META_UID/GID */
	uint32_t queue_id;      /* NFQUEUE packet id, see WEIR_META_QUEUED */
	uint16_t queue_num;     /* NFQUEUE number */
	uint8_t csum_state;     /* enum weir_csum_state */
	uint8_t reserved;
	uint32_t inject_id;     /* record of the weir injection that made this
	                         * packet, 0 = none (inject.h) */
};

struct weir_pool;
struct weir_buf;  /* private: refcounted data storage */

/* One packet. Fields are public for reading; write `data` bytes only after
 * weir_pkt_make_writable(), and change len/data only through push/pull/
 * put/trim. `pd` is valid after weir_pkt_parse() until the bytes change;
 * weir's rewrite functions keep it up to date. */
struct weir_pkt {
	struct weir_pkt *next;        /* next packet of the same list */
	uint8_t *data;                /* first byte of the IP header */
	uint32_t len;                 /* bytes from data */
	int status;                   /* completion status: 0 or -errno */
	struct weir_pkt_meta meta;
	struct weir_pdesc pd;         /* parse result, see weir_pkt_parse() */
	struct weir_buf *buf_;        /* private */
};

/* A list of packets that travel together (one injection, one completion). */
struct weir_nbl {
	struct weir_pkt *first;       /* read-only; NULL when empty */
	struct weir_pkt *last_;       /* private */
	uint32_t count;               /* read-only: packets in the list */
	int status;                   /* completion status: 0 or -errno */
#ifdef __cplusplus
	uint32_t refcnt_;             /* private (atomic in C) */
#else
	_Atomic uint32_t refcnt_;     /* private */
#endif
};

/* ---- pools --------------------------------------------------------- */

/* The calling thread's pool, created on first use (the only malloc on this
 * path) and released when the thread exits; blocks still in use keep it
 * alive until they are freed. Returns NULL only when out of memory. */
struct weir_pool *weir_pool_thread(void);

/* Counters of one pool, for tests and stats. */
struct weir_pool_stats {
	uint64_t allocs;        /* blocks handed out */
	uint64_t frees_local;   /* returned by the owner thread */
	uint64_t frees_remote;  /* returned by other threads */
	uint64_t slab_mallocs;  /* slabs obtained from malloc */
	uint64_t oversize;      /* buffers too big for a class (malloc'd) */
	uint64_t in_use;        /* blocks currently out */
};
/* Fills *ret_stats for `pool` (NULL = this thread's pool). Owner thread only. */
int weir_pool_stats(struct weir_pool *pool, struct weir_pool_stats *ret_stats);

/* Largest packet a pooled buffer holds; bigger ones fall back to malloc. */
#define WEIR_PKT_MAX_POOLED 65536u
/* Headroom that weir_pkt_alloc() leaves in front of the data by default. */
#define WEIR_PKT_HEADROOM 128u

/* ---- packets ------------------------------------------------------- */

/* A packet of `len` uninitialised bytes with at least `headroom` bytes in
 * front and no tailroom promise. Caller owns it. NULL on ENOMEM. */
struct weir_pkt *weir_pkt_alloc(uint32_t len, uint32_t headroom);
/* A packet holding a copy of bytes[0..len). Caller owns it. */
struct weir_pkt *weir_pkt_from_bytes(const void *bytes, uint32_t len);
/* Frees a packet that is in no list. NULL is accepted. */
void weir_pkt_free(struct weir_pkt *pkt);

/* A new packet sharing pkt's bytes read-only (meta and pd copied). */
struct weir_pkt *weir_pkt_clone(const struct weir_pkt *pkt);
/* A new packet with a private copy of the bytes (meta and pd copied). */
struct weir_pkt *weir_pkt_copy(const struct weir_pkt *pkt);

/* True when another packet shares this packet's bytes. */
bool weir_pkt_is_shared(const struct weir_pkt *pkt);
/* Makes the bytes private (copies them if shared). 0 or -ENOMEM; on
 * failure the packet is unchanged and still shared. */
int weir_pkt_make_writable(struct weir_pkt *pkt);

uint32_t weir_pkt_headroom(const struct weir_pkt *pkt);
uint32_t weir_pkt_tailroom(const struct weir_pkt *pkt);
/* Prepends n bytes (data moves back); returns the new data pointer, or
 * NULL (-ENOSPC) when headroom is short. Makes the packet writable. */
uint8_t *weir_pkt_push(struct weir_pkt *pkt, uint32_t n);
/* Removes n bytes from the front; NULL if len < n. */
uint8_t *weir_pkt_pull(struct weir_pkt *pkt, uint32_t n);
/* Grows the packet by n bytes at the end, reallocating the buffer when the
 * tailroom is short (data may move). 0, -ENOMEM or -EMSGSIZE (> 16 MiB). */
int weir_pkt_put(struct weir_pkt *pkt, uint32_t n);
/* Shortens the packet to len bytes (no-op when already shorter). */
void weir_pkt_trim(struct weir_pkt *pkt, uint32_t len);

/* Parses pkt's bytes into pkt->pd (see pdesc.h); returns weir_parse()'s
 * result. */
int weir_pkt_parse(struct weir_pkt *pkt);

/* ---- packet lists ---------------------------------------------------- */

/* An empty list with one reference owned by the caller. NULL on ENOMEM. */
struct weir_nbl *weir_nbl_new(void);
/* Convenience: a list holding one packet with a copy of bytes[0..len). */
struct weir_nbl *weir_nbl_from_bytes(const void *bytes, uint32_t len);
/* Appends pkt (which must be in no list); the list now owns it. */
void weir_nbl_add(struct weir_nbl *nbl, struct weir_pkt *pkt);
/* Detaches and returns the first packet (caller owns it), or NULL. */
struct weir_pkt *weir_nbl_pop(struct weir_nbl *nbl);

/* Takes one more reference; returns nbl. Any thread. */
struct weir_nbl *weir_nbl_ref(struct weir_nbl *nbl);
/* Drops one reference; the last frees the list and its packets. Accepts
 * NULL; always returns NULL so callers can write `l = weir_nbl_unref(l)`.
 * Any thread. */
struct weir_nbl *weir_nbl_unref(struct weir_nbl *nbl);

/* A new list whose packets share nbl's bytes read-only. Caller owns it.
 * NULL on ENOMEM, with nothing allocated. */
struct weir_nbl *weir_nbl_clone(const struct weir_nbl *nbl);
/* A new list with private copies of every packet. Same ownership. */
struct weir_nbl *weir_nbl_copy(const struct weir_nbl *nbl);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_PACKET_H */
