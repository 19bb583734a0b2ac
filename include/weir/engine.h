/* weir filter engine: sublayers, transactions over filters, per-layer
 * default actions, and classification with WFP's arbitration.
 *
 * Changes are transactions (pf's begin/commit/rollback): a transaction
 * collects filter additions and deletions, and its commit checks them all,
 * asks the callouts (notify), compiles a new classifier for every layer
 * and publishes it in one atomic step. A rejected commit changes nothing.
 * Classification never takes a lock: it reads the published rule set
 * under RCU (liburcu-bp, so any thread may classify without registering).
 *
 *   weir_txn_begin ─▶ add/delete ... ─▶ weir_txn_commit ─▶ publish ─▶ old set
 *                                         │ (checks, notify,           freed after
 *                                         ▼  compile)                  readers drain
 *                                      -errno: nothing changed
 */
#ifndef WEIR_ENGINE_H
#define WEIR_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <weir/filter.h>
#include <weir/packet.h>

#ifdef __cplusplus
extern "C" {
#endif

struct weir_engine;
struct weir_txn;

/* ---- per-packet field values ---------------------------------------- */

/* The values one packet offers to conditions, filled once per packet by
 * weir_fields_from_pkt() (or by hand in tests). `present` has bit
 * (1 << field) for every field with a value; a condition on an absent
 * field does not match. */
struct weir_fields {
	uint64_t present;
	uint8_t family;                     /* AF_INET / AF_INET6 */
	uint8_t src[16];                    /* network order */
	uint8_t dst[16];
	uint64_t num[WEIR_FIELD__COUNT];    /* numeric fields by index */
	char if_in_name[16];
	char if_out_name[16];
	const uint8_t *packet;              /* IP header on; may be NULL */
	uint32_t packet_len;
	uint32_t payload_off;               /* L4 payload start in packet */
};

/* Fills *f from a parsed packet, its metadata and the layer. Interface
 * names are left empty: the capture source fills them from its cache.
 * `cflags` are WEIR_CF_* flags to offer. Returns 0 or -EINVAL (packet
 * not parsed). */
int weir_fields_from_pkt(struct weir_fields *f, const struct weir_pkt *pkt,
			 int layer, uint32_t cflags);

/* ---- engine --------------------------------------------------------- */

/* A new engine with no filters; every layer's default action is permit.
 * NULL on ENOMEM. */
struct weir_engine *weir_engine_new(void);

struct weir_flow_config;
/* The same with settings for its flow table (weir/flow.h): size, full
 * policy, timeouts, hash seed (offline replay fixes it so that flow ids
 * repeat). The config's on_ctx_delete/arg are the engine's own and are
 * ignored. NULL on ENOMEM or a bad config (errno EINVAL). */
struct weir_engine *weir_engine_new_with(const struct weir_flow_config *flows);
/* Frees the engine. No classification may be running. NULL is fine. */
void weir_engine_free(struct weir_engine *engine);

/* What a layer decides when no filter does (permit or block). Takes
 * effect for classifications that start after the call. */
int weir_engine_set_default(struct weir_engine *engine, int layer,
			    int action);

/* Adds a sublayer. Sublayers are evaluated from the highest weight down;
 * the default sublayer (id 0, "default") has weight 0x8000. Returns the
 * new id (> 0) or -EEXIST (name taken), -ENOSPC (64 sublayers). */
int weir_sublayer_add(struct weir_engine *engine, const char *name,
		      uint16_t weight);
/* The id of the sublayer of that name, or -ENOENT. */
int weir_sublayer_find(struct weir_engine *engine, const char *name);

/* ---- transactions ----------------------------------------------------- */

/* Starts a transaction; one at a time per engine (the next waits). NULL
 * on ENOMEM. */
struct weir_txn *weir_txn_begin(struct weir_engine *engine);
/* Adds a filter (copied). Its id is spec->id or, when 0, a new one,
 * stored in *ret_id when given. -EINVAL with a reason in *why for a bad
 * spec, -EEXIST for a taken id. The filter exists once committed. */
int weir_txn_add(struct weir_txn *txn, const struct weir_filter_spec *spec,
		 uint64_t *ret_id, const char **why);
/* Deletes a committed filter or one added in this transaction. -ENOENT. */
int weir_txn_delete(struct weir_txn *txn, uint64_t id);
/* Deletes every filter (a policy reload starts with this). */
void weir_txn_clear(struct weir_txn *txn);
/* Applies the transaction and ends it (txn is freed either way). 0, or a
 * negative errno with nothing changed: a callout refused a filter (its
 * notify error), or -ENOMEM. */
int weir_txn_commit(struct weir_txn *txn);
/* What a commit can tell beyond its return value. */
struct weir_txn_report {
	uint64_t refused_id;   /* the filter a callout's notify refused, 0 */
	int refused_err;       /* the callout's error for it */
};
/* weir_txn_commit() that also fills *ret_report (when given). */
int weir_txn_commit_report(struct weir_txn *txn,
			   struct weir_txn_report *ret_report);

/* Drops the transaction. NULL is fine. */
void weir_txn_abort(struct weir_txn *txn);

/* ---- classification --------------------------------------------------- */

/* The outcome of classifying one packet at one layer. */
struct weir_decision {
	uint8_t action;        /* WEIR_ACTION_PERMIT or WEIR_ACTION_BLOCK */
	bool hard;             /* no lower sublayer could change it */
	bool absorb;           /* a callout took the packet: drop silently */
	bool veto;             /* a callout's block overrode a hard permit */
	bool by_default;       /* no filter decided: the layer default */
	bool pended;           /* a callout will decide later: see pend */
	bool remembered;       /* ALE: the flow's earlier decision */
	bool reauth;           /* ALE: re-authorised after a policy change */
	uint64_t filter_id;    /* the deciding filter, 0 by default */
	uint64_t pend_id;      /* with `pended`: what completion will name */
};

/* One classification request. */
struct weir_classify_in {
	int layer;
	const struct weir_fields *fields;
	struct weir_pkt *pkt;  /* handed to callouts; may be NULL */
	uint64_t flow_id;      /* 0: no flow */
	uint64_t now_ns;       /* CLOCK_MONOTONIC-like time; 0: weir reads
	                        * the clock (replay passes capture time) */
	uint64_t cookie;       /* the caller's word for this packet, handed
	                        * back when a pend completes or times out */
	struct weir_engine *engine_; /* private: set by weir_classify */
};

/* Classifies against the published rule set with WFP's arbitration (see
 * docs/engine.md). Any thread; lock-free. At the ALE connect and accept
 * layers, with a flow id, the flow's decision is remembered and reused
 * (`remembered`) until a commit changes the layer's filters; then the
 * next packet is classified again with WEIR_CF_REAUTH set (`reauth`).
 * Returns 0, or -EINVAL for a bad layer. */
int weir_classify(struct weir_engine *engine, const struct weir_classify_in *in,
		  struct weir_decision *ret);

/* ---- pended classifications (WFP's FwpsPendClassify0) --------------- */

/* Why a pended classification ended. */
enum weir_pend_end {
	WEIR_PEND_COMPLETED = 1, /* weir_pend_complete() */
	WEIR_PEND_TIMED_OUT,     /* weir_pend_expire(): the filter's default */
	WEIR_PEND_CANCELLED,     /* weir_engine_free() */
};

/* Told exactly once per pended classification how it ended: the
 * decision (permit/block), an optional replacement packet (ownership
 * passes to the handler; may be NULL) and the cookie given to
 * weir_classify. Runs on the thread that completed, expired or freed. */
typedef void (*weir_pend_fn)(void *arg, uint64_t cookie, uint64_t pend_id,
			     enum weir_pend_end how, uint8_t action,
			     struct weir_pkt *replacement);

/* Installs the handler (the capture source's) and the bounds: at most
 * `max` classifications pended at once, each for at most `timeout_ns`.
 * Defaults: no handler (pending is refused), 4096, 5 s. While pends are
 * held, removing the handler or raising `max` past the table is -EBUSY. */
int weir_engine_set_pend(struct weir_engine *engine, weir_pend_fn fn,
			 void *arg, uint32_t max, uint64_t timeout_ns);

/* Completes a pended classification from any thread. 0; -ETIMEDOUT when
 * it had already timed out (its default was applied); -ENOENT when no
 * such pend exists (never, or already completed); -EINVAL for an action
 * other than permit or block. On error `replacement` stays the caller's. */
int weir_pend_complete(struct weir_engine *engine, uint64_t pend_id,
		       uint8_t action, struct weir_pkt *replacement);

/* Ends every pend whose time is up (at `now_ns`, 0 = the clock) with its
 * filter's default. Returns how many. Any thread. */
size_t weir_pend_expire(struct weir_engine *engine, uint64_t now_ns);

/* Pends currently held. */
uint32_t weir_pend_count(struct weir_engine *engine);

/* A number that changes whenever a commit changes the layer's filters
 * (0 before the first such commit). ALE decisions remembered per flow
 * are re-authorised when it moved on. */
uint64_t weir_layer_generation(struct weir_engine *engine, int layer);

/* The engine's flow table (weir/flow.h): the capture source looks flows
 * up there and passes their ids in weir_classify_in.flow_id. */
struct weir_flow_table *weir_engine_flows(struct weir_engine *engine);

/* Per-engine objects of the modules built on the engine (the injector of
 * inject.h), which the engine keeps but never looks into. */
enum weir_engine_slot {
	WEIR_ENGINE_SLOT_INJECTOR = 0,
	WEIR_ENGINE_SLOT__COUNT = 4,
};
/* Sets slot `slot` to `desired` if it holds `expected` (compare and
 * swap). 0, -EBUSY (it held something else) or -EINVAL. Any thread. */
int weir_engine_slot_swap(struct weir_engine *engine, unsigned slot,
			  void *expected, void *desired);
/* What slot `slot` holds (NULL for a bad slot). Any thread; an acquire
 * load, so what the setter wrote before is visible. */
void *weir_engine_slot(struct weir_engine *engine, unsigned slot);

/* A committed filter as the engine holds it. */
struct weir_filter_info {
	uint64_t id;
	char name[WEIR_NAME_MAX];
	int layer;
	uint16_t sublayer;
	uint8_t action;             /* enum weir_action */
	uint32_t flags;
	uint64_t weight;            /* effective */
	char callout[WEIR_NAME_MAX];
	uint64_t hits;
};

/* Fills *ret with filter `id`. 0 or -ENOENT. */
int weir_filter_get(struct weir_engine *engine, uint64_t id,
		    struct weir_filter_info *ret);

/* Per-filter hit counters since the filter was added. -ENOENT. */
int weir_filter_hits(struct weir_engine *engine, uint64_t id,
		     uint64_t *ret_hits);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_ENGINE_H */
