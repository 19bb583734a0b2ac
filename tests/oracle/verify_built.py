#!/usr/bin/python3
"""Dissects weir's built and rewritten packets with scapy and checks them.

usage: verify_built.py OUT_BUILT.pcap

Reads OUT_BUILT.pcap and its sidecar OUT_BUILT.pcap.expect (written by
oracle_check). Every packet must have correct checksums as scapy computes
them (IPv4 header and L4), consistent lengths, and the semantics its
sidecar line asks for: the RST, ICMP and UDP fields, the quoted bytes of
an ICMP unreachable, and for rewrites exactly the bytes of the original
with the rewrite applied (checksum fields aside, which are checked by
recomputation). Exits 1 on any mismatch.
"""

import os
import socket
import struct
import sys
from collections import Counter

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from oracle_lib import (describe, pcap_read, pseudo_fold,  # noqa: E402
                        csum_equal)

failures = Counter()
checked = Counter()


def fail(line, msg):
    failures[line.get("kind", "?")] += 1
    ops = " ops=" + line["ops"] if "ops" in line else ""
    print("BUILT-MISMATCH b=%s kind=%s orig=%s%s: %s" %
          (line.get("b"), line.get("kind"), line.get("orig"), ops, msg))


def parse_line(text):
    return dict(tok.split("=", 1) for tok in text.split() if "=" in tok)


def payload(seed, n):
    return bytes((seed * 31 + j * 7 + 1) & 0xff for j in range(n))


def dissect(line, data):
    try:
        return describe(data)
    except Exception as exc:  # scapy could not make sense of it at all
        fail(line, "scapy cannot dissect %s: %r" % (data.hex(), exc))
        return None


def check_fields(line, d, keys):
    ok = True
    for k in keys:
        if k in line and d.get(k) != line[k]:
            fail(line, "%s expected %s got %s" % (k, line[k], d.get(k)))
            ok = False
    return ok


def check_common(line, d, data, absent_ok=False, padded_ok=False):
    """Checksums and lengths of any built packet."""
    if d.get("ipcsum", "good") != "good":
        fail(line, "IPv4 header checksum is %s" % d["ipcsum"])
    l4 = d.get("l4csum")
    if l4 is not None and l4 != "good" and not (absent_ok and
                                                 l4 == "absent"):
        fail(line, "L4 checksum is %s" % l4)
    if d["truncated"] != "0":
        fail(line, "IP length %s exceeds the %d bytes built" %
             (d["iplen"], len(data)))
    elif not padded_ok and int(d["iplen"]) != len(data):
        fail(line, "IP length %s but %d bytes built" %
             (d["iplen"], len(data)))
    if "udplen" in d and int(d["udplen"]) != int(d["caplen"]) - \
            int(d["l3len"]):
        fail(line, "UDP length %s but %d bytes of IP payload" %
             (d["udplen"], int(d["caplen"]) - int(d["l3len"])))


def check_rst(line, data, refs):
    d = dissect(line, data)
    if d is None:
        return
    check_common(line, d, data)
    check_fields(line, d, ("src", "dst", "sport", "dport", "seq", "ack",
                           "tcpflags", "ttl", "plen"))
    flags = int(d.get("tcpflags", "0"), 16)
    if "flags_has" in line and not flags & int(line["flags_has"], 16):
        fail(line, "flags %#x lack %s" % (flags, line["flags_has"]))
    if "flags_allowed" in line and flags & ~int(line["flags_allowed"], 16):
        fail(line, "flags %#x beyond %s" % (flags, line["flags_allowed"]))
    if "ack_if_flag" in line and flags & 0x10 and \
            d.get("ack") != line["ack_if_flag"]:
        fail(line, "ACK set with ack %s, expected %s" %
             (d.get("ack"), line["ack_if_flag"]))


def check_unreach(line, data, refs):
    d = dissect(line, data)
    if d is None:
        return
    check_common(line, d, data)
    check_fields(line, d, ("src", "dst", "icmp_type", "icmp_code"))
    ref = refs[int(line["ref"])]
    want = ref[:int(line["qlen"])]
    got = data[int(d["l3len"]) + 8:]
    if got != want:
        n = next((i for i in range(min(len(got), len(want)))
                  if got[i] != want[i]), min(len(got), len(want)))
        fail(line, "quote of %d bytes differs from the original's first "
             "%d bytes at byte %d" % (len(got), len(want), n))


def check_udp(line, data, refs):
    d = dissect(line, data)
    if d is None:
        return
    check_common(line, d, data)
    check_fields(line, d, ("src", "dst", "sport", "dport", "ttl", "plen",
                           "l4csum"))
    if d.get("proto") != "17":
        fail(line, "protocol %s, not UDP" % d.get("proto"))
        return
    want = payload(int(line["pseed"]), int(line["plen"]))
    got = data[int(d["l3len"]) + 8:int(d["caplen"])]
    if got != want:
        fail(line, "payload differs (%d bytes, expected %d)" %
             (len(got), len(want)))

# ---- rewrites --------------------------------------------------------------


def l4_field(d):
    return {"6": 16, "17": 6, "1": 2, "58": 2}.get(d["proto"])


def mss_offset(data, l4):
    """Offset of the first MSS option's value, walking to EOL."""
    end = l4 + (data[l4 + 12] >> 4) * 4
    off = l4 + 20
    while off < end:
        kind = data[off]
        if kind == 0:
            return None
        if kind == 1:
            off += 1
            continue
        if off + 1 >= end or data[off + 1] < 2:
            return None
        if kind == 2 and data[off + 1] == 4:
            return off + 2
        off += data[off + 1]
    return None


def put16(data, off, val):
    data[off:off + 2] = struct.pack("!H", val & 0xffff)


def apply_op(op, data, d, line):
    fam = 4 if d["fam"] == "4" else 6
    af = socket.AF_INET if fam == 4 else socket.AF_INET6
    l3 = int(d["l3len"])
    if op in ("addr_src", "addr_dst"):
        a = socket.inet_pton(af, line[op])
        off = (12 if op == "addr_src" else 16) if fam == 4 else \
            (8 if op == "addr_src" else 24)
        data[off:off + len(a)] = a
    elif op in ("port_src", "port_dst"):
        put16(data, l3 + (0 if op == "port_src" else 2), int(line[op]))
    elif op == "ttl":
        data[8 if fam == 4 else 7] = int(line["ttl"])
    elif op == "mss":
        off = mss_offset(data, l3)
        if off is not None and struct.unpack("!H", data[off:off + 2])[0] \
                > int(line["mss"]):
            put16(data, off, int(line["mss"]))
    elif op == "replace":
        data = apply_replace(data, d, line, fam, l3)
    return data


def apply_replace(data, d, line, fam, l3):
    hdr = (data[l3 + 12] >> 4) * 4 if d["proto"] == "6" else 8
    start = l3 + hdr + int(line["off"])
    old, new_len = int(line["old"]), int(line["new_len"])
    new = payload(int(line["nseed_base"]), new_len)
    data = data[:start] + bytearray(new) + data[start + old:]
    delta = new_len - old
    if fam == 4:
        put16(data, 2, struct.unpack("!H", data[2:4])[0] + delta)
    else:
        put16(data, 4, struct.unpack("!H", data[4:6])[0] + delta)
    if d["proto"] == "17":
        put16(data, l3 + 4, struct.unpack("!H", data[l3 + 4:l3 + 6])[0] +
              delta)
    return data


def first_diff(a, b, masked):
    for i in range(max(len(a), len(b))):
        if i in masked:
            continue
        if i >= len(a) or i >= len(b) or a[i] != b[i]:
            return i
    return None


def check_rw(line, data, refs):
    ref = refs[int(line["ref"])]
    dref = describe(ref)
    want = bytearray(ref)
    for op in line["ops"].split(","):
        want = apply_op(op, want, dref, line)
    l3 = int(dref["l3len"])
    masked = set()
    if dref["fam"] == "4":
        masked |= {10, 11}
    if l4_field(dref) is not None and "l4csum" in dref:
        masked |= {l3 + l4_field(dref), l3 + l4_field(dref) + 1}
    n = first_diff(bytes(want), data, masked)
    if n is not None:
        fail(line, "byte %d differs: expected %s, built %s (%d vs %d "
             "bytes)" % (n, bytes(want[n:n + 8]).hex(), data[n:n + 8].hex(),
                         len(want), len(data)))
    d = dissect(line, data)
    if d is None:
        return
    # weir_pkt_replace_payload() completes a partial sum on purpose (a
    # kernel given new bytes drops its offload state; oracle_check checks
    # that csum_state becomes WEIR_CSUM_VERIFIED), as does finalize.
    ops = line["ops"].split(",")
    if line.get("partial") == "1" and "finalize" not in ops and \
            "replace" not in ops:
        check_partial(line, d, data)
        return
    check_common(line, d, data, absent_ok=dref.get("l4csum") == "absent",
                 padded_ok=True)
    if dref.get("l4csum") == "absent" and d.get("l4csum") not in (
            "absent", "good"):
        fail(line, "UDP checksum was absent, now %s" % d.get("l4csum"))


def check_partial(line, d, data):
    """A rewritten partial packet: the L4 field must still hold the
    pseudo-header sum, now of the new addresses and length."""
    d = dict(d, l4csum="good")  # checked below instead
    check_common(line, d, data, padded_ok=True)
    fold, off = pseudo_fold(data)
    stored = struct.unpack("!H", data[off:off + 2])[0]
    if not csum_equal(stored, fold):
        fail(line, "partial L4 field %#06x, pseudo-header sum is %#06x" %
             (stored, fold))


CHECKS = {"rst_src": check_rst, "rst_dst": check_rst,
          "unreach": check_unreach, "udp": check_udp, "rw": check_rw}


def main():
    if len(sys.argv) != 2:
        print("usage: %s OUT_BUILT.pcap" % sys.argv[0], file=sys.stderr)
        return 2
    packets = pcap_read(sys.argv[1])
    with open(sys.argv[1] + ".expect") as f:
        lines = [parse_line(t) for t in f if t.strip()]
    if len(lines) != len(packets):
        print("verify_built: %d packets but %d sidecar lines" %
              (len(packets), len(lines)))
        return 1
    refs = {}
    for line, data in zip(lines, packets):
        kind = line.get("kind")
        if kind == "orig":
            refs[int(line["b"])] = data
            continue
        checked[kind] += 1
        try:
            CHECKS[kind](line, data, refs)
        except Exception as exc:
            fail(line, "checker crashed: %r" % exc)
    total = sum(checked.values())
    print("verify_built: %d built packets checked (%s), %d mismatches" %
          (total, ", ".join("%s %d" % kv for kv in sorted(checked.items())),
           sum(failures.values())))
    for kind, n in sorted(failures.items()):
        print("verify_built:   %s: %d mismatches" % (kind, n))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
