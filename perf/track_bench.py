#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
"""Tracking ingest benchmark (issue 6), not a test. In one run, on one
machine:

  1. the message rate the dataplane sustains with the policy and tracking
     on: smtp-source -> mxgate-dataplane (net_tap, policy snapshot from
     mxgate-control) -> smtp-sink, end to end (the last 250 comes after
     smtp-sink's 250); then how long after the last 250 the last tracking
     row is in PostgreSQL (the lag), and the rate rows arrived at;
  2. the ingest capacity of mxgate-control alone: tracking records written
     straight into its channel socket as fast as Python can frame them,
     timed until the last row is in PostgreSQL (rows/s, batched).

The database is not the bottleneck when (2) is above (1)'s message rate
times its recipients: the ratio is printed. One JSON object per line on
stdout, a summary on stderr.

  sudo MXG_BUILD=build /usr/bin/python3 perf/track_bench.py \\
       [--messages 3000] [--sessions 50] [--size 2000] [--records 20000]

Needs root, postgresql, postfix (smtp-source, smtp-sink), a release build.
"""

import argparse
import json
import os
import socket
import struct
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration", "control"))

from mxgtest import paths  # noqa: E402
from mxgtest.cleanup import install_signal_handlers  # noqa: E402
from mxgtest.net import run  # noqa: E402
from ctlenv import wait_until  # noqa: E402
from policyenv import LOCAL_DOMAIN, PolicyEnv  # noqa: E402

SUBNET = 31
TRACK = 4
HELLO = 1


def rows(env):
    return int(env.control.psql("SELECT count(*) FROM message_log"))


def frame(t, payload):
    return struct.pack(">IB", len(payload) + 1, t) + payload


def record(i):
    return json.dumps({
        "uuid": uuid.uuid4().hex, "ts": time.time(), "node": "bench",
        "client_ip": "198.18.31.2", "helo": "src.test", "sender": f"s{i}@ext.test",
        "subject": f"bench {i}", "message_id": f"<{i}@bench>", "size": 2000,
        "policy_version": 1, "reprocess": False, "verdicts": {}, "timings": {},
        "recipients": [{"rcpt": f"r{i}@{LOCAL_DOMAIN}", "direction": "inbound",
                        "action": "deliver", "verdict": "clean", "rule_id": None,
                        "rule_name": None, "downstream_reply": "250 ok",
                        "quarantine_id": None, "matched": []}],
        "notify": []}, separators=(",", ":")).encode()


def wait_rows(env, target, timeout):
    """Seconds until message_log holds |target| rows (polled every 20 ms)."""
    t0 = time.monotonic()
    wait_until(lambda: rows(env) >= target, timeout, f"{target} tracking rows",
               interval=0.02)
    return time.monotonic() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=3000)
    ap.add_argument("--sessions", type=int, default=50)
    ap.add_argument("--size", type=int, default=2000)
    ap.add_argument("--records", type=int, default=20000)
    a = ap.parse_args()
    install_signal_handlers()
    workdir = tempfile.mkdtemp(prefix="mxg-trackbench-")
    smtp = {"smtp_allow_client_ip": f"198.18.{SUBNET}.0/24", "max_sessions": 4000,
            "max_sessions_per_ip": 4000, "downstream_max_connections": 512}
    with PolicyEnv(paths.dataplane_bin(), workdir, subnet=SUBNET, smtp_extra=smtp,
                   dataplane={"mbufs": 32767}, sink="smtp-sink") as env:
        env.sync_policy()
        # 1. the dataplane's message rate, tracking on
        base = rows(env)
        t0 = time.monotonic()
        p = run(["smtp-source", "-s", str(a.sessions), "-m", str(a.messages), "-l",
                 str(a.size), "-d", "-f", "a@ext.test", "-t", f"b@{LOCAL_DOMAIN}",
                 "-M", "src.test", f"{env.gw.gw4}:25"],
                netns=str(env.gw.ns), check=False, timeout=3600)
        el = time.monotonic() - t0
        st = env.smtp_stats()
        delivered = st["messages_delivered"]
        lag = wait_rows(env, base + delivered, 600)
        r1 = {"bench": "track_e2e", "messages": a.messages, "sessions": a.sessions,
              "size": a.size, "source_ok": p.returncode == 0, "delivered": delivered,
              "tempfailed": st["messages_tempfailed"],
              "gateway_msgs_s": round(a.messages / el, 1),
              "tracking_lag_s": round(lag, 3),
              "tracking_rows_s_during": round(delivered / (el + lag), 1),
              "track_dropped": env.ctl_stats()["track_dropped"]}
        print(json.dumps(r1), flush=True)
        # 2. mxgate-control's ingest capacity alone
        base = rows(env)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(env.channel_socket)
        s.sendall(frame(HELLO, json.dumps({"node": "bench", "pid": os.getpid(),
                                           "version": "bench",
                                           "policy_version": -1}).encode()))
        batch = b"".join(frame(TRACK, record(i)) for i in range(a.records))
        t0 = time.monotonic()
        s.sendall(batch)
        wait_rows(env, base + a.records, 600)
        el2 = time.monotonic() - t0
        s.close()
        r2 = {"bench": "track_ingest", "records": a.records,
              "ingest_rows_s": round(a.records / el2, 1),
              "ratio_ingest_over_gateway": round(a.records / el2 / r1["gateway_msgs_s"], 2)}
        print(json.dumps(r2), flush=True)
        print(f"gateway {r1['gateway_msgs_s']} msg/s with tracking (lag {r1['tracking_lag_s']} s "
              f"after the last 250, {r1['track_dropped']} dropped) | control ingest "
              f"{r2['ingest_rows_s']} rows/s = x{r2['ratio_ingest_over_gateway']} the "
              f"gateway's rate", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
