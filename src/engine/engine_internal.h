/* Internal types of the filter engine, shared by src/engine/ files.
 *
 * A committed filter (struct weir__filter) is immutable apart from its
 * atomic hit counter, and refcounted: every published rule set that lists
 * it holds a reference, so a commit can reuse unchanged filters and the
 * last rule set to drop one frees it (after readers drained).
 *
 * A rule set holds, per layer, the filters in evaluation order ("rank"):
 * sublayer weight descending, then filter weight descending, then the
 * order they were added in. Each sublayer is a contiguous rank range.
 */
#ifndef WEIR_ENGINE_INTERNAL_H
#define WEIR_ENGINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <weir/callout.h>
#include <weir/engine.h>
#include <weir/filter.h>

#define WEIR__MAX_SUBLAYERS 64
#define WEIR__MAX_CALLOUTS 256
#define WEIR__MAX_SET 65536

/* A condition as the engine keeps it: the spec's, with its own set. */
struct weir__cond {
	uint16_t field;
	uint8_t match;
	uint8_t width;
	uint32_t offset;
	struct weir_val v;
	struct weir_val *set;        /* owned */
	uint32_t set_len;
};

/* Conditions on one field: any of them may match (WFP's OR). */
struct weir__group {
	uint16_t field;
	uint16_t first;              /* index into conds */
	uint16_t count;
};

struct weir__filter {
	atomic_uint refcnt;
	atomic_ullong hits;
	uint64_t id;
	uint64_t weight;             /* effective weight */
	uint64_t seq;                /* order of addition: ties go first-in */
	uint64_t stamp;              /* commit bookkeeping, under txn_lock */
	uint16_t layer;
	uint16_t sublayer;
	uint8_t action;
	uint32_t flags;
	uint16_t callout_slot;       /* for callout actions */
	uint64_t context;
	char name[WEIR_NAME_MAX];
	char *params;                /* owned, never NULL */
	uint32_t ncond;
	struct weir__cond *conds;    /* owned, sorted by field */
	uint32_t ngroup;
	struct weir__group *groups;  /* owned */
	uint32_t rank_hint;          /* its rank in the last rule set built,
	                              * under txn_lock (weir__filter_hits) */
};

/* What arbitration reads of the filter at one rank, copied when the rule
 * set is built: a match that the classifier's record does not decide (a
 * callout, a hard filter, an id outside the record's window, the linear
 * evaluator) reads this line and not the filter, which is a cache miss
 * more at 100k filters.
 *
 * hits counts this rule set's matches of the filter on this line; the
 * records count the matches they decide (classifier.c). Freeing the rule
 * set (after readers drained, under txn_lock) adds both to the filter's
 * own count; weir__filter_hits sums all three under txn_lock. That sum
 * is exact, but for the instant of a record count's wrap (tss_table.h,
 * rec_count). */
struct weir__rank {
	atomic_ullong hits;
	uint64_t id;
	uint8_t action;
	bool hard;                   /* WEIR_FILTER_CLEAR_ACTION_RIGHT */
	uint8_t pad[14];             /* two a cache line, never split */
};

_Static_assert(sizeof(struct weir__rank) == 32, "two ranks a line");

/* One sublayer's part of a layer: ranks [first, end). */
struct weir__sub_range {
	uint16_t sublayer;
	uint32_t first;
	uint32_t end;
};

struct weir__cls;   /* compiled classifier (classifier.c) */

struct weir__layer_rules {
	uint32_t n;
	struct weir__filter **f;     /* rank order; references held */
	struct weir__rank *ranks;    /* [n], 64-byte aligned */
	uint32_t nsub;
	struct weir__sub_range *subs;
	struct weir__cls *cls;       /* NULL: use the linear evaluator */
	uint64_t generation;         /* changes whenever the filters do */
};

struct weir__ruleset {
	struct weir__layer_rules layers[WEIR_LAYER__COUNT];
};

struct weir__sublayer {
	char name[WEIR_NAME_MAX];
	uint16_t weight;
	bool used;
};

/* A callout name that filters may refer to; ops is NULL while the
 * callout is not registered. */
struct weir__callout_slot {
	char name[WEIR_NAME_MAX];
	struct weir_callout *ops;           /* RCU-published copy */
};

/* A growable array of filter references. */
struct weir__fvec {
	struct weir__filter **f;
	uint32_t n, cap;
};

struct weir__pend;

/* Pended classifications: a hash by id and a list by deadline (pends
 * share one timeout, so arrival order is deadline order). */
struct weir__pends {
	pthread_mutex_t lock;
	weir_pend_fn fn;
	void *arg;
	uint32_t max, count;
	uint64_t timeout_ns;
	uint64_t next_id;
	uint32_t nbucket;                /* power of two */
	struct weir__pend **buckets;
	struct weir__pend *head, *tail;  /* oldest first */
	uint64_t expired[256];           /* recently timed-out ids */
	uint32_t expired_pos;
};

struct weir_engine {
	pthread_mutex_t txn_lock;            /* one transaction at a time;
	                                      * guards `all` */
	pthread_mutex_t meta_lock;           /* sublayers, callout slots */
	struct weir__ruleset *rs;            /* RCU-published */
	struct weir__fvec all[WEIR_LAYER__COUNT]; /* committed, incl. disabled */
	struct weir__filter **byid;          /* `all` sorted by id (byid.c),
	                                      * NULL: search `all` */
	uint32_t nbyid;
	_Atomic uint8_t defaults[WEIR_LAYER__COUNT];
	struct weir__sublayer sublayers[WEIR__MAX_SUBLAYERS];
	struct weir__callout_slot callouts[WEIR__MAX_CALLOUTS];
	uint32_t ncallouts;
	uint64_t next_id;
	uint64_t next_seq;
	uint64_t next_stamp;
	uint64_t next_generation;
	bool use_linear;                     /* tests: reference evaluator */
	struct weir__pends pends;
	struct weir_flow_table *flows;       /* owned */
	void *_Atomic slots[WEIR_ENGINE_SLOT__COUNT]; /* weir_engine_slot() */
};

/* ---- byid.c (callers hold txn_lock) ---- */
/* Indexes e->all by id after a commit; without memory, lookups walk. */
void weir__byid_build(struct weir_engine *e);
const struct weir__filter *weir__byid_find(const struct weir_engine *e,
					   uint64_t id);

/* ---- match.c ---- */
bool weir__filter_matches(const struct weir__filter *f,
			  const struct weir_fields *fl);
bool weir__cond_matches(const struct weir__cond *c,
			const struct weir_fields *fl);

/* ---- filter.c ---- */
/* Builds an engine filter from a checked spec; NULL on ENOMEM. */
struct weir__filter *weir__filter_new(const struct weir_filter_spec *spec);
void weir__filter_ref(struct weir__filter *f);
void weir__filter_unref(struct weir__filter *f);

/* Effective weight of a spec's filter added as the seq-th (filter.c). */
uint64_t weir__filter_weight(const struct weir_filter_spec *spec,
			     uint64_t seq);

/* ---- fvec (ruleset.c) ---- */
int weir__fvec_push(struct weir__fvec *v, struct weir__filter *f);
void weir__fvec_release(struct weir__fvec *v);

/* ---- callout.c ---- */
/* The slot for a callout name, created (unregistered) if new; -ENOSPC. */
int weir__callout_slot(struct weir_engine *e, const char *name);
int weir__callout_notify(struct weir_engine *e, const struct weir__filter *f,
			 enum weir_notify event);
void weir__callouts_free(struct weir_engine *e);

/* ---- ruleset.c ---- */
/* Sorts filters into rank order and builds sublayer ranges (and the
 * classifier unless the engine wants the linear evaluator). */
int weir__layer_build(struct weir__layer_rules *lr, struct weir__filter **f,
		      uint32_t n, const struct weir__sublayer *subs,
		      bool linear);
void weir__layer_release(struct weir__layer_rules *lr);
void weir__ruleset_free(struct weir__ruleset *rs);
/* f's hits, counted by the live rule set included; caller holds
 * txn_lock. */
uint64_t weir__filter_hits(const struct weir_engine *e,
			   const struct weir__filter *f);

/* ---- classifier.c ---- */
struct weir__cls *weir__cls_build(struct weir__filter *const *f, uint32_t n,
				  struct weir__rank *ranks,
				  const struct weir__sub_range *subs,
				  uint32_t nsub);
void weir__cls_free(struct weir__cls *cls);
/* A match of the classifier. A plain permit or block is decided (and
 * its hit counted) from the classifier's record: action is then
 * WEIR_ACTION_PERMIT or _BLOCK with the filter's id; otherwise action is
 * 0 and arbitration reads the rank's line. */
struct weir__match {
	uint32_t rank;
	uint8_t action;
	uint64_t id;
};

/* The smallest rank r in [from, sub.end) whose filter matches, or -1;
 * fills m when there is one. */
int64_t weir__cls_next(const struct weir__cls *cls, uint32_t sub_index,
		       const struct weir_fields *fl, uint32_t from,
		       struct weir__match *m);
/* The hits of rank r counted by the classifier's records (add the
 * rank's own count for the filter's). */
uint64_t weir__cls_hits(const struct weir__cls *cls, uint32_t r);
/* The bytes of the tables a lookup reads (records and bloom filters). */
size_t weir__cls_bytes(const struct weir__cls *cls);

/* ---- pend.c ---- */
int weir__pends_init(struct weir__pends *p);
/* Ends every pend (CANCELLED) and frees the table. */
void weir__pends_exit(struct weir__pends *p);
uint64_t weir__now(const struct weir_classify_in *in);

/* ---- flow_engine.c ---- */
int weir__flows_init(struct weir_engine *e,
		     const struct weir_flow_config *given);
uint64_t weir__flow_ctx(struct weir_engine *e, uint64_t flow_id, int layer,
			uint16_t slot, bool *ret_has);
bool weir__ale_remembered(struct weir_engine *e,
			  const struct weir_classify_in *in, uint64_t gen,
			  struct weir_decision *ret, bool *ret_reauth);
void weir__ale_remember(struct weir_engine *e,
			const struct weir_classify_in *in, uint64_t gen,
			const struct weir_decision *d);

/* ---- arbitrate.c ---- */
void weir__arbitrate(struct weir_engine *e, const struct weir__layer_rules *lr,
		     const struct weir_classify_in *in,
		     struct weir_decision *ret);

#endif /* WEIR_ENGINE_INTERNAL_H */
