#!/bin/sh
# Runs the scapy oracle: generate packets with scapy, check weir's parse of
# them, then verify weir's built and rewritten packets with scapy.
#
# usage: run.sh PATH_TO_oracle_check WORKDIR [--count N] [--seed S]
# Exit 0 pass, 1 fail, 77 skip (no scapy; a failure instead when CI=true).

set -u

if [ $# -lt 2 ]; then
	echo "usage: $0 PATH_TO_oracle_check WORKDIR [gen_packets options]" >&2
	exit 2
fi
check=$1
work=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
py=${ORACLE_PYTHON:-/usr/bin/python3}  # override for testing the skip path

. "$here/../need_scapy.sh"
need_scapy oracle "$py"

mkdir -p "$work" || exit 1
pcap="$work/oracle_in.pcap"
built="$work/oracle_built.pcap"

"$py" "$here/gen_packets.py" "$pcap" "$pcap.expect" "$@" || exit 1
"$check" "$pcap" "$pcap.expect" "$built"
rc_check=$?
if [ $rc_check -gt 1 ]; then
	echo "oracle: oracle_check could not run (exit $rc_check)" >&2
	exit 1
fi
"$py" "$here/verify_built.py" "$built"
rc_verify=$?
if [ $rc_check -ne 0 ] || [ $rc_verify -ne 0 ]; then
	echo "oracle: FAIL (oracle_check exit $rc_check," \
	     "verify_built exit $rc_verify)"
	exit 1
fi
echo "oracle: PASS"
exit 0
