#!/usr/bin/env bash
# `make demo`: first offline (the packet core on packets built here, and
# `weir replay` of a gateway capture), then live (scripts/demo_net.sh:
# namespaces made here, `weir run` on a gateway, real traffic).
set -euo pipefail
cd "$(dirname "$0")/.."
weir=${BUILD:-build}/src/weir

cat <<TXT
weir demo, part 1 (offline)
---------------------------
The packet core decodes a few packets, then the filter engine runs the
demo policy over a capture of gateway traffic made here (no packet is
sent anywhere). Part 2 runs the same policy live.

TXT
show() {
	echo "\$ weir parse $2   # $1"
	"$weir" parse "$2" || true
	echo
}
show "IPv4 TCP SYN with MSS and window scale" \
	"4500003000014000400626c50a0000010a0000029c400050000003e80000000070022000af9d0000020405b401030307"
show "IPv6 UDP DNS query" \
	"600000000023114020010db800000000000000000000000120010db8000000000000000000000002c000003500231d3e000001000001000000000000047765697204746573740000010001"
show "ICMP port unreachable quoting a UDP datagram" \
	"4500003800010000400166c20a0000020a0000010303891a000000004500001d00010000401166cd0a0000010a0000021388000900096048"
show "the SYN with a damaged IP header checksum" \
	"4500003000014000400673c50a0000010a0000029c400050000003e80000000070022000af9d0000020405b401030307"
show "the SYN cut after 30 bytes" \
	"4500003000014000400626c50a0000010a0000029c400050000003e80000"

echo "\$ weir check examples/demo.weir"
"$weir" check examples/demo.weir
echo

if ! /usr/bin/python3 -c 'import scapy.all' 2>/dev/null; then
	echo "(scapy is missing: scripts/deps.sh installs python3-scapy;"
	echo " the replay part of the demo is skipped)"
	exec bash scripts/demo_net.sh
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
/usr/bin/python3 examples/demo_capture.py "$work/gw.pcap"
cat <<TXT
A capture of traffic crossing the gateway: a telnet attempt, a web request,
a DNS lookup, and a port scan of 40 ports from 10.1.0.66.

\$ weir replay -p examples/demo.weir -r gw.pcap --log verdicts.jsonl
TXT
"$weir" replay -p examples/demo.weir -r "$work/gw.pcap" \
	--plugins "${BUILD:-build}/plugins" --log "$work/verdicts.jsonl" \
	2>"$work/log.jsonl"
echo
echo "The log callout's lines for the DNS packets:"
sed 's/^/  /' "$work/log.jsonl"
echo
echo "Verdicts, from verdicts.jsonl:"
grep -m1 '"dport":23' "$work/verdicts.jsonl" | sed 's/^/  telnet: /'
grep -m1 '"dport":80,.*"verdict":"permit"' "$work/verdicts.jsonl" |
	sed 's/^/  web:    /'
grep '"src":"10.1.0.66"' "$work/verdicts.jsonl" |
	grep -m1 '"verdict":"block"' | sed 's/^/  scan:   /'

bash scripts/demo_net.sh
