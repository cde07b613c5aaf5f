#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""SMTP relay benchmark (issue 4), not a test: in one run, on one machine,

  smtp-source -> mxgate-dataplane (net_tap) -> smtp-sink
  smtp-source -> Postfix relay (kernel TCP)   -> smtp-sink

for each scanning mode of the gateway ([scan] enable = no / yes), message
size and session count; prints messages/s and MB/s of both, their ratio,
and the CPU seconds per message of each side measured in the same run, as
one JSON object per line (and a table on stderr).

Links: smtp-source, both smtp-sinks and Postfix live in one network
namespace. The gateway is reached through the tap (MTU 1500: DPDK 22.11's
tap PMD takes no more; --mtu may lower it), or with --pmd af_packet through
a veth pair; Postfix is reached on that namespace's own address, i.e. over
the kernel's loopback (MTU 65536, GSO/GRO), and relays to its sink the same
way. On net_tap the gateway pays a system call per frame each way and a
signal per frame received on top; a NIC PMD would pay neither.

The gateway's rate is end-to-end: smtp-source's run ends when the last
message got its 250, which the gateway gives only after smtp-sink's 250.
Postfix acknowledges on queueing, so its run ends when qmgr has removed
every message (all relayed to the sink), read from its log.

Exactly once: each side has its own smtp-sink dumping every message to a
file (-d, in /dev/shm). After each run the benchmark requires smtp-source's
exit status 0 (it exits non-zero at the first reply that is not 2xx),
exactly N files at that side's sink, N distinct Message-Ids (smtp-source
writes pid.fd.count; with -d each session keeps its socket and its counts
strictly decrease, so the pair is unique), and every message's body
byte-identical to what smtp-source sent. Any difference aborts the
benchmark with exit status 3, naming the run.

CPU per message (gateway_cpu_ms_msg, postfix_cpu_ms_msg: milliseconds of
user+system CPU per message; *_cpu_s the totals): read from /proc before and
after each side's run. The gateway: the dataplane process (utime+stime of
/proc/PID/stat cover all its threads, workers included; PID is the
harness's process, which execs setpriv -> ip netns exec -> the binary).
Postfix: every process descending from the `postfix -c DIR start-fg`
process the harness started (master and all its daemons, found by walking
PPid over /proc), utime+stime+cutime+cstime each: daemons that exit during
the run (smtpd/cleanup/smtp reaching max_use or max_idle) are reaped by
master, so their time moves into master's cutime/cstime and is not lost.
smtp-source and smtp-sink are counted on neither side.

--repeat N: every point is measured N times, the gateway and Postfix
alternating; the JSON line gives the medians (and every sample, as
[msgs/s, CPU ms/msg] pairs); ratio_cpu_per_msg is Postfix's median CPU per
message over the gateway's, i.e. how many times more messages the gateway
relays per CPU second.

--pmd af_packet: the gateway on net_af_packet over a veth pair instead of
net_tap (the peers then live in the veth's other namespace); see
AfPacketSmtpGateway.

--profile DIR: `perf record` (cpu-clock samples) and `perf stat` (system
calls) of the dataplane process during every gateway run, written to DIR
as gw-<scan>-<size>-<sessions>-<repeat>.{data,txt}; --no-postfix skips
the peer (profiling only: the ratio columns are then absent).

  sudo MXG_BUILD=build-px /usr/bin/python3 perf/smtp_bench.py \\
       [--sizes 2000,20000,200000] [--sessions 20,200] [--messages 2000] \\
       [--scan off,on] [--pmd tap|af_packet] [--mtu 1500] [--repeat N] \\
       [--profile DIR] [--no-postfix]

Needs root, postfix (smtp-source, smtp-sink) and a release build.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration", "smtp"))

from mxgtest import paths  # noqa: E402
from mxgtest.cleanup import REGISTRY, install_signal_handlers  # noqa: E402
from mxgtest.net import Netns, VethPair, run  # noqa: E402
from mxgtest.proc import Process  # noqa: E402
from smtpenv import Postfix, SmtpGateway  # noqa: E402

SUBNET = 30
TCK = os.sysconf("SC_CLK_TCK")
GW_SINK_PORT, PF_SINK_PORT = 10026, 10027


class AfPacketSmtpGateway(SmtpGateway):
    """The gateway on net_af_packet over veth end a (namespace ns_dp, no
    kernel address; the kernel keeps seeing the frames and drops them, as
    not its own); everything else - smtp-source, the sinks, Postfix - in
    namespace ns on veth end b. The PMD reads and writes a PACKET_MMAP
    ring: no system call per frame received, one per burst sent."""
    kind = "af_packet"

    def _setup(self):
        self.ns_dp = self._stack.enter_context(Netns())
        self.ns = self.peer_ns = self._stack.enter_context(Netns())
        self.ns.quiet_ipv6_defaults()
        for scope in ("default", "all"):
            self.ns_dp.sysctl(f"net.ipv6.conf.{scope}.disable_ipv6", 1)
        self.veth = self._stack.enter_context(VethPair(self.ns_dp, self.ns))
        self.dp_dev, self.peer_dev = self.veth.a, self.veth.b
        self.ns_dp.ip("link", "set", self.dp_dev, "mtu", str(self.port_opts.get("mtu", 1500)))
        self.ns.ip("link", "set", self.peer_dev, "mtu", str(self.port_opts.get("mtu", 1500)))
        self.ns_dp.link_up(self.dp_dev)
        # A veth leaves TCP checksums to an offload that never happens
        # (CHECKSUM_PARTIAL); a packet socket sees them unfinished, and
        # tcpstack drops what does not verify. The peer computes them.
        run(["ethtool", "-K", self.peer_dev, "tx", "off"], netns=str(self.ns))
        self._start_dp(self.config("net_af_packet", f"iface={self.dp_dev}"), self.ns_dp)
        self._configure_peer()

    def _kernel_dp_mac(self):
        return self.ns_dp.mac(self.dp_dev)


class Lost(Exception):
    """A message lost, duplicated or altered."""


def _stat(pid):
    """(ppid, utime+stime, cutime+cstime) in ticks, or None (gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    f = s[s.rindex(")") + 2:].split()   # fields from 3 (state) on
    return int(f[1]), int(f[11]) + int(f[12]), int(f[13]) + int(f[14])


def cpu_self(pid):
    """CPU seconds of one process (all its threads)."""
    st = _stat(pid)
    return (st[1] + st[2]) / TCK if st else 0.0


def cpu_tree(root):
    """CPU seconds of |root| and all its descendants, plus what they
    reaped (cutime/cstime: exited children)."""
    stats = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st:
                stats[int(d)] = st
    kids = {}
    for pid, st in stats.items():
        kids.setdefault(st[0], []).append(pid)
    total, todo, seen = 0, [root], []
    while todo:
        pid = todo.pop()
        if pid in stats:
            total += stats[pid][1] + stats[pid][2]
            seen.append(pid)
        todo += kids.get(pid, [])
    cpu_tree.last = seen
    return total / TCK


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def dp_binary_pid(root):
    """The mxgate-dataplane process itself: |root| or its descendant (the
    harness runs setpriv -> ip netns exec -> the binary, which execs in
    place, so usually |root|)."""
    if comm(root).startswith("mxgate-dataplan"):
        return root
    cpu_tree(root)
    for pid in cpu_tree.last:
        if comm(pid).startswith("mxgate-dataplan"):
            return pid
    sys.exit(f"smtp_bench: no mxgate-dataplane process under pid {root}")


def source_body(size):
    """The message body smtp-source -l |size| sends (smtp-source.c: 'X's,
    every 80th byte a line end, a digit at the start of each line), as
    smtp-sink dumps it: LF line ends, and the final line end that the
    end-of-data adds."""
    b = bytearray(b"X" * size)
    for i in range(80, size, 80):
        b[i - 80] = ord("0123456789"[(i // 80) % 10])
        b[i - 2:i] = b"\r\n"
    return bytes(b).replace(b"\r\n", b"\n") + b"\n"


class Sink:
    """smtp-sink on |port| dumping every message into its own directory."""

    def __init__(self, ns, host, port, root):
        self.dir = os.path.join(root, f"sink{port}")
        os.makedirs(self.dir)
        shutil.chown(self.dir, "postfix", "postfix")
        # The template has no strftime conversion: every message is
        # DIR/<random hex>.
        self.proc = Process(["smtp-sink", "-u", "postfix", "-d", self.dir + "/",
                             f"{host}:{port}", "1024"], name=f"smtp-sink:{port}", netns=str(ns))

    def start(self):
        self.proc.start()
        return self

    def stop(self):
        self.proc.stop()

    def files(self):
        return [os.path.join(self.dir, f) for f in os.listdir(self.dir)]

    def check(self, n, size, what):
        """Exactly |n| messages, distinct Message-Ids, bodies as sent; then
        empties the directory. Raises Lost."""
        want = source_body(size) + b"\n"   # smtp-sink ends each dump with an empty line
        files = self.files()
        ids = set()
        bad = []
        for path in files:
            with open(path, "rb") as f:
                data = f.read()
            m = re.search(rb"^Message-Id: (<[^>]*>)$", data, re.M)
            if m:
                ids.add(m.group(1))
            hdr_end = data.find(b"\n\n", data.find(b"\nMessage-Id: "))
            if not m or hdr_end < 0 or data[hdr_end + 2:] != want:
                bad.append(os.path.basename(path))
        for path in files:
            os.unlink(path)
        if len(files) != n or len(ids) != n or bad:
            raise Lost(f"{what}: {n} messages sent and acknowledged, the sink got "
                       f"{len(files)} with {len(ids)} distinct Message-Ids, "
                       f"{len(bad)} not byte-identical ({bad[:3]})")


def source(ns, host, port, size, sessions, msgs):
    t0 = time.monotonic()
    p = run(["smtp-source", "-s", str(sessions), "-m", str(msgs), "-l", str(size), "-d",
             "-f", "a@ext.test", "-t", "b@local.test", "-M", "src.test", f"{host}:{port}"],
            netns=str(ns), check=False, timeout=3600)
    return time.monotonic() - t0, p


class Profile:
    """perf record + perf stat attached to |pid| for one run. Both start
    disabled (-D -1) and are enabled through their control FIFO; the run
    starts once both acknowledged, so no sample is missed."""

    EVENTS = ("task-clock,context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_read,"
              "syscalls:sys_enter_write,syscalls:sys_enter_readv,syscalls:sys_enter_writev,"
              "syscalls:sys_enter_clock_nanosleep,syscalls:sys_enter_nanosleep")

    def __init__(self, pid, base):
        self.pid, self.base = pid, base
        self.procs = []

    def __enter__(self):
        for kind, argv in (("record", ["perf", "record", "-q", "-F", "1999", "-g", "-o",
                                       self.base + ".data"]),
                           ("stat", ["perf", "stat", "-e", self.EVENTS, "-o",
                                     self.base + ".txt"])):
            ctl, ack = f"{self.base}.{kind}.ctl", f"{self.base}.{kind}.ack"
            for f in (ctl, ack):
                if os.path.exists(f):
                    os.unlink(f)
                os.mkfifo(f)
            p = subprocess.Popen(argv + ["-D", "-1", "--control", f"fifo:{ctl},{ack}", "-p",
                                         str(self.pid)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            REGISTRY.add(lambda p=p: p.poll() is None and p.kill(), f"perf {p.pid}")
            self.procs.append((p, ctl, ack))
            with open(ctl, "w") as c, open(ack) as k:
                c.write("enable\n")
                c.flush()
                if k.read(4) != "ack\n":
                    sys.exit(f"smtp_bench: perf {kind} did not acknowledge 'enable'")
        return self

    def __exit__(self, *exc):
        for p, _, _ in self.procs:
            p.send_signal(signal.SIGINT)
        for p, ctl, ack in self.procs:
            p.wait(120)
            os.unlink(ctl)
            os.unlink(ack)


def pf_removed(pf, start, n):
    """Waits until Postfix logged |n| 'removed' lines after line |start|."""
    idx = start
    for _ in range(n):
        m = pf.wait_log(r": removed$", start=idx, timeout=600)
        idx = pf.proc.lines["stdout"].index(m.string, idx) + 1


def run_gateway(gw, dp_pid, sink, scan, size, sess, n, prof):
    """One gateway run: (elapsed seconds, CPU seconds). Raises Lost."""
    st0 = gw.smtp_stats()
    c0 = cpu_self(dp_pid)
    if prof:
        with Profile(dp_pid, prof):
            el, p = source(gw.ns, gw.gw4, 25, size, sess, n)
    else:
        el, p = source(gw.ns, gw.gw4, 25, size, sess, n)
    cpu = cpu_self(dp_pid) - c0
    st1 = gw.smtp_stats()
    what = f"gateway scan {scan}, {size} B x {sess} sessions"
    if p.returncode != 0:
        raise Lost(f"{what}: smtp-source exited {p.returncode}: "
                   f"{(p.stderr or p.stdout).strip()[-400:]}")
    sink.check(n, size, what)
    d = {k: st1[k] - st0[k] for k in ("messages_received", "messages_delivered",
                                      "messages_tempfailed", "messages_unscanned")}
    if d["messages_delivered"] != n or d["messages_tempfailed"]:
        raise Lost(f"{what}: gateway counters {d}")
    if d["messages_unscanned"] != (n if scan == "off" else 0):
        raise Lost(f"{what}: {d['messages_unscanned']} unscanned messages")
    return el, cpu


def run_postfix(gw, pf, sink, size, sess, n):
    """One Postfix run, until qmgr removed the last message: (elapsed, CPU)."""
    start = len(pf.proc.lines["stdout"])
    c0 = cpu_tree(pf.proc.pid)
    t0 = time.monotonic()
    _, p = source(gw.ns, gw.peer4, 2525, size, sess, n)
    what = f"postfix, {size} B x {sess} sessions"
    if p.returncode != 0:
        raise Lost(f"{what}: smtp-source exited {p.returncode}: "
                   f"{(p.stderr or p.stdout).strip()[-400:]}")
    pf_removed(pf, start, n)
    el = time.monotonic() - t0
    cpu = cpu_tree(pf.proc.pid) - c0
    sink.check(n, size, what)
    return el, cpu


def summarize(side, runs, n, size):
    """Medians over the repeats (and every sample) of one side."""
    el = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    return {f"{side}_msgs_s": round(n / el, 1), f"{side}_MB_s": round(n * size / el / 1e6, 2),
            f"{side}_cpu_s": round(cpu, 2), f"{side}_cpu_ms_msg": round(cpu * 1000 / n, 3),
            f"{side}_samples": [[round(n / e, 1), round(c * 1000 / n, 3)] for e, c in runs]}


def run_mode(a, scan, workdir, points):
    smtp = {"smtp_allow_client_ip": f"198.18.{SUBNET}.0/24", "max_sessions": 4000,
            "max_sessions_per_ip": 4000, "downstream_max_connections": 512,
            "downstream_smtp_server_port": GW_SINK_PORT}
    shm = tempfile.mkdtemp(prefix="mxg-smtpbench-", dir="/dev/shm")
    os.chmod(shm, 0o755)
    REGISTRY.add(lambda: shutil.rmtree(shm, ignore_errors=True), f"sink dumps {shm}")
    out = []
    gwdir = os.path.join(workdir, f"gw-{scan}")
    os.makedirs(gwdir)
    topo = AfPacketSmtpGateway if a.pmd == "af_packet" else SmtpGateway
    with topo(paths.dataplane_bin(), gwdir, smtp=smtp,
                     scan={"enable": "yes" if scan == "on" else "no"}, subnet=SUBNET,
                     dataplane={"mbufs": 32767}, port={"mtu": a.mtu}) as gw:
        dp_pid = dp_binary_pid(gw.dp.pid)
        peer = gw.peer4
        gw_sink = Sink(gw.ns, peer, GW_SINK_PORT, shm).start()
        pf_sink = Sink(gw.ns, peer, PF_SINK_PORT, shm).start()
        pf = None
        if not a.no_postfix:
            pf = Postfix(gw.ns, f"{peer}:2525", {"relayhost": f"[{peer}]:{PF_SINK_PORT}",
                                                 "default_process_limit": 200,
                                                 "smtp_destination_concurrency_limit": 50})
            pf.start()
            cpu_tree(pf.proc.pid)
            names = sorted(comm(p) for p in cpu_tree.last)
            if "master" not in names:
                sys.exit(f"smtp_bench: no Postfix master under pid {pf.proc.pid}: {names}")
            print(f"postfix CPU: process tree of pid {pf.proc.pid}: {' '.join(names)}",
                  file=sys.stderr, flush=True)
        try:
            for size, sess, n in points:
                gws, pfs = [], []
                for rep in range(a.repeat):
                    prof = None
                    if a.profile:
                        prof = os.path.join(a.profile, f"gw-{scan}-{size}-{sess}-{rep}")
                    gws.append(run_gateway(gw, dp_pid, gw_sink, scan, size, sess, n, prof))
                    if pf:
                        pfs.append(run_postfix(gw, pf, pf_sink, size, sess, n))
                r = {"scan": scan, "size": size, "sessions": sess, "messages": n,
                     "pmd": a.pmd, "mtu": a.mtu, "repeat": a.repeat, "exactly_once": True}
                r.update(summarize("gateway", gws, n, size))
                if pf:
                    r.update(summarize("postfix", pfs, n, size))
                    r["ratio_msgs_s"] = round(r["gateway_msgs_s"] / r["postfix_msgs_s"], 2)
                    r["ratio_cpu_per_msg"] = (round(r["postfix_cpu_ms_msg"] /
                                                    r["gateway_cpu_ms_msg"], 2)
                                              if r["gateway_cpu_ms_msg"] else None)
                print(json.dumps(r), flush=True)
                line = (f"scan {scan:>3} {size:>7} B x{sess:>4}: gateway {r['gateway_msgs_s']:>8}"
                        f" msg/s {r['gateway_MB_s']:>7} MB/s {r['gateway_cpu_ms_msg']:>7} ms CPU")
                if pf:
                    line += (f" | postfix {r['postfix_msgs_s']:>7} msg/s "
                             f"{r['postfix_cpu_ms_msg']:>7} ms CPU | x{r['ratio_msgs_s']} rate,"
                             f" x{r['ratio_cpu_per_msg']} per core")
                print(line, file=sys.stderr, flush=True)
                out.append(r)
        finally:
            if pf:
                pf.stop()
            gw_sink.stop()
            pf_sink.stop()
            shutil.rmtree(shm, ignore_errors=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="2000,20000,200000")
    ap.add_argument("--sessions", default="20,200")
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--scan", default="off,on", help="gateway modes, in order")
    ap.add_argument("--mtu", type=int, default=1500, help="the gateway port's MTU")
    ap.add_argument("--pmd", choices=("tap", "af_packet"), default="tap",
                    help="the gateway's port: net_tap (default) or net_af_packet on a veth")
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per point and side (gateway and Postfix alternate); "
                         "medians are reported")
    ap.add_argument("--profile", metavar="DIR")
    ap.add_argument("--no-postfix", action="store_true")
    a = ap.parse_args()
    install_signal_handlers()
    if a.profile:
        os.makedirs(a.profile, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="mxg-smtpbench-")
    if not os.environ.get("MXG_KEEP_LOGS"):    # configs and logs of the gateways
        REGISTRY.add(lambda: shutil.rmtree(workdir, ignore_errors=True), f"workdir {workdir}")
    points = [(int(sz), int(se), a.messages) for sz in a.sizes.split(",")
              for se in a.sessions.split(",")]
    try:
        for scan in a.scan.split(","):
            if scan not in ("on", "off"):
                sys.exit(f"smtp_bench: --scan takes on and off, not {scan!r}")
            run_mode(a, scan, workdir, points)
    except Lost as e:
        print(f"smtp_bench: FAILED: {e}", file=sys.stderr, flush=True)
        sys.exit(3)


if __name__ == "__main__":
    main()
