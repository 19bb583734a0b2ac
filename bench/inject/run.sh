#!/usr/bin/env bash
# The injection benchmark (`make bench-inject`): packets injected into the
# send path by weir (injblast: the live injector, lists of 1 and of 32)
# against a minimal raw-socket sendmmsg loop (rawblast), the same packets,
# in one run, interleaved. README.md (next to this file) explains the
# rows and how to read the table.
#
#   wbi-cli-PID  i0 10.99.0.1/24  ───  i1 10.99.0.2/24  wbi-srv-PID
#   rawblast | injblast                 udpsink (counts what arrives)
#
# Environment (default):
#   BUILD (build)         meson build directory with the bench tools
#   ROWS ("raw weir1 weir32")  rows to run in each round, in this order
#   ROUNDS (3)  DURATION (5)   rounds; seconds each sender runs
#   LEN (64)              UDP payload bytes (92-byte IP packets)
#   WINDOW (4096)         packets injblast keeps in flight at most
#   PIN (1)               1: the sink on the last CPU, each sender on the
#                         others; 0: wherever the scheduler puts them
#   KEEP (0)              1 keeps the temporary directory (raw results)
# Needs root. Exit status 0; 1 when setup or a row failed; 2 on usage.

set -u -o pipefail

die() { echo "bench-inject: $*" >&2; exit 1; }
say() { echo "bench-inject: $*" >&2; }

settings() {
	BUILD=$(cd "${BUILD:-build}" 2>/dev/null && pwd) ||
		die "no build directory ${BUILD:-build} (run make first)"
	ROWS=${ROWS:-raw weir1 weir32}
	ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-5}
	LEN=${LEN:-64} WINDOW=${WINDOW:-4096}
	RAWBLAST=$BUILD/bench/inject/rawblast
	INJBLAST=$BUILD/bench/inject/injblast
	UDPSINK=$BUILD/bench/packet/udpsink
	# Unique names: a run never touches another run's namespaces, and
	# the addresses exist only inside them.
	NS_C=wbi-cli-$$ NS_S=wbi-srv-$$
	C_ADDR=10.99.0.1 S_ADDR=10.99.0.2 PORT=9000
	NCPU=$(nproc) PIN=${PIN:-1}
	pin_cpus
	FG_PID= SINK_PID= ROWS_NA=
	case $ROUNDS$DURATION$LEN$WINDOW in
	*[!0-9.]*) echo "ROUNDS, DURATION, LEN, WINDOW: numbers" >&2; exit 2 ;;
	esac
	for r in $ROWS; do
		case $r in raw|weir1|weir32) ;;
		*) echo "unknown row $r (raw weir1 weir32)" >&2; exit 2 ;;
		esac
	done
}

# Where the sender's thread runs against the sink decides more than
# anything else: sharing a CPU with the sink costs each side a third of
# its rate (measured on 2 CPUs, both senders alike), and the scheduler
# picks either placement from one run to the next. So by default the
# sink gets the last CPU and the sender, all its threads, the rest: the
# same CPU budget for both sides, and the same placement every round.
pin_cpus() {
	SINK_PIN= SEND_PIN=
	[ "$PIN" = 1 ] && [ "$NCPU" -ge 2 ] || return 0
	SINK_PIN="taskset -c $((NCPU - 1))"
	SEND_PIN="taskset -c 0-$((NCPU - 2))"
}

preflight() {
	local t
	[ "$(id -u)" = 0 ] || die "needs root (network namespaces, raw sockets)"
	command -v ip >/dev/null || die "missing tool: ip"
	[ -z "$SINK_PIN" ] || command -v taskset >/dev/null ||
		die "missing tool: taskset (or run with PIN=0)"
	for t in "$RAWBLAST" "$UDPSINK"; do
		[ -x "$t" ] || die "missing $t (run make first)"
	done
	# Before weir's live injector exists injblast is not built: the
	# baseline still runs and the weir rows say so.
	[ -x "$INJBLAST" ] && return 0
	say "missing $INJBLAST: weir rows skipped"
	for t in $ROWS; do
		case $t in weir*) ROWS_NA="$ROWS_NA $t" ;; esac
	done
}

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

topo_down() {
	local ns pids
	for ns in "$NS_C" "$NS_S"; do
		[ -e "/run/netns/$ns" ] || continue
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	return 0
}

# One veth pair, MTU 1500 and default offloads, created inside the
# client namespace so that nothing ever exists in the caller's.
topo_up() {
	ip netns add "$NS_C" && ip netns add "$NS_S" &&
	nsx "$NS_C" ip link set lo up && nsx "$NS_S" ip link set lo up &&
	ip -n "$NS_C" link add i0 type veth peer name i1 netns "$NS_S" &&
	nsx "$NS_C" ip addr add "$C_ADDR/24" dev i0 &&
	nsx "$NS_S" ip addr add "$S_ADDR/24" dev i1 &&
	nsx "$NS_C" ip link set i0 up && nsx "$NS_S" ip link set i1 up &&
	# Resolves the neighbour first: raw sends to an unresolved one
	# wait in a queue of three packets and the rest are dropped.
	nsx "$NS_C" ping -q -c 1 -W 2 "$S_ADDR" >/dev/null
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	[ -n "$FG_PID" ] && kill "$FG_PID" 2>/dev/null
	[ -n "$SINK_PID" ] && kill "$SINK_PID" 2>/dev/null
	topo_down
	if [ "${KEEP:-0}" = 1 ]; then say "kept $TMP"; else rm -rf "$TMP"; fi
	exit "$rc"
}

rec() { echo "$1 $2 $3 $4" >>"$RESULTS"; }

# Value of KEY=... in FILE.
kv() { sed -n "s/.*\\b$2=\\([0-9.]*\\).*/\\1/p" "$1" | head -n 1; }

# A sink per row: its count covers exactly one sender's packets.
sink_start() {
	local i
	ip netns exec "$NS_S" $SINK_PIN "$UDPSINK" -b "$S_ADDR" -p "$PORT" \
		>"$TMP/sink.out" 2>&1 &
	SINK_PID=$!
	for i in $(seq 50); do
		[ -n "$(nsx "$NS_S" ss -Hlun "sport = :$PORT")" ] && return 0
		sleep 0.1
	done
	return 1
}

sink_stop() {
	# What is still in the veth backlog or the socket arrives first.
	sleep 0.3
	kill -TERM "$SINK_PID" 2>/dev/null
	wait "$SINK_PID"
	SINK_PID=
	kv "$TMP/sink.out" received
}

sender_cmd() {      # ROW
	local common="-S $C_ADDR -d $S_ADDR -p $PORT -l $LEN -t $DURATION"
	case $1 in
	raw)    echo "$RAWBLAST $common -b 64" ;;
	weir1)  echo "$INJBLAST $common -b 1 -w $WINDOW" ;;
	weir32) echo "$INJBLAST $common -b 32 -w $WINDOW" ;;
	esac
}

# Runs the sender in the background and waits for it, so that a signal
# to the harness is handled at once (bash defers traps while a
# foreground child runs).
run_sender() {      # ROW OUTFILE
	local rc
	ip netns exec "$NS_C" $SEND_PIN $(sender_cmd "$1") >"$2" 2>&1 &
	FG_PID=$!
	wait "$FG_PID"
	rc=$?
	FG_PID=
	return $rc
}

measure() {         # ROW ROUND
	local out=$TMP/$1.$2.out recv secs
	sink_start || { say "udpsink did not start"; return 1; }
	run_sender "$1" "$out" || { cat "$out" >&2; sink_stop >/dev/null;
				    return 1; }
	recv=$(sink_stop)
	secs=$(kv "$out" seconds)
	[ -n "$recv" ] && [ -n "$secs" ] || { cat "$out" >&2; return 1; }
	grep -v '^sent=' "$out" >&2
	rec "$1" "$2" sent "$(kv "$out" sent)"
	rec "$1" "$2" errors "$(kv "$out" errors)"
	rec "$1" "$2" rejected "$(kv "$out" rejected)"
	rec "$1" "$2" recv "$recv"
	rec "$1" "$2" secs "$secs"
	rec "$1" "$2" cpu "$(kv "$out" cpu)"
}

progress() {        # ROW ROUND
	awk -v r="$1" -v R="$2" '$1 == r && $2 == R { v[$3] = $4 }
	END {
		printf "bench-inject: round %d %-6s", R, r
		if ("failed" in v) { print "  FAILED"; exit }
		s = v["secs"]
		printf "  sent %.1f kpps  received %.1f kpps  errors %d",
		       v["sent"] / s / 1000, v["recv"] / s / 1000,
		       v["errors"] + v["rejected"]
		if (v["recv"] > 0)
			printf "  %.2f us CPU/pkt", v["cpu"] / v["recv"] * 1e6
		printf "\n"
	}' "$RESULTS" >&2
}

print_header() {
	echo
	echo "weir bench-inject, $(date -u '+%Y-%m-%d %H:%M UTC')," \
	     "kernel $(uname -r), $NCPU CPUs"
	echo "$ROUNDS interleaved rounds of: $ROWS; $DURATION s each;" \
	     "IPv4 UDP, $LEN B payload; medians [min-max]."
	if [ -n "$SINK_PIN" ]; then
		echo "Pinned: sink on CPU $((NCPU - 1)), each sender (all" \
		     "its threads) on CPUs 0-$((NCPU - 2))."
	else
		echo "Not pinned: the scheduler places sender and sink."
	fi
	echo "Load average before: $LOADAVG (other work skews every row)."
	echo "received: udpsink's count in the server namespace (the truth);" \
	     "sent: what each sender counted as accepted."
	echo
}

# Medians over the rounds, and weir's received median over raw's.
report() {
	awk -v rows="$ROWS" -v na="$ROWS_NA" '
	function med(a, n,    i, j, t) {
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	}
	# "[lo-hi]" of the per-round ratios r/raw: how far one round can
	# stray from the ratio of the medians.
	function spread(r,    R, x, lo_, hi_, n) {
		n = 0
		for (R = 1; R <= rounds; R++) {
			if (!((r, R, "recv") in v) || !(("raw", R, "recv") in v) ||
			    v["raw", R, "recv"] <= 0)
				continue
			x = v[r, R, "recv"] / v["raw", R, "recv"]
			if (!n++ || x < lo_) lo_ = x
			if (n == 1 || x > hi_) hi_ = x
		}
		return n ? sprintf(" [%.2f-%.2f]", lo_, hi_) : ""
	}
	function col(r, k,    R, n, a) {
		n = 0
		for (R = 1; R <= rounds; R++)
			if ((r, R, k) in v) a[++n] = v[r, R, k]
		lo[r, k] = a[1]; hi[r, k] = a[1]
		for (R = 1; R <= n; R++) {
			if (a[R] < lo[r, k]) lo[r, k] = a[R]
			if (a[R] > hi[r, k]) hi[r, k] = a[R]
		}
		return n ? med(a, n) : -1
	}
	{ if ($2 > rounds) rounds = $2 }
	$3 == "failed" { bad[$1, $2] = 1; next }
	$3 == "secs" { secs[$1, $2] = $4; next }
	{ raw[$1, $2, $3] = $4 }
	END {
		name["raw"] = "raw sendmmsg, 64 per call"
		name["weir1"] = "weir inject, lists of 1"
		name["weir32"] = "weir inject, lists of 32"
		for (k in raw) {
			split(k, p, SUBSEP)
			if ((p[1], p[2]) in bad) continue
			s = secs[p[1], p[2]]
			if (p[3] == "sent" || p[3] == "recv")
				v[k] = raw[k] / s / 1000
			else if (p[3] == "cpu")
				v[k] = raw[p[1], p[2], "recv"] > 0 && \
				       raw[k] != "" ? \
				       raw[k] / raw[p[1], p[2], "recv"] * 1e6 : ""
			else
				v[k] = raw[k]
		}
		printf "%-26s %-22s %-22s %6s %7s  %-18s %s\n", "row", \
		       "sent kpps", "received kpps", "errors", "us/pkt", \
		       "ratio", "cost ratio"
		n = split(rows, rr, " ")
		for (i = 1; i <= n; i++) {
			r = rr[i]
			if (index(" " na " ", " " r " ")) {
				printf "%-26s not available\n", name[r]
				continue
			}
			se = col(r, "sent"); rc = col(r, "recv")
			if (rc < 0) {
				printf "%-26s FAILED\n", name[r]
				continue
			}
			er = col(r, "errors") + col(r, "rejected")
			us[r] = col(r, "cpu")
			med_recv[r] = rc
			ratio = cost = "-"
			if (r != "raw" && med_recv["raw"] > 0)
				ratio = sprintf("%.2fx", rc / med_recv["raw"]) \
					spread(r)
			if (r != "raw" && us["raw"] > 0 && us[r] > 0)
				cost = sprintf("%.2fx", us["raw"] / us[r])
			printf "%-26s %-22s %-22s %6d %7.2f  %-18s %s\n", \
			       name[r], \
			       sprintf("%.1f [%.1f-%.1f]", se, lo[r, "sent"], \
				       hi[r, "sent"]), \
			       sprintf("%.1f [%.1f-%.1f]", rc, lo[r, "recv"], \
				       hi[r, "recv"]), er, us[r], ratio, cost
		}
		print ""
		print "ratio: weir received median / raw received median" \
		      " (target >= 0.80x); [per-round ratios, lowest-highest]"
		print "us/pkt: median CPU time (all threads, user + system)" \
		      " of the sender per received packet;"
		print "cost ratio: raw us/pkt / weir us/pkt, the ratio when" \
		      " CPU is the limit (steadier on a busy machine)"
	}' "$RESULTS"
}

main() {
	local R r
	settings
	preflight
	TMP=$(mktemp -d /tmp/weir-bench-inject.XXXXXX) || die "mktemp"
	RESULTS=$TMP/results
	: >"$RESULTS"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
	awk '{ exit !($1 >= 0.5) }' /proc/loadavg &&
		say "warning: the machine is busy (load $LOADAVG): every row" \
		    "will be lower and the ratios noisier"
	topo_up || die "could not set up the namespaces"
	for R in $(seq "$ROUNDS"); do
		for r in $ROWS; do
			case " $ROWS_NA " in *" $r "*) continue ;; esac
			measure "$r" "$R" || rec "$r" "$R" failed 1
			progress "$r" "$R"
		done
	done
	print_header
	report
	grep -q ' failed ' "$RESULTS" && return 1
	return 0
}

main "$@"
