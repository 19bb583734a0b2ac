#!/usr/bin/python3
"""Captures for the `weir replay` tests, made with scapy.

Every packet is built by scapy with fixed fields and fixed timestamps, so
the files are the same on every run. Each scenario returns a list of
frames (time in ns, IP packet bytes or a whole non-IP frame); write_pcap()
and write_pcapng() put them in a file with the link type asked for,
adding that link type's header.

usage: gen_pcaps.py OUTDIR   writes every scenario's capture there
"""

import os
import struct
import sys

sys.dont_write_bytecode = True  # keep the source tree clean

from scapy.all import (ARP, ICMP, IP, UDP, TCP, Ether, IPv6,  # noqa: E402
                       DNS, DNSQR, DNSRR, Raw, raw)

T0 = 1700000000 * 10**9          # capture start, ns since the epoch
HOST4, HOST6 = "192.168.1.10", "fd00::10"
SERVER4 = "10.0.0.1"

LINK_EN10MB, LINK_RAW, LINK_NULL, LINK_LOOP = 1, 101, 0, 108
LINK_SLL, LINK_SLL2, LINK_IPV4, LINK_IPV6 = 113, 276, 228, 229


class Frame:
    """One captured frame: IP bytes (ip=True) or a whole link frame."""

    def __init__(self, t_ns, data, ip=True):
        self.t_ns, self.data, self.ip = t_ns, data, ip


def sec(s):
    """Capture time s seconds after T0, in ns (exact for 1 ms steps)."""
    return T0 + int(round(s * 1000)) * 10**6


def tcp_session(t, cli, srv, sport, dport, req=b"GET / HTTP/1.0\r\n\r\n",
                resp=b"HTTP/1.0 200 OK\r\n\r\nhello", step=0.01):
    """A whole TCP connection: handshake, request, answer, both FINs."""
    L3 = IPv6 if ":" in cli else IP
    c2s = L3(src=cli, dst=srv)
    s2c = L3(src=srv, dst=cli)
    cs, ss = 1000, 5000
    pkts = [
        c2s / TCP(sport=sport, dport=dport, flags="S", seq=cs),
        s2c / TCP(sport=dport, dport=sport, flags="SA", seq=ss, ack=cs + 1),
        c2s / TCP(sport=sport, dport=dport, flags="A", seq=cs + 1,
                  ack=ss + 1),
        c2s / TCP(sport=sport, dport=dport, flags="PA", seq=cs + 1,
                  ack=ss + 1) / Raw(req),
        s2c / TCP(sport=dport, dport=sport, flags="PA", seq=ss + 1,
                  ack=cs + 1 + len(req)) / Raw(resp),
        c2s / TCP(sport=sport, dport=dport, flags="FA", seq=cs + 1 + len(req),
                  ack=ss + 1 + len(resp)),
        s2c / TCP(sport=dport, dport=sport, flags="FA", seq=ss + 1 + len(resp),
                  ack=cs + 2 + len(req)),
        c2s / TCP(sport=sport, dport=dport, flags="A", seq=cs + 2 + len(req),
                  ack=ss + 2 + len(resp)),
    ]
    return [Frame(sec(t + i * step), raw(p)) for i, p in enumerate(pkts)]


def syn(t, src, dst, sport, dport):
    L3 = IPv6 if ":" in src else IP
    return Frame(sec(t), raw(L3(src=src, dst=dst) /
                             TCP(sport=sport, dport=dport, flags="S",
                                 seq=100)))


def arp_frame(t):
    return Frame(sec(t), raw(Ether(src="02:00:00:00:00:01",
                                   dst="ff:ff:ff:ff:ff:ff") /
                             ARP(psrc=HOST4, pdst="192.168.1.1")), ip=False)


def basic():
    """A host (HOST4, HOST6) that tries telnet, browses, resolves a name,
    pings, forwards one telnet attempt, and is reached on ssh."""
    f = [syn(0, HOST4, "10.0.0.23", 40001, 23),
         syn(1, HOST4, "10.0.0.23", 40001, 23)]          # retransmission
    f += tcp_session(2, HOST4, "93.184.216.34", 40002, 80)
    q = IP(src=HOST4, dst="8.8.8.8") / UDP(sport=5353, dport=53) / \
        DNS(id=7, rd=1, qd=DNSQR(qname="example.com"))
    a = IP(src="8.8.8.8", dst=HOST4) / UDP(sport=53, dport=5353) / \
        DNS(id=7, qr=1, qd=DNSQR(qname="example.com"),
            an=DNSRR(rrname="example.com", rdata="93.184.216.34"))
    f += [Frame(sec(3), raw(q)), Frame(sec(3.02), raw(a))]
    f += [Frame(sec(4), raw(IP(src=HOST4, dst="8.8.8.8") /
                            ICMP(type=8, id=9, seq=1) / Raw(b"ping"))),
          Frame(sec(4.01), raw(IP(src="8.8.8.8", dst=HOST4) /
                               ICMP(type=0, id=9, seq=1) / Raw(b"ping")))]
    f += [syn(5, "10.1.1.1", "10.2.2.2", 40003, 23)]   # forwarded
    f += [arp_frame(5.5)]
    f += tcp_session(6, HOST6, "2001:db8::1", 40004, 443)
    f += [syn(7, HOST6, "2001:db8::23", 40005, 23)]
    f += [syn(8, "203.0.113.5", HOST4, 50000, 22)]     # inbound ssh
    return f


def portscan():
    """10.6.6.6 scans 30 ports of SERVER4 in 2 s and then tries the web;
    10.0.0.50 makes three ordinary web connections meanwhile."""
    f = []
    for i in range(30):
        f.append(syn(i * 2.0 / 30, "10.6.6.6", SERVER4, 40000 + i, 1000 + i))
    for k in range(3):
        f += tcp_session(0.05 + k * 0.7, "10.0.0.50", SERVER4, 50000 + k, 80)
    f.append(syn(3, "10.6.6.6", SERVER4, 40100, 80))
    f.sort(key=lambda fr: fr.t_ns)
    return f


def udp_msg(t, payload, sport=5000):
    return Frame(sec(t), raw(IP(src="10.0.0.2", dst=SERVER4) /
                             UDP(sport=sport, dport=9999) / Raw(payload)))


def pend():
    """Commands to the holdtest plug-in (tests/replay/holdtest.c)."""
    return [udp_msg(0, b"HOLD a"), udp_msg(0.1, b"HOLD b"),
            udp_msg(0.5, b"FREE"),                 # a and b go on
            udp_msg(1, b"HOLD c"),                 # times out at 6 s
            udp_msg(7, b"PING"),
            udp_msg(8, b"HOLD d"), udp_msg(8.5, b"SWAP"),  # d -> SWAP bytes
            udp_msg(9, b"HOLD e"), udp_msg(9.1, b"KILL"),  # e blocked
            udp_msg(9.5, b"HOLD f")]               # ends with the capture


def gateway():
    """Through a gateway between lan0 (192.168.0.0/16) and wan0: a LAN
    web session, an unsolicited WAN connection, a spoofed source, a UDP
    datagram with its ICMP error, and an answer after the flow expired."""
    f = tcp_session(0, HOST4, "93.184.216.34", 40002, 80)
    f += [syn(1, "198.51.100.7", "192.168.1.20", 50000, 22),
          syn(2, "10.9.9.9", "192.168.1.20", 50001, 80)]
    u = IP(src=HOST4, dst="93.184.216.34") / UDP(sport=5000, dport=9) / \
        Raw(b"discard me")
    err = IP(src="93.184.216.34", dst=HOST4) / ICMP(type=3, code=3) / u
    late = IP(src="93.184.216.34", dst=HOST4) / UDP(sport=9, dport=5000) / \
        Raw(b"too late")
    f += [Frame(sec(3), raw(u)), Frame(sec(3.01), raw(err)),
          Frame(sec(200), raw(late))]   # UDP flows end after 60 s
    return f


SCENARIOS = {"basic": (basic, LINK_EN10MB), "portscan": (portscan, LINK_RAW),
             "pend": (pend, LINK_RAW), "gateway": (gateway, LINK_RAW)}


# ---- injection by the shipped callouts (tcpreset, dnssink, rewrite) ------

REMOTE4, REMOTE6 = "10.0.0.9", "2001:db8::9"
RESOLVER4, RESOLVER6 = "8.8.8.8", "2001:4860::8888"


def inject_tcpreset():
    """For tcpreset.weir (ports 8081-8083 reset): a local client's SYN,
    a remote client's SYN to the host, a forwarded SYN, a local data
    segment, an IPv6 SYN; then a SYN to an open port and a RST to a
    reset port, which are not answered."""
    data = IP(src=HOST4, dst=REMOTE4) / TCP(sport=40004, dport=8081,
                                            flags="PA", seq=1000,
                                            ack=5000) / Raw(b"0123456789")
    return [syn(0, HOST4, REMOTE4, 40001, 8081),
            syn(1, "203.0.113.5", HOST4, 40002, 8082),
            syn(2, "10.1.1.1", "10.2.2.2", 40003, 8083),
            Frame(sec(3), raw(data)),
            syn(4, HOST6, REMOTE6, 40005, 8081),
            syn(5, HOST4, REMOTE4, 40006, 80),
            Frame(sec(6), raw(IP(src=HOST4, dst=REMOTE4) /
                              TCP(sport=40007, dport=8081, flags="R",
                                  seq=77)))]


def dns_query(t, qname, qtype="A", src=HOST4, dst=RESOLVER4, qid=7,
              sport=5353):
    L3 = IPv6 if ":" in src else IP
    return Frame(sec(t), raw(L3(src=src, dst=dst) /
                             UDP(sport=sport, dport=53) /
                             DNS(id=qid, rd=1,
                                 qd=DNSQR(qname=qname, qtype=qtype))))


def inject_dnssink():
    """For dnssink.weir (ads.example, *.tracker.example, .sink.example):
    listed and unlisted names, a 0x20-cased name, a non-address type, a
    forwarded query, an IPv6 query, and a resolver's answer."""
    ans = IP(src=RESOLVER4, dst=HOST4) / UDP(sport=53, dport=5353) / \
        DNS(id=30, qr=1, qd=DNSQR(qname="example.com"),
            an=DNSRR(rrname="example.com", rdata="93.184.216.34"))
    return [dns_query(0, "ads.example", qid=21),
            dns_query(1, "x.Tracker.Example", "AAAA", qid=22),
            dns_query(2, "tracker.example", qid=23),
            dns_query(3, "sink.example", qid=24),
            dns_query(4, "ads.example", "MX", qid=25),
            dns_query(5, "a.b.sink.example", src="10.1.1.1", qid=26,
                      sport=33000),
            dns_query(6, "ads.example", "AAAA", src=HOST6, dst=RESOLVER6,
                      qid=27),
            dns_query(7, "example.com", qid=28),
            Frame(sec(7.01), raw(ans))]


def inject_rewrite():
    """For rewrite.weir: SYNs whose MSS is above and below the clamp
    (forwarded, IPv4 and IPv6), UDP datagrams to port 9999 with and
    without the text to replace (outbound, inbound, IPv6), and one with
    TTL 33 already."""
    opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (7, 0)),
            ("NOP", None), ("WScale", 7)]
    f = [Frame(sec(0), raw(IP(src="10.1.1.1", dst="10.2.2.2") /
                           TCP(sport=40001, dport=80, flags="S", seq=100,
                               options=opts))),
         Frame(sec(1), raw(IPv6(src="2001:db8:1::1", dst="2001:db8:2::2") /
                           TCP(sport=40002, dport=80, flags="S", seq=200,
                               options=[("MSS", 1440)]))),
         Frame(sec(2), raw(IP(src="10.1.1.1", dst="10.2.2.2") /
                           TCP(sport=40003, dport=80, flags="S", seq=300,
                               options=[("MSS", 1000)])))]
    for i, (src, dst, load) in enumerate([
            (HOST4, REMOTE4, b"hello, and hello again"),
            (REMOTE4, HOST4, b"why hello there"),
            (HOST4, REMOTE4, b"nothing to see"),
            (HOST6, REMOTE6, b"hello6")]):
        L3 = IPv6 if ":" in src else IP
        f.append(Frame(sec(3 + i), raw(L3(src=src, dst=dst) /
                                       UDP(sport=5000 + i, dport=9999) /
                                       Raw(load))))
    f.append(Frame(sec(8), raw(IP(src=REMOTE4, dst=HOST4, ttl=33) /
                               UDP(sport=5009, dport=9999) / Raw(b"ttl"))))
    return f


SCENARIOS.update({"inject_tcpreset": (inject_tcpreset, LINK_RAW),
                  "inject_dnssink": (inject_dnssink, LINK_RAW),
                  "inject_rewrite": (inject_rewrite, LINK_RAW)})

# ---- link layers ---------------------------------------------------------


def link_header(linktype, ip, vlan=False):
    v6 = ip[0] >> 4 == 6
    etype = 0x86dd if v6 else 0x0800
    if linktype == LINK_EN10MB:
        h = bytes.fromhex("020000000002020000000001")
        if vlan:
            h += struct.pack("!HH", 0x8100, 42)
        return h + struct.pack("!H", etype)
    if linktype == LINK_SLL:
        return struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 6 + b"\0\0", etype)
    if linktype == LINK_SLL2:
        return struct.pack("!HHIHBB8s", etype, 0, 2, 1, 0, 6,
                           b"\x02" * 6 + b"\0\0")
    if linktype == LINK_NULL:
        return struct.pack("<I", 30 if v6 else 2)
    if linktype == LINK_LOOP:
        return struct.pack("!I", 24 if v6 else 2)
    return b""  # raw IP, and link types weir does not know


def frame_bytes(linktype, fr, vlan=False):
    if not fr.ip:
        return fr.data
    return link_header(linktype, fr.data, vlan) + fr.data


def write_pcap(path, linktype, frames, nano=False, vlan=False):
    """A classic pcap (little-endian), microsecond or nanosecond."""
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xa1b23c4d if nano else 0xa1b2c3d4,
                              2, 4, 0, 0, 262144, linktype))
        for fr in frames:
            if not fr.ip and linktype != LINK_EN10MB:
                continue
            data = frame_bytes(linktype, fr, vlan)
            frac = fr.t_ns % 10**9 if nano else fr.t_ns % 10**9 // 1000
            out.write(struct.pack("<IIII", fr.t_ns // 10**9, frac,
                                  len(data), len(data)) + data)


def write_pcapng(path, linktype, frames):
    """A pcapng with one interface and nanosecond timestamps."""
    def block(btype, body):
        body += b"\0" * (-len(body) % 4)
        n = len(body) + 12
        return struct.pack("<II", btype, n) + body + struct.pack("<I", n)

    with open(path, "wb") as out:
        out.write(block(0x0a0d0d0a, struct.pack("<IHHq", 0x1a2b3c4d, 1, 0,
                                                 -1)))
        tsresol = struct.pack("<HHB", 9, 1, 9) + b"\0\0\0"
        out.write(block(1, struct.pack("<HHI", linktype, 0, 262144) +
                        tsresol + struct.pack("<HH", 0, 0)))
        for fr in frames:
            data = frame_bytes(linktype, fr)
            out.write(block(6, struct.pack("<IIIII", 0, fr.t_ns >> 32,
                                           fr.t_ns & 0xffffffff, len(data),
                                           len(data)) + data))


def read_pcap(path):
    """(linktype, nano, [(t_ns, bytes, wirelen)]) of a classic pcap."""
    with open(path, "rb") as f:
        data = f.read()
    magic = data[:4]
    for end in "<>":
        m, = struct.unpack(end + "I", magic)
        if m in (0xa1b2c3d4, 0xa1b23c4d):
            break
    else:
        raise ValueError("%s: not a pcap file" % path)
    nano = m == 0xa1b23c4d
    linktype, = struct.unpack(end + "I", data[20:24])
    off, out = 24, []
    while off < len(data):
        s, frac, cap, wire = struct.unpack(end + "IIII", data[off:off + 16])
        t = s * 10**9 + (frac if nano else frac * 1000)
        out.append((t, data[off + 16:off + 16 + cap], wire))
        off += 16 + cap
    return linktype, nano, out


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, (make, link) in SCENARIOS.items():
        write_pcap(os.path.join(sys.argv[1], name + ".pcap"), link, make())
    return 0


if __name__ == "__main__":
    sys.exit(main())
