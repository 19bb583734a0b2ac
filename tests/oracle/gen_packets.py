#!/usr/bin/python3
"""Generates random and edge-case raw IP packets and scapy's view of them.

usage: gen_packets.py OUT.pcap OUT.expect [--count N] [--seed S]

OUT.pcap (LINKTYPE_RAW) holds the packets; OUT.expect one line per packet
of key=value tokens saying what scapy dissects from the final bytes (see
oracle_lib.describe()). Deliberately malformed packets carry expect=error
and, when only one reading is possible, perr=<weir error name>; their
other fields are limited to what weir must still report. Tokens that are
not descriptor fields:
  i=N           packet index (0-based, pcap order)
  cat=NAME      generator category, for reading reports
  rst=ok|refuse       weir_build_tcp_rst() must succeed / return -EINVAL
  unreach=ok|refuse   same for weir_build_icmp_unreach()
  why=REASON    why unreach is refused (icmperr, later, src, dst)
  partial=1     the L4 field holds a pseudo-header sum: verify with
                partial=true (l4csum=pseudo_ok) and rewrite as
                WEIR_CSUM_PARTIAL
Everything is drawn from one seeded random.Random: same seed, same files.
"""

import argparse
import random
import struct
import sys
import os

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from oracle_lib import (IP, IPv6, TCP, UDP, ICMP, AH, Raw,  # noqa: E402
                        IPv6ExtHdrHopByHop, IPv6ExtHdrRouting,
                        IPv6ExtHdrFragment, IPv6ExtHdrDestOpt,
                        checksum, csum_equal, describe, first_l4,
                        in4_chksum, in6_chksum, pcap_write, fmt_addr,
                        v4_special, v6_special, zero_field, _ICMPv6,
                        pseudo_fold)
from scapy.layers.inet import (IPOption_NOP, IPOption_EOL,  # noqa: E402
                               IPOption_RR, IPOption_Timestamp,
                               IPOption_Router_Alert, IPOption)
from scapy.layers.inet6 import (ICMPv6DestUnreach,  # noqa: E402
                                ICMPv6PacketTooBig, ICMPv6TimeExceeded,
                                ICMPv6ParamProblem, ICMPv6EchoRequest,
                                ICMPv6EchoReply, RouterAlert, PadN)
from scapy.compat import raw  # noqa: E402

# ---- raw byte helpers ------------------------------------------------------


def put16(data, off, val):
    return data[:off] + struct.pack("!H", val & 0xffff) + data[off + 2:]


def v4_fix_csum(data):
    ihl = (data[0] & 0x0f) * 4
    ck = checksum(zero_field(data[:ihl], 10))
    return put16(data, 10, ck)


def v4_set_len(data, n):
    return v4_fix_csum(put16(data, 2, n))


def layout(data):
    """(l3_len, l4 layer, dissected packet) of a well-formed packet."""
    d = describe(data)
    pkt = IP(data) if data[0] >> 4 == 4 else IPv6(data)
    return int(d["l3len"]), first_l4(pkt), pkt


def l4_csum_off(l4):
    if isinstance(l4, TCP):
        return 16
    if isinstance(l4, UDP):
        return 6
    return 2


def l4_fixed_len(l4, data, l4_off):
    if isinstance(l4, TCP):
        return (data[l4_off + 12] >> 4) * 4
    return 8


def correct_l4_csum(data):
    """Scapy's correct L4 checksum for the whole (untruncated) packet."""
    l3_len, l4, pkt = layout(data)
    fam = data[0] >> 4
    end = (struct.unpack("!H", data[2:4])[0] if fam == 4
           else 40 + struct.unpack("!H", data[4:6])[0])
    field = l4_csum_off(l4)
    seg = zero_field(data[l3_len:end], field)
    if isinstance(l4, ICMP):
        return checksum(seg), l3_len + field, l4
    if isinstance(l4, _ICMPv6):
        return in6_chksum(58, l4, seg), l3_len + field, l4
    proto = 6 if isinstance(l4, TCP) else 17
    ck = in4_chksum(proto, pkt, seg) if fam == 4 else \
        in6_chksum(proto, l4, seg)
    if proto == 17 and ck == 0:
        ck = 0xffff
    return ck, l3_len + field, l4


def raw_fix_l4(data, l3_len, proto, field):
    """Correct L4 checksum of a packet scapy may not dissect cleanly
    (no extension headers): pseudo-header from the IP header, length
    from the declared IP length."""
    fam = data[0] >> 4
    if fam == 4:
        end = struct.unpack("!H", data[2:4])[0]
        seg = zero_field(data[l3_len:end], field)
        ck = checksum(seg) if proto == 1 else \
            in4_chksum(proto, IP(data[:l3_len]), seg)
    else:
        end = 40 + struct.unpack("!H", data[4:6])[0]
        seg = zero_field(data[l3_len:end], field)
        ck = in6_chksum(proto, IPv6(data[:40]), seg)
    return put16(data, l3_len + field, ck)


def fix_l4_csum(data):
    ck, off, _ = correct_l4_csum(data)
    return put16(data, off, ck)


def wrong_value(rng, good):
    while True:
        v = rng.randrange(0x10000)
        if not csum_equal(v, good):
            return v

# ---- random pieces ---------------------------------------------------------


class Gen:
    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.out = []

    # addresses
    def v4(self):
        r = self.rng
        kind = r.random()
        if kind < 0.3:
            return "10.%d.%d.%d" % (r.randrange(256), r.randrange(256),
                                    r.randrange(1, 255))
        if kind < 0.5:
            return "192.0.2.%d" % r.randrange(1, 255)
        first = r.choice([i for i in range(1, 224) if i not in (10, 127)])
        return "%d.%d.%d.%d" % (first, r.randrange(256), r.randrange(256),
                                r.randrange(1, 255))

    def v6(self):
        r = self.rng
        if r.random() < 0.1:
            return "fe80::%x:%x" % (r.randrange(1, 0x10000),
                                    r.randrange(0x10000))
        return "2001:db8:%x:%x::%x:%x" % (
            r.randrange(0x10000), r.randrange(0x10000),
            r.randrange(0x10000), r.randrange(1, 0x10000))

    def addrs(self, fam):
        """(src, dst), sometimes with a multicast/broadcast/unspecified."""
        r = self.rng
        pick = self.v4 if fam == 4 else self.v6
        src, dst = pick(), pick()
        x = r.random()
        if x < 0.03:
            src = r.choice(["0.0.0.0", "224.0.0.5", "239.1.2.3",
                            "255.255.255.255"] if fam == 4 else
                           ["::", "ff02::1", "ff05::1:3"])
        elif x < 0.06:
            dst = r.choice(["224.0.0.1", "239.255.255.250",
                            "255.255.255.255"] if fam == 4 else
                           ["ff02::1", "ff02::1:ff00:1"])
        return src, dst

    def payload(self, maxlen=1460):
        r = self.rng
        x = r.random()
        if x < 0.3:
            n = 0
        elif x < 0.6:
            n = r.randrange(1, 65)
        elif x < 0.85:
            n = r.randrange(65, 513)
        else:
            n = r.randrange(513, maxlen + 1)
        return bytes(r.randrange(256) for _ in range(n))

    # TCP
    def tcp_options(self):
        r = self.rng
        if r.random() < 0.25:
            return []
        opts = []
        if r.random() < 0.7:
            opts.append(("MSS", r.choice([536, 1460, 1440, 1220, 8960, 65535,
                                          0, 1, 535, 537,
                                          r.randrange(65536)])))
        if r.random() < 0.5:
            opts.append(("WScale", r.choice([0, 1, 7, 14, 15,
                                             r.randrange(256)])))
        if r.random() < 0.5:
            opts.append(("SAckOK", b""))
        if r.random() < 0.5:
            opts.append(("Timestamp", (r.randrange(1 << 32),
                                       r.randrange(1 << 32))))
        if r.random() < 0.1:
            n = r.randrange(1, 4)
            opts.append(("SAck", tuple(r.randrange(1 << 32)
                                       for _ in range(2 * n))))
        if r.random() < 0.1:
            opts.append((253, bytes(r.randrange(256)
                                    for _ in range(r.randrange(0, 7)))))
        r.shuffle(opts)
        for _ in range(r.randrange(0, 4)):
            opts.insert(r.randrange(len(opts) + 1), ("NOP", None))
        if r.random() < 0.15:
            opts.append(("EOL", None))
            if r.random() < 0.4:  # options after EOL must be ignored
                opts.append(("MSS", r.randrange(65536)))
        while opt_bytes(opts) > 40:
            opts.pop()
        return opts

    def tcp(self, opts=True):
        r = self.rng
        flags = r.choice([0x02, 0x12, 0x10, 0x18, 0x11, 0x04, 0x14, 0x01,
                          0x19, 0x29, 0xc2, r.randrange(256)])
        return TCP(sport=r.randrange(65536), dport=r.randrange(65536),
                   seq=r.randrange(1 << 32), ack=r.randrange(1 << 32),
                   flags=flags, window=r.randrange(65536),
                   urgptr=r.randrange(65536) if flags & 0x20 else 0,
                   options=self.tcp_options() if opts else [])

    def udp(self):
        r = self.rng
        return UDP(sport=r.randrange(65536), dport=r.randrange(65536))

    # IPv4
    def ip_options(self):
        r = self.rng
        if r.random() < 0.7:
            return []
        opts, size = [], 0
        cands = [lambda: IPOption_NOP(),
                 lambda: IPOption_RR(routers=[self.v4() for _ in range(
                     r.randrange(1, 5))]),
                 lambda: IPOption_Timestamp(flg=r.choice([0, 1]),
                                            internet_address=self.v4(),
                                            timestamp=r.randrange(1 << 32)),
                 lambda: IPOption_Router_Alert(),
                 lambda: IPOption(copy_flag=0, optclass=2, option=30,
                                  value=b"ab")]
        for _ in range(r.randrange(1, 5)):
            o = r.choice(cands)()
            if size + len(raw(o)) > 39:
                break
            opts.append(o)
            size += len(raw(o))
        if r.random() < 0.2:
            opts.append(IPOption_EOL())
        return opts

    def ip4(self, proto_layer, **kw):
        r = self.rng
        src, dst = self.addrs(4)
        args = dict(src=src, dst=dst, ttl=r.randrange(256),
                    tos=r.randrange(256), id=r.randrange(65536),
                    flags="DF" if r.random() < 0.5 else 0,
                    options=self.ip_options())
        args.update(kw)
        return IP(**args) / proto_layer

    # IPv6
    def ext_chain(self):
        """A random, RFC 8200 ordered extension header chain."""
        r = self.rng
        chain = []
        if r.random() < 0.6:
            return chain
        if r.random() < 0.4:
            chain.append(IPv6ExtHdrHopByHop(options=[RouterAlert()]
                                            if r.random() < 0.5 else
                                            [PadN(optdata=b"\0" * 4)]))
        if r.random() < 0.3:
            chain.append(IPv6ExtHdrDestOpt())
        if r.random() < 0.3:
            n = r.randrange(0, 4)
            chain.append(IPv6ExtHdrRouting(
                addresses=[self.v6() for _ in range(n)], segleft=0))
        if r.random() < 0.2:
            chain.append(IPv6ExtHdrFragment(id=r.randrange(1 << 32)))
        if r.random() < 0.25:
            chain.append(AH(nh=59, payloadlen=4, spi=r.randrange(1 << 32),
                            seq=r.randrange(1 << 32),
                            icv=bytes(r.randrange(256) for _ in range(12))))
        if r.random() < 0.3:
            chain.append(IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0" * 10)]))
        return chain

    def ip6(self, proto_layer, chain=None, nh=None, **kw):
        r = self.rng
        src, dst = self.addrs(6)
        args = dict(src=src, dst=dst, hlim=r.randrange(256),
                    tc=r.randrange(256), fl=r.randrange(1 << 20))
        args.update(kw)
        chain = self.ext_chain() if chain is None else chain
        if not chain and nh is not None and isinstance(proto_layer, Raw):
            args["nh"] = nh
        pkt = IPv6(**args)
        for k, ext in enumerate(chain):
            if isinstance(ext, AH):
                ext.nh = (EXT_NUM[type(chain[k + 1])] if k + 1 < len(chain)
                          else (59 if nh is None else nh))
            pkt = pkt / ext
        return raw(pkt / proto_layer)


EXT_NUM = {IPv6ExtHdrHopByHop: 0, IPv6ExtHdrRouting: 43,
           IPv6ExtHdrFragment: 44, IPv6ExtHdrDestOpt: 60, AH: 51}


def opt_bytes(opts):
    size = 0
    for name, val in opts:
        size += {"MSS": 4, "WScale": 3, "SAckOK": 2, "Timestamp": 10,
                 "NOP": 1, "EOL": 1}.get(name, 0)
        if name == "SAck":
            size += 2 + 4 * len(val)
        elif name == 253:
            size += 2 + len(val)
    return size


PROTO_OF = {"tcp": 6, "udp": 17, "icmp": 1, "icmp6": 58}

# ---- packet categories -----------------------------------------------------


def l4_for(g, kind, fam):
    r = g.rng
    pay = Raw(g.payload())
    if kind == "tcp":
        return g.tcp() / pay
    if kind == "udp":
        return g.udp() / pay
    if kind == "icmp":
        return ICMP(type=r.choice([8, 0]), id=r.randrange(65536),
                    seq=r.randrange(65536)) / pay
    cls = r.choice([ICMPv6EchoRequest, ICMPv6EchoReply])
    return cls(id=r.randrange(65536), seq=r.randrange(65536)) / pay


def make_plain(g, fam, kind):
    layer = l4_for(g, kind, fam)
    if fam == 4:
        return fix_l4_csum(raw(g.ip4(layer)))
    return fix_l4_csum(g.ip6(layer, nh=PROTO_OF[kind]))


ICMP4_ERR = [(3, list(range(16))), (11, [0, 1]), (12, [0, 1, 2]),
             (4, [0]), (5, [0, 1, 2, 3])]
ICMP6_ERR = [ICMPv6DestUnreach, ICMPv6PacketTooBig, ICMPv6TimeExceeded,
             ICMPv6ParamProblem]


def make_icmp_err(g, fam):
    """An ICMP/ICMPv6 error quoting an inner TCP or UDP packet."""
    r = g.rng
    kind = r.choice(["tcp", "udp"])
    x = r.random()
    if x < 0.06:  # quoting a non-first fragment: no quoted ports
        n = r.randrange(2, 60) * 8
        body = Raw(bytes(r.randrange(256) for _ in range(n)))
        inner = raw(g.ip4(body, proto=PROTO_OF[kind], frag=r.randrange(
            1, 8000))) if fam == 4 else g.ip6(body, chain=[
                IPv6ExtHdrFragment(nh=PROTO_OF[kind], offset=r.randrange(
                    1, 8000), m=1)])
    elif fam == 4:
        inner = make_plain(g, fam, kind)
    else:
        chain = r.choice([[], [], [], [IPv6ExtHdrHopByHop(options=[
            RouterAlert()])], [IPv6ExtHdrDestOpt()],
            [IPv6ExtHdrFragment(m=1, id=r.randrange(1 << 32))]])
        inner = fix_l4_csum(g.ip6(l4_for(g, kind, 6), chain=chain,
                                  nh=PROTO_OF[kind]))
    l3_len = int(describe(inner)["l3len"])
    minimum = l3_len + 8
    limit = 548 if fam == 4 else 1232
    x = r.random()
    if x < 0.4:
        qlen = minimum
    elif x < 0.7:
        qlen = min(len(inner), limit)
    else:
        qlen = r.randrange(minimum, max(minimum, min(len(inner), limit)) + 1)
    quote = inner[:qlen]
    if fam == 4:
        typ, codes = r.choice(ICMP4_ERR)
        rest = r.randrange(1 << 32) if r.random() < 0.5 else 0
        outer = g.ip4(ICMP(type=typ, code=r.choice(codes)) / Raw(quote),
                      options=[])
        data = raw(outer)
        l4_off = (data[0] & 15) * 4
        data = data[:l4_off + 4] + struct.pack("!I", rest) + \
            data[l4_off + 8:]
    else:
        cls = r.choice(ICMP6_ERR)
        data = g.ip6(cls(code=r.randrange(5)) / Raw(quote), chain=[])
        if r.random() < 0.5:
            data = data[:44] + struct.pack("!I", r.randrange(1 << 32)) + \
                data[48:]
    return fix_l4_csum(data)


def make_frag4(g):
    r = g.rng
    if r.random() < 0.5:  # first fragment: carries the L4 header
        kind = r.choice(["tcp", "udp", "icmp"])
        data = raw(g.ip4(l4_for(g, kind, 4), flags="MF", frag=0))
        l3_len, l4, _ = layout(data)
        hdr = l4_fixed_len(l4, data, l3_len)
        room = len(data) - l3_len
        cut = max(hdr + 7, room - r.randrange(1, 64)) // 8 * 8
        if cut < hdr:
            cut += 8
        cut = min(cut, room)
        data = v4_set_len(data[:l3_len + cut], l3_len + cut)
        return data
    mf = r.random() < 0.6
    n = r.randrange(1, 180) * 8 if mf else r.randrange(1, 1400)
    return raw(g.ip4(Raw(bytes(r.randrange(256) for _ in range(n))),
                     proto=r.choice([6, 17, 1, 6, 17]),
                     flags="MF" if mf else 0,
                     frag=r.randrange(1, 8000)))


def make_frag6(g):
    r = g.rng
    kind = r.choice(["tcp", "udp", "icmp6"])
    x = r.random()
    if x < 0.4:  # first fragment
        fh = IPv6ExtHdrFragment(m=1, offset=0, id=r.randrange(1 << 32))
        data = g.ip6(l4_for(g, kind, 6), chain=[fh], nh=PROTO_OF[kind])
        data = fix_l4_csum(data)
        l3_len, l4, _ = layout(data)
        hdr = l4_fixed_len(l4, data, l3_len)
        room = len(data) - l3_len
        cut = max(hdr + 7, room - r.randrange(1, 64)) // 8 * 8
        cut = min(cut, room)
        data = data[:l3_len + cut]
        return put16(data, 4, len(data) - 40)
    if x < 0.8:  # later fragment
        m = r.randrange(2)
        fh = IPv6ExtHdrFragment(nh=PROTO_OF[kind], m=m,
                                offset=r.randrange(1, 8000),
                                id=r.randrange(1 << 32))
        n = r.randrange(1, 180) * 8 if m else r.randrange(1, 1400)
        return g.ip6(Raw(bytes(r.randrange(256) for _ in range(n))),
                     chain=[fh])
    # atomic fragment (RFC 6946): offset 0, M clear, not a fragment
    fh = IPv6ExtHdrFragment(m=0, offset=0, id=r.randrange(1 << 32))
    return fix_l4_csum(g.ip6(l4_for(g, kind, 6), chain=[fh],
                             nh=PROTO_OF[kind]))


def make_other(g, fam):
    r = g.rng
    proto = r.choice([47, 50, 132, 89, 59])
    body = Raw(bytes(r.randrange(256) for _ in range(r.randrange(0, 200))))
    if fam == 4:
        return raw(g.ip4(body, proto=proto))
    return g.ip6(body, chain=[], nh=proto)


def make_partial(g, fam):
    """A TCP/UDP packet as an offloading stack hands it over: the L4
    field holds the folded pseudo-header sum (WEIR_CSUM_PARTIAL)."""
    r = g.rng
    data = make_plain(g, fam, r.choice(["tcp", "udp"]))
    fold, off = pseudo_fold(data)
    bad = r.random() < 0.2
    data = put16(data, off, wrong_value(r, fold) if bad else fold)
    return data, "bad" if bad else "pseudo_ok"


def make_rh_segleft(g):
    """IPv6 routing header with segments left: pseudo-header uses the
    final destination (RFC 8200 8.1)."""
    r = g.rng
    kind = r.choice(["tcp", "udp", "icmp6"])
    addrs = [g.v6() for _ in range(r.randrange(1, 4))]
    rh = IPv6ExtHdrRouting(addresses=addrs, segleft=r.randrange(1, 1 + len(
        addrs)))
    return fix_l4_csum(g.ip6(l4_for(g, kind, 6), chain=[rh],
                             nh=PROTO_OF[kind]))

# ---- mutations of well-formed packets --------------------------------------


def mutate(g, data, cat):
    """Wrong checksums, truncation and trailing padding."""
    r = g.rng
    fam = data[0] >> 4
    d = describe(data)
    notes = []
    has_l4 = "l4csum" in d
    udp = d.get("proto") == "17" and has_l4
    if d.get("icmp_err") == "1" and fam == 4 and r.random() < 0.1:
        off = int(d["l3len"]) + 8 + 10
        inner = data[off - 10:off - 10 + (data[off - 10] & 15) * 4]
        good = checksum(zero_field(inner, 10))
        data = fix_l4_csum(put16(data, off, wrong_value(r, good)))
        notes.append("badinner")
    if has_l4 and r.random() < 0.15:
        ck, off, _ = correct_l4_csum(data)
        data = put16(data, off, wrong_value(r, ck))
        notes.append("badl4")
    elif udp and fam == 4 and d["isfrag"] == "0" and r.random() < 0.06:
        ck, off, _ = correct_l4_csum(data)
        data = put16(data, off, 0)
        notes.append("udp0")
    elif udp and fam == 6 and r.random() < 0.03:
        ck, off, _ = correct_l4_csum(data)
        data = put16(data, off, 0)
        notes.append("udp6zero")
    if fam == 4 and r.random() < 0.08:
        ihl = (data[0] & 15) * 4
        good = checksum(zero_field(data[:ihl], 10))
        data = put16(data, 10, wrong_value(r, good))
        notes.append("badip")
    x = r.random()
    if x < 0.10 and "udp0" not in notes:
        data, ok = truncate(g, data, d)
        if ok:
            notes.append("trunc")
    elif x < 0.15:
        data = data + bytes(r.randrange(256)
                            for _ in range(r.randrange(1, 24)))
        notes.append("pad")
    return data, cat + ("+" + "+".join(notes) if notes else "")


def keep_len(data, d):
    """Bytes a truncation must keep for the parse to still succeed."""
    l3_len = int(d["l3len"])
    if d.get("later") == "1" or ("sport" not in d and "icmp_type" not in d):
        return l3_len
    l3, l4, _ = layout(data)
    need = l3_len + l4_fixed_len(l4, data, l3_len)
    if d.get("icmp_err") == "1":
        q = l3_len + 8
        inner_l3 = (data[q] & 15) * 4 if d["inner_fam"] == "4" else 40
        need = q + inner_l3 + 8
    return need


def truncate(g, data, d):
    end = int(d["caplen"])
    need = keep_len(data, d)
    if end - need < 1:
        return data, False
    return data[:g.rng.randrange(need, end)], True

# ---- malformed packets -----------------------------------------------------


def safe(data, stage):
    """Fields weir must report even though parsing fails at `stage`."""
    d = {}
    fam = data[0] >> 4
    d["fam"] = str(fam)
    if stage == "fam":
        return d
    d["src"] = fmt_addr(IP(data[:20]).src if fam == 4 else
                        IPv6(data[:40]).src, fam)
    d["dst"] = fmt_addr(IP(data[:20]).dst if fam == 4 else
                        IPv6(data[:40]).dst, fam)
    if stage == "l3":
        return d
    d["proto"] = str(data[9] if fam == 4 else data[6])
    if fam == 4:
        d["ipcsum"] = "good"
    return d


def base(g, fam, kind, chain=None):
    layer = l4_for(g, kind, fam)
    if fam == 4:
        return fix_l4_csum(raw(g.ip4(layer, options=[])))
    return fix_l4_csum(g.ip6(layer, chain=[] if chain is None else chain,
                             nh=PROTO_OF[kind]))


def mal_short(g):
    r = g.rng
    fam = r.choice([4, 6])
    data = base(g, fam, "udp")
    n = r.randrange(0, 20 if fam == 4 else 40)
    if n == 0:
        n = r.choice([0, 1])
    return data[:n], "short", None


def mal_version(g):
    r = g.rng
    data = base(g, 4, "tcp")
    v = r.choice([0, 1, 2, 3, 5, 7, 8, 15])
    return bytes([(v << 4) | (data[0] & 15)]) + data[1:], "version", None


def mal_ihl(g):
    r = g.rng
    if r.random() < 0.5:
        data = base(g, 4, "tcp")
        data = bytes([0x40 | r.randrange(5)]) + data[1:]
        return data, "ihl", "fam"
    # options cut by the capture: IHL past the end of the data
    data = fix_l4_csum(raw(g.ip4(g.tcp() / Raw(g.payload()),
                                 options=[IPOption_RR(routers=[
                                     g.v4() for _ in range(4)])])))
    ihl = (data[0] & 15) * 4
    return data[:r.randrange(20, ihl)], "ihl", "fam"


def mal_totlen(g):
    r = g.rng
    data = base(g, 4, "udp")
    return v4_set_len(data, r.randrange(0, 20)), "totlen", "fam"


IPOPT_BAD = [b"\x07\x00\x00\x00", b"\x01\x44\x01\x00",
             b"\x07\x0b\x04\x00\x00\x00\x00\x00",
             b"\x01\x01\x01\x94\x06\x00\x00\x00",
             b"\x83\x01\x00\x00"]


def mal_ipopt(g):
    r = g.rng
    data = base(g, 4, r.choice(["tcp", "udp"]))
    opt = r.choice(IPOPT_BAD)
    data = bytes([0x40 | (5 + len(opt) // 4)]) + data[1:20] + opt + data[20:]
    return v4_set_len(data, len(data)), "ipopt", "l3"


def mal_exthdr(g):
    r = g.rng
    chain = [IPv6ExtHdrHopByHop(options=[RouterAlert()]),
             IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\0" * 20)])]
    data = base(g, 6, "tcp", chain=chain[:r.randrange(1, 3)])
    l3_len = int(describe(data)["l3len"])
    if r.random() < 0.7:  # capture ends inside the chain
        return data[:r.randrange(41, l3_len)], "exthdr", "l3"
    # declared payload length ends inside the chain: TOTLEN or EXTHDR
    return put16(data, 4, r.randrange(1, l3_len - 40)), None, "l3"


def mal_extlimit(g):
    n = 9
    chain = [IPv6ExtHdrDestOpt() for _ in range(n)]
    return base(g, 6, "udp", chain=chain), "extlimit", "l3"


def mal_l4short(g):
    r = g.rng
    fam = r.choice([4, 6])
    kind = r.choice(["tcp", "udp", "icmp" if fam == 4 else "icmp6"])
    data = base(g, fam, kind)
    l3_len = 20 if fam == 4 else 40
    n = r.randrange(0, {"tcp": 20, "udp": 8}.get(kind, 4))
    data = data[:l3_len + n]
    if r.random() < 0.5:  # declared length says so as well
        data = v4_set_len(data, len(data)) if fam == 4 else \
            put16(data, 4, n)
    return data, "l4short", "l4"


def mal_tcpoff(g):
    r = g.rng
    fam = r.choice([4, 6])
    data = base(g, fam, "tcp")
    l3_len = int(describe(data)["l3len"])
    seg = len(data) - l3_len
    if r.random() < 0.5 or seg >= 60:
        off = r.randrange(5)
    else:
        off = r.randrange(seg // 4 + 1, 16)
    o = l3_len + 12
    data = data[:o] + bytes([(off << 4) | (data[o] & 15)]) + data[o + 1:]
    return raw_fix_l4(data, l3_len, 6, 16), "tcpoff", "l4"


TCPOPT_BAD = [b"\x02\x01\x05\xb4", b"\x08\x00\x01\x01",
              b"\x01\x01\x03\x05", b"\x02\x04\x05\xb4\x01\x08\x0c\x00",
              b"\x04\x00\x00\x00", b"\x01\x01\x1e\x09\x00\x00\x00\x00",
              b"\x02\x04\x05\xb4\x03\x00\x00\x00"]


def mal_tcpopt(g):
    r = g.rng
    fam = r.choice([4, 6])
    layer = g.tcp(opts=False) / Raw(g.payload())
    data = raw(g.ip4(layer, options=[])) if fam == 4 else \
        g.ip6(layer, chain=[], nh=6)
    l3_len = 20 if fam == 4 else 40
    opt = r.choice(TCPOPT_BAD)
    o = l3_len + 12
    data = data[:o] + bytes([((5 + len(opt) // 4) << 4) | (data[o] & 15)]) + \
        data[o + 1:l3_len + 20] + opt + data[l3_len + 20:]
    data = v4_set_len(data, len(data)) if fam == 4 else \
        put16(data, 4, len(data) - 40)
    return raw_fix_l4(data, l3_len, 6, 16), "tcpopt", "l4"


def mal_udplen(g):
    r = g.rng
    fam = r.choice([4, 6])
    data = base(g, fam, "udp")
    l3_len = 20 if fam == 4 else 40
    if r.random() < 0.5:
        n = r.randrange(8)
    else:
        n = len(data) - l3_len + r.randrange(1, 100)
    return put16(data, l3_len + 4, n), "udplen", "l4"


def mal_inner(g):
    r = g.rng
    fam = r.choice([4, 6])
    inner = base(g, fam, "tcp")
    x = r.random()
    if x < 0.6:
        quote = inner[:r.randrange(0, 20 if fam == 4 else 40)]
    elif fam == 4:  # quoted IHL < 5 or version not 4
        quote = bytes([r.choice([0x42, 0x44, 0x65, 0x05])]) + inner[1:28]
    else:
        quote = bytes([0x45]) + inner[1:48]
    if fam == 4:
        data = raw(g.ip4(ICMP(type=3, code=r.randrange(16)) / Raw(quote),
                         options=[]))
    else:
        data = g.ip6(ICMPv6DestUnreach(code=r.randrange(5)) / Raw(quote),
                     chain=[])
    return data, "inner", "l4"


def mal_tcpopt_cut(g):
    """TCP options cut by the capture: TCPOFF or L4SHORT, both errors."""
    fam = g.rng.choice([4, 6])
    layer = TCP(options=[("MSS", 1460), ("SAckOK", b""),
                         ("Timestamp", (1, 2)), ("WScale", 7)])
    data = fix_l4_csum(raw(g.ip4(layer, options=[])) if fam == 4 else
                       g.ip6(layer, chain=[], nh=6))
    l3_len = 20 if fam == 4 else 40
    return data[:l3_len + g.rng.randrange(21, 40)], None, "l4"


MALFORMED = [(mal_short, 2), (mal_version, 1), (mal_ihl, 2), (mal_totlen, 1),
             (mal_ipopt, 2), (mal_exthdr, 2), (mal_extlimit, 1),
             (mal_l4short, 3), (mal_tcpoff, 2), (mal_tcpopt, 3),
             (mal_udplen, 2), (mal_inner, 2), (mal_tcpopt_cut, 1)]

# ---- edge cases --------------------------------------------------------------


def zero_sum_packet(fam, make):
    """make(word) -> packet bytes whose L4 payload starts with the 16-bit
    word; returns a packet whose computed L4 checksum is 0 (before UDP's
    0 -> 0xffff rule). Picks the word that cancels the rest of the sum."""
    def computed(data):
        seg = zero_field(data[l3:], field)
        if fam == 4:
            return in4_chksum(proto, IP(data), seg)
        return in6_chksum(proto, IPv6(data), seg)
    data = make(0)
    l3 = 20 if fam == 4 else 40
    proto = data[9] if fam == 4 else data[6]
    field = 16 if proto == 6 else 6
    data = make(computed(data))
    assert computed(data) == 0
    return data, l3 + field


def udp_csum_zero_computed(g, fam):
    """A UDP datagram whose computed checksum is 0, sent as 0xffff."""
    def make(word):
        layer = UDP(sport=1000, dport=2000) / Raw(struct.pack("!H", word) +
                                                  b"z")
        return raw(IP(src="10.0.0.1", dst="10.0.0.2") / layer) if fam == 4 \
            else raw(IPv6(src="2001:db8::1", dst="2001:db8::2") / layer)
    data, off = zero_sum_packet(fam, make)
    return put16(data, off, 0xffff)


def tcp_csum_zero(fam, stored):
    """A TCP segment whose correct checksum is 0 (stored as `stored`)."""
    def make(word):
        layer = TCP(sport=1, dport=2, seq=3) / Raw(struct.pack("!H", word))
        return raw(IP(src="10.0.0.1", dst="10.0.0.2") / layer) if fam == 4 \
            else raw(IPv6(src="2001:db8::1", dst="2001:db8::2") / layer)
    data, off = zero_sum_packet(fam, make)
    return put16(data, off, stored)


def edge_cases(g):
    out = []
    add = out.append
    add(("edge_min_tcp4", raw(IP(src="10.0.0.1", dst="10.0.0.2") / TCP())))
    add(("edge_min_udp4", raw(IP(src="10.0.0.1", dst="10.0.0.2") / UDP())))
    add(("edge_min_icmp4", raw(IP(src="10.0.0.1", dst="10.0.0.2") / ICMP())))
    add(("edge_min_tcp6", raw(IPv6(src="2001:db8::1", dst="2001:db8::2") /
                              TCP())))
    add(("edge_min_udp6", raw(IPv6(src="2001:db8::1", dst="2001:db8::2") /
                              UDP())))
    add(("edge_min_icmp6", raw(IPv6(src="2001:db8::1", dst="2001:db8::2") /
                               ICMPv6EchoRequest())))
    add(("edge_udp_csum_ffff4", udp_csum_zero_computed(g, 4)))
    add(("edge_udp_csum_ffff6", udp_csum_zero_computed(g, 6)))
    add(("edge_tcp_csum_0", tcp_csum_zero(4, 0)))
    add(("edge_tcp_csum_ffff_for_0", tcp_csum_zero(4, 0xffff)))
    add(("edge_tcp6_csum_ffff_for_0", tcp_csum_zero(6, 0xffff)))
    full = [("MSS", 1460), ("NOP", None), ("WScale", 7), ("SAckOK", b""),
            ("Timestamp", (0xdeadbeef, 0x01020304)), ("NOP", None),
            ("SAck", (1, 2, 3, 4))]
    add(("edge_tcp_opts_40", fix_l4_csum(raw(
        IP(src="10.1.1.1", dst="10.2.2.2") / TCP(flags="S", options=full)))))
    add(("edge_tcp_eol_then_mss", fix_l4_csum(raw(
        IP(src="10.1.1.1", dst="10.2.2.2") /
        TCP(flags="S", options=[("EOL", None), ("MSS", 9000)])))))
    add(("edge_ipopt_40", raw(IP(src="10.1.1.1", dst="10.2.2.2",
                                 options=[IPOption_RR(routers=["1.1.1.1"] * 9)])
                              / UDP(sport=5, dport=6))))
    add(("edge_ipopt_eol_garbage", v4_fix_csum(
        bytes([0x46]) + raw(IP(src="10.1.1.1", dst="10.2.2.2", len=32) /
                            UDP(sport=5, dport=6, len=8))[1:20] +
        b"\x00\x07\x01\x00" + raw(UDP(sport=5, dport=6, len=8,
                                      chksum=0)))))
    chain8 = [IPv6ExtHdrDestOpt() for _ in range(8)]
    add(("edge_ext8", fix_l4_csum(g.ip6(TCP(flags="S"), chain=chain8, nh=6))))
    big = raw(IP(src="10.9.9.9", dst="10.8.8.8") / UDP(sport=9, dport=9) /
              Raw(b"\xab" * (65535 - 28)))
    add(("edge_udp_65535", big))
    add(("edge_icmp_err_full_576", None))
    # IPv6 with an empty payload (no next header), padded as Ethernet
    # pads a 40-byte packet to its 46-byte minimum: plen=0 is not a
    # jumbogram (RFC 2675 jumbograms carry more than 65535 bytes).
    add(("edge_v6_plen0_padded", raw(IPv6(src="2001:db8::1",
                                          dst="2001:db8::2", nh=59)) +
         b"\0" * 6))
    # Rewrites whose correct UDP checksum comes out as 0, which must be
    # sent as 0xffff (0 = "no checksum", RFC 768); oracle_check sets the
    # source port to 40000 + i % 20000 and the source address to
    # 198.51.100.(i % 254 + 1) / 2001:db8:ffff::(i + 1).
    for fam in (4, 6):
        add(("edge_udp_port_to_csum0", udp_rewrite_to_zero(
            fam, len(out), "port")))
        add(("edge_udp_addr_to_csum0", udp_rewrite_to_zero(
            fam, len(out), "addr")))
    return out


def udp_rewrite_to_zero(fam, idx, what):
    """A UDP datagram whose checksum is 0 after oracle_check's rewrite."""
    new_port = 40000 + idx % 20000
    new_src = "198.51.100.%d" % (idx % 254 + 1) if fam == 4 else \
        "2001:db8:ffff::%x:%x" % ((idx + 1) >> 16, (idx + 1) & 0xffff)
    src = "10.0.0.1" if fam == 4 else "2001:db8::1"
    dst = "10.0.0.2" if fam == 4 else "2001:db8::2"

    def make(word, after=True):
        sport = new_port if after and what == "port" else 1000
        a = new_src if after and what == "addr" else src
        layer = UDP(sport=sport, dport=2000) / Raw(struct.pack("!H", word)
                                                   + b"zz")
        return raw((IP(src=a, dst=dst) if fam == 4 else
                    IPv6(src=a, dst=dst)) / layer)
    data, _ = zero_sum_packet(fam, make)
    word = struct.unpack("!H", data[(20 if fam == 4 else 40) + 8:][:2])[0]
    return fix_l4_csum(make(word, after=False))


def full_576(g):
    inner = raw(IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2) /
                Raw(b"q" * 1200))
    return raw(IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=3, code=3) /
               Raw(inner[:548]))

# ---- expectations ----------------------------------------------------------


def expectation(data, perr, stage):
    if perr in ("pseudo_ok", "bad"):  # partial checksum
        d = describe(data)
        d["l4csum"] = perr
        d["partial"] = "1"
        d.update(builder_expect(d))
        return d
    if perr is not False:  # malformed
        d = {"expect": "error"}
        if perr:
            d["perr"] = perr
        if stage:
            d.update(safe(data, stage))
        return d
    d = describe(data)
    d.update(builder_expect(d))
    return d


def builder_expect(d):
    e = {}
    if d.get("proto") == "6" and d.get("isfrag") == "0":
        e["rst"] = "refuse" if int(d["tcpflags"], 16) & 0x04 else "ok"
    why = None
    if d.get("icmp_err") == "1":
        why = "icmperr"
    elif d.get("later") == "1":
        why = "later"
    elif (v4_special if d["fam"] == "4" else v6_special)(d["src"]):
        why = "src"
    elif (v4_special if d["fam"] == "4" else v6_special)(d["dst"]) and \
            d["dst"] != "0.0.0.0" and d["dst"] != "::":
        why = "dst"
    e["unreach"] = "refuse" if why else "ok"
    if why:
        e["why"] = why
    return e


def line(i, cat, d):
    toks = ["i=%d" % i, "cat=%s" % cat]
    toks += ["%s=%s" % (k, v) for k, v in d.items()]
    return " ".join(toks)


def generate(count, seed):
    g = Gen(seed)
    r = g.rng
    pkts = []
    for cat, data in edge_cases(g):
        if data is None:
            data = full_576(g)
        pkts.append((cat, data, False, None))
    plain = [("v4_tcp", 16), ("v4_udp", 9), ("v4_icmp_echo", 4),
             ("v4_icmp_err", 7), ("v4_frag", 6), ("v4_other", 1),
             ("v6_tcp", 13), ("v6_udp", 8), ("v6_icmp_echo", 4),
             ("v6_icmp_err", 7), ("v6_frag", 5), ("v6_other", 1),
             ("v6_rh_segleft", 1), ("v4_partial", 2), ("v6_partial", 2),
             ("malformed", 18)]
    names = [c for c, w in plain for _ in range(w)]
    mal = [f for f, w in MALFORMED for _ in range(w)]
    while len(pkts) < count:
        cat = r.choice(names)
        if cat == "malformed":
            f = r.choice(mal)
            data, perr, stage = f(g)
            pkts.append(("mal_" + f.__name__[4:], data, perr, stage))
            continue
        fam = 4 if cat.startswith("v4") else 6
        kind = cat[3:]
        if kind == "partial":
            data, verdict = make_partial(g, fam)
            pkts.append((cat, data, verdict, None))
            continue
        if kind in ("tcp", "udp"):
            data = make_plain(g, fam, kind)
        elif kind == "icmp_echo":
            data = make_plain(g, fam, "icmp" if fam == 4 else "icmp6")
        elif kind == "icmp_err":
            data = make_icmp_err(g, fam)
        elif kind == "frag":
            data = make_frag4(g) if fam == 4 else make_frag6(g)
        elif kind == "rh_segleft":
            data = make_rh_segleft(g)
        else:
            data = make_other(g, fam)
        data, cat = mutate(g, data, cat)
        pkts.append((cat, data, False, None))
    return pkts[:count]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("pcap")
    ap.add_argument("expect")
    ap.add_argument("--count", type=int, default=4000)
    ap.add_argument("--seed", type=int, default=20240601)
    args = ap.parse_args()
    pkts = generate(args.count, args.seed)
    lines = []
    for i, (cat, data, perr, stage) in enumerate(pkts):
        lines.append(line(i, cat, expectation(data, perr, stage)))
    pcap_write(args.pcap, [p[1] for p in pkts])
    with open(args.expect, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("gen_packets: %d packets (seed %d) -> %s" %
          (len(pkts), args.seed, args.pcap))


if __name__ == "__main__":
    main()
