# SPDX-License-Identifier: BSD-3-Clause
"""The control channel, mxgate-control's end (control/ctl_chan.c), driven
by a Python stand-in for the dataplane over the Unix socket: HELLO and the
policy snapshot, a new snapshot after a rule change, quarantine requests
acknowledged only once the row is committed (identical bytes), tracking
records batched into message_log, PostgreSQL stopped and restarted under
traffic, and malformed frames closing only their own connection.

Frames are struct-packed here from the description in common/mxg_chan.h,
independently of the C code. One mxgate-control for the module (each start
costs an initdb); the test that stops PostgreSQL restarts it and runs last.
"""

import base64
import json
import os
import socket
import stat
import struct
import subprocess
import time
import uuid

import pytest

from ctlenv import (HELLO, POLICY, POLICY_ACK, PG_BIN, QUAR, QUAR_ACK, TRACK, Chan, Control,
                    channel_control, frame, wait_until)

def track_record(node, i, rcpts=1, ts=None):
    return {
        "uuid": uuid.uuid4().hex, "ts": time.time() if ts is None else ts, "node": node,
        "client_ip": "192.0.2.%d" % (i % 250 + 1), "helo": "mx.example.net",
        "sender": f"s{i}@example.net", "subject": f"message {i}",
        "message_id": f"<{i}@example.net>", "size": 1000 + i, "policy_version": 1,
        "reprocess": False, "verdicts": {"virus": None, "spam": 0.1},
        "timings": {"scan_us": 120, "total_us": 900},
        "recipients": [{"rcpt": f"r{k}@example.com", "direction": "inbound",
                        "action": "deliver", "verdict": "clean", "rule_id": None,
                        "rule_name": None, "downstream_reply": "250 2.0.0 Ok",
                        "quarantine_id": None, "matched": []} for k in range(rcpts)],
        "notify": []}


def meta(node, **kw):
    m = {"uuid": uuid.uuid4().hex, "client_ip": "2001:db8::25", "helo": "bad.example",
         "sender": "evil@bad.example", "recipients": ["a@example.com", "b@example.com"],
         "subject": "invoice", "message_id": "<q1@bad.example>", "size": 0,
         "reason": "virus Eicar-Test-Signature", "rule_id": 1,
         "rule_name": "Quarantine viruses", "policy_version": 1, "area": "virus",
         "node": node}
    m.update(kw)
    return m


def pg_ctl(c, *args):
    subprocess.run(["runuser", "-u", "mxgate", "--", f"{PG_BIN}/pg_ctl", "-D",
                    os.path.join(c.state, "pgdata"), *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)


def log_rows(c, node):
    return int(c.psql(f"SELECT count(*) FROM message_log WHERE node = '{node}'"))


@pytest.fixture(scope="module")
def ctl():
    with channel_control("mxgchan") as c:
        yield c


def test_socket_created_for_the_user(ctl):
    st = os.lstat(ctl.sock)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o660
    import pwd
    assert st.st_uid == pwd.getpwnam("mxgate").pw_uid


def test_hello_gets_policy_and_ack_is_reported(ctl):
    ch = Chan(ctl.sock, node="dp-hello")
    try:
        doc = ch.policy()
        want = int(ctl.psql("SELECT max(version) FROM policy_versions"))
        assert doc["version"] == want
        ch.send(POLICY_ACK, {"version": doc["version"], "ok": True, "error": None})

        def listed():
            dps = [d for d in ctl.status()["dataplanes"] if d["node"] == "dp-hello"]
            return dps and dps[0]["policy_version"] == want and dps[0]
        d = wait_until(listed, 10, "dataplane in /status with its policy version")
        assert d["pid"] == os.getpid() and d["version"] == "test"
        assert d["connected_since"].endswith("Z")
    finally:
        ch.close()
    wait_until(lambda: not [d for d in ctl.status()["dataplanes"] if d["node"] == "dp-hello"],
               10, "dataplane gone from /status")


def test_rule_change_pushes_new_policy_to_every_dataplane(ctl):
    a, b = Chan(ctl.sock, node="dp-a"), Chan(ctl.sock, node="dp-b")
    try:
        v0 = a.policy()["version"]
        assert b.policy()["version"] == v0
        code, rule = ctl.api("POST", "/policies", {
            "name": "chan test rule", "conditions": [{"type": "any"}],
            "actions": [{"type": "deliver"}]})
        assert code == 201, rule
        for ch in (a, b):
            doc = ch.policy()
            assert doc["version"] > v0
            assert "chan test rule" in [r["name"] for r in doc["policies"]]
        # a burst of changes: coalesced, the last version always arrives
        for i in range(5):
            code, _ = ctl.api("PUT", f"/policies/{rule['id']}", {
                "name": "chan test rule", "description": f"burst {i}",
                "conditions": [{"type": "any"}], "actions": [{"type": "deliver"}]})
            assert code == 200
        final = int(ctl.psql("SELECT max(version) FROM policy_versions"))
        seen = []
        while not seen or seen[-1] < final:
            seen.append(a.policy()["version"])
        assert seen == sorted(seen) and len(seen) <= 5
    finally:
        a.close()
        b.close()


def test_quarantine_committed_with_identical_bytes(ctl):
    ch = Chan(ctl.sock, node="dp-quar")
    try:
        msg = (b"From: evil@bad.example\r\nSubject: invoice\r\n\r\n" +
               bytes(range(256)) * 64 + b"\r\n")
        status, qid, err = ch.quar(7, meta("dp-quar", size=len(msg)), msg)
        assert status == 0 and qid > 0, err
        # committed before the answer: visible at once
        code, q = ctl.api("GET", f"/quarantine/{qid}")
        assert code == 200
        assert base64.b64decode(q["message_base64"]) == msg
        assert q["sender"] == "evil@bad.example" and q["area"] == "virus"
        assert q["recipients"] == ["a@example.com", "b@example.com"]
        assert q["client_ip"] == "2001:db8::25" and q["node"] == "dp-quar"
        assert q["size"] == len(msg) and q["rule_name"] == "Quarantine viruses"
        days = float(ctl.psql(f"SELECT extract(epoch FROM expires_at - received_at) / 86400 "
                              f"FROM quarantine WHERE id = {qid}"))
        assert abs(days - 30) < 0.01
        # several in flight on one connection: every one answered, in order
        m = json.dumps(meta("dp-quar", client_ip="")).encode()
        for req in range(100, 110):
            ch.send(QUAR, struct.pack(">QI", req, len(m)) + m + b"msg %d" % req)
        acks = [struct.unpack(">QBQ", ch.recv_type(QUAR_ACK)[:17]) for _ in range(10)]
        assert [a[0] for a in acks] == list(range(100, 110))
        assert all(a[1] == 0 for a in acks)
        d = [d for d in ctl.status()["dataplanes"] if d["node"] == "dp-quar"][0]
        assert d["quar_stored"] == 11 and d["quar_failed"] == 0
    finally:
        ch.close()


def test_tracking_2000_records(ctl):
    node = "dp-track"
    ch = Chan(ctl.sock, node=node)
    try:
        ch.policy()
        recs = [track_record(node, i, rcpts=2 if i % 10 == 0 else 1) for i in range(2000)]
        want = sum(len(r["recipients"]) for r in recs)
        t0 = time.monotonic()
        ch.s.sendall(b"".join(frame(TRACK, r) for r in recs))
        wait_until(lambda: log_rows(ctl, node) == want, 60, f"{want} message_log rows")
        dt = time.monotonic() - t0
        print(f"\n{want} rows in {dt:.2f} s")
        row = ctl.psql("SELECT recipient, direction, action, verdict, sender, "
                       "host(client_ip), size, verdicts->>'spam', timings->>'scan_us' "
                       f"FROM message_log WHERE msg_uuid = '{recs[5]['uuid']}'")
        assert row == "r0@example.com|inbound|deliver|clean|s5@example.net|192.0.2.6|1005|0.1|120"
        # the dataplane's clock a month off: no partition for that day, the
        # row is kept (at now(), the dataplane's time in timings)
        skew = track_record(node, 9999, ts=time.time() - 40 * 86400)
        skew["recipients"][0]["rule_id"] = 3
        ch.send(TRACK, skew)
        wait_until(lambda: log_rows(ctl, node) == want + 1, 20, "skewed record")
        got = ctl.psql("SELECT floor((timings->>'ts_dataplane')::float8)::bigint, rule_id, "
                       "ts > now() - interval '1 hour' FROM message_log "
                       f"WHERE msg_uuid = '{skew['uuid']}'")
        assert got == f"{int(skew['ts'])}|3|t"
        d = [d for d in ctl.status()["dataplanes"] if d["node"] == node][0]
        assert d["track_received"] == 2001 and d["track_dropped"] == 0
    finally:
        ch.close()


def test_tracking_throughput(ctl):
    """Not an assertion on speed: prints rows/s for the report."""
    node = "dp-rate"
    ch = Chan(ctl.sock, node=node)
    try:
        n = 20000
        data = b"".join(frame(TRACK, track_record(node, i)) for i in range(n))
        t0 = time.monotonic()
        ch.s.sendall(data)
        t1 = time.monotonic()
        wait_until(lambda: log_rows(ctl, node) == n, 120, f"{n} rows", interval=0.1)
        dt = time.monotonic() - t0
        print(f"\nTRACK ingest: {n} rows in {dt:.2f} s ({n / dt:.0f} rows/s; "
              f"socket write {t1 - t0:.2f} s)")
    finally:
        ch.close()


def test_refused_record_costs_only_itself(ctl):
    """A record the database refuses (here: a trigger) is isolated by
    bisection and dropped; its batch neighbours are stored. A refused
    quarantine insert is answered with status 1."""
    node = "dp-poison"
    ctl.psql("CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
             "IF NEW.sender = 'poison@example.net' THEN RAISE EXCEPTION 'poisoned'; END IF; "
             "RETURN NEW; END $$; "
             "CREATE TRIGGER poison BEFORE INSERT ON message_log FOR EACH ROW "
             "EXECUTE FUNCTION poison(); "
             "CREATE TRIGGER poison BEFORE INSERT ON quarantine FOR EACH ROW "
             "EXECUTE FUNCTION poison()")
    ch = Chan(ctl.sock, node=node)
    try:
        before = ctl.status()["channel"]["track_rejected"]
        recs = [track_record(node, i) for i in range(1000)]
        recs[617]["sender"] = "poison@example.net"
        ch.s.sendall(b"".join(frame(TRACK, r) for r in recs))
        wait_until(lambda: log_rows(ctl, node) == 999, 60, "999 rows")
        assert ctl.status()["channel"]["track_rejected"] == before + 1
        assert "tracking record refused by the database" in ctl.stderr()
        status, qid, err = ch.quar(5, meta(node, sender="poison@example.net"), b"x")
        assert status == 1 and qid == 0 and "refused" in err
        # and the channel goes on
        ch.send(TRACK, track_record(node, 5000))
        wait_until(lambda: log_rows(ctl, node) == 1000, 20, "row after the refusal")
    finally:
        ch.close()
        ctl.psql("DROP TRIGGER poison ON message_log; DROP TRIGGER poison ON quarantine; "
                 "DROP FUNCTION poison()")


# A tracking record mxgate-control cannot take is dropped and counted: the
# framing is intact, and cutting the channel would fail every quarantine in
# flight on that dataplane.
BAD_TRACK = [
    (frame(TRACK, b"{not json"), "TRACK: JSON at byte"),
    (frame(TRACK, {"uuid": "xyz", "ts": 1, "recipients": []}), "TRACK: uuid"),
    (frame(TRACK, dict(track_record("x", 1), client_ip="999.1.1.1")), "TRACK: client_ip"),
    (frame(TRACK, dict(track_record("x", 1), recipients=[{"rcpt": 5}])),
     "TRACK: recipients[0].rcpt"),
]


@pytest.mark.parametrize("data,log", BAD_TRACK, ids=[b[1] for b in BAD_TRACK])
def test_malformed_track_dropped(ctl, data, log):
    ch = Chan(ctl.sock, node="dp-badtrack")
    try:
        ch.policy()
        before = ctl.status()["channel"]["track_dropped"]
        ch.s.sendall(data)
        wait_until(lambda: log in ctl.stderr(), 10, f"log line '{log}'")
        assert ctl.status()["channel"]["track_dropped"] == before + 1
        # the same connection carries on
        status, qid, _ = ch.quar(1, meta("dp-badtrack"), b"still here")
        assert status == 0 and qid > 0
    finally:
        ch.close()


BAD = [
    ("QUAR", frame(QUAR, struct.pack(">QI", 1, 1000) + b"{}"), "QUAR: metadata length"),
    ("QUAR", frame(QUAR, struct.pack(">QI", 1, 2) + b"[]"), "QUAR: metadata: (metadata)"),
    ("POLICY_ACK", frame(POLICY_ACK, {"version": "7", "ok": True}), "POLICY_ACK: version"),
    ("POLICY", frame(POLICY, {}), "POLICY: a frame of the control plane's"),
    ("length", struct.pack(">IB", 0, TRACK), "framing"),
    ("type", struct.pack(">IB", 3, 77) + b"{}", "framing"),
    ("HELLO", frame(HELLO, {"node": "again", "pid": 1}), "HELLO: second HELLO"),
]


@pytest.mark.parametrize("what,data,log", BAD, ids=[b[2] for b in BAD])
def test_malformed_frame_closes_the_connection(ctl, what, data, log):
    bystander = Chan(ctl.sock, node="dp-bystander")
    ch = Chan(ctl.sock, node="dp-bad")
    try:
        bystander.policy()
        ch.policy()
        before = ctl.status()["channel"]["protocol_errors"]
        ch.s.sendall(data)
        assert ch.closed(), f"{what}: connection not closed"
        wait_until(lambda: log in ctl.stderr(), 10, f"log line '{log}'")
        s = ctl.status()
        assert s["channel"]["protocol_errors"] == before + 1
        # the others carry on
        status, qid, _ = bystander.quar(1, meta("dp-bystander"), b"still here")
        assert status == 0 and qid > 0
    finally:
        ch.close()
        bystander.close()
    assert ctl.proc.alive


def test_frame_before_hello_closes(ctl):
    ch = Chan(ctl.sock, hello=False)
    try:
        ch.send(TRACK, track_record("x", 1))
        assert ch.closed()
        wait_until(lambda: "TRACK: before HELLO" in ctl.stderr(), 10, "log line")
    finally:
        ch.close()


def test_database_down_and_back(ctl):
    node = "dp-down"
    ch = Chan(ctl.sock, node=node)
    try:
        ch.policy()
        pg_ctl(ctl, "-m", "fast", "-w", "stop")
        try:
            wait_until(lambda: ctl.status()["db_ok"] is False, 30, "db_ok false")
            t0 = time.monotonic()
            status, qid, err = ch.quar(42, meta(node), b"no database", timeout=5)
            assert status == 1 and qid == 0 and err
            assert time.monotonic() - t0 < 2, "QUAR_ACK failure must be immediate"
            # tracking while down: queued, not lost
            recs = [track_record(node, i) for i in range(300)]
            ch.s.sendall(b"".join(frame(TRACK, r) for r in recs))
            wait_until(lambda: ctl.status()["channel"]["track_received"] >= 300, 10,
                       "records received while down")
        finally:
            pg_ctl(ctl, f"--log={os.path.join(ctl.state, 'log', 'pg_ctl.log')}", "-w",
                   "-t", "120", "start")
        wait_until(lambda: log_rows(ctl, node) == 300, 60, "rows after the restart")
        status, qid, err = ch.quar(43, meta(node), b"database back", timeout=30)
        assert status == 0 and qid > 0, err
        d = [d for d in ctl.status()["dataplanes"] if d["node"] == node][0]
        assert d["quar_failed"] == 1 and d["quar_stored"] == 1
    finally:
        ch.close()
    assert ctl.proc.alive


def test_stale_socket_replaced_and_removed_at_exit(tmpdir755):
    c = Control(tmpdir755)
    run = os.path.join(c.state, "run")
    os.makedirs(run, exist_ok=True)
    sock = os.path.join(run, "channel.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(sock)   # a dead process's socket: bound, nobody listening
    s.close()
    c.start()
    try:
        ch = Chan(sock)
        assert ch.policy()["version"] >= 1
        ch.close()
        assert "removed a stale" in c.stderr()
    finally:
        assert c.stop() == 0
    assert not os.path.exists(sock)
