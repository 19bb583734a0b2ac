#!/bin/sh
# Runs one `weir replay` test scenario (test_replay.py) with the system
# python and scapy.
#
# usage: run.sh SCENARIO PATH_TO_weir WORKDIR
# Exit 0 pass, 1 fail, 77 skip (no scapy; a failure instead when CI=true).

set -u

if [ $# -ne 3 ]; then
	echo "usage: $0 SCENARIO PATH_TO_weir WORKDIR" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
py=${REPLAY_PYTHON:-/usr/bin/python3}  # override for testing the skip path

. "$here/../need_scapy.sh"
need_scapy replay "$py"

exec "$py" "$here/test_replay.py" "$@"
