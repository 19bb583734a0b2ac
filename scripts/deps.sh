#!/usr/bin/env bash
# Installs the Debian 12 packages weir needs to build, test and demo.
# Runs `apt-get update` once, then `apt-get install -y` of what is missing.
# When not root, prints the exact command instead of running it.
set -euo pipefail

pkgs=(
  # build
  build-essential pkg-config meson ninja-build clang
  # libFuzzer and sanitizer runtimes for clang
  libclang-rt-14-dev llvm
  # libraries
  libcmocka-dev libpcap-dev liburcu-dev
  liburing-dev libmnl-dev libnetfilter-queue-dev
  # the live packet tier: kernel steering and namespaces
  iptables iproute2 conntrack iputils-ping
  # real peers for the integration tests, the demo and the benchmarks
  curl netcat-openbsd socat iperf3 tcpdump
  # DNS client and a resolver for the injection tests (dnssink)
  bind9-dnsutils dnsmasq-base
  # the application tier's tests: a real web server and libmagic
  nginx-light libmagic-dev
  # independent oracle for the packet tests
  python3 python3-scapy
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#pkgs[@]} packages present"
  exit 0
fi

cmd="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "deps: missing packages; run as root:"
  echo "  $cmd"
  exit 1
fi
echo "deps: installing ${missing[*]}"
# Packages such as nginx start a system service when installed: tests run
# their own instances in namespaces, so keep services from starting
# (policy-rc.d exit 101), unless the machine has its own policy already.
rcd=/usr/sbin/policy-rc.d
own_rcd=0
if [ ! -e $rcd ]; then
  printf '#!/bin/sh\nexit 101\n' >$rcd && chmod +x $rcd && own_rcd=1
fi
rc=0
apt-get update -qq || rc=1
if [ $rc = 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${missing[@]}" >/dev/null || rc=1
fi
if [ $own_rcd = 1 ]; then rm -f $rcd; fi
[ $rc = 0 ] || { echo "deps: apt-get install failed"; exit 1; }
echo "deps: done"
