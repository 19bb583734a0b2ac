#!/usr/bin/env bash
# `make demo`. The network demo (namespaces, `weir run`, real traffic)
# arrives with the daemon; until then this shows what the packet core does
# on packets built here, offline, touching no network.
set -euo pipefail
cd "$(dirname "$0")/.."
weir=${BUILD:-build}/src/weir

cat <<TXT
weir demo (packet core only)
----------------------------
The live demo - client, gateway and server namespaces, weir filtering real
curl/ping/nc traffic - comes with the daemon (issue "Live packet tier").
Today weir can parse, verify and rewrite packets; here it decodes a few.

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
