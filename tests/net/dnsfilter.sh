#!/usr/bin/env bash
# The dnsfilter data filter on UDP sessions of the application tier, in
# network namespaces this script creates and always removes: client --
# gw -- server joined by veth pairs (10.234.x.x, fd34:x::x) with no route
# between client and server, so only weir's UDP listener in gw joins
# them; dnsmasq in server is the resolver, dig in client asks gw.
#
#   dnsfilter.sh TEST WEIR PLUGIN_DIR
#
# TEST: sink (listed names get the sink address over IPv4 and IPv6, other
# names dnsmasq's answers, which never saw the listed ones; a datagram
# that is not DNS is forwarded; the decision log), nxdomain (the answer
# policy), binding (a binding's parameters override the plug-in's
# answer), relay (no data filter: a plain UDP relay), down (the resolver
# gone: the session is aborted, and the next one works again), burst
# (200 queries at once from one socket: every answer comes back right).
# Exit 0 pass, 1 fail, 77 skip (not root, or a tool is missing; under
# CI=true those fail instead).
set -u
name=$1 weir=$2 plugins=$3
C=fc$$ G=fg$$ S=fs$$ namespaces="$C $G $S"
work=$(mktemp -d /tmp/weir-dnsfilter.XXXXXX)
. "$(dirname "$0")/lib.sh"
rpid=""

need_root "network namespaces"
need_tools ip socat timeout dig dnsmasq $py

dump() { dump_log weir.log weir 20; dump_log dnsmasq.log dnsmasq 10; }

# No routes between client and server: only the proxy joins them.
topology() { veth_topology 10.234 fd34; }

# A resolver in server that knows real.example (and below it), answers
# NXDOMAIN for the other names of example (--local), and logs every
# query it gets.
resolver() {
	# ip netns exec execs dnsmasq: $! is its pid (--no-daemon writes
	# no pid file).
	ip netns exec $S dnsmasq --no-daemon --no-resolv --no-hosts --port=53 \
		--listen-address=10.234.2.2 --listen-address=fd34:2::2 \
		--bind-interfaces --local=/example/ \
		--address=/real.example/10.1.2.3 \
		--address=/real.example/2001:db8::123 \
		--log-queries --log-facility="$work/dnsmasq.log" \
		2>>"$work/dnsmasq.err" &
	rpid=$!
	for _ in $(seq 30); do
		nsx $G dig +time=1 +tries=1 +short @10.234.2.2 real.example \
			2>/dev/null | grep -q 10.1.2.3 && return 0
		sleep 0.2
	done
	fail "dnsmasq does not answer"
}

resolver_stop() {
	kill "$rpid" 2>/dev/null
	wait "$rpid" 2>/dev/null
	for _ in $(seq 30); do
		nsx $S ss -ulnH | grep -q ":53 " || return 0
		sleep 0.1
	done
	fail "dnsmasq did not stop"
}

# policy NAME [DATAFILTER-LINES]: the listeners (IPv4 and IPv6) to the
# resolver, with a protocol dns and whatever else is given on stdin.
policy() {
	{
		cat
		cat <<'EOF'
protocol dns udp 53;
listen dns udp "10.234.1.1:53" to "10.234.2.2:53" protocol dns;
listen dns6 udp "[fd34:1::1]:53" to "[fd34:2::2]:53" protocol dns;
EOF
		echo "$2"
	} >"$work/$1.weir"
	echo "$work/$1.weir"
}

# ask SERVER NAME TYPE: dig's status and answers, "STATUS addr addr".
ask() {
	local out
	out=$(nsx $C dig +time=2 +tries=1 @"$1" "$2" "$3" 2>&1)
	echo "$(echo "$out" | sed -n 's/.*status: \([A-Z]*\),.*/\1/p')" \
		"$(echo "$out" | awk '$4 == "A" || $4 == "AAAA" {print $5}' |
			tr '\n' ' ')"
}

# expect SERVER NAME TYPE "STATUS [ADDR...]"
expect() {
	local got; got=$(ask "$1" "$2" "$3")
	note "@$1 $2 $3: $got"
	[ "$(echo $got)" = "$4" ] || fail "$2 $3 via $1: '$got', wanted '$4'"
}

resolver_saw() { grep -q -i "query\[[A-Z]*\] $1 " "$work/dnsmasq.log"; }

GW=10.234.1.1 GW6=fd34:1::1

t_sink() {
	resolver
	local pol; pol=$(policy sink "datafilter dnsfilter on dns;" <<EOF
plugin dnsfilter {
	names = "ads.example, *.tracker.example";
	answer = sink;
	a = 10.0.0.66;
	aaaa = "2001:db8::66";
	log = "$work/decisions.log";
}
EOF
)
	start_weir "$pol"
	expect $GW ads.example A "NOERROR 10.0.0.66"
	expect $GW ADS.example. AAAA "NOERROR 2001:db8::66"
	expect $GW x.Tracker.example A "NOERROR 10.0.0.66"
	expect $GW6 a.b.tracker.example AAAA "NOERROR 2001:db8::66"
	expect $GW ads.example TXT "NOERROR"          # NODATA
	expect $GW real.example A "NOERROR 10.1.2.3"
	expect $GW6 real.example AAAA "NOERROR 2001:db8::123"
	expect $GW tracker.example A "NXDOMAIN"       # not below: dnsmasq's
	expect $GW sub.ads.example A "NXDOMAIN"       # "ads.example" only
	# Not DNS: forwarded as it is (dnsmasq drops it), logged as such.
	echo "not a dns message" |
		nsx $C timeout 2 socat -T 1 - UDP:$GW:53 >/dev/null 2>&1
	resolver_saw real.example || fail "the resolver did not see real.example"
	resolver_saw tracker.example ||
		fail "the resolver did not see tracker.example"
	resolver_saw ads.example && fail "the resolver saw ads.example"
	resolver_saw x.tracker.example && fail "the resolver saw x.tracker.example"
	resolver_saw a.b.tracker.example &&
		fail "the resolver saw a.b.tracker.example"
	sed 's/^/# log: /' "$work/decisions.log"
	[ "$(grep -c '"action":"sink"' "$work/decisions.log")" = 5 ] ||
		fail "5 sink decisions wanted in the log"
	grep -q '"name":"real.example","qtype":1,"action":"forward"' \
		"$work/decisions.log" || fail "no forward of real.example logged"
	grep -q '"query":false,"action":"forward"' "$work/decisions.log" ||
		fail "the datagram that is not DNS was not logged"
	$py -c 'import json,sys
for l in open(sys.argv[1]): json.loads(l)' "$work/decisions.log" ||
		fail "the log is not one JSON object per line"
	[ "$(stat chained)" -ge 10 ] || fail "chained: $(stat chained)"
	stop_weir
}

t_nxdomain() {
	resolver
	local pol; pol=$(policy nx "datafilter dnsfilter on dns;" <<'EOF'
plugin dnsfilter { names = "ads.example, *.tracker.example"; answer = nxdomain; }
EOF
)
	start_weir "$pol"
	expect $GW ads.example A "NXDOMAIN"
	expect $GW6 x.tracker.example AAAA "NXDOMAIN"
	expect $GW real.example A "NOERROR 10.1.2.3"
	resolver_saw real.example || fail "the resolver did not see real.example"
	resolver_saw ads.example && fail "the resolver saw ads.example"
	resolver_saw x.tracker.example && fail "the resolver saw x.tracker.example"
	stop_weir
}

# The plug-in sinks; the binding's parameters make it NXDOMAIN.
t_binding() {
	resolver
	local pol; pol=$(policy bind \
		"datafilter dnsfilter on dns { answer = nxdomain; };" <<'EOF'
plugin dnsfilter { names = "ads.example"; a = 10.0.0.66; }
EOF
)
	start_weir "$pol"
	expect $GW ads.example A "NXDOMAIN"
	expect $GW real.example A "NOERROR 10.1.2.3"
	resolver_saw ads.example && fail "the resolver saw ads.example"
	stop_weir
}

# No data filter: the UDP session relays, names are not filtered; every
# association ends after the idle time.
t_relay() {
	resolver
	local pol; pol=$(policy relay "" </dev/null)
	start_weir "$pol" --proxy-idle 1
	expect $GW real.example A "NOERROR 10.1.2.3"
	expect $GW6 real.example AAAA "NOERROR 2001:db8::123"
	expect $GW ads.example A "NXDOMAIN"     # dnsmasq's: not filtered
	resolver_saw ads.example || fail "the resolver did not see ads.example"
	[ "$(stat chained)" = 0 ] || fail "chained: $(stat chained)"
	[ "$(stat sessions)" = 3 ] || fail "sessions: $(stat sessions)"
	wait_stat active 0 30
	stop_weir
}

# The resolver goes away: its ICMP port unreachable fails the upstream
# receive, the session is aborted at once (not after the idle time), and
# a listed name is still answered; once it is back, names resolve.
t_down() {
	resolver
	local pol; pol=$(policy down "datafilter dnsfilter on dns;" <<'EOF'
plugin dnsfilter { names = "ads.example"; a = 10.0.0.66; }
EOF
)
	start_weir "$pol"
	expect $GW real.example A "NOERROR 10.1.2.3"
	resolver_stop
	local before; before=$(stat aborted)
	expect $GW real.example A ""
	wait_stat aborted $((before + 1)) 20
	expect $GW ads.example A "NOERROR 10.0.0.66"
	resolver
	expect $GW real.example A "NOERROR 10.1.2.3"
	stop_weir
}

# burst N: N queries from one socket (one association) sent at once,
# every other one listed; prints how many right answers came back of
# each kind: "REAL SINK".
burst() {
	nsx $C $py - "$GW" "$1" <<'EOF'
import socket, struct, sys
gw, n = sys.argv[1], int(sys.argv[2])
def query(i, name):
    q = struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\0" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((gw, 53))
for i in range(n):
    s.send(query(i, "ads.example" if i % 2 else "real.example"))
got = [0, 0]
s.settimeout(2)
try:
    while sum(got) < n:
        a = s.recv(512)
        i = struct.unpack(">H", a[:2])[0]
        want = bytes([10, 0, 0, 66]) if i % 2 else bytes([10, 1, 2, 3])
        if a[-4:] == want:
            got[i % 2] += 1
except socket.timeout:
    pass
print(got[0], got[1])
EOF
}

# One association asking many names at once (a stub resolver's socket):
# every answer comes back, each the right one, in one session.
t_burst() {
	resolver
	local pol; pol=$(policy burst "datafilter dnsfilter on dns;" <<'EOF'
plugin dnsfilter { names = "ads.example"; a = 10.0.0.66; }
EOF
)
	start_weir "$pol"
	local got; got=$(burst 200)
	note "answers (real, sink): $got"
	[ "$got" = "100 100" ] || fail "burst of 200: '$got' answered"
	[ "$(stat sessions)" = 1 ] || fail "sessions: $(stat sessions)"
	stop_weir
}

topology
run_test sink nxdomain binding relay down burst
