#!/usr/bin/env bash
# The application-tier benchmark (`make bench-proxy`): weir's proxy
# against HAProxy (`mode tcp`, with and without `option splice-auto`)
# and socat, in one run, interleaved, with the ratios the issue sets
# targets for. README.md (next to this file) explains rows and pitfalls.
#
#   wbx-client ── wbx-gw ── wbx-server          (network namespaces)
#   10.98.1.2     10.98.1.1 | 10.98.2.1   10.98.2.2
#   iperf3 -c     the proxy under test      iperf3 -s, nginx (100 B file)
#   wrk           (or kernel forwarding: "direct")
#
# Each round runs every TCP row (iperf3, client to server), then every
# HTTP row (wrk keep-alive, then wrk "Connection: close"); each proxy is
# started for its row and stopped after it. The table gives medians.
#
# Environment (default):
#   BUILD (build)              meson build directory (src/weir, plugins/)
#   WEIR ($BUILD/src/weir)     the weir program
#   TCP_ROWS ("direct weir tap haproxy haproxy-splice socat")
#   HTTP_ROWS ("direct weir haproxy")
#   ROUNDS (3)  DURATION (5)   rounds; seconds of each load
#   TCP_STREAMS (1)            iperf3 -P
#   WRK_THREADS (2)  WRK_CONNS (50)
#   WEIR_WORKERS (2)           weir run --proxy-workers (HAProxy: nbthread 2)
#   HAPROXY_THREADS (2)  HAPROXY_MAXCONN (4000)  NGINX_WORKERS (2)
#   INSTALL (1)                0: never apt-get install missing tools
#   KEEP (0)                   1 keeps $TMP: configs, logs, raw results
# Needs root. Exit status 0; 1 when setup or a row failed; 2 on usage.

set -u -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)

die() { echo "bench-proxy: $*" >&2; exit 1; }
say() { echo "bench-proxy: $*" >&2; }

NS_C=wbx-client NS_G=wbx-gw NS_S=wbx-server
NS_ALL="$NS_C $NS_G $NS_S"
C_ADDR=10.98.1.2 G_ADDRC=10.98.1.1 G_ADDRS=10.98.2.1 S_ADDR=10.98.2.2
IPERF_PORT=5201 HTTP_PORT=80
# Where each proxy listens on gw (client side): TCP_BASE+1 forwards to
# iperf3, TCP_BASE+2 to nginx.
P_WEIR=7000 P_HAPROXY=7100 P_HAPROXY_SPLICE=7200 P_SOCAT=7300

nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
rec() { echo "$1 $2 $3 $4" >>"$RESULTS"; }

settings() {
	BUILD=$(cd "${BUILD:-build}" 2>/dev/null && pwd) ||
		die "no build directory ${BUILD:-build} (run make first)"
	WEIR=${WEIR:-$BUILD/src/weir}
	PLUGINS=$BUILD/plugins
	TCP_ROWS=${TCP_ROWS-direct weir tap haproxy haproxy-splice socat}
	HTTP_ROWS=${HTTP_ROWS-direct weir haproxy}
	ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-5}
	TCP_STREAMS=${TCP_STREAMS:-1}
	WRK_THREADS=${WRK_THREADS:-2} WRK_CONNS=${WRK_CONNS:-50}
	WEIR_WORKERS=${WEIR_WORKERS:-2}
	HAPROXY_THREADS=${HAPROXY_THREADS:-2}
	HAPROXY_MAXCONN=${HAPROXY_MAXCONN:-4000}
	NGINX_WORKERS=${NGINX_WORKERS:-2}
	READY_TIMEOUT=${READY_TIMEOUT:-30}
	NCPU=$(nproc)
	NA= PROXY_PID= BG_PIDS=
}

# --- tools -----------------------------------------------------------

# Debian starts a service when its package is installed; a policy-rc.d
# that exits 101 forbids that (invoke-rc.d and deb-systemd-invoke both
# honour it). Ours is removed at once; one that was already there is
# left alone.
install_missing() {
	local pkgs= ours=0 s
	command -v haproxy >/dev/null || pkgs="$pkgs haproxy"
	command -v nginx >/dev/null || pkgs="$pkgs nginx-light"
	command -v wrk >/dev/null || pkgs="$pkgs wrk"
	[ -z "$pkgs" ] && return 0
	[ "${INSTALL:-1}" = 1 ] || return 0
	say "installing:$pkgs (services kept from starting)"
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\n# bench/proxy/run.sh: no service starts during install\nexit 101\n' \
			>/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d &&
			ours=1
	fi
	apt-get update -qq >&2 &&
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends $pkgs >&2
	s=$?
	[ "$ours" = 1 ] && rm -f /usr/sbin/policy-rc.d
	# Should a service have started anyway: stop it, keep it off.
	for svc in haproxy nginx; do
		case $pkgs in *"$svc"*) ;; *) continue ;; esac
		if [ -d /run/systemd/system ]; then
			systemctl disable --now "$svc" >/dev/null 2>&1
		else
			[ -f "/run/$svc.pid" ] &&
				kill "$(cat "/run/$svc.pid")" 2>/dev/null
			command -v update-rc.d >/dev/null &&
				update-rc.d "$svc" disable >/dev/null 2>&1
		fi
	done
	return $s
}

preflight() {
	local t
	[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
	for t in ip iperf3 python3 flock timeout; do
		command -v "$t" >/dev/null || die "missing tool: $t"
	done
	install_missing || say "apt-get install failed"
	for t in haproxy nginx wrk socat; do
		command -v "$t" >/dev/null && continue
		say "missing $t: its rows are skipped"
		case $t in
		haproxy) NA="$NA haproxy haproxy-splice" ;;
		nginx|wrk) HTTP_ROWS= ;;
		socat) NA="$NA socat" ;;
		esac
	done
	[ -x "$WEIR" ] || { say "no $WEIR: weir rows skipped"; NA="$NA weir tap"; }
}

# --- network ---------------------------------------------------------

topo_down() {
	local ns pids
	for ns in $NS_ALL; do
		[ -e "/run/netns/$ns" ] || continue
		pids=$(ip netns pids "$ns" 2>/dev/null)
		[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
	done
	sleep 0.2
	for ns in $NS_ALL; do
		[ -e "/run/netns/$ns" ] && ip netns del "$ns" 2>/dev/null
	done
	return 0
}

# Connection-per-request loads open tens of thousands of connections
# from one address to one port: the wide port range and TIME_WAIT reuse
# (per namespace) keep the client and the proxies' upstream side from
# running out of ports.
topo_up() {
	local ns
	for ns in $NS_ALL; do
		ip netns add "$ns" && nsx "$ns" ip link set lo up &&
		nsx "$ns" sysctl -qw net.ipv4.ip_local_port_range="1024 65535" \
			net.ipv4.tcp_tw_reuse=1 || return 1
	done
	ip -n "$NS_C" link add c0 type veth peer name gc netns "$NS_G" &&
	ip -n "$NS_S" link add s0 type veth peer name gs netns "$NS_G" &&
	nsx "$NS_C" ip addr add "$C_ADDR/24" dev c0 &&
	nsx "$NS_G" ip addr add "$G_ADDRC/24" dev gc &&
	nsx "$NS_G" ip addr add "$G_ADDRS/24" dev gs &&
	nsx "$NS_S" ip addr add "$S_ADDR/24" dev s0 &&
	nsx "$NS_C" ip link set c0 up && nsx "$NS_G" ip link set gc up &&
	nsx "$NS_G" ip link set gs up && nsx "$NS_S" ip link set s0 up &&
	nsx "$NS_C" ip route add default via "$G_ADDRC" &&
	nsx "$NS_S" ip route add default via "$G_ADDRS" &&
	nsx "$NS_G" sysctl -qw net.ipv4.ip_forward=1
}

# --- servers (whole run) ---------------------------------------------

bg() {              # LOG NS CMD...: a background process of the run
	local log=$1; shift
	ip netns exec "$@" >"$log" 2>&1 &
	BG_PIDS="$BG_PIDS $!"
}

wait_listen() {     # NS ADDR PORT
	local i
	for i in $(seq $((READY_TIMEOUT * 10))); do
		[ -n "$(nsx "$1" ss -Hltn "src $2:$3")" ] && return 0
		sleep 0.1
	done
	return 1
}

nginx_conf() {
	mkdir -p "$TMP/www" "$TMP/nginx"
	head -c 100 /dev/zero | tr '\0' x >"$TMP/www/100b"
	cat >"$TMP/nginx.conf" <<EOF
# bench/proxy/run.sh: nginx in $NS_S only, never the system service.
daemon off;
user root;
worker_processes $NGINX_WORKERS;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $TMP/nginx/body;
	proxy_temp_path $TMP/nginx/proxy;
	fastcgi_temp_path $TMP/nginx/fastcgi;
	uwsgi_temp_path $TMP/nginx/uwsgi;
	scgi_temp_path $TMP/nginx/scgi;
	keepalive_requests 1000000;
	keepalive_timeout 65;
	server {
		listen $S_ADDR:$HTTP_PORT;
		root $TMP/www;
	}
}
EOF
}

servers_up() {
	bg "$TMP/iperf3-server.log" "$NS_S" iperf3 -s -B "$S_ADDR" -p "$IPERF_PORT"
	wait_listen "$NS_S" "$S_ADDR" "$IPERF_PORT" || die "iperf3 -s did not start"
	if [ -n "$HTTP_ROWS" ]; then
		nginx_conf
		bg "$TMP/nginx.log" "$NS_S" nginx -c "$TMP/nginx.conf" \
			-p "$TMP/nginx" -e "$TMP/nginx/error.log"
		wait_listen "$NS_S" "$S_ADDR" "$HTTP_PORT" ||
			die "nginx did not start: $(tail -3 "$TMP/nginx.log")"
		[ "$(nsx "$NS_C" python3 -c "import urllib.request as u; print(len(u.urlopen('http://$S_ADDR/100b', timeout=3).read()))")" = 100 ] ||
			die "no 100-byte file from nginx through gw"
	fi
}

# --- proxies (one row) -------------------------------------------------

weir_policy() {     # FILE TAP(0|1)
	{
		echo "# bench/proxy/run.sh"
		if [ "$2" = 1 ]; then
			echo "plugins \"$PLUGINS\";"
			echo "plugin tap;"
			echo "protocol bench tcp $IPERF_PORT;"
			echo "listen iperf $G_ADDRC:$((P_WEIR + 1)) to $S_ADDR:$IPERF_PORT protocol bench;"
			echo "datafilter tap on bench;"
		else
			echo "listen iperf $G_ADDRC:$((P_WEIR + 1)) to $S_ADDR:$IPERF_PORT;"
		fi
		echo "listen http $G_ADDRC:$((P_WEIR + 2)) to $S_ADDR:$HTTP_PORT;"
	} >"$1"
}

# The tap plug-in and data-filter chains may not exist yet: then the
# row prints "n/a (no tap yet)".
tap_check() {
	weir_policy "$TMP/tap.weir" 1
	if [ ! -e "$PLUGINS/tap.so" ]; then
		say "tap row: no $PLUGINS/tap.so (n/a)"
		NA="$NA tap"
	elif ! "$WEIR" check "$TMP/tap.weir" >"$TMP/tap.check" 2>&1; then
		say "tap row: weir check fails (n/a): $(head -1 "$TMP/tap.check")"
		NA="$NA tap"
	fi
}

haproxy_conf() {    # FILE SPLICE(0|1) BASEPORT
	cat >"$1" <<EOF
# bench/proxy/run.sh
global
	maxconn $HAPROXY_MAXCONN
	nbthread $HAPROXY_THREADS
	pidfile $TMP/haproxy$2.pid
defaults
	mode tcp
	timeout connect 5s
	timeout client 60s
	timeout server 60s
$([ "$2" = 1 ] && printf '\toption splice-auto\n')
listen iperf
	bind $G_ADDRC:$(($3 + 1))
	server s $S_ADDR:$IPERF_PORT
listen http
	bind $G_ADDRC:$(($3 + 2))
	server s $S_ADDR:$HTTP_PORT
EOF
}

# Started with `ip netns exec` itself (it execs the program), not with
# nsx, so that $! is the proxy and not a subshell.
# Sets TARGET (address port of the iperf3 and http paths) and starts
# the row's proxy in gw as PROXY_PID.
proxy_start() {     # ROW
	local base
	PROXY_PID= TARGET=$S_ADDR
	case $1 in
	direct) IPERF_TO=$IPERF_PORT HTTP_TO=$HTTP_PORT; return 0 ;;
	weir|tap)
		base=$P_WEIR
		weir_policy "$TMP/$1.weir" "$([ "$1" = tap ] && echo 1 || echo 0)"
		rm -f "$TMP/weir.sock"
		ip netns exec "$NS_G" "$WEIR" run -c "$TMP/$1.weir" --no-steer \
			--control "$TMP/weir.sock" --plugins "$PLUGINS" \
			--proxy-workers "$WEIR_WORKERS" >>"$TMP/weir.log" 2>&1 &
		;;
	haproxy|haproxy-splice)
		if [ "$1" = haproxy ]; then base=$P_HAPROXY; else base=$P_HAPROXY_SPLICE; fi
		haproxy_conf "$TMP/$1.cfg" "$([ "$1" = haproxy ] && echo 0 || echo 1)" "$base"
		ip netns exec "$NS_G" haproxy -db -f "$TMP/$1.cfg" >>"$TMP/$1.log" 2>&1 &
		;;
	socat)
		base=$P_SOCAT
		ip netns exec "$NS_G" socat \
			"TCP-LISTEN:$((base + 1)),bind=$G_ADDRC,fork,reuseaddr,backlog=1024" \
			"TCP:$S_ADDR:$IPERF_PORT" >>"$TMP/socat.log" 2>&1 &
		;;
	*) say "unknown row $1"; return 1 ;;
	esac
	PROXY_PID=$! TARGET=$G_ADDRC
	IPERF_TO=$((base + 1)) HTTP_TO=$((base + 2))
	wait_listen "$NS_G" "$G_ADDRC" "$IPERF_TO" && return 0
	say "$1 did not start listening"
	proxy_stop
	return 1
}

proxy_stop() {
	local i
	[ -n "$PROXY_PID" ] || return 0
	kill -TERM "$PROXY_PID" 2>/dev/null
	for i in $(seq 50); do
		kill -0 "$PROXY_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$PROXY_PID" 2>/dev/null
	wait "$PROXY_PID" 2>/dev/null
	PROXY_PID=
	# socat's per-connection children, if any are left.
	i=$(ip netns pids "$NS_G" 2>/dev/null)
	[ -n "$i" ] && kill -KILL $i 2>/dev/null
	return 0
}

# --- loads -------------------------------------------------------------

cpu_read() {        # "BUSY TOTAL" jiffies of the machine
	awk '/^cpu / { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6 }' /proc/stat
}
pid_ticks() {       # utime + stime of a process (all threads)
	awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

measure_tcp() {     # ROW ROUND
	local c0 c1 p0 p1 out gbps pid=$PROXY_PID
	# socat's work is done by its per-connection children: not counted.
	[ "$1" = socat ] && pid=
	c0=$(cpu_read) p0=0
	[ -n "$pid" ] && p0=$(pid_ticks "$pid")
	out=$(nsx "$NS_C" timeout $((DURATION + 20)) iperf3 -c "$TARGET" \
		-p "$IPERF_TO" -P "$TCP_STREAMS" -t "$DURATION" -J 2>&1)
	c1=$(cpu_read)
	[ -n "$pid" ] && p1=$(pid_ticks "$pid") &&
		rec "$1" "$2" proxy_cores "$(awk -v a="$p0" -v b="$p1" \
			-v hz="$(getconf CLK_TCK)" -v s="$DURATION" \
			'BEGIN { printf "%.2f", (b - a) / hz / s }')"
	rec "$1" "$2" cores "$(echo "$c0 $c1" | awk -v n="$NCPU" \
		'{ printf "%.2f", n * ($3 - $1) / ($4 - $2) }')"
	gbps=$(echo "$out" | python3 -c 'import json, sys
d = json.load(sys.stdin)
print("%.3f" % (d["end"]["sum_received"]["bits_per_second"] / 1e9))' 2>/dev/null)
	if [ -z "$gbps" ]; then
		echo "$out" >>"$TMP/iperf3-failures.log"
		return 1
	fi
	rec "$1" "$2" gbps "$gbps"
}

measure_http() {    # ROW ROUND MODE(ka|cl)
	local out rps p99 err p0=0 p1 t0 t1
	local hdr=()
	[ "$3" = cl ] && hdr=(-H "Connection: close")
	[ -n "$PROXY_PID" ] && p0=$(pid_ticks "$PROXY_PID")
	t0=$(date +%s.%N)
	out=$(nsx "$NS_C" timeout $((DURATION + 20)) wrk -t "$WRK_THREADS" \
		-c "$WRK_CONNS" -d "${DURATION}s" --latency "${hdr[@]}" \
		"http://$TARGET:$HTTP_TO/100b" 2>&1)
	t1=$(date +%s.%N)
	[ -n "$PROXY_PID" ] && p1=$(pid_ticks "$PROXY_PID") &&
		rec "$1" "$2" "${3}_pcores" "$(awk -v a="$p0" -v b="$p1" \
			-v hz="$(getconf CLK_TCK)" -v t0="$t0" -v t1="$t1" \
			'BEGIN { printf "%.3f", (b - a) / hz / (t1 - t0) }')"
	echo "== $1 round $2 $3" >>"$TMP/wrk.log"
	echo "$out" >>"$TMP/wrk.log"
	rps=$(echo "$out" | awk '/^Requests\/sec:/ { print $2 }')
	p99=$(echo "$out" | awk '$1 == "99%" { v = $2
		if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0
		else if (v ~ /s$/) v = v * 1000
		print v }')
	err=$(echo "$out" | awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }
		/Non-2xx/ { n += $NF } END { if (n) print n }' | awk '{ s += $1 } END { print s + 0 }')
	[ -n "$rps" ] || return 1
	rec "$1" "$2" "${3}_rps" "$rps"
	[ -n "$p99" ] && rec "$1" "$2" "${3}_p99" "$p99"
	rec "$1" "$2" "${3}_err" "$err"
}

weir_spliced() {    # ROW ROUND: what the kernel pump counted
	local n
	[ -S "$TMP/weir.sock" ] || return 0
	n=$("$WEIR" stats --json --control "$TMP/weir.sock" 2>/dev/null |
		python3 -c 'import json, sys; p = json.load(sys.stdin)["proxy"]
print(p["spliced"], p.get("chained", 0), p["sessions"])' 2>/dev/null) || return 0
	rec "$1" "$2" weir_sessions "$(echo "$n" | awk '{ print $1 "/" $2 "/" $3 }')"
}

wait_weir() {
	local i
	for i in $(seq $((READY_TIMEOUT * 10))); do
		"$WEIR" stats --control "$TMP/weir.sock" >/dev/null 2>&1 && return 0
		kill -0 "$PROXY_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

run_tcp_row() {     # ROW ROUND
	local msg
	if ! proxy_start "$1"; then rec "$1" "$2" failed 1; return; fi
	case $1 in weir|tap) wait_weir || say "weir: no control socket" ;; esac
	measure_tcp "$1" "$2" || { rec "$1" "$2" failed 1; say "round $2 $1: iperf3 failed"; }
	case $1 in weir|tap) weir_spliced "$1" "$2" ;; esac
	proxy_stop
	msg=$(awk -v r="$1" -v R="$2" '$1 == r && $2 == R && $3 == "gbps" { print $4 " Gbit/s" }' "$RESULTS")
	say "round $2 tcp  $(printf '%-15s' "$1") ${msg:-FAILED}"
}

run_http_row() {    # ROW ROUND
	local m msg=
	if ! proxy_start "$1"; then rec "$1" "$2" failed 1; return; fi
	case $1 in weir|tap) wait_weir || say "weir: no control socket" ;; esac
	for m in ka cl; do
		measure_http "$1" "$2" "$m" ||
			{ rec "$1" "$2" failed 1; say "round $2 $1 $m: wrk failed"; }
	done
	proxy_stop
	msg=$(awk -v r="$1" -v R="$2" '$1 == r && $2 == R && $3 ~ /_rps$/ {
		printf "%s %.0f req/s  ", ($3 == "ka_rps" ? "keep-alive" : "close"), $4 }' "$RESULTS")
	say "round $2 http $(printf '%-15s' "$1") ${msg:-FAILED}"
}

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	proxy_stop
	for p in $BG_PIDS; do kill -TERM "$p" 2>/dev/null; done
	topo_down
	if [ "${KEEP:-0}" = 1 ]; then say "kept $TMP"; else rm -rf "$TMP"; fi
	exit "$rc"
}

versions() {
	echo "tools: $(iperf3 --version | head -1 | cut -d' ' -f1-2)," \
	     "$(haproxy -v 2>/dev/null | head -1 | cut -d' ' -f1-3)," \
	     "$(nginx -v 2>&1 | cut -d' ' -f3)," \
	     "$(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)," \
	     "$(socat -V 2>/dev/null | awk '/socat version/ { print "socat " $3; exit }')"
}

main() {
	local R r
	settings
	preflight
	TMP=$(mktemp -d /tmp/weir-bench-proxy.XXXXXX) || die "mktemp"
	chmod 755 "$TMP"
	RESULTS=$TMP/results
	: >"$RESULTS"
	trap cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	exec 9>/run/lock/weir-bench-proxy.lock || die "lock file"
	flock -n 9 || die "another bench-proxy run is in progress"
	case " $NA " in *" weir "*) ;; *) tap_check ;; esac
	LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
	awk '{ exit !($1 >= 0.5) }' /proc/loadavg &&
		say "warning: the machine is busy (load $LOADAVG): ratios will be noisier"
	topo_down
	topo_up || die "could not set up the namespaces"
	servers_up
	for R in $(seq "$ROUNDS"); do
		for r in $TCP_ROWS; do
			case " $NA " in *" $r "*) continue ;; esac
			run_tcp_row "$r" "$R"
		done
		for r in $HTTP_ROWS; do
			case " $NA " in *" $r "*) continue ;; esac
			run_http_row "$r" "$R"
		done
	done
	echo
	echo "weir bench-proxy, $(date -u '+%Y-%m-%d %H:%M UTC'), kernel $(uname -r)," \
	     "$NCPU CPUs, load before: $LOADAVG"
	echo "$ROUNDS interleaved rounds; medians [min-max]. TCP: iperf3 -P $TCP_STREAMS" \
	     "-t $DURATION, client to server. HTTP: wrk -t $WRK_THREADS -c $WRK_CONNS" \
	     "-d $DURATION, nginx 100 B file."
	echo "weir --proxy-workers $WEIR_WORKERS; HAProxy nbthread $HAPROXY_THREADS," \
	     "maxconn $HAPROXY_MAXCONN; nginx $NGINX_WORKERS workers."
	versions
	echo
	awk -v tcp="$TCP_ROWS" -v http="$HTTP_ROWS" -v na="$NA" \
		-f "$HERE/report.awk" "$RESULTS"
	grep -q ' failed ' "$RESULTS" && return 1
	return 0
}

main "$@"
