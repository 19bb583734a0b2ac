#!/usr/bin/env bash
# The packet-tier benchmark (`make bench-packet`): weir against kernel
# forwarding and a minimal NFQUEUE program, side by side in one run,
# with the ratios the issue sets targets for. README.md (next to this
# file) explains the rows, the counting and the pitfalls.
#
#   wbp-client ── wbp-gw ── wbp-server     (network namespaces, topo.sh)
#
# Each round runs every row in turn (interleaved, so that drift hits all
# rows alike): a 64-byte UDP load (udpblast in client, udpsink in
# server), then an iperf3 TCP test. The table gives medians. Then each
# weir row's UDP is paired with nfq_min a second apart (paired.sh): the
# (c)/(b) figure that drift does not drown.
#
# Environment (default):
#   BUILD (build)             meson build directory with the bench tools
#   WEIR ($BUILD/src/weir)    the weir program
#   ROWS ("a b c10 c10k d")   rows to run, in this order
#   ROUNDS (3)  DURATION (5)  rounds; seconds of each load
#   UDP_SECONDS, TCP_SECONDS  per load (DURATION)
#   UDP_RATE (0: unlimited)  UDP_LEN (64)  UDP_PORTS (1 source port)
#   TCP_STREAMS (1)  FAMILY (4, or 6)  READY_TIMEOUT (30 s for weir run)
#   TCP_CC ("cubic bbr")      congestion controls, one TCP test each; the
#                             first is the one the targets are read on
#   NFQMIN_ARGS               more options for nfq_min (e.g. "-c 320")
#   RPS (off)                 flow: steer each veth's receive by flow hash
#                             (topo.sh), so flows are forwarded in order
#   PIN ("0 1")               CPUs of the senders (udpblast, iperf3 -c) and
#                             of the receivers (udpsink, iperf3 -s); empty:
#                             the scheduler places them (README.md)
#   FILTER_CPU (PIN's second) CPU of the filter programs (nfq_min, weir
#                             run) during UDP loads; empty: the scheduler
#                             places them
#   WEIR_RUN_ARGS, WEIR_STATS_ARGS  ("--control $TMP/weir.sock": a
#                             socket of our own, not the system one)
#   PAIRED ("c10 c10k")       weir rows paired with nfq_min (paired.sh);
#                             empty: none
#   PAIRED_CYCLES (12)  PAIRED_WINDOW (1 s)
#   PAIRED_TCP ("b c10 c10k d") rows paired with kernel forwarding under
#                             one TCP stream (paired_tcp.sh); empty: none
#   PAIRED_TCP_CYCLES (8)  PAIRED_TCP_WINDOW (2 s)  PAIRED_TCP_SETTLE (0.5 s)
#   PAIRED_TCP_REF (a)        the row each paired TCP window is set
#                             against: a (kernel), or b (nfq_min)
#   KEEP (0)                  1 keeps $TMP: policies, logs, raw results
# Needs root. Exit status 0; 1 when setup or a row failed; 2 on usage.

set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/topo.sh"
. "$HERE/policy.sh"
. "$HERE/measure.sh"
. "$HERE/rows.sh"
. "$HERE/paired.sh"
. "$HERE/paired_tcp.sh"

die() { echo "bench-packet: $*" >&2; exit 1; }
say() { echo "bench-packet: $*" >&2; }

settings() {
	BUILD=$(cd "${BUILD:-build}" 2>/dev/null && pwd) ||
		die "no build directory ${BUILD:-build} (run make first)"
	BIN=$BUILD/bench/packet
	WEIR=${WEIR:-$BUILD/src/weir}
	ROWS=${ROWS:-a b c10 c10k d}
	ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-5}
	UDP_SECONDS=${UDP_SECONDS:-$DURATION} TCP_SECONDS=${TCP_SECONDS:-$DURATION}
	UDP_RATE=${UDP_RATE:-0} UDP_LEN=${UDP_LEN:-64} UDP_PORTS=${UDP_PORTS:-1}
	UDP_PORT=9000 TCP_PORT=5201
	TCP_STREAMS=${TCP_STREAMS:-1} FAMILY=${FAMILY:-4}
	TCP_CC=${TCP_CC:-cubic bbr} RPS=${RPS:-off} PIN=${PIN-0 1}
	READY_TIMEOUT=${READY_TIMEOUT:-30}
	PAIRED=${PAIRED-c10 c10k}
	PAIRED_CYCLES=${PAIRED_CYCLES:-12} PAIRED_WINDOW=${PAIRED_WINDOW:-1}
	PAIRED_TCP=${PAIRED_TCP-b c10 c10k d}
	PAIRED_TCP_CYCLES=${PAIRED_TCP_CYCLES:-8}
	PAIRED_TCP_WINDOW=${PAIRED_TCP_WINDOW:-2}
	PAIRED_TCP_SETTLE=${PAIRED_TCP_SETTLE:-0.5}
	PAIRED_TCP_REF=${PAIRED_TCP_REF:-a}
	NCPU=$(nproc) CLK_TCK=$(getconf CLK_TCK)
	BG_PIDS= FG_PID= FILTER_PID= ROWS_NA= POLICY_d=
	case $FAMILY in
	4) DST=$S_ADDR4 IPT=iptables CLIENT_NET=10.77.1.0/24 ;;
	6) DST=$S_ADDR6 IPT=ip6tables CLIENT_NET=fd77:0:0:1::/64 ;;
	*) echo "FAMILY must be 4 or 6" >&2; exit 2 ;;
	esac
	case $RPS in
	off|flow) ;;
	*) echo "RPS must be off or flow" >&2; exit 2 ;;
	esac
	case $PAIRED_TCP_REF in
	a|b) ;;
	*) echo "PAIRED_TCP_REF must be a or b" >&2; exit 2 ;;
	esac
	pin_init
}

# SEND and RECV: the command prefixes that pin the load's two ends;
# FILT the filter programs'.
pin_init() {
	local s r
	SEND=() RECV=() FILT=()
	[ -n "$PIN" ] || { filter_pin; return 0; }
	read -r s r <<<"$PIN"
	if ! [[ $s =~ ^[0-9]+$ && $r =~ ^[0-9]+$ ]]; then
		echo "PIN must be two CPU numbers, or empty" >&2
		exit 2
	fi
	command -v taskset >/dev/null || {
		echo "PIN needs taskset (util-linux)" >&2
		exit 2
	}
	if [ "$s" -ge "$NCPU" ] || [ "$r" -ge "$NCPU" ]; then
		echo "PIN: $NCPU CPUs here; not pinned" >&2
		PIN=
		filter_pin
		return 0
	fi
	SEND=(taskset -c "$s") RECV=(taskset -c "$r")
	filter_pin "$r"
}

filter_pin() {      # [DEFAULT_CPU]
	local f=${FILTER_CPU-${1:-}}
	[ -n "$f" ] || return 0
	if ! [[ $f =~ ^[0-9]+$ ]] || [ "$f" -ge "$NCPU" ]; then
		echo "FILTER_CPU must be a CPU number below $NCPU, or empty" >&2
		exit 2
	fi
	command -v taskset >/dev/null || {
		echo "FILTER_CPU needs taskset (util-linux)" >&2
		exit 2
	}
	FILT=(taskset -c "$f")
}

preflight() {
	local t
	[ "$(id -u)" = 0 ] || die "needs root (network namespaces, iptables)"
	for t in ip iptables ip6tables iptables-save iperf3 flock; do
		command -v "$t" >/dev/null || die "missing tool: $t"
	done
	for t in udpblast udpsink nfq_min; do
		[ -x "$BIN/$t" ] || die "missing $BIN/$t (run make first)"
	done
	for t in $TCP_CC; do
		cc_available "$t" ||
			die "congestion control $t is not available (modprobe tcp_$t?)"
	done
}

# iperf3 -C needs the algorithm in the kernel: built in, or a module
# that is loaded now or can be.
cc_available() {    # NAME
	case " $(cat /proc/sys/net/ipv4/tcp_available_congestion_control) " in
	*" $1 "*) return 0 ;;
	esac
	modprobe -q "tcp_$1" 2>/dev/null || return 1
	case " $(cat /proc/sys/net/ipv4/tcp_available_congestion_control) " in
	*" $1 "*) return 0 ;;
	esac
	return 1
}

# Rows (c) and (d) need `weir run`; without it they print "not
# available" and (a), (b) still run.
weir_rows() {
	local r
	WEIR_RUN_ARGS=${WEIR_RUN_ARGS-"--control $TMP/weir.sock"}
	WEIR_STATS_ARGS=${WEIR_STATS_ARGS-"--control $TMP/weir.sock"}
	[ -x "$WEIR" ] && policy_make_all "$FAMILY" "$DST" "$CLIENT_NET" \
		"$BUILD/plugins" || say "could not write or check the weir policies"
	"$WEIR" run --help >/dev/null 2>&1 && [ -f "$POLICY_d" ] &&
		[ -e "$BUILD/plugins/noop.so" ] && return 0
	say "weir run: not available (rows c10, c10k, d skipped)"
	for r in $ROWS; do
		case $r in a|b) ;; *) ROWS_NA="$ROWS_NA $r" ;; esac
	done
}

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	[ -n "$FG_PID" ] && kill "$FG_PID" 2>/dev/null
	for p in $BG_PIDS; do kill -TERM "$p" 2>/dev/null; done
	topo_down
	if [ "${KEEP:-0}" = 1 ]; then say "kept $TMP"; else rm -rf "$TMP"; fi
	exit "$rc"
}

# The sink and the iperf3 server live for the whole run.
servers_up() {
	local i before
	bg_start "$TMP/udpsink.out" "$NS_S" "${RECV[@]}" "$BIN/udpsink" \
		-p "$UDP_PORT"
	bg_start "$TMP/iperf3-server.out" "$NS_S" "${RECV[@]}" iperf3 -s \
		-B "$DST" -p "$TCP_PORT"
	for i in $(seq 50); do
		[ -n "$(nsx "$NS_S" ss -Hltn "sport = :$TCP_PORT")" ] && break
		sleep 0.1
	done
	# A short slow load resolves the neighbours and proves the path.
	before=$(srv_udp_in)
	nsx "$NS_C" "$BIN/udpblast" -d "$DST" -p "$UDP_PORT" -r 1000 -t 0.3 \
		>/dev/null || return 1
	sleep 0.2
	[ "$(srv_udp_in)" -gt "$before" ] || die "no UDP through gw"
}

progress() {        # ROW ROUND
	awk -v r="$1" -v R="$2" -v ccs="$TCP_CC" '$1 == r && $2 == R { v[$3] = $4 }
	END {
		s = v["udp_secs"]
		printf "bench-packet: round %d %-5s", R, r
		if (s > 0)
			printf "  udp fwd %.1f kpps", v["udp_fwd"] / s / 1000
		if (s > 0 && "udp_verdicted" in v)
			printf ", verdicted %.1f kpps",
			       v["udp_verdicted"] / s / 1000
		n = split(ccs, cc, " ")
		for (i = 1; i <= n; i++)
			if (("tcp_gbps_" cc[i]) in v)
				printf "  tcp %s %.2f Gbit/s (%d retr)", cc[i],
				       v["tcp_gbps_" cc[i]], v["tcp_retr_" cc[i]]
		if ("failed" in v)
			printf "  FAILED"
		printf "\n"
	}' "$RESULTS" >&2
}

# The filter program's threads on FILTER_CPU for the UDP load, on any
# CPU for TCP (README.md, "Pinning").
filter_affinity() { # PID udp|tcp
	local cpus=0-$((NCPU - 1))
	[ -n "$1" ] && [ ${#FILT[@]} -gt 0 ] || return 0
	[ "$2" = udp ] && cpus=${FILT[2]}
	taskset -a -p -c "$cpus" "$1" >/dev/null
}

run_row() {         # ROW ROUND
	if row_start "$1" "$2"; then
		filter_affinity "$FILTER_PID" udp
		measure_udp "$1" "$2" "$FILTER_PID" || rec "$1" "$2" failed 1
		filter_affinity "$FILTER_PID" tcp
		measure_tcp "$1" "$2" "$FILTER_PID" || rec "$1" "$2" failed 1
		row_stop "$1" "$2"
	else
		rec "$1" "$2" failed 1
	fi
	progress "$1" "$2"
}

print_header() {
	echo
	echo "weir bench-packet, $(date -u '+%Y-%m-%d %H:%M UTC')," \
	     "kernel $(uname -r), $NCPU CPUs"
	echo "$ROUNDS interleaved rounds of: $ROWS; IPv$FAMILY; medians." \
	     "Load average before: $LOADAVG (other work skews every row)."
	echo "UDP: udpblast -l $UDP_LEN -n $UDP_PORTS -r $UDP_RATE" \
	     "for $UDP_SECONDS s; TCP: iperf3 -P $TCP_STREAMS -C CC for" \
	     "$TCP_SECONDS s, CC in: $TCP_CC (machine default:" \
	     "$(cat /proc/sys/net/ipv4/tcp_congestion_control)); RPS $RPS;" \
	     "senders/receivers on CPUs: ${PIN:-any}; filters on CPU" \
	     "${FILT[2]:-any} for UDP, any for TCP."
	echo "fwd: gw's transmissions to server; verdicted: id_sequence delta;" \
	     "bypass: (fwd - verdicted) / fwd."
	echo
}

main() {
	local R r
	settings
	preflight
	TMP=$(mktemp -d /tmp/weir-bench-packet.XXXXXX) || die "mktemp"
	RESULTS=$TMP/results
	: >"$RESULTS"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	# One harness at a time: the namespace names are fixed, and a stale
	# set (from a run killed with SIGKILL) is then surely ours.
	exec 9>/run/lock/weir-bench-packet.lock || die "lock file"
	flock -n 9 || die "another bench-packet run is in progress"
	weir_rows
	LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
	awk '{ exit !($1 >= 0.5) }' /proc/loadavg &&
		say "warning: the machine is busy (load $LOADAVG): every row" \
		    "will be lower and the ratios noisier"
	topo_down
	topo_up || die "could not set up the namespaces"
	servers_up || die "could not start the sink and iperf3 server"
	for R in $(seq "$ROUNDS"); do
		for r in $ROWS; do
			case " $ROWS_NA " in *" $r "*) continue ;; esac
			run_row "$r" "$R"
		done
	done
	paired_all
	paired_tcp_all
	print_header
	awk -v rows="$ROWS" -v na="$ROWS_NA" -v hz="$CLK_TCK" -v ccs="$TCP_CC" \
		-f "$HERE/report.awk" "$RESULTS"
	paired_report
	paired_tcp_report
	grep -q ' failed ' "$RESULTS" && return 1
	return 0
}

main "$@"
