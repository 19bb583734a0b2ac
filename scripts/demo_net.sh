#!/usr/bin/env bash
# The live part of `make demo`: three network namespaces made here
# (weir-demo-client, -gw, -server; addresses 10.77.1.0/24 and
# 10.77.2.0/24 exist only inside them), `weir run` on the gateway with
# examples/demo.weir, real traffic from the client (curl, ping, telnet,
# a DNS query, a port scan with nc), and a report; then the application
# tier: examples/proxy.weir intercepts web downloads through exeblock. Everything made here
# is removed at the end, and at the start if an earlier run was killed.
set -uo pipefail
cd "$(dirname "$0")/.."
build=${BUILD:-build}
weir=$build/src/weir
C=weir-demo-client G=weir-demo-gw S=weir-demo-server
work=$(mktemp -d /tmp/weir-demo.XXXXXX)
ctl=$work/ctl.sock
wpid=""

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

teardown() {
	[ -n "$wpid" ] && kill -TERM "$wpid" 2>/dev/null && wait "$wpid"
	for ns in $C $G $S; do
		ip netns pids $ns 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del $ns 2>/dev/null
	done
	rm -rf "$work"
}
trap teardown EXIT INT TERM

if [ "$(id -u)" != 0 ]; then
	echo "(the live demo needs root for network namespaces and NFQUEUE;"
	echo " run 'sudo make demo' to see weir filter real traffic)"
	exit 0
fi
for t in curl nc socat iptables; do
	command -v $t >/dev/null || { echo "(live demo: $t missing; make deps)"; exit 0; }
done
teardown 2>/dev/null; work=$(mktemp -d /tmp/weir-demo.XXXXXX); ctl=$work/ctl.sock

for ns in $C $G $S; do ip netns add $ns; done
ip link add c0 netns $C type veth peer name g0 netns $G
ip link add s0 netns $S type veth peer name g1 netns $G
nsx $C ip addr add 10.77.1.2/24 dev c0
nsx $G ip addr add 10.77.1.1/24 dev g0
nsx $G ip addr add 10.77.2.1/24 dev g1
nsx $S ip addr add 10.77.2.2/24 dev s0
for ns in $C $G $S; do
	for d in lo $(nsx $ns ls /sys/class/net | grep -v lo); do
		nsx $ns ip link set "$d" up
	done
done
nsx $C ip route add default via 10.77.1.1
nsx $S ip route add default via 10.77.2.1
nsx $G sysctl -qw net.ipv4.ip_forward=1

# The server: a web page on 80 and 443, telnet on 23, DNS on 53/udp,
# and a few more ports for the scan to find.
# (the sleep keeps the child alive until socat forwarded its output)
cat >"$work/http.sh" <<'SH'
#!/bin/sh
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello from the server\n'
sleep 0.2
SH
chmod +x "$work/http.sh"
for p in 80 443; do
	nsx $S socat TCP-LISTEN:$p,fork,reuseaddr EXEC:"$work/http.sh" 2>/dev/null &
done
for p in 23 22 25 110 143; do
	nsx $S socat TCP-LISTEN:$p,fork,reuseaddr SYSTEM:"echo $p; sleep 0.2" 2>/dev/null &
done
nsx $S socat UDP-RECVFROM:53,fork SYSTEM:"echo dns-answer; sleep 0.2" 2>/dev/null &
nsx $C ping -c1 -W2 10.77.2.2 >/dev/null 2>&1   # resolve neighbours
sleep 0.5                                        # servers listening

cat <<TXT

weir live demo
--------------
  client 10.77.1.2 --- gw 10.77.1.1 | 10.77.2.1 --- server 10.77.2.2
                       weir run -c examples/demo.weir

TXT
ip netns exec $G "$weir" run -c examples/demo.weir --plugins "$build/plugins" \
	--control "$ctl" >"$work/weir.out" 2>"$work/weir.err" &
wpid=$!
for _ in $(seq 50); do
	"$weir" stats --control "$ctl" >/dev/null 2>&1 && break
	sleep 0.1
done
sed 's/^/  [gw] /' "$work/weir.err"
echo

result() { printf '  %-44s %s\n' "$1" "$2"; }

if out=$(nsx $C curl -s -m 3 http://10.77.2.2/); then
	result "curl http://10.77.2.2/" "permitted: $out"
else
	result "curl http://10.77.2.2/" "FAILED"
fi
if nsx $C ping -c2 -W1 10.77.2.2 >/dev/null; then
	result "ping 10.77.2.2" "permitted (no filter on ICMP)"
else
	result "ping 10.77.2.2" "FAILED"
fi
if nsx $C nc -z -w2 10.77.2.2 23; then
	result "nc 10.77.2.2 23 (telnet)" "went through (?)"
else
	result "nc 10.77.2.2 23 (telnet)" "blocked by \"no-telnet\""
fi
ans=$(echo query | nsx $C socat -T2 - UDP:10.77.2.2:53 2>/dev/null)
result "a DNS query to 10.77.2.2:53" "answered '$ans', logged by the log callout"
open=0
for p in $(seq 20 60); do
	nsx $C nc -z -w1 10.77.2.2 $p 2>/dev/null && open=$((open + 1))
done
result "nc -z 10.77.2.2 20-60 (a port scan)" "$open ports answered, then \"portscan\" blocked the source"
if nsx $C curl -s -m 2 http://10.77.2.2/ >/dev/null; then
	result "curl http://10.77.2.2/ after the scan" "permitted (?)"
else
	result "curl http://10.77.2.2/ after the scan" "blocked: the scanner is shunned for 60 s"
fi

echo
echo "\$ weir stats   (on the gateway)"
"$weir" stats --control "$ctl" | sed 's/^/  /'
echo
echo "The log callout's JSON lines for the DNS packets:"
grep -h '"dport":53\|"sport":53' "$work/weir.err" | head -4 | sed 's/^/  /'
kill -TERM $wpid; wait $wpid; wpid=""
echo
grep "weir: stopped" "$work/weir.err" | sed "s/^/  [gw] /"

# ---- the application tier ------------------------------------------------
mkdir -p "$work/www"
cp /bin/ls "$work/www/tool"              # an ELF, with an innocent name
echo "release notes: nothing to see" >"$work/www/notes.txt"
nsx $S python3 -m http.server 8000 --bind 10.77.2.2 \
	--directory "$work/www" >/dev/null 2>&1 &
cat <<TXT

Application tier: web downloads on port 8000 through exeblock
--------------------------------------------------------------
  weir run -c examples/proxy.weir   (intercept web; exeblock; sessgate)

TXT
ip netns exec $G "$weir" run -c examples/proxy.weir --plugins "$build/plugins" \
	--control "$ctl" >"$work/weir2.out" 2>"$work/weir2.err" &
wpid=$!
for _ in $(seq 50); do
	"$weir" stats --control "$ctl" >/dev/null 2>&1 &&
		nsx $S python3 -c "import socket; socket.create_connection(('10.77.2.2', 8000), 1)" \
			2>/dev/null && break
	sleep 0.1
done
code=$(nsx $C curl -s -m 5 -o "$work/notes.got" -w '%{http_code}' \
	http://10.77.2.2:8000/notes.txt)
result "curl http://10.77.2.2:8000/notes.txt" "$code: $(cat "$work/notes.got")"
code=$(nsx $C curl -s -m 5 -o "$work/tool.got" -w '%{http_code}' \
	http://10.77.2.2:8000/tool)
result "curl http://10.77.2.2:8000/tool (an ELF)" "$code: $(grep -o -m1 'blocked[^<]*' "$work/tool.got")"
echo
echo "\$ weir stats | grep proxy   (on the gateway)"
"$weir" stats --control "$ctl" | grep "^proxy\|last abort" | sed 's/^/  /'
echo
echo "sessgate's lines (one per verdict and per ended session):"
grep -h '"event"' "$work/weir2.err" | head -6 | sed 's/^/  /'
kill -TERM $wpid; wait $wpid; wpid=""
echo
echo "  namespaces, rules and redirects removed."
