#!/usr/bin/env bash
# `make check`: builds weir, runs every test suite, runs the unit tests
# again under ASan+UBSan, runs a fuzz smoke, and ends with the line
# "N passed, N failed, N skipped". Exits non-zero on any failure.
#
# Under CI=true nothing may skip for a missing tool: the suites that could
# skip (oracle, fuzz) fail instead.
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
ASAN_BUILD=${ASAN_BUILD:-build-asan}
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SMOKE=${FUZZ_SMOKE:-30}
PY=/usr/bin/python3
RESULTS=$(mktemp)
FAILTAILS=$(mktemp)
trap 'rm -f "$RESULTS" "$FAILTAILS"' EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

say() { printf '\n== %s\n' "$*"; }

# Appends one "result name" line per test case of a meson build's test
# log: each cmocka case counts on its own; any other test program counts
# once. A program that failed without a failed cmocka case (a crash, a
# sanitizer report) counts one failure more. The last lines of a failed
# program's output go to $FAILTAILS, printed again at the end: CI shows
# only the end of the output, and a rare failure must say why there.
collect() {
	local dir=$1 label=$2
	[ -f "$dir/meson-logs/testlog.json" ] || return 0
	"$PY" - "$dir/meson-logs/testlog.json" "$label" "$FAILTAILS" \
		>>"$RESULTS" <<'PY'
import json, re, sys
tails = open(sys.argv[3], "a", encoding="utf-8", errors="replace")
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    t = json.loads(line)
    name = sys.argv[2] + ":" + t["name"]
    out = (t.get("stdout") or "") + (t.get("stderr") or "")
    ok = re.findall(r"^\[       OK \] (.+)$", out, re.M)
    bad = {c for c in re.findall(r"^\[  FAILED  \] (.+)$", out, re.M)
           if not re.match(r"\d+ test\(s\)", c)}
    if t["result"] == "SKIP":
        print("skip", name)
        continue
    for c in ok:
        print("pass", name + "/" + c)
    for c in sorted(bad):
        print("fail", name + "/" + c)
    if t["result"] not in ("OK", "EXPECTEDFAIL") and not bad:
        print("fail", name)
    elif not ok and not bad:
        print("pass", name)
    sys.stdout.flush()
    if t["result"] not in ("OK", "EXPECTEDFAIL"):
        tails.write("-- %s (%s, %.1fs):\n" % (name, t["result"],
                                           t.get("duration") or 0))
        lines = out.splitlines()
        why = [l for l in lines[:-12] if "FAIL" in l or "ERROR" in l][:4]
        tails.writelines(l + "\n" for l in why + lines[-12:])
PY
	[ $? = 0 ] || echo "fail collect:$label" >>"$RESULTS"
}

# setup DIR [meson options...]: configures DIR once, then builds it.
build() {
	local dir=$1; shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null || return 1
	fi
	ninja -C "$dir" >/dev/null || ninja -C "$dir"
}

say "build ($BUILD)"
if ! build "$BUILD"; then
	echo "fail build:$BUILD" >>"$RESULTS"
else
	say "tests ($BUILD)"
	meson test -C "$BUILD" --no-rebuild --print-errorlogs
	collect "$BUILD" default
fi

say "unit, replay and namespace tests under ASan+UBSan ($ASAN_BUILD)"
if ! build "$ASAN_BUILD" -Db_sanitize=address,undefined -Db_lundef=false; then
	echo "fail build:$ASAN_BUILD" >>"$RESULTS"
else
	meson test -C "$ASAN_BUILD" --no-rebuild --print-errorlogs \
		--suite unit --suite replay --suite net
	collect "$ASAN_BUILD" asan
fi

say "fuzz smoke (${FUZZ_SMOKE}s, ASan+UBSan)"
if ! command -v clang >/dev/null; then
	if [ "${CI:-}" = true ]; then
		echo "fail fuzz:smoke (clang missing)" >>"$RESULTS"
	else
		echo "skip fuzz:smoke (clang missing)" >>"$RESULTS"
	fi
elif ! CC=clang build "$FUZZ_BUILD" -Dfuzz=true -Db_lundef=false; then
	echo "fail build:$FUZZ_BUILD" >>"$RESULTS"
else
	meson test -C "$FUZZ_BUILD" --no-rebuild --print-errorlogs --suite fuzz
	collect "$FUZZ_BUILD" fuzz
	for h in parse policy dns http1 nfq; do
		rm -rf "$FUZZ_BUILD/smoke-$h"
		if bash tests/fuzz/run_fuzz.sh "$FUZZ_BUILD/tests/fuzz/fuzz_$h" \
			"$FUZZ_SMOKE" "tests/fuzz/corpus/$h" \
			"$FUZZ_BUILD/smoke-$h"; then
			echo "pass fuzz:smoke-$h" >>"$RESULTS"
		else
			echo "fail fuzz:smoke-$h" >>"$RESULTS"
		fi
	done
fi

pass=$(grep -c '^pass ' "$RESULTS")
fail=$(grep -c '^fail ' "$RESULTS")
skip=$(grep -c '^skip ' "$RESULTS")
if [ "$fail" -gt 0 ] || [ "$skip" -gt 0 ]; then
	if [ -s "$FAILTAILS" ]; then
		say "the end of each failed test's output"
		cat "$FAILTAILS"
	fi
	say "not passed"
	grep -E '^(fail|skip) ' "$RESULTS"
fi
echo
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
