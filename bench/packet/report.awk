# The table of `make bench-packet` (run.sh): medians over the rounds of
# each row, then the ratios the issue sets targets for.
#
# Input: the "ROW ROUND KEY VALUE" lines of measure.sh and rows.sh.
# Variables: rows (the rows asked for, in order), na (those that could
# not run because `weir run` is missing), hz (clock ticks per second),
# ccs (the congestion controls of the TCP tests: one TCP column each;
# the targets are read on the first).
#
# A ratio is the ratio of the two medians, followed by the range of the
# per-round ratios: the rows of one round ran back to back, so a round
# pairs them and the range shows how much drift there was.

BEGIN {
	title["a"] = "(a) kernel forwarding"
	title["b"] = "(b) nfq_min accept-all"
	title["c10"] = "(c) weir, 10 filters + noop"
	title["c10k"] = "(c) weir, 10k filters + noop"
	title["d"] = "(d) weir, connect/accept only"
}

{
	v[$1, $2, $3] = $4
	if ($2 + 0 > nr) nr = $2 + 0
	if ($3 == "failed") failed[$1]++
}

function med(s,   a, n, i, j, t) {
	n = split(s, a, " ")
	if (!n) return ""
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) {
			t = a[j]; a[j] = a[j-1]; a[j-1] = t
		}
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}

function put(r, R, k, x) { V[r, R, k] = x; L[r, k] = L[r, k] " " x }

function fmt(x, f) { return x == "" ? "-" : sprintf(f, x) }

function is_na(r) { return index(" " na " ", " " r " ") > 0 }

# Per-round figures: rates from the counter deltas.
function derive(r, R,   s, f, x, i) {
	s = v[r, R, "udp_secs"]
	if (s > 0) {
		f = v[r, R, "udp_fwd"]
		put(r, R, "sent", v[r, R, "udp_sent"] / s / 1000)
		put(r, R, "fwd", f / s / 1000)
		put(r, R, "recv", v[r, R, "udp_recv"] / s / 1000)
		put(r, R, "cores", v[r, R, "udp_cores"])
		if (f > 0)
			put(r, R, "us", v[r, R, "udp_cores"] * 1e6 * s / f)
	}
	if (s > 0 && (r, R, "udp_verdicted") in v) {
		x = v[r, R, "udp_verdicted"]
		put(r, R, "ver", x / s / 1000)
		if (f > 0)
			put(r, R, "byp", 100 * (f - x) / f)
		put(r, R, "fcores", v[r, R, "udp_filter_jiffies"] / hz / s)
	}
	for (i = 1; i <= ncc; i++)
		if ((r, R, "tcp_gbps_" cc[i]) in v)
			put(r, R, "tcp_" cc[i], v[r, R, "tcp_gbps_" cc[i]])
}

function header(   i) {
	printf "%-30s %7s %7s %9s %6s %7s %5s %6s %6s", "row", "sent",
	       "fwd", "verdicted", "bypass", "sink", "cores", "filter",
	       "us/pkt"
	for (i = 1; i <= ncc; i++)
		printf " %7s", "TCP"
	printf "\n%-30s %7s %7s %9s %6s %7s %5s %6s %6s",
	       "  UDP in kpps", "", "", "", "%", "", "", "cores", ""
	for (i = 1; i <= ncc; i++)
		printf " %7s", cc[i]
	printf "\n"
}

function row_line(r,   R, i, tcp) {
	printf "%-30s ", title[r]
	if (is_na(r)) {
		print "weir run: not available"
		return
	}
	for (R = 1; R <= nr; R++)
		derive(r, R)
	for (i = 1; i <= ncc; i++)
		tcp = tcp L[r, "tcp_" cc[i]]
	if (L[r, "fwd"] == "" && tcp == "") {
		print "failed (see the messages above)"
		return
	}
	printf "%7s %7s %9s %6s %7s %5s %6s %6s",
	       fmt(med(L[r, "sent"]), "%.1f"), fmt(med(L[r, "fwd"]), "%.1f"),
	       fmt(med(L[r, "ver"]), "%.1f"), fmt(med(L[r, "byp"]), "%.1f"),
	       fmt(med(L[r, "recv"]), "%.1f"), fmt(med(L[r, "cores"]), "%.2f"),
	       fmt(med(L[r, "fcores"]), "%.2f"), fmt(med(L[r, "us"]), "%.2f")
	for (i = 1; i <= ncc; i++)
		printf " %7s", fmt(med(L[r, "tcp_" cc[i]]), "%.2f")
	printf "%s\n",
	       failed[r] ? sprintf("  (%d round(s) failed)", failed[r]) : ""
}

function ratio(label, n, nk, d, dk, target,   R, x, lo, hi, m, dm, verdict) {
	printf "  %-42s ", label
	if (!index(" " rows " ", " " n " ") || !index(" " rows " ", " " d " ")) {
		print "not run"
		return
	}
	if (is_na(n) || is_na(d)) {
		print "n/a (weir run: not available)"
		return
	}
	for (R = 1; R <= nr; R++) {
		if (!((n, R, nk) in V) || !((d, R, dk) in V) || V[d, R, dk] <= 0)
			continue
		x = V[n, R, nk] / V[d, R, dk]
		if (lo == "" || x < lo) lo = x
		if (hi == "" || x > hi) hi = x
	}
	m = med(L[n, nk]); dm = med(L[d, dk])
	if (m == "" || dm == "" || dm <= 0) {
		print "no data"
		return
	}
	verdict = target == "" ? "" : m / dm >= target + 0 ? "met" : "NOT met"
	printf "%6.3f  [%.3f-%.3f]  %s\n", m / dm, lo, hi,
	       target == "" ? "(reference)" : "target >= " target ": " verdict
}

# nfq_min and weir count what they answered; over their life that must
# equal the id_sequence delta, or the verdicted column would be wrong.
function check(   i, r, R, d, k, worst) {
	for (i = 1; i <= nrows; i++) {
		r = rs[i]; k = 0; worst = 0
		for (R = 1; R <= nr; R++) {
			if (!((r, R, "self_verdicted") in v)) continue
			d = v[r, R, "self_verdicted"] - v[r, R, "idseq_life"]
			if (d < 0) d = -d
			k++
			if (d > worst) worst = d
		}
		if (!k) continue
		if (!header_done++)
			print "\ncheck: the program's own count of answered packets " \
			      "minus the id_sequence delta over its life, worst round:"
		printf "  %-42s %d packets (%d rounds)\n", title[r], worst, k
	}
}

END {
	ncc = split(ccs, cc, " ")
	header()
	nrows = split(rows, rs, " ")
	for (i = 1; i <= nrows; i++)
		row_line(rs[i])
	print "\nratios (of medians) [per-round range]:"
	print "  (rows tens of seconds apart: drift and TCP reordering move " \
	      "these by +-30 %;\n   read the targets on the paired tables " \
	      "below where they ran)"
	ratio("(c) 10 filters / (b), verdicted pps", "c10", "ver", "b", "ver", "1.0")
	ratio("(c) 10k filters / (b), verdicted pps", "c10k", "ver", "b", "ver", "1.0")
	for (i = 1; i <= ncc; i++) {
		k = "tcp_" cc[i]
		t9 = i == 1 ? "0.9" : ""; t97 = i == 1 ? "0.97" : ""
		ratio("(c) 10 filters / (a), TCP " cc[i], "c10", k, "a", k, t9)
		ratio("(c) 10k filters / (a), TCP " cc[i], "c10k", k, "a", k, t9)
		ratio("(d) connect/accept / (a), TCP " cc[i], "d", k, "a", k, t97)
		ratio("(b) / (a), TCP " cc[i], "b", k, "a", k, "")
		ratio("(c) 10 filters / (b), TCP " cc[i], "c10", k, "b", k, "")
	}
	ratio("(b) verdicted / (a) forwarded, UDP pps", "b", "ver", "a", "fwd", "")
	check()
}
