/* Unit tests for kernel steering, without root: plan checks, generations,
 * chain names, the iptables-restore text for several plans and installed
 * states (golden strings), reading iptables-save output, the
 * nfnetlink_queue proc parser, and running tools (sh, cat, sleep). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture/steer.h"

#define V4 WEIR__STEER_IPV4
#define V6 WEIR__STEER_IPV6
#define IN WEIR__STEER_INPUT
#define OUT WEIR__STEER_OUTPUT
#define FWD WEIR__STEER_FORWARD

static struct weir__steer_hook_plan *hook(struct weir__steer_plan *p, int f,
					  int h)
{
	p->hook[f][h].queue = true;
	return &p->hook[f][h];
}

/* Renders and compares; NULL `want`: nothing to change. */
static void check_render(const struct weir__steer_plan *p, int family,
			 const struct weir__steer_state *cur,
			 const char *want)
{
	static char unset[] = "unset";
	struct weir__steer_err err = { 0 };
	char *text = unset;

	assert_int_equal(weir__steer_render(p, family, cur, &text, &err), 0);
	if (!want) {
		assert_null(text);
		return;
	}
	assert_non_null(text);
	assert_string_equal(text, want);
	free(text);
}

/* The way back from what p makes of cur (a rollback) is `want`. */
static void check_way_back(const struct weir__steer_plan *p,
			   const struct weir__steer_state *cur,
			   const char *want)
{
	struct weir__steer_state to;
	char *text = NULL;

	assert_int_equal(weir__steer_target(p, V4, cur, &to), 0);
	assert_int_equal(weir__steer_diff(&to, cur, NULL, &text), 0);
	assert_non_null(text);
	assert_string_equal(text, want);
	free(text);
	weir__steer_state_exit(&to);
}

/* ---- plans ---------------------------------------------------------- */

static void expect_bad(const struct weir__steer_plan *p, const char *why)
{
	struct weir__steer_err err = { 0 };

	assert_int_equal(weir__steer_plan_check(p, &err), -EINVAL);
	assert_non_null(strstr(err.msg, why));
}

static void plan_defaults(void **state)
{
	struct weir__steer_plan p;

	(void)state;
	weir__steer_plan_init(&p);
	assert_null(p.tag);
	assert_null(p.netns_path);
	assert_int_equal(p.mark, 0x00570000);
	assert_int_equal(p.mark_mask, 0x00ff0000);
	assert_int_equal(p.vmark_mask, 0xff000000);
	assert_int_equal(p.ct_mask, 0xff000000);
	assert_int_equal(p.generation, 1);
	assert_int_equal(weir__steer_plan_check(&p, NULL), 0);
}

static void plan_checks(void **state)
{
	struct weir__steer_plan p, q;

	(void)state;
	weir__steer_plan_init(&p);
	q = p, q.tag = "";
	expect_bad(&q, "tag");
	q = p, q.tag = "0123456789abcdef";          /* 16 */
	expect_bad(&q, "tag");
	q = p, q.tag = "0123456789abcde";           /* 15 */
	assert_int_equal(weir__steer_plan_check(&q, NULL), 0);
	q = p, q.tag = "a b";
	expect_bad(&q, "tag");
	q = p, q.tag = "-x";
	expect_bad(&q, "tag");
	q = p, q.tag = "a\"b";
	expect_bad(&q, "tag");
	q = p, q.inject_ifname = "weir0 -j ACCEPT";
	expect_bad(&q, "interface");
	q = p, q.inject_ifname = "weir+";
	assert_int_equal(weir__steer_plan_check(&q, NULL), 0);
	q = p, q.inject_ifname = "we+ir";
	expect_bad(&q, "interface");
	q = p, q.mark = 0;
	expect_bad(&q, "bit set in its mask");
	q = p, q.mark_mask = 0;
	expect_bad(&q, "bit set in its mask");
	q = p, q.mark = 0x01570000;
	expect_bad(&q, "outside its mask");
	q = p, q.ct_mask = 0;
	expect_bad(&q, "one run");
	q = p, q.ct_mask = 0xff00ff00;
	expect_bad(&q, "one run");
	q = p, q.vmark_mask = 0x00f0f000;
	expect_bad(&q, "one run");
	q = p, q.ct_mask = 0x00000100;
	expect_bad(&q, "two bits");
	q = p, q.vmark_mask = 0x00000100;
	expect_bad(&q, "two bits");
	q = p, q.vmark_mask = 0x0ff00000;
	expect_bad(&q, "overlaps the injection mark");
	q = p, q.generation = 0;
	expect_bad(&q, "generation");
	q = p, q.ct_mask = 0x0f000000, q.generation = 16;
	expect_bad(&q, "generation");
	q = p, q.backend = 9;
	expect_bad(&q, "backend");
	q = p;
	hook(&q, V6, FWD)->qfirst = 3;
	expect_bad(&q, "IPv6 FORWARD: queue range ends before it starts");
	q = p;
	hook(&q, V4, OUT)->cpu_fanout = true;
	expect_bad(&q, "IPv4 OUTPUT: CPU fan-out needs a range");
	q.hook[V4][OUT].qlast = 1;
	assert_int_equal(weir__steer_plan_check(&q, NULL), 0);
	/* A hook not steered is not checked. */
	q = p;
	q.hook[V4][IN].qfirst = 9;
	assert_int_equal(weir__steer_plan_check(&q, NULL), 0);
	assert_int_equal(weir__steer_plan_check(NULL, NULL), -EINVAL);
}

static void generations(void **state)
{
	struct weir__steer_plan p;

	(void)state;
	weir__steer_plan_init(&p);
	assert_int_equal(weir__steer_generation_max(&p), 255);
	p.ct_mask = 0x0f000000;
	assert_int_equal(weir__steer_generation_max(&p), 15);
	p.ct_mask = 0x0003fc00;
	assert_int_equal(weir__steer_generation_max(&p), 255);
	p.ct_mask = 0xffff0000;
	assert_int_equal(weir__steer_generation_max(&p), 255);
	/* The smaller of both fields. */
	p.ct_mask = 0x00000006;
	assert_int_equal(weir__steer_generation_max(&p), 3);
	p.ct_mask = 0xff000000, p.vmark_mask = 0x00000070;
	assert_int_equal(weir__steer_generation_max(&p), 7);
	p.vmark_mask = 0;
	assert_int_equal(weir__steer_generation_max(&p), 0);
	p.vmark_mask = 0x00000101;
	assert_int_equal(weir__steer_generation_max(&p), 0);
	assert_int_equal(weir__steer_generation_next(&p, 1), 0);

	weir__steer_plan_init(&p);
	assert_int_equal(weir__steer_generation_next(&p, 1), 2);
	assert_int_equal(weir__steer_generation_next(&p, 254), 255);
	assert_int_equal(weir__steer_generation_next(&p, 255), 1);
	assert_int_equal(weir__steer_generation_next(&p, 0), 1);
	assert_int_equal(weir__steer_ctmark(&p, 3), 0x03000000);
	assert_int_equal(weir__steer_ctmark(&p, 255), 0xff000000);
	assert_int_equal(weir__steer_vmark(&p, 3), 0x03000000);
	p.ct_mask = 0x0000ff00, p.vmark_mask = 0x00000006;
	assert_int_equal(weir__steer_ctmark(&p, 5), 0x00000500);
	assert_int_equal(weir__steer_vmark(&p, 2), 0x00000004);
	assert_int_equal(weir__steer_generation_next(&p, 3), 1);
	p.ct_mask = 0xff00ff00;
	assert_int_equal(weir__steer_ctmark(&p, 1), 0);
	/* Never 0 on the way round: a connmark of 0 is every new flow. */
	weir__steer_plan_init(&p);
	for (uint8_t g = 1, i = 0; i < 255; i++) {
		g = weir__steer_generation_next(&p, g);
		assert_int_not_equal(g, 0);
	}
}

static void chain_names(void **state)
{
	char name[WEIR__STEER_CHAIN_MAX];

	(void)state;
	assert_int_equal(weir__steer_chain_name(NULL, IN, name), 0);
	assert_string_equal(name, "WEIR-INPUT");
	assert_int_equal(weir__steer_chain_name("weir", FWD, name), 0);
	assert_string_equal(name, "WEIR-FORWARD");
	assert_int_equal(weir__steer_chain_name("gw", OUT, name), 0);
	assert_string_equal(name, "WEIR-gw-OUTPUT");
	assert_int_equal(weir__steer_chain_name("0123456789abcde", FWD, name),
			 0);
	assert_string_equal(name, "WEIR-0123456789abcde-FORWARD");
	assert_int_equal(strlen(name), 28);
	assert_int_equal(weir__steer_chain_name("a b", IN, name), -EINVAL);
	assert_int_equal(weir__steer_chain_name(NULL, 3, name), -EINVAL);
}

/* ---- rendering ------------------------------------------------------- */

static void render_one_hook(void **state)
{
	struct weir__steer_plan p;

	(void)state;
	weir__steer_plan_init(&p);
	hook(&p, V4, IN)->bypass = true;
	check_render(&p, V4, NULL,
		"*filter\n"
		":WEIR-INPUT - [0:0]\n"
		"-A WEIR-INPUT -m mark --mark 0x570000/0xff0000 -j RETURN\n"
		"-A WEIR-INPUT -m mark --mark 0x1000000/0xff000000"
		" -j CONNMARK --set-xmark 0x1000000/0xff000000\n"
		"-A WEIR-INPUT -m connmark --mark 0x1000000/0xff000000"
		" -j RETURN\n"
		"-A WEIR-INPUT -j NFQUEUE --queue-num 0 --queue-bypass\n"
		"-I INPUT 1 -j WEIR-INPUT\n"
		"COMMIT\n");
	/* The plan steers no IPv6: nothing to do there. */
	check_render(&p, V6, NULL, NULL);
}

/* A policy that cannot leave flows in the kernel gets no connmark
 * rules: they would never match, and they make conntrack track every
 * packet of the namespace. */
static void render_no_ct_bypass(void **state)
{
	struct weir__steer_plan p;

	(void)state;
	weir__steer_plan_init(&p);
	hook(&p, V4, FWD)->bypass = true;
	hook(&p, V4, FWD)->no_ct_bypass = true;
	check_render(&p, V4, NULL,
		"*filter\n"
		":WEIR-FORWARD - [0:0]\n"
		"-A WEIR-FORWARD -m mark ! --mark 0x570000/0xff0000"
		" -j NFQUEUE --queue-num 0 --queue-bypass\n"
		"-I FORWARD 1 -j WEIR-FORWARD\n"
		"COMMIT\n");
	/* With TUN devices to skip: a negated -i in the same rule, except
	 * in OUTPUT. */
	p.inject_ifname = "weir-inj+";
	p.mark_mask = 0xff;
	p.mark = 0x57;
	hook(&p, V4, OUT)->no_ct_bypass = true;
	check_render(&p, V4, NULL,
		"*filter\n"
		":WEIR-OUTPUT - [0:0]\n"
		"-A WEIR-OUTPUT -m mark ! --mark 0x57/0xff"
		" -j NFQUEUE --queue-num 0\n"
		":WEIR-FORWARD - [0:0]\n"
		"-A WEIR-FORWARD ! -i weir-inj+ -m mark ! --mark 0x57/0xff"
		" -j NFQUEUE --queue-num 0 --queue-bypass\n"
		"-I FORWARD 1 -j WEIR-FORWARD\n"
		"-I OUTPUT 1 -j WEIR-OUTPUT\n"
		"COMMIT\n");
}

/* A new FORWARD chain's connmark bypass rules (generation 1). */
#define FWD_CONNMARK_HEAD \
	"*filter\n:WEIR-FORWARD - [0:0]\n" \
	"-A WEIR-FORWARD -m mark --mark 0x570000/0xff0000 -j RETURN\n" \
	"-A WEIR-FORWARD -m mark --mark 0x1000000/0xff000000" \
	" -j CONNMARK --set-xmark 0x1000000/0xff000000\n" \
	"-A WEIR-FORWARD -m connmark --mark 0x1000000/0xff000000" \
	" -j RETURN\n"

/* Skips left to the workers (FORWARD under `weir run`): the bare queue
 * rule, and FORWARD holds a copy of it instead of a jump; a chain with
 * connmark rules keeps its skips and its jump, the flag is for one-rule
 * chains only. */
static void render_skips_in_user(void **state)
{
	struct weir__steer_plan p;
	struct weir__steer_hook_plan *h;
	const char *rest = "-A WEIR-FORWARD -j NFQUEUE --queue-num 0\n"
			   "-I FORWARD 1 -j WEIR-FORWARD\n"
			   "COMMIT\n";
	char want[512];

	(void)state;
	weir__steer_plan_init(&p);
	p.inject_ifname = "weir-inj+";
	h = hook(&p, V4, FWD);
	h->no_ct_bypass = h->skips_in_user = true;
	check_render(&p, V4, NULL,
		"*filter\n:WEIR-FORWARD - [0:0]\n"
		"-A WEIR-FORWARD -j NFQUEUE --queue-num 0\n"
		"-I FORWARD 1 -j NFQUEUE --queue-num 0\n"
		"COMMIT\n");
	h->no_ct_bypass = false;
	snprintf(want, sizeof(want),
		 "%s-A WEIR-FORWARD -i weir-inj+ -j RETURN\n%s",
		 FWD_CONNMARK_HEAD, rest);
	check_render(&p, V4, NULL, want);
}

static void render_gateway(void **state)
{
	struct weir__steer_plan p;
	struct weir__steer_hook_plan *h;

	(void)state;
	weir__steer_plan_init(&p);
	p.tag = "gw";
	p.inject_ifname = "weir+";
	p.generation = 7;
	p.mark = 0x4;
	p.mark_mask = 0x4;
	h = hook(&p, V6, FWD);
	h->qfirst = 0, h->qlast = 3, h->cpu_fanout = true, h->bypass = true;
	h = hook(&p, V6, OUT);
	h->new_only = true, h->qfirst = h->qlast = 8;
	check_render(&p, V6, NULL,
		"*filter\n"
		":WEIR-gw-OUTPUT - [0:0]\n"
		"-A WEIR-gw-OUTPUT -m mark --mark 0x4/0x4 -j RETURN\n"
		"-A WEIR-gw-OUTPUT -m mark --mark 0x7000000/0xff000000"
		" -j CONNMARK --set-xmark 0x7000000/0xff000000\n"
		"-A WEIR-gw-OUTPUT -m connmark --mark 0x7000000/0xff000000"
		" -j RETURN\n"
		"-A WEIR-gw-OUTPUT -m conntrack --ctstate NEW"
		" -j NFQUEUE --queue-num 8\n"
		"-A WEIR-gw-OUTPUT -m connmark ! --mark 0x0/0xff000000"
		" -j NFQUEUE --queue-num 8\n"
		":WEIR-gw-FORWARD - [0:0]\n"
		"-A WEIR-gw-FORWARD -m mark --mark 0x4/0x4 -j RETURN\n"
		"-A WEIR-gw-FORWARD -m mark --mark 0x7000000/0xff000000"
		" -j CONNMARK --set-xmark 0x7000000/0xff000000\n"
		"-A WEIR-gw-FORWARD -m connmark --mark 0x7000000/0xff000000"
		" -j RETURN\n"
		"-A WEIR-gw-FORWARD -i weir+ -j RETURN\n"
		"-A WEIR-gw-FORWARD -j NFQUEUE --queue-balance 0:3"
		" --queue-bypass --queue-cpu-fanout\n"
		"-I FORWARD 1 -j WEIR-gw-FORWARD\n"
		"-I OUTPUT 1 -j WEIR-gw-OUTPUT\n"
		"COMMIT\n");
}

/* A full mask: the matches print no mask, CONNMARK still does. */
static void render_full_mask(void **state)
{
	struct weir__steer_plan p;

	(void)state;
	weir__steer_plan_init(&p);
	p.mark = 0x1234;
	p.mark_mask = 0x0000ffff;
	p.vmark_mask = 0x00ff0000;
	p.ct_mask = 0xffffffff;
	p.generation = 2;
	hook(&p, V4, OUT)->qfirst = hook(&p, V4, OUT)->qlast = 65535;
	check_render(&p, V4, NULL,
		"*filter\n"
		":WEIR-OUTPUT - [0:0]\n"
		"-A WEIR-OUTPUT -m mark --mark 0x1234/0xffff -j RETURN\n"
		"-A WEIR-OUTPUT -m mark --mark 0x20000/0xff0000"
		" -j CONNMARK --set-xmark 0x2/0xffffffff\n"
		"-A WEIR-OUTPUT -m connmark --mark 0x2 -j RETURN\n"
		"-A WEIR-OUTPUT -j NFQUEUE --queue-num 65535\n"
		"-I OUTPUT 1 -j WEIR-OUTPUT\n"
		"COMMIT\n");
}

static void render_bad_plan(void **state)
{
	struct weir__steer_plan p;
	struct weir__steer_err err = { 0 };
	char *text = NULL;

	(void)state;
	weir__steer_plan_init(&p);
	p.generation = 0;
	assert_int_equal(weir__steer_render(&p, V4, NULL, &text, &err),
			 -EINVAL);
	assert_null(text);
	assert_non_null(strstr(err.msg, "generation"));
}

/* What iptables-save prints after render_one_hook's plan, plus an admin
 * rule, a nat table with a same-named chain and another instance. */
static const char save_installed[] =
	"# Generated by iptables-save v1.8.9 (nf_tables)\n"
	"*nat\n"
	":PREROUTING ACCEPT [0:0]\n"
	":WEIR-INPUT - [0:0]\n"
	"-A PREROUTING -m comment --comment \"weir:weir\" -j WEIR-INPUT\n"
	"COMMIT\n"
	"*filter\n"
	":INPUT ACCEPT [0:0]\n"
	":FORWARD ACCEPT [0:0]\n"
	":OUTPUT ACCEPT [0:0]\n"
	":WEIR-INPUT - [0:0]\n"
	":WEIR-other-INPUT - [0:0]\n"
	"-A INPUT -s 192.0.2.1/32 -j ACCEPT\n"
	"-A INPUT -j WEIR-INPUT\n"
	"-A INPUT -j WEIR-other-INPUT\n"
	"-A WEIR-INPUT -m mark --mark 0x570000/0xff0000 -j RETURN\n"
	"-A WEIR-INPUT -m mark --mark 0x1000000/0xff000000"
	" -j CONNMARK --set-xmark 0x1000000/0xff000000\n"
	"-A WEIR-INPUT -m connmark --mark 0x1000000/0xff000000 -j RETURN\n"
	"-A WEIR-INPUT -j NFQUEUE --queue-num 0 --queue-bypass\n"
	"-A WEIR-other-INPUT -j NFQUEUE --queue-num 5\n"
	"COMMIT\n"
	"# Completed\n";

static void state_parse(void **state)
{
	struct weir__steer_state st;

	(void)state;
	assert_int_equal(weir__steer_state_parse(&st, save_installed, NULL),
			 0);
	assert_true(st.chain[IN]);
	assert_false(st.chain[OUT]);
	assert_false(st.chain[FWD]);
	assert_int_equal(st.rules[IN].n, 4);
	assert_string_equal(st.rules[IN].v[3],
		"-A WEIR-INPUT -j NFQUEUE --queue-num 0 --queue-bypass");
	assert_int_equal(st.jumps.n, 1);
	assert_string_equal(st.jumps.v[0], "-A INPUT -j WEIR-INPUT");
	assert_int_equal(st.links[IN].n, 0);
	assert_int_equal(weir__steer_state_count(&st), 6);
	assert_int_equal(weir__steer_state_generation(&st, 0xff000000), 1);
	assert_int_equal(weir__steer_state_generation(&st, 0x00ff0000), 0);
	weir__steer_state_exit(&st);

	/* The other instance sees only its own. */
	assert_int_equal(weir__steer_state_parse(&st, save_installed,
						 "other"), 0);
	assert_true(st.chain[IN]);
	assert_int_equal(st.rules[IN].n, 1);
	assert_int_equal(st.jumps.n, 1);
	assert_int_equal(weir__steer_state_generation(&st, 0xff000000), 0);
	weir__steer_state_exit(&st);
	assert_int_equal(weir__steer_state_parse(&st, "", "a b"), -EINVAL);
	weir__steer_state_exit(&st);
}

/* Re-applying the installed plan changes nothing: the rendering is
 * byte for byte what iptables-save prints. */
static void render_idempotent(void **state)
{
	struct weir__steer_plan p;
	struct weir__steer_state st;

	(void)state;
	weir__steer_plan_init(&p);
	hook(&p, V4, IN)->bypass = true;
	assert_int_equal(weir__steer_state_parse(&st, save_installed, NULL),
			 0);
	check_render(&p, V4, &st, NULL);
	weir__steer_state_exit(&st);
}

/* A reload with a new generation rewrites the chain and leaves the jump
 * where it is (after the admin's first rule). */
static void render_new_generation(void **state)
{
	struct weir__steer_plan p;
	struct weir__steer_state st;

	(void)state;
	weir__steer_plan_init(&p);
	hook(&p, V4, IN)->bypass = true;
	p.generation = 2;
	assert_int_equal(weir__steer_state_parse(&st, save_installed, NULL),
			 0);
	check_render(&p, V4, &st,
		"*filter\n"
		":WEIR-INPUT - [0:0]\n"
		"-A WEIR-INPUT -m mark --mark 0x570000/0xff0000 -j RETURN\n"
		"-A WEIR-INPUT -m mark --mark 0x2000000/0xff000000"
		" -j CONNMARK --set-xmark 0x2000000/0xff000000\n"
		"-A WEIR-INPUT -m connmark --mark 0x2000000/0xff000000"
		" -j RETURN\n"
		"-A WEIR-INPUT -j NFQUEUE --queue-num 0 --queue-bypass\n"
		"COMMIT\n");
	weir__steer_state_exit(&st);
}

/* After a crash and a hand edit: two copies of the jump (one in the
 * commented form of older versions), a stale tagged rule elsewhere, an
 * admin's jump to our OUTPUT chain. */
static const char save_messy[] =
	"*filter\n"
	":INPUT ACCEPT [0:0]\n"
	":FORWARD ACCEPT [0:0]\n"
	":OUTPUT ACCEPT [0:0]\n"
	":WEIR-INPUT - [0:0]\n"
	":WEIR-OUTPUT - [0:0]\n"
	":admin - [0:0]\n"
	"-A INPUT -j WEIR-INPUT\n"
	"-A INPUT -m comment --comment \"weir:weir\" -j WEIR-INPUT\n"
	"-A OUTPUT -m comment --comment \"weir:weir\" -j WEIR-OUTPUT\n"
	"-A FORWARD -p tcp -m comment --comment weir:weir -j ACCEPT\n"
	"-A admin -p udp -g WEIR-OUTPUT\n"
	"-A admin -m comment --comment \"weir:weirdo\" -j ACCEPT\n"
	"-A WEIR-INPUT -m connmark --mark 0x9000000/0xff000000 -j RETURN\n"
	"-A WEIR-OUTPUT -m connmark --mark 0x3000000/0xff000000 -j RETURN\n"
	"-A WEIR-OUTPUT -j NFQUEUE --queue-num 1\n"
	"COMMIT\n";

static void state_messy(void **state)
{
	struct weir__steer_state st;

	(void)state;
	assert_int_equal(weir__steer_state_parse(&st, save_messy, NULL), 0);
	assert_int_equal(st.jumps.n, 4);
	assert_int_equal(st.links[OUT].n, 1);
	assert_string_equal(st.links[OUT].v[0],
			    "-A admin -p udp -g WEIR-OUTPUT");
	assert_int_equal(weir__steer_state_generation(&st, 0xff000000), 9);
	assert_int_equal(weir__steer_state_count(&st), 2 + 3 + 4 + 1);
	weir__steer_state_exit(&st);
}

/* The plan keeps INPUT (one jump stays, its twin goes), drops OUTPUT
 * (the admin's link to it goes first), and the stale rule goes. */
static void render_messy(void **state)
{
	struct weir__steer_plan p;
	struct weir__steer_state st;

	(void)state;
	weir__steer_plan_init(&p);
	hook(&p, V4, IN)->qfirst = hook(&p, V4, IN)->qlast = 2;
	assert_int_equal(weir__steer_state_parse(&st, save_messy, NULL), 0);
	check_render(&p, V4, &st,
		"*filter\n"
		":WEIR-INPUT - [0:0]\n"
		"-A WEIR-INPUT -m mark --mark 0x570000/0xff0000 -j RETURN\n"
		"-A WEIR-INPUT -m mark --mark 0x1000000/0xff000000"
		" -j CONNMARK --set-xmark 0x1000000/0xff000000\n"
		"-A WEIR-INPUT -m connmark --mark 0x1000000/0xff000000"
		" -j RETURN\n"
		"-A WEIR-INPUT -j NFQUEUE --queue-num 2\n"
		"-D INPUT -m comment --comment \"weir:weir\" -j WEIR-INPUT\n"
		"-D OUTPUT -m comment --comment \"weir:weir\" -j WEIR-OUTPUT\n"
		"-D FORWARD -p tcp -m comment --comment weir:weir -j ACCEPT\n"
		"-D admin -p udp -g WEIR-OUTPUT\n"
		"-F WEIR-OUTPUT\n"
		"-X WEIR-OUTPUT\n"
		"COMMIT\n");
	weir__steer_state_exit(&st);
}

/* An admin's link to a chain that stays is kept; the jump, missing,
 * is inserted. */
static void render_keeps_links(void **state)
{
	static const char save[] =
		"*filter\n"
		":WEIR-OUTPUT - [0:0]\n"
		"-A admin -p udp -g WEIR-OUTPUT\n"
		"-A WEIR-OUTPUT -j NFQUEUE --queue-num 1\n"
		"COMMIT\n";
	struct weir__steer_plan p;
	struct weir__steer_state st;

	(void)state;
	weir__steer_plan_init(&p);
	hook(&p, V4, OUT)->qfirst = hook(&p, V4, OUT)->qlast = 1;
	assert_int_equal(weir__steer_state_parse(&st, save, NULL), 0);
	check_render(&p, V4, &st,
		"*filter\n"
		":WEIR-OUTPUT - [0:0]\n"
		"-A WEIR-OUTPUT -m mark --mark 0x570000/0xff0000 -j RETURN\n"
		"-A WEIR-OUTPUT -m mark --mark 0x1000000/0xff000000"
		" -j CONNMARK --set-xmark 0x1000000/0xff000000\n"
		"-A WEIR-OUTPUT -m connmark --mark 0x1000000/0xff000000"
		" -j RETURN\n"
		"-A WEIR-OUTPUT -j NFQUEUE --queue-num 1\n"
		"-I OUTPUT 1 -j WEIR-OUTPUT\n"
		"COMMIT\n");
	/* The way back (a rollback) restores the chain and the jump. */
	check_way_back(&p, &st,
		"*filter\n"
		":WEIR-OUTPUT - [0:0]\n"
		"-A WEIR-OUTPUT -j NFQUEUE --queue-num 1\n"
		"-D OUTPUT -j WEIR-OUTPUT\n"
		"COMMIT\n");
	weir__steer_state_exit(&st);
}

/* An older version's commented jump below an admin's rule: the plain
 * jump takes its place (not position 1), and the way back puts the old
 * one there again. */
static void render_upgrade_keeps_place(void **state)
{
	static const char save[] =
		"*filter\n"
		":INPUT ACCEPT [0:0]\n"
		":WEIR-INPUT - [0:0]\n"
		"-A INPUT -i lo -j ACCEPT\n"
		"-A INPUT -m comment --comment \"weir:weir\" -j WEIR-INPUT  \n"
		"-A WEIR-INPUT -m mark ! --mark 0x570000/0xff0000"
		" -j NFQUEUE --queue-num 0\n"
		"COMMIT\n";
	struct weir__steer_plan p;
	struct weir__steer_state st;

	(void)state;
	weir__steer_plan_init(&p);
	hook(&p, V4, IN)->no_ct_bypass = true;
	assert_int_equal(weir__steer_state_parse(&st, save, NULL), 0);
	assert_int_equal(st.jump_pos[IN], 2);
	/* (The trailing blanks of the saved line do not matter.) */
	assert_string_equal(st.jumps.v[0],
		"-A INPUT -m comment --comment \"weir:weir\" -j WEIR-INPUT");
	check_render(&p, V4, &st,
		"*filter\n"
		"-I INPUT 2 -j WEIR-INPUT\n"
		"-D INPUT -m comment --comment \"weir:weir\" -j WEIR-INPUT\n"
		"COMMIT\n");
	check_way_back(&p, &st,
		"*filter\n"
		"-I INPUT 2 -m comment --comment \"weir:weir\" -j WEIR-INPUT\n"
		"-D INPUT -j WEIR-INPUT\n"
		"COMMIT\n");
	weir__steer_state_exit(&st);
}

/* The direct FORWARD rule (skips_in_user) read back: a copy of a queue
 * rule of weir's FORWARD chain is weir's, in place (an admin's rule above stays
 * first); rendering it again changes nothing; the jump form of before
 * gives way to it at the jump's place, and a plan that needs the chain's
 * skips again puts the jump back where the copy was. An admin's rule
 * that differs is not taken. */
static void render_direct_rule(void **state)
{
	static const char save[] =
		"*filter\n"
		":FORWARD ACCEPT [0:0]\n"
		":WEIR-FORWARD - [0:0]\n"
		"-A FORWARD -i lo -j ACCEPT\n"
		"-A FORWARD -j NFQUEUE --queue-num 0\n"
		"-A FORWARD -j NFQUEUE --queue-num 3\n"
		"-A WEIR-FORWARD -j NFQUEUE --queue-num 0\n"
		"COMMIT\n";
	static const char save_jump[] =
		"*filter\n"
		":FORWARD ACCEPT [0:0]\n"
		":WEIR-FORWARD - [0:0]\n"
		"-A FORWARD -i lo -j ACCEPT\n"
		"-A FORWARD -j WEIR-FORWARD\n"
		"-A WEIR-FORWARD -j NFQUEUE --queue-num 0\n"
		"COMMIT\n";
	static const char save_appended[] =
		"*filter\n"
		":INPUT ACCEPT [0:0]\n"
		":FORWARD ACCEPT [0:0]\n"
		":WEIR-INPUT - [0:0]\n"
		":WEIR-FORWARD - [0:0]\n"
		"-A INPUT -j NFQUEUE --queue-num 0\n"
		"-A FORWARD -j NFQUEUE --queue-num 0\n"
		"-A WEIR-INPUT -j NFQUEUE --queue-num 0\n"
		"-A WEIR-FORWARD -j NFQUEUE --queue-num 0\n"
		"-A WEIR-FORWARD -j ACCEPT\n"
		"COMMIT\n";
	struct weir__steer_plan p;
	struct weir__steer_hook_plan *h;
	struct weir__steer_state st;

	(void)state;
	weir__steer_plan_init(&p);
	h = hook(&p, V4, FWD);
	h->no_ct_bypass = h->skips_in_user = true;
	assert_int_equal(weir__steer_state_parse(&st, save, NULL), 0);
	assert_int_equal(st.jumps.n, 1);
	assert_string_equal(st.jumps.v[0],
			    "-A FORWARD -j NFQUEUE --queue-num 0");
	assert_int_equal(st.jump_pos[FWD], 2);
	check_render(&p, V4, &st, NULL);
	h->no_ct_bypass = false;
	check_render(&p, V4, &st,
		FWD_CONNMARK_HEAD
		"-A WEIR-FORWARD -j NFQUEUE --queue-num 0\n"
		"-I FORWARD 2 -j WEIR-FORWARD\n"
		"-D FORWARD -j NFQUEUE --queue-num 0\n"
		"COMMIT\n");
	weir__steer_state_exit(&st);
	h->no_ct_bypass = true;
	assert_int_equal(weir__steer_state_parse(&st, save_jump, NULL), 0);
	assert_int_equal(st.jump_pos[FWD], 2);
	check_render(&p, V4, &st,
		"*filter\n"
		"-I FORWARD 2 -j NFQUEUE --queue-num 0\n"
		"-D FORWARD -j WEIR-FORWARD\n"
		"COMMIT\n");
	weir__steer_state_exit(&st);
	/* A rule appended to weir's chain does not hide the copy from
	 * removal; INPUT has no copies. */
	assert_int_equal(weir__steer_state_parse(&st, save_appended, NULL), 0);
	assert_int_equal(st.jumps.n, 1);
	assert_string_equal(st.jumps.v[0],
			    "-A FORWARD -j NFQUEUE --queue-num 0");
	weir__steer_state_exit(&st);
}

static char save_messy_unset[] = "unset";

/* Removal: every rule of the tag and its chains, nothing else. */
static void render_remove(void **state)
{
	struct weir__steer_state st;
	char *text = NULL;

	(void)state;
	assert_int_equal(weir__steer_state_parse(&st, save_installed, NULL),
			 0);
	assert_int_equal(weir__steer_diff(&st, NULL, NULL, &text), 0);
	assert_non_null(text);
	assert_string_equal(text,
		"*filter\n"
		"-D INPUT -j WEIR-INPUT\n"
		"-F WEIR-INPUT\n"
		"-X WEIR-INPUT\n"
		"COMMIT\n");
	free(text);
	weir__steer_state_exit(&st);
	/* Nothing there, nothing to do. */
	text = save_messy_unset;
	assert_int_equal(weir__steer_diff(NULL, NULL, NULL, &text), 0);
	assert_null(text);
}

/* ---- /proc/net/netfilter/nfnetlink_queue ----------------------------- */

static void proc_parse(void **state)
{
	static const char text[] =
		"    0  12345     3 2 65535     0     0       42  1\n"
		"65535 4294967295 0 0     0     7     9 4294967295  1\n";
	struct weir__nfq_proc q[2];

	(void)state;
	assert_int_equal(weir__nfq_proc_parse(text, q, 2), 2);
	assert_int_equal(q[0].queue, 0);
	assert_int_equal(q[0].portid, 12345);
	assert_int_equal(q[0].queue_total, 3);
	assert_int_equal(q[0].copy_mode, 2);
	assert_int_equal(q[0].copy_range, 65535);
	assert_int_equal(q[0].id_sequence, 42);
	assert_int_equal(q[1].queue, 65535);
	assert_int_equal(q[1].portid, 4294967295u);
	assert_int_equal(q[1].queue_dropped, 7);
	assert_int_equal(q[1].user_dropped, 9);
	/* More queues than room: counted, not stored. */
	memset(q, 0xee, sizeof(q));
	assert_int_equal(weir__nfq_proc_parse(text, q, 1), 2);
	assert_int_equal(q[0].portid, 12345);
	assert_int_equal(q[1].queue, 0xeeee);
	assert_int_equal(weir__nfq_proc_parse("", q, 2), 0);
	assert_int_equal(weir__nfq_proc_parse("\n", q, 2), 0);
	assert_int_equal(weir__nfq_proc_parse("1 2 3\n", q, 2), -EBADMSG);
	assert_int_equal(weir__nfq_proc_parse("70000 1 0 2 0 0 0 0 1\n", q, 2),
			 -EBADMSG);
	assert_int_equal(weir__nfq_proc_parse("x 1 0 2 0 0 0 0 1\n", q, 2),
			 -EBADMSG);
}

static void proc_bad_netns(void **state)
{
	struct weir__nfq_proc q[1];

	(void)state;
	assert_int_equal(weir__nfq_proc_read("/nonexistent/netns", q, 1),
			 -EBADF);
}

/* ---- running tools ---------------------------------------------------- */

static void exec_roundtrip(void **state)
{
	const char *argv[] = { "sh", "-c", "cat; echo oops >&2; exit 2",
			       NULL };
	size_t n = 3u << 20;    /* beyond any pipe buffer both ways */
	char *in = malloc(n);
	struct weir__steer_run run = { .want_out = true };

	(void)state;
	assert_non_null(in);
	for (size_t i = 0; i < n; i++)
		in[i] = (char)('a' + i % 26);
	run.in = in;
	run.in_len = n;
	assert_int_equal(weir__steer_exec(argv, &run), -EINVAL);
	assert_int_equal(run.status, 2);
	assert_string_equal(run.err, "oops\n");
	assert_int_equal(run.out_len, n);
	assert_memory_equal(run.out, in, n);
	free(run.out);
	free(in);
}

static void exec_failures(void **state)
{
	const char *none[] = { "weir-no-such-tool", NULL };
	const char *ok[] = { "true", NULL };
	const char *slow[] = { "sleep", "10", NULL };
	const char *bus[] = { "sh", "-c", "exit 4", NULL };
	struct weir__steer_run run = { 0 };

	(void)state;
	assert_int_equal(weir__steer_exec(none, &run), -ENOENT);
	assert_int_equal(run.status, -1);
	assert_non_null(strstr(run.err, "not found"));
	run = (struct weir__steer_run){ .netns_path = "/nonexistent" };
	assert_int_equal(weir__steer_exec(ok, &run), -ENOENT);
	assert_non_null(strstr(run.err, "/nonexistent"));
	run = (struct weir__steer_run){ .timeout_ms = 200 };
	assert_int_equal(weir__steer_exec(slow, &run), -ETIMEDOUT);
	assert_non_null(strstr(run.err, "no answer"));
	run = (struct weir__steer_run){ .want_out = true };
	assert_int_equal(weir__steer_exec(ok, &run), 0);
	assert_int_equal(run.status, 0);
	assert_string_equal(run.out, "");
	free(run.out);
	run = (struct weir__steer_run){ 0 };
	assert_int_equal(weir__steer_exec(bus, &run), -EBUSY);
	assert_int_equal(run.status, 4);
}

/* A tool that does not read its stdin and exits: no SIGPIPE for us. */
static void exec_early_exit(void **state)
{
	const char *argv[] = { "true", NULL };
	size_t n = 1u << 20;
	char *in = calloc(1, n);
	struct weir__steer_run run = { 0 };

	(void)state;
	assert_non_null(in);
	run.in = in;
	run.in_len = n;
	assert_int_equal(weir__steer_exec(argv, &run), 0);
	free(in);
}


/* ---- the iptables backend against fake tools ------------------------- */

/* Fake iptables-save/-restore in a temporary directory put first in
 * PATH: a save prints the file saveN, a restore appends its stdin and a
 * "--" line to restoreN.log and exits with the number in rcN (if any),
 * printing errN to stderr. */
static char fake_dir[64];

static void put_file(const char *name, const char *text, mode_t mode)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fake_dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static char *get_file(const char *name)
{
	char path[128], *buf = calloc(1, 65536);
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", fake_dir, name);
	f = fopen(path, "r");
	if (f) {
		size_t n = fread(buf, 1, 65535, f);

		buf[n] = '\0';
		fclose(f);
	}
	return buf;
}

static int fake_setup(void **state)
{
	static const char save[] =
		"#!/bin/sh\ncat \"$(dirname \"$0\")/save%s\"\n";
	static const char restore[] =
		"#!/bin/sh\nd=$(dirname \"$0\")\n"
		"cat >>\"$d/restore%s.log\"; echo -- >>\"$d/restore%s.log\"\n"
		"[ -f \"$d/err%s\" ] && cat \"$d/err%s\" >&2\n"
		"exit $(cat \"$d/rc%s\" 2>/dev/null || echo 0)\n";
	char text[512], path[128];

	(void)state;
	strcpy(fake_dir, "/tmp/weir-steer-fake.XXXXXX");
	assert_non_null(mkdtemp(fake_dir));
	for (int f = 4; f <= 6; f += 2) {
		const char *v = f == 4 ? "4" : "6";

		snprintf(path, sizeof(path), "ip%stables-save",
			 f == 4 ? "" : "6");
		snprintf(text, sizeof(text), save, v);
		put_file(path, text, 0755);
		snprintf(path, sizeof(path), "ip%stables-restore",
			 f == 4 ? "" : "6");
		snprintf(text, sizeof(text), restore, v, v, v, v, v);
		put_file(path, text, 0755);
		snprintf(path, sizeof(path), "save%s", v);
		put_file(path, "", 0644);
	}
	snprintf(text, sizeof(text), "%s:/usr/bin:/bin", fake_dir);
	setenv("PATH", text, 1);
	return 0;
}

static int fake_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fake_dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void fake_apply(void **state)
{
	struct weir__steer_plan p;
	struct weir__steer_err err = { 0 };
	char *log4, *log6, *want;

	(void)state;
	weir__steer_plan_init(&p);
	hook(&p, V4, IN)->bypass = true;
	hook(&p, V6, IN)->bypass = true;
	assert_int_equal(weir__steer_apply(&p, &err), 0);
	assert_int_equal(weir__steer_render(&p, V4, NULL, &want, &err), 0);
	log4 = get_file("restore4.log");
	log6 = get_file("restore6.log");
	assert_int_equal(strncmp(log4, want, strlen(want)), 0);
	assert_string_equal(log4 + strlen(want), "--\n");
	assert_string_equal(log4, log6);
	free(want);
	free(log4);
	free(log6);
}

/* IPv6 fails (twice: it is tried again): IPv4 is put back, and the
 * error quotes the line ip6tables-restore named. */
static void fake_rollback(void **state)
{
	struct weir__steer_plan p;
	struct weir__steer_err err = { 0 };
	char *log4, *log6;

	(void)state;
	weir__steer_plan_init(&p);
	hook(&p, V4, IN);
	hook(&p, V6, IN);
	put_file("rc6", "1\n", 0644);
	put_file("err6", "ip6tables-restore: line 5 failed: No chain\n"
		 "Try `ip6tables-restore -h' for more information.\n", 0644);
	assert_int_equal(weir__steer_apply(&p, &err), -EIO);
	assert_int_equal(err.family, V6);
	assert_int_equal(err.status, 1);
	assert_string_equal(err.msg,
		"ip6tables-restore: ip6tables-restore: line 5 failed: No chain"
		" [line: -A WEIR-INPUT -m connmark --mark 0x1000000/0xff000000"
		" -j RETURN]");
	log4 = get_file("restore4.log");
	log6 = get_file("restore6.log");
	/* The apply, then its undoing. */
	assert_non_null(strstr(log4, "--\n*filter\n"
		"-D INPUT -j WEIR-INPUT\n"
		"-F WEIR-INPUT\n-X WEIR-INPUT\nCOMMIT\n--\n"));
	assert_non_null(strstr(log6, "--\n*filter\n:WEIR-INPUT"));
	free(log4);
	free(log6);
}

/* Removal reads what is there and takes it away; nothing there, no
 * restore at all. */
static void fake_remove(void **state)
{
	struct weir__steer_plan p;
	struct weir__steer_err err = { 0 };
	uint8_t gen = 0;
	char *log4, *log6;

	(void)state;
	weir__steer_plan_init(&p);
	put_file("save4", save_installed, 0644);
	assert_int_equal(weir__steer_clean_stale(&p, &gen, &err), 6);
	assert_int_equal(gen, 1);
	log4 = get_file("restore4.log");
	log6 = get_file("restore6.log");
	assert_string_equal(log4, "*filter\n"
		"-D INPUT -j WEIR-INPUT\n"
		"-F WEIR-INPUT\n-X WEIR-INPUT\nCOMMIT\n--\n");
	assert_string_equal(log6, "");
	free(log4);
	free(log6);
	assert_int_equal(weir__steer_remove(&p, &err), 0);
}

/* A restore that fails once (someone changed the table meanwhile)
 * succeeds the second time. */
static void fake_retry(void **state)
{
	static const char flaky[] =
		"#!/bin/sh\nd=$(dirname \"$0\")\ncat >>\"$d/restore4.log\"\n"
		"[ -f \"$d/once\" ] && exit 0\n: >\"$d/once\"; exit 1\n";
	struct weir__steer_plan p;
	struct weir__steer_err err = { 0 };

	(void)state;
	weir__steer_plan_init(&p);
	hook(&p, V4, OUT);
	put_file("iptables-restore", flaky, 0755);
	assert_int_equal(weir__steer_apply(&p, &err), 0);
}

/* A daemon with stdin, stdout and stderr closed: the child's ends land
 * on 0..2, and must still end up where they belong. */
static void exec_closed_stdio(void **state)
{
	const char *argv[] = { "sh", "-c", "cat; echo e >&2", NULL };
	struct weir__steer_run run = { .in = "in\n", .in_len = 3,
				       .want_out = true };
	int saved[3], rc;

	(void)state;
	for (int i = 0; i < 3; i++)
		saved[i] = fcntl(i, F_DUPFD_CLOEXEC, 3);
	for (int i = 0; i < 3; i++)
		close(i);
	rc = weir__steer_exec(argv, &run);
	for (int i = 0; i < 3; i++) {
		dup2(saved[i], i);
		close(saved[i]);
	}
	assert_int_equal(rc, 0);
	assert_string_equal(run.out, "in\n");
	assert_string_equal(run.err, "e\n");
	free(run.out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plan_defaults),
		cmocka_unit_test(plan_checks),
		cmocka_unit_test(generations),
		cmocka_unit_test(chain_names),
		cmocka_unit_test(render_one_hook),
		cmocka_unit_test(render_no_ct_bypass),
		cmocka_unit_test(render_skips_in_user),
		cmocka_unit_test(render_gateway),
		cmocka_unit_test(render_full_mask),
		cmocka_unit_test(render_bad_plan),
		cmocka_unit_test(state_parse),
		cmocka_unit_test(render_idempotent),
		cmocka_unit_test(render_new_generation),
		cmocka_unit_test(state_messy),
		cmocka_unit_test(render_messy),
		cmocka_unit_test(render_keeps_links),
		cmocka_unit_test(render_upgrade_keeps_place),
		cmocka_unit_test(render_direct_rule),
		cmocka_unit_test(render_remove),
		cmocka_unit_test(proc_parse),
		cmocka_unit_test(proc_bad_netns),
		cmocka_unit_test(exec_roundtrip),
		cmocka_unit_test(exec_failures),
		cmocka_unit_test(exec_early_exit),
		cmocka_unit_test(exec_closed_stdio),
		cmocka_unit_test_setup_teardown(fake_apply, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(fake_rollback, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(fake_remove, fake_setup,
						fake_teardown),
		cmocka_unit_test_setup_teardown(fake_retry, fake_setup,
						fake_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
