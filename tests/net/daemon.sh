#!/usr/bin/env bash
# `weir run` end to end, in network namespaces this script creates and
# always removes: client -- gw -- server joined by veth pairs, with
# addresses only inside them (10.231.x.x, fd31:x::x). weir runs in gw
# (or in server for the connect/accept tests); real peers (socat)
# listen in server and connect from client.
#
#   daemon.sh TEST WEIR PLUGIN_DIR
#
# Exit 0 pass, 1 fail, 77 skip (not root, or a tool is missing; under
# CI=true those fail instead).
set -u
name=$1 weir=$2 plugins=$3
C=wc$$ G=wg$$ S=ws$$ namespaces="$C $G $S"
work=$(mktemp -d /tmp/weir-daemon.XXXXXX)
. "$(dirname "$0")/lib.sh"

need_root "network namespaces, NFQUEUE"
need_tools ip iptables-save socat timeout

dump() {
	dump_log weir.log weir 20
	for ns in $G $S; do
		ip netns exec $ns iptables-save 2>/dev/null | grep -i weir |
			sed "s/^/# $ns: /"
	done
}

topology() {
	veth_topology 10.231 fd31
	nsx $C ip addr add 10.231.1.200/24 dev c0
	gateway_routes 10.231 fd31
	# Neighbours resolved before weir starts, so that the first
	# connection of a test does not race address resolution.
	nsx $C ping -c1 -W2 10.231.2.2 >/dev/null 2>&1
	nsx $C ping -6 -c1 -W2 fd31:2::2 >/dev/null 2>&1
}

# TCP servers in S answering "ok PORT" on each connection. The sleep
# keeps the child alive until socat forwarded its output (socat may
# close at the child's exit before it did).
serve() {
	for p in "$@"; do
		nsx $S socat TCP6-LISTEN:$p,fork,reuseaddr,ipv6only=0 \
			SYSTEM:"echo ok $p; sleep 0.2" 2>/dev/null &
	done
	sleep 0.3
}

# connect ADDR PORT [SRC]: succeeds when the server's greeting arrives.
connect() {
	local a=$1 p=$2 bind=""
	[ $# -ge 3 ] && bind=",bind=$3"
	local t="TCP:$a:$p"
	case $a in *:*) t="TCP6:[$a]:$p" ;; esac
	nsx $C timeout 4 socat -T2 - "$t,connect-timeout=2$bind" \
		</dev/null 2>/dev/null | grep -q "ok $p"
}

stats() { "$weir" stats --control "$ctl"; }
stat_of() { stats | grep -o "$1 [0-9]*" | head -1 | awk '{print $2}'; }

expect_ok() { connect "$@" || fail "connection to $* refused, wanted it"; }
expect_no() { ! connect "$@" || fail "connection to $* went through"; }

# received = accepted + dropped + held, and the kernel handed out
# exactly as many packet ids as weir received (one queue, from 0).
balance() {
	local s r k; s=$(stats)
	echo "$s" | grep -q "balance ok" || { echo "$s"; fail "counters do not balance"; }
	# A verdict the kernel refused would be a packet answered twice (or
	# never held): none in any test.
	echo "$s" | grep -q "kernel-errors 0$" &&
		! echo "$s" | grep -q "kernel-errors [1-9]" ||
		{ echo "$s"; fail "the kernel refused requests"; }
	[ "$(echo "$s" | grep -c "kernel queue")" = 1 ] || return 0
	r=$(echo "$s" | grep -o "received [0-9]*" | awk '{print $2}')
	k=$(echo "$s" | grep -o "last-id [0-9]*" | awk '{print $2}')
	[ "$r" = "$k" ] || { echo "$s"; fail "weir received $r, the kernel queued $k"; }
}

rules_gone() {
	local ns=$1 n
	n=$(nsx $ns iptables-save | grep -c -i weir)
	[ "$n" = 0 ] || fail "$n weir rules left in $ns"
	n=$(nsx $ns ip6tables-save | grep -c -i weir)
	[ "$n" = 0 ] || fail "$n weir ip6 rules left in $ns"
}

policy() { cat >"$work/$1.weir"; echo "$work/$1.weir"; }

basic_policy() {
	policy basic <<'EOF'
block "telnet" in ipforward if tcp.dport == 23;
block "bad-host" in ipforward-v4 if ip.src in 10.231.1.128/25;
permit "rest" in ipforward;
EOF
}

# ---- tests ---------------------------------------------------------------

t_block_permit() {
	serve 80 23
	start_weir_in $G "$(basic_policy)"
	expect_ok 10.231.2.2 80
	expect_no 10.231.2.2 23
	expect_no 10.231.2.2 80 10.231.1.200
	expect_ok 10.231.2.2 80 10.231.1.2
	balance
	stats | grep -q "telnet.*hits [1-9]" || fail "no hits on telnet"
	"$weir" stats --json --control "$ctl" | /usr/bin/python3 -c '
import json, sys
d = json.load(sys.stdin)
c = d["compartments"][0]
assert c["received"] == c["accepted"] + c["dropped"] + c["held"], c
assert c["dropped"] >= 2, c
hits = {f["name"]: f["hits"] for f in d["filters"]}
assert hits["telnet#1"] >= 1 and hits["bad-host"] >= 1, hits
' || fail "weir stats --json"
	stop_weir
	rules_gone $G
	expect_ok 10.231.2.2 23   # no weir, no rules: all passes
}

t_ipv6() {
	serve 80 23
	start_weir_in $G "$(basic_policy)"
	expect_ok fd31:2::2 80
	expect_no fd31:2::2 23
	balance
	stop_weir
	rules_gone $G
}

t_callout() {
	serve 80 8080 8081
	local pol; pol=$(policy callout <<'EOF'
plugin defer { delay = 300; action = permit; }
callout defer "slow" in ipforward-v4 if tcp.dport == 8081 and tcp.flags & syn == syn;
block "closed" in ipforward-v4 if tcp.dport == 8080;
EOF
)
	start_weir_in $G "$pol"
	expect_ok 10.231.2.2 80
	expect_no 10.231.2.2 8080
	local t0 t1; t0=$(date +%s%N)
	expect_ok 10.231.2.2 8081
	t1=$(date +%s%N)
	[ $(( (t1 - t0) / 1000000 )) -ge 250 ] ||
		fail "pended connection was not delayed ($(( (t1 - t0) / 1000000 )) ms)"
	[ "$(stat_of begun)" -ge 1 ] || fail "no pend counted"
	[ "$(stat_of held)" = 0 ] || fail "packets still held"
	balance
	stop_weir
}

t_reload() {
	serve 80 23
	local pol; pol=$(basic_policy)
	start_weir_in $G "$pol"
	expect_ok 10.231.2.2 80
	# traffic during the reloads
	( for _ in $(seq 8); do connect 10.231.2.2 80; sleep 0.05; done ) &
	local bg=$!
	cat >"$pol" <<'EOF'
block "web" in ipforward if tcp.dport == 80;
permit "rest" in ipforward;
EOF
	kill -HUP $wpid
	sleep 0.5
	expect_no 10.231.2.2 80
	expect_ok 10.231.2.2 23
	echo 'block "broken" in nowhere if tcp.dport == 1;' >"$pol"
	kill -HUP $wpid
	sleep 0.5
	kill -0 $wpid || fail "a bad policy killed the daemon"
	expect_no 10.231.2.2 80   # the previous policy still runs
	stats | grep -q "reloads 1 (failed 1)" || fail "reload counters"
	grep -q "weir:.*policy rejected: .*:1:" "$work/weir.log" ||
		fail "no file:line in the rejection"
	wait $bg
	balance
	stop_weir
}

t_two_queues() {
	serve 80
	start_weir_in $G "$(basic_policy)" --queues 2
	for i in 2 3 4 5 6 7 8 9; do
		nsx $C ip addr add 10.231.1.1$i/24 dev c0 2>/dev/null
		expect_ok 10.231.2.2 80 10.231.1.1$i
	done
	local nq; nq=$(stats | grep -c "kernel queue")
	[ "$nq" = 2 ] || fail "$nq kernel queues bound, wanted 2"
	balance
	stop_weir
}

t_kill_bypass() {
	serve 80
	start_weir_in $G "$(basic_policy)"
	( for _ in $(seq 20); do connect 10.231.2.2 80; done ) &
	local bg=$!
	sleep 0.3
	kill -9 $wpid; wait $wpid 2>/dev/null; wpid=""
	wait $bg
	# rules stay (crash), the queue has no reader: bypass lets it pass
	nsx $G iptables-save | grep -q WEIR || fail "rules gone after kill -9?"
	expect_ok 10.231.2.2 80
	# a new daemon cleans the stale rules and takes over
	start_weir_in $G "$(basic_policy)"
	local n; n=$(nsx $G iptables-save | grep -c -- '-j WEIR')
	[ "$n" -le 3 ] || fail "stale jumps not cleaned ($n)"
	expect_no 10.231.2.2 23
	stop_weir
	rules_gone $G
}

t_kill_nobypass() {
	serve 80
	start_weir_in $G "$(basic_policy)" --no-queue-bypass
	expect_ok 10.231.2.2 80
	kill -9 $wpid; wait $wpid 2>/dev/null; wpid=""
	expect_no 10.231.2.2 80   # fail-closed while weir is away
	start_weir_in $G "$(basic_policy)" --no-queue-bypass
	expect_ok 10.231.2.2 80
	stop_weir
	rules_gone $G
}

t_sigterm_flush() {
	serve 8081
	local pol; pol=$(policy hold <<'EOF'
plugin defer { delay = 5000; action = block; }
callout defer "hold" in ipforward-v4 if tcp.dport == 8081 and tcp.flags & syn == syn;
EOF
)
	start_weir_in $G "$pol"
	connect 10.231.2.2 8081 &
	local bg=$!
	for _ in $(seq 20); do
		[ "$(stat_of held)" -ge 1 ] 2>/dev/null && break
		sleep 0.1
	done
	[ "$(stat_of held)" -ge 1 ] || fail "nothing held"
	local t0; t0=$(date +%s%N)
	stop_weir
	local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	[ $ms -lt 3000 ] || fail "stop took $ms ms with a held packet"
	grep -q "weir: stopped: .*held 0" "$work/weir.log" ||
		fail "held packets not flushed at stop"
	grep -q "balance ok" "$work/weir.log" || fail "no balance at stop"
	# fail-open: the held SYN was accepted at stop
	wait $bg || fail "held connection did not go through at stop"
	rules_gone $G
}

t_ale() {
	serve 80 23
	local pol; pol=$(policy ale <<'EOF'
block "no-telnet" in ale-accept if tcp.dport == 23;
EOF
)
	start_weir_in $S "$pol"
	nsx $S iptables-save | grep -q -- "--ctstate NEW" ||
		fail "connect/accept-only policy does not queue first packets only"
	expect_ok 10.231.2.2 80
	expect_no 10.231.2.2 23
	# a bulk transfer stays in the kernel: a handful of packets seen
	nsx $S sh -c 'head -c 4000000 /dev/zero | socat -u - TCP6-LISTEN:9000,reuseaddr,ipv6only=0' &
	sleep 0.3
	nsx $C timeout 10 socat -u TCP:10.231.2.2:9000 - | wc -c | grep -q 4000000 ||
		fail "bulk transfer failed"
	local r; r=$(stat_of received)
	[ "$r" -lt 50 ] || fail "$r packets queued for 3 connections"
	balance
	stop_weir
	rules_gone $S
}

# A flow the accept layer let through is authorised again when a reload
# changes that layer: the new policy cuts the running connection.
t_ale_reauth() {
	local pol; pol=$(policy reauth <<'EOF'
block "no-telnet" in ale-accept if tcp.dport == 23;
EOF
)
	start_weir_in $S "$pol"
	nsx $S socat TCP-LISTEN:9000,reuseaddr \
		SYSTEM:'for i in $(seq 24); do echo line$i; sleep 0.25; done' &
	sleep 0.3
	nsx $C timeout 8 socat -u TCP:10.231.2.2:9000 - >"$work/lines" &
	local bg=$!
	sleep 1.5
	[ "$(wc -l <"$work/lines")" -ge 3 ] || fail "the stream did not start"
	[ "$(stat_of bypassed)" -ge 1 ] || fail "the flow was not left to the kernel"
	cat >"$pol" <<'EOF'
block "no-stream" in ale-accept if tcp.dport == 9000;
EOF
	kill -HUP $wpid
	wait $bg
	local n; n=$(wc -l <"$work/lines")
	[ "$n" -lt 20 ] || fail "the stream went on after the reload ($n lines)"
	[ "$n" -ge 3 ] || fail "only $n lines"
	expect_no 10.231.2.2 9000
	balance
	stop_weir
}

# weir started outside the gateway attaches in it as compartment 1 (the
# policy names it): its queue and rules live in gw's namespace, and
# filters see the number.
t_compartment() {
	serve 80 23 25
	local pol; pol=$(policy comp <<EOF
compartment 1 "/run/netns/$G";
block "telnet-in-1" in ipforward if tcp.dport == 23 and meta.compartment == 1;
block "smtp-in-0" in ipforward if tcp.dport == 25 and meta.compartment == 0;
EOF
)
	start_weir_in "" "$pol"     # not in gw: it attaches there
	nsx $G iptables-save | grep -q WEIR-FORWARD ||
		fail "no rules in the compartment's namespace"
	iptables-save -t filter 2>/dev/null |
		grep -Eq -- "-j WEIR-(INPUT|OUTPUT|FORWARD)$" &&
		fail "rules in the namespace weir runs in"
	expect_ok 10.231.2.2 80
	expect_no 10.231.2.2 23
	expect_ok 10.231.2.2 25
	stats | grep -q "compartment 1 (/run/netns/$G)" ||
		fail "stats do not name compartment 1"
	balance
	stop_weir
	rules_gone $G
}

# A full queue: fail-open lets the surplus through unseen, fail-closed
# drops it. The defer callout holds every datagram for 3 s, so a queue
# of 4 fills at once.
overload_run() {
	local pol; pol=$(policy overload <<'EOF'
plugin defer { delay = 3000; action = permit; }
callout defer "hold" in ipforward-v4 if udp.dport == 7000;
EOF
)
	: >"$work/sink"
	start_weir_in $G "$pol" --queue-maxlen 4 "$@"
	for i in $(seq 20); do
		echo "d$i" | nsx $C socat -u - UDP:10.231.2.2:7000
	done
	sleep 1
	passed=$(wc -l <"$work/sink")
}

t_overload() {
	nsx $S socat -u UDP-RECV:7000 OPEN:"$work/sink",creat,append &
	overload_run
	[ "$passed" -ge 14 ] ||
		fail "fail-open: $passed of 16 surplus datagrams passed"
	stop_weir
	overload_run --fail-closed
	[ "$passed" = 0 ] ||
		fail "fail-closed: $passed datagrams passed a full queue"
	stop_weir
}

# A pended packet completed with a replacement leaves with the new bytes
# (the verdict carries the payload): the replay tests' holdtest plug-in
# holds "HOLD" datagrams and, on a "SWAP" one, releases them replaced by
# a copy of it.
t_replace() {
	[ -n "${WEIR_TEST_PLUGIN_DIR:-}" ] || fail "WEIR_TEST_PLUGIN_DIR unset"
	local pol; pol=$(policy replace <<'EOF'
plugin holdtest;
callout hold "hold" in ipforward-v4 if udp.dport == 7002;
EOF
)
	: >"$work/got"
	nsx $S socat -u UDP-RECV:7002 OPEN:"$work/got",creat,append &
	start_weir_in $G "$pol" --plugins "$WEIR_TEST_PLUGIN_DIR"
	echo "HOLD-aaaa" | nsx $C socat -u - UDP:10.231.2.2:7002,sourceport=41000
	sleep 0.3
	[ "$(stat_of held)" = 1 ] || fail "the HOLD datagram is not held"
	echo "SWAP-bbbb" | nsx $C socat -u - UDP:10.231.2.2:7002,sourceport=41000
	sleep 0.5
	grep -q HOLD "$work/got" && fail "the held datagram left unchanged"
	[ "$(grep -c SWAP-bbbb "$work/got")" = 2 ] ||
		{ stats; fail "wanted the replacement and the SWAP datagram: $(cat "$work/got")"; }
	[ "$(stat_of replaced)" = 1 ] || fail "no replaced verdict counted"
	balance
	stop_weir
}

# The kernel copies up headers only while nothing in the policy reads
# further (here: an inspection callout registered headers-only); the
# verdicts carry no payload, so the data leaves whole. A filter on
# payload bytes brought in by a reload makes the copy whole again, and
# a byte past the headers then decides.
# long_chain TEXT [N]: a UDP datagram from client to server over IPv6,
# after a destination-options header of two unknown skippable options of
# N bytes each (none: no extension header), sent with scapy.
long_chain() {
	nsx $C "$py" - "$1" "${2:-0}" <<'EOF' || fail "scapy could not send"
import sys
from scapy.all import IPv6, IPv6ExtHdrDestOpt, HBHOptUnknown, UDP, send
text, n = sys.argv[1].encode(), int(sys.argv[2])
p = IPv6(src="fd31:1::2", dst="fd31:2::2")
if n:
    p = p / IPv6ExtHdrDestOpt(options=[
        HBHOptUnknown(otype=0x1e, optdata=b"a" * n),
        HBHOptUnknown(otype=0x1e, optdata=b"b" * n)])
send(p / UDP(sport=41006, dport=7006) / text, verbose=0)
EOF
}

t_copy() {
	local pol; pol=$(policy copy <<'EOF'
plugin noop;
sublayer "watch" weight 2;
callout noop "look" in ipforward sublayer "watch" inspection;
permit "rest" in ipforward;
EOF
)
	start_weir_in $G "$pol"
	stats | grep -q "copy 320$" || { stats; fail "kernel copy range is not 320"; }
	head -c 3000000 /dev/urandom >"$work/blob"
	nsx $S timeout 15 socat -u TCP-LISTEN:7004,reuseaddr \
		OPEN:"$work/recv",creat,trunc &
	local srv=$!
	sleep 0.3
	nsx $C timeout 10 socat -u OPEN:"$work/blob" TCP:10.231.2.2:7004 ||
		fail "the transfer failed"
	wait $srv
	cmp -s "$work/blob" "$work/recv" || fail "the data arrived changed"
	[ "$(stat_of received)" -ge 10 ] || fail "weir saw no packets"
	stats | grep -q "look.*hits [1-9]" || fail "the callout saw nothing"
	# An IPv6 extension chain past the copy: no transport header, so
	# dropped unclassified (port filters could not see it); a plain
	# datagram passes.
	: >"$work/got6"
	nsx $S socat -u UDP6-RECV:7006 OPEN:"$work/got6",creat,append &
	sleep 0.3
	long_chain plain-v6
	long_chain long-chain 250
	sleep 0.5
	grep -q plain-v6 "$work/got6" || fail "the plain IPv6 datagram was lost"
	grep -q long-chain "$work/got6" && fail "a cut-short packet was classified"
	[ "$(stat_of cut-short)" = 1 ] || { stats; fail "cut-short not counted"; }
	cat >"$pol" <<'EOF'
block "deep" in ipforward-v4 if udp.dport == 7005 and payload[1000] == "Z";
permit "rest" in ipforward;
EOF
	kill -HUP $wpid
	sleep 0.5
	# The kernel clamps 0xffff to 0xffff minus an attribute header.
	[ "$(stat_of copy)" -ge 65000 ] || { stats; fail "whole packets are not copied"; }
	: >"$work/got"
	nsx $S socat -u UDP-RECV:7005 OPEN:"$work/got",creat,append &
	sleep 0.3
	local a z
	a=$(printf 'A%.0s' $(seq 1000))
	printf '%sZtail-blocked' "$a" | nsx $C socat -u - UDP:10.231.2.2:7005
	printf '%sAtail-passed' "$a" | nsx $C socat -u - UDP:10.231.2.2:7005
	sleep 0.5
	grep -q tail-passed "$work/got" || fail "the datagram without Z was lost"
	grep -q tail-blocked "$work/got" && fail "byte 1000 was not matched"
	stats | grep -q "deep.*hits 1" || { stats; fail "no hit on deep"; }
	long_chain long-again 250   # whole packets: the chain parses
	sleep 0.5
	grep -q long-again "$work/got6" || fail "the long chain was lost with whole copies"
	balance
	stop_weir
}

# A burst that arrives while weir is stopped (SIGSTOP) fills every
# receive buffer at once: the worker switches to recvmmsg reads, and each
# datagram still gets its own verdict, in order (the permitted port's
# arrive in sequence, the blocked port's not at all), the counters
# balance, and light traffic afterwards flows (the receive is armed
# again).
t_burst() {
	local pol; pol=$(policy burst <<'EOF'
block "odd" in ipforward-v4 if udp.dport == 7011;
permit "rest" in ipforward;
EOF
)
	: >"$work/even"; : >"$work/odd"
	nsx $S socat -u UDP-RECV:7010 OPEN:"$work/even",creat,append &
	nsx $S socat -u UDP-RECV:7011 OPEN:"$work/odd",creat,append &
	start_weir_in $G "$pol"
	# One datagram through first: weir, the path and both neighbours
	# ready, so the burst meets no unresolved address.
	echo e0 | nsx $C socat -u - UDP:10.231.2.2:7010
	for _ in $(seq 50); do [ -s "$work/even" ] && break; sleep 0.1; done
	[ -s "$work/even" ] || fail "the first datagram did not pass"
	kill -STOP $wpid
	nsx $C bash -c 'exec 3>/dev/udp/10.231.2.2/7010 4>/dev/udp/10.231.2.2/7011
		for i in $(seq 200); do echo "e$i" >&3; echo "o$i" >&4; done'
	kill -CONT $wpid
	for _ in $(seq 100); do
		[ "$(wc -l <"$work/even")" -ge 201 ] && break
		sleep 0.1
	done
	sleep 0.2
	seq -f "e%g" 0 200 | cmp -s - "$work/even" ||
		fail "permitted datagrams lost or reordered: $(wc -l <"$work/even") of 201"
	[ -s "$work/odd" ] && fail "$(wc -l <"$work/odd") blocked datagrams passed"
	[ "$(stat_of busy-reads)" -ge 1 ] || { stats; fail "no switch to reads"; }
	[ "$(stat_of received)" -ge 401 ] || { stats; fail "weir missed datagrams"; }
	balance
	echo late | nsx $C socat -u - UDP:10.231.2.2:7010
	for _ in $(seq 50); do grep -q late "$work/even" && break; sleep 0.1; done
	grep -q late "$work/even" || fail "traffic after the burst was lost"
	balance
	stop_weir
}

# Flows for forwarded packets only while ipforward reads them: header
# filters and a FLOWLESS callout (noop) keep none; a reload that brings a
# ct.state condition turns them on before it classifies (on a kernel
# without NFQUEUE's conntrack glue, weir's flows are where ct.state comes
# from: the block below only works with them); a reload back turns them
# off again. The kernel's conntrack attributes follow the same needs
# (at any layer): off, on for ct.state, off again.
reload_wait() {        # N: until `weir stats` counts N reloads
	for _ in $(seq 50); do
		stats | grep -q "reloads $1 " && return 0
		sleep 0.1
	done
	stats; fail "reload $1 did not happen"
}

t_forward_flows() {
	serve 80 23
	local pol; pol=$(policy fwdflows <<'EOF'
plugin noop;
callout noop "look" in ipforward inspection;
block "telnet" in ipforward if tcp.dport == 23;
permit "rest" in ipforward;
EOF
)
	cp "$pol" "$work/flowless.weir"
	start_weir_in $G "$pol"
	stats | grep -q "forward-flows off" || { stats; fail "flows kept"; }
	# Without the kernel's glue there is nothing to switch: said once.
	local ct_off=off ct_on=on
	if stats | grep -q "conntrack unavailable"; then
		echo "# no CONFIG_NETFILTER_NETLINK_GLUE_CT: the conntrack" \
		     "attributes cannot be switched here, not checked"
		ct_off=unavailable ct_on=unavailable
	fi
	stats | grep -q "conntrack $ct_off" ||
		{ stats; fail "conntrack attributes asked for"; }
	expect_ok 10.231.2.2 80
	expect_no 10.231.2.2 23
	[ "$(stat_of created)" = 0 ] || { stats; fail "forwarded packets made flows"; }
	cat >"$pol" <<'EOF'
block "new-telnet" in ipforward if tcp.dport == 23 and ct.state any new;
permit "rest" in ipforward;
EOF
	kill -HUP $wpid
	reload_wait 1
	stats | grep -q "forward-flows on" || { stats; fail "no flows for ct.state"; }
	stats | grep -q "conntrack $ct_on" ||
		{ stats; fail "no conntrack attributes for ct.state"; }
	expect_ok 10.231.2.2 80
	expect_no 10.231.2.2 23
	[ "$(stat_of created)" -ge 2 ] || { stats; fail "no flows made"; }
	"$weir" stats --json --control "$ctl" |
		CT_ON=$ct_on /usr/bin/python3 -c '
import json, os, sys
d = json.load(sys.stdin)
assert d["forward_flows"] is True, d
assert d["conntrack"] == os.environ["CT_ON"], d
assert d["flows"]["created"] >= 2, d["flows"]
hits = sum(f["hits"] for f in d["filters"]
           if f["name"].split("#")[0] == "new-telnet")
assert hits >= 1, d["filters"]
' || fail "weir stats --json"
	cp "$work/flowless.weir" "$pol"
	kill -HUP $wpid
	reload_wait 2
	stats | grep -q "forward-flows off" || { stats; fail "flows still kept"; }
	stats | grep -q "conntrack $ct_off" ||
		{ stats; fail "conntrack attributes still asked for"; }
	local made; made=$(stat_of created)
	expect_ok 10.231.2.2 80
	[ "$(stat_of created)" = "$made" ] || { stats; fail "flows made after the reload back"; }
	balance
	stop_weir
}

topology
run_test block_permit ipv6 callout reload two_queues kill_bypass \
	kill_nobypass sigterm_flush ale ale_reauth compartment overload replace \
	copy burst forward_flows
