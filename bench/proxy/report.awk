# The table of `make bench-proxy` (run.sh): medians over the rounds of
# each row, then the ratios the issue sets targets for.
#
# Input: "ROW ROUND KEY VALUE" lines. Variables: tcp, http (the rows
# asked for, in order), na (rows that could not run).
#
# A ratio is the ratio of the two medians, followed by the range of the
# per-round ratios (the rows of one round ran back to back).

BEGIN {
	title["direct"] = "direct (kernel forwarding in gw)"
	title["weir"] = "weir, no data filter (splice)"
	title["tap"] = "weir, datafilter tap"
	title["haproxy"] = "HAProxy mode tcp"
	title["haproxy-splice"] = "HAProxy mode tcp, splice-auto"
	title["socat"] = "socat"
}

{
	v[$1, $2, $3] = $4
	L[$1, $3] = L[$1, $3] " " $4
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

function lo(s,   a, n, i, m) {
	n = split(s, a, " "); m = a[1]
	for (i = 2; i <= n; i++) if (a[i] + 0 < m + 0) m = a[i]
	return m
}

function hi(s,   a, n, i, m) {
	n = split(s, a, " "); m = a[1]
	for (i = 2; i <= n; i++) if (a[i] + 0 > m + 0) m = a[i]
	return m
}

function us(r, m,   c, q) {
	c = med(L[r, m "_pcores"]); q = med(L[r, m "_rps"])
	return (c == "" || q + 0 <= 0) ? "-" : sprintf("%.1f", c * 1e6 / q)
}

function is_na(r) { return index(" " na " ", " " r " ") > 0 }

function cell(r, k, f,   s) {
	s = L[r, k]
	if (s == "") return "-"
	return sprintf(f " [" f "-" f "]", med(s), lo(s), hi(s))
}

function one(r, k, f,   s) {
	s = L[r, k]
	return s == "" ? "-" : sprintf(f, med(s))
}

function asked(r) { return index(" " tcp " " http " ", " " r " ") > 0 }

function missing(r) {
	if (!asked(r)) return "not run"
	if (r == "tap" && is_na(r)) return "n/a (no tap yet)"
	if (is_na(r)) return "n/a (tool missing)"
	return "FAILED"
}

# "a/b = R [lo-hi] (target >= T: met)", from the medians of key k.
function ratio(a, b, k, target, label,   ma, mb, R, x, rl, rh, s, f) {
	s = sprintf("  %-44s ", label)
	if (L[a, k] == "" || L[b, k] == "") {
		s = s (L[a, k] == "" ? missing(a) : missing(b))
		if (target != "") s = s sprintf("   (target >= %.1fx)", target)
		print s
		return
	}
	ma = med(L[a, k]); mb = med(L[b, k])
	R = mb > 0 ? ma / mb : 0
	rl = ""; rh = ""
	for (x = 1; x <= nr; x++)
		if ((a, x, k) in v && (b, x, k) in v && v[b, x, k] > 0) {
			f = v[a, x, k] / v[b, x, k]
			if (rl == "" || f < rl) rl = f
			if (rh == "" || f > rh) rh = f
		}
	s = s sprintf("%.2fx [%.2f-%.2f]", R, rl, rh)
	if (target != "")
		s = s sprintf("   target >= %.1fx: %s", target,
			      R >= target ? "met" : "NOT met")
	print s
}

END {
	nt = split(tcp, T, " ")
	if (nt) {
		print "TCP throughput, iperf3 client -> server"
		printf "| %-32s | %-24s | %-13s | %-11s | %s\n", "row",
		       "Gbit/s median [min-max]", "machine cores",
		       "proxy cores", "weir spliced/chained/sessions"
		printf "|%s|%s|%s|%s|%s\n", "----------------------------------",
		       "--------------------------", "---------------",
		       "-------------", "---"
		for (i = 1; i <= nt; i++) {
			r = T[i]
			if (L[r, "gbps"] == "") {
				printf "| %-32s | %-24s | %-13s | %-11s |\n",
				       title[r], missing(r), "-", "-"
				continue
			}
			printf "| %-32s | %-24s | %-13s | %-11s | %s\n", title[r],
			       cell(r, "gbps", "%.2f") (failed[r] ? " (" failed[r] " failed)" : ""),
			       one(r, "cores", "%.2f"), one(r, "proxy_cores", "%.2f"),
			       (r, nr, "weir_sessions") in v ? v[r, nr, "weir_sessions"] : ""
		}
		print ""
		ratio("weir", "haproxy-splice", "gbps", 1.0, "weir (splice) / HAProxy splice-auto")
		ratio("tap", "haproxy", "gbps", 1.0, "weir tap / HAProxy (no splice)")
		ratio("weir", "haproxy", "gbps", "", "weir (splice) / HAProxy (no splice)")
		ratio("weir", "socat", "gbps", "", "weir (splice) / socat")
		ratio("weir", "direct", "gbps", "", "weir (splice) / direct")
		ratio("haproxy-splice", "haproxy", "gbps", "", "HAProxy splice-auto / HAProxy")
		print ""
	}
	nh = split(http, H, " ")
	if (nh) {
		print "HTTP, wrk against nginx (100 B file): requests/s median [min-max], p99 ms (median)"
		printf "| %-32s | %-26s | %-7s | %-26s | %-7s | %s\n", "row",
		       "keep-alive req/s", "p99 ms", "Connection: close req/s",
		       "p99 ms", "errors"
		printf "|%s|%s|%s|%s|%s|%s\n", "----------------------------------",
		       "----------------------------", "---------",
		       "----------------------------", "---------", "---"
		for (i = 1; i <= nh; i++) {
			r = H[i]
			if (L[r, "ka_rps"] == "" && L[r, "cl_rps"] == "") {
				printf "| %-32s | %-26s |\n", title[r], missing(r)
				continue
			}
			e = 0
			for (x = 1; x <= nr; x++)
				e += v[r, x, "ka_err"] + v[r, x, "cl_err"]
			printf "| %-32s | %-26s | %-7s | %-26s | %-7s | %s\n", title[r],
			       cell(r, "ka_rps", "%.0f"), one(r, "ka_p99", "%.2f"),
			       cell(r, "cl_rps", "%.0f"), one(r, "cl_p99", "%.2f"),
			       e (failed[r] ? ", " failed[r] " failed" : "")
		}
		print ""
		print "Proxy CPU per request (proxy cores / req/s, medians; the machine is saturated, so"
		print "what a proxy spends per request is what the others cannot):"
		for (i = 1; i <= nh; i++) {
			r = H[i]
			if (L[r, "ka_pcores"] == "" && L[r, "cl_pcores"] == "") continue
			printf "  %-32s keep-alive %s us (%s cores), close %s us (%s cores)\n", title[r],
			       us(r, "ka"), one(r, "ka_pcores", "%.2f"),
			       us(r, "cl"), one(r, "cl_pcores", "%.2f")
		}
		print ""
		ratio("weir", "haproxy", "cl_rps", 1.2, "weir / HAProxy, connections/s (close)")
		ratio("weir", "haproxy", "ka_rps", "", "weir / HAProxy, keep-alive req/s")
		ratio("weir", "direct", "cl_rps", "", "weir / direct, connections/s (close)")
		ratio("haproxy", "direct", "cl_rps", "", "HAProxy / direct, connections/s (close)")
	}
}
