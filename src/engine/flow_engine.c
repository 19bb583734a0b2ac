/* The engine's side of flows: the engine owns a flow table, maps its
 * context deletions to the callouts' flow_delete, lets callouts associate
 * contexts (WFP's FwpsFlowAssociateContext0), and remembers ALE
 * connect/accept decisions per flow, re-authorising them when the layer's
 * policy moved on.
 */
#include <errno.h>
#include <string.h>
#include <urcu-bp.h>

#include <weir/flow.h>

#include "engine/engine_internal.h"

/* Runs the callout's flow_delete; a callout that is gone is not told. */
static void on_ctx_delete(void *arg, uint64_t flow_id, int layer,
			  uint16_t slot, uint64_t ctx)
{
	struct weir_engine *e = arg;
	const struct weir_callout *c;

	if (slot >= WEIR__MAX_CALLOUTS)
		return;
	urcu_bp_read_lock();
	c = rcu_dereference(e->callouts[slot].ops);
	if (c && c->flow_delete)
		c->flow_delete(c->priv, layer, flow_id, ctx);
	urcu_bp_read_unlock();
}

int weir__flows_init(struct weir_engine *e,
		     const struct weir_flow_config *given)
{
	struct weir_flow_config cfg = { 0 };

	if (given)
		cfg = *given;
	cfg.on_ctx_delete = on_ctx_delete;
	cfg.arg = e;
	e->flows = weir_flow_table_new(&cfg);
	return e->flows ? 0 : -ENOMEM;
}

struct weir_flow_table *weir_engine_flows(struct weir_engine *e)
{
	return e->flows;
}

int weir_flow_associate(struct weir_engine *e, uint64_t flow_id, int layer,
			const struct weir_filter_view *filter, uint64_t ctx)
{
	if (!e || !filter || !filter->callout_slot)
		return -EINVAL;
	return weir_flow_ctx_set(e->flows, flow_id, layer,
				 filter->callout_slot, ctx);
}

int weir_flow_disassociate(struct weir_engine *e, uint64_t flow_id,
			   int layer, const struct weir_filter_view *filter)
{
	if (!e || !filter || !filter->callout_slot)
		return -EINVAL;
	return weir_flow_ctx_remove(e->flows, flow_id, layer,
				    filter->callout_slot);
}

uint64_t weir__flow_ctx(struct weir_engine *e, uint64_t flow_id, int layer,
			uint16_t slot, bool *ret_has)
{
	uint64_t ctx = 0;

	*ret_has = flow_id && weir_flow_ctx_get(e->flows, flow_id, layer,
						slot, &ctx) == 0;
	return *ret_has ? ctx : 0;
}

static bool is_ale(int layer)
{
	return layer == WEIR_LAYER_ALE_CONNECT_V4 ||
	       layer == WEIR_LAYER_ALE_CONNECT_V6 ||
	       layer == WEIR_LAYER_ALE_ACCEPT_V4 ||
	       layer == WEIR_LAYER_ALE_ACCEPT_V6;
}

/* For ALE layers with a flow: the remembered decision when it was made
 * under the current policy (true), or false with *ret_reauth telling
 * whether an older one exists. */
bool weir__ale_remembered(struct weir_engine *e,
			  const struct weir_classify_in *in, uint64_t gen,
			  struct weir_decision *ret, bool *ret_reauth)
{
	uint8_t action;
	uint64_t filter_id, g;

	*ret_reauth = false;
	if (!in->flow_id || !is_ale(in->layer) ||
	    weir_flow_decision_get(e->flows, in->flow_id, in->layer, &action,
				   &filter_id, &g) < 0)
		return false;
	if (g != gen) {
		*ret_reauth = true;
		return false;
	}
	*ret = (struct weir_decision){ .action = action, .remembered = true,
				       .filter_id = filter_id,
				       .by_default = filter_id == 0 };
	return true;
}

void weir__ale_remember(struct weir_engine *e,
			const struct weir_classify_in *in, uint64_t gen,
			const struct weir_decision *d)
{
	if (in->flow_id && is_ale(in->layer) && !d->pended)
		weir_flow_decision_set(e->flows, in->flow_id, in->layer,
				       d->action, d->filter_id, gen);
}
