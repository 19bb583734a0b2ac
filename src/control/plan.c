/* What a policy needs the kernel to send up. A layer is in use when a
 * filter (not disabled) sits on it or its default blocks. The hooks:
 * inbound layers at INPUT, outbound ones at OUTPUT, ipforward at
 * FORWARD; datagram-data and flow-established see both directions. When
 * a hook's only layers are connect/accept authorisation, the first
 * packet of each flow suffices (WFP's ALE model): the rest of the flow
 * never leaves the kernel. Bypassing a flow by connmark is safe for a
 * family only when nothing but those two layers is in use.
 *
 * Whole packets or headers only: the kernel copies whole packets up only
 * when a filter that is in use matches on packet or payload bytes, or
 * names a callout registered without WEIR_CALLOUT_HEADERS_ONLY. Other
 * conditions read headers alone; a callout that is not registered is not
 * called (its filter blocks or permits on its own).
 *
 * Flows for forwarded packets: weir keeps them only when a filter in use
 * at ipforward matches on ct.state (derived from weir's flows where the
 * kernel cannot report conntrack) or names a callout registered without
 * WEIR_CALLOUT_FLOWLESS. Otherwise a forwarded packet costs no flow
 * lookup and a gateway's connections no flow memory.
 *
 * Conntrack attributes (NFQA_CT, NFQA_CT_INFO): the kernel builds them
 * into every packet message (two tuples, status, timeout, mark, id,
 * TCP state under the entry's lock: by their layout some 150-200 bytes
 * next to a small packet's 150 or so), so weir asks for
 * them only when a filter in use, at any layer, matches on ct.state or
 * names a callout registered without WEIR_CALLOUT_FLOWLESS. Without
 * them, ct.state is never read and the connmark bypass still works: the
 * verdict's NFQA_CT does not depend on the flag (live_path.c).
 */
#include <string.h>
#include <sys/socket.h>

#include <weir/callout.h>

#include "control/daemon.h"

struct layer_hooks {
	int layer_v4;
	bool in, out, fwd;
	bool ale;                         /* first packet of a flow only */
};

static const struct layer_hooks map[] = {
	{ WEIR_LAYER_INBOUND_IPPACKET_V4, true, false, false, false },
	{ WEIR_LAYER_OUTBOUND_IPPACKET_V4, false, true, false, false },
	{ WEIR_LAYER_IPFORWARD_V4, false, false, true, false },
	{ WEIR_LAYER_INBOUND_TRANSPORT_V4, true, false, false, false },
	{ WEIR_LAYER_OUTBOUND_TRANSPORT_V4, false, true, false, false },
	{ WEIR_LAYER_ALE_CONNECT_V4, false, true, false, true },
	{ WEIR_LAYER_ALE_ACCEPT_V4, true, false, false, true },
	{ WEIR_LAYER_ALE_FLOW_ESTABLISHED_V4, true, true, false, false },
	{ WEIR_LAYER_DATAGRAM_DATA_V4, true, true, false, false },
};

static void used_layers(const struct weir_policy *p, bool used[])
{
	for (size_t i = 0; i < weir_policy_filter_count(p); i++) {
		const struct weir_policy_filter *f = weir_policy_filter_at(p, i);

		if (!(f->spec.flags & WEIR_FILTER_DISABLED))
			used[f->spec.layer] = true;
	}
	for (int l = 1; l < WEIR_LAYER__COUNT; l++)
		if (weir_policy_default(p, l) == WEIR_ACTION_BLOCK)
			used[l] = true;
}

static bool is_callout(uint8_t action)
{
	return action == WEIR_ACTION_CALLOUT_TERMINATING ||
	       action == WEIR_ACTION_CALLOUT_INSPECTION ||
	       action == WEIR_ACTION_CALLOUT_UNKNOWN;
}

/* What makes a filter need something: a condition on one of `fields`
 * (WEIR_FIELD__COUNT ends the list), or a callout registered without
 * the flag `enough` (the callout's word that it does without). */
struct need {
	bool forward_only;                /* only ipforward's filters */
	enum weir_field fields[3];
	uint32_t enough;
};

static const struct need payload_need = {
	false, { WEIR_FIELD_PACKET, WEIR_FIELD_PAYLOAD, WEIR_FIELD__COUNT },
	WEIR_CALLOUT_HEADERS_ONLY,
};

static const struct need forward_flow_need = {
	true, { WEIR_FIELD_CT_STATE, WEIR_FIELD__COUNT },
	WEIR_CALLOUT_FLOWLESS,
};

static const struct need conntrack_need = {
	false, { WEIR_FIELD_CT_STATE, WEIR_FIELD__COUNT },
	WEIR_CALLOUT_FLOWLESS,
};

static bool reads_field(const struct weir_filter_spec *s,
			const struct need *n)
{
	for (uint32_t i = 0; i < s->ncond; i++)
		for (const enum weir_field *f = n->fields;
		     *f != WEIR_FIELD__COUNT; f++)
			if (s->conds[i].field == *f)
				return true;
	return false;
}

static bool is_forward(int layer)
{
	return layer == WEIR_LAYER_IPFORWARD_V4 ||
	       layer == WEIR_LAYER_IPFORWARD_V6;
}

/* unknown: what a callout not registered (yet) counts as. */
static bool needs(const struct weir_policy *p, struct weir_engine *engine,
		  const struct need *n, bool unknown)
{
	for (size_t i = 0; i < weir_policy_filter_count(p); i++) {
		const struct weir_filter_spec *s =
			&weir_policy_filter_at(p, i)->spec;
		uint32_t flags;

		if (s->flags & WEIR_FILTER_DISABLED ||
		    (n->forward_only && !is_forward(s->layer)))
			continue;
		if (reads_field(s, n))
			return true;
		if (!is_callout(s->action))
			continue;
		if (weir_callout_flags(engine, s->callout, &flags) < 0) {
			if (unknown)
				return true;
		} else if (!(flags & n->enough)) {
			return true;
		}
	}
	return false;
}

bool daemon_may_need_payload(const struct weir_policy *p,
			     struct weir_engine *engine)
{
	return needs(p, engine, &payload_need, true);
}

bool daemon_may_need_forward_flows(const struct weir_policy *p,
				   struct weir_engine *engine)
{
	return needs(p, engine, &forward_flow_need, true);
}

bool daemon_may_need_conntrack(const struct weir_policy *p,
			       struct weir_engine *engine)
{
	return needs(p, engine, &conntrack_need, true);
}

static void mark(struct daemon_needs *n, int v6, int hook, bool ale)
{
	/* new_only holds while every layer on the hook is an ALE one. */
	if (!n->hook[v6][hook])
		n->new_only[v6][hook] = ale;
	else
		n->new_only[v6][hook] &= ale;
	n->hook[v6][hook] = true;
}

void daemon_needs_of(const struct weir_policy *p, struct weir_engine *engine,
		     struct daemon_needs *ret)
{
	bool used[WEIR_LAYER__COUNT] = { 0 };

	memset(ret, 0, sizeof(*ret));
	used_layers(p, used);
	ret->payload = needs(p, engine, &payload_need, false);
	ret->forward_flows = needs(p, engine, &forward_flow_need, false);
	ret->conntrack = needs(p, engine, &conntrack_need, false);
	ret->bypass_ok[0] = ret->bypass_ok[1] = true;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		for (int v6 = 0; v6 < 2; v6++) {
			const struct layer_hooks *m = &map[i];

			if (!used[m->layer_v4 + v6])
				continue;
			ret->layers_used++;
			if (m->in)
				mark(ret, v6, WEIR__STEER_INPUT, m->ale);
			if (m->out)
				mark(ret, v6, WEIR__STEER_OUTPUT, m->ale);
			if (m->fwd)
				mark(ret, v6, WEIR__STEER_FORWARD, false);
			if (!m->ale && !m->fwd)
				ret->bypass_ok[v6] = false;
		}
	}
}
