# SPDX-License-Identifier: BSD-3-Clause
"""SMTP proxy, plain relay with end-to-end acknowledgement (issue 4):
real clients (swaks, smtplib, raw sockets) -> mxgate-dataplane on net_tap
-> a scripted downstream (PySink) on the tap's kernel side."""

import smtplib
import socket
import subprocess
import threading

import pytest

from smtpenv import in_ns

BODY = (b"From: a@ext.test\r\nTo: b@local.test\r\nSubject: hello\r\n"
        b"Message-ID: <1@ext.test>\r\n\r\nline one\r\n.leading dot\r\n..two dots\r\n"
        b"last line\r\n")


def smtp_send(gw, frm, to, body, host=None, port=25, source=None, **kw):
    def run():
        s = smtplib.SMTP(host or gw.gw4, port, local_hostname="client.test", timeout=30,
                         source_address=(source, 0) if source else None)
        try:
            return s.sendmail(frm, to, body, **kw)
        finally:
            try:
                s.quit()
            except smtplib.SMTPException:
                pass
    return in_ns(gw.ns, run)


def test_swaks_delivers_byte_exact(relay_gw, sink):
    p = subprocess.run(["ip", "netns", "exec", str(relay_gw.ns), "swaks", "--server",
                        f"{relay_gw.gw4}:25", "--from", "a@ext.test", "--to", "b@local.test",
                        "--helo", "client.test", "--data", "-"], input=BODY[:-2],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = p.stdout.decode()
    assert p.returncode == 0, out
    assert "<-  250 2.0.0 Ok: delivered" in out, out
    msgs = sink.wait_messages(1)
    assert msgs[0].data == BODY     # swaks ends the data with its own CRLF
    assert msgs[0].mail_from == "a@ext.test" and msgs[0].rcpts == ["b@local.test"]


def test_ack_only_after_downstream(relay_gw, sink):
    """The client's final reply waits for the downstream's."""
    sink.hold = threading.Event()
    res = {}

    def client():
        try:
            res["r"] = smtp_send(relay_gw, "a@ext.test", ["b@local.test"], BODY)
        except Exception as e:  # noqa: BLE001
            res["e"] = e
    t = threading.Thread(target=client)
    t.start()
    sink.wait_messages(1)           # the sink has the whole message, not answered
    assert "r" not in res and "e" not in res, res
    sink.hold.set()
    t.join(60)
    assert res.get("r") == {}, res


def test_100_messages_pipelined_reused(relay_gw, sink):
    def run():
        s = smtplib.SMTP(relay_gw.gw4, 25, local_hostname="client.test", timeout=30)
        for i in range(100):
            s.sendmail("a@ext.test", ["b@local.test"], BODY + f"n={i}\r\n".encode())
        s.quit()
    in_ns(relay_gw.ns, run)
    msgs = sink.wait_messages(100)
    assert [m.data for m in msgs] == [BODY + f"n={i}\r\n".encode() for i in range(100)]
    assert sink.connections <= 2, sink.connections   # pooled downstream session
    st = relay_gw.smtp_stats()
    assert st["downstream_reused"] >= 99, st


def raw_session(gw, script, host=None, port=25, family=socket.AF_INET):
    """Sends |script| (list of bytes, each sent after the previous replies
    are read when it is a tuple (data, nreplies)) and returns every reply."""
    def run():
        s = socket.create_connection((host or gw.gw4, port), timeout=30)
        f = s.makefile("rb")
        out = [f.readline()]
        for data, nrep in script:
            s.sendall(data)
            for _ in range(nrep):
                while True:
                    line = f.readline()
                    out.append(line)
                    if not line or line[3:4] == b" ":
                        break
        s.close()
        return b"".join(out).decode()
    return in_ns(gw.ns, run)


def test_bdat(relay_gw, sink):
    part1, part2 = BODY[:40], BODY[40:]
    out = raw_session(relay_gw, [
        (b"EHLO client.test\r\n", 1),
        (b"MAIL FROM:<a@ext.test>\r\nRCPT TO:<b@local.test>\r\n", 2),
        (b"BDAT %d\r\n" % len(part1) + part1, 1),
        (b"BDAT %d LAST\r\n" % len(part2) + part2, 1),
        (b"QUIT\r\n", 1)])
    assert "250 2.0.0 Ok: delivered" in out, out
    assert sink.wait_messages(1)[0].data == BODY


def test_8bitmime_smtputf8(relay_gw, sink):
    body = "Subject: grüße\r\n\r\nΚαλημέρα κόσμε\r\n".encode()
    r = smtp_send(relay_gw, "jörg@ext.test", ["björn@local.test"], body,
                  mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    assert r == {}
    m = sink.wait_messages(1)[0]
    assert m.data == body
    assert m.mail_from == "jörg@ext.test" and m.rcpts == ["björn@local.test"]
    assert "SMTPUTF8" in m.mail_args and "BODY=8BITMIME" in m.mail_args


def test_ipv6_client(relay_gw, sink):
    r = smtp_send(relay_gw, "a@ext.test", ["b@local.test"], BODY, host=relay_gw.gw6)
    assert r == {}
    assert sink.wait_messages(1)[0].data == BODY


def test_xforward_original_client(relay_gw, sink):
    smtp_send(relay_gw, "a@ext.test", ["b@local.test"], BODY, source="198.18.5.42")
    m = sink.wait_messages(1)[0]
    xf = " ".join(m.xforward)
    assert "ADDR=198.18.5.42" in xf and "HELO=client.test" in xf, m.xforward


def test_telemetry(relay_gw):
    st = relay_gw.smtp_stats()
    for k in ("sessions", "messages_delivered", "messages_tempfailed", "messages_rejected",
              "relay_denied", "tls_handshakes", "tls_failures", "smuggling_rejected",
              "downstream_errors"):
        assert k in st, st
    assert st["messages_delivered"] >= 1
