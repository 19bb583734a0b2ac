# shellcheck shell=bash
# shellcheck disable=SC2154  # name, namespaces, weir, plugins: set by the script
# Shared helpers of the integration tests in tests/net. Not run on its
# own: each script sources it, located by the script's own path (meson
# runs the scripts from another directory):
#
#   . "$(dirname "$0")/lib.sh"
#
# Before sourcing, under `set -u`, a script sets:
#   name        the test case (the first argument); prefixes every verdict
#   namespaces  the network namespaces it creates, all removed on exit
#               (e.g. C=pc$$ G=pg$$ S=ps$$ namespaces="$C $G $S")
#   work        optional: a scratch directory (mktemp -d), removed on exit;
#               weir's log, control socket and policies go there
#   weir, plugins   the weir binary and the plug-in directory, for the
#               weir helpers below
# Sourcing sets wpid="" (the pid of the `weir run` in the background),
# ctl=$work/ctl.sock (its control socket), py (python3, unless set) and
# installs the EXIT/INT/TERM trap. After sourcing, a script may set
#   weir_stop_tenths  how long stop_weir waits for weir to end (50 = 5 s)
#   stat_tenths       how long wait_stat waits by default (30 = 3 s)
# and may replace any function by defining it again; most replace dump.
#
# Verdicts and checks:
#   skip WHY            exit 77, or under CI=true (nothing may skip) fail
#   fail WHAT...        print the failure, dump, exit 1
#   note TEXT...        a comment line in the output ("# TEXT")
#   dump                what fail shows: the tail of weir's log; scripts
#                       with other logs redefine it (dump_log helps)
#   dump_log FILE LABEL LINES  the last LINES of $work/FILE, prefixed
#   need_root WHY       skip unless root ("needs root (WHY)")
#   need_tools TOOL...  skip unless every TOOL is on the PATH
#   run_test TEST...    run t_$name if $name is one of TEST (exit 2 if
#                       not), then print the pass
# Namespaces:
#   nsx NS CMD...       CMD in namespace NS
#   veth_topology NET4 [NET6]  client $C -- gw $G -- server $S joined by
#                       veth pairs c0-g0 and s0-g1, every link up:
#                       NET4.1.2 (c0), NET4.1.1 (g0), NET4.2.1 (g1),
#                       NET4.2.2 (s0), /24; with NET6 the same as
#                       NET6:1::2 and so on, /64. No routes.
#   gateway_routes NET4 [NET6]  client and server routed through gw,
#                       which forwards (the family of NET6 only if given)
# weir:
#   start_weir_in NS POLICY [OPTION...]  `weir run` in namespace NS (""
#                       for the test's own) until its control socket
#                       answers; output appended to $work/weir.log
#   start_weir POLICY [OPTION...]        in gw, explicit listeners only
#                       (--no-steer: no rules)
#   start_weir_rules POLICY [OPTION...]  in gw, with its kernel rules
#   stop_weir           SIGTERM; fails unless weir ends in time with
#                       status 0 and its log has no sanitizer report
#   stat KEY            a number of `weir stats --json`'s "proxy" object
#   wait_stat KEY VALUE [TENTHS]  until stat KEY is VALUE, or fail

: "${name:?set name before sourcing lib.sh}"
: "${namespaces:?set namespaces before sourcing lib.sh}"

skip() {
	if [ "${CI:-}" = "true" ]; then
		echo "$name: FAIL: $1 (CI=true: nothing may skip)"; exit 1
	fi
	echo "$name: SKIP: $1"; exit 77
}
fail() { echo "$name: FAIL: $*"; dump; exit 1; }
note() { echo "# $*"; }

dump_log() {
	[ -f "$work/$1" ] && sed "s/^/# $2: /" "$work/$1" | tail -"$3"
}
dump() { dump_log weir.log weir 20; }

need_root() { [ "$(id -u)" = 0 ] || skip "needs root ($1)"; }
need_tools() {
	local t
	for t in "$@"; do
		command -v "$t" >/dev/null || skip "$t not installed"
	done
}

run_test() {
	local t
	for t in "$@"; do
		[ "$t" = "$name" ] || continue
		"t_$name"
		echo "$name: PASS"
		return 0
	done
	echo "unknown test $name"; exit 2
}

work=${work:-}
ctl=${work:+$work/ctl.sock}
wpid=""
py=${py:-/usr/bin/python3}
weir_stop_tenths=50
stat_tenths=30

cleanup() {
	[ -n "$wpid" ] && kill -9 "$wpid" 2>/dev/null
	local ns
	for ns in $namespaces; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	[ -z "$work" ] || rm -rf "$work"
}
trap cleanup EXIT INT TERM

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

veth_topology() {
	local n4=$1 n6=${2:-} ns d
	for ns in $C $G $S; do ip netns add "$ns" || skip "ip netns add"; done
	ip link add c0 netns "$C" type veth peer name g0 netns "$G"
	ip link add s0 netns "$S" type veth peer name g1 netns "$G"
	nsx "$C" ip addr add "$n4.1.2/24" dev c0
	nsx "$G" ip addr add "$n4.1.1/24" dev g0
	nsx "$G" ip addr add "$n4.2.1/24" dev g1
	nsx "$S" ip addr add "$n4.2.2/24" dev s0
	if [ -n "$n6" ]; then
		nsx "$C" ip addr add "$n6:1::2/64" dev c0 nodad
		nsx "$G" ip addr add "$n6:1::1/64" dev g0 nodad
		nsx "$G" ip addr add "$n6:2::1/64" dev g1 nodad
		nsx "$S" ip addr add "$n6:2::2/64" dev s0 nodad
	fi
	for ns in $C $G $S; do
		nsx "$ns" ip link set lo up
		for d in $(nsx "$ns" ls /sys/class/net); do
			nsx "$ns" ip link set "$d" up
		done
	done
}

gateway_routes() {
	local n4=$1 n6=${2:-}
	nsx "$C" ip route add default via "$n4.1.1"
	nsx "$S" ip route add default via "$n4.2.1"
	nsx "$G" sysctl -qw net.ipv4.ip_forward=1
	if [ -n "$n6" ]; then
		nsx "$C" ip -6 route add default via "$n6:1::1"
		nsx "$S" ip -6 route add default via "$n6:2::1"
		nsx "$G" sysctl -qw net.ipv6.conf.all.forwarding=1
	fi
}

start_weir_in() {
	local ns=$1 pol=$2; shift 2
	# ${ns:+...}: no `ip netns exec` for "" (weir in the test's own
	# namespace).
	${ns:+ip netns exec "$ns"} "$weir" run -c "$pol" --control "$ctl" \
		--plugins "$plugins" "$@" >>"$work/weir.log" 2>&1 &
	wpid=$!
	for _ in $(seq 50); do
		"$weir" stats --control "$ctl" >/dev/null 2>&1 && return 0
		kill -0 "$wpid" 2>/dev/null || fail "weir run exited at start"
		sleep 0.1
	done
	fail "weir run did not answer on its control socket"
}

start_weir() { start_weir_in "$G" "$1" --no-steer "${@:2}"; }
start_weir_rules() { start_weir_in "$G" "$@"; }

stop_weir() {
	[ -n "$wpid" ] || return 0
	kill -TERM "$wpid"
	for _ in $(seq "$weir_stop_tenths"); do
		kill -0 "$wpid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$wpid" 2>/dev/null && fail "weir run did not stop on SIGTERM"
	wait "$wpid" 2>/dev/null
	local rc=$?
	wpid=""
	[ $rc = 0 ] || fail "weir run exited with status $rc"
	! grep -q -E "Sanitizer|runtime error" "$work/weir.log" ||
		fail "sanitizer report in the daemon's log"
}

stat() {
	"$weir" stats --json --control "$ctl" | $py -c \
		"import json,sys; print(json.load(sys.stdin)['proxy']['$1'])"
}

wait_stat() {
	local v=""
	for _ in $(seq "${3:-$stat_tenths}"); do
		v=$(stat "$1")
		[ "$v" = "$2" ] && return 0
		sleep 0.1
	done
	fail "proxy $1 is $v, wanted $2"
}
