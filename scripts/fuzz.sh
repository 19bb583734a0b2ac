#!/usr/bin/env bash
# Builds the libFuzzer harnesses with clang and runs each for SECONDS.
#   scripts/fuzz.sh SECONDS [WORKDIR]
# Artifacts (crash reproducers) and the grown corpus stay in WORKDIR
# (default: $FUZZ_BUILD/fuzz-work).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=${1:-300}
fb=${FUZZ_BUILD:-build-fuzz}
work=${2:-$fb/fuzz-work}

if ! command -v clang >/dev/null; then
	echo "fuzz: clang is not installed (scripts/deps.sh installs it)" >&2
	exit 1
fi
if [ ! -f "$fb/build.ninja" ]; then
	CC=clang meson setup "$fb" -Dfuzz=true -Db_lundef=false \
		-Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$fb" tests/fuzz/fuzz_parse tests/fuzz/fuzz_policy \
	tests/fuzz/fuzz_dns tests/fuzz/fuzz_http1 tests/fuzz/fuzz_nfq >/dev/null

status=0
for h in parse policy dns http1 nfq; do
	bash tests/fuzz/run_fuzz.sh "$fb/tests/fuzz/fuzz_$h" "$secs" \
		"tests/fuzz/corpus/$h" "$work/$h" || status=1
done
exit $status
