#!/usr/bin/python3
"""Writes the capture `make demo` replays: traffic crossing a gateway
between a client net (10.1.0.0/24) and a server net (10.2.0.0/24), made
with scapy, with fixed timestamps. Nothing is sent anywhere.

usage: demo_capture.py OUT.pcap
"""
import sys

sys.dont_write_bytecode = True

from scapy.all import IP, TCP, UDP, DNS, DNSQR, DNSRR, Raw, wrpcap  # noqa

T0 = 1700000000.0
CLIENT, SCANNER, SERVER, RESOLVER = "10.1.0.2", "10.1.0.66", "10.2.0.80", \
    "10.2.0.53"


def tcp_flow(t, src, dst, sport, dport, data=b""):
    """A handshake, one request and its answer, when the server answers."""
    c, s = IP(src=src, dst=dst), IP(src=dst, dst=src)
    pkts = [(t, c / TCP(sport=sport, dport=dport, flags="S", seq=100)),
            (t + .001, s / TCP(sport=dport, dport=sport, flags="SA",
                               seq=500, ack=101)),
            (t + .002, c / TCP(sport=sport, dport=dport, flags="A",
                               seq=101, ack=501))]
    if data:
        pkts += [(t + .003, c / TCP(sport=sport, dport=dport, flags="PA",
                                    seq=101, ack=501) / Raw(data)),
                 (t + .004, s / TCP(sport=dport, dport=sport, flags="PA",
                                    seq=501, ack=101 + len(data)) /
                  Raw(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))]
    return pkts


def main():
    pkts = []
    # telnet: blocked at the gateway; the client retries once
    pkts += [(T0 + .0, IP(src=CLIENT, dst=SERVER) /
              TCP(sport=40001, dport=23, flags="S")),
             (T0 + 1., IP(src=CLIENT, dst=SERVER) /
              TCP(sport=40001, dport=23, flags="S"))]
    # the web: permitted, the whole flow
    pkts += tcp_flow(T0 + 2, CLIENT, SERVER, 40002, 80,
                     b"GET / HTTP/1.1\r\nHost: demo\r\n\r\n")
    # DNS: permitted by default, logged by the `log` callout
    q = DNS(id=7, rd=1, qd=DNSQR(qname="www.demo.test"))
    a = DNS(id=7, qr=1, qd=q.qd, an=DNSRR(rrname="www.demo.test",
                                          rdata=SERVER))
    pkts += [(T0 + 3, IP(src=CLIENT, dst=RESOLVER) /
              UDP(sport=5353, dport=53) / q),
             (T0 + 3.01, IP(src=RESOLVER, dst=CLIENT) /
              UDP(sport=53, dport=5353) / a)]
    # a port scan: 40 ports in 4 s from one source
    for i in range(40):
        pkts.append((T0 + 4 + i * .1, IP(src=SCANNER, dst=SERVER) /
                     TCP(sport=50000, dport=1000 + i, flags="S")))
    out = []
    for t, p in pkts:
        p.time = t
        out.append(p)
    wrpcap(sys.argv[1], out)


if __name__ == "__main__":
    main()
