#!/usr/bin/env bash
# The shipped injecting callouts under `weir run`, in network namespaces
# this script creates and always removes: client -- gw -- server joined
# by veth pairs (10.231.x.x, fd31:x::x, as in daemon.sh), weir in gw with
# the live injector, real peers in client and server.
#
#   inject.sh TEST WEIR PLUGIN_DIR
#
# TEST: reset (tcpreset: curl is refused at once, forwarded, from gw
# itself and to gw), dns (dnssink in front of a dnsmasq resolver in
# server: listed names get the sink, others the real answer, NXDOMAIN
# mode), rewrite (MSS clamp seen in the server's capture, UDP text
# replaced on the way), reinject (copies of every forwarded packet on
# the send path never come back), reinject_receive (copies on the receive
# path come back through FORWARD and pass unclassified).
# Exit 0 pass, 1 fail, 77 skip (not root, or a tool is missing; under
# CI=true those fail instead).
set -u
name=$1 weir=$2 plugins=$3
C=ic$$ G=ig$$ S=is$$ namespaces="$C $G $S"
work=$(mktemp -d /tmp/weir-inject.XXXXXX)
. "$(dirname "$0")/lib.sh"

need_root "network namespaces, NFQUEUE"
tools="ip iptables-save socat timeout curl"
case $name in
dns) tools="$tools dig dnsmasq" ;;
rewrite) tools="$tools tcpdump" ;;
esac
need_tools $tools

dump() { dump_log weir.log weir 20; dump_log dnsmasq.log dnsmasq 10; }

topology() {
	veth_topology 10.231 fd31
	gateway_routes 10.231 fd31
	# The receive path's TUN device has no address: a namespace-wide
	# rp_filter would drop what it delivers (docs/inject.md).
	nsx $G sysctl -qw net.ipv4.conf.all.rp_filter=0
	nsx $C ping -c1 -W2 10.231.2.2 >/dev/null 2>&1
	nsx $C ping -6 -c1 -W2 fd31:2::2 >/dev/null 2>&1
}

# listen NS PORT...: TCP servers answering "ok PORT".
listen() {
	local ns=$1; shift
	for p in "$@"; do
		nsx $ns socat TCP6-LISTEN:$p,fork,reuseaddr,ipv6only=0 \
			SYSTEM:"echo ok $p; sleep 0.2" 2>/dev/null &
	done
	sleep 0.3
}

# connect NS ADDR PORT: succeeds when the server's greeting arrives.
connect() {
	local ns=$1 a=$2 p=$3 t="TCP:$2:$3"
	case $a in *:*) t="TCP6:[$a]:$p" ;; esac
	nsx $ns timeout 4 socat -T2 - "$t,connect-timeout=2" \
		</dev/null 2>/dev/null | grep -q "ok $p"
}

stats() { "$weir" stats --control "$ctl"; }

policy() { cat >"$work/$1.weir"; echo "$work/$1.weir"; }

# ---- tcpreset ------------------------------------------------------------

# refused NS URL: curl fails with a reset or refusal (not a timeout), in
# well under a second.
refused() {
	local ns=$1 url=$2 t0 ms err
	t0=$(date +%s%N)
	# -v: the error text of connect(2) ("Connection refused") is only
	# in curl's verbose lines.
	err=$(nsx $ns curl -v -s --max-time 5 "$url" 2>&1 >/dev/null) &&
		fail "curl $url went through"
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	err=$(echo "$err" | grep -E "^\* (connect to|Recv failure|Failed)" |
		head -2 | tr '\n' ' ')
	note "curl $url: $err($ms ms)"
	echo "$err" | grep -q -E "Connection (reset|refused)" ||
		fail "curl $url: '$err', wanted a reset"
	[ $ms -lt 500 ] || fail "curl $url took $ms ms to fail"
}

t_reset() {
	listen $S 80 8081 8082
	listen $G 8083
	local pol; pol=$(policy reset <<'EOF'
plugin tcpreset;
callout tcpreset "fwd" in ipforward if tcp.dport == 8081;
callout tcpreset "out" in outbound-transport if tcp.dport == 8082;
callout tcpreset "in" in inbound-transport if tcp.dport == 8083;
EOF
)
	start_weir_rules "$pol"
	connect $C 10.231.2.2 80 || fail "port 80 refused, wanted it open"
	refused $C http://10.231.2.2:8081/          # forwarded: send path
	refused $C "http://[fd31:2::2]:8081/"
	refused $G http://10.231.2.2:8082/          # from gw: receive path
	refused $C http://10.231.1.1:8083/          # to gw: both paths
	connect $C 10.231.2.2 80 || fail "port 80 refused after the resets"
	stats | grep -i inject | sed 's/^/# /'
	stop_weir
}

# ---- dnssink -------------------------------------------------------------

# A resolver in server that knows real.example, answers NXDOMAIN for
# the other names of example (--local), and logs every query it gets.
resolver() {
	nsx $S dnsmasq --no-daemon --no-resolv --no-hosts --port=53 \
		--listen-address=10.231.2.2 --bind-interfaces \
		--local=/example/ --host-record=real.example,198.51.100.7 \
		--log-queries --log-facility="$work/dnsmasq.log" \
		--pid-file="$work/dnsmasq.pid" 2>>"$work/dnsmasq.err" &
	for _ in $(seq 30); do
		nsx $C dig +time=1 +tries=1 +short @10.231.2.2 real.example \
			2>/dev/null | grep -q 198.51.100.7 && return 0
		sleep 0.2
	done
	fail "dnsmasq does not answer"
}

# ask NS NAME TYPE: dig's status and answers, "STATUS addr addr".
ask() {
	local out
	out=$(nsx $1 dig +time=2 +tries=1 @10.231.2.2 "$2" "$3" 2>&1)
	echo "$(echo "$out" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p')" \
		"$(echo "$out" | awk '$4 == "A" || $4 == "AAAA" {print $5}' |
			tr '\n' ' ')"
}

expect_answer() {
	local got; got=$(ask "$1" "$2" "$3")
	note "$1 $2 $3: $got"
	[ "$(echo $got)" = "$4" ] || fail "$2 $3 from $1: '$got', wanted '$4'"
}

resolver_saw() { grep -q "query\[[A-Z]*\] $1 " "$work/dnsmasq.log"; }

t_dns() {
	resolver
	local pol; pol=$(policy dns <<'EOF'
plugin dnssink {
	names = "ads.example, *.tracker.example";
	a = 192.0.2.1;
	aaaa = "2001:db8::1";
}
callout dnssink "sink" in ipforward if udp.dport == dns;
callout dnssink "sink-local" in outbound-transport if udp.dport == dns;
EOF
)
	start_weir_rules "$pol"
	expect_answer $C ads.example A "NOERROR 192.0.2.1"
	expect_answer $C x.Tracker.example AAAA "NOERROR 2001:db8::1"
	expect_answer $C real.example A "NOERROR 198.51.100.7"
	expect_answer $C tracker.example A "NXDOMAIN"  # not below: dnsmasq's
	expect_answer $G ads.example A "NOERROR 192.0.2.1"  # receive path
	resolver_saw real.example || fail "the resolver did not see real.example"
	resolver_saw ads.example && fail "the resolver saw a sinkholed query"
	resolver_saw x.tracker.example && fail "the resolver saw x.tracker.example"
	stop_weir
	pol=$(policy nx <<'EOF'
plugin dnssink { names = "ads.example"; answer = nxdomain; }
callout dnssink "sink" in ipforward if udp.dport == dns;
EOF
)
	: >"$work/dnsmasq.log"
	start_weir_rules "$pol"
	expect_answer $C ads.example A "NXDOMAIN"
	expect_answer $C real.example A "NOERROR 198.51.100.7"
	resolver_saw ads.example && fail "the resolver saw a sinkholed query"
	stop_weir
}

# ---- rewrite -------------------------------------------------------------

t_rewrite() {
	listen $S 80
	: >"$work/udp.got"
	nsx $S socat -u UDP-RECV:9999 OPEN:"$work/udp.got",creat,append &
	nsx $S tcpdump -i s0 -nn -U -w "$work/s0.pcap" \
		'tcp port 80 and tcp[tcpflags] & tcp-syn != 0' \
		>/dev/null 2>"$work/tcpdump.err" &
	local tpid=$!
	local pol; pol=$(policy rewrite <<'EOF'
plugin rewrite { mss = 1000; find = hello; replace = "goodbye, world"; }
callout rewrite "clamp" in ipforward if tcp.syn;
callout rewrite "text" in ipforward if udp.dport == 9999;
EOF
)
	start_weir_rules "$pol"
	# tcpdump says when it captures; a loaded machine may take a while.
	for _ in $(seq 100); do
		grep -q "listening on" "$work/tcpdump.err" && break
		sleep 0.1
	done
	grep -q "listening on" "$work/tcpdump.err" ||
		fail "tcpdump did not start: $(cat "$work/tcpdump.err")"
	connect $C 10.231.2.2 80 || fail "clamped connection failed"
	echo "say hello, hello" |
		nsx $C socat -u - UDP:10.231.2.2:9999,sourceport=41000
	# -U writes each packet as it comes: wait for the client's SYN.
	local syns
	for _ in $(seq 50); do
		syns=$(nsx $S tcpdump -r "$work/s0.pcap" -nn 2>/dev/null)
		echo "$syns" | grep -q "Flags \[S\]" && break
		sleep 0.1
	done
	kill $tpid; wait $tpid 2>/dev/null
	syns=$(nsx $S tcpdump -r "$work/s0.pcap" -nn 2>/dev/null)
	echo "$syns" | sed 's/^/# s0: /'
	# The client's SYN arrives clamped (the server's SYN/ACK is clamped
	# after s0, on its way through gw).
	local csyn; csyn=$(echo "$syns" |
		grep "10.231.1.2\.[0-9]* > 10.231.2.2.80: Flags \[S\]")
	echo "$csyn" | grep -q "mss 1000," ||
		fail "the server saw no SYN with MSS 1000"
	echo "$csyn" | grep -q "mss 1460" && fail "an unclamped SYN reached s0"
	for _ in $(seq 30); do
		[ -s "$work/udp.got" ] && break
		sleep 0.1
	done
	grep -q "^say goodbye, world, goodbye, world$" "$work/udp.got" ||
		fail "UDP text not replaced: '$(cat "$work/udp.got")'"
	stop_weir
}

# ---- no loop --------------------------------------------------------------

# reinject (tests/replay/reinject.c) absorbs every forwarded packet and
# injects a copy: the copies must not come back to weir (the rules skip
# the injection mark), so every packet is classified exactly once.
t_reinject() {
	listen $S 80
	local pol; pol=$(policy reinject <<EOF
plugin reinject { counts = "$work/counts"; }
callout reinject "all" in ipforward;
EOF
)
	plugins=${WEIR_TEST_PLUGIN_DIR:?} start_weir_rules "$pol"
	local got
	# -w 10: wait for all 20 replies (or 10 s). Without it ping gives up
	# on the last ones after twice the round trip it saw, and under a
	# sanitizer on a loaded machine a reply may take longer than that.
	got=$(nsx $C ping -c 20 -i 0.05 -w 10 10.231.2.2 |
		sed -n 's/.* \([0-9]*\) received.*/\1/p')
	[ "$got" = 20 ] || fail "ping through the re-injector: $got of 20"
	connect $C 10.231.2.2 80 || fail "TCP through the re-injector"
	sleep 0.5
	local c1 c2; c1=$(cat "$work/counts"); sleep 1; c2=$(cat "$work/counts")
	note "counts: $c2"
	[ "$c1" = "$c2" ] || fail "still classifying after the traffic: a loop"
	set -- $c2
	local classified=$2 mine=$4 injected=$6 failed=$8
	[ "$classified" -ge 40 ] || fail "only $classified classified"
	[ "$injected" = "$classified" ] || fail "$injected injected of $classified"
	[ "$mine" = 0 ] || fail "$mine copies came back to weir"
	[ "$failed" = 0 ] || fail "$failed injections failed"
	local recv; recv=$(stats | sed -n 's/.*packets *received \([0-9]*\).*/\1/p' |
		head -1)
	note "queued $recv"
	[ "$recv" = "$classified" ] ||
		fail "queued $recv, classified $classified: not once each"
	stats | grep -q "injected  lists $classified " ||
		fail "weir stats does not count $classified injections"
	stop_weir
}

# The copies go into the receive path instead: they arrive on weir's TUN
# device and are forwarded, so they meet FORWARD again. The rule there
# queues everything (a skip would cost every forwarded packet); the
# worker lets weir's own packets through unclassified and counts them.
t_reinject_receive() {
	local pol; pol=$(policy reinject_rx <<EOF
plugin reinject { counts = "$work/counts"; path = "receive"; }
callout reinject "all" in ipforward-v4;
EOF
)
	plugins=${WEIR_TEST_PLUGIN_DIR:?} start_weir_rules "$pol"
	nsx $G iptables-save | grep -q -- "-A WEIR-FORWARD -j NFQUEUE" ||
		fail "the FORWARD chain is not a bare queue rule"
	local got
	got=$(nsx $C ping -c 20 -i 0.05 -w 10 10.231.2.2 |
		sed -n 's/.* \([0-9]*\) received.*/\1/p')
	[ "$got" = 20 ] || fail "ping through the receive path: $got of 20"
	sleep 0.5
	set -- $(cat "$work/counts")
	local classified=$2 mine=$4 injected=$6 failed=$8
	note "counts: classified $classified mine $mine injected $injected failed $failed"
	[ "$classified" -ge 40 ] || fail "$classified classified, wanted 40 (20 pings, 20 replies)"
	[ "$injected" = "$classified" ] || fail "$injected injected of $classified"
	[ "$mine" = 0 ] || fail "$mine copies were classified again"
	[ "$failed" = 0 ] || fail "$failed injections failed"
	local own recv
	own=$(stats | grep -o " own [0-9][0-9]*" | head -1 | awk "{print \$2}")
	recv=$(stats | sed -n 's/.*packets *received \([0-9]*\).*/\1/p' | head -1)
	[ "$own" = "$injected" ] || { stats; fail "$own own packets counted, $injected injected"; }
	[ "$recv" = $((classified + own)) ] ||
		fail "queued $recv, wanted $((classified + own)) (each packet and its copy once)"
	stats | grep -q "balance ok" || fail "counters do not balance"
	stats | grep -q "kernel-errors 0$" ||
		{ stats; fail "the kernel refused a verdict"; }
	stop_weir
}

topology
run_test reset dns rewrite reinject reinject_receive
