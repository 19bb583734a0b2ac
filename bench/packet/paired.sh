# Paired UDP, sourced by run.sh: (c) against (b) a second apart.
#
# The rounds start and stop programs tens of seconds apart, and this
# machine kind's speed drifts by half within minutes, so the rounds'
# (c)/(b) verdicted-pps ratio has ranges of +-30 %: wider than anything
# weir could win or lose. Here nfq_min (queue 0) and one weir row (queue
# 1, one worker, behind the rule weir installs itself) both stay up
# under one continuous pinned flood; every PAIRED_WINDOW seconds the
# harness puts nfq_min's rule in at the top of gw's FORWARD chain, above
# weir's rule (nfq_min counts), or takes it out again (weir counts). Each cycle
# gives one weir/nfq_min ratio from two windows a second apart; the
# report gives their median and quartiles.
#
# Environment: PAIRED ("c10 c10k": the weir rows paired, if in ROWS;
# empty: none), PAIRED_CYCLES (12), PAIRED_WINDOW (1 s).

# id_sequence of queue Q in gw.
nfq_idseq_of() {    # Q
	nsx "$NS_G" awk -v q="$1" '$1 == q { print $8 }' \
		/proc/net/netfilter/nfnetlink_queue
}

# Packets per second that queue Q handed out over PAIRED_WINDOW seconds,
# after a settling pause for the rule switch.
paired_pps() {      # Q
	local a b
	sleep 0.3
	a=$(nfq_idseq_of "$1")
	sleep "$PAIRED_WINDOW"
	b=$(nfq_idseq_of "$1")
	awk -v a="$a" -v b="$b" -v w="$PAIRED_WINDOW" \
		'BEGIN { printf "%d", (b - a) / w }'
}

paired_bound() {    # Q: until queue Q shows in gw's /proc
	local i
	for i in $(seq 50); do
		[ -n "$(nfq_idseq_of "$1")" ] && return 0
		sleep 0.1
	done
	return 1
}

# One weir row against nfq_min; records "ROW paired_N KEY VALUE" with
# KEY b_pps, c_pps.
paired_row() {      # ROW
	local row=$1 policy c flood nfq_pid rule b x
	local log=$TMP/weir-$row-paired.log   # weir_stop reads it
	eval "policy=\$POLICY_$row"
	rule="FORWARD 1 -j NFQUEUE --queue-num 0 --queue-bypass"
	bg_start "$log" "$NS_G" "${FILT[@]}" "$WEIR" run -c "$policy" \
		--queue-base 1 $WEIR_RUN_ARGS
	FILTER_PID=$BG_PID      # weir_wait_ready and weir_stop watch it
	weir_wait_ready && paired_bound 1 || {
		say "paired $row: weir run not ready"; tail -5 "$log" >&2
		stop_pid "$FILTER_PID" 15; return 1
	}
	bg_start "$TMP/paired-nfq_min.out" "$NS_G" "${FILT[@]}" \
		"$BIN/nfq_min" -q 0 ${NFQMIN_ARGS-}
	nfq_pid=$BG_PID
	paired_bound 0 || {
		say "paired $row: nfq_min did not bind queue 0"
		stop_pid "$nfq_pid" 5; stop_pid "$FILTER_PID" 15; return 1
	}
	bg_start "$TMP/paired-udpblast.out" "$NS_C" "${SEND[@]}" \
		"$BIN/udpblast" -d "$DST" -p "$UDP_PORT" -n "$UDP_PORTS" \
		-r "$UDP_RATE" -l "$UDP_LEN" \
		-t "$(awk -v c="$PAIRED_CYCLES" -v w="$PAIRED_WINDOW" \
			'BEGIN { print int(c * 2 * (w + 1) + 5) }')"
	flood=$BG_PID
	sleep 1
	for c in $(seq "$PAIRED_CYCLES"); do
		nsx "$NS_G" "$IPT" -I $rule || break
		b=$(paired_pps 0)
		nsx "$NS_G" "$IPT" -D ${rule/ 1 / } || break
		x=$(paired_pps 1)
		rec "$row" "paired_$c" b_pps "$b"
		rec "$row" "paired_$c" c_pps "$x"
		printf 'bench-packet: paired %-5s cycle %2d  b %s  c %s\n' \
			"$row" "$c" "$b" "$x" >&2
	done
	stop_pid "$flood" 5
	stop_pid "$nfq_pid" 5
	NFQ_ID0=    # queue 0 counted too: no own-count check here
	weir_stop "$row" paired
	return 0
}

# Runs FUNC for each of ROWS... that the run has and can run.
paired_each() {     # FUNC TAG ROWS...
	local f=$1 tag=$2 r
	shift 2
	for r in "$@"; do
		case " $ROWS " in *" $r "*) ;; *) continue ;; esac
		case " $ROWS_NA " in *" $r "*) continue ;; esac
		"$f" "$r" || rec "$r" "$tag" failed 1
	done
}

# shellcheck disable=SC2086  # PAIRED is a list
paired_all() { paired_each paired_row paired $PAIRED; }

# awk functions of both paired reports: an insertion sort and quantiles.
PAIRED_AWK='
	function sort(a, n,   i, j, t) {
		for (i = 2; i <= n; i++)
			for (j = i; j > 1 && a[j - 1] > a[j]; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t
			}
	}
	function q(a, n, p,   x) {      # quantile, linear between ranks
		x = 1 + (n - 1) * p
		return a[int(x)] + (x - int(x)) * (a[int(x) + 1] - a[int(x)])
	}
'

# The report's last part: per paired row, medians and quartiles.
paired_report() {
	[ -n "$PAIRED" ] || return 0
	awk -v rows="$PAIRED" -v cycles="$PAIRED_CYCLES" \
	    -v w="$PAIRED_WINDOW" "$PAIRED_AWK"'
	$2 ~ /^paired_/ { v[$1, $2, $3] = $4; seen[$1] = 1 }
	END {
		n = split(rows, r, " ")
		printed = 0
		for (i = 1; i <= n; i++) {
			if (!(r[i] in seen))
				continue
			if (!printed++) {
				printf "\nPaired UDP (%d cycles: nfq_min and weir " \
				       "both up, one continuous flood, the rule " \
				       "switched every %s s; verdicted kpps):\n",
				       cycles, w
				printf "%-6s %10s %10s %8s %17s  target\n", "row",
				       "(b) kpps", "(c) kpps", "(c)/(b)",
				       "quartiles"
			}
			m = 0
			for (c = 1; c <= cycles; c++) {
				b = v[r[i], "paired_" c, "b_pps"]
				x = v[r[i], "paired_" c, "c_pps"]
				if (b > 0 && x != "") {
					m++; rb[m] = b; rc[m] = x; rr[m] = x / b
				}
			}
			if (!m)
				continue
			sort(rb, m); sort(rc, m); sort(rr, m)
			printf "%-6s %10.1f %10.1f %8.3f   [%.3f-%.3f]  >= 1.0\n",
			       r[i], q(rb, m, 0.5) / 1000, q(rc, m, 0.5) / 1000,
			       q(rr, m, 0.5), q(rr, m, 0.25), q(rr, m, 0.75)
		}
	}' "$RESULTS"
}
