# The benchmark's network, sourced by run.sh:
#
#   wbp-client              wbp-gw                        wbp-server
#   c0 10.77.1.2/24  ---  gc 10.77.1.1/24
#      fd77:0:0:1::2/64      fd77:0:0:1::1/64
#                           gs 10.77.2.1/24    ---  s0 10.77.2.2/24
#                              fd77:0:0:2::1/64        fd77:0:0:2::2/64
#
# veth pairs are created inside the namespaces (never in the caller's),
# MTU 1500 and default offloads as in BASELINES.md; gw forwards. Every
# address lives only inside these namespaces. Namespace names carry the
# "wbp-" prefix; a lock keeps two harnesses from sharing them.

NS_C=wbp-client
NS_G=wbp-gw
NS_S=wbp-server
NS_ALL="$NS_C $NS_G $NS_S"

C_ADDR4=10.77.1.2  G_ADDR4C=10.77.1.1  G_ADDR4S=10.77.2.1  S_ADDR4=10.77.2.2
C_ADDR6=fd77:0:0:1::2  G_ADDR6C=fd77:0:0:1::1
G_ADDR6S=fd77:0:0:2::1  S_ADDR6=fd77:0:0:2::2
GW_OUT_IF=gs                   # gw's side towards the server

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# Processes still inside our namespaces: only ours can be there.
topo_kill_inside() {
	local ns pids
	for ns in $NS_ALL; do
		[ -e "/run/netns/$ns" ] || continue
		pids=$(ip netns pids "$ns" 2>/dev/null) || continue
		[ -n "$pids" ] && kill $pids 2>/dev/null
	done
	sleep 0.2
	for ns in $NS_ALL; do
		[ -e "/run/netns/$ns" ] || continue
		pids=$(ip netns pids "$ns" 2>/dev/null) || continue
		[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
	done
	return 0
}

# Deleting a namespace deletes its veth ends and its netfilter rules.
topo_down() {
	local ns
	topo_kill_inside
	for ns in $NS_ALL; do
		[ -e "/run/netns/$ns" ] && ip netns del "$ns" 2>/dev/null
	done
	return 0
}

topo_addr() {       # NS IF ADDR4/24 ADDR6/64
	nsx "$1" ip addr add "$3" dev "$2" &&
	nsx "$1" ip addr add "$4" dev "$2" nodad &&
	nsx "$1" ip link set "$2" up
}

topo_up() {
	local ns
	# Without DAD, IPv6 addresses work at once: while a link-local
	# address is tentative, neighbour discovery towards the server
	# stalls (observed on this kernel).
	for ns in $NS_ALL; do
		ip netns add "$ns" && nsx "$ns" ip link set lo up &&
		nsx "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
			net.ipv6.conf.default.accept_dad=0 || return 1
	done
	ip -n "$NS_C" link add c0 type veth peer name gc netns "$NS_G" &&
	ip -n "$NS_S" link add s0 type veth peer name gs netns "$NS_G" &&
	topo_addr "$NS_C" c0 "$C_ADDR4/24" "$C_ADDR6/64" &&
	topo_addr "$NS_G" gc "$G_ADDR4C/24" "$G_ADDR6C/64" &&
	topo_addr "$NS_G" gs "$G_ADDR4S/24" "$G_ADDR6S/64" &&
	topo_addr "$NS_S" s0 "$S_ADDR4/24" "$S_ADDR6/64" &&
	nsx "$NS_C" ip route add default via "$G_ADDR4C" &&
	nsx "$NS_C" ip -6 route add default via "$G_ADDR6C" &&
	nsx "$NS_S" ip route add default via "$G_ADDR4S" &&
	nsx "$NS_S" ip -6 route add default via "$G_ADDR6S" &&
	nsx "$NS_G" sysctl -qw net.ipv4.ip_forward=1 &&
	nsx "$NS_G" sysctl -qw net.ipv6.conf.all.forwarding=1 &&
	topo_rps
}

# RPS=flow steers each veth's receive by flow hash over all CPUs, as a
# NIC's RSS would: a flow's packets then stay on one CPU, in order.
# Without it (the default, as BASELINES.md measured), a veth receives
# on whichever CPU transmitted, and one TCP flow whose sender and ACK
# processing run on different CPUs is forwarded on both at once: it
# arrives reordered, the sender retransmits (README.md, "Reordering").
topo_rps() {
	local mask p
	[ "${RPS:-off}" = flow ] || return 0
	# All CPUs, in 32-bit groups separated by commas (cpumask syntax).
	mask=$(awk -v n="$(nproc)" 'BEGIN {
		for (s = ""; n > 0; n -= 32)
			s = sprintf(n >= 32 ? "ffffffff" : "%x",
				    2 ^ n - 1) (s == "" ? "" : "," s)
		print s }')
	for p in "$NS_C c0" "$NS_G gc" "$NS_G gs" "$NS_S s0"; do
		set -- $p
		nsx "$1" sh -c "echo $mask > /sys/class/net/$2/queues/rx-0/rps_cpus" ||
			return 1
	done
}
