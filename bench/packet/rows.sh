# The rows, sourced by run.sh: how each configuration starts and stops
# inside gw. row_start sets FILTER_PID, the row's user-space program
# (empty for kernel forwarding), whose CPU the UDP rows report.
#
#   a     kernel forwarding: no rule in gw
#   b     nfq_min on queue 0 behind the rule below, which the harness
#         installs (and removes) itself
#   c10   weir run with filters-10.weir (policy.sh); weir installs its
#   c10k  own rules, so the harness installs none and checks that none
#   d     is left after SIGTERM
#
# Every process started here is tracked in BG_PIDS for the exit trap.

NFQ_RULE="FORWARD -j NFQUEUE --queue-num 0 --queue-bypass"

# Starts CMD inside namespace NS. `ip netns exec` (and taskset, the
# FILT prefix of paired.sh) execs CMD in place, so $! is CMD's own pid
# (a shell function here would add a subshell, and a signal to it would
# orphan CMD).
bg_start() {        # OUT NS CMD...
	local out=$1 ns=$2
	shift 2
	ip netns exec "$ns" "$@" >"$out" 2>&1 &
	BG_PID=$!
	BG_PIDS="$BG_PIDS $BG_PID"
}

# SIGTERM, then SIGKILL after TIMEOUT seconds; reaps the process.
stop_pid() {        # PID [TIMEOUT]
	local i
	[ -n "$1" ] || return 0
	kill -TERM "$1" 2>/dev/null
	for i in $(seq $((${2:-10} * 10))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$1" 2>/dev/null; then
		echo "warning: pid $1 outlived SIGTERM; killed" >&2
		kill -KILL "$1" 2>/dev/null
	fi
	wait "$1" 2>/dev/null
	BG_PIDS=$(echo " $BG_PIDS " | sed "s/ $1 / /")
	return 0
}

# (Captured, not piped into grep -q: under pipefail, grep leaving early
# fails the writer with SIGPIPE and so the whole test.)
gw_has_queue_rules() {
	local rules
	rules=$({ nsx "$NS_G" iptables-save; nsx "$NS_G" ip6tables-save; } 2>/dev/null)
	case $rules in *"-j NFQUEUE"*) return 0 ;; esac
	return 1
}

# ---- (b) nfq_min ---------------------------------------------------------

nfqmin_start() {
	local i
	bg_start "$TMP/nfq_min.out" "$NS_G" "$BIN/nfq_min" -q 0 ${NFQMIN_ARGS-}
	FILTER_PID=$BG_PID
	# Bound once queue 0 shows in /proc; the rule goes in after that,
	# so no packet bypasses the program at the start.
	for i in $(seq 50); do
		kill -0 "$FILTER_PID" 2>/dev/null || break
		nsx "$NS_G" awk '$1 == 0 { f = 1 } END { exit !f }' \
			/proc/net/netfilter/nfnetlink_queue && break
		sleep 0.1
	done
	kill -0 "$FILTER_PID" 2>/dev/null || { cat "$TMP/nfq_min.out" >&2; return 1; }
	NFQ_ID0=$(nfq_idseq)
	nsx "$NS_G" "$IPT" -A $NFQ_RULE || { stop_pid "$FILTER_PID" 5; return 1; }
}

nfqmin_stop() {     # ROUND
	local id1
	nfq_drain
	id1=$(nfq_idseq)
	nsx "$NS_G" "$IPT" -D $NFQ_RULE
	stop_pid "$FILTER_PID" 5
	# Counted only where nothing flows meanwhile (NFQ_ID0 set).
	[ -n "${NFQ_ID0:-}" ] || return 0
	rec b "$1" self_verdicted "$(kv verdicted "$TMP/nfq_min.out")"
	rec b "$1" idseq_life $((id1 - NFQ_ID0))
}

# ---- (c), (d) weir run -----------------------------------------------------

# Ready when weir's NFQUEUE rules are in gw, or when `weir stats` has
# answered for a second (a policy that needs no steering).
weir_wait_ready() {
	local t answered=0
	for t in $(seq $((READY_TIMEOUT * 5))); do
		kill -0 "$FILTER_PID" 2>/dev/null || return 1
		gw_has_queue_rules && return 0
		if nsx "$NS_G" "$WEIR" stats $WEIR_STATS_ARGS >/dev/null 2>&1; then
			answered=$((answered + 1))
			[ "$answered" -ge 5 ] && return 0
		fi
		sleep 0.2
	done
	return 1
}

weir_start() {      # ROW ROUND
	local policy log=$TMP/weir-$1-$2.log
	NFQ_ID0=
	eval "policy=\$POLICY_$1"
	bg_start "$log" "$NS_G" "$WEIR" run -c "$policy" $WEIR_RUN_ARGS
	FILTER_PID=$BG_PID
	if weir_wait_ready; then
		sleep 0.5
		NFQ_ID0=$(nfq_idseq)
		return 0
	fi
	echo "row $1: weir run not ready within ${READY_TIMEOUT}s:" >&2
	tail -5 "$log" >&2
	weir_stop "$1" "$2"
	return 1
}

# weir's own count, from the "received N" of its exit summary (one per
# compartment), is checked against the id_sequence delta like nfq_min's.
weir_stop() {       # ROW ROUND
	local id1 log=$TMP/weir-$1-$2.log self
	nfq_drain
	id1=$(nfq_idseq)
	nsx "$NS_G" "$WEIR" stats $WEIR_STATS_ARGS >"$TMP/weir-$1-$2.stats" 2>&1
	stop_pid "$FILTER_PID" 15
	self=$(sed -n 's/.*stopped:.* received \([0-9]*\).*/\1/p' "$log" |
		awk '{ n += $1 } END { if (NR) print n }')
	if [ -n "$self" ] && [ -n "${NFQ_ID0:-}" ]; then
		rec "$1" "$2" self_verdicted "$self"
		rec "$1" "$2" idseq_life $((id1 - NFQ_ID0))
	fi
	# weir removes its rules on exit; any left would skew later rows.
	if gw_has_queue_rules; then
		echo "warning: row $1: weir left NFQUEUE rules in gw; flushed" >&2
		nsx "$NS_G" iptables -F; nsx "$NS_G" iptables -X
		nsx "$NS_G" ip6tables -F; nsx "$NS_G" ip6tables -X
	fi
	return 0
}

# ---- dispatch ---------------------------------------------------------------

row_start() {       # ROW ROUND
	FILTER_PID=
	case $1 in
	a) return 0 ;;
	b) nfqmin_start ;;
	*) weir_start "$1" "$2" ;;
	esac
}

row_stop() {        # ROW ROUND
	case $1 in
	a) return 0 ;;
	b) nfqmin_stop "$2" ;;
	*) weir_stop "$1" "$2" ;;
	esac
}
