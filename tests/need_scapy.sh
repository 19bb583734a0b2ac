# Sourced by test drivers that need scapy: `need_scapy NAME PYTHON`.
# Returns when PYTHON imports scapy; otherwise exits 77 (skip) with the
# reason, or 1 under CI=true, where nothing may skip for a missing tool.
need_scapy() {
	local name=$1 py=$2 why="" err
	if [ ! -x "$py" ]; then
		why="$py not found"
	elif ! err=$("$py" -c 'import scapy.all' 2>&1); then
		why="$py cannot import scapy: $(printf '%s' "$err" | tail -n 1)"
	fi
	[ -z "$why" ] && return 0
	if [ "${CI:-}" = "true" ]; then
		echo "$name: FAIL: $why (CI=true, install python3-scapy)" >&2
		exit 1
	fi
	echo "$name: SKIP: $why (install python3-scapy)"
	exit 77
}
