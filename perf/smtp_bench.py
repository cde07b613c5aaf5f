#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""SMTP relay benchmark (issue 4), not a test: in one run, on one machine,

  smtp-source -> mxgate-dataplane (net_tap) -> smtp-sink
  smtp-source -> Postfix relay (kernel TCP)   -> smtp-sink

for each message size and session count; prints messages/s and MB/s for
both and their ratio, and the CPU seconds per message of each side measured
in the same run, as one JSON object per line (and a table on stderr).

The gateway's rate is end-to-end: smtp-source's run ends when the last
message got its 250, which the gateway gives only after smtp-sink's 250.
Postfix acknowledges on queueing, so its run ends when qmgr has removed
every message (all relayed to the sink), read from its log.

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

  sudo MXG_BUILD=build-px /usr/bin/python3 perf/smtp_bench.py \
       [--sizes 2000,20000,200000] [--sessions 20,200] [--messages 2000]

Needs root, postfix (smtp-source, smtp-sink) and a release build.
"""

import argparse
import json
import os
import re
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration", "smtp"))

from mxgtest import paths  # noqa: E402
from mxgtest.cleanup import install_signal_handlers  # noqa: E402
from mxgtest.net import run  # noqa: E402
from mxgtest.proc import Process  # noqa: E402
from smtpenv import Postfix, SmtpGateway  # noqa: E402

SUBNET = 30
TCK = os.sysconf("SC_CLK_TCK")


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


def source(gw, host, port, size, sessions, msgs):
    t0 = time.monotonic()
    p = run(["smtp-source", "-s", str(sessions), "-m", str(msgs), "-l", str(size), "-d",
             "-f", "a@ext.test", "-t", "b@local.test", "-M", "src.test", f"{host}:{port}"],
            netns=str(gw.ns), check=False, timeout=3600)
    return time.monotonic() - t0, p


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="2000,20000,200000")
    ap.add_argument("--sessions", default="20,200")
    ap.add_argument("--messages", type=int, default=2000)
    a = ap.parse_args()
    install_signal_handlers()
    workdir = tempfile.mkdtemp(prefix="mxg-smtpbench-")
    smtp = {"smtp_allow_client_ip": f"198.18.{SUBNET}.0/24", "max_sessions": 4000,
            "max_sessions_per_ip": 4000, "downstream_max_connections": 512}
    with SmtpGateway(paths.dataplane_bin(), workdir, smtp=smtp, subnet=SUBNET,
                     dataplane={"mbufs": 32767}) as gw:
        peer = gw.peer4
        dp_pid = gw.dp.pid
        if not comm(dp_pid).startswith("mxgate-dataplan"):
            sys.exit(f"smtp_bench: pid {dp_pid} is {comm(dp_pid)!r}, not the dataplane")
        sink = Process(["smtp-sink", "-u", "postfix", f"{peer}:10026", "1024"],
                       name="smtp-sink", netns=str(gw.ns))
        sink.start()
        pf = Postfix(gw.ns, f"{peer}:2525", {"relayhost": f"[{peer}]:10026",
                                             "default_process_limit": 200,
                                             "smtp_destination_concurrency_limit": 50})
        with pf:
            cpu_tree(pf.proc.pid)
            names = sorted(comm(p) for p in cpu_tree.last)
            if "master" not in names:
                sys.exit(f"smtp_bench: no Postfix master under pid {pf.proc.pid}: {names}")
            print(f"postfix CPU: process tree of pid {pf.proc.pid}: {' '.join(names)}",
                  file=sys.stderr, flush=True)
            for size in [int(x) for x in a.sizes.split(",")]:
                for sess in [int(x) for x in a.sessions.split(",")]:
                    n = a.messages if size < 100000 else max(200, a.messages // 10)
                    # Ports differ per run so Postfix log counting restarts cleanly.
                    c0 = cpu_self(dp_pid)
                    el_gw, p = source(gw, gw.gw4, 25, size, sess, n)
                    cpu_gw = cpu_self(dp_pid) - c0
                    ok_gw = p.returncode == 0
                    start = len(pf.proc.lines["stdout"])
                    c0 = cpu_tree(pf.proc.pid)
                    t0 = time.monotonic()
                    source(gw, peer, 2525, size, sess, n)
                    idx = start
                    for _ in range(n):
                        m = pf.wait_log(r": removed$", start=idx, timeout=600)
                        idx = pf.proc.lines["stdout"].index(m.string, idx) + 1
                    el_pf = time.monotonic() - t0
                    cpu_pf = cpu_tree(pf.proc.pid) - c0
                    r = {"size": size, "sessions": sess, "messages": n,
                         "gateway_msgs_s": round(n / el_gw, 1),
                         "gateway_MB_s": round(n * size / el_gw / 1e6, 2),
                         "gateway_ok": ok_gw,
                         "postfix_msgs_s": round(n / el_pf, 1),
                         "postfix_MB_s": round(n * size / el_pf / 1e6, 2)}
                    r["ratio"] = round(r["gateway_msgs_s"] / r["postfix_msgs_s"], 2)
                    r.update({"gateway_cpu_s": round(cpu_gw, 2),
                              "gateway_cpu_ms_msg": round(cpu_gw * 1000 / n, 3),
                              "postfix_cpu_s": round(cpu_pf, 2),
                              "postfix_cpu_ms_msg": round(cpu_pf * 1000 / n, 3)})
                    st = gw.smtp_stats()
                    r["gw_tempfailed_total"] = st["messages_tempfailed"]
                    print(json.dumps(r), flush=True)
                    print(f"{size:>7} B x{sess:>4}: gateway {r['gateway_msgs_s']:>8} msg/s "
                          f"{r['gateway_MB_s']:>7} MB/s | postfix {r['postfix_msgs_s']:>8} "
                          f"msg/s | x{r['ratio']} | CPU ms/msg gateway "
                          f"{r['gateway_cpu_ms_msg']} postfix {r['postfix_cpu_ms_msg']}",
                          file=sys.stderr, flush=True)
        sink.stop()


if __name__ == "__main__":
    main()
