# SPDX-License-Identifier: BSD-3-Clause
"""mxgate-control's outgoing SMTP: releasing a quarantined message
(POST /api/v1/quarantine/{id}/release, mxgatectl quarantine release) and
notifications (a TRACK frame with a "notify" list over the control channel),
against a small recording SMTP server this test runs on 127.0.0.1.

Release is exactly once: delivered once with identical bytes and the
original envelope; a second release is 409; a refusal (550) or a lost
connection is 502 with released_at back to NULL, so a later release works.
Notifications carry Auto-Submitted, the null envelope sender, the right To:,
and are never sent to the null sender nor about an auto-submitted message."""

import base64
import email
import email.policy
import json
import os
import socket
import struct
import threading
import time
import uuid

import pytest

from ctlenv import Control, TempDir, free_port, wait_until


class Sink:
    """A minimal ESMTP server recording every transaction it accepts.

    mode: "ok" (250), "reject-data" (550 after the data), "reject-rcpt" (550
    to every RCPT), "drop" (closes the connection after the data), "hang"
    (never answers the data)."""

    def __init__(self):
        self.port = free_port()
        self.mode = "ok"
        self.msgs = []      # accepted: {"helo", "mail_from", "rcpt", "data", "params"}
        self.refused = 0
        self.lock = threading.Lock()
        self.srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.srv.bind(("127.0.0.1", self.port))
        self.srv.listen(16)
        self.stopping = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.stopping = True
        self.srv.close()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        conn.settimeout(60)
        f = conn.makefile("rwb")

        def say(line):
            f.write(line.encode() + b"\r\n")
            f.flush()

        try:
            say("220 sink.test ESMTP")
            tx = None
            while True:
                line = f.readline()
                if not line:
                    return
                cmd = line.rstrip(b"\r\n").decode("utf-8", "replace")
                verb = cmd[:4].upper()
                if verb == "EHLO":
                    f.write(b"250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n"
                            b"250-SMTPUTF8\r\n250 SIZE 100000000\r\n")
                    f.flush()
                    helo = cmd[5:]
                elif verb == "HELO":
                    say("250 sink.test")
                    helo = cmd[5:]
                elif verb == "MAIL":
                    addr = cmd[cmd.index("<") + 1:cmd.index(">")]
                    tx = {"helo": helo, "mail_from": addr, "rcpt": [],
                          "params": cmd[cmd.index(">") + 1:].split()}
                    say("250 2.1.0 Ok")
                elif verb == "RCPT":
                    if self.mode == "reject-rcpt":
                        say("550 5.1.1 Recipient refused by the sink")
                        continue
                    tx["rcpt"].append(cmd[cmd.index("<") + 1:cmd.index(">")])
                    say("250 2.1.5 Ok")
                elif verb == "DATA":
                    if not tx or not tx["rcpt"]:
                        say("554 5.5.1 No valid recipients")
                        continue
                    say("354 End data with <CR><LF>.<CR><LF>")
                    data = b""
                    while True:
                        ln = f.readline()
                        if not ln:
                            return
                        if ln == b".\r\n":
                            break
                        if ln.startswith(b"."):
                            ln = ln[1:]
                        data += ln
                    tx["data"] = data
                    if self.mode == "drop":
                        return
                    if self.mode == "hang":
                        f.readline()  # until the client gives up
                        return
                    if self.mode == "reject-data":
                        with self.lock:
                            self.refused += 1
                        say("550 5.7.1 Refused by the sink")
                    else:
                        with self.lock:
                            self.msgs.append(tx)
                            n = len(self.msgs)
                        say(f"250 2.0.0 Ok: queued as SINK{n}")
                    tx = None
                elif verb == "RSET":
                    tx = None
                    say("250 2.0.0 Ok")
                elif verb == "NOOP":
                    say("250 2.0.0 Ok")
                elif verb == "QUIT":
                    say("221 2.0.0 Bye")
                    return
                else:
                    say("502 5.5.2 Command not recognized")
        except (OSError, ValueError):
            return
        finally:
            try:
                f.close()
                conn.close()
            except OSError:
                pass

    def count(self):
        with self.lock:
            return len(self.msgs)

    def since(self, n):
        with self.lock:
            return list(self.msgs[n:])


@pytest.fixture(scope="module")
def env():
    sink = Sink()
    with TempDir("mxgrel") as t:
        c = Control(t.path, extra=(f"release_smtp = 127.0.0.1:{sink.port}\n"
                                   f"notify_smtp = 127.0.0.1:{sink.port}\n"
                                   "notify_from = gateway@gw.example\n"
                                   "admin_address = admin@corp.example\n")).start()
        c.sink = sink
        c.sock = os.path.join(c.state, "run", "channel.sock")
        try:
            yield c
        finally:
            rc = c.stop()
            sink.close()
        assert rc == 0
        assert "Sanitizer" not in c.stderr()


def quarantine(c, msg, sender="alice@x.example", rcpts=("bob@y.example", "carol@y.example")):
    arr = "{" + ",".join(rcpts) + "}"
    return c.psql("INSERT INTO quarantine (expires_at, area, reason, sender, recipients, "
                  "subject, message_id, size, message) VALUES (now() + interval '1 day', "
                  f"'virus', 'EICAR', '{sender}', '{arr}', 'held', '<h@x>', {len(msg)}, "
                  f"decode('{base64.b64encode(msg).decode()}', 'base64')) "
                  "RETURNING id").splitlines()[0]


def released_at(c, qid):
    return c.psql(f"SELECT released_at IS NOT NULL FROM quarantine WHERE id = {qid}")


# A message that needs the transparency procedure (lines starting with a dot,
# one that is only a dot) and 8-bit content.
MSG = (b"From: alice@x.example\r\nTo: bob@y.example\r\nSubject: held\r\n"
       b"Message-ID: <h@x>\r\n\r\nfirst line\r\n.\r\n..two dots\r\n.leading dot\r\n" +
       "Grüße aus Köln\r\n".encode() + b"last line\r\n")


def test_release_once_identical_bytes_and_envelope(env):
    c = env
    c.sink.mode = "ok"
    qid = quarantine(c, MSG)
    n0 = c.sink.count()
    code, j = c.api("POST", f"/quarantine/{qid}/release")
    assert code == 200, j
    assert j["id"] == int(qid) and j["released"] is True
    assert j["reply"].startswith("250 2.0.0 Ok: queued as SINK")
    got = c.sink.since(n0)
    assert len(got) == 1
    assert got[0]["data"] == MSG
    assert got[0]["mail_from"] == "alice@x.example"
    assert got[0]["rcpt"] == ["bob@y.example", "carol@y.example"]
    assert "BODY=8BITMIME" in got[0]["params"]
    assert released_at(c, qid) == "t"

    # again: 409, nothing sent
    code, j = c.api("POST", f"/quarantine/{qid}/release")
    assert code == 409 and "already released" in j["error"]
    time.sleep(0.3)
    assert c.sink.count() == n0 + 1


def test_release_errors(env):
    c = env
    code, j = c.api("POST", "/quarantine/999999/release")
    assert code == 404 and j["error"] == "no such quarantined message"
    code, j = c.api("POST", "/quarantine/abc/release")
    assert code == 400 and j["errors"][0]["field"] == "id"
    assert c.api("GET", "/quarantine/1/release")[0] == 405
    assert c.api("POST", "/quarantine/1/release/x")[0] == 404
    code, j = c.api("POST", "/quarantine/1/release?now=yes")
    assert code == 400 and j["errors"][0]["field"] == "now"


@pytest.mark.parametrize("mode,reply", [("reject-data", "550 5.7.1 Refused by the sink"),
                                        ("reject-rcpt", "550 5.1.1 Recipient refused"),
                                        ("drop", "connection to 127.0.0.1")])
def test_refused_release_can_be_retried(env, mode, reply):
    c = env
    qid = quarantine(c, MSG, sender="", rcpts=("dave@y.example",))  # <> is released as <>
    n0 = c.sink.count()
    c.sink.mode = mode
    try:
        code, j = c.api("POST", f"/quarantine/{qid}/release")
    finally:
        c.sink.mode = "ok"
    assert code == 502, j
    assert j["released"] is False and j["reply"].startswith(reply), j
    assert reply in j["error"]
    assert released_at(c, qid) == "f", "the claim is undone: a retry is possible"
    assert c.sink.count() == n0

    # later, through mxgatectl
    r = c.ctl("quarantine", "release", qid)
    assert r.returncode == 0, r.stderr
    assert f"released quarantined message {qid}: 250 2.0.0 Ok" in r.stdout
    got = c.sink.since(n0)
    assert len(got) == 1 and got[0]["data"] == MSG
    assert got[0]["mail_from"] == "" and got[0]["rcpt"] == ["dave@y.example"]
    r = c.ctl("quarantine", "release", qid)
    assert r.returncode == 1 and "already released" in r.stderr
    assert c.sink.count() == n0 + 1


def test_mxgatectl_release_refused_exit_3(env):
    c = env
    qid = quarantine(c, b"Subject: x\r\n\r\nbody\r\n")
    c.sink.mode = "reject-data"
    try:
        r = c.ctl("quarantine", "release", qid)
    finally:
        c.sink.mode = "ok"
    assert r.returncode == 3 and "550 5.7.1 Refused by the sink" in r.stderr
    r = c.ctl("--json", "quarantine", "release", qid)
    assert r.returncode == 0 and json.loads(r.stdout)["released"] is True
    assert c.ctl("quarantine", "release", "x1").returncode == 2


def test_concurrent_releases_send_once(env):
    c = env
    qid = quarantine(c, MSG)
    n0 = c.sink.count()
    codes = []

    def one():
        codes.append(c.api("POST", f"/quarantine/{qid}/release")[0])
    ts = [threading.Thread(target=one) for _ in range(5)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(codes) == [200, 409, 409, 409, 409]
    time.sleep(0.3)
    assert c.sink.count() == n0 + 1


# ---------------------------------------------------------------- notifications

HELLO, TRACK = 1, 4


def frame(ftype, obj):
    p = json.dumps(obj).encode()
    return struct.pack(">IB", len(p) + 1, ftype) + p


class Chan:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.s.sendall(frame(HELLO, {"node": "dp-notify", "pid": os.getpid(),
                                     "version": "test", "policy_version": -1}))

    def track(self, rec):
        self.s.sendall(frame(TRACK, rec))

    def close(self):
        self.s.close()


def record(sender, notify, rcpts=("r0@example.com", "r1@example.com"), **kw):
    r = {"uuid": uuid.uuid4().hex, "ts": time.time(), "node": "dp-notify",
         "client_ip": "192.0.2.7", "helo": "mx.example.net", "sender": sender,
         "subject": "Rechnung für Sie", "message_id": "<v1@example.net>", "size": 100,
         "policy_version": 1, "reprocess": False,
         "verdicts": {"viruses": ["Eicar-Test-Signature"], "parts": 2},
         "timings": {"total_ms": 1.0},
         "recipients": [{"rcpt": a, "direction": "inbound", "action": "quarantine",
                         "verdict": "virus", "rule_id": 1, "rule_name": "Quarantine viruses",
                         "downstream_reply": "250 2.0.0 Ok", "quarantine_id": None,
                         "matched": [1]} for a in rcpts],
         "notify": notify}
    r.update(kw)
    return r


def note(to, template, rcpt):
    return {"to": to, "template": template, "rule_id": 1,
            "rule_name": "Quarantine viruses", "recipients": [rcpt]}


def parse(m):
    return email.message_from_bytes(m["data"], policy=email.policy.default)


def wait_msgs(sink, n0, n, what):
    return wait_until(lambda: sink.since(n0) if sink.count() >= n0 + n else None, 30, what)


def test_notifications_over_the_channel(env):
    c = env
    n0 = c.sink.count()
    ch = Chan(c.sock)
    try:
        # one element per recipient, as the dataplane writes them
        ch.track(record("s1@example.net", [
            note("sender", "virus-sender", "r0@example.com"),
            note("sender", "virus-sender", "r1@example.com"),
            note("recipient", "virus-recipient", "r0@example.com"),
            note("admin", "no-such-template", "r0@example.com")]))
        got = wait_msgs(c.sink, n0, 3, "three notifications")
    finally:
        ch.close()
    time.sleep(0.5)
    assert c.sink.count() == n0 + 3, "the two sender elements are merged"
    by_to = {m["rcpt"][0]: m for m in got}
    assert sorted(by_to) == ["admin@corp.example", "r0@example.com", "s1@example.net"]
    for rcpt, m in by_to.items():
        assert m["mail_from"] == "", "null envelope sender (RFC 3834)"
        msg = parse(m)
        assert msg["Auto-Submitted"] == "auto-generated"
        assert msg["To"] == f"<{rcpt}>" or msg["To"].addresses[0].addr_spec == rcpt
        assert msg["From"].addresses[0].addr_spec == "gateway@gw.example"
        assert msg["Message-ID"].endswith("@gw.example>")
        assert msg["Date"]
        assert b"\r\n" in m["data"] and b"\n" not in m["data"].replace(b"\r\n", b"")
    snd = parse(by_to["s1@example.net"])
    assert snd["Subject"] == 'Virus found in your message "Rechnung für Sie"'
    body = snd.get_content()
    assert "\\n" not in body and body.count("\n") > 5  # the template's E'' escapes
    assert "Eicar-Test-Signature" in body
    assert "r0@example.com, r1@example.com" in body and "quarantine" in body
    rcp = parse(by_to["r0@example.com"])
    assert rcp["Subject"] == "Virus found in a message addressed to you"
    assert "s1@example.net" in rcp.get_content() and "r1@" not in rcp.get_content()
    adm = parse(by_to["admin@corp.example"])
    assert adm["Subject"].startswith("Notification about your message")  # "default"
    assert adm["X-Mxgate-Notification"] == "no-such-template"
    wait_until(lambda: "unknown notification template 'no-such-template'" in c.stderr(),
               10, "template warning")


def test_no_notification_to_null_sender_or_about_automatic_mail(env):
    c = env
    n0 = c.sink.count()
    ch = Chan(c.sock)
    try:
        ch.track(record("", [note("sender", "virus-sender", "r0@example.com")]))
        ch.track(record("bot@example.net", [note("admin", "policy-admin", "r0@example.com")],
                        auto_submitted="auto-replied"))
        # a marker that must arrive: the two above must not
        ch.track(record("s2@example.net", [note("admin", "policy-admin", "r1@example.com")]))
        got = wait_msgs(c.sink, n0, 1, "the marker notification")
    finally:
        ch.close()
    time.sleep(1.0)
    got = c.sink.since(n0)
    assert len(got) == 1, [g["rcpt"] for g in got]
    msg = parse(got[0])
    assert got[0]["rcpt"] == ["admin@corp.example"]
    assert "s2@example.net" in msg["Subject"] and "Eicar-Test-Signature" in msg.get_content()


def test_template_from_the_database(env):
    c = env
    c.psql("INSERT INTO notification_templates (name, subject, body) VALUES "
           "('custom', 'Über %SUBJECT% / %RULE% 100%%', "
           "E'Hallo %TO%,\\n' || repeat('x', 1200) || E'\\n%UNKNOWN% %VIRUS%\\n')")
    n0 = c.sink.count()
    ch = Chan(c.sock)
    try:
        ch.track(record("s3@example.net", [note("recipient", "custom", "r1@example.com")]))
        got = wait_msgs(c.sink, n0, 1, "the custom notification")
    finally:
        ch.close()
    msg = parse(got[0])
    assert msg["Subject"] == "Über Rechnung für Sie / Quarantine viruses 100%"
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    body = msg.get_content().replace("\r\n", "\n")  # QP decoding keeps CRLF
    assert body.startswith("Hallo r1@example.com,\n" + "x" * 1200 + "\n")
    assert "%UNKNOWN% Eicar-Test-Signature" in body
    assert max(len(ln) for ln in got[0]["data"].split(b"\r\n")) <= 998


def test_shutdown_with_a_release_in_flight(tmpdir755):
    """SIGTERM while the downstream holds a release: the HTTP request is
    answered (or its connection closed), the process exits 0 and clean, and
    the message is never sent twice (it stays marked released: the log says
    how to make it releasable again)."""
    sink = Sink()
    sink.mode = "hang"
    c = Control(tmpdir755, extra=f"release_smtp = 127.0.0.1:{sink.port}\n").start()
    try:
        qid = quarantine(c, MSG)
        res = []

        def rel():
            try:
                res.append(c.api("POST", f"/quarantine/{qid}/release")[0])
            except OSError as e:
                res.append(e)
        t = threading.Thread(target=rel)
        t.start()
        time.sleep(1.0)  # the data is at the sink, which does not answer
        assert released_at(c, qid) == "t"
    finally:
        rc = c.stop()
        sink.close()
    t.join(30)
    assert rc == 0
    assert "Sanitizer" not in c.stderr()
    assert res and res[0] != 200
    assert f"quarantine {qid}: not sent" in c.stderr()


def test_release_to_a_host_name(tmpdir755):
    """release_smtp given by name: resolved by evdns (/etc/hosts), not by a
    blocking getaddrinfo on the loop."""
    sink = Sink()
    c = Control(tmpdir755, extra=f"release_smtp = localhost:{sink.port}\n").start()
    try:
        qid = quarantine(c, MSG)
        code, j = c.api("POST", f"/quarantine/{qid}/release")
        assert code == 200, j
        assert sink.count() == 1 and sink.msgs[0]["data"] == MSG
    finally:
        rc = c.stop()
        sink.close()
    assert rc == 0, c.stderr()[-4000:]
