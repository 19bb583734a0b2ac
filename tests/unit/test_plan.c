/* What a policy asks of the kernel (src/control/plan.c): which hooks are
 * steered, where the first packet of a flow suffices, when flows may
 * leave the queue, and whether whole packets or headers only are copied
 * up, and whether packets come with conntrack attributes. The daemon
 * turns these into rules and queue settings; a mistake here lets
 * packets past the policy or costs every packet a copy.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <weir/callout.h>
#include <weir/engine.h>
#include <weir/policy.h>

#include "control/daemon.h"

enum { V4 = 0, V6 = 1 };
enum { IN = WEIR__STEER_INPUT, OUT = WEIR__STEER_OUTPUT,
       FWD = WEIR__STEER_FORWARD };

static void nop_classify(void *priv, const struct weir_classify_in *in,
			 const struct weir_filter_view *filter,
			 uint64_t flow_ctx, struct weir_callout_out *out)
{
	(void)priv, (void)in, (void)filter, (void)flow_ctx, (void)out;
}

/* The engine knows "hdr" (headers only), "full" (whole packets) and
 * "bare" (headers only, no flows). */
static struct weir_engine *engine_with_callouts(void)
{
	static const struct weir_callout hdr = {
		.name = "hdr", .flags = WEIR_CALLOUT_HEADERS_ONLY,
		.classify = nop_classify,
	};
	static const struct weir_callout full = {
		.name = "full", .classify = nop_classify,
	};
	static const struct weir_callout bare = {
		.name = "bare", .classify = nop_classify,
		.flags = WEIR_CALLOUT_HEADERS_ONLY | WEIR_CALLOUT_FLOWLESS,
	};
	struct weir_engine *e = weir_engine_new();

	assert_non_null(e);
	assert_true(weir_callout_register(e, &hdr) > 0);
	assert_true(weir_callout_register(e, &full) > 0);
	assert_true(weir_callout_register(e, &bare) > 0);
	return e;
}

static bool may_forward_flows, may_conntrack;

static struct daemon_needs needs(const char *text, bool *may_payload)
{
	struct weir_policy *p = NULL;
	struct weir_policy_error err;
	struct weir_engine *e = engine_with_callouts();
	struct daemon_needs n;

	memset(&err, 0, sizeof(err));
	assert_int_equal(weir_policy_parse(text, strlen(text), "t.weir", &p,
					   &err), 0);
	daemon_needs_of(p, e, &n);
	/* Before a reload's plug-ins load, a callout not registered yet
	 * may be one that reads. */
	if (may_payload)
		*may_payload = daemon_may_need_payload(p, e);
	may_forward_flows = daemon_may_need_forward_flows(p, e);
	may_conntrack = daemon_may_need_conntrack(p, e);
	weir_policy_free(p);
	weir_engine_free(e);
	return n;
}

/* Forwarding filters: FORWARD for both families, every packet, no
 * bypass, headers only. */
static void forward_filters(void **state)
{
	struct daemon_needs n = needs(
		"block \"telnet\" in ipforward if tcp.dport == 23;\n", NULL);

	(void)state;
	assert_true(n.hook[V4][FWD] && n.hook[V6][FWD]);
	assert_false(n.hook[V4][IN] || n.hook[V4][OUT]);
	assert_false(n.new_only[V4][FWD]);
	assert_false(n.payload);
	assert_int_equal(n.layers_used, 2);
}

/* Connect/accept only: first packets, and flows may leave the queue. */
static void ale_only(void **state)
{
	struct daemon_needs n = needs(
		"permit \"web\" in ale-connect-v4 if tcp.dport == 80;\n"
		"block \"telnet\" in ale-accept-v4 if tcp.dport == 23;\n", NULL);

	(void)state;
	assert_true(n.hook[V4][IN] && n.new_only[V4][IN]);
	assert_true(n.hook[V4][OUT] && n.new_only[V4][OUT]);
	assert_false(n.hook[V4][FWD] || n.hook[V6][IN] || n.hook[V6][OUT]);
	assert_true(n.bypass_ok[V4]);
}

/* Another layer on the same hook: every packet there, and no bypass for
 * the family (a flow let go would skip the packet layer's filters). */
static void ale_and_packet_layer(void **state)
{
	struct daemon_needs n = needs(
		"block \"telnet\" in ale-accept-v4 if tcp.dport == 23;\n"
		"block \"big\" in inbound-ippacket-v4 if ip.len > 1400;\n",
		NULL);

	(void)state;
	assert_true(n.hook[V4][IN]);
	assert_false(n.new_only[V4][IN]);
	assert_false(n.bypass_ok[V4]);
	assert_true(n.bypass_ok[V6]);
}

/* A layer whose default blocks is in use without any filter; a
 * disabled filter uses nothing. */
static void defaults_and_disabled(void **state)
{
	struct daemon_needs n = needs(
		"default ipforward-v6 block;\n"
		"block \"off\" in ale-accept-v4 disabled if tcp.dport == 23;\n",
		NULL);

	(void)state;
	assert_true(n.hook[V6][FWD]);
	assert_false(n.hook[V4][FWD] || n.hook[V4][IN]);
	assert_int_equal(n.layers_used, 1);
}

/* Whole packets: a match on packet bytes, or a callout that did not say
 * headers only. A callout that is not registered is not called; before
 * the plug-ins load it may still be one that reads. */
static void payload(void **state)
{
	bool may = false;
	struct daemon_needs n;

	(void)state;
	n = needs("block \"get\" in ipforward-v4 if packet[9] == 6;\n", NULL);
	assert_true(n.payload);
	n = needs("callout hdr in ipforward-v4 inspection;\n", &may);
	assert_false(n.payload);
	assert_false(may);
	n = needs("callout full in ipforward-v4 inspection;\n", NULL);
	assert_true(n.payload);
	n = needs("callout later in ipforward-v4 inspection;\n", &may);
	assert_false(n.payload);
	assert_true(may);
	n = needs("callout full in ipforward-v4 inspection disabled;\n", NULL);
	assert_false(n.payload);
}

/* Flows for forwarded packets: only for ct.state at ipforward or a
 * callout there that did not say it does without; other layers' needs
 * do not count (their packets are not forwarded). */
static void forward_flows(void **state)
{
	struct daemon_needs n;

	(void)state;
	n = needs("block \"telnet\" in ipforward if tcp.dport == 23;\n",
		  NULL);
	assert_false(n.forward_flows);
	assert_false(may_forward_flows);
	n = needs("callout bare in ipforward-v4 inspection;\n", NULL);
	assert_false(n.forward_flows);
	assert_false(may_forward_flows);
	n = needs("permit \"est\" in ipforward-v6 if ct.state any "
		  "established;\n", NULL);
	assert_true(n.forward_flows);
	n = needs("callout hdr in ipforward-v4 inspection;\n", NULL);
	assert_true(n.forward_flows);
	n = needs("callout later in ipforward-v4 inspection;\n", NULL);
	assert_false(n.forward_flows);
	assert_true(may_forward_flows);
	n = needs("callout hdr in inbound-ippacket-v4 inspection;\n"
		  "permit \"est\" in ale-accept-v4 if ct.state any new;\n"
		  "callout hdr in ipforward-v4 inspection disabled;\n", NULL);
	assert_false(n.forward_flows);
	assert_false(may_forward_flows);
}

/* Conntrack attributes: for ct.state at any layer, or a callout that did
 * not say it does without (FLOWLESS), enabled filters only. */
static void conntrack(void **state)
{
	struct daemon_needs n;

	(void)state;
	n = needs("block \"telnet\" in ipforward if tcp.dport == 23;\n"
		  "permit \"web\" in ale-accept-v4 if tcp.dport == 80;\n",
		  NULL);
	assert_false(n.conntrack);
	assert_false(may_conntrack);
	n = needs("callout bare in ipforward-v4 inspection;\n"
		  "callout bare in inbound-ippacket-v6 inspection;\n", NULL);
	assert_false(n.conntrack);
	assert_false(may_conntrack);
	n = needs("permit \"est\" in ale-accept-v4 if ct.state any new;\n",
		  NULL);
	assert_true(n.conntrack);
	assert_true(may_conntrack);
	n = needs("callout hdr in outbound-transport-v6 inspection;\n", NULL);
	assert_true(n.conntrack);
	n = needs("callout later in ipforward-v4 inspection;\n", NULL);
	assert_false(n.conntrack);
	assert_true(may_conntrack);
	n = needs("callout hdr in inbound-ippacket-v4 inspection disabled;\n"
		  "permit \"est\" in ipforward if ct.state any new "
		  "disabled;\n", NULL);
	assert_false(n.conntrack);
	assert_false(may_conntrack);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(forward_filters),
		cmocka_unit_test(ale_only),
		cmocka_unit_test(ale_and_packet_layer),
		cmocka_unit_test(defaults_and_disabled),
		cmocka_unit_test(payload),
		cmocka_unit_test(forward_flows),
		cmocka_unit_test(conntrack),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
