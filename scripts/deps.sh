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
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
