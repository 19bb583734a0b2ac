/* Unit tests for the policy language: tables of valid policies with the
 * filter specs they compile to (written back as statements), the specs'
 * fields themselves, normal-form expansion and merging, same-field
 * intersection, `not` push-down, every error with its file:line:col,
 * caret rendering, round trips through the formatter, the examples, the
 * standalone expression parser, and applying policies to an engine.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <weir/callout.h>
#include <weir/engine.h>
#include <weir/policy.h>

#include "policy/policy_internal.h"

static char listing_buf[1 << 16];

static struct weir_policy *parse_ok(const char *text)
{
	struct weir_policy_error err;
	struct weir_policy *p = NULL;
	char buf[1024];

	if (weir_policy_parse(text, strlen(text), "t.weir", &p, &err) != 0) {
		weir_policy_error_format(&err, buf, sizeof(buf));
		print_message("unexpected error for:\n%s\n%s", text, buf);
		fail();
	}
	return p;
}

/* Every filter of the policy as a statement, one per line. */
static const char *listing(const struct weir_policy *p)
{
	size_t n = 0;

	listing_buf[0] = '\0';
	for (size_t i = 0; i < weir_policy_filter_count(p); i++) {
		const struct weir_policy_filter *f = weir_policy_filter_at(p, i);

		n += (size_t)weir_policy_format_filter(&f->spec, f->sublayer,
						       listing_buf + n,
						       sizeof(listing_buf) - n);
		n += (size_t)snprintf(listing_buf + n, sizeof(listing_buf) - n,
				      "\n");
	}
	return listing_buf;
}

/* ---- valid policies: statement -> specs -------------------------------- */

struct valid_case {
	const char *text;
	const char *specs;
};

#define V4 "block in ipforward-v4 if "
#define L1 "block \"line-1\" in ipforward-v4"

static const struct valid_case valid_cases[] = {
	/* one-line forms, names, actions, options */
	{ V4 "tcp.dport == 23;",
	  L1 " if ip.proto == 6 and th.dport == 23;\n" },
	{ "permit \"web\" in ale-connect-v4 if tcp.dport in {80, 443, 8000-8080};",
	  "permit \"web\" in ale-connect-v4 if ip.proto == 6 and th.dport in "
	  "{80, 443, 8000-8080};\n" },
	{ "sublayer \"fw\" weight 0x9000;\n"
	  "block \"t\" in ipforward-v4 sublayer \"fw\" weight 100 hard disabled;",
	  "block \"t\" in ipforward-v4 sublayer \"fw\" weight 100 hard disabled;\n" },
	{ "block in inbound-ippacket-v6 weight range 15;",
	  "block \"line-1\" in inbound-ippacket-v6 weight range 15;\n" },
	{ "block in inbound-ippacket-v6 weight auto sublayer default;",
	  "block \"line-1\" in inbound-ippacket-v6;\n" },
	{ "callout log in ipforward-v4 inspection if udp.dport == 53 "
	  "with { format = \"json\", level = 3 };",
	  "callout \"log\" inspection \"line-1\" in ipforward-v4 if ip.proto == "
	  "17 and th.dport == 53 with { format = \"json\"; level = \"3\"; };\n" },
	{ "callout guard terminating \"g\" in ale-accept-v4 permit-if-unregistered;",
	  "callout \"guard\" terminating \"g\" in ale-accept-v4 "
	  "permit-if-unregistered;\n" },
	{ "callout x in ale-accept-v4;",
	  "callout \"x\" unknown \"line-1\" in ale-accept-v4;\n" },
	{ "callout hold in ale-connect-v4 pend-permit;",
	  "callout \"hold\" unknown \"line-1\" in ale-connect-v4 "
	  "pend-permit;\n" },
	/* block form, options in the header and inside */
	{ "sublayer ids weight 1;\n"
	  "filter \"no-telnet\" in ipforward-v4 weight 100 hard {\n"
	  "\tmatch tcp.dport == 23 and ip.dst in 10.0.0.0/8;\n"
	  "\taction block;\n"
	  "\tsublayer \"ids\";\n"
	  "};",
	  "block \"no-telnet\" in ipforward-v4 sublayer \"ids\" weight 100 hard "
	  "if ip.dst in 10.0.0.0/8 and ip.proto == 6 and th.dport == 23;\n" },
	{ "filter f { layer ale-connect-v6; weight range 2; action callout c "
	  "inspection; with { a = b } match ip.dst == ::1; }",
	  "callout \"c\" inspection \"f\" in ale-connect-v6 weight range 2 if "
	  "ip.dst == ::1 with { a = \"b\"; };\n" },
	/* a layer name without family: both, per family of the tests */
	{ "block \"x\" in forward if tcp.dport == 1;",
	  "block \"x#1\" in ipforward-v4 if ip.proto == 6 and th.dport == 1;\n"
	  "block \"x#2\" in ipforward-v6 if ip.proto == 6 and th.dport == 1;\n" },
	{ "block in ipforward if ip.src == 10.0.0.1 or ip6.src == ::1;",
	  "block \"line-1#1\" in ipforward-v4 if ip.src == 10.0.0.1;\n"
	  "block \"line-1#2\" in ipforward-v6 if ip.src == ::1;\n" },
	{ "block in ale-accept if icmp.type == echo-request;",
	  "block \"line-1\" in ale-accept-v4 if ip.proto == 1 and icmp.type == 8;\n" },
	{ "block in ale-accept if ip6 and tcp;",
	  "block \"line-1\" in ale-accept-v6 if ip.proto == 6;\n" },
	{ "block in ale-accept-v4 if ip6 or tcp;",
	  "block \"line-1\" in ale-accept-v4 if ip.proto == 6;\n" },
	/* merging alternatives that differ in one field */
	{ V4 "tcp.dport == 22 or tcp.dport == 23;",
	  L1 " if ip.proto == 6 and th.dport in 22-23;\n" },
	{ V4 "tcp.dport == 22 || tcp.dport == 80 || tcp.dport == 22;",
	  L1 " if ip.proto == 6 and th.dport in {22, 80};\n" },
	{ V4 "(tcp.dport == 80 or tcp.dport == 443) and "
	  "(ip.dst in 10.0.0.0/8 or ip.dst in 192.168.0.0/16);",
	  L1 " if ip.dst in {10.0.0.0/8, 192.168.0.0/16} and ip.proto == 6 and "
	  "th.dport in {80, 443};\n" },
	{ V4 "tcp.dport == 22 or udp.dport == 53;",
	  "block \"line-1#1\" in ipforward-v4 if ip.proto == 6 and th.dport == 22;\n"
	  "block \"line-1#2\" in ipforward-v4 if ip.proto == 17 and th.dport == 53;\n" },
	{ V4 "tcp.dport == 22 or tcp;",
	  L1 " if ip.proto == 6;\n" },
	{ V4 "ip.src == 10.0.0.1 and tcp or ip.src == 10.0.0.2 and tcp;",
	  L1 " if ip.src in {10.0.0.1, 10.0.0.2} and ip.proto == 6;\n" },
	{ V4 "tcp.dport < 100 or tcp.dport >= 100 or udp;",
	  L1 " if ip.proto in {6, 17};\n" },
	/* ANDs on one field intersect */
	{ V4 "tcp.dport >= 1000 and tcp.dport <= 2000;",
	  L1 " if ip.proto == 6 and th.dport in 1000-2000;\n" },
	{ V4 "ip.dst in 10.0.0.0/8 and ip.dst in 10.1.0.0/16;",
	  L1 " if ip.dst in 10.1.0.0/16;\n" },
	{ V4 "tcp.dport in 1-100 and tcp.dport == 50;",
	  L1 " if ip.proto == 6 and th.dport == 50;\n" },
	{ V4 "tcp.dport > 10 and tcp.dport != 20 and tcp.dport < 30;",
	  L1 " if ip.proto == 6 and th.dport in {11-19, 21-29};\n" },
	{ V4 "ip.ttl <= 1 && ip.ttl >= 1;",
	  L1 " if ip.ttl == 1;\n" },
	{ V4 "meta.iifname in {\"eth*\", wlan0} and meta.iifname == eth1;",
	  L1 " if meta.iifname == \"eth1\";\n" },
	/* not goes down to the tests */
	{ V4 "not tcp.dport == 23;",
	  "block \"line-1#1\" in ipforward-v4 if ip.proto != 6;\n"
	  "block \"line-1#2\" in ipforward-v4 if th.dport != 23;\n" },
	{ V4 "tcp.dport != 23;",
	  L1 " if ip.proto == 6 and th.dport != 23;\n" },
	{ V4 "tcp.dport not in {22, 23};",
	  L1 " if ip.proto == 6 and th.dport in {0-21, 24-65535};\n" },
	{ V4 "not (ip.src in 10.0.0.0/8 or ip.dst == 10.0.0.1);",
	  L1 " if (ip.src <= 9.255.255.255 or ip.src >= 11.0.0.0) and "
	  "ip.dst != 10.0.0.1;\n" },
	{ V4 "!(ip.ttl < 64) && !!ip.ttl < 128;",
	  L1 " if ip.ttl in 64-127;\n" },
	{ V4 "not (tcp.dport in 1000-2000 and ip.ttl == 1);",
	  "block \"line-1#1\" in ipforward-v4 if ip.proto != 6;\n"
	  "block \"line-1#2\" in ipforward-v4 if th.dport in {0-999, 2001-65535};\n"
	  "block \"line-1#3\" in ipforward-v4 if ip.ttl != 1;\n" },
	{ V4 "not meta.iifname == \"eth*\";",
	  L1 " if meta.iifname != \"eth*\";\n" },
	/* flags */
	{ V4 "tcp.flags has syn | ack;",
	  L1 " if ip.proto == 6 and tcp.flags has syn|ack;\n" },
	{ V4 "tcp.flags any fin|rst;",
	  L1 " if ip.proto == 6 and tcp.flags any fin|rst;\n" },
	{ V4 "tcp.flags none rst;",
	  L1 " if ip.proto == 6 and tcp.flags none rst;\n" },
	{ V4 "tcp.flags == syn;",
	  L1 " if ip.proto == 6 and tcp.flags == syn;\n" },
	{ V4 "tcp.syn or tcp.fin;",
	  L1 " if ip.proto == 6 and tcp.flags any fin|syn;\n" },
	{ V4 "not tcp.flags has syn and tcp;",
	  L1 " if ip.proto == 6 and tcp.flags none syn;\n" },
	{ V4 "not tcp.flags has syn;",
	  "block \"line-1#1\" in ipforward-v4 if ip.proto != 6;\n"
	  "block \"line-1#2\" in ipforward-v4 if ip.proto == 6 and "
	  "tcp.flags none syn;\n" },
	{ "block in ipforward if not icmpv6.type == echo-request;",
	  "block \"line-1#1\" in ipforward-v6 if ip.proto != 58;\n"
	  "block \"line-1#2\" in ipforward-v6 if ip.proto == 58 and "
	  "icmpv6.type != 128;\n" },
	{ V4 "tcp.flags & (syn|ack) == 0x12;",
	  L1 " if ip.proto == 6 and tcp.flags has syn|ack;\n" },
	{ V4 "ct.state any established | related and ip.frag has df;",
	  L1 " if ip.frag has df and ct.state any established|related;\n" },
	{ V4 "ct.state in {new, established};",
	  L1 " if ct.state in {2, 8};\n" },
	{ V4 "flags has injected;",
	  L1 " if flags has injected;\n" },
	/* addresses */
	{ V4 "ip.src in 10.0.0.1-10.0.0.9;",
	  L1 " if ip.src in {10.0.0.1, 10.0.0.2/31, 10.0.0.4/30, 10.0.0.8/31};\n" },
	{ V4 "ip.src in 10.0.0.0 .. 10.0.0.255 and ip.dst != 10.0.0.1;",
	  L1 " if ip.src in 10.0.0.0/24 and ip.dst != 10.0.0.1;\n" },
	{ V4 "ip.src < 10.0.0.5;",
	  L1 " if ip.src <= 10.0.0.4;\n" },
	{ V4 "ip.saddr == 0.0.0.0/0;",
	  L1 ";\n" },
	{ "block in ipforward-v6 if ip6.src in 2001:db8::/32 and ip.dst > ::1;",
	  "block \"line-1\" in ipforward-v6 if ip.src in 2001:db8::/32 and "
	  "ip.dst >= ::2;\n" },
	/* other fields and named values */
	{ V4 "tcp.dport == ssh and ip.proto == tcp;",
	  L1 " if ip.proto == 6 and th.dport == 22;\n" },
	{ V4 "meta.l4proto == udp and udp.sport in {domain, ntp};",
	  L1 " if ip.proto == 17 and th.sport in {53, 123};\n" },
	{ V4 "th.sport == 1 and th.dport == 2;",
	  L1 " if th.sport == 1 and th.dport == 2;\n" },
	{ V4 "ip.len > 1400 and meta.iif == 2 and meta.oif == 3;",
	  L1 " if ip.len >= 1401 and meta.iif == 2 and meta.oif == 3;\n" },
	{ V4 "meta.direction == inbound or outbound;",
	  L1 " if meta.direction in 1-2;\n" },
	{ V4 "loopback and meta.mark == 0xff and meta.skuid == 0 and "
	  "meta.gid == 100 and meta.compartment == 1;",
	  L1 " if meta.loopback == 1 and meta.mark == 255 and meta.uid == 0 and "
	  "meta.gid == 100 and meta.compartment == 1;\n" },
	{ V4 "not meta.loopback;",
	  L1 " if meta.loopback == 0;\n" },
	{ V4 "meta.oifname == eth* and meta.iifname in {\"lan0\", lan1};",
	  L1 " if meta.iifname in {\"lan0\", \"lan1\"} and meta.oifname == "
	  "\"eth*\";\n" },
	{ V4 "payload[0] == \"GET \" or payload[0] == \"POST\";",
	  L1 " if (payload[0] == \"GET \" or payload[0] == \"POST\");\n" },
	{ V4 "packet[9] == 6 and payload16[2] > 1000;",
	  L1 " if packet[9] == 6 and payload16[2] >= 1001;\n" },
	{ V4 "payload32[4] in {1, 3-5} or packet[0] == \"\\x45\";",
	  "block \"line-1#1\" in ipforward-v4 if payload32[4] in {1, 3-5};\n"
	  "block \"line-1#2\" in ipforward-v4 if packet[0] == \"E\";\n" },
	{ V4 "icmp.type in {echo-request, echo-reply} and icmp.code == 0;",
	  L1 " if ip.proto == 1 and icmp.type in {0, 8} and icmp.code == 0;\n" },
	{ "block in ipforward-v6 if icmpv6.type == packet-too-big and "
	  "ip6.hoplimit == 255;",
	  "block \"line-1\" in ipforward-v6 if ip.proto == 58 and "
	  "icmpv6.type == 2 and ip.ttl == 255;\n" },
	{ V4 "true;", L1 ";\n" },
	{ "\xef\xbb\xbf" "block in ipforward-v4;\r\n", L1 ";\n" },
	{ "# comment\n;;block in ipforward-v4; # more\n",
	  "block \"line-2\" in ipforward-v4;\n" },
};

static void test_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]);
	     i++) {
		const struct valid_case *c = &valid_cases[i];
		struct weir_policy *p;

		if (!c->specs)
			continue;
		p = parse_ok(c->text);
		if (strcmp(listing(p), c->specs)) {
			print_message("case %zu: %s\nwant:\n%sgot:\n%s", i,
				      c->text, c->specs, listing_buf);
			fail();
		}
		weir_policy_free(p);
	}
}

/* ---- the spec fields themselves ---------------------------------------- */

static void test_spec_fields(void **state)
{
	struct weir_policy *p = parse_ok(
		"sublayer \"fw\" weight 7;\n"
		"block \"x\" in ipforward-v4 sublayer \"fw\" weight 100 hard\n"
		"    if tcp.dport in {80, 443} and ip.dst in 10.0.0.0/8;\n"
		"callout log in ipforward-v6 inspection permit-if-unregistered "
		"weight range 3 if meta.iifname in {eth0, \"wl*\"} with { a = 1; };\n");
	const struct weir_policy_filter *f = weir_policy_filter_at(p, 0);
	const struct weir_filter_spec *s = &f->spec;
	const uint8_t net[4] = { 10, 0, 0, 0 };

	(void)state;
	assert_int_equal(weir_policy_filter_count(p), 2);
	assert_string_equal(s->name, "x");
	assert_int_equal(s->layer, WEIR_LAYER_IPFORWARD_V4);
	assert_int_equal(s->action, WEIR_ACTION_BLOCK);
	assert_int_equal(s->weight_kind, WEIR_WEIGHT_EXACT);
	assert_int_equal(s->weight, 100);
	assert_int_equal(s->flags, WEIR_FILTER_CLEAR_ACTION_RIGHT);
	assert_string_equal(f->sublayer, "fw");
	assert_int_equal(s->sublayer, 0);
	assert_int_equal(f->line, 2);
	assert_int_equal(f->col, 1);
	assert_null(s->params);
	assert_int_equal(s->ncond, 3);
	assert_int_equal(s->conds[0].field, WEIR_FIELD_IP_DST);
	assert_int_equal(s->conds[0].match, WEIR_MATCH_PREFIX);
	assert_memory_equal(s->conds[0].v.addr, net, 4);
	assert_int_equal(s->conds[0].v.plen, 8);
	assert_int_equal(s->conds[1].field, WEIR_FIELD_IP_PROTO);
	assert_int_equal(s->conds[1].match, WEIR_MATCH_EQ);
	assert_int_equal(s->conds[1].v.lo, 6);
	assert_int_equal(s->conds[2].field, WEIR_FIELD_DST_PORT);
	assert_int_equal(s->conds[2].match, WEIR_MATCH_IN_SET);
	assert_int_equal(s->conds[2].set_len, 2);
	assert_int_equal(s->conds[2].set[0].lo, 80);
	assert_int_equal(s->conds[2].set[0].hi, 80);
	assert_int_equal(s->conds[2].set[1].lo, 443);
	assert_int_equal(weir_filter_spec_check(s, NULL), 0);

	f = weir_policy_filter_at(p, 1);
	s = &f->spec;
	assert_int_equal(s->layer, WEIR_LAYER_IPFORWARD_V6);
	assert_int_equal(s->action, WEIR_ACTION_CALLOUT_INSPECTION);
	assert_string_equal(s->callout, "log");
	assert_int_equal(s->weight_kind, WEIR_WEIGHT_RANGE);
	assert_int_equal(s->weight, 3);
	assert_int_equal(s->flags, WEIR_FILTER_PERMIT_IF_NO_CALLOUT);
	assert_null(f->sublayer);
	assert_string_equal(s->params, "a=1\n");
	assert_int_equal(s->ncond, 1);
	assert_int_equal(s->conds[0].field, WEIR_FIELD_IF_IN_NAME);
	assert_int_equal(s->conds[0].match, WEIR_MATCH_IN_SET);
	assert_int_equal(s->conds[0].set_len, 2);
	assert_int_equal(s->conds[0].set[0].len, 4);
	assert_memory_equal(s->conds[0].set[0].bytes, "eth0", 4);
	assert_int_equal(s->conds[0].set[1].len, 3);
	assert_memory_equal(s->conds[0].set[1].bytes, "wl*", 3);
	assert_int_equal(weir_filter_spec_check(s, NULL), 0);
	assert_null(weir_policy_filter_at(p, 2));
	weir_policy_free(p);
}

static void test_byte_conditions(void **state)
{
	struct weir_policy *p = parse_ok(
		V4 "payload[3] != \"\\x16\\x03\" and packet16[2] == 0x0800;\n"
		V4 "payload32[4] in {1, 3-5};");
	const struct weir_filter_spec *s = &weir_policy_filter_at(p, 0)->spec;

	(void)state;
	assert_int_equal(weir_policy_filter_count(p), 2);
	assert_int_equal(s->ncond, 2);
	assert_int_equal(s->conds[0].field, WEIR_FIELD_PACKET);
	assert_int_equal(s->conds[0].match, WEIR_MATCH_EQ);
	assert_int_equal(s->conds[0].width, 2);
	assert_int_equal(s->conds[0].offset, 2);
	assert_int_equal(s->conds[0].v.lo, 0x800);
	assert_int_equal(s->conds[1].field, WEIR_FIELD_PAYLOAD);
	assert_int_equal(s->conds[1].match, WEIR_MATCH_NE);
	assert_int_equal(s->conds[1].width, 0);
	assert_int_equal(s->conds[1].offset, 3);
	assert_int_equal(s->conds[1].v.len, 2);
	assert_memory_equal(s->conds[1].v.bytes, "\x16\x03", 2);
	assert_int_equal(weir_filter_spec_check(s, NULL), 0);
	s = &weir_policy_filter_at(p, 1)->spec;
	assert_int_equal(s->ncond, 1);
	assert_int_equal(s->conds[0].match, WEIR_MATCH_IN_SET);
	assert_int_equal(s->conds[0].width, 4);
	assert_int_equal(s->conds[0].set_len, 2);
	assert_int_equal(s->conds[0].set[1].lo, 3);
	assert_int_equal(s->conds[0].set[1].hi, 5);
	assert_int_equal(weir_filter_spec_check(s, NULL), 0);
	weir_policy_free(p);
}

/* Long or/and chains of one field cost n log n: one filter, one set. */
static void test_long_chains(void **state)
{
	static char text[1 << 17];
	struct weir_policy *p;

	(void)state;
	for (int k = 0; k < 3; k++) {
		const struct weir_filter_spec *s;
		size_t n = (size_t)snprintf(text, sizeof(text), V4);

		for (int i = 0; i < 4000; i += 2) {
			const char *join = k == 0 ? " or " : k == 1 ? " and "
								     : " || ";

			if (k == 2)
				n += (size_t)snprintf(text + n, sizeof(text) - n,
						      "%sip.src == 10.0.%d.1",
						      i ? join : "", i % 256);
			else
				n += (size_t)snprintf(text + n, sizeof(text) - n,
						      "%stcp.dport %s %d",
						      i ? join : "",
						      k ? "!=" : "==", i);
		}
		snprintf(text + n, sizeof(text) - n, ";");
		p = parse_ok(text);
		assert_int_equal(weir_policy_filter_count(p), 1);
		s = &weir_policy_filter_at(p, 0)->spec;
		assert_int_equal(s->conds[s->ncond - 1].match, WEIR_MATCH_IN_SET);
		assert_int_equal(s->conds[s->ncond - 1].set_len,
				 k == 2 ? 128 : 2000);
		weir_policy_free(p);
	}
}

/* ---- other statements -------------------------------------------------- */

static void test_statements(void **state)
{
	struct weir_policy *p = parse_ok(
		"plugins \"/usr/lib/weir\";\n"
		"plugin portscan { threshold = 20; window = 10s }\n"
		"plugin log;\n"
		"plugin \"nat\" {};\n"
		"sublayer \"ids\" weight 0x1000;\n"
		"sublayer fw weight 65535;\n"
		"default ipforward block;\n"
		"default ale-accept-v6 permit;\n");
	const struct weir_policy_plugin *pl;
	const struct weir_policy_sublayer *sl;

	(void)state;
	assert_string_equal(weir_policy_plugin_dir(p), "/usr/lib/weir");
	assert_int_equal(weir_policy_plugin_count(p), 3);
	pl = weir_policy_plugin_at(p, 0);
	assert_string_equal(pl->name, "portscan");
	assert_string_equal(pl->params, "threshold=20\nwindow=10s\n");
	assert_int_equal(pl->line, 2);
	assert_string_equal(weir_policy_plugin_at(p, 1)->params, "");
	assert_string_equal(weir_policy_plugin_at(p, 2)->name, "nat");
	assert_null(weir_policy_plugin_at(p, 3));
	assert_int_equal(weir_policy_sublayer_count(p), 2);
	sl = weir_policy_sublayer_at(p, 0);
	assert_string_equal(sl->name, "ids");
	assert_int_equal(sl->weight, 0x1000);
	assert_int_equal(sl->line, 5);
	assert_int_equal(weir_policy_sublayer_at(p, 1)->weight, 65535);
	assert_null(weir_policy_sublayer_at(p, 2));
	assert_int_equal(weir_policy_default(p, WEIR_LAYER_IPFORWARD_V4),
			 WEIR_ACTION_BLOCK);
	assert_int_equal(weir_policy_default(p, WEIR_LAYER_IPFORWARD_V6),
			 WEIR_ACTION_BLOCK);
	assert_int_equal(weir_policy_default(p, WEIR_LAYER_ALE_ACCEPT_V6),
			 WEIR_ACTION_PERMIT);
	assert_int_equal(weir_policy_default(p, WEIR_LAYER_ALE_ACCEPT_V4), 0);
	assert_int_equal(weir_policy_default(p, 0), 0);
	assert_int_equal(weir_policy_filter_count(p), 0);
	weir_policy_free(p);

	p = parse_ok("");
	assert_int_equal(weir_policy_filter_count(p), 0);
	assert_null(weir_policy_plugin_dir(p));
	assert_int_equal(weir_policy_compartment_count(p), 0);
	weir_policy_free(p);

	p = parse_ok("compartment 2 \"/run/netns/gw\";\n"
		     "compartment 1 \"/proc/1/ns/net\";\n");
	assert_int_equal(weir_policy_compartment_count(p), 2);
	assert_int_equal(weir_policy_compartment_at(p, 0)->id, 2);
	assert_string_equal(weir_policy_compartment_at(p, 0)->netns,
			    "/run/netns/gw");
	assert_int_equal(weir_policy_compartment_at(p, 1)->line, 2);
	assert_null(weir_policy_compartment_at(p, 2));
	weir_policy_free(p);
}

/* The application tier's statements. */
static void test_app_statements(void **state)
{
	struct weir_policy *p;
	const struct weir_policy_listener *l;
	const struct weir_policy_datafilter *d;
	const struct sockaddr_in6 *a6;

	(void)state;
	p = parse_ok("protocol http tcp 80, 8080;\n"
		     "protocol dns udp 53;\n"
		     "listen web \"127.0.0.1:8080\" to \"10.0.0.2:80\" "
		     "protocol http;\n"
		     "listen web6 \"[::1]:8081\" to \"[fd00::2]:80\";\n"
		     "listen bare 0.0.0.0:9000 to 10.0.0.3:9000;\n"
		     "listen udns udp 0.0.0.0:53 to 10.0.0.3:53 protocol dns;\n"
		     "datafilter tap on http, dns priority 10 { log = yes; }\n"
		     "datafilter exeblock on http;\n"
		     "datafilter count;\n");
	assert_int_equal(weir_policy_protocol_count(p), 2);
	assert_int_equal(weir_policy_protocol_at(p, 0)->nports, 2);
	assert_int_equal(weir_policy_protocol_at(p, 0)->ports[1], 8080);
	assert_int_equal(weir_policy_protocol_at(p, 1)->transport, IPPROTO_UDP);
	assert_int_equal(weir_policy_listener_count(p), 4);
	assert_int_equal(weir_policy_listener_at(p, 3)->transport, IPPROTO_UDP);
	assert_int_equal(weir_policy_listener_at(p, 2)->transport, IPPROTO_TCP);
	l = weir_policy_listener_at(p, 0);
	assert_string_equal(l->name, "web");
	assert_string_equal(l->protocol, "http");
	assert_int_equal(l->listen.ss_family, AF_INET);
	assert_int_equal(ntohs(((const struct sockaddr_in *)&l->upstream)
				       ->sin_port), 80);
	l = weir_policy_listener_at(p, 1);
	assert_null(l->protocol);
	a6 = (const struct sockaddr_in6 *)&l->listen;
	assert_int_equal(a6->sin6_family, AF_INET6);
	assert_int_equal(ntohs(a6->sin6_port), 8081);
	assert_int_equal(l->listen_len, sizeof(struct sockaddr_in6));
	assert_int_equal(weir_policy_datafilter_count(p), 3);
	d = weir_policy_datafilter_at(p, 0);
	assert_int_equal(d->nprotocols, 2);
	assert_string_equal(d->protocols[1], "dns");
	assert_int_equal(d->priority, 10);
	assert_string_equal(d->params, "log=yes\n");
	d = weir_policy_datafilter_at(p, 2);
	assert_int_equal(d->nprotocols, 0);
	assert_int_equal(d->priority, 100);
	assert_string_equal(d->params, "");
	assert_null(weir_policy_datafilter_at(p, 3));
	assert_int_equal(weir_policy_intercept_count(p), 0);
	weir_policy_free(p);

	p = parse_ok("protocol http tcp 80;\nprotocol alt tcp 8080, 8443;\n"
		     "protocol dns udp 53;\n"
		     "intercept http, alt;\nintercept http, dns;\n"
		     "protocol late tcp 9;\n");
	assert_int_equal(weir_policy_intercept_count(p), 3);
	assert_string_equal(weir_policy_intercept_at(p, 1)->name, "alt");
	assert_int_equal(weir_policy_intercept_at(p, 1)->ports[1], 8443);
	assert_int_equal(weir_policy_intercept_at(p, 2)->transport,
			 IPPROTO_UDP);
	assert_null(weir_policy_intercept_at(p, 3));
	weir_policy_free(p);

	p = parse_ok("protocol http tcp 80;\n"
		     "sessionfilter sessgate on http { max_per_client = 3; }\n"
		     "sessionfilter audit;\n");
	assert_int_equal(weir_policy_sessionfilter_count(p), 2);
	assert_int_equal(weir_policy_datafilter_count(p), 0);
	d = weir_policy_sessionfilter_at(p, 0);
	assert_string_equal(d->name, "sessgate");
	assert_int_equal(d->nprotocols, 1);
	assert_string_equal(d->params, "max_per_client=3\n");
	d = weir_policy_sessionfilter_at(p, 1);
	assert_int_equal(d->nprotocols, 0);
	assert_string_equal(d->params, "");
	assert_null(weir_policy_sessionfilter_at(p, 2));
	/* A second reference keeps it after the first is dropped (ASan
	 * watches). */
	assert_ptr_equal(weir_policy_ref(p), p);
	weir_policy_free(p);
	assert_string_equal(weir_policy_sessionfilter_at(p, 0)->name,
			    "sessgate");
	weir_policy_free(p);
	assert_null(weir_policy_ref(NULL));
}

/* ---- errors ------------------------------------------------------------ */

struct error_case {
	const char *text;
	unsigned line, col;
	const char *msg;
};

#define E4 "block in ipforward-v4 if "   /* the expression is at col 26 */

static const struct error_case error_cases[] = {
	/* application tier */
	{ "protocol a tcp 0;", 1, 16, "a port is a number from 1 to 65535" },
	{ "protocol a sctp 1;", 1, 12, "tcp or udp" },
	{ "protocol a tcp 1;\nprotocol a udp 2;", 2, 10,
	  "protocol a already defined at line 1" },
	{ "listen x \"1.2.3.4\" to \"1.1.1.1:1\";", 1, 10,
	  "an address and port is" },
	{ "listen x \"[::1:80\" to \"1.1.1.1:1\";", 1, 10,
	  "an address and port is" },
	{ "listen x 1.2.3.4:80 to 1.1.1.1:1 protocol web;", 1, 43,
	  "no protocol web" },
	{ "datafilter x on nope;", 1, 17, "no protocol nope" },
	{ "protocol d udp 53;\nlisten x 1.2.3.4:53 to 1.1.1.1:53 protocol d;",
	  2, 44, "protocol d is not TCP, as this listener" },
	{ "datafilter x priority 5000;", 1, 23, "a priority class is" },
	{ "sessionfilter x priority 5;", 1, 17, "session filters run in "
	  "policy order" },
	{ "sessionfilter x on nope;", 1, 20, "no protocol nope" },
	{ "sesionfilter x;", 1, 1, "did you mean 'sessionfilter'" },
	{ "intercept web;", 1, 11, "no protocol web" },
	/* lexing */
	{ "permit \"web in ipforward-v4;", 1, 8, "unterminated string" },
	{ "block \"a\\q\" in ipforward-v4;", 1, 9, "unknown escape" },
	{ E4 "tcp.dport == 23 $;", 1, 42, "unexpected character '$'" },
	{ E4 "tcp.dport == 23;\n\x01", 2, 1, "unexpected byte 0x01" },
	/* statements */
	{ "blokc in ipforward-v4;", 1, 1,
	  "unknown statement 'blokc'; did you mean 'block'?" },
	{ E4 "tcp.dport == 23\npermit in ipforward-v4;", 1, 41,
	  "expected ';' before 'permit'" },
	{ E4 "tcp.dport == 23", 1, 41, "expected ';' at the end of the file" },
	{ "block in ale-conect-v4;", 1, 10,
	  "unknown layer 'ale-conect-v4'; did you mean 'ale-connect-v4'?" },
	{ "block in nowhere;", 1, 10, "unknown layer 'nowhere'" },
	{ "block \"x\" in ipforward-v4;\nfilter \"x\" in ipforward-v6 { action "
	  "permit; }", 2, 8, "filter name \"x\" already used at line 1" },
	{ "block in ipforward-v4 sublayer \"ids\";", 1, 32,
	  "unknown sublayer \"ids\"" },
	{ "sublayer a weight 1;\nsublayer \"a\" weight 2;", 2, 10,
	  "sublayer \"a\" already declared at line 1" },
	{ "sublayer a weight 70000;", 1, 19, "from 0 to 65535" },
	{ "sublayer default weight 1;", 1, 10, "default sublayer exists" },
	{ "default ipforward-v4 block;\ndefault ipforward permit;", 2, 9,
	  "the default of ipforward-v4 is already set at line 1" },
	{ "default ipforward-v4 drop;", 1, 22, "expected 'permit' or 'block'" },
	{ "plugins \"/a\";\nplugins \"/b\";", 2, 9, "already set" },
	{ "compartment 0 \"/run/netns/a\";", 1, 13, "1 to 8" },
	{ "compartment 9 \"/run/netns/a\";", 1, 13, "1 to 8" },
	{ "compartment 1 \"/a\";\ncompartment 1 \"/b\";", 2, 13,
	  "compartment 1 already named at line 1" },
	{ "compartment 1 \"netns/a\";", 1, 15, "absolute" },
	{ "compartment 1 gw;", 1, 15, "expected a namespace path" },
	{ "plugin a;\nplugin a { x = 1; }", 2, 8, "already loaded at line 1" },
	{ "plugin a { x = 1; x = 2; }", 1, 19, "parameter 'x' given twice" },
	{ "plugin a { x = \"a\\nb\"; }", 1, 16, "newline" },
	{ "block in ipforward-v4 weight 1 weight 2;", 1, 32,
	  "weight given twice" },
	{ "block in ipforward-v4 weight range 16;", 1, 36, "from 0 to 15" },
	{ "block in ipforward-v4 inspection;", 1, 23,
	  "a callout kind needs a callout action" },
	{ "permit in ipforward-v4 permit-if-unregistered;", 1, 24,
	  "needs a callout action" },
	{ "block in ipforward-v4 with { a = 1 };", 1, 23,
	  "parameters are for callouts" },
	{ "filter \"x\" in ipforward-v4 { match tcp; }", 1, 1,
	  "a filter needs an action" },
	{ "filter \"x\" { action block; }", 1, 1, "a filter needs a layer" },
	{ "filter x { match tcp; layer ipforward-v4; action block; }", 1, 12,
	  "the layer comes before the match" },
	{ "filter x in ipforward-v4 { match tcp; match udp; action block; }",
	  1, 39, "a filter has one match" },
	{ "filter x in ipforward-v4 { layer ale-accept-v4; action block; }", 1,
	  34, "layer given twice" },
	{ "filter x in ipforward-v4 { action block; action permit; }", 1, 49,
	  "action given twice" },
	{ "filter x in ipforward-v4 { bogus; }", 1, 28,
	  "expected match, action, with, layer, an option or '}'" },
	{ "filter \"\" in ipforward-v4 { action block; }", 1, 8,
	  "a filter name has 1 to 63 bytes" },
	{ "block \"01234567890123456789012345678901234567890123456789012345678901\""
	  " in ipforward;", 1, 7, "filter name too long for the 2 filters" },
	/* expressions: fields and operators */
	{ E4 "tcp.dprt == 23;", 1, 26,
	  "unknown field 'tcp.dprt'; did you mean 'tcp.dport'?" },
	{ E4 "tcp.dport = 23;", 1, 36, "use == to compare" },
	{ E4 "tcp.dport 23;", 1, 36, "expected an operator" },
	{ E4 "tcp.dport has 3;", 1, 36, "'has' tests flag fields" },
	{ E4 "tcp.flags has synn;", 1, 40,
	  "unknown value 'synn' for tcp.flags; did you mean 'syn'?" },
	{ E4 "(tcp.dport == 1;", 1, 41, "expected ')'" },
	{ E4 ";", 1, 26, "expected a test, found ';'" },
	{ "block in ipforward-v4 if", 1, 25,
	  "expected a test at the end of the file" },
	{ E4 "packet == 1;", 1, 33, "expected '[offset]'" },
	{ E4 "packet[70000] == 1;", 1, 33, "an offset is a number" },
	/* values */
	{ E4 "tcp.dport == 70000;", 1, 39,
	  "70000 is out of range for tcp.dport (0-65535)" },
	{ E4 "ip.ttl > 256;", 1, 35, "256 is out of range for ip.ttl (0-255)" },
	{ E4 "tcp.dport == 99999999999999999999;", 1, 39, "too large" },
	{ E4 "tcp.dport == foo;", 1, 39, "unknown value 'foo' for tcp.dport" },
	{ E4 "ip.ttl == foo;", 1, 36,
	  "expected a number for ip.ttl, found 'foo'" },
	{ E4 "ip.src == 10.0.0.256;", 1, 36, "bad IPv4 address '10.0.0.256'" },
	{ E4 "ip.src == 10.0.0.1/33;", 1, 36, "bad prefix length" },
	{ E4 "ip.src in 10.0.0.1/8;", 1, 36,
	  "10.0.0.1/8 has bits set past the prefix length; did you mean "
	  "10.0.0.0/8?" },
	{ E4 "ip.src == 2001:db8::zz;", 1, 36, "bad IPv6 address" },
	{ E4 "tcp.dport in 20-10;", 1, 39, "empty range" },
	{ E4 "tcp.dport in 10 - 5;", 1, 44, "empty range" },
	{ E4 "ip.src <= 10.0.0.0/8;", 1, 36,
	  "compare with one value, not a prefix" },
	{ E4 "tcp.dport in {};", 1, 40, "empty set" },
	{ E4 "tcp.dport in {1, 2;", 1, 44, "expected '}'" },
	{ E4 "meta.iifname == \"averyveryverylongname\";", 1, 42,
	  "an interface name has 1 to 15 bytes" },
	{ E4 "meta.iifname < 3;", 1, 26, "compares with ==, != and in only" },
	{ E4 "payload[0] == \"\";", 1, 40, "a byte string has 1 to 32 bytes" },
	{ E4 "packet16[0] == \"ab\";", 1, 41, "expected a value" },
	/* families */
	{ "block in ipforward-v6 if ip.src == 10.0.0.1;", 1, 36,
	  "IPv4 address in an IPv6 layer" },
	{ E4 "ip.src == ::1;", 1, 36, "IPv6 address in an IPv4 layer" },
	{ E4 "ip6.src == ::1;", 1, 26, "ip6.src needs an IPv6 layer" },
	{ "block in ipforward if ip6.dst == 10.0.0.1;", 1, 34,
	  "ip6.dst needs an IPv6 address" },
	{ "block in ipforward-v6 if icmp.type == 8;", 1, 26,
	  "icmp.type is for IPv4; use icmpv6 in an IPv6 layer" },
	{ "block in ipforward-v6 if icmp;", 1, 26, "icmp is for IPv4" },
	{ "block in ipforward if ip.src in {10.0.0.1, ::1};", 1, 44,
	  "IPv4 and IPv6 addresses mixed in one test" },
	/* meaning */
	{ E4 "tcp.dport == 22 and tcp.dport == 23;", 1, 26,
	  "this expression never matches" },
	{ "block in ipforward if ip.src == 10.0.0.1 and ip.dst == ::1;", 1, 23,
	  "never matches" },
	{ E4 "false;", 1, 26, "never matches" },
	{ E4 "not true or false;", 1, 26, "never matches" },
	{ E4 "payload32[4] in {1, 3-5} and payload[0] != \"\\x16\";", 1, 55,
	  "one filter tests one place of the packet" },
	{ "block in ale-connect-v4 if meta.iifname == eth0;", 1, 28,
	  "meta.iifname is not available at layer ale-connect-v4" },
	{ "block in ale-connect-v4 if ip.frag has df;", 1, 28,
	  "ip.frag is not available" },
	{ E4 "packet[0] == 1 and packet[4] == 2;", 1, 45,
	  "one filter tests one place of the packet" },
	{ E4 "meta.iifname == \"eth*\" and meta.iifname != eth0;", 1, 53,
	  "cannot express this test on meta.iifname" },
	{ E4 "meta.iifname != a and meta.iifname != b;", 1, 48,
	  "cannot express meta.iifname differing from several values" },
	{ E4 "(th.sport == 1 or th.dport == 1) and (ip.ttl == 1 or "
	  "meta.mark == 1) and (ip.len == 1 or meta.uid == 1) and "
	  "(meta.gid == 1 or meta.iif == 1) and (meta.oif == 1 or "
	  "meta.compartment == 1) and (ip.src == 1.1.1.1 or ip.dst == 1.1.1.1) "
	  "and (ct.state == 1 or meta.direction == 1);", 1, 26,
	  "this expression needs 128 filters (at most 64)" },
};

static void expect_error(const struct error_case *c, size_t i)
{
	struct weir_policy_error err;
	struct weir_policy *p = (struct weir_policy *)&err; /* untouched */
	int r = weir_policy_parse(c->text, strlen(c->text), "t.weir", &p, &err);

	if (r != -EINVAL || err.line != c->line || err.col != c->col ||
	    !strstr(err.msg, c->msg) || strcmp(err.file, "t.weir") ||
	    p != (struct weir_policy *)&err) {
		print_message("case %zu: %s\nwant %u:%u '%s'\ngot %d %u:%u '%s'\n",
			      i, c->text, c->line, c->col, c->msg, r, err.line,
			      err.col, err.msg);
		fail();
	}
}

static void test_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++)
		expect_error(&error_cases[i], i);
}

static void test_error_limits(void **state)
{
	char text[4096];
	size_t n = 0;
	struct error_case c = { text, 1, 0, NULL };

	(void)state;
	/* nesting */
	n = (size_t)snprintf(text, sizeof(text), E4);
	for (int i = 0; i < 70; i++)
		text[n++] = '(';
	snprintf(text + n, sizeof(text) - n, "tcp);");
	c.col = 26 + 64;
	c.msg = "nested more than 64 deep";
	expect_error(&c, 0);
	/* more than 1024 alternatives while expanding */
	n = (size_t)snprintf(text, sizeof(text), E4 "true");
	for (int i = 0; i < 11; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n,
				      " and (packet[%d] == 1 or payload[%d] == 1)",
				      i, i);
	snprintf(text + n, sizeof(text) - n, ";");
	c.col = 26;
	c.msg = "expression too complex";
	expect_error(&c, 1);
	/* a NUL byte */
	{
		struct weir_policy_error err;
		struct weir_policy *p;
		static const char nul[] = "block in ipforward-v4;\0";

		assert_int_equal(weir_policy_parse(nul, sizeof(nul) - 1, NULL,
						   &p, &err), -EINVAL);
		assert_int_equal(err.line, 1);
		assert_int_equal(err.col, 23);
		assert_string_equal(err.file, "<policy>");
		assert_non_null(strstr(err.msg, "NUL byte"));
	}
}

static void test_caret(void **state)
{
	static const char text[] = "block in ipforward-v4\n\tif tcp.dprt == 1;";
	struct weir_policy_error err;
	struct weir_policy *p;
	char buf[512];
	int n;

	(void)state;
	assert_int_equal(weir_policy_parse(text, strlen(text), "demo.weir", &p,
					   &err), -EINVAL);
	assert_int_equal(err.line, 2);
	assert_int_equal(err.col, 5);
	assert_int_equal(err.len, 8);
	assert_string_equal(err.line_text, "\tif tcp.dprt == 1;");
	n = weir_policy_error_format(&err, buf, sizeof(buf));
	assert_string_equal(buf,
		"demo.weir:2:5: error: unknown field 'tcp.dprt'; did you mean "
		"'tcp.dport'?\n"
		"  \tif tcp.dprt == 1;\n"
		"  \t   ^~~~~~~~\n");
	assert_int_equal(n, (int)strlen(buf));
	/* truncated output still counts everything */
	assert_int_equal(weir_policy_error_format(&err, buf, 10), n);
	assert_int_equal(strlen(buf), 9);

	/* a missing ';': the caret goes right after the last token */
	assert_int_equal(weir_policy_parse("block in ipforward-v4\nblock", 27,
					   "a", &p, &err), -EINVAL);
	weir_policy_error_format(&err, buf, sizeof(buf));
	assert_string_equal(buf, "a:1:22: error: expected ';' before 'block'\n"
			    "  block in ipforward-v4\n"
			    "                       ^\n");

	/* no position: file errors */
	assert_int_equal(weir_policy_load("/nonexistent/x.weir", &p, &err),
			 -ENOENT);
	assert_int_equal(err.line, 0);
	weir_policy_error_format(&err, buf, sizeof(buf));
	assert_string_equal(buf, "/nonexistent/x.weir: error: cannot open: No "
			    "such file or directory\n");
}

/* ---- round trips through the formatter --------------------------------- */

static bool val_eq(const struct weir_val *a, const struct weir_val *b)
{
	return a->lo == b->lo && a->hi == b->hi && a->plen == b->plen &&
	       a->len == b->len && !memcmp(a->addr, b->addr, 16) &&
	       !memcmp(a->bytes, b->bytes, a->len);
}

static bool cond_eq(const struct weir_cond *a, const struct weir_cond *b)
{
	if (a->field != b->field || a->match != b->match ||
	    a->width != b->width || a->offset != b->offset ||
	    a->set_len != b->set_len || !val_eq(&a->v, &b->v))
		return false;
	for (uint32_t i = 0; i < a->set_len; i++)
		if (!val_eq(&a->set[i], &b->set[i]))
			return false;
	return true;
}

static bool spec_eq(const struct weir_filter_spec *a,
		    const struct weir_filter_spec *b)
{
	if (strcmp(a->name, b->name) || a->layer != b->layer ||
	    a->action != b->action || a->weight_kind != b->weight_kind ||
	    a->weight != b->weight || a->flags != b->flags ||
	    strcmp(a->callout, b->callout) || a->ncond != b->ncond ||
	    strcmp(a->params ? a->params : "", b->params ? b->params : ""))
		return false;
	for (uint32_t i = 0; i < a->ncond; i++)
		if (!cond_eq(&a->conds[i], &b->conds[i]))
			return false;
	return true;
}

/* Each filter written out and parsed again is the same spec. */
static void round_trip(const struct weir_policy *p)
{
	static char text[1 << 16];

	for (size_t i = 0; i < weir_policy_filter_count(p); i++) {
		const struct weir_policy_filter *f = weir_policy_filter_at(p, i);
		struct weir_policy *q;
		size_t n = 0;

		for (size_t s = 0; s < weir_policy_sublayer_count(p); s++)
			n += (size_t)snprintf(text + n, sizeof(text) - n,
					      "sublayer \"%s\" weight 1;\n",
					      weir_policy_sublayer_at(p, s)->name);
		weir_policy_format_filter(&f->spec, f->sublayer, text + n,
					  sizeof(text) - n);
		q = parse_ok(text);
		assert_int_equal(weir_policy_filter_count(q), 1);
		if (!spec_eq(&f->spec, &weir_policy_filter_at(q, 0)->spec)) {
			print_message("round trip differs: %s\n", text);
			fail();
		}
		assert_ptr_equal(!f->sublayer,
				 !weir_policy_filter_at(q, 0)->sublayer);
		weir_policy_free(q);
	}
}

static void test_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]);
	     i++) {
		struct weir_policy *p = parse_ok(valid_cases[i].text);

		round_trip(p);
		weir_policy_free(p);
	}
}

/* ---- the examples ------------------------------------------------------ */

/* examples/ of the source tree, from the build tree or the source tree. */
static const char *examples_dir(void)
{
	static const char *const tries[] = { "examples", "../examples",
					     "../../examples",
					     "../../../examples" };
	static char buf[4096];
	const char *slash;

	for (size_t i = 0; i < sizeof(tries) / sizeof(tries[0]); i++) {
		snprintf(buf, sizeof(buf), "%s/demo.weir", tries[i]);
		if (access(buf, R_OK) == 0)
			return tries[i];
	}
	slash = strrchr(__FILE__, '/');
	snprintf(buf, sizeof(buf), "%.*s/../../examples",
		 slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".");
	return buf;
}

static struct weir_policy *load_example(const char *name)
{
	struct weir_policy_error err;
	struct weir_policy *p = NULL;
	char path[4200], buf[1024];

	snprintf(path, sizeof(path), "%s/%s", examples_dir(), name);
	if (weir_policy_load(path, &p, &err) != 0) {
		weir_policy_error_format(&err, buf, sizeof(buf));
		print_message("%s", buf);
		fail();
	}
	return p;
}

static void test_examples(void **state)
{
	DIR *d = opendir(examples_dir());
	struct dirent *de;
	int seen = 0;

	(void)state;
	assert_non_null(d);
	while ((de = readdir(d))) {
		size_t n = strlen(de->d_name);
		struct weir_policy *p;

		if (n < 6 || strcmp(de->d_name + n - 5, ".weir"))
			continue;
		p = load_example(de->d_name);
		/* A packet-tier example has filters, an application-tier
		 * one listeners or interceptions. */
		assert_true(weir_policy_filter_count(p) > 0 ||
			    weir_policy_listener_count(p) > 0 ||
			    weir_policy_intercept_count(p) > 0);
		round_trip(p);
		weir_policy_free(p);
		seen++;
	}
	closedir(d);
	assert_true(seen >= 3);
}

static void test_demo(void **state)
{
	struct weir_policy *p = load_example("demo.weir");
	const struct weir_policy_filter *f;

	(void)state;
	assert_int_equal(weir_policy_plugin_count(p), 2);
	assert_string_equal(weir_policy_plugin_at(p, 1)->name, "portscan");
	assert_int_equal(weir_policy_sublayer_count(p), 2);
	f = weir_policy_filter_at(p, 0);
	assert_string_equal(f->spec.name, "no-telnet#1");
	assert_int_equal(f->spec.action, WEIR_ACTION_BLOCK);
	assert_int_equal(f->spec.flags, WEIR_FILTER_CLEAR_ACTION_RIGHT);
	assert_int_equal(weir_policy_filter_at(p, 1)->spec.layer,
			 WEIR_LAYER_IPFORWARD_V6);
	for (size_t i = 0; i < weir_policy_filter_count(p); i++) {
		f = weir_policy_filter_at(p, i);
		if (!strcmp(f->spec.callout, "log"))
			assert_int_equal(f->spec.action,
					 WEIR_ACTION_CALLOUT_INSPECTION);
		if (!strcmp(f->spec.callout, "portscan"))
			assert_int_equal(f->spec.flags,
					 WEIR_FILTER_PERMIT_IF_NO_CALLOUT);
	}
	weir_policy_free(p);
}

/* The language spells every engine field as weir_field_name() does. */
static void test_field_names(void **state)
{
	(void)state;
	for (int f = 0; f < WEIR_FIELD__COUNT; f++) {
		const char *name = weir_field_name(f);
		const struct weir__fdesc *fd = weir__field_find(name,
								 strlen(name));

		assert_non_null(fd);
		assert_int_equal(fd->field, f);
		assert_string_equal(weir__field_of((uint16_t)f, AF_INET, 1)->name,
				    name);
	}
}

/* ---- standalone expressions -------------------------------------------- */

static void test_expr(void **state)
{
	struct weir_policy_error err;
	struct weir_expr *e;
	const struct weir_cond *c;
	uint32_t n = 99;

	(void)state;
	assert_int_equal(weir_expr_parse("tcp.dport == 22 or udp.dport == 53",
					 WEIR_LAYER_IPFORWARD_V4, &e, &err), 0);
	assert_int_equal(weir_expr_count(e), 2);
	c = weir_expr_conds(e, 1, &n);
	assert_int_equal(n, 2);
	assert_int_equal(c[0].field, WEIR_FIELD_IP_PROTO);
	assert_int_equal(c[0].v.lo, 17);
	assert_int_equal(c[1].field, WEIR_FIELD_DST_PORT);
	assert_int_equal(c[1].v.lo, 53);
	assert_null(weir_expr_conds(e, 2, &n));
	weir_expr_free(e);

	assert_int_equal(weir_expr_parse("true", WEIR_LAYER_ALE_CONNECT_V6, &e,
					 &err), 0);
	assert_int_equal(weir_expr_count(e), 1);
	assert_non_null(weir_expr_conds(e, 0, &n));
	assert_int_equal(n, 0);
	weir_expr_free(e);

	e = (struct weir_expr *)&err;
	assert_int_equal(weir_expr_parse("tcp.dport == 22 udp",
					 WEIR_LAYER_IPFORWARD_V4, &e, &err),
			 -EINVAL);
	assert_ptr_equal(e, (struct weir_expr *)&err);
	assert_string_equal(err.file, "<expr>");
	assert_int_equal(err.line, 1);
	assert_int_equal(err.col, 17);
	assert_non_null(strstr(err.msg, "expected 'and', 'or' or the end"));
	assert_int_equal(weir_expr_parse("ip.src == ::1",
					 WEIR_LAYER_IPFORWARD_V4, &e, &err),
			 -EINVAL);
	assert_int_equal(err.col, 11);
	assert_int_equal(weir_expr_parse("tcp", 0, &e, &err), -EINVAL);
	assert_int_equal(weir_expr_parse("tcp;", WEIR_LAYER_IPFORWARD_V4, &e,
					 &err), -EINVAL);
	weir_expr_free(NULL);
	weir_policy_free(NULL);
}

/* ---- applying to an engine --------------------------------------------- */

static struct weir_fields fields4(const char *src, const char *dst,
				  uint8_t proto, uint16_t sport, uint16_t dport)
{
	struct weir_fields f;

	memset(&f, 0, sizeof(f));
	f.family = AF_INET;
	inet_pton(AF_INET, src, f.src);
	inet_pton(AF_INET, dst, f.dst);
	f.present = 1ull << WEIR_FIELD_IP_SRC | 1ull << WEIR_FIELD_IP_DST |
		    1ull << WEIR_FIELD_IP_PROTO | 1ull << WEIR_FIELD_TTL;
	f.num[WEIR_FIELD_IP_PROTO] = proto;
	f.num[WEIR_FIELD_TTL] = 64;
	if (proto == 6 || proto == 17) {
		f.present |= 1ull << WEIR_FIELD_SRC_PORT |
			     1ull << WEIR_FIELD_DST_PORT;
		f.num[WEIR_FIELD_SRC_PORT] = sport;
		f.num[WEIR_FIELD_DST_PORT] = dport;
	}
	if (proto == 6) {
		f.present |= 1ull << WEIR_FIELD_TCP_FLAGS;
		f.num[WEIR_FIELD_TCP_FLAGS] = 0x10;
	}
	return f;
}

static struct weir_decision classify(struct weir_engine *e, int layer,
				     const struct weir_fields *f)
{
	struct weir_classify_in in = { .layer = layer, .fields = f };
	struct weir_decision d;

	assert_int_equal(weir_classify(e, &in, &d), 0);
	return d;
}

static int log_calls;

static void log_classify(void *priv, const struct weir_classify_in *in,
			 const struct weir_filter_view *filter,
			 uint64_t flow_ctx, struct weir_callout_out *out)
{
	(void)priv;
	(void)in;
	(void)flow_ctx;
	assert_string_equal(filter->params, "");
	log_calls++;
	out->action = WEIR_ACTION_CONTINUE;
}

static int refuse_notify(void *priv, enum weir_notify event,
			 const struct weir_filter_view *filter)
{
	(void)priv;
	(void)filter;
	return event == WEIR_NOTIFY_ADD ? -EPERM : 0;
}

static void test_apply(void **state)
{
	struct weir_engine *e = weir_engine_new();
	struct weir_policy *demo = load_example("demo.weir");
	struct weir_policy *gw = load_example("gateway.weir");
	struct weir_policy_error err;
	struct weir_callout log = { .name = "log", .classify = log_classify };
	struct weir_fields telnet = fields4("10.0.0.1", "10.9.0.2", 6, 40000, 23);
	struct weir_fields web = fields4("10.0.0.1", "10.9.0.2", 6, 40000, 80);
	struct weir_fields dns = fields4("10.0.0.1", "10.9.0.2", 17, 5000, 53);
	struct weir_fields other = fields4("10.0.0.1", "10.9.0.2", 17, 5000, 9);
	struct weir_decision d;

	(void)state;
	assert_non_null(e);
	assert_true(weir_callout_register(e, &log) > 0);
	assert_int_equal(weir_policy_apply(demo, e, &err), 0);
	assert_true(weir_sublayer_find(e, "firewall") > 0);
	assert_true(weir_sublayer_find(e, "monitor") > 0);
	d = classify(e, WEIR_LAYER_IPFORWARD_V4, &telnet);
	assert_int_equal(d.action, WEIR_ACTION_BLOCK);
	assert_true(d.hard);
	assert_false(d.by_default);
	d = classify(e, WEIR_LAYER_IPFORWARD_V4, &web);
	assert_int_equal(d.action, WEIR_ACTION_PERMIT);
	assert_false(d.by_default);
	d = classify(e, WEIR_LAYER_IPFORWARD_V4, &dns);
	assert_int_equal(d.action, WEIR_ACTION_PERMIT);
	assert_true(d.by_default);
	assert_int_equal(log_calls, 1);

	/* the ids of the filters, in the policy's order */
	{
		uint64_t ids[16];
		size_t n = weir_policy_filter_count(demo);
		struct weir_filter_info info;

		assert_true(n <= 16);
		assert_int_equal(weir_policy_apply_ids(demo, e, ids, &err), 0);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(weir_filter_get(e, ids[i], &info), 0);
			assert_string_equal(info.name, weir_policy_filter_at(
				demo, i)->spec.name);
		}
		d = classify(e, WEIR_LAYER_IPFORWARD_V4, &telnet);
		assert_int_equal(d.filter_id, ids[0]);
	}

	/* a reload replaces every filter and sets the defaults */
	assert_int_equal(weir_policy_apply(gw, e, &err), 0);
	d = classify(e, WEIR_LAYER_IPFORWARD_V4, &telnet);
	assert_int_equal(d.action, WEIR_ACTION_BLOCK);
	assert_true(d.by_default);
	d = classify(e, WEIR_LAYER_IPFORWARD_V4, &dns);
	assert_true(d.by_default);
	assert_int_equal(log_calls, 1);
	assert_int_equal(weir_policy_apply(demo, e, &err), 0);
	d = classify(e, WEIR_LAYER_IPFORWARD_V4, &other);
	assert_int_equal(d.action, WEIR_ACTION_PERMIT);
	assert_true(d.by_default);

	weir_policy_free(demo);
	weir_policy_free(gw);
	weir_engine_free(e);
}

static void test_apply_refused(void **state)
{
	struct weir_engine *e = weir_engine_new();
	struct weir_policy *demo = load_example("demo.weir");
	struct weir_policy *bad = parse_ok(
		"default ipforward-v4 block;\n"
		"permit \"ok\" in ipforward-v4 if tcp.dport == 23;\n"
		"  callout veto in ipforward-v4 if udp;\n");
	struct weir_callout veto = { .name = "veto", .classify = log_classify,
				     .notify = refuse_notify };
	struct weir_fields telnet = fields4("10.0.0.1", "10.9.0.2", 6, 40000, 23);
	struct weir_policy_error err;
	struct weir_decision d;
	char buf[512];

	(void)state;
	assert_true(weir_callout_register(e, &veto) > 0);
	assert_int_equal(weir_policy_apply(demo, e, &err), 0);
	assert_true(weir_policy_apply(bad, e, &err) < 0);
	weir_policy_error_format(&err, buf, sizeof(buf));
	print_message("%s\n", buf);
	/* The refusal names the statement of the refused filter. */
	assert_non_null(strstr(buf, "t.weir:3:3:"));
	assert_non_null(strstr(buf, "callout \"veto\" refused this filter"));
	/* nothing of the bad policy took: telnet is still blocked, by the
	 * demo's filter, and the layer default is still permit */
	d = classify(e, WEIR_LAYER_IPFORWARD_V4, &telnet);
	assert_int_equal(d.action, WEIR_ACTION_BLOCK);
	assert_false(d.by_default);
	telnet.num[WEIR_FIELD_DST_PORT] = 24;
	d = classify(e, WEIR_LAYER_IPFORWARD_V4, &telnet);
	assert_int_equal(d.action, WEIR_ACTION_PERMIT);
	assert_true(d.by_default);
	weir_policy_free(bad);
	weir_policy_free(demo);
	weir_engine_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_spec_fields),
		cmocka_unit_test(test_byte_conditions),
		cmocka_unit_test(test_long_chains),
		cmocka_unit_test(test_statements),
		cmocka_unit_test(test_app_statements),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_error_limits),
		cmocka_unit_test(test_caret),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_examples),
		cmocka_unit_test(test_demo),
		cmocka_unit_test(test_field_names),
		cmocka_unit_test(test_expr),
		cmocka_unit_test(test_apply),
		cmocka_unit_test(test_apply_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
