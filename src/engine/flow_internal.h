/* Internal types of the flow table, shared by flow.c (lookup, eviction,
 * expiry), flow_table.c (the table's life), flow_key.c (keys and
 * hashing), flow_tcp.c (TCP state machine) and flow_ctx.c (contexts and
 * remembered decisions).
 *
 * The table is 64 stripes. A flow belongs to the stripe its key hashes
 * to, and its id carries that stripe in the low 6 bits, so a flow is
 * found by key or by id under one lock. Each stripe has its own key
 * buckets, id buckets, counters, and one list per timeout class (TCP
 * state or protocol) in order of last activity: all flows of a class
 * share a timeout, so each list is also in deadline order and expiry pops
 * from the heads.
 *
 * Activity stamps are max(now_ns, the stripe's latest stamp), so a list
 * stays ordered even when threads' clocks disagree a little.
 *
 * Flows that end are unlinked under the lock onto a "grave" list, and
 * their contexts' on_ctx_delete run after the lock is dropped.
 */
#ifndef WEIR_FLOW_INTERNAL_H
#define WEIR_FLOW_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <weir/flow.h>

#define WEIR__FLOW_STRIPE_BITS 6
#define WEIR__FLOW_STRIPES (1u << WEIR__FLOW_STRIPE_BITS)
#define WEIR__FLOW_STRIPE_MASK (WEIR__FLOW_STRIPES - 1u)

/* Timeout classes: one list per class and stripe. */
enum weir__flow_class {
	WEIR__FC_TCP_SYN = 0,
	WEIR__FC_TCP_EST,
	WEIR__FC_TCP_HALF,
	WEIR__FC_TCP_CLOSING,
	WEIR__FC_TCP_CLOSED,
	WEIR__FC_UDP,
	WEIR__FC_ICMP,
	WEIR__FC_OTHER,
	WEIR__FC__COUNT
};

/* Bits of weir__flow.tcp_bits. */
#define WEIR__TCPB_FIN_ORIG   0x01u
#define WEIR__TCPB_FIN_REPLY  0x02u
#define WEIR__TCPB_SEEN_ORIG  0x04u
#define WEIR__TCPB_SEEN_REPLY 0x08u
#define WEIR__TCPB_LASTFIN_REPLY 0x10u  /* the second FIN came from reply */

struct weir__flow_ctx {
	uint16_t layer;
	uint16_t slot;
	uint64_t ctx;
};

struct weir__flow_dec {
	uint16_t layer;
	uint8_t action;
	uint64_t filter_id;
	uint64_t generation;
};

struct weir__flow {
	struct weir__flow *knext;       /* key bucket chain; grave list */
	struct weir__flow *inext;       /* id bucket chain */
	struct weir__flow *prev, *next; /* class list */
	uint64_t id;
	uint64_t hash;
	struct weir_flow_key key;       /* normalized, original direction */
	uint64_t created;
	uint64_t last;
	uint8_t cls;                    /* enum weir__flow_class */
	uint8_t tcp_state;              /* enum weir_flow_tcp_state */
	uint8_t tcp_bits;               /* WEIR__TCPB_* */
	bool seen_reply;
	uint32_t nctx, ctx_cap;
	uint32_t ndec, dec_cap;
	struct weir__flow_ctx *ctx;     /* owned */
	struct weir__flow_dec *dec;     /* owned */
};

struct weir__flow_list {
	struct weir__flow *head, *tail;
};

struct weir__flow_stripe {
	_Alignas(64) pthread_mutex_t lock;  /* one cache line apart */
	struct weir__flow **kb;         /* key buckets */
	struct weir__flow **ib;         /* id buckets */
	struct weir__flow_list lists[WEIR__FC__COUNT];
	uint64_t clock;                 /* latest activity stamp */
	uint64_t n;                     /* flows */
	uint64_t created, expired, deleted, evicted, refused;
	uint64_t contexts;
};

struct weir_flow_table {
	struct weir__flow_stripe *stripes;  /* WEIR__FLOW_STRIPES */
	uint64_t bucket_mask;               /* per stripe */
	uint64_t max_flows;
	int full_policy;
	uint64_t timeout[WEIR__FC__COUNT];
	uint64_t sip[2];                    /* hash key */
	weir_flow_ctx_delete_fn on_ctx_delete;
	void *arg;
	atomic_uint_fast64_t active;        /* flows, for the bound */
	atomic_uint_fast64_t next_seq;      /* ids: seq << 6 | stripe */
	atomic_uint expire_cursor;          /* next stripe to expire */
};

/* What a call ended, to finish after its lock is dropped. */
struct weir__flow_grave {
	struct weir__flow *flows;           /* unlinked, via knext */
	bool one;                           /* a single context too: */
	struct weir__flow_ctx ctx;
	uint64_t flow_id;
};

/* ---- flow_key.c ---- */
/* Copies k with the ignored bytes cleared. -EINVAL for a bad family. */
int weir__flow_key_norm(struct weir_flow_key *ret, const struct weir_flow_key *k);
/* The same hash for a normalized key and its reverse. */
uint64_t weir__flow_key_hash(const uint64_t sip[2], const struct weir_flow_key *k);
/* 0: same direction, 1: reverse, -1: another flow (normalized keys). */
int weir__flow_key_match(const struct weir_flow_key *fk,
			 const struct weir_flow_key *k);

/* ---- flow.c ---- */
/* Locks the stripe of an id and returns its flow, or NULL (stripe still
 * locked: finish with weir__flow_unlock). */
struct weir__flow *weir__flow_lock_id(struct weir_flow_table *t, uint64_t id,
				      struct weir__flow_stripe **ret_st);
/* Runs the grave's callbacks and frees its flows (no lock held). */
void weir__flow_bury(struct weir_flow_table *t, struct weir__flow_grave *g);
/* Unlocks, then buries. */
void weir__flow_unlock(struct weir_flow_table *t, struct weir__flow_stripe *st,
		       struct weir__flow_grave *g);
/* True when f is due at now. */
bool weir__flow_due(const struct weir_flow_table *t, const struct weir__flow *f,
		    uint64_t now);
/* Unlinks f onto the grave; `counter` is the stripe counter to bump. */
void weir__flow_unlink(struct weir_flow_table *t, struct weir__flow_stripe *st,
		       struct weir__flow *f, uint64_t *counter,
		       struct weir__flow_grave *g);
/* Stamps activity at now and files f under its (new) class. */
void weir__flow_refresh(struct weir__flow_stripe *st, struct weir__flow *f,
			uint64_t now);

/* ---- flow_tcp.c ---- */
/* The class of a TCP state. */
uint8_t weir__flow_tcp_class(uint8_t state);

/* Takes every context of callout `slot` out of every flow and hands each
 * to fn (outside the locks), not to on_ctx_delete: the engine uses it
 * when a callout unregisters, with the callout's own flow_delete. Out of
 * memory, the remaining contexts stay (a later drain takes them).
 * Returns how many were taken. */
typedef void (*weir__flow_drain_fn)(void *arg, uint64_t flow_id, int layer,
				    uint64_t ctx);
size_t weir__flow_ctx_drain_slot(struct weir_flow_table *t, uint16_t slot,
				 weir__flow_drain_fn fn, void *arg);

/* ---- flow_ctx.c ---- */
/* Frees a flow's context and decision arrays (not the flow). */
void weir__flow_attach_free(struct weir__flow *f);

#endif /* WEIR_FLOW_INTERNAL_H */
