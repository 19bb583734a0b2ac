#!/usr/bin/python3
"""Writes the seed corpus of fuzz_parse: a few valid IP packets as raw
binary files (IPv4/IPv6, TCP/UDP/ICMP, options, extension headers, ICMP
errors, fragments, partial checksums).

Needs Debian's python3-scapy: run it as /usr/bin/python3 gen_seeds.py [DIR]
(DIR defaults to corpus/parse next to this script). The output is
deterministic, so the committed seeds can be regenerated at will.
"""
import os
import struct
import sys

from scapy.all import (IP, IPv6, TCP, UDP, ICMP, IPOption_RR, Raw,
                       ICMPv6EchoRequest, ICMPv6PacketTooBig,
                       ICMPv6DestUnreach, IPv6ExtHdrHopByHop,
                       IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                       IPv6ExtHdrRouting, fragment)

A4, B4 = "192.0.2.10", "198.51.100.20"
A6, B6 = "2001:db8::10", "2001:db8:1::20"
SYN_OPTS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (12345, 0)),
            ("NOP", None), ("WScale", 7)]


def csum16(data):
    """Folded (uncomplemented) 16-bit one's complement sum."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return s


def partial(pkt, family, proto):
    """Raw bytes of pkt with its L4 checksum replaced by the folded,
    uncomplemented pseudo-header sum (CHECKSUM_PARTIAL as the kernel
    leaves it)."""
    raw = bytearray(bytes(pkt))
    if family == 4:
        l4 = (raw[0] & 0xf) * 4
        ph = raw[12:20] + struct.pack("!BBH", 0, proto, len(raw) - l4)
    else:
        l4 = 40
        ph = raw[8:40] + struct.pack("!IxxxB", len(raw) - l4, proto)
    off = l4 + (16 if proto == 6 else 6)
    raw[off:off + 2] = struct.pack("!H", csum16(bytes(ph)))
    return bytes(raw)


def seeds():
    pay = bytes(range(256)) * 2
    quoted_udp = IP(src=B4, dst=A4) / UDP(sport=5353, dport=53) / Raw(b"q" * 20)
    quoted_tcp6 = IPv6(src=B6, dst=A6) / TCP(sport=443, dport=50000,
                                             flags="A") / Raw(pay[:200])
    frags = fragment(IP(src=A4, dst=B4, id=7) / UDP(sport=1, dport=2) /
                     Raw(pay[:100]), fragsize=48)
    yield "v4_tcp_syn_opts", IP(src=A4, dst=B4, flags="DF") / TCP(
        sport=40000, dport=443, flags="S", seq=1000, options=SYN_OPTS)
    yield "v4_tcp_ack_data", IP(src=A4, dst=B4) / TCP(
        sport=40000, dport=443, flags="PA", seq=1001, ack=99,
        options=[("NOP", None), ("NOP", None),
                 ("Timestamp", (1, 2))]) / Raw(pay[:300])
    yield "v4_tcp_fin", IP(src=B4, dst=A4) / TCP(sport=443, dport=40000,
                                                 flags="FA", seq=5, ack=7)
    yield "v4_udp_dns", IP(src=A4, dst=B4) / UDP(sport=5353, dport=53) / Raw(
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com"
        b"\x00\x00\x01\x00\x01")
    udp0 = IP(src=A4, dst=B4) / UDP(sport=7, dport=9, chksum=0) / Raw(b"hi!")
    yield "v4_udp_nocsum", udp0
    yield "v4_icmp_echo", IP(src=A4, dst=B4) / ICMP(id=1, seq=2) / Raw(pay[:56])
    yield "v4_icmp_unreach_udp", IP(src=A4, dst=B4) / ICMP(type=3, code=3) / \
        Raw(bytes(quoted_udp)[:28 + 8])
    yield "v4_ipopt_rr_tcp", IP(src=A4, dst=B4, options=[IPOption_RR(
        routers=["0.0.0.0"] * 3)]) / TCP(sport=1, dport=2, flags="A")
    yield "v4_frag_first", frags[0]
    yield "v4_frag_later", frags[1]
    yield "v4_tcp_trailer", Raw(bytes(IP(src=A4, dst=B4) / TCP(
        sport=3, dport=4, flags="A")) + b"\0" * 6)
    yield "v4_tcp_truncated", Raw(bytes(IP(src=A4, dst=B4) / TCP(
        sport=3, dport=4, flags="PA") / Raw(pay[:100]))[:90])
    yield "v4_tcp_partial", Raw(partial(IP(src=A4, dst=B4) / TCP(
        sport=40000, dport=80, flags="PA") / Raw(pay[:64]), 4, 6))
    yield "v6_tcp_syn_opts", IPv6(src=A6, dst=B6) / TCP(
        sport=40000, dport=443, flags="S", options=SYN_OPTS)
    yield "v6_tcp_data", IPv6(src=A6, dst=B6, fl=0x12345) / TCP(
        sport=40000, dport=443, flags="PA", seq=7, ack=8) / Raw(pay[:500])
    yield "v6_udp", IPv6(src=A6, dst=B6) / UDP(sport=1234, dport=5678) / \
        Raw(pay[:100])
    yield "v6_udp_partial", Raw(partial(IPv6(src=A6, dst=B6) / UDP(
        sport=1234, dport=53) / Raw(pay[:33]), 6, 17))
    yield "v6_icmp_echo", IPv6(src=A6, dst=B6) / ICMPv6EchoRequest(
        id=3, seq=4, data=pay[:32])
    yield "v6_ext_chain_udp", IPv6(src=A6, dst=B6) / IPv6ExtHdrHopByHop() / \
        IPv6ExtHdrDestOpt() / IPv6ExtHdrFragment(id=9, m=0, offset=0) / \
        UDP(sport=1, dport=2) / Raw(b"x" * 16)
    yield "v6_routing_tcp", IPv6(src=A6, dst=B6) / IPv6ExtHdrRouting(
        type=0, addresses=[A6], segleft=0) / TCP(sport=1, dport=2, flags="A")
    yield "v6_frag_later", IPv6(src=A6, dst=B6) / IPv6ExtHdrFragment(
        id=10, m=0, offset=3, nh=17) / Raw(b"y" * 24)
    yield "v6_icmp_ptb_tcp", IPv6(src=A6, dst=B6) / ICMPv6PacketTooBig(
        mtu=1280) / Raw(bytes(quoted_tcp6))
    yield "v6_icmp_unreach_udp", IPv6(src=A6, dst=B6) / ICMPv6DestUnreach(
        code=4) / IPv6(src=B6, dst=A6) / UDP(sport=9, dport=10)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "corpus", "parse")
    os.makedirs(out, exist_ok=True)
    for name, pkt in seeds():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(bytes(pkt))
        print("%-22s %5d bytes" % (name, len(bytes(pkt))))


if __name__ == "__main__":
    main()
