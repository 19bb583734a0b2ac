"""Shared helpers of the scapy oracle: pcap I/O and scapy's view of a packet.

describe() dissects raw IP bytes with scapy and returns the key=value
fields that tests/oracle/oracle_check.c prints from weir's descriptor, so
that both sides can be compared token by token. Checksum verdicts are
computed with scapy's own checksum routines (checksum(), in4_chksum(),
in6_chksum()) over the bytes with the checksum field zeroed.
"""

import socket
import struct

import logging

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)

from scapy.config import conf  # noqa: E402

conf.verb = 0

from scapy.packet import Raw, Padding  # noqa: E402
from scapy.utils import checksum  # noqa: E402
from scapy.layers.inet import (IP, TCP, UDP, ICMP, IPerror,  # noqa: E402
                               in4_chksum, in4_pseudoheader)
from scapy.layers.inet6 import (IPv6, IPerror6, _IPv6ExtHdr,  # noqa: E402
                                _IPv6GuessPayload, _ICMPv6, ipv6nhcls,
                                IPv6ExtHdrHopByHop, IPv6ExtHdrRouting,
                                IPv6ExtHdrFragment, IPv6ExtHdrDestOpt,
                                in6_chksum, in6_pseudoheader)
from scapy.layers.ipsec import AH  # noqa: E402

LINKTYPE_RAW = 101
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229


# Scapy quirk: AH is only followed by IP/IPv6 in its bindings, so an
# IPv6/AH/TCP packet would end in Raw. Let AH guess like an IPv6 header.
AH.default_payload_class = _IPv6GuessPayload.default_payload_class
# Likewise an IPv6 extension header followed by AH.
ipv6nhcls[51] = AH

ICMP4_ERRORS = (3, 4, 5, 11, 12)

# ---- pcap ------------------------------------------------------------------


def pcap_write(path, packets, linktype=LINKTYPE_RAW):
    """Writes a classic pcap file (microsecond, little endian)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144,
                            linktype))
        for i, data in enumerate(packets):
            f.write(struct.pack("<IIII", 1700000000 + i // 1000,
                                (i % 1000) * 1000, len(data), len(data)))
            f.write(data)


def pcap_read(path):
    """Returns the list of packet byte strings of a classic pcap file."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 24:
        raise ValueError("%s: not a pcap file" % path)
    magic = struct.unpack("<I", blob[:4])[0]
    if magic in (0xa1b2c3d4, 0xa1b23c4d):
        endian = "<"
    elif magic in (0xd4c3b2a1, 0x4d3cb2a1):
        endian = ">"
    else:
        raise ValueError("%s: bad pcap magic %#x" % (path, magic))
    linktype = struct.unpack(endian + "I", blob[20:24])[0] & 0x0fffffff
    if linktype not in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6, 12, 14):
        raise ValueError("%s: linktype %d is not raw IP" % (path, linktype))
    out = []
    off = 24
    while off + 16 <= len(blob):
        caplen = struct.unpack(endian + "I", blob[off + 8:off + 12])[0]
        off += 16
        out.append(blob[off:off + caplen])
        off += caplen
    return out


# ---- formatting ------------------------------------------------------------


def fmt_addr(addr, fam):
    af = socket.AF_INET if fam == 4 else socket.AF_INET6
    return socket.inet_ntop(af, socket.inet_pton(af, addr))


def csum_equal(stored, computed):
    """One's complement equality: 0x0000 and 0xffff are both zero."""
    return stored == computed or {stored, computed} == {0, 0xffff}


def verdict(stored, computed):
    return "good" if csum_equal(stored, computed) else "bad"


def zero_field(data, off):
    return data[:off] + b"\0\0" + data[off + 2:]


def ext_len(layer):
    """Length in bytes of one IPv6 extension header (or AH)."""
    if isinstance(layer, IPv6ExtHdrFragment):
        return 8
    if isinstance(layer, AH):
        return (layer.payloadlen + 2) * 4
    return (layer.len + 1) * 8


EXT_TYPES = ((IPv6ExtHdrHopByHop, 0), (IPv6ExtHdrRouting, 43),
             (IPv6ExtHdrFragment, 44), (IPv6ExtHdrDestOpt, 60), (AH, 51))


def ext_type(layer):
    for cls, num in EXT_TYPES:
        if isinstance(layer, cls):
            return num
    return None


def is_l4(layer):
    return isinstance(layer, (TCP, UDP, ICMP, _ICMPv6))


def first_l4(pkt):
    """The first TCP/UDP/ICMP/ICMPv6 layer (the outer one)."""
    layer = pkt.payload
    while layer is not None and not isinstance(layer, (Raw, Padding)):
        if is_l4(layer):
            return layer
        if isinstance(layer, (IPerror, IPerror6)):
            return None
        layer = layer.payload
        if not layer:
            return None
    return None


def v4_special(addr):
    """Unspecified, multicast or limited broadcast IPv4 address."""
    first = int(addr.split(".")[0])
    return addr in ("0.0.0.0", "255.255.255.255") or 224 <= first <= 239


def v6_special(addr):
    raw = socket.inet_pton(socket.AF_INET6, addr)
    return raw == bytes(16) or raw[0] == 0xff


# ---- describe --------------------------------------------------------------


def _tcp_options(tcp, d):
    mss = wscale = ts = None
    sackok = 0
    for name, val in tcp.options:
        if name == "EOL":
            break
        if name == "MSS" and mss is None:
            mss = val
        elif name == "WScale" and wscale is None:
            wscale = val
        elif name == "SAckOK":
            sackok = 1
        elif name == "Timestamp" and ts is None:
            ts = val
    d["mss"] = "none" if mss is None else str(mss)
    d["wscale"] = "none" if wscale is None else str(wscale)
    d["sackok"] = str(sackok)
    d["ts"] = "none" if ts is None else "%d,%d" % ts


def _payload_len(hdr_len, avail):
    """Bytes of L4 payload present (captured, inside the IP length)."""
    return max(avail - hdr_len, 0)


def _l4_csum(d, pkt, l4, data, l4_off, cap_len, fam):
    """Scapy's checksum verdict of the outer L4 header."""
    if isinstance(l4, TCP):
        proto, field = 6, 16
    elif isinstance(l4, UDP):
        proto, field = 17, 6
    elif isinstance(l4, ICMP):
        proto, field = 1, 2
    else:
        proto, field = 58, 2
    stored = struct.unpack("!H", data[l4_off + field:l4_off + field + 2])[0]
    if proto == 17 and fam == 4 and stored == 0:
        return "absent"
    if d.get("isfrag") == "1" or d.get("truncated") == "1":
        return "uncheckable"
    seg = zero_field(data[l4_off:cap_len], field)
    if proto == 1:
        computed = checksum(seg)
    elif fam == 4:
        computed = in4_chksum(proto, pkt, seg)
    else:
        computed = in6_chksum(proto, l4, seg)
    if proto == 17:
        if stored == 0:
            return "bad"  # IPv6 UDP must carry a checksum
        computed = computed or 0xffff
    return verdict(stored, computed)


def _inner(d, l4, data, l4_off, cap_len):
    """Fields of the header quoted by an ICMP error."""
    inner = l4.payload
    q_off = l4_off + 8
    if isinstance(inner, IPerror):
        d["inner_fam"] = "4"
        d["inner_src"] = fmt_addr(inner.src, 4)
        d["inner_dst"] = fmt_addr(inner.dst, 4)
        d["inner_proto"] = str(inner.proto)
        ihl = inner.ihl * 4
        if cap_len - q_off >= ihl:
            hdr = zero_field(data[q_off:q_off + ihl], 10)
            d["inner_ipcsum"] = verdict(inner.chksum, checksum(hdr))
        proto, l4_q = inner.proto, q_off + ihl
        later = inner.frag != 0
    elif isinstance(inner, IPerror6):
        d["inner_fam"] = "6"
        d["inner_src"] = fmt_addr(inner.src, 6)
        d["inner_dst"] = fmt_addr(inner.dst, 6)
        layer, proto, l4_q = inner.payload, inner.nh, q_off + 40
        later = False
        while isinstance(layer, (_IPv6ExtHdr, AH)) and not later:
            proto = layer.nh
            l4_q += ext_len(layer)
            later = isinstance(layer, IPv6ExtHdrFragment) and \
                layer.offset != 0
            layer = layer.payload
        d["inner_proto"] = str(proto)
    else:
        return
    # Scapy quirk: a quoted TCP header cut inside a field is not dissected
    # at all (struct.error -> Raw), so dissect the 8 bytes RFC 792 promises.
    quoted = data[l4_q:cap_len]
    if proto in (6, 17) and 4 <= len(quoted) < 8 and not later:
        return  # ports are there, the 8 bytes RFC 792 asks for are not
    d["inner_l4"] = "0"
    if proto in (6, 17) and len(quoted) >= 8 and not later:
        l4 = (TCP if proto == 6 else UDP)(quoted[:8])
        d["inner_l4"] = "1"
        d["inner_sport"] = str(l4.sport)
        d["inner_dport"] = str(l4.dport)


def _describe_l4(d, pkt, data, fam, l3_len, cap_len):
    l4 = first_l4(pkt)
    if l4 is None:
        return
    avail = cap_len - l3_len
    if isinstance(l4, TCP):
        d["sport"], d["dport"] = str(l4.sport), str(l4.dport)
        d["tcpflags"] = "0x%02x" % int(l4.flags)
        d["seq"], d["ack"] = str(l4.seq), str(l4.ack)
        d["win"], d["urp"] = str(l4.window), str(l4.urgptr)
        _tcp_options(l4, d)
        d["plen"] = str(_payload_len(l4.dataofs * 4, avail))
    elif isinstance(l4, UDP):
        d["sport"], d["dport"] = str(l4.sport), str(l4.dport)
        d["udplen"] = str(l4.len)
        d["plen"] = str(_payload_len(8, avail))
    else:
        d["icmp_type"], d["icmp_code"] = str(l4.type), str(l4.code)
        rest = data[l3_len + 4:l3_len + 8]
        d["icmp_rest"] = "0x%08x" % struct.unpack("!I", rest)[0]
        err = l4.type in ICMP4_ERRORS if fam == 4 else l4.type < 128
        d["icmp_err"] = "1" if err else "0"
        if err:
            _inner(d, l4, data, l3_len, cap_len)
        else:
            d["plen"] = str(_payload_len(8, avail))
    d["l4csum"] = _l4_csum(d, pkt, l4, data, l3_len, cap_len, fam)


def _describe_v4(d, data):
    pkt = IP(data)
    d["fam"] = "4"
    d["src"], d["dst"] = fmt_addr(pkt.src, 4), fmt_addr(pkt.dst, 4)
    d["proto"], d["ttl"], d["tos"] = str(pkt.proto), str(pkt.ttl), \
        str(pkt.tos)
    ihl = pkt.ihl * 4
    d["iplen"], d["l3len"] = str(pkt.len), str(ihl)
    d["ipoptlen"] = str(ihl - 20)
    cap_len = min(len(data), pkt.len)
    d["caplen"] = str(cap_len)
    d["truncated"] = "1" if len(data) < pkt.len else "0"
    d["fragid"] = str(pkt.id)
    d["df"] = "1" if pkt.flags.DF else "0"
    d["mf"] = "1" if pkt.flags.MF else "0"
    d["frag"] = str(pkt.frag * 8)
    d["isfrag"] = "1" if pkt.flags.MF or pkt.frag else "0"
    d["later"] = "1" if pkt.frag else "0"
    d["ipcsum"] = verdict(pkt.chksum, checksum(zero_field(data[:ihl], 10)))
    if not pkt.frag:
        _describe_l4(d, pkt, data, 4, ihl, cap_len)
    return pkt


def _describe_v6(d, data):
    pkt = IPv6(data)
    d["fam"] = "6"
    d["src"], d["dst"] = fmt_addr(pkt.src, 6), fmt_addr(pkt.dst, 6)
    d["ttl"], d["tos"], d["flowlabel"] = str(pkt.hlim), str(pkt.tc), \
        str(pkt.fl)
    d["iplen"] = str(40 + pkt.plen)
    cap_len = min(len(data), 40 + pkt.plen)
    d["caplen"] = str(cap_len)
    d["truncated"] = "1" if len(data) < 40 + pkt.plen else "0"
    l3_len, proto, exts = 40, pkt.nh, []
    layer, later = pkt.payload, False
    d["isfrag"], d["later"], d["frag"] = "0", "0", "0"
    d["mf"] = "0"
    while isinstance(layer, (_IPv6ExtHdr, AH)) and not later:
        num = ext_type(layer)
        exts.append("%d:%d" % (num, ext_len(layer)))
        l3_len += ext_len(layer)
        proto = layer.nh
        if num == 44:
            d["fragid"] = str(layer.id)
            d["frag"], d["mf"] = str(layer.offset * 8), str(layer.m)
            d["isfrag"] = "1" if layer.m or layer.offset else "0"
            d["later"] = "1" if layer.offset else "0"
            later = layer.offset != 0
        layer = layer.payload
    d["proto"], d["l3len"] = str(proto), str(l3_len)
    d["ext"] = ",".join(exts) if exts else "none"
    if not later:
        _describe_l4(d, pkt, data, 6, l3_len, cap_len)
    return pkt


def describe(data):
    """Scapy's view of a well-formed (possibly truncated) IP packet."""
    d = {"expect": "ok"}
    if data[0] >> 4 == 4:
        _describe_v4(d, data)
    else:
        _describe_v6(d, data)
    return d


def pseudo_fold(data):
    """The folded, uncomplemented pseudo-header sum that a partial
    (offloaded) TCP/UDP checksum field holds, and the field's offset."""
    d = describe(data)
    l3_len, proto = int(d["l3len"]), int(d["proto"])
    l4_len = int(d["caplen"]) - l3_len
    if data[0] >> 4 == 4:
        pkt = IP(data)
        ph = in4_pseudoheader(proto, pkt, l4_len)
    else:
        ph = bytes(in6_pseudoheader(proto, first_l4(IPv6(data)), l4_len))
    field = l3_len + (16 if proto == 6 else 6)
    return (~checksum(ph)) & 0xffff, field


def unicast_src(d):
    if d["fam"] == "4":
        return not v4_special(d["src"])
    return not v6_special(d["src"])
