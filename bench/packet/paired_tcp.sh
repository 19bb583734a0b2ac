# Paired TCP, sourced by run.sh: (b), (c) and (d) against (a) seconds
# apart.
#
# The rounds' TCP figures come from tests tens of seconds apart, and one
# cubic stream through gw swings between 12 and 45 Gbit/s from one test
# to the next (reordering, README.md), so their (row)/(a) ratios range
# over +-30 %; the same path, (d) against (a), has read 0.75 and 1.05 in
# two runs. Here one iperf3 stream, with the targets' congestion control
# (the first of TCP_CC), runs throughout; under it the harness starts the
# row's program (`weir run` with its own rules, or nfq_min behind the
# harness's rule, as in the rounds), measures gw's transmitted bytes for
# PAIRED_TCP_WINDOW seconds, stops it (SIGTERM: every held packet
# answered, rules removed), and measures again: kernel forwarding. Each
# row window is set against the mean of the kernel windows on either
# side of it, seconds apart; the report gives the median and quartiles
# of those ratios.
#
# PAIRED_TCP_REF=b pairs the rows with nfq_min instead of the kernel
# alone (each cycle: the row, then nfq_min): weir against the minimal
# program, where two rows' blocks minutes apart would compare two
# different machines' states. The targets are read against (a) only.
#
# Environment: PAIRED_TCP ("b c10 c10k d": rows paired, if in ROWS;
# empty: none), PAIRED_TCP_CYCLES (8), PAIRED_TCP_WINDOW (2 s), after a
# settling pause of PAIRED_TCP_SETTLE (0.5 s) for the switch;
# PAIRED_TCP_REF (a, or b).

gw_tx_bytes() {
	nsx "$NS_G" cat "/sys/class/net/$GW_OUT_IF/statistics/tx_bytes"
}

now_ns() { date +%s%N; }

# Gbit/s that gw sent towards the server over one window.
paired_tcp_gbps() {
	local a b t0 t1
	sleep "$PAIRED_TCP_SETTLE"
	t0=$(now_ns) a=$(gw_tx_bytes)
	sleep "$PAIRED_TCP_WINDOW"
	t1=$(now_ns) b=$(gw_tx_bytes)
	awk -v a="$a" -v b="$b" -v t="$((t1 - t0))" \
		'BEGIN { printf "%.3f", (b - a) * 8 / t }'
}

# Starts the stream (STREAM_PID), long enough for the cycles with slow
# starts and stops; stopped after the last one. The server may still be
# ending the previous row's stream (iperf3 -s serves one at a time): a
# client that it turned away is started again.
paired_tcp_stream() {
	local tries=0
	while [ "$tries" -lt 3 ]; do
		tries=$((tries + 1))
		bg_start "$TMP/paired-iperf3.out" "$NS_C" "${SEND[@]}" iperf3 \
			-c "$DST" -p "$TCP_PORT" -C "${TCP_CC%% *}" -f m \
			-t $((PAIRED_TCP_CYCLES * 60 + 30))
		STREAM_PID=$BG_PID
		sleep 1
		kill -0 "$STREAM_PID" 2>/dev/null && return 0
		stop_pid "$STREAM_PID" 1
	done
	tail -3 "$TMP/paired-iperf3.out" >&2
	return 1
}

# One window of the reference row (PAIRED_TCP_REF) into REF_GBPS: kernel
# forwarding, or nfq_min started and stopped around it (in this shell:
# row_start keeps its pid here). Fails if it did not start.
paired_tcp_ref() {  # CYCLE
	if [ "$PAIRED_TCP_REF" = a ]; then
		REF_GBPS=$(paired_tcp_gbps)
		return 0
	fi
	row_start "$PAIRED_TCP_REF" "ptcp_ref_$1" || return 1
	REF_GBPS=$(paired_tcp_gbps)
	NFQ_ID0=
	row_stop "$PAIRED_TCP_REF" "ptcp_ref_$1"
}

# One row against the reference; records "ROW ptcp_N KEY VALUE" with
# KEY row_gbps, ref_gbps. Fails unless every cycle ran.
paired_tcp_row() {  # ROW
	local row=$1 c=0 x k
	[ "$row" = "$PAIRED_TCP_REF" ] && return 0
	paired_tcp_stream || { say "paired TCP $row: no stream"; return 1; }
	while [ "$c" -lt "$PAIRED_TCP_CYCLES" ]; do
		kill -0 "$STREAM_PID" 2>/dev/null ||
			{ say "paired TCP $row: the stream ended"; break; }
		if ! row_start "$row" "ptcp_$((c + 1))"; then
			say "paired TCP $row: the row did not start"
			break
		fi
		c=$((c + 1))
		# The stream flows while the row stops: no own-count check.
		# shellcheck disable=SC2034  # read by row_stop (rows.sh)
		NFQ_ID0=
		x=$(paired_tcp_gbps)
		row_stop "$row" "ptcp_$c"
		if ! paired_tcp_ref "$c"; then
			say "paired TCP $row: $PAIRED_TCP_REF did not start"
			break
		fi
		k=$REF_GBPS
		rec "$row" "ptcp_$c" row_gbps "$x"
		rec "$row" "ptcp_$c" ref_gbps "$k"
		printf 'bench-packet: paired TCP %-5s cycle %2d  %s %s  %s %s\n' \
			"$row" "$c" "$row" "$x" "$PAIRED_TCP_REF" "$k" >&2
	done
	stop_pid "$STREAM_PID" 5
	[ "$c" -eq "$PAIRED_TCP_CYCLES" ]
}

# shellcheck disable=SC2086  # PAIRED_TCP is a list
paired_tcp_all() { paired_each paired_tcp_row ptcp $PAIRED_TCP; }

# The report's part: per row, medians and quartiles against the target.
paired_tcp_report() {
	[ -n "$PAIRED_TCP" ] || return 0
	awk -v rows="$PAIRED_TCP" -v cycles="$PAIRED_TCP_CYCLES" \
	    -v w="$PAIRED_TCP_WINDOW" -v cc="${TCP_CC%% *}" \
	    -v base="$PAIRED_TCP_REF" "$PAIRED_AWK"'
	$2 ~ /^ptcp_/ { v[$1, $2, $3] = $4; seen[$1] = 1 }
	$2 == "ptcp" && $3 == "failed" { failed[$1] = 1; seen[$1] = 1 }
	END {
		n = split(rows, r, " ")
		printed = 0
		for (i = 1; i <= n; i++) {
			if (!(r[i] in seen))
				continue
			if (!printed++) {
				printf "\nPaired TCP (%d cycles: one continuous " \
				       "iperf3 %s stream; the row started, %s s " \
				       "measured, stopped, %s s measured%s; " \
				       "Gbit/s out of gw):\n", cycles, cc, w, w,
				       base == "a" ? "" : " under (" base ")"
				printf "%-6s %10s %10s %8s %17s  target\n", "row",
				       "(" base ") Gb/s", "row Gb/s",
				       "row/(" base ")", "quartiles"
			}
			# A row window lies between the kernel windows of the
			# cycle before and its own: their mean is its reference,
			# so a steady drift does not favour either side.
			m = 0; kp = ""
			for (c = 1; c <= cycles; c++) {
				k = v[r[i], "ptcp_" c, "ref_gbps"]
				x = v[r[i], "ptcp_" c, "row_gbps"]
				if (k > 0 && x != "") {
					ref = kp == "" ? k : (kp + k) / 2
					m++; rk[m] = k; rx[m] = x; rr[m] = x / ref
				}
				kp = k > 0 ? k : ""
			}
			if (!m) {
				printf "%-6s failed (see the messages above)\n",
				       r[i]
				continue
			}
			sort(rk, m); sort(rx, m); sort(rr, m)
			med = q(rr, m, 0.5)
			printf "%-6s %10.2f %10.2f %8.3f   [%.3f-%.3f]  ",
			       r[i], q(rk, m, 0.5), q(rx, m, 0.5), med,
			       q(rr, m, 0.25), q(rr, m, 0.75)
			t = r[i] == "d" ? 0.97 : r[i] ~ /^c/ ? 0.9 : ""
			if (base != "a")
				t = ""
			if (r[i] in failed)
				print "(" m " of " cycles " cycles: failed)"
			else if (t == "")
				print "(no target)"
			else
				print ">= " t ": " (med >= t ? "met" : "NOT met")
		}
	}' "$RESULTS"
}
