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
# connections, none left behind), intercept (TCP interception: REDIRECT
# to the transparent listener), tap, tap_abort, limits, udp (explicit UDP
# listeners), udp_intercept (UDP interception: TPROXY; the answers come
# from the server's own address, rules and routes gone after stop), sessfilt
# (session filters: deny, limit, redirect, attach), reload (SIGHUP: kept,
# removed and added listeners, new bindings, a refused policy),
# reload_intercept (SIGHUP between TCP, UDP and no interception),
# dfabort (a filter aborting inside attach and from a post is detached
# once, after the abort).
# Exit 0 pass, 1 fail, 77 skip (not root, or a tool is missing; under
# CI=true those fail instead).
set -u
name=$1 weir=$2 plugins=$3
C=pc$$ G=pg$$ S=ps$$ namespaces="$C $G $S"
work=$(mktemp -d /tmp/weir-proxy.XXXXXX)
. "$(dirname "$0")/lib.sh"

need_root "network namespaces"
need_tools ip socat timeout curl sha256sum $py

# No routes between client and server: only the proxy joins them
# (gateway_routes for interception).
topology() { veth_topology 10.232 fd32; }

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
	start_weir "$(policy)" --proxy-max-sessions 2 --proxy-idle 2
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
	[ "$(stat aborted)" = 0 ] || fail "idle sessions counted as aborted"
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
	start_weir "$work/u.weir" --proxy-idle 1
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
	gateway_routes 10.232 fd32
	cat >"$work/i.weir" <<EOF
protocol web tcp 80, 8080;
intercept web;
EOF
	start_weir_rules "$work/i.weir"
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

	# UDP: tap attached to one association; a denied destination's
	# association drops its datagrams, told once (UDP_DEST), not per
	# datagram; both end after the idle time with their TERMINATE.
	nsx $S socat UDP-LISTEN:7001,fork,reuseaddr EXEC:cat &
	sleep 0.3
	: >"$work/gate.log"
	cat >"$work/su.weir" <<EOF
plugin tap { log = "$work/tap.log"; }
plugin sessgate { log = "$work/gate.log"; }
protocol uecho udp 7001;
protocol udeny udp 7002;
listen ue udp 10.232.1.1:7001 to 10.232.2.2:7001 protocol uecho;
listen ud udp 10.232.1.1:7002 to 10.232.2.2:7001 protocol udeny;
sessionfilter sessgate on uecho { attach = "tap"; }
sessionfilter sessgate on udeny { deny_dest = "10.232.2.2"; }
EOF
	start_weir "$work/su.weir" --proxy-idle 1
	got=$(echo "udp via tap" | nsx $C timeout 5 socat -t 1 - \
		UDP:10.232.1.1:7001)
	[ "$got" = "udp via tap" ] || fail "UDP with tap attached: got '$got'"
	got=$( (echo one; sleep 0.2; echo two) |
		nsx $C timeout 5 socat -t 1 - UDP:10.232.1.1:7002)
	[ -z "$got" ] || fail "a denied UDP destination answered '$got'"
	wait_stat active 0
	[ "$(stat denied)" = 1 ] || fail "UDP denied: $(stat denied)"
	[ "$(stat chained)" = 1 ] || fail "UDP chained: $(stat chained)"
	grep -q '"protocol":"uecho","bytes_up":12,"bytes_down":12' \
		"$work/tap.log" || fail "tap on UDP: $(cat "$work/tap.log")"
	[ "$(grep -c '"event":"udp_dest","protocol":"udeny","verdict":"deny"' \
		"$work/gate.log")" = 1 ] || fail "UDP_DEST: $(cat "$work/gate.log")"
	[ "$(grep -c '"event":"terminate"' "$work/gate.log")" = 2 ] ||
		fail "UDP terminate events: $(cat "$work/gate.log")"
	sed 's/^/# /' "$work/gate.log"
	stop_weir
}

# udp_echo ADDR PORT TEXT: what a connected UDP client (socat UDP:, which
# drops datagrams from any other address) gets back for TEXT.
udp_echo() {
	printf '%s\n' "$3" | nsx $C timeout 5 socat -t 1 - "UDP:$1:$2"
}

# No rule, ip rule or route of weir's interception left in gw.
no_icpt_left() {
	local f
	for f in iptables ip6tables; do
		nsx $G $f-save -t mangle | grep -q -i weir &&
			fail "$f mangle rules left behind"
		nsx $G $f-save -t nat | grep -q -i weir &&
			fail "$f nat rules left behind"
	done
	for f in -4 -6; do
		nsx $G ip $f rule | grep -q 5701 && fail "ip $f rule left"
		[ -z "$(nsx $G ip $f route show table 5701)" ] ||
			fail "ip $f routes left in table 5701"
	done
	return 0
}

# UDP interception (TPROXY): the client sends to the server's own
# address, the gateway's kernel diverts the datagrams into weir, which
# relays them and answers from that address: socat's connected UDP socket
# would drop anything else. Each (client, destination) is a session; a
# client's second datagram reaches the session's reply socket. A port
# not intercepted is forwarded by the kernel. Then again through tap.
t_udp_intercept() {
	gateway_routes 10.232 fd32
	nsx $S socat UDP4-LISTEN:7001,bind=10.232.2.2,fork,reuseaddr EXEC:cat &
	nsx $S socat "UDP6-LISTEN:7001,bind=[fd32:2::2],fork,reuseaddr" \
		EXEC:cat &
	nsx $S socat UDP4-LISTEN:7003,fork,reuseaddr EXEC:cat &
	sleep 0.3
	cat >"$work/u.weir" <<EOF
protocol echo udp 7001;
intercept echo;
EOF
	# A rule a crashed instance left: replaced, not doubled.
	nsx $G ip rule add fwmark 0x5701/0xffff lookup 5701 protocol 87
	start_weir_rules "$work/u.weir" --proxy-idle 1
	nsx $G iptables-save -t mangle | grep -i weir | sed 's/^/# /'
	nsx $G iptables-save -t mangle | grep -q -- \
		"-p udp -m multiport --dports 7001 -j TPROXY --on-port 15001 .*--tproxy-mark 0x5701/0xffff" ||
		fail "no TPROXY rule"
	nsx $G ip6tables-save -t mangle | grep -q -- "-j TPROXY --on-port 15001" ||
		fail "no IPv6 TPROXY rule"
	[ "$(nsx $G ip rule | grep -c 'lookup 5701')" = 1 ] ||
		fail "ip rules: $(nsx $G ip rule)"
	nsx $G ip -6 rule | grep -q "fwmark 0x5701/0xffff lookup 5701" ||
		fail "no IPv6 ip rule"
	nsx $G ip route show table 5701 | grep -q "^local default dev lo" ||
		fail "no local route in table 5701"
	nsx $G ip -6 route show table 5701 | grep -q "^local default dev lo" ||
		fail "no IPv6 local route in table 5701"
	local got
	got=$(udp_echo 10.232.2.2 7001 "to the server")
	[ "$got" = "to the server" ] || fail "v4 got '$got'"
	got=$(udp_echo "[fd32:2::2]" 7001 "over IPv6")
	[ "$got" = "over IPv6" ] || fail "v6 got '$got'"
	# Two datagrams on one association: the second reaches the session's
	# reply socket, not the listener.
	got=$( (echo one; sleep 0.3; echo two) |
		nsx $C timeout 5 socat -t 1 - UDP:10.232.2.2:7001)
	[ "$got" = "one
two" ] || fail "two datagrams: got '$got'"
	[ "$(stat sessions)" = 3 ] || fail "sessions: $(stat sessions)"
	# A port the policy does not intercept is forwarded by the kernel.
	got=$(udp_echo 10.232.2.2 7003 "direct")
	[ "$got" = "direct" ] || fail "port 7003: got '$got'"
	# Straight to weir's own port: dropped (weir would send to itself).
	got=$(udp_echo 10.232.1.1 15001 "loop")
	[ -z "$got" ] || fail "port 15001 answered '$got'"
	[ "$(stat sessions)" = 3 ] || fail "sessions after 7003 and 15001: $(stat sessions)"
	wait_stat active 0
	[ "$(stat bytes_up)" = 32 ] || fail "bytes_up: $(stat bytes_up)"
	[ "$(stat bytes_down)" = 32 ] || fail "bytes_down: $(stat bytes_down)"
	stop_weir
	no_icpt_left

	# Through a data filter: tap's internal side is a datagram link.
	cat >"$work/t.weir" <<EOF
plugin tap { log = "$work/tap.log"; }
protocol echo udp 7001;
intercept echo;
datafilter tap on echo;
EOF
	start_weir_rules "$work/t.weir" --proxy-idle 1
	got=$( (echo one; sleep 0.3; echo two) |
		nsx $C timeout 5 socat -t 1 - UDP:10.232.2.2:7001)
	[ "$got" = "one
two" ] || fail "through tap: got '$got'"
	got=$(udp_echo "[fd32:2::2]" 7001 "tap over IPv6")
	[ "$got" = "tap over IPv6" ] || fail "tap v6 got '$got'"
	# An empty datagram first: data, not an end: the association goes on.
	got=$(nsx $C $py -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.connect(("10.232.2.2", 7001))
s.send(b"")
time.sleep(0.2)
s.send(b"after empty")
print(s.recv(100).decode())')
	[ "$got" = "after empty" ] || fail "after an empty datagram: '$got'"
	wait_stat active 0
	[ "$(stat chained)" = 3 ] || fail "chained: $(stat chained)"
	sed 's/^/# tap: /' "$work/tap.log"
	grep -q '"upstream":"10.232.2.2:7001","protocol":"echo","bytes_up":8,"bytes_down":8' \
		"$work/tap.log" || fail "tap v4 line"
	grep -q '"upstream":"\[fd32:2::2\]:7001","protocol":"echo","bytes_up":14,' \
		"$work/tap.log" || fail "tap v6 line"
	stop_weir
	no_icpt_left
}

# Reload (SIGHUP) moves the proxy to the new policy: a kept listener
# stays open and its running session is untouched (a slow download
# through the kernel pump finishes intact), new sessions get the new
# bindings, a removed listener closes (its UDP association ends), an
# added one opens; a policy naming a filter nobody registered is refused
# whole and the old one keeps running.
t_reload() {
	http_server
	nsx $S socat UDP-LISTEN:7001,fork,reuseaddr EXEC:cat &
	cat >"$work/r1.weir" <<EOF
plugin tap { log = "$work/tap.log"; }
protocol web tcp 80;
listen web 10.232.1.1:8080 to 10.232.2.2:80 protocol web;
listen old 10.232.1.1:8084 to 10.232.2.2:80;
listen ue udp 10.232.1.1:7001 to 10.232.2.2:7001;
EOF
	cat >"$work/r2.weir" <<EOF
plugin tap { log = "$work/tap.log"; }
protocol web tcp 80;
listen web 10.232.1.1:8080 to 10.232.2.2:80 protocol web;
listen new 10.232.1.1:8085 to 10.232.2.2:80;
datafilter tap on web;
EOF
	cat >"$work/bad.weir" <<EOF
protocol web tcp 80;
listen web 10.232.1.1:8080 to 10.232.2.2:80 protocol web;
datafilter nosuch on web;
EOF
	cp "$work/r1.weir" "$work/cur.weir"
	start_weir "$work/cur.weir"
	local got
	got=$(echo "udp before" | nsx $C timeout 5 socat -t 1 - \
		UDP:10.232.1.1:7001)
	[ "$got" = "udp before" ] || fail "UDP before the reload: '$got'"
	# A slow download (about 4 s) running across the reload.
	ip netns exec $C curl -sS --limit-rate 5M --max-time 30 \
		-o "$work/slow.bin" http://10.232.1.1:8080/big.bin &
	local cpid=$!
	wait_stat active 2
	reload_to "$work/r2.weir"
	# The UDP listener is gone: its association ended, nothing answers.
	wait_stat active 1
	got=$(echo "udp after" | nsx $C timeout 3 socat -t 1 - \
		UDP:10.232.1.1:7001)
	[ -z "$got" ] || fail "a removed UDP listener answered '$got'"
	got=$(nsx $C curl -sS --max-time 10 http://10.232.1.1:8080/hello.txt) ||
		fail "the kept listener after the reload"
	[ "$got" = "hello from the server" ] || fail "kept listener: '$got'"
	wait_stat chained 1
	got=$(nsx $C curl -sS --max-time 10 http://10.232.1.1:8085/hello.txt) ||
		fail "the added listener"
	[ "$got" = "hello from the server" ] || fail "added listener: '$got'"
	nsx $C curl -sS --max-time 5 http://10.232.1.1:8084/hello.txt \
		2>/dev/null && fail "the removed listener still answers"
	wait $cpid || fail "the download across the reload failed"
	[ "$(sha256sum <"$work/slow.bin")" = "$(sha256sum <"$work/www/big.bin")" ] ||
		fail "the download across the reload differs"
	[ "$(stat spliced)" = 2 ] || fail "spliced: $(stat spliced)"
	# A policy naming an unregistered filter: refused, the old one runs.
	cp "$work/bad.weir" "$work/cur.weir"
	kill -HUP $wpid
	for _ in $(seq 50); do
		grep -q "reload failed" "$work/weir.log" && break
		sleep 0.1
	done
	grep -q "no loaded plug-in registers a data filter 'nosuch'" \
		"$work/weir.log" || fail "no reason for the refused reload"
	got=$(nsx $C curl -sS --max-time 10 http://10.232.1.1:8080/hello.txt) ||
		fail "the running policy after a refused reload"
	wait_stat chained 2   # still through tap
	wait_stat active 0
	grep -E "reload|rejected" "$work/weir.log" | sed 's/^/# /'
	stop_weir
}

# reload_to FILE: SIGHUP with FILE as the policy; waits for the n-th
# "policy reloaded".
reload_to() {
	local n; n=$(grep -c "policy reloaded" "$work/weir.log")
	cp "$1" "$work/cur.weir"
	kill -HUP $wpid
	for _ in $(seq 50); do
		[ "$(grep -c "policy reloaded" "$work/weir.log")" -gt "$n" ] &&
			return 0
		sleep 0.1
	done
	fail "no reload to $1"
}

# Reload of interception: TCP only, TCP on more ports (rules replaced in
# one transaction), then UDP only (the nat rules go,
# TPROXY and its routing come, the transparent UDP listener opens), then
# nothing intercepted (every rule and route gone, traffic forwarded by
# the kernel).
t_reload_intercept() {
	http_server
	gateway_routes 10.232 fd32
	nsx $S socat UDP4-LISTEN:7001,bind=10.232.2.2,fork,reuseaddr EXEC:cat &
	printf 'protocol web tcp 80;\nintercept web;\n' >"$work/tcp.weir"
	printf 'protocol web tcp 80, 8080;\nintercept web;\n' >"$work/tcp2.weir"
	printf 'protocol echo udp 7001;\nintercept echo;\n' >"$work/udp.weir"
	printf 'protocol web tcp 80;\n' >"$work/none.weir"
	cp "$work/tcp.weir" "$work/cur.weir"
	# What a crashed older version left: its commented jump.
	nsx $G iptables -t nat -N WEIR-ICPT
	nsx $G iptables -t nat -A PREROUTING -m comment --comment weir:weir \
		-j WEIR-ICPT
	start_weir_rules "$work/cur.weir"
	nsx $G iptables-save -t nat | grep -q "weir:weir" &&
		fail "the stale commented jump stayed"
	[ "$(nsx $G iptables-save -t nat | grep -cx -- '-A PREROUTING -j WEIR-ICPT')" = 1 ] ||
		fail "not one plain nat jump"
	local got
	got=$(nsx $C curl -sS --max-time 10 http://10.232.2.2/hello.txt) ||
		fail "TCP interception"
	wait_stat sessions 1
	# More ports: the chain's rules replaced in place (one jump still),
	# interception never off.
	reload_to "$work/tcp2.weir"
	nsx $G iptables-save -t nat | grep -i weir | sed 's/^/# /'
	[ "$(nsx $G iptables-save -t nat | grep -c -- '-j WEIR-ICPT')" = 1 ] ||
		fail "nat jumps: $(nsx $G iptables-save -t nat | grep -c -- '-j WEIR-ICPT')"
	nsx $G iptables-save -t nat | grep -q -- "--dports 80,8080 -j REDIRECT" ||
		fail "the new ports are not redirected"
	got=$(nsx $C curl -sS --max-time 10 http://10.232.2.2/hello.txt) ||
		fail "TCP interception after adding a port"
	wait_stat sessions 2
	reload_to "$work/udp.weir"
	nsx $G iptables-save -t nat | grep -q -i weir && fail "nat rules stayed"
	nsx $G iptables-save -t mangle | grep -q -- "-j TPROXY" ||
		fail "no TPROXY rule after the reload"
	got=$(echo "udp" | nsx $C timeout 5 socat -t 1 - UDP:10.232.2.2:7001)
	[ "$got" = "udp" ] || fail "UDP interception after the reload: '$got'"
	got=$(nsx $C curl -sS --max-time 10 http://10.232.2.2/hello.txt) ||
		fail "TCP forwarded after the reload"
	wait_stat sessions 3      # the UDP association; TCP went direct
	reload_to "$work/none.weir"
	no_icpt_left
	got=$(echo "direct" | nsx $C timeout 5 socat -t 1 - UDP:10.232.2.2:7001)
	[ "$got" = "direct" ] || fail "UDP forwarded: '$got'"
	[ "$(stat sessions)" = 3 ] || fail "sessions: $(stat sessions)"
	stop_weir
	no_icpt_left
}

topology
# A data filter that aborts its session inside attach, and from a post
# while every socket is idle (the dfabort test plug-in), then still uses
# its instance: each is detached once, after the abort returned (never
# inside it: under ASan that would also be a use after free, and inside
# attach the filter would never be detached at all).
t_dfabort() {
	nsx $S socat TCP-LISTEN:9001,reuseaddr,fork \
		SYSTEM:'cat >/dev/null; echo answer after eof' &
	sleep 0.3
	local n=0 when got
	for when in attach post; do
		cat >"$work/d.weir" <<EOF
plugin dfabort;
protocol half tcp 9001;
listen half 10.232.1.1:9001 to 10.232.2.2:9001 protocol half;
datafilter dfabort on half { when = $when; }
EOF
		start_weir "$work/d.weir"
		got=$(echo question |
			nsx $C timeout 10 socat -t 5 - TCP:10.232.1.1:9001 2>&1)
		[ "$got" != "answer after eof" ] || fail "$when: served"
		wait_stat active 0
		[ "$(stat aborted)" = 1 ] || fail "$when: aborted $(stat aborted)"
		stop_weir
		n=$((n + 1))
		[ "$(grep -c 'dfabort: detached after the abort' "$work/weir.log")" = $n ] ||
			fail "$when: not detached once after the abort"
	done
	! grep -q 'detached INSIDE' "$work/weir.log" ||
		fail "detached inside weir_session_abort()"
}

run_test splice ipv6 halfclose refused abort many intercept tap tap_abort \
	limits udp udp_intercept sessfilt reload reload_intercept dfabort
