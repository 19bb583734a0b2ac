/* weir callouts: code that a filter calls to decide (after WFP's
 * FWPS_CALLOUT0 with classifyFn, notifyFn and flowDeleteFn).
 *
 * A callout registers under a unique name; filters whose action is a
 * callout name it. A filter naming a callout that is not registered
 * blocks, unless it has WEIR_FILTER_PERMIT_IF_NO_CALLOUT.
 *
 * Hooks (all optional but classify):
 *  - classify: called for each packet that matches one of its filters,
 *    on the classifying thread, under the engine's read lock: it must not
 *    block, commit transactions or unregister callouts (both wait for
 *    classifications to finish). It reads `in` and `filter`
 *    and writes `out`: an action (permit, block, or continue to the next
 *    filter), the rights, and flags.
 *  - notify: called when one of its filters is added or deleted, inside
 *    the commit. A non-zero return on WEIR_NOTIFY_ADD refuses the filter,
 *    and with it the whole transaction.
 *  - flow_delete: called exactly once for a flow context it set, when the
 *    flow ends or the context is removed or replaced.
 */
#ifndef WEIR_CALLOUT_H
#define WEIR_CALLOUT_H

#include <stdint.h>

#include <weir/engine.h>
#include <weir/filter.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A callout's answer besides permit and block: not mine to decide. */
#define WEIR_ACTION_CONTINUE 0

/* Bits of weir_callout_out.rights. */
#define WEIR_RIGHT_ACTION_WRITE 0x1u  /* the action may still be changed */

/* Bits of weir_callout_out.flags. */
#define WEIR_CLASSIFY_PEND 0x2u       /* set by weir_pend() */
#define WEIR_CLASSIFY_ABSORB 0x1u     /* the callout took the packet:
                                       * block it silently; final */

/* What a callout sees of the filter that called it. Valid during the
 * hook only. */
struct weir_filter_view {
	uint64_t id;
	const char *name;
	int layer;
	uint16_t sublayer;
	uint8_t action;         /* enum weir_action */
	uint32_t flags;         /* WEIR_FILTER_* */
	uint64_t weight;
	uint64_t context;       /* the spec's opaque context */
	const char *params;     /* the spec's parameters, "" if none */
	uint16_t callout_slot;  /* the callout's id (weir_callout_register) */
};

/* A callout's answer. On entry: action WEIR_ACTION_CONTINUE, rights as
 * arbitration stands (no WEIR_RIGHT_ACTION_WRITE when a higher sublayer
 * already made a hard decision: a block is then a veto), flags 0. Clear
 * WEIR_RIGHT_ACTION_WRITE to make a permit or block hard. */
struct weir_callout_out {
	uint8_t action;
	uint8_t rights;
	uint32_t flags;
	uint64_t pend_id;       /* set by weir_pend() */
};

enum weir_notify {
	WEIR_NOTIFY_ADD = 1,
	WEIR_NOTIFY_DELETE,
};

typedef void (*weir_classify_fn)(void *priv, const struct weir_classify_in *in,
				 const struct weir_filter_view *filter,
				 uint64_t flow_ctx, struct weir_callout_out *out);
typedef int (*weir_notify_fn)(void *priv, enum weir_notify event,
			      const struct weir_filter_view *filter);
typedef void (*weir_flow_delete_fn)(void *priv, int layer, uint64_t flow_id,
				    uint64_t flow_ctx);

/* Bits of weir_callout.flags. */
#define WEIR_CALLOUT_NEEDS_FLOW_CONTEXT 0x1u /* classify only on flows that
                                              * hold a context for it */
/* classify reads nothing past the transport header, and the callout
 * neither keeps, rewrites, pends with a replacement nor injects the
 * packets it sees. When every callout that the policy's enabled filters
 * name says so, and no filter matches packet or payload bytes, the
 * daemon asks the kernel for the headers only (WEIR_HEADERS_COPY bytes)
 * instead of whole packets: a TCP super-packet of 64 KB then costs one
 * small copy instead of a large one. A callout without it gets whole
 * packets (up to 65531 bytes, the kernel's largest copy;
 * WEIR_PD_TRUNCATED beyond). The daemon reads the flag when a policy is
 * loaded or reloaded. */
#define WEIR_CALLOUT_HEADERS_ONLY 0x2u
/* classify reads neither in->flow_id nor the packet's conntrack state
 * (the ct.state field, meta.ct_state, meta.ct_id), and the callout
 * associates no flow contexts. When every callout that the policy's
 * enabled ipforward filters name says so, and none of those filters
 * matches on ct.state, the daemon keeps no flows for forwarded packets:
 * no flow lookup per packet and no flow memory per forwarded
 * connection; classify at ipforward then sees flow_id 0. When that
 * holds for the enabled filters of every layer, the kernel is not asked
 * for conntrack attributes either (meta.ct_state then comes from weir's
 * flows, meta.ct_id is 0). Read when a policy is loaded or reloaded. */
#define WEIR_CALLOUT_FLOWLESS 0x4u

/* Bytes of each packet copied up when only headers are needed: an IPv6
 * header with 216 bytes of extension headers and a TCP header with
 * options. Bytes past it are not seen (WEIR_PD_TRUNCATED). */
#define WEIR_HEADERS_COPY 320u

struct weir_callout {
	const char *name;       /* unique; copied */
	uint32_t flags;
	weir_classify_fn classify;
	weir_notify_fn notify;
	weir_flow_delete_fn flow_delete;
	void *priv;             /* handed to every hook */
};

/* From inside classify only: holds this classification, to be decided
 * later with weir_pend_complete(*ret_id, ...) from any thread, or by the
 * filter's default when it times out (WEIR_FILTER_PEND_PERMIT picks
 * permit, else block). Arbitration stops here; the decision says
 * `pended`. -ENOSPC when the engine's pend limit is reached, -ENOTSUP
 * when no pend handler is installed: decide now instead. */
int weir_pend(const struct weir_classify_in *in,
	      const struct weir_filter_view *filter,
	      struct weir_callout_out *out, uint64_t *ret_id);

/* Associates a context with a flow for this callout at `layer` (WFP's
 * FwpsFlowAssociateContext0); classify then receives it as flow_ctx on
 * that flow, and flow_delete runs exactly once for it: when the flow
 * ends, or the context is replaced or removed. -ENOENT: no such flow. */
int weir_flow_associate(struct weir_engine *engine, uint64_t flow_id,
			int layer, const struct weir_filter_view *filter,
			uint64_t ctx);
/* Removes it (flow_delete runs). -ENOENT, -ENODATA (none set). */
int weir_flow_disassociate(struct weir_engine *engine, uint64_t flow_id,
			   int layer, const struct weir_filter_view *filter);

/* Registers a callout (copied). Returns its id (> 0), -EEXIST for a taken
 * name, -EINVAL without a name or classify. Filters already naming it
 * start calling it with the next classification. */
int weir_callout_register(struct weir_engine *engine,
			  const struct weir_callout *callout);
/* The flags of the registered callout `name` into *ret_flags: 0, or
 * -ENOENT when no callout of that name is registered now. */
int weir_callout_flags(struct weir_engine *engine, const char *name,
		       uint32_t *ret_flags);
/* Unregisters it: its filters then block (or permit, per their flag).
 * Returns 0 or -ENOENT. Waits for classifications in progress. */
int weir_callout_unregister(struct weir_engine *engine, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_CALLOUT_H */
