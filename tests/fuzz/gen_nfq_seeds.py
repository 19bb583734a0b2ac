#!/usr/bin/python3
"""Writes the seed corpus of fuzz_nfq: NFQUEUE packet messages as the
kernel's nfnetlink_queue lays them out (a minimal one, one with every
attribute weir reads, a conntrack nest, an IPv6 packet, an unpadded last
attribute, unknown attributes, a few broken ones, and bytes after the
last attribute that libmnl reads as one).

Plain python3, no dependency: run it as /usr/bin/python3 gen_nfq_seeds.py
[DIR] (DIR defaults to corpus/nfq next to this script). The output is
deterministic, so the committed seeds can be regenerated at will.
"""
import os
import struct
import sys

NFQNL_MSG_PACKET = 0
NFNL_SUBSYS_QUEUE = 3
(PACKET_HDR, VERDICT_HDR, MARK, TIMESTAMP, IFINDEX_INDEV, IFINDEX_OUTDEV,
 IFINDEX_PHYSINDEV, IFINDEX_PHYSOUTDEV, HWADDR, PAYLOAD, CT, CT_INFO,
 CAP_LEN, SKB_INFO, EXP, UID, GID, SECCTX) = range(1, 19)
CTA_ID, CTA_MARK = 12, 8
NESTED = 0x8000

IP4 = bytes([0x45, 0, 0, 28, 0, 1, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1,
             10, 0, 0, 2, 0x30, 0x39, 0, 53, 0, 8, 0, 0])
IP6 = (bytes([0x60, 0, 0, 0, 0, 8, 17, 64]) + bytes(15) + b"\x01" +
       bytes(15) + b"\x02" + bytes([0x30, 0x39, 0, 53, 0, 8, 0, 0]))


def attr(t, payload, pad=True):
    a = struct.pack("=HH", 4 + len(payload), t) + payload
    return a + bytes(-len(a) % 4) if pad else a


def u32(t, v):
    return attr(t, struct.pack(">I", v))


def msg(attrs, queue=7, mtype=NFQNL_MSG_PACKET):
    body = struct.pack("=BBH", 0, 0, socket_htons(queue)) + b"".join(attrs)
    hdr = struct.pack("=IHHII", 16 + len(body),
                      NFNL_SUBSYS_QUEUE << 8 | mtype, 0, 0, 0)
    return hdr + body


def socket_htons(v):
    return struct.unpack("=H", struct.pack(">H", v))[0]


def phdr(pid, proto=0x0800, hook=2):
    return attr(PACKET_HDR, struct.pack(">IHB", pid, proto, hook))


def seeds():
    yield "minimal", msg([phdr(1), attr(PAYLOAD, IP4)])
    yield "all", msg([phdr(2, hook=1), u32(MARK, 0x42),
                      attr(TIMESTAMP, struct.pack(">QQ", 1700000000, 5)),
                      u32(IFINDEX_INDEV, 1), u32(IFINDEX_OUTDEV, 3),
                      attr(HWADDR, struct.pack(">H2x", 6) + bytes(8)),
                      u32(CT_INFO, 2), u32(CAP_LEN, 1500),
                      u32(SKB_INFO, 1 | 2), u32(UID, 1000), u32(GID, 100),
                      attr(PAYLOAD, IP4)])
    yield "ct_nest", msg([phdr(3), attr(CT | NESTED,
                                        u32(CTA_ID, 77) +
                                        u32(CTA_MARK, 0x01000005)),
                          u32(CT_INFO, 0), attr(PAYLOAD, IP4)])
    yield "ipv6", msg([phdr(4, proto=0x86dd, hook=3), attr(PAYLOAD, IP6)])
    yield "unpadded", msg([phdr(5), attr(PAYLOAD, IP4[:27], pad=False)])
    yield "unknown", msg([phdr(6), attr(40, b"\x01\x02\x03"),
                          attr(PAYLOAD, IP4)])
    yield "secctx", msg([phdr(11), attr(SECCTX, b"system_u:object_r\0"),
                         attr(PAYLOAD, IP4)])
    yield "bad_mark_len", msg([phdr(7), attr(MARK, b"\x01\x02"),
                               attr(PAYLOAD, IP4)])
    yield "bad_overrun", msg([phdr(8), attr(PAYLOAD, IP4)])[:-6]
    yield "no_payload", msg([phdr(9), u32(MARK, 1)])
    yield "verdict_type", msg([phdr(10), attr(PAYLOAD, IP4)], mtype=1)
    # Three bytes after the last attribute: too short for a header, so
    # weir ignores them; libmnl reads a header from them and the zero
    # padding (an empty timestamp here, which libnetfilter_queue refuses).
    yield "tail_in_padding", msg([phdr(12), attr(PAYLOAD, IP4)]) + \
        b"\x04\x00\x04"


def main():
    out = (sys.argv[1] if len(sys.argv) > 1 else
           os.path.join(os.path.dirname(os.path.abspath(__file__)),
                        "corpus", "nfq"))
    os.makedirs(out, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
