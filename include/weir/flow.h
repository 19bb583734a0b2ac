/* weir flow table: the flows the filter engine has seen, with their
 * timeouts, TCP close tracking, callout contexts and remembered ALE
 * decisions (after WFP's flow handles, FwpsFlowAssociateContext0 and
 * flowDeleteFn).
 *
 * A flow is keyed by its 5-tuple and compartment. A key and its reverse
 * (addresses and ports swapped) find the same flow; a lookup says whether
 * the packet goes the way of the packet that created the flow (original)
 * or back (reply). Each flow gets a 64-bit id that is never reused, so an
 * id kept across threads or callbacks is either the same flow or -ENOENT.
 *
 * Time is the caller's: every call that can start, refresh or end a flow
 * takes `now_ns` (any monotonic nanosecond clock; the table never reads
 * one), so replaying a capture gives the same flows every time. A flow is
 * due when now_ns >= its last activity + the timeout of its protocol and
 * state; a due flow is gone for every call given such a `now_ns`, whether
 * weir_flow_expire() has reaped it yet or not (calls that take no time,
 * on contexts, decisions and info, still reach it until it is reaped).
 *
 *   lookup(CREATE) ─▶ flow (id) ─▶ tcp_update / touch ─▶ idle timeout,
 *                       │ ctx_set, decision_set          delete, eviction
 *                       ▼                                or table free
 *                     on_ctx_delete once per context ◀────┘
 *
 * Keys. Addresses are in network order (IPv4 in the first 4 bytes; the
 * other 12 are ignored), ports in host order. Protocols without ports use
 * 0 for both. ICMP and ICMPv6 queries that carry an identifier (echo,
 * timestamp, information, address mask) use the identifier as both sport
 * and dport, so a request and its reply (addresses swapped, same id) are
 * one flow and each ping session is its own flow; other ICMP messages use
 * ports 0. ICMP errors belong to the flow of the packet they quote (see
 * weir_flow_key_from_pdesc()).
 *
 * TCP. weir_flow_tcp_update() follows the connection from the flags the
 * caller sees (no sequence numbers are checked) and picks the timeout:
 *
 *   NONE ──SYN──▶ SYN_SENT ──SYN/ACK──▶ SYN_RECV ──ACK──▶ ESTABLISHED
 *     └─ segments seen from both sides (picked up mid-stream) ─┘
 *   ESTABLISHED ──FIN──▶ FIN_WAIT ──FIN (other side)──▶ CLOSING
 *   CLOSING ──ACK from the side that closed first──▶ TIME_WAIT
 *   any ──RST──▶ CLOSED;  TIME_WAIT/CLOSED ──SYN──▶ reused (see below)
 *
 *   state                     timeout
 *   NONE, SYN_SENT, SYN_RECV  tcp_syn
 *   ESTABLISHED               tcp_established
 *   FIN_WAIT (one FIN)        tcp_half_closed
 *   CLOSING (FIN both ways)   tcp_closing
 *   TIME_WAIT, CLOSED (RST)   tcp_closed
 *
 * Because flags are trusted, a forged RST or FIN only shortens a flow's
 * timeout: it never grants anything.
 *
 * Full table. At most max_flows flows exist. With WEIR_FLOW_FULL_EVICT
 * (the default) creating one more removes the flow nearest to its
 * deadline (counted as expired if it is already due, else as evicted):
 * half-open, closed and datagram flows go long before established TCP
 * connections. Stripes another thread holds at that moment are skipped,
 * so under contention the victim is the nearest among the rest. With
 * WEIR_FLOW_FULL_REFUSE the creation fails (-ENOSPC, counted as
 * refused). Either way the caller applies its own policy to the packet
 * (fail open or closed).
 *
 * Threads. Every function except weir_flow_table_new() and
 * weir_flow_table_free() may be called from any thread at any time. The
 * table stripes its locks over the hash (64 stripes); a call holds at most
 * one stripe lock and never runs on_ctx_delete while holding it, so the
 * callback may call back into the table (but not free it).
 *
 * Errors are negative errno values; ret_* arguments are written only on
 * success.
 */
#ifndef WEIR_FLOW_H
#define WEIR_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct weir_flow_table;
struct weir_pdesc;

/* What identifies a flow. Compare and copy it whole; padding is ignored. */
struct weir_flow_key {
	uint32_t compartment;   /* weir_compartment id, 0 = weir's own */
	uint8_t family;         /* AF_INET or AF_INET6 */
	uint8_t proto;          /* IPPROTO_* after extension headers */
	uint16_t sport;         /* host order; ICMP query: the identifier */
	uint16_t dport;         /* host order; ICMP query: the identifier */
	uint8_t src[16];        /* network order; IPv4 in the first 4 bytes */
	uint8_t dst[16];
};

/* Idle timeouts in nanoseconds, per protocol and TCP state (see above).
 * 0 takes the default, given after each field. */
struct weir_flow_timeouts {
	uint64_t tcp_syn;          /* handshake not done: 120 s */
	uint64_t tcp_established;  /* 5 days */
	uint64_t tcp_half_closed;  /* FIN from one side: 120 s */
	uint64_t tcp_closing;      /* FIN from both sides: 60 s */
	uint64_t tcp_closed;       /* RST, or final ACK after both FINs: 10 s */
	uint64_t udp;              /* UDP and UDP-Lite: 60 s */
	uint64_t icmp;             /* ICMP and ICMPv6: 30 s */
	uint64_t other;            /* every other protocol: 600 s */
};

/* Called exactly once for each context a flow held, when the context is
 * replaced or removed, or its flow ends (timeout, delete, eviction, table
 * free). The flow is already gone from the table (or the context from the
 * flow) when it runs; it runs on the thread whose call ended it, with no
 * table lock held. */
typedef void (*weir_flow_ctx_delete_fn)(void *arg, uint64_t flow_id,
					int layer, uint16_t callout_slot,
					uint64_t ctx);

/* weir_flow_config.full_policy */
enum weir_flow_full {
	WEIR_FLOW_FULL_EVICT = 0,  /* remove the flow nearest its deadline */
	WEIR_FLOW_FULL_REFUSE,     /* fail the creation with -ENOSPC */
};

/* Table settings. All-zero is valid: defaults everywhere, no callback. */
struct weir_flow_config {
	size_t max_flows;          /* 0: 65536; at most WEIR_FLOW_MAX_FLOWS */
	int full_policy;           /* enum weir_flow_full */
	uint64_t hash_seed;        /* 0: random. Set it for bit-for-bit
	                            * repeatable eviction in offline replay */
	struct weir_flow_timeouts timeouts;
	weir_flow_ctx_delete_fn on_ctx_delete;  /* may be NULL */
	void *arg;                 /* handed to on_ctx_delete */
};

#define WEIR_FLOW_MAX_FLOWS ((size_t)1 << 26)

/* A new, empty table. cfg NULL means all defaults. NULL with errno EINVAL
 * (max_flows too big, unknown full_policy) or ENOMEM. */
struct weir_flow_table *weir_flow_table_new(const struct weir_flow_config *cfg);

/* Ends every flow, calling on_ctx_delete for each remaining context (the
 * callback must not call into this table), and frees the table. No other
 * call may be running or start. NULL is fine. */
void weir_flow_table_free(struct weir_flow_table *t);

/* ---- keys ---------------------------------------------------------- */

/* Bits of weir_flow_key_from_pdesc()'s *ret_kflags. */
#define WEIR_FLOWK_RELATED 0x1u  /* an ICMP error: the key is that of the
                                  * flow it quotes, turned the way the error
                                  * travels. Look it up without
                                  * WEIR_FLOW_CREATE; with WEIR_FLOW_NOTOUCH
                                  * if errors must not keep a flow alive */

/* Fills *ret_key from a parsed packet by the rules above. ret_kflags may
 * be NULL. -EINVAL: no IP header parsed (pd->flags lacks WEIR_PD_L3);
 * -ENODATA: a TCP/UDP packet without its ports (a later fragment or a cut
 * L4 header), or an ICMP error whose quote did not parse. An ICMP error
 * about an ICMP query maps to the query's peers with ports 0 (the quoted
 * identifier is not in the descriptor). */
int weir_flow_key_from_pdesc(struct weir_flow_key *ret_key,
			     const struct weir_pdesc *pd, uint32_t compartment,
			     unsigned *ret_kflags);

/* Writes k's reverse (addresses and ports swapped) to *ret_rev. */
void weir_flow_key_reverse(struct weir_flow_key *ret_rev,
			   const struct weir_flow_key *k);

/* ---- flows --------------------------------------------------------- */

/* flags of weir_flow_lookup() */
#define WEIR_FLOW_CREATE  0x1u   /* create the flow when there is none */
#define WEIR_FLOW_NOTOUCH 0x2u   /* a query: do not refresh the timeout or
                                  * mark the reply direction seen */

/* Bits of weir_flow_lookup()'s *ret_info. */
#define WEIR_FLOWI_NEW         0x1u  /* created by this call: this is the
                                      * flow's first packet */
#define WEIR_FLOWI_REPLY       0x2u  /* the packet goes against the flow's
                                      * first packet */
#define WEIR_FLOWI_FIRST_REPLY 0x4u  /* the first reply-direction packet:
                                      * both sides have now spoken */
#define WEIR_FLOWI_ANSWERED    0x8u  /* a reply had been seen before this
                                      * packet (conntrack's ESTABLISHED) */

/* Finds the flow of a packet with key k, in either direction, refreshing
 * its timeout (unless WEIR_FLOW_NOTOUCH). A flow due at now_ns is ended
 * first (contexts deleted) and then treated as absent. With
 * WEIR_FLOW_CREATE an absent flow is created with k as its original
 * direction. Writes its id and WEIR_FLOWI_* bits (ret_info may be NULL).
 * -EINVAL (bad family or arguments), -ENOENT (absent, no CREATE),
 * -ENOSPC (full, WEIR_FLOW_FULL_REFUSE), -ENOMEM. */
int weir_flow_lookup(struct weir_flow_table *t, const struct weir_flow_key *k,
		     uint64_t now_ns, unsigned flags, uint64_t *ret_flow_id,
		     unsigned *ret_info);

/* Records a packet of the flow: the timeout starts again from now_ns.
 * -ENOENT: no such flow, or it was due at now_ns (then it ends). */
int weir_flow_touch(struct weir_flow_table *t, uint64_t flow_id,
		    uint64_t now_ns);

/* Return value of weir_flow_tcp_update() besides 0 and -errno. */
#define WEIR_FLOW_TCP_REUSED 1

/* TCP connection states (see the diagram above). */
enum weir_flow_tcp_state {
	WEIR_FLOW_TCP_NONE = 0,      /* nothing seen yet / not TCP */
	WEIR_FLOW_TCP_SYN_SENT,
	WEIR_FLOW_TCP_SYN_RECV,
	WEIR_FLOW_TCP_ESTABLISHED,
	WEIR_FLOW_TCP_FIN_WAIT,      /* FIN from one side */
	WEIR_FLOW_TCP_CLOSING,       /* FIN from both sides */
	WEIR_FLOW_TCP_TIME_WAIT,     /* final ACK seen */
	WEIR_FLOW_TCP_CLOSED,        /* RST */
	WEIR_FLOW_TCP__COUNT
};

/* "none", "syn-sent", ..., "closed"; "?" for anything else. */
const char *weir_flow_tcp_state_name(int state);

/* Feeds one TCP segment's flags (WEIR_TCP_* of pdesc.h) to the flow's
 * state machine and refreshes the timeout with the new state's. `reply`
 * is the direction weir_flow_lookup() reported. Returns 0, or
 * WEIR_FLOW_TCP_REUSED when a SYN opens a new connection on a flow in
 * TIME_WAIT or CLOSED: the flow restarts in SYN_SENT, but its contexts and
 * decisions belong to the old connection, so callers normally delete it
 * and look the packet up again. -ENOENT (no such flow or due at now_ns),
 * -EINVAL (not a TCP flow). */
int weir_flow_tcp_update(struct weir_flow_table *t, uint64_t flow_id,
			 bool reply, uint8_t tcp_flags, uint64_t now_ns);

/* Ends a flow now: on_ctx_delete runs for each of its contexts before
 * this returns. 0 or -ENOENT. */
int weir_flow_delete(struct weir_flow_table *t, uint64_t flow_id);

/* Ends up to `max` flows due at now_ns (0: no limit), the longest-idle
 * first within each protocol and state, visiting the stripes in turn
 * from where the previous call stopped. Returns how many ended. Call it
 * from a timer; lookups end the flows they meet on their own. */
size_t weir_flow_expire(struct weir_flow_table *t, uint64_t now_ns,
			size_t max);

/* A flow as it stands. */
struct weir_flow_info {
	struct weir_flow_key key;  /* as its first packet had it */
	uint64_t created_ns;
	uint64_t last_ns;          /* last refresh (see weir_flow_touch) */
	uint64_t expires_ns;       /* last_ns + the current timeout */
	int tcp_state;             /* enum weir_flow_tcp_state */
	bool seen_reply;           /* a reply-direction packet was seen */
	uint32_t contexts;
	uint32_t decisions;
};

/* Fills *ret. 0 or -ENOENT. Takes no time: a due flow not yet reaped is
 * still reported. */
int weir_flow_info_get(struct weir_flow_table *t, uint64_t flow_id,
		       struct weir_flow_info *ret);

/* ---- contexts (per flow, layer and callout) -------------------------- */

/* Associates ctx with (flow, layer, callout slot). An existing different
 * context there is replaced and on_ctx_delete runs for the old one before
 * this returns; setting the same value again changes nothing. The table
 * owns ctx from a 0 return until on_ctx_delete. -ENOENT (no such flow:
 * the caller keeps ctx), -EINVAL (layer not a WEIR_LAYER_*), -ENOMEM. */
int weir_flow_ctx_set(struct weir_flow_table *t, uint64_t flow_id, int layer,
		      uint16_t callout_slot, uint64_t ctx);

/* The context at (flow, layer, slot). -ENOENT (no such flow), -ENODATA
 * (no context there), -EINVAL. The value stays the table's: it may be
 * deleted by another thread as soon as this returns, so callers that
 * dereference it must arrange their own lifetime (as WFP callouts do). */
int weir_flow_ctx_get(struct weir_flow_table *t, uint64_t flow_id, int layer,
		      uint16_t callout_slot, uint64_t *ret_ctx);

/* Removes the context at (flow, layer, slot); on_ctx_delete runs for it
 * before this returns. -ENOENT, -ENODATA, -EINVAL. */
int weir_flow_ctx_remove(struct weir_flow_table *t, uint64_t flow_id,
			 int layer, uint16_t callout_slot);

/* ---- remembered decisions (ALE connect/accept) ----------------------- */

/* Remembers the decision a layer made on the flow's first packet: the
 * action (WEIR_ACTION_PERMIT or WEIR_ACTION_BLOCK), the deciding filter
 * (0 = the layer default) and the policy generation it was made under,
 * replacing an earlier one for that layer. -ENOENT, -EINVAL, -ENOMEM. */
int weir_flow_decision_set(struct weir_flow_table *t, uint64_t flow_id,
			   int layer, uint8_t action, uint64_t filter_id,
			   uint64_t generation);

/* The remembered decision of a layer. A generation older than the
 * layer's current one means the policy changed since: re-authorize (and
 * set the new decision). Any ret_* may be NULL. -ENOENT (no such flow),
 * -ENODATA (no decision for that layer), -EINVAL. */
int weir_flow_decision_get(struct weir_flow_table *t, uint64_t flow_id,
			   int layer, uint8_t *ret_action,
			   uint64_t *ret_filter_id, uint64_t *ret_generation);

/* ---- statistics ------------------------------------------------------ */

/* Counters since the table was made. Once no call is running,
 * created == active + expired + deleted + evicted. */
struct weir_flow_stats {
	uint64_t active;     /* flows now */
	uint64_t created;
	uint64_t expired;    /* ended by their idle timeout */
	uint64_t deleted;    /* ended by weir_flow_delete() */
	uint64_t evicted;    /* ended early to make room (full table) */
	uint64_t refused;    /* creations refused for a full table
	                      * (FULL_REFUSE, or no victim free) */
	uint64_t contexts;   /* contexts held now */
};

/* Sums the stripes' counters into *ret (each stripe read under its lock;
 * a consistent total only when no call is running). 0 or -EINVAL. */
int weir_flow_stats(struct weir_flow_table *t, struct weir_flow_stats *ret);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_FLOW_H */
