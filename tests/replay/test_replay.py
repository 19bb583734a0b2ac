#!/usr/bin/python3
"""End-to-end tests of `weir replay` on captures made by gen_pcaps.py.

usage: test_replay.py SCENARIO WEIR WORKDIR
SCENARIO: basic, portscan, pend, gateway, errors, determinism, linktypes,
inject_tcpreset, inject_dnssink, inject_rewrite.
Environment: WEIR_PLUGIN_DIR (the build's plugins/), WEIR_TEST_PLUGIN_DIR
(where holdtest.so is built). Exits 0 when every check passes, 1 with the
failed checks listed.
"""

import json
import os
import re
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True  # keep the source tree clean
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gen_pcaps as g  # noqa: E402
from scapy.all import DNS, IP, IPv6, TCP, UDP, Raw, raw  # noqa: E402

WEIR = WORK = None
FAILED = []


def check(cond, what):
    if not cond:
        FAILED.append(what)
        print("FAIL:", what)
    return cond


def replay(args, cwd):
    """Runs weir replay; (exit status, stdout, stderr)."""
    p = subprocess.run([WEIR, "replay"] + args, cwd=cwd,
                       capture_output=True, text=True, timeout=120)
    if p.stderr:
        sys.stdout.write("  stderr: " + p.stderr.replace("\n", "\n  "))
    return p.returncode, p.stdout, p.stderr


def fresh(name):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def policy(name):
    return os.path.join(HERE, name)


def load_log(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def by_index(lines):
    return {ln["i"]: ln for ln in lines}


def summary_counts(out):
    m = re.search(r"(\d+) packets: (\d+) permitted, (\d+) blocked, "
                  r"(\d+) absorbed, (\d+) skipped; (\d+) pended; (\d+) flows",
                  out)
    return tuple(int(x) for x in m.groups()) if m else None


def table_hits(out):
    """name -> hits from the summary table."""
    hits = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\d+)\s+(\S+)\s+(\S+)\s+.*?\s(\d+)$", line)
        if m and m.group(2) != "layer":
            hits[m.group(3)] = int(m.group(4))
    return hits


def input_frames(linktype, frames, vlan=False):
    return [g.frame_bytes(linktype, fr, vlan) for fr in frames
            if fr.ip or linktype == g.LINK_EN10MB]


def check_written(out_pcap, linktype, frames_in, log, order=None):
    """The -w file holds exactly the permitted frames, in verdict order."""
    lt, _, written = g.read_pcap(out_pcap)
    check(lt == linktype, "output link type %d, not %d" % (lt, linktype))
    want = [frames_in[ln["i"]] for ln in (order or log)
            if ln["verdict"] == "permit"]
    check([w[1] for w in written] == want,
          "written frames are the permitted ones (%d written, %d permitted)"
          % (len(written), len(want)))
    return written


# ---- scenarios --------------------------------------------------------------

def basic_run(d, extra=()):
    frames = g.basic()
    g.write_pcap(os.path.join(d, "in.pcap"), g.LINK_EN10MB, frames)
    rc, out, _ = replay(["-p", policy("basic.weir"), "-r", "in.pcap",
                         "-w", "out.pcap", "--log", "log.jsonl",
                         "-l", "192.168.1.10/32", "-l", "fd00::10",
                         "--plugins", os.environ["WEIR_PLUGIN_DIR"]] +
                        list(extra), d)
    return frames, rc, out


def layer(ln, k):
    return ln["layers"][k] if k < len(ln.get("layers", [])) else {}


def test_basic():
    d = fresh("basic")
    frames, rc, out = basic_run(d)
    check(rc == 0, "basic: exit 0 (got %d)" % rc)
    print(out)
    log = load_log(os.path.join(d, "log.jsonl"))
    L = by_index(log)
    check(len(log) == len(frames), "one log line per packet")
    check(summary_counts(out) == (26, 21, 4, 0, 1, 0, 8),
          "summary: 26 read, 21 permitted, 4 blocked, 1 skipped, 8 flows")
    # Telnet: refused by name at ale-connect; the retransmission gets the
    # remembered decision.
    t0, t1 = layer(L[0], 0), layer(L[1], 0)
    check(L[0]["verdict"] == "block" and L[0]["dir"] == "outbound",
          "telnet SYN blocked, outbound")
    check(t0.get("layer") == "ale-connect-v4" and
          t0.get("name") == "no-telnet#1" and "remembered" not in t0,
          "telnet SYN decided by no-telnet#1 at ale-connect-v4")
    check(L[1]["verdict"] == "block" and t1.get("remembered") is True and
          t1.get("name") == "no-telnet#1", "telnet retransmission remembered")
    # The web: the SYN is permitted by "web", the rest of the flow by the
    # remembered decision; the first answer meets ale-flow-established.
    syn = L[2]
    check(syn["verdict"] == "permit" and
          [e["layer"] for e in syn["layers"]] ==
          ["ale-connect-v4", "outbound-transport-v4", "outbound-ippacket-v4"],
          "web SYN crosses ale-connect, outbound transport and ip packet")
    check(layer(syn, 0).get("name") == "web#1" and
          "remembered" not in layer(syn, 0), "web SYN permitted by web#1")
    synack = L[3]
    check([e["layer"] for e in synack["layers"]] ==
          ["inbound-ippacket-v4", "inbound-transport-v4", "ale-connect-v4",
           "ale-flow-established-v4"] and synack.get("reply") is True,
          "SYN/ACK: inbound layers, remembered connect, flow established")
    for i in range(3, 10):
        ale = [e for e in L[i]["layers"] if e["layer"] == "ale-connect-v4"]
        check(L[i]["verdict"] == "permit" and ale and
              ale[0].get("remembered") is True and
              ale[0].get("name") == "web#1",
              "web packet %d permitted by the remembered web#1" % i)
        check(L[i]["flow"] == syn["flow"], "web packet %d in the SYN's flow"
              % i)
    # DNS: permitted, seen by the log callout at datagram-data.
    for i in (10, 11):
        check(L[i]["verdict"] == "permit" and "datagram-data-v4" in
              [e["layer"] for e in L[i]["layers"]], "DNS %d permitted" % i)
    dns = open(os.path.join(d, "dns.jsonl")).read().splitlines()
    check(len(dns) == 2 and all('"dns#' in x for x in dns),
          "the log plug-in logged query and answer (%d lines)" % len(dns))
    check(L[12]["verdict"] == "permit" and L[13].get("reply") is True and
          L[13]["icmp_type"] == 0, "ping and its answer permitted")
    fwd = L[14]
    check(fwd["dir"] == "forward" and fwd["verdict"] == "block" and
          [(e["layer"], e["name"]) for e in fwd["layers"]] ==
          [("ipforward-v4", "fwd-telnet#1")], "forwarded telnet blocked")
    check(L[15]["verdict"] == "skip" and L[15]["reason"] == "not IP",
          "ARP skipped")
    for i in range(16, 24):
        check(L[i]["verdict"] == "permit", "IPv6 web packet %d permitted" % i)
    check(layer(L[16], 0).get("name") == "web#2", "IPv6 web by web#2")
    check(L[24]["verdict"] == "block" and
          layer(L[24], 0).get("name") == "no-telnet#2", "IPv6 telnet blocked")
    ssh = L[25]
    check(ssh["dir"] == "inbound" and ssh["verdict"] == "permit" and
          [(e["layer"], e["name"]) for e in ssh["layers"]][-1] ==
          ("ale-accept-v4", "default"), "inbound ssh by ale-accept's default")
    hits = table_hits(out)
    check(hits.get("no-telnet#1") == 1 and hits.get("web#1") == 1 and
          hits.get("fwd-telnet#1") == 1 and hits.get("dns#1") == 1,
          "summary hits: %s" % hits)
    check_written(os.path.join(d, "out.pcap"), g.LINK_EN10MB,
                  input_frames(g.LINK_EN10MB, frames), log)


def test_portscan():
    d = fresh("portscan")
    frames = g.portscan()
    g.write_pcap(os.path.join(d, "in.pcap"), g.LINK_RAW, frames)
    rc, out, _ = replay(["-p", policy("portscan.weir"), "-r", "in.pcap",
                         "-w", "out.pcap", "--log", "log.jsonl",
                         "-l", g.SERVER4,
                         "--plugins", os.environ["WEIR_PLUGIN_DIR"]], d)
    print(out)
    check(rc == 0, "portscan: exit 0 (got %d)" % rc)
    log = load_log(os.path.join(d, "log.jsonl"))
    scan = [ln for ln in log if ln["src"] == "10.6.6.6"]
    other = [ln for ln in log if ln["src"] != "10.6.6.6"]
    check(len(scan) == 31 and len(other) == 24, "31 scan SYNs, 24 others")
    check([ln["verdict"] for ln in scan] == ["permit"] * 10 + ["block"] * 21,
          "the first 10 ports pass, then the scanner is blocked")
    for ln in scan[10:]:
        e = ln["layers"][-1]
        check(e["layer"] == "inbound-transport-v4" and
              e["name"] == "portscan" and e["action"] == "block",
              "scan packet %d blocked by portscan" % ln["i"])
    check(all(ln["verdict"] == "permit" for ln in other),
          "the ordinary client's connections pass")
    check(summary_counts(out)[:5] == (55, 34, 21, 0, 0),
          "summary: 55 read, 34 permitted, 21 blocked")
    check(table_hits(out).get("portscan") == 34, "portscan hits 34")
    written = check_written(os.path.join(d, "out.pcap"), g.LINK_RAW,
                            input_frames(g.LINK_RAW, frames), log)
    syns = [IP(w[1]) for w in written]
    check(sum(1 for p in syns if p.src == "10.6.6.6" and TCP in p) == 10,
          "scapy reads 10 scan SYNs in the output")


def test_pend():
    d = fresh("pend")
    frames = g.pend()
    g.write_pcap(os.path.join(d, "in.pcap"), g.LINK_RAW, frames)
    rc, out, _ = replay(["-p", policy("hold.weir"), "-r", "in.pcap",
                         "-w", "out.pcap", "--log", "log.jsonl",
                         "-l", g.SERVER4, "--plugins",
                         os.environ["WEIR_TEST_PLUGIN_DIR"]], d)
    print(out)
    check(rc == 0, "pend: exit 0 (got %d)" % rc)
    log = load_log(os.path.join(d, "log.jsonl"))
    check([ln["i"] for ln in log] == [2, 0, 1, 3, 4, 6, 5, 8, 7, 9],
          "verdicts in the order they became known: %s"
          % [ln["i"] for ln in log])
    L = by_index(log)
    want = {0: "permit", 1: "permit", 2: "permit", 3: "block", 4: "permit",
            5: "permit", 6: "permit", 7: "block", 8: "permit", 9: "block"}
    check({i: ln["verdict"] for i, ln in L.items()} == want,
          "verdicts of the pended and releasing packets")
    ends = {0: "completed", 1: "completed", 3: "timed-out", 5: "completed",
            7: "completed", 9: "timed-out"}
    for i, how in ends.items():
        e = [x for x in L[i]["layers"] if x.get("pended")]
        check(L[i].get("pended") is True and len(e) == 1 and
              e[0]["pend"] == how and e[0]["name"] == "hold",
              "packet %d pended, %s" % (i, how))
    check([e["layer"] for e in L[0]["layers"]] ==
          ["inbound-ippacket-v4", "inbound-transport-v4", "ale-accept-v4",
           "datagram-data-v4"], "a completed pend goes on to the next layers")
    check(L[5].get("replaced") is True, "packet 5 replaced by the callout")
    check(summary_counts(out)[:6] == (10, 7, 3, 0, 0, 6),
          "summary: 7 permitted, 3 blocked, 6 pended")
    lt, _, written = g.read_pcap(os.path.join(d, "out.pcap"))
    data = [fr.data for fr in frames]
    check([w[1] for w in written] ==
          [data[i] for i in (2, 0, 1, 4, 6)] + [data[6], data[8]],
          "output: permitted packets, packet 5 with the SWAP bytes")
    check([w[0] for w in written] ==
          [frames[i].t_ns for i in (2, 0, 1, 4, 6, 5, 8)],
          "output keeps each packet's capture time")


def test_gateway():
    d = fresh("gateway")
    frames = g.gateway()
    g.write_pcap(os.path.join(d, "in.pcap"), g.LINK_RAW, frames)
    rc, out, _ = replay(["-p", policy("gateway.weir"), "-r", "in.pcap",
                         "--log", "log.jsonl", "-l", "192.168.1.1",
                         "-i", "lan0=192.168.0.0/16", "-i", "wan0=0.0.0.0/0"],
                        d)
    print(out)
    check(rc == 0, "gateway: exit 0 (got %d)" % rc)
    log = load_log(os.path.join(d, "log.jsonl"))
    got = [(ln["verdict"], ln["layers"][0]["name"]) for ln in log]
    want = ([("permit", "lan-out#1")] + [("permit", "answers#1")] * 7 +
            [("block", "default"), ("block", "bogons"),
             ("permit", "lan-out#1"), ("permit", "answers#1"),
             ("block", "default")])
    check(got == want, "gateway verdicts: %s" % got)
    check(all(ln["dir"] == "forward" for ln in log), "all forwarded")
    check(log[11].get("reply") is True and log[11]["flow"] == log[10]["flow"],
          "the ICMP error joins the datagram's flow, as a reply")
    check(log[12]["flow"] != log[10]["flow"] and "reply" not in log[12],
          "after 60 s of capture time the UDP flow is gone: a new one")


def expect_usage_error(d, args, pattern, what):
    rc, out, err = replay(args, d)
    check(rc == 2, "%s: exit 2 (got %d)" % (what, rc))
    check(re.search(pattern, err, re.M) is not None,
          "%s: stderr matches %r" % (what, pattern))


def test_errors():
    d = fresh("errors")
    g.write_pcap(os.path.join(d, "in.pcap"), g.LINK_RAW, g.portscan())
    plugins = ["--plugins", os.environ["WEIR_PLUGIN_DIR"]]
    shutil.copy(policy("bad.weir"), d)
    expect_usage_error(d, ["-p", "bad.weir", "-r", "in.pcap"],
                       r"^bad\.weir:3:5: error: unknown field 'tcp\.dprt'",
                       "bad policy")
    with open(os.path.join(d, "noplug.weir"), "w") as f:
        f.write("# no such plug-in\n\nplugin nosuch;\n")
    expect_usage_error(d, ["-p", "noplug.weir", "-r", "in.pcap"] + plugins,
                       r"^noplug\.weir:3: plugin nosuch: ", "missing plug-in")
    ok = policy("portscan.weir")
    expect_usage_error(d, ["-p", ok, "-r", "missing.pcap"] + plugins,
                       r"missing\.pcap", "missing capture")
    shutil.copy(ok, os.path.join(d, "notpcap"))
    expect_usage_error(d, ["-p", ok, "-r", "notpcap"] + plugins,
                       r"notpcap", "not a capture")
    g.write_pcap(os.path.join(d, "usb.pcap"), 189, g.portscan())
    expect_usage_error(d, ["-p", ok, "-r", "usb.pcap"] + plugins,
                       r"not supported", "unsupported link type")
    expect_usage_error(d, ["-p", ok, "-r", "in.pcap", "-l", "10.0.0.1/33"],
                       r"bad address", "bad -l")
    expect_usage_error(d, ["-p", ok, "-r", "in.pcap", "-l", "10.0.0.1/8"],
                       r"bad address", "-l with host bits")
    expect_usage_error(d, ["-p", ok], r"usage", "no -r")
    expect_usage_error(d, ["-p", ok, "-r", "in.pcap", "--bogus"],
                       r"unknown option '--bogus'", "unknown option")
    expect_usage_error(d, ["-p", ok, "-r", "in.pcap", "-w", "no/dir/o.pcap"]
                       + plugins, r"no/dir/o\.pcap", "unwritable -w")
    # A capture cut in the middle of a packet: what was read is replayed
    # and reported, and the status says the capture was damaged.
    data = open(os.path.join(d, "in.pcap"), "rb").read()
    with open(os.path.join(d, "cut.pcap"), "wb") as f:
        f.write(data[:-10])
    rc, out, err = replay(["-p", ok, "-r", "cut.pcap", "-l", g.SERVER4]
                          + plugins, d)
    check(rc == 1 and "cut.pcap" in err, "truncated capture: exit 1")
    check(summary_counts(out) is not None and summary_counts(out)[0] == 54,
          "truncated capture: the 54 whole packets are replayed")


def test_determinism():
    runs = []
    for k in range(2):
        d = fresh("det%d" % k)
        _, rc, out = basic_run(d)
        check(rc == 0, "determinism: basic run %d exit 0" % k)
        files = [open(os.path.join(d, n), "rb").read()
                 for n in ("log.jsonl", "out.pcap", "dns.jsonl")]
        d2 = fresh("detp%d" % k)
        g.write_pcap(os.path.join(d2, "in.pcap"), g.LINK_RAW, g.pend())
        rc2, out2, _ = replay(["-p", policy("hold.weir"), "-r", "in.pcap",
                               "-w", "out.pcap", "--log", "-",
                               "-l", g.SERVER4, "--plugins",
                               os.environ["WEIR_TEST_PLUGIN_DIR"]], d2)
        check(rc2 == 0, "determinism: pend run %d exit 0" % k)
        files += [open(os.path.join(d2, "out.pcap"), "rb").read()]
        runs.append((out, out2, files))
    check(runs[0] == runs[1], "two runs give byte-identical outputs")


def test_linktypes():
    frames = [fr for fr in g.basic() if fr.ip]
    base = None
    variants = [("raw", g.LINK_RAW, {}), ("ether", g.LINK_EN10MB, {}),
                ("vlan", g.LINK_EN10MB, {"vlan": True}),
                ("sll", g.LINK_SLL, {}), ("sll2", g.LINK_SLL2, {}),
                ("null", g.LINK_NULL, {}), ("loop", g.LINK_LOOP, {}),
                ("nano", g.LINK_RAW, {"nano": True}),
                ("ng", g.LINK_EN10MB, {"ng": True})]
    for name, lt, opt in variants:
        d = fresh("link-" + name)
        path = os.path.join(d, "in.pcap")
        if opt.get("ng"):
            g.write_pcapng(path, lt, frames)
        else:
            g.write_pcap(path, lt, frames, nano=opt.get("nano", False),
                         vlan=opt.get("vlan", False))
        rc, out, _ = replay(["-p", policy("basic.weir"), "-r", "in.pcap",
                             "-w", "out.pcap", "--log", "log.jsonl", "-q",
                             "-l", "192.168.1.10", "-l", "fd00::10",
                             "--plugins", os.environ["WEIR_PLUGIN_DIR"]], d)
        check(rc == 0 and out == "", "%s: exit 0, nothing on stdout with -q"
              % name)
        log = load_log(os.path.join(d, "log.jsonl"))
        view = [{k: v for k, v in ln.items() if k != "len"} for ln in log]
        if base is None:
            base = view
        check(view == base, "%s: same verdicts as raw IP" % name)
        written = check_written(os.path.join(d, "out.pcap"), lt,
                                input_frames(lt, frames, opt.get("vlan")),
                                log)
        _, nano, _ = g.read_pcap(os.path.join(d, "out.pcap"))
        check(nano == bool(opt.get("nano")), "%s: time precision kept" % name)
        want_t = [frames[ln["i"]].t_ns for ln in log
                  if ln["verdict"] == "permit"]
        check([w[0] for w in written] == want_t, "%s: times kept" % name)
    # LINKTYPE_IPV4: the IPv4 packets alone.
    d = fresh("link-ipv4")
    v4 = [fr for fr in frames if fr.data[0] >> 4 == 4]
    g.write_pcap(os.path.join(d, "in.pcap"), g.LINK_IPV4, v4)
    rc, _, _ = replay(["-p", policy("basic.weir"), "-r", "in.pcap",
                       "--log", "log.jsonl", "-q", "-l", "192.168.1.10",
                       "--plugins", os.environ["WEIR_PLUGIN_DIR"]], d)
    got = [(ln["src"], ln["dst"], ln["verdict"])
           for ln in load_log(os.path.join(d, "log.jsonl"))]
    want = [(ln["src"], ln["dst"], ln["verdict"]) for ln in base
            if ":" not in ln["src"]]
    check(rc == 0 and got == want, "LINKTYPE_IPV4: same verdicts")


TESTS = {"basic": test_basic, "portscan": test_portscan, "pend": test_pend,
         "gateway": test_gateway,
         "errors": test_errors, "determinism": test_determinism,
         "linktypes": test_linktypes}


# ---- injection: tcpreset, dnssink, rewrite --------------------------------

def run_inject(name, scenario, policy_name, setup=None):
    """Replays gen_pcaps' scenario through a policy of the shipped
    injecting callouts; (log, [(log line, written IP bytes)], stdout)."""
    d = fresh(name)
    frames = getattr(g, scenario)()
    g.write_pcap(os.path.join(d, "in.pcap"), g.LINK_RAW, frames)
    if setup:
        setup(d)
    rc, out, _ = replay(["-p", policy(policy_name), "-r", "in.pcap",
                         "-w", "out.pcap", "--log", "log.jsonl",
                         "-l", g.HOST4, "-l", g.HOST6,
                         "--plugins", os.environ["WEIR_PLUGIN_DIR"]], d)
    print(out)
    check(rc == 0, "%s: exit 0 (got %d)" % (name, rc))
    log = load_log(os.path.join(d, "log.jsonl"))
    _, _, written = g.read_pcap(os.path.join(d, "out.pcap"))
    permitted = [ln for ln in log if ln["verdict"] == "permit"]
    check(len(permitted) == len(written),
          "%s: one written packet per permit (%d, %d)"
          % (name, len(permitted), len(written)))
    return frames, log, list(zip(permitted, [w[1] for w in written])), out


def originals(log):
    return {ln["i"]: ln for ln in log if "injected" not in ln}


def injected_of(pairs, i):
    """(log line, bytes) of what callouts injected for capture packet i."""
    return [(ln, b) for ln, b in pairs if ln["i"] == i and "injected" in ln]


def parse_ip(b):
    return (IPv6 if b[0] >> 4 == 6 else IP)(b)


def csum_ok(b):
    """The IPv4 header and TCP/UDP checksums are what scapy computes."""
    p = parse_ip(b)
    if IP in p:
        del p[IP].chksum
    for proto in (TCP, UDP):
        if proto in p:
            del p[proto].chksum
    return raw(p) == b


def l4_len(p):
    return len(raw(p[TCP].payload)) if TCP in p else 0


def check_rst(tag, orig, b, to_sender):
    """One RST of weir_build_tcp_rst for orig (craft.h)."""
    r, o = parse_ip(b), parse_ip(orig)
    L3 = IPv6 if IPv6 in o else IP
    hops = r[L3].hlim if L3 is IPv6 else r[L3].ttl
    if to_sender:
        ends = (o[L3].dst, o[L3].src, o[TCP].dport, o[TCP].sport)
        if "A" in o[TCP].flags:
            want = ("R", o[TCP].ack, 0)
        else:
            syn_fin = ("S" in o[TCP].flags) + ("F" in o[TCP].flags)
            want = ("RA", 0, o[TCP].seq + l4_len(o) + syn_fin)
    else:
        ends = (o[L3].src, o[L3].dst, o[TCP].sport, o[TCP].dport)
        # On at the receiver's next byte, acking what orig acked.
        want = (("RA", o[TCP].seq, o[TCP].ack) if "A" in o[TCP].flags
                else ("R", o[TCP].seq, 0))
    got_ends = (r[L3].src, r[L3].dst, r[TCP].sport, r[TCP].dport)
    got = (str(r[TCP].flags), r[TCP].seq, r[TCP].ack)
    check(got_ends == ends, "%s: RST addresses and ports %s, want %s"
          % (tag, got_ends, ends))
    check(got == want, "%s: RST flags/seq/ack %s, want %s" % (tag, got, want))
    check(hops == 64 and csum_ok(b), "%s: RST TTL 64, checksums valid" % tag)


def test_inject_tcpreset():
    frames, log, pairs, out = run_inject("inject-tcpreset", "inject_tcpreset",
                                         "inject_tcpreset.weir")
    L = originals(log)
    dirs = {0: ("inbound", "outbound"), 1: ("outbound", "inbound"),
            2: ("forward", "forward"), 3: ("inbound", "outbound"),
            4: ("inbound", "outbound")}
    for i, (to_src_dir, to_dst_dir) in dirs.items():
        tag = "tcpreset packet %d" % i
        e = L[i]["layers"][-1]
        check(L[i]["verdict"] == "absorb" and e.get("absorbed") is True and
              e["name"].startswith("reset-"), "%s absorbed by tcpreset" % tag)
        inj = injected_of(pairs, i)
        if not check(len(inj) == 2, "%s: two RSTs injected and permitted"
                     % tag):
            continue
        orig = frames[i].data
        o = parse_ip(orig)
        L3 = IPv6 if IPv6 in o else IP
        to_src = [x for x in inj if parse_ip(x[1])[L3].dst == o[L3].src]
        to_dst = [x for x in inj if parse_ip(x[1])[L3].dst == o[L3].dst]
        if not check(len(to_src) == 1 and len(to_dst) == 1,
                     "%s: one RST to each end" % tag):
            continue
        check(to_src[0][0]["dir"] == to_src_dir and
              to_dst[0][0]["dir"] == to_dst_dir,
              "%s: RSTs travel %s and %s" % (tag, to_src_dir, to_dst_dir))
        check_rst(tag + " to sender", orig, to_src[0][1], True)
        check_rst(tag + " to receiver", orig, to_dst[0][1], False)
    check(L[5]["verdict"] == "permit" and not injected_of(pairs, 5),
          "SYN to an open port permitted, nothing injected")
    check([b for ln, b in pairs if ln["i"] == 5] == [frames[5].data],
          "SYN to an open port written unchanged")
    check(L[6]["verdict"] == "block" and "absorbed" not in
          L[6]["layers"][-1] and not [ln for ln in log if ln["i"] == 6 and
                                      "injected" in ln],
          "a RST to a reset port is blocked, not answered")
    check("10 packets injected by callouts" in out, "summary: 10 injected")
    check(len(pairs) == 11, "output: 10 RSTs and the open-port SYN")


SINK_A, SINK_AAAA = "192.0.2.53", "2001:db8::53"


def check_dns_answer(tag, orig, b, rcode, rdata):
    """A forged answer to query orig: from the resolver to the client,
    the question echoed byte for byte, one record or none."""
    o, r = parse_ip(orig), parse_ip(b)
    L3 = IPv6 if IPv6 in o else IP
    check((r[L3].src, r[L3].dst, r[UDP].sport, r[UDP].dport) ==
          (o[L3].dst, o[L3].src, 53, o[UDP].sport),
          "%s: from the resolver's address and port to the client" % tag)
    check(csum_ok(b), "%s: checksums valid" % tag)
    qd, ad = o[DNS], r[DNS]
    check(ad.id == qd.id and ad.qr == 1 and ad.rd == 1 and ad.ra == 1 and
          ad.opcode == 0 and ad.rcode == rcode and ad.qdcount == 1,
          "%s: header: id, QR, RD, RA, rcode %d" % (tag, rcode))
    check(raw(ad.qd) == raw(qd.qd), "%s: question echoed exactly" % tag)
    if rdata is None:
        check(ad.ancount == 0 and ad.nscount == 0 and ad.arcount == 0,
              "%s: no records" % tag)
        return
    an = ad.an
    check(ad.ancount == 1 and an.rrname == qd.qd.qname and
          an.type == qd.qd.qtype and an.rclass == 1 and an.ttl == 300 and
          an.rdata == rdata, "%s: one record %s TTL 300 (got %s)"
          % (tag, rdata, an.rdata))


def check_dnssink(frames, log, pairs, answers):
    L = originals(log)
    for i, (rcode, rdata, adir) in answers.items():
        tag = "dnssink query %d" % i
        check(L[i]["verdict"] == "absorb" and
              L[i]["layers"][-1].get("absorbed") is True,
              "%s absorbed" % tag)
        inj = injected_of(pairs, i)
        if check(len(inj) == 1, "%s: one answer injected and permitted"
                 % tag):
            check(inj[0][0]["dir"] == adir, "%s: answer %s" % (tag, adir))
            check_dns_answer(tag, frames[i].data, inj[0][1], rcode, rdata)
    for i in (2, 7, 8):
        check(L[i]["verdict"] == "permit" and
              [b for ln, b in pairs if ln["i"] == i] == [frames[i].data],
              "dnssink packet %d passes unchanged, nothing injected" % i)


def test_inject_dnssink():
    frames, log, pairs, _ = run_inject("inject-dnssink", "inject_dnssink",
                                       "inject_dnssink.weir")
    check_dnssink(frames, log, pairs, {
        0: (0, SINK_A, "inbound"), 1: (0, SINK_AAAA, "inbound"),
        3: (0, SINK_A, "inbound"), 4: (0, None, "inbound"),
        5: (0, SINK_A, "forward"), 6: (0, SINK_AAAA, "inbound")})

    def names(d):
        with open(os.path.join(d, "names.txt"), "w") as f:
            f.write("# sinkholed\nads.example\n*.tracker.example  "
                    "# below only\n\n.SINK.example.\n")
    frames, log, pairs, _ = run_inject("inject-dnssink-nx", "inject_dnssink",
                                       "inject_dnssink_nx.weir", names)
    check_dnssink(frames, log, pairs, {
        i: (3, None, "forward" if i == 5 else "inbound")
        for i in (0, 1, 3, 4, 5, 6)})


def expect_copy(tag, pairs, i, want, want_dir):
    """Packet i was absorbed and one copy, equal to want, injected."""
    inj = injected_of(pairs, i)
    if not check(len(inj) == 1, "%s: one copy injected and permitted" % tag):
        return
    ln, b = inj[0]
    check(ln["dir"] == want_dir, "%s: copy travels %s" % (tag, want_dir))
    check(b == raw(want), "%s: copy is the original with the change" % tag)
    check(csum_ok(b), "%s: checksums valid" % tag)


def unchanged(L, pairs, frames, i, tag):
    check(L[i]["verdict"] == "permit" and
          [b for ln, b in pairs if ln["i"] == i] == [frames[i].data],
          "%s: permitted unchanged, nothing injected" % tag)


def test_inject_rewrite():
    frames, log, pairs, _ = run_inject("inject-rewrite", "inject_rewrite",
                                       "inject_rewrite.weir")
    L = originals(log)
    for i in (0, 1, 3, 4, 6):
        check(L[i]["verdict"] == "absorb", "rewrite packet %d absorbed" % i)
    for i, dirn in ((0, "forward"), (1, "forward")):
        p = parse_ip(frames[i].data)
        p[TCP].options = [("MSS", 1200) if k == "MSS" else (k, v)
                          for k, v in p[TCP].options]
        del p[TCP].chksum
        expect_copy("rewrite SYN %d MSS clamp" % i, pairs, i, p, dirn)
    unchanged(L, pairs, frames, 2, "SYN with MSS 1000")
    for i, dirn in ((3, "outbound"), (4, "inbound"), (6, "outbound")):
        p = parse_ip(frames[i].data)
        load = p[Raw].load.replace(b"hello", b"goodbye, world")
        p[UDP].remove_payload()
        p[UDP].add_payload(Raw(load))
        del p[UDP].len, p[UDP].chksum
        if IP in p:
            del p[IP].len, p[IP].chksum
        else:
            del p[IPv6].plen
        expect_copy("rewrite UDP %d text" % i, pairs, i, p, dirn)
    unchanged(L, pairs, frames, 5, "UDP without the text")
    unchanged(L, pairs, frames, 7, "UDP without the text, TTL 33")
    # The TTL: every packet gets 33 but the one that has it.
    frames, log, pairs, _ = run_inject("inject-rewrite-ttl", "inject_rewrite",
                                       "inject_rewrite_ttl.weir")
    L = originals(log)
    for i in range(7):
        p = parse_ip(frames[i].data)
        if IP in p:
            p[IP].ttl = 33
            del p[IP].chksum
        else:
            p[IPv6].hlim = 33
        check(L[i]["verdict"] == "absorb", "ttl packet %d absorbed" % i)
        expect_copy("ttl packet %d" % i, pairs, i, p, L[i]["dir"])
    unchanged(L, pairs, frames, 7, "packet with TTL 33")


def test_inject_reinject():
    """A callout that re-injects every packet unmodified does not loop:
    each capture packet is absorbed once, its copy is injected once, is
    classified again (once per layer) and permitted as the callout's own,
    and is written byte for byte."""
    d = fresh("inject-reinject")
    frames = g.inject_tcpreset()
    g.write_pcap(os.path.join(d, "in.pcap"), g.LINK_RAW, frames)
    rc, out, _ = replay(["-p", policy("inject_reinject.weir"), "-r",
                         "in.pcap", "-w", "out.pcap", "--log", "log.jsonl",
                         "-l", g.HOST4, "-l", g.HOST6,
                         "--plugins", os.environ["WEIR_TEST_PLUGIN_DIR"]],
                        d)
    print(out)
    check(rc == 0, "reinject: exit 0 (got %d)" % rc)
    log = load_log(os.path.join(d, "log.jsonl"))
    _, _, written = g.read_pcap(os.path.join(d, "out.pcap"))
    orig = [ln for ln in log if "injected" not in ln]
    copies = [ln for ln in log if "injected" in ln]
    check(len(orig) == len(frames), "one log line per capture packet")
    check(all(ln["verdict"] == "absorb" for ln in orig),
          "every capture packet absorbed")
    check(len(copies) == len(frames),
          "one copy per packet (%d for %d): no loop"
          % (len(copies), len(frames)))
    check(sorted(ln["i"] for ln in copies) == list(range(len(frames))),
          "each packet's copy made while it was replayed")
    for ln in copies:
        names = [e["layer"] for e in ln["layers"]]
        check(len(names) == len(set(names)),
              "copy %d classified once per layer: %s" % (ln["injected"],
                                                         names))
        check(ln["verdict"] == "permit", "copy %d permitted" % ln["injected"])
    check(sorted(w[1] for w in written) == sorted(f.data for f in frames),
          "the copies written are the capture's packets, byte for byte")
    check("%d packets injected by callouts" % len(frames) in out,
          "summary counts the injections")


TESTS.update({"inject_reinject": test_inject_reinject})
TESTS.update({"inject_tcpreset": test_inject_tcpreset,
              "inject_dnssink": test_inject_dnssink,
              "inject_rewrite": test_inject_rewrite})


def main():
    global WEIR, WORK
    if len(sys.argv) != 4 or sys.argv[1] not in TESTS:
        print("usage: test_replay.py {%s} WEIR WORKDIR" % ",".join(TESTS),
              file=sys.stderr)
        return 2
    WEIR, WORK = os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
    os.makedirs(WORK, exist_ok=True)
    TESTS[sys.argv[1]]()
    if FAILED:
        print("%s: %d check(s) failed" % (sys.argv[1], len(FAILED)))
        return 1
    print("%s: PASS" % sys.argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
