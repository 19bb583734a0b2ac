#!/usr/bin/python3
"""Writes the seed corpus of fuzz_dns: DNS queries (A, AAAA, other types
and classes, EDNS, 0x20 case, the root, the longest name, compression
pointers, truncations, responses) as UDP payloads, and a few typed names
(patterns of the dnssink plug-in) as text.

Needs Debian's python3-scapy: run it as /usr/bin/python3 gen_dns_seeds.py
[DIR] (DIR defaults to corpus/dns next to this script). The output is
deterministic, so the committed seeds can be regenerated at will.
"""
import os
import sys

from scapy.all import DNS, DNSQR, DNSRR, DNSRROPT

LONG = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])  # 253 chars


def seeds():
    yield "q_a", DNS(id=0x1234, rd=1, qd=DNSQR(qname="ads.example"))
    yield "q_aaaa", DNS(id=7, rd=1, qd=DNSQR(qname="www.ads.example",
                                             qtype="AAAA"))
    yield "q_mx_0x20", DNS(id=9, qd=DNSQR(qname="wWw.ExAmPlE.CoM",
                                          qtype="MX"))
    yield "q_chaos", DNS(id=1, qd=DNSQR(qname="version.bind", qtype="TXT",
                                        qclass="CH"))
    yield "q_edns", DNS(id=2, rd=1, cd=1, qd=DNSQR(qname="tracker.example"),
                        ar=DNSRROPT(rclass=4096))
    yield "q_root", DNS(id=3, qd=DNSQR(qname=".", qtype="NS"))
    yield "q_longest", DNS(id=4, qd=DNSQR(qname=LONG))
    yield "r_answer", DNS(id=5, qr=1, qd=DNSQR(qname="example.com"),
                          an=DNSRR(rrname="example.com",
                                   rdata="93.184.216.34"))
    q = bytes(DNS(id=6, qd=DNSQR(qname="cut.example")))
    yield "q_truncated", q[:len(q) - 3]
    # A question whose name is a compression pointer to offset 12.
    yield "q_pointer", bytes.fromhex("000601000001000000000000c00c00010001")
    yield "q_two", bytes(DNS(id=8, qd=DNSQR(qname="a.example")))[:4] + \
        b"\x00\x02" + bytes(DNS(id=8, qd=DNSQR(qname="a.example")))[6:]
    yield "n_exact", b"ads.example"
    yield "n_below", b"*.Tracker.Example."
    yield "n_self_below", b".example"
    yield "n_bad", b"a..b"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "corpus", "dns")
    os.makedirs(out, exist_ok=True)
    for name, msg in seeds():
        data = bytes(msg)
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)
        print("%-14s %4d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
