#!/usr/bin/env bash
# Runs a libFuzzer binary for a while on a private copy of a seed corpus:
#   run_fuzz.sh FUZZ_BINARY SECONDS CORPUS_SEED_DIR WORKDIR
# WORKDIR gets corpus/ (seeds + what the fuzzer finds), artifacts/ (crash-*,
# leak-*, timeout-* reproducers) and fuzz.log. Exits with the fuzzer's status
# (1 on a crash or broken invariant: -error_exitcode=1, as 77 means "skip")
# after one summary line.
set -uo pipefail

if [ $# -ne 4 ]; then
	echo "usage: $0 FUZZ_BINARY SECONDS CORPUS_SEED_DIR WORKDIR" >&2
	exit 2
fi
bin=$1 secs=$2 seeds=$3 work=$4

if [ ! -x "$bin" ]; then
	echo "run_fuzz: $bin is not an executable" >&2
	exit 2
fi
mkdir -p "$work/corpus" "$work/artifacts" || exit 2
if [ -d "$seeds" ]; then
	cp -f "$seeds"/* "$work/corpus/" 2>/dev/null || true
fi
nseeds=$(find "$work/corpus" -type f | wc -l)

"$bin" "$work/corpus" \
	-max_total_time="$secs" \
	-print_final_stats=1 \
	-error_exitcode=1 \
	-artifact_prefix="$work/artifacts/" \
	>"$work/fuzz.log" 2>&1
status=$?

stat() {
	sed -n "s/^stat::$1: *//p" "$work/fuzz.log" | tail -n 1
}
execs=$(stat number_of_executed_units)
rate=$(stat average_exec_per_sec)
ncorpus=$(find "$work/corpus" -type f | wc -l)
nart=$(find "$work/artifacts" -type f | wc -l)
cov=$(grep -o 'cov: [0-9]*' "$work/fuzz.log" | tail -n 1 | cut -d' ' -f2)

if [ "$status" -ne 0 ]; then
	grep -E 'ERROR|invariant violated|SUMMARY|Test unit written' \
		"$work/fuzz.log" | head -n 20 >&2
fi
echo "$(basename "$bin"): status=$status execs=${execs:-?}" \
	"exec/s=${rate:-?} cov=${cov:-?} seeds=$nseeds corpus=$ncorpus" \
	"artifacts=$nart secs=$secs log=$work/fuzz.log"
exit "$status"
