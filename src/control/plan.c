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

static bool reads_bytes(const struct weir_filter_spec *s)
{
	for (uint32_t i = 0; i < s->ncond; i++)
		if (s->conds[i].field == WEIR_FIELD_PACKET ||
		    s->conds[i].field == WEIR_FIELD_PAYLOAD)
			return true;
	return false;
}

/* unknown: what a callout not registered (yet) counts as. */
static bool needs_payload(const struct weir_policy *p,
			  struct weir_engine *engine, bool unknown)
{
	for (size_t i = 0; i < weir_policy_filter_count(p); i++) {
		const struct weir_filter_spec *s =
			&weir_policy_filter_at(p, i)->spec;
		uint32_t flags;

		if (s->flags & WEIR_FILTER_DISABLED)
			continue;
		if (reads_bytes(s))
			return true;
		if (!is_callout(s->action))
			continue;
		if (weir_callout_flags(engine, s->callout, &flags) < 0) {
			if (unknown)
				return true;
		} else if (!(flags & WEIR_CALLOUT_HEADERS_ONLY)) {
			return true;
		}
	}
	return false;
}

bool daemon_may_need_payload(const struct weir_policy *p,
			     struct weir_engine *engine)
{
	return needs_payload(p, engine, true);
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
	ret->payload = needs_payload(p, engine, false);
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
