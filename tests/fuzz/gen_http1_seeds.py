#!/usr/bin/python3
"""Writes the seed corpus of fuzz_http1: server -> client streams
(Content-Length, chunked with extensions and trailers, until close,
keep-alive and pipelined responses, 1xx, HEAD/204/304, tunnels, nginx
heads, file names) and client -> server streams (requests with bodies,
CONNECT, Upgrade), a few of them malformed.

Each seed is a 3-byte prefix and the stream (see fuzz_http1.c): [0] the
seed of the piece sizes, [1] four 2-bit methods (0 GET, 1 HEAD,
2 CONNECT, 3 POST), [2] bit 0 small limits, bit 1 no EOF.

Run it as python3 gen_http1_seeds.py [DIR] (DIR defaults to corpus/http1
next to this script). The output is deterministic.
"""
import os
import sys

GET, HEAD, CONNECT, POST = 0, 1, 2, 3


def methods(*ms):
    v = 0
    for i, m in enumerate(ms[:4]):
        v |= m << (2 * i)
    return v


def resp(status, fields=(), body=b"", version=b"1.1"):
    head = b"HTTP/" + version + b" " + status + b"\r\n"
    for f in fields:
        head += f + b"\r\n"
    return head + b"\r\n" + body


def chunked(*parts, ext=b"", trailers=()):
    out = b""
    for p in parts:
        out += b"%x" % len(p) + ext + b"\r\n" + p + b"\r\n"
    out += b"0\r\n"
    for t in trailers:
        out += t + b"\r\n"
    return out + b"\r\n"


NGINX = [b"Server: nginx/1.22.1", b"Date: Wed, 02 Dec 2026 12:00:00 GMT",
         b"Connection: keep-alive"]
MZ = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff"


def seeds():
    yield "r_length", 7, methods(GET), 0, resp(
        b"200 OK", [b"Content-Length: 5", b"Content-Type: text/html"],
        b"hello")
    yield "r_chunked", 3, methods(GET), 0, resp(
        b"200 OK", [b"Transfer-Encoding: chunked"],
        chunked(b"hello", b" world", ext=b";a=\"b\"", trailers=[b"X-T: 1"]))
    yield "r_close", 11, methods(GET), 0, resp(b"200 OK", [], b"until eof")
    yield "r_http10", 5, methods(GET), 0, resp(b"200 OK", [], b"old",
                                               version=b"1.0")
    yield "r_keepalive", 13, methods(GET, GET, HEAD, GET), 0, (
        resp(b"200 OK", NGINX + [b"Content-Length: 2"], b"ab") +
        resp(b"404 Not Found", [b"Transfer-Encoding: chunked"],
             chunked(b"x")) +
        resp(b"200 OK", [b"Content-Length: 99"]) +
        resp(b"204 No Content", []))
    yield "r_interim", 2, methods(POST), 0, (
        resp(b"100 Continue") + resp(b"103 Early Hints",
                                     [b"Link: </a.css>; rel=preload"]) +
        resp(b"201 Created", [b"Content-Length: 2"], b"ok"))
    yield "r_304", 9, methods(GET), 0, resp(
        b"304 Not Modified", [b"ETag: \"x\"", b"Content-Length: 10"])
    yield "r_connect", 4, methods(CONNECT), 0, resp(
        b"200 Connection established", [], b"\x16\x03\x01\x00\x05hello")
    yield "r_upgrade", 6, methods(GET), 0, resp(
        b"101 Switching Protocols", [b"Upgrade: websocket",
                                     b"Connection: Upgrade"], b"\x81\x02hi")
    yield "r_nginx_exe", 17, methods(GET), 0, resp(
        b"200 OK", NGINX + [b"Content-Type: application/octet-stream",
                            b"Content-Length: %d" % len(MZ),
                            b"Content-Disposition: attachment; "
                            b"filename=\"setup.exe\"; "
                            b"filename*=UTF-8''%e2%82%ac.exe",
                            b"ETag: \"6569a0c0-e\"", b"Accept-Ranges: bytes"],
        MZ)
    yield "r_lf_only", 8, methods(GET), 0, (
        b"HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n")
    yield "r_small_limits", 1, methods(GET), 1, resp(
        b"200 OK", [b"A: %d" % i for i in range(10)])
    yield "r_no_eof", 10, methods(GET), 2, resp(b"200 OK", [], b"partial")
    yield "e_cl_te", 3, methods(GET), 0, resp(
        b"200 OK", [b"Content-Length: 3", b"Transfer-Encoding: chunked"],
        b"abc")
    yield "e_cl_conflict", 3, methods(GET), 0, resp(
        b"200 OK", [b"Content-Length: 3", b"Content-Length: 4"], b"abcd")
    yield "e_obs_fold", 3, methods(GET), 0, resp(
        b"200 OK", [b"X-A: 1", b" folded", b"Content-Length: 0"])
    yield "e_bare_cr", 3, methods(GET), 0, (
        b"HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n")
    yield "e_chunk_bad", 3, methods(GET), 0, resp(
        b"200 OK", [b"Transfer-Encoding: chunked"], b"5\r\nhelloX0\r\n\r\n")
    yield "q_requests", 21, 0, 0, (
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        b"HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n"
        b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nHEAD "
        b"PUT /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;e=1\r\nbody\r\n0\r\nT: 1\r\n\r\n"
        b"DELETE /d HTTP/1.0\r\n\r\n")
    yield "q_connect", 12, 0, 0, (
        b"CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"
        b"GET / HTTP/1.1\r\n\r\n")
    yield "q_upgrade", 12, 0, 0, (
        b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade"
        b"\r\n\r\n\x81\x85mask!")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        here, "corpus", "http1")
    os.makedirs(out, exist_ok=True)
    for name, seed, ms, flags, stream in seeds():
        data = bytes([seed, ms, flags]) + stream
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(data)
        print("%-16s %4d bytes" % (name, len(data)))


if __name__ == "__main__":
    main()
