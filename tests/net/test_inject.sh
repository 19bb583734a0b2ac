#!/usr/bin/env bash
# The live injector against the real stack (injtest.c), in two network
# namespaces this script creates and always removes: A (weir's own, where
# injtest runs) and B, joined by a veth pair, addresses only inside them
# (10.201.0.0/24, fd20::/64).
#
#   test_inject.sh CASE INJTEST
#
# Exit 0 pass, 1 fail, 77 skip (not root; under CI=true that fails).
set -u
name=$1 injtest=$2
A=wia$$ B=wib$$ namespaces="$A $B"
. "$(dirname "$0")/lib.sh"

need_root "namespaces, raw sockets, TUN"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

ip netns add $A && ip netns add $B || skip "ip netns add"
ip link add va netns $A type veth peer name vb netns $B
ip -n $A addr add 10.201.0.1/24 dev va
ip -n $A addr add fd20::1/64 dev va nodad
ip -n $B addr add 10.201.0.2/24 dev vb
ip -n $B addr add fd20::2/64 dev vb nodad
for ns in $A $B; do
	ip -n $ns link set lo up
done
ip -n $A link set va up
ip -n $B link set vb up
# Neighbours first, so that the first injected packet is not the one
# that waits for address resolution.
ip netns exec $A ping -c1 -W2 10.201.0.2 >/dev/null
ip netns exec $A ping -6 -c1 -W2 fd20::2 >/dev/null

ip netns exec $A timeout 60 "$injtest" "$name" $B va
rc=$?
# The TUN devices go with the injector.
if ip -n $A link show | grep -q weir-inj; then
	echo "$name: FAIL: TUN device left behind"; exit 1
fi
exit $rc
