#!/usr/bin/env bash
# The application tier under `weir run`, in network namespaces this
# script creates and always removes: client -- gw -- server joined by
# veth pairs (10.232.x.x, fd32:x::x), weir in gw with explicit listeners,
# real peers (curl, a Python HTTP server, socat) in client and server.
#
#   proxy.sh TEST WEIR PLUGIN_DIR
#
# TEST: splice (a 20 MB download arrives intact, pumped in the kernel),
# ipv6, halfclose (the client's end of stream passes, the answer still
# comes back), refused (upstream down: the client gets a reset), abort
# (a client that goes away mid-download ends the session), many (200
# connections, none left behind), intercept, tap, tap_abort, limits,
# udp, sessfilt (session filters: deny, limit, redirect, attach).
# Exit 0 pass, 1 fail, 77 skip (not root, or a tool is missing; under
# CI=true those fail instead).
set -u
name=$1 weir=$2 plugins=$3
id=$$
C=pc$id G=pg$id S=ps$id
work=$(mktemp -d /tmp/weir-proxy.XXXXXX)
ctl=$work/ctl.sock
wpid=""
py=/usr/bin/python3

skip() {
	if [ "${CI:-}" = "true" ]; then
		echo "$name: FAIL: $1 (CI=true: nothing may skip)"; exit 1
	fi
	echo "$name: SKIP: $1"; exit 77
}
fail() { echo "$name: FAIL: $*"; dump; exit 1; }
note() { echo "# $*"; }

[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
for t in ip socat timeout curl sha256sum $py; do
	command -v $t >/dev/null || skip "$t not installed"
done

cleanup() {
	[ -n "$wpid" ] && kill -9 "$wpid" 2>/dev/null
	for ns in $C $G $S; do
		ip netns pids $ns 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del $ns 2>/dev/null
	done
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

dump() {
	[ -f "$work/weir.log" ] && sed 's/^/# weir: /' "$work/weir.log" | tail -20
}

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

topology() {
	for ns in $C $G $S; do ip netns add $ns || skip "ip netns add"; done
	ip link add c0 netns $C type veth peer name g0 netns $G
	ip link add s0 netns $S type veth peer name g1 netns $G
	nsx $C ip addr add 10.232.1.2/24 dev c0
	nsx $C ip addr add fd32:1::2/64 dev c0 nodad
	nsx $G ip addr add 10.232.1.1/24 dev g0
	nsx $G ip addr add fd32:1::1/64 dev g0 nodad
	nsx $G ip addr add 10.232.2.1/24 dev g1
	nsx $G ip addr add fd32:2::1/64 dev g1 nodad
	nsx $S ip addr add 10.232.2.2/24 dev s0
	nsx $S ip addr add fd32:2::2/64 dev s0 nodad
	for ns in $C $G $S; do
		nsx $ns ip link set lo up
		for d in $(nsx $ns ls /sys/class/net); do
			nsx $ns ip link set "$d" up
		done
	done
	# No routes between client and server: only the proxy joins them.
}

start_weir() {
	ip netns exec $G "$weir" run -c "$1" --no-steer --control "$ctl" \
		--plugins "$plugins" >>"$work/weir.log" 2>&1 &
	wpid=$!
	for _ in $(seq 50); do
		"$weir" stats --control "$ctl" >/dev/null 2>&1 && return 0
		kill -0 $wpid 2>/dev/null || fail "weir run exited at start"
		sleep 0.1
	done
	fail "weir run did not answer on its control socket"
}

stop_weir() {
	kill -TERM $wpid
	for _ in $(seq 50); do
		kill -0 $wpid 2>/dev/null || break
		sleep 0.1
	done
	kill -0 $wpid 2>/dev/null && fail "weir run did not stop on SIGTERM"
	wait $wpid
	local rc=$?
	wpid=""
	[ $rc = 0 ] || fail "weir run exited with status $rc"
	! grep -q -E "Sanitizer|runtime error" "$work/weir.log" ||
		fail "sanitizer report in the daemon's log"
}

# stat KEY: a number from weir stats --json's "proxy" object.
stat() {
	"$weir" stats --json --control "$ctl" | $py -c \
		"import json,sys; print(json.load(sys.stdin)['proxy']['$1'])"
}

# wait_stat KEY VALUE: up to 3 s for the counter to get there.
wait_stat() {
	local v
	for _ in $(seq 30); do
		v=$(stat "$1")
		[ "$v" = "$2" ] && return 0
		sleep 0.1
	done
	fail "proxy $1 is $v, wanted $2"
}

policy() {
	cat >"$work/p.weir" <<EOF
protocol web tcp 80;
listen web 10.232.1.1:8080 to 10.232.2.2:80 protocol web;
listen web6 "[fd32:1::1]:8080" to "[fd32:2::2]:80";
listen half 10.232.1.1:9001 to 10.232.2.2:9001;
listen down 10.232.1.1:9002 to 10.232.2.2:9002;
EOF
	echo "$work/p.weir"
}

http_server() {
	mkdir -p "$work/www"
	head -c 20000000 /dev/urandom >"$work/www/big.bin"
	echo "hello from the server" >"$work/www/hello.txt"
	(cd "$work/www" &&
		exec ip netns exec $S $py -m http.server 80 --bind :: \
			>/dev/null 2>&1) &
	for _ in $(seq 50); do
		nsx $S $py -c "import socket; socket.create_connection(('10.232.2.2', 80), 1)" \
			2>/dev/null && return 0
		sleep 0.1
	done
	fail "the HTTP server did not start"
}

t_splice() {
	http_server
	start_weir "$(policy)"
	nsx $C curl -sS --max-time 30 -o "$work/got.bin" \
		http://10.232.1.1:8080/big.bin || fail "curl through the proxy"
	[ "$(sha256sum <"$work/got.bin")" = "$(sha256sum <"$work/www/big.bin")" ] ||
		fail "the download differs from the server's file"
	wait_stat active 0
	[ "$(stat spliced)" = 1 ] || fail "not pumped in the kernel"
	[ "$(stat bytes_down)" -ge 20000000 ] || fail "bytes down not counted"
	"$weir" stats --control "$ctl" | grep "^proxy" | sed 's/^/# /'
	stop_weir
}

t_ipv6() {
	http_server
	start_weir "$(policy)"
	local got; got=$(nsx $C curl -sS --max-time 10 \
		"http://[fd32:1::1]:8080/hello.txt") || fail "curl over IPv6"
	[ "$got" = "hello from the server" ] || fail "got '$got'"
	stop_weir
}

t_halfclose() {
	# The server answers only after the client's end of stream.
	nsx $S socat TCP-LISTEN:9001,reuseaddr \
		SYSTEM:'cat >/dev/null; echo answer after eof' &
	sleep 0.3
	start_weir "$(policy)"
	local got; got=$(echo question |
		nsx $C timeout 10 socat -t 5 - TCP:10.232.1.1:9001)
	[ "$got" = "answer after eof" ] || fail "half-close: got '$got'"
	wait_stat active 0
	[ "$(stat aborted)" = 0 ] || fail "a clean exchange counted as aborted"
	stop_weir
}

t_refused() {
	start_weir "$(policy)"
	local err
	err=$(nsx $C curl -sS --max-time 5 http://10.232.1.1:9002/ 2>&1) &&
		fail "a connection to a closed upstream succeeded"
	note "curl: $err"
	# The reset may beat curl's check of its own connect ("Couldn't
	# connect"): the counter says the proxy took the connection.
	echo "$err" | grep -q -E "reset|Empty reply|closed|connect to server" ||
		fail "curl: '$err', wanted a reset"
	wait_stat connect_failed 1
	wait_stat active 0
	stop_weir
}

t_abort() {
	http_server
	start_weir "$(policy)"
	# A client that reads 64 KiB a second gives up after a second.
	nsx $C curl -s --limit-rate 64k --max-time 1 -o /dev/null \
		http://10.232.1.1:8080/big.bin
	wait_stat active 0
	[ "$(stat sessions)" = 1 ] || fail "sessions: $(stat sessions)"
	stop_weir
}

t_many() {
	http_server
	start_weir "$(policy)"
	local ok=0
	for _ in $(seq 200); do
		nsx $C curl -s --max-time 5 http://10.232.1.1:8080/hello.txt |
			grep -q "hello from the server" && ok=$((ok + 1))
	done
	[ $ok = 200 ] || fail "$ok of 200 requests answered"
	wait_stat sessions 200
	wait_stat active 0
	stop_weir
}

# A chain: the tap data filter on the web protocol and on a half-closing
# exchange; bytes arrive intact, tap counts them, sessions end cleanly.
t_tap() {
	http_server
	nsx $S socat TCP-LISTEN:9001,reuseaddr,fork \
		SYSTEM:'cat >/dev/null; echo answer after eof' &
	cat >"$work/t.weir" <<EOF
plugin tap { log = "$work/tap.log"; }
protocol web tcp 80;
protocol half tcp 9001;
listen web 10.232.1.1:8080 to 10.232.2.2:80 protocol web;
listen half 10.232.1.1:9001 to 10.232.2.2:9001 protocol half;
datafilter tap on web, half;
datafilter tap on web priority 200;
EOF
	start_weir "$work/t.weir"
	nsx $C curl -sS --max-time 30 -o "$work/got.bin" \
		http://10.232.1.1:8080/big.bin || fail "curl through the chain"
	[ "$(sha256sum <"$work/got.bin")" = "$(sha256sum <"$work/www/big.bin")" ] ||
		fail "the download differs from the server's file"
	local got; got=$(echo question |
		nsx $C timeout 10 socat -t 5 - TCP:10.232.1.1:9001)
	[ "$got" = "answer after eof" ] || fail "half-close: got '$got'"
	wait_stat active 0
	[ "$(stat chained)" = 2 ] || fail "chained: $(stat chained)"
	[ "$(stat aborted)" = 0 ] || fail "aborted: $(stat aborted)"
	sed 's/^/# tap: /' "$work/tap.log"
	# The web session ran through two taps: two lines, 20 MB down each.
	[ "$(grep -c '"protocol":"web"' "$work/tap.log")" = 2 ] ||
		fail "two tap lines for the web session"
	grep '"protocol":"web"' "$work/tap.log" | grep -q '"bytes_down":2000' ||
		fail "tap did not count the download"
	grep '"protocol":"half"' "$work/tap.log" | grep -q '"bytes_up":9,' ||
		fail "tap did not count the question"
	stop_weir
}

# A client that goes away mid-download through a chain: the session is
# torn down, every filter detached (tap logs its line).
t_tap_abort() {
	http_server
	cat >"$work/t.weir" <<EOF
plugin tap { log = "$work/tap.log"; }
protocol web tcp 80;
listen web 10.232.1.1:8080 to 10.232.2.2:80 protocol web;
datafilter tap on web;
EOF
	start_weir "$work/t.weir"
	nsx $C curl -s --limit-rate 64k --max-time 1 -o /dev/null \
		http://10.232.1.1:8080/big.bin
	wait_stat active 0
	for _ in $(seq 30); do
		[ -s "$work/tap.log" ] && break
		sleep 0.1
	done
	grep -q '"protocol":"web"' "$work/tap.log" || fail "tap was not detached"
	stop_weir
}

# Limits: at most 2 sessions (the third is refused with a reset), and
# sessions quiet for two seconds are ended.
t_limits() {
	nsx $S socat TCP-LISTEN:9001,reuseaddr,fork \
		SYSTEM:'cat >/dev/null; echo answer after eof' &
	sleep 0.3
	ip netns exec $G "$weir" run -c "$(policy)" --no-steer \
		--control "$ctl" --proxy-max-sessions 2 --proxy-idle 2 \
		>>"$work/weir.log" 2>&1 &
	wpid=$!
	for _ in $(seq 50); do
		"$weir" stats --control "$ctl" >/dev/null 2>&1 && break
		sleep 0.1
	done
	# Two clients that say nothing hold both sessions.
	(sleep 8 | nsx $C socat -T 10 - TCP:10.232.1.1:9001 >/dev/null 2>&1) &
	(sleep 8 | nsx $C socat -T 10 - TCP:10.232.1.1:9001 >/dev/null 2>&1) &
	wait_stat active 2
	local got; got=$(echo question |
		nsx $C timeout 5 socat -t 3 - TCP:10.232.1.1:9001 2>&1)
	[ "$got" != "answer after eof" ] || fail "a third session was served"
	wait_stat refused 1
	# Quiet for two seconds: both ended by the idle sweep (within 2.5 s).
	local t0=$SECONDS
	wait_stat active 0
	wait_stat idle_closed 2
	note "idle sessions ended after about $((SECONDS - t0)) s more"
	# Below the limit again: served.
	got=$(echo question | nsx $C timeout 5 socat -t 3 - TCP:10.232.1.1:9001)
	[ "$got" = "answer after eof" ] || fail "after the limit: got '$got'"
	stop_weir
}

# UDP: a relayed association and one through tap, each answered by an
# echo server; both end after the idle time.
t_udp() {
	nsx $S socat UDP-LISTEN:7001,fork,reuseaddr EXEC:cat &
	nsx $S socat UDP6-LISTEN:7002,fork,reuseaddr EXEC:cat &
	sleep 0.3
	cat >"$work/u.weir" <<EOF
plugin tap { log = "$work/tap.log"; }
protocol echo udp 7001;
listen e udp 10.232.1.1:7001 to 10.232.2.2:7001 protocol echo;
listen e6 udp "[fd32:1::1]:7002" to "[fd32:2::2]:7002";
datafilter tap on echo;
EOF
	ip netns exec $G "$weir" run -c "$work/u.weir" --no-steer \
		--control "$ctl" --plugins "$plugins" --proxy-idle 1 \
		>>"$work/weir.log" 2>&1 &
	wpid=$!
	for _ in $(seq 50); do
		"$weir" stats --control "$ctl" >/dev/null 2>&1 && break
		sleep 0.1
	done
	local got
	got=$(echo "through tap" | nsx $C timeout 5 socat -t 1 - \
		UDP:10.232.1.1:7001)
	[ "$got" = "through tap" ] || fail "UDP through tap: got '$got'"
	got=$(echo "relayed" | nsx $C timeout 5 socat -t 1 - \
		"UDP6:[fd32:1::1]:7002")
	[ "$got" = "relayed" ] || fail "UDP relay: got '$got'"
	[ "$(stat sessions)" = 2 ] || fail "sessions: $(stat sessions)"
	[ "$(stat chained)" = 1 ] || fail "chained: $(stat chained)"
	wait_stat active 0
	grep -q '"protocol":"echo","bytes_up":12,"bytes_down":12' \
		"$work/tap.log" || fail "tap: $(cat "$work/tap.log")"
	stop_weir
}

# Transparent interception: the client talks to the server's address,
# the gateway's kernel redirects it into weir, weir connects on.
t_intercept() {
	http_server
	nsx $C ip route add default via 10.232.1.1
	nsx $C ip -6 route add default via fd32:1::1
	nsx $S ip route add default via 10.232.2.1
	nsx $S ip -6 route add default via fd32:2::1
	nsx $G sysctl -qw net.ipv4.ip_forward=1
	nsx $G sysctl -qw net.ipv6.conf.all.forwarding=1
	cat >"$work/i.weir" <<EOF
protocol web tcp 80, 8080;
intercept web;
EOF
	ip netns exec $G "$weir" run -c "$work/i.weir" --control "$ctl" \
		--plugins "$plugins" >>"$work/weir.log" 2>&1 &
	wpid=$!
	for _ in $(seq 50); do
		"$weir" stats --control "$ctl" >/dev/null 2>&1 && break
		sleep 0.1
	done
	nsx $G iptables-save -t nat | grep -q "REDIRECT --to-ports 15001" ||
		fail "no redirect rule"
	local got
	got=$(nsx $C curl -sS --max-time 10 http://10.232.2.2/hello.txt) ||
		fail "curl to the server's address"
	[ "$got" = "hello from the server" ] || fail "v4 got '$got'"
	got=$(nsx $C curl -sS --max-time 10 "http://[fd32:2::2]/hello.txt") ||
		fail "curl to the server's IPv6 address"
	[ "$got" = "hello from the server" ] || fail "v6 got '$got'"
	wait_stat sessions 2
	wait_stat active 0
	# A port the policy does not intercept is forwarded by the kernel.
	nsx $S socat TCP-LISTEN:7000,reuseaddr SYSTEM:'echo direct' &
	sleep 0.3
	got=$(nsx $C timeout 5 socat - TCP:10.232.2.2:7000 </dev/null)
	[ "$got" = "direct" ] || fail "port 7000: got '$got'"
	[ "$(stat sessions)" = 2 ] || fail "port 7000 went through the proxy"
	stop_weir
	nsx $G iptables-save -t nat | grep -q -i weir && fail "rules left behind"
	nsx $G ip6tables-save -t nat | grep -q -i weir && fail "v6 rules left"
	return 0
}

# Session filters (sessgate): a denied client gets a reset, a
# per-client limit holds, a redirect and an attached data filter work for
# a protocol that binds none, and every accepted session is told its end
# once, with the bytes the real sockets moved.
t_sessfilt() {
	http_server
	nsx $S socat TCP-LISTEN:9001,reuseaddr,fork EXEC:cat &
	nsx $C ip addr add 10.232.1.3/24 dev c0
	cat >"$work/s.weir" <<EOF
plugin tap { log = "$work/tap.log"; }
plugin sessgate { log = "$work/gate.log"; }
protocol web tcp 80;
protocol echo tcp 9001;
protocol redir tcp 9999;
protocol far tcp 80;
listen web 10.232.1.1:8080 to 10.232.2.2:80 protocol web;
listen echo 10.232.1.1:9001 to 10.232.2.2:9001 protocol echo;
listen redir 10.232.1.1:8082 to 10.232.2.2:9999 protocol redir;
listen far 10.232.1.1:8083 to 10.232.2.2:80 protocol far;
sessionfilter sessgate on web { deny_client = "10.232.1.3"; attach = "tap@50"; }
sessionfilter sessgate on echo { max_per_client = 2; }
sessionfilter sessgate on redir { redirect = "10.232.2.2:80"; }
sessionfilter sessgate on far { deny_dest = "10.232.2.0/24"; }
EOF
	start_weir "$work/s.weir"
	local got
	got=$(nsx $C curl -sS --max-time 10 --interface 10.232.1.2 \
		http://10.232.1.1:8080/hello.txt) || fail "allowed client"
	[ "$got" = "hello from the server" ] || fail "allowed client got '$got'"
	wait_stat chained 1
	wait_stat active 0
	grep -q '"protocol":"web","bytes_up":[0-9]*,"bytes_down":[0-9]*' \
		"$work/tap.log" || fail "tap was not attached: $(cat "$work/tap.log")"
	nsx $C curl -sS --max-time 5 --interface 10.232.1.3 \
		http://10.232.1.1:8080/hello.txt 2>/dev/null &&
		fail "a denied client got an answer"
	wait_stat denied 1
	# Two held echo sessions; the third is refused; after they end a
	# new one gets through.
	nsx $C timeout 30 socat -u TCP:10.232.1.1:9001 - >/dev/null &
	local h1=$!
	nsx $C timeout 30 socat -u TCP:10.232.1.1:9001 - >/dev/null &
	local h2=$!
	wait_stat active 2
	got=$(echo third | nsx $C timeout 5 socat -t 2 - TCP:10.232.1.1:9001)
	[ -z "$got" ] || fail "a third session per client got '$got'"
	wait_stat denied 2
	pkill -f "socat -u TCP:10.232.1.1:9001"; wait $h1 $h2 2>/dev/null
	wait_stat active 0
	got=$(echo again | nsx $C timeout 5 socat -t 2 - TCP:10.232.1.1:9001)
	[ "$got" = "again" ] || fail "after the limit freed: got '$got'"
	got=$(nsx $C curl -sS --max-time 10 http://10.232.1.1:8082/hello.txt) ||
		fail "redirected session"
	[ "$got" = "hello from the server" ] || fail "redirect got '$got'"
	nsx $C curl -sS --max-time 5 http://10.232.1.1:8083/hello.txt \
		2>/dev/null && fail "a denied destination was connected"
	wait_stat denied 3
	wait_stat active 0
	local acc term
	acc=$(grep -c '"event":"accept"' "$work/gate.log")
	term=$(grep -c '"event":"terminate"' "$work/gate.log")
	[ "$acc" = "$(stat sessions)" ] ||
		fail "accept events $acc, sessions $(stat sessions)"
	[ "$term" = "$acc" ] || fail "terminate events $term for $acc accepts"
	grep -q '"event":"connect","protocol":"far","verdict":"deny"' \
		"$work/gate.log" || fail "no denied connect in the log"
	grep -q '"bytes_up":[1-9][0-9]*,"bytes_down":[1-9][0-9]*,"error":0' \
		"$work/gate.log" || fail "no byte counts in terminate events"
	grep -q '"reason":"denied by session filter sessgate"' "$work/gate.log" ||
		fail "no reason for the denied sessions"
	[ "$(stat bytes_down)" -gt 40 ] || fail "bytes down: $(stat bytes_down)"
	sed 's/^/# /' "$work/gate.log" | head -12
	stop_weir
}

topology
case $name in
splice|ipv6|halfclose|refused|abort|many|intercept|tap|tap_abort|limits|udp|sessfilt)
	"t_$name" ;;
*) echo "unknown test $name"; exit 2 ;;
esac
echo "$name: PASS"
