# Counters and the two loads, sourced by run.sh. Every figure is a
# delta between two reads around one load, recorded as
#   ROW ROUND KEY VALUE
# lines in $RESULTS.
#
# "verdicted" is the delta of id_sequence in gw's
# /proc/net/netfilter/nfnetlink_queue, whose columns are: queue_number,
# peer_portid, queue_total (packets waiting for a verdict now),
# copy_mode, copy_range, queue_dropped (queue full, fail-closed),
# user_dropped (netlink delivery failed, fail-closed), id_sequence (the
# last packet id handed out), and a constant 1. The kernel hands out an
# id only to a packet it is about to deliver to the program: a packet
# that finds the queue full and is accepted by fail-open takes none. (A
# delivery that then fails, socket full, keeps its id; the 64 MiB
# buffer makes that rare, and nfq_min's own count checks it.)

rec() { echo "$1 $2 $3 $4" >>"$RESULTS"; }

# "IDSEQ WAITING": id_sequence and queue_total summed over gw's queues.
nfq_read() {
	nsx "$NS_G" cat /proc/net/netfilter/nfnetlink_queue 2>/dev/null |
	awk '{ id += $8; wait += $3 } END { printf "%d %d\n", id, wait }'
}

nfq_idseq() { set -- $(nfq_read); echo "$1"; }

# Waits (up to 2 s) until no packet waits for a verdict, so that a
# delta covers whole loads.
nfq_drain() {
	local i
	for i in $(seq 20); do
		set -- $(nfq_read)
		[ "$2" = 0 ] && return 0
		sleep 0.1
	done
	return 0
}

gw_tx() { nsx "$NS_G" cat "/sys/class/net/$GW_OUT_IF/statistics/tx_packets"; }

# Datagrams the server's UDP layer took (delivered to a socket or not).
srv_udp_in() {
	if [ "$FAMILY" = 6 ]; then
		nsx "$NS_S" awk '$1 == "Udp6InDatagrams" { print $2 }' \
			/proc/net/snmp6
	else
		nsx "$NS_S" awk '/^Udp:/ && n++ { print $2 }' /proc/net/snmp
	fi
}

# "BUSY TOTAL" jiffies of the whole machine (a namespace cannot be
# isolated: the forwarding softirq runs on whoever transmits).
cpu_read() {
	awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8 + $9
		       print busy, busy + $5 + $6 }' /proc/stat
}

# Cores busy between two cpu_read()s.
cores() {
	echo "$1 $2" |
	awk -v n="$NCPU" '{ printf "%.3f", ($3 - $1) / ($4 - $2) * n }'
}

# utime + stime of PID (all its threads), in jiffies; 0 without PID.
proc_cpu() {
	[ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || { echo 0; return; }
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

# Runs CMD inside NS in the background and waits for it, so that a
# signal to the harness is handled at once (bash defers traps while a
# foreground child runs). Output goes to FILE.
run_wait() {        # FILE NS CMD...
	local out=$1 ns=$2 rc
	shift 2
	ip netns exec "$ns" "$@" >"$out" 2>&1 &
	FG_PID=$!
	wait "$FG_PID"
	rc=$?
	FG_PID=
	return $rc
}

kv() { sed -n "s/.*\\b$1=\\([0-9.]*\\).*/\\1/p" "$2" | tail -1; }

# One UDP load from client to server; PID is the filter program (for
# its CPU), empty for kernel forwarding.
measure_udp() {     # ROW ROUND PID
	local q0 q1 tx0 tx1 in0 in1 c0 c1 p0 p1 out=$TMP/udpblast.out
	q0=$(nfq_idseq) tx0=$(gw_tx) in0=$(srv_udp_in)
	c0=$(cpu_read) p0=$(proc_cpu "$3")
	run_wait "$out" "$NS_C" "${SEND[@]}" "$BIN/udpblast" -d "$DST" \
		-p "$UDP_PORT" \
		-n "$UDP_PORTS" -r "$UDP_RATE" -t "$UDP_SECONDS" \
		-l "$UDP_LEN" || { cat "$out" >&2; return 1; }
	nfq_drain
	q1=$(nfq_idseq) tx1=$(gw_tx) in1=$(srv_udp_in)
	c1=$(cpu_read) p1=$(proc_cpu "$3")
	rec "$1" "$2" udp_secs "$(kv seconds "$out")"
	rec "$1" "$2" udp_sent "$(kv sent "$out")"
	rec "$1" "$2" udp_fwd $((tx1 - tx0))
	rec "$1" "$2" udp_recv $((in1 - in0))
	[ -n "$3" ] && rec "$1" "$2" udp_verdicted $((q1 - q0))
	rec "$1" "$2" udp_cores "$(cores "$c0" "$c1")"
	[ -n "$3" ] && rec "$1" "$2" udp_filter_jiffies $((p1 - p0))
	return 0
}

# One iperf3 TCP test from client to server through gw per congestion
# control of TCP_CC, recorded as tcp_gbps_CC. The congestion control is
# set on the sockets (iperf3 -C), not left to the machine's default: it
# decides the figure through NFQUEUE (README.md, "Congestion control").
measure_tcp() {     # ROW ROUND PID
	local cc q0 q1 mbps out=$TMP/iperf3.out
	for cc in $TCP_CC; do
		q0=$(nfq_idseq)
		run_wait "$out" "$NS_C" "${SEND[@]}" iperf3 -c "$DST" \
			-p "$TCP_PORT" \
			-t "$TCP_SECONDS" -P "$TCP_STREAMS" -C "$cc" -f m ||
			{ tail -3 "$out" >&2; return 1; }
		nfq_drain
		q1=$(nfq_idseq)
		# The last "receiver" line is the [SUM] one with several streams.
		mbps=$(awk '/receiver/ { v = $(NF-2) } END { print v }' "$out")
		rec "$1" "$2" "tcp_gbps_$cc" \
			"$(echo "$mbps" | awk '{ printf "%.2f", $1 / 1000 }')"
		# Retransmissions: the sender's line, column Retr.
		rec "$1" "$2" "tcp_retr_$cc" \
			"$(awk '/sender/ { v = $(NF-1) } END { print v + 0 }' "$out")"
		[ -n "$3" ] && rec "$1" "$2" "tcp_verdicted_$cc" $((q1 - q0))
	done
	return 0
}
