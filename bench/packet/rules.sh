#!/usr/bin/env bash
# What a steering rule costs the forwarding path, measured with little
# noise: one continuous, pinned 64-byte UDP flood (udpblast on CPU 0,
# udpsink on CPU 1) through gw, while nfq_min (queue 0) and `weir run
# --no-steer` (queue 1, the filters-10 policy of row c) both stay up.
# Every WINDOW seconds gw's first FORWARD rule is switched to the next
# form; each form's packets per second come from its queue's id
# sequence. Switching rules, not processes, puts the forms a second
# apart, where bench-packet's rows are tens of seconds apart and this
# host's speed drifts by half within minutes.
#
#   bash bench/packet/rules.sh          (root; `make` first)
#
# Forms (FORMS, default "plain bare skips"), all steering to weir:
#   plain   -j NFQUEUE, the rule row b uses for nfq_min
#   mark    the injection-mark skip in the rule itself
#   bare    weir's FORWARD form: a jump to a chain of one rule, the
#           queue rule without skips (docs/steering.md)
#   skips   the form before: that rule skips the injection mark and
#           weir's TUN devices
# Each cycle measures nfq_min behind the plain rule too; the report gives
# the medians of each form's pps over nfq_min's in the same cycle.
# Environment: BUILD (build), CYCLES (20), WINDOW (1), FORMS.
set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/topo.sh"
. "$HERE/policy.sh"

BUILD=$(cd "${BUILD:-build}" && pwd) || exit 1
BIN=$BUILD/bench/packet WEIR=$BUILD/src/weir
CYCLES=${CYCLES:-20} WINDOW=${WINDOW:-1} FORMS=${FORMS:-plain bare skips}
TMP=$(mktemp -d /tmp/weir-bench-rules.XXXXXX)
MARK="-m mark ! --mark 0x570000/0xff0000"
Q="--queue-bypass"

cleanup() {
	topo_down
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
exec 9>/run/lock/weir-bench-packet.lock || exit 1
flock -n 9 || { echo "rules.sh: a bench-packet run is in progress" >&2; exit 1; }

rule_of() {         # FORM -> the rule's spec after "FORWARD 1"
	case $1 in
	nfq_min) echo "-j NFQUEUE --queue-num 0 $Q" ;;
	plain) echo "-j NFQUEUE --queue-num 1 $Q" ;;
	mark) echo "$MARK -j NFQUEUE --queue-num 1 $Q" ;;
	bare) echo "-j WEIRB-BARE" ;;
	skips) echo "-j WEIRB-SKIPS" ;;
	*) echo "rules.sh: unknown form $1" >&2; exit 2 ;;
	esac
}

ids() { nsx "$NS_G" awk -v q="$1" '$1 == q { print $8 }' /proc/net/netfilter/nfnetlink_queue; }
queue_of() { [ "$1" = nfq_min ] && echo 0 || echo 1; }

topo_down
topo_up || { echo "rules.sh: network setup failed" >&2; exit 1; }
policy_filters 10 4 "$S_ADDR4" "$BUILD/plugins" >"$TMP/f10.weir" || exit 1
nsx "$NS_G" iptables -N WEIRB-BARE
nsx "$NS_G" iptables -A WEIRB-BARE -j NFQUEUE --queue-num 1 $Q
nsx "$NS_G" iptables -N WEIRB-SKIPS
nsx "$NS_G" iptables -A WEIRB-SKIPS ! -i weir-inj+ $MARK -j NFQUEUE --queue-num 1 $Q
nsx "$NS_S" taskset -c 1 "$BIN/udpsink" -p 9000 >/dev/null 2>&1 &
nsx "$NS_G" "$BIN/nfq_min" -q 0 >"$TMP/nfq_min.out" 2>&1 &
nsx "$NS_G" "$WEIR" run -c "$TMP/f10.weir" --no-steer --queue-base 1 \
	--control "$TMP/weir.sock" >"$TMP/weir.out" 2>&1 &
# Both queues bound before any rule points at them (a form whose queue
# has no reader would count 0 packets).
for _ in $(seq 50); do
	[ -n "$(ids 0)" ] && [ -n "$(ids 1)" ] && break
	sleep 0.1
done
[ -n "$(ids 0)" ] && [ -n "$(ids 1)" ] || {
	echo "rules.sh: nfq_min or weir did not bind its queue:" >&2
	cat "$TMP/nfq_min.out" "$TMP/weir.out" >&2
	exit 1
}
nsx "$NS_G" iptables -I FORWARD 1 $(rule_of nfq_min)
nsx "$NS_C" taskset -c 0 "$BIN/udpblast" -d "$S_ADDR4" -p 9000 -n 1 -r 0 \
	-t $((CYCLES * (1 + $(echo $FORMS | wc -w)) * (WINDOW + 1) + 10)) \
	-l 64 >/dev/null 2>&1 &
sleep 1
for c in $(seq "$CYCLES"); do
	line=""
	for f in nfq_min $FORMS; do
		nsx "$NS_G" iptables -R FORWARD 1 $(rule_of $f)
		sleep 0.3
		a=$(ids "$(queue_of $f)"); sleep "$WINDOW"; b=$(ids "$(queue_of $f)")
		line="$line $(( (b - a) / WINDOW ))"
	done
	echo "$line" | tee -a "$TMP/pps"
done
awk -v forms="nfq_min $FORMS" '
	{ for (i = 1; i <= NF; i++) { v[i, NR] = $i; if (i > 1) r[i, NR] = $i / $1 } }
	function median(a, col, n,   k, j, t, x) {
		for (k = 1; k <= n; k++) x[k] = a[col, k]
		for (k = 2; k <= n; k++)
			for (j = k; j > 1 && x[j - 1] > x[j]; j--) {
				t = x[j]; x[j] = x[j - 1]; x[j - 1] = t
			}
		return n % 2 ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
	}
	END {
		n = split(forms, name, " ")
		for (i = 1; i <= n; i++)
			printf "%-8s median %7.0f pps%s\n", name[i], median(v, i, NR),
			       (i > 1 ? sprintf("  %.3f x nfq_min", median(r, i, NR)) : "")
	}' "$TMP/pps"
