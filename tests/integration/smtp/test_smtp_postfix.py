# SPDX-License-Identifier: BSD-3-Clause
"""The SMTP proxy between real Postfix instances (issue 4):

  * Postfix downstream (smtpd on 10026, virtual delivery to a Maildir):
    XFORWARD shows the original client in its log and Received: header;
    the SMTP smuggling end-of-data sequences of the shared corpus never
    produce a second message (also with a permissive downstream).
  * Postfix upstream (relayhost = [gateway]:25): while the downstream says
    451 or is down, mail stays queued upstream; once it is back, every
    message is delivered exactly once.

Postfix instances are private (postfix -c DIR start-fg, own queue)."""

import csv
import os
import re
import smtplib
import socket

import pytest

from smtpenv import PySink, Postfix, SmtpGateway, in_ns, maildir_files, postfix_ids
from test_smtp_relay import BODY, raw_session

SUBNET = 9
GW, PEER = f"198.18.{SUBNET}.1", f"198.18.{SUBNET}.2"


@pytest.fixture(scope="module")
def pf_gw(dataplane_bin, tmp_path_factory):
    from smtpenv import need
    need("postfix")
    smtp = {"smtp_allow_client_ip": PEER, "local_domains": "local.test",
            "downstream_reply_timeout": 10, "downstream_data_timeout": 10}
    with SmtpGateway(dataplane_bin, str(tmp_path_factory.mktemp("smtpgw")), smtp=smtp,
                     subnet=SUBNET) as gw:
        yield gw


@pytest.fixture
def pf_down(pf_gw):
    uid, gid = postfix_ids()
    pf = Postfix(pf_gw.ns, f"{PEER}:10026", {
        "myhostname": "down.test",
        "virtual_mailbox_domains": "local.test",
        "virtual_mailbox_base": "{dir}/mail",
        "virtual_mailbox_maps": "static:box/",
        "virtual_uid_maps": f"static:{uid}",
        "virtual_gid_maps": f"static:{gid}",
        "virtual_minimum_uid": "1",
        "smtpd_authorized_xforward_hosts": GW,
    })
    os.makedirs(os.path.join(pf.dir, "mail"))
    os.chown(os.path.join(pf.dir, "mail"), uid, gid)
    with pf:
        pf.maildir = os.path.join(pf.dir, "mail", "box")
        yield pf


def wait_delivered(pf, n, start=0, timeout=60):
    idx = start
    for _ in range(n):
        m = pf.wait_log(r"status=sent", timeout=timeout, start=idx)
        idx = pf.proc.lines["stdout"].index(m.string, idx) + 1
    return idx


def test_xforward_reaches_postfix(pf_gw, pf_down):
    def run():
        s = smtplib.SMTP(GW, 25, local_hostname="orig-client.test", timeout=30,
                         source_address=(PEER, 0))
        s.sendmail("a@ext.test", ["b@local.test"], BODY)
        s.quit()
    in_ns(pf_gw.ns, run)
    wait_delivered(pf_down, 1)
    log = pf_down.log()
    # smtpd logs the forwarded client next to the gateway (198.18.9.1).
    assert re.search(r"smtpd\[\d+\]: \w+: client=\S*\[198\.18\.9\.1\], "
                     r"orig_client=\S*\[198\.18\.9\.2\]", log), log
    files = maildir_files(pf_down.maildir)
    assert len(files) == 1
    data = open(files[0], "rb").read()
    # (Postfix uses XFORWARD for logging; its Received: names the gateway.)
    # Byte-exact apart from the trace headers Postfix adds (Maildir uses LF).
    assert data.endswith(BODY.replace(b"\r\n", b"\n")), data


def smuggling_vectors(corpus):
    path = os.path.join(corpus, "smtp", "smuggling", "eod_sequences.tsv")
    if not os.path.isfile(path):
        pytest.skip(f"{path} absent: no smuggling corpus in this clone")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    assert rows, path
    return [(r["id"], bytes.fromhex(r["hex"])) for r in rows]


def smuggle(gw, vid, seq):
    """One attempt: a message whose body hides |seq| followed by a second
    transaction, then the real end of data."""
    first = b"Subject: first %s\r\n\r\nfirst part\r\n" % vid.encode()
    hidden = (b"MAIL FROM:<evil@ext.test>\r\nRCPT TO:<b@local.test>\r\nDATA\r\n"
              b"Subject: SMUGGLED %s\r\n\r\nsmuggled\r\n" % vid.encode())
    return raw_session(gw, [
        (b"EHLO client.test\r\n", 1),
        (b"MAIL FROM:<a@ext.test>\r\n", 1),
        (b"RCPT TO:<b@local.test>\r\n", 1),
        (b"DATA\r\n", 1),
        (first + seq + hidden + b"\r\n.\r\n", 1),
    ])


def run_vectors(gw, vectors):
    replies = {}
    for vid, seq in vectors:
        try:
            replies[vid] = smuggle(gw, vid, seq)
        except (ConnectionError, socket.timeout) as e:
            replies[vid] = repr(e)
    return replies


def test_smuggling_postfix_downstream(pf_gw, pf_down, shared_corpus):
    vectors = smuggling_vectors(shared_corpus)
    before = pf_gw.smtp_stats()["smuggling_rejected"]
    replies = run_vectors(pf_gw, vectors)
    # A final marker message: once it is delivered, everything sent before
    # it has been delivered too (or never will be).
    def marker():
        s = smtplib.SMTP(GW, 25, timeout=30)
        s.sendmail("a@ext.test", ["b@local.test"], b"Subject: MARKER\r\n\r\nend\r\n")
        s.quit()
    in_ns(pf_gw.ns, marker)
    idx = 0
    while True:
        m = pf_down.wait_log(r"status=sent", start=idx, timeout=60)
        idx = pf_down.proc.lines["stdout"].index(m.string, idx) + 1
        if any(b"Subject: MARKER" in open(f, "rb").read() for f in maildir_files(pf_down.maildir)):
            break
    delivered = [open(f, "rb").read() for f in maildir_files(pf_down.maildir)]
    smuggled = [d for d in delivered if b"SMUGGLED" in d]
    assert not smuggled, smuggled
    firsts = [d for d in delivered if b"Subject: first" in d]
    # Only sequences with a genuine CRLF.CRLF before any oddity may deliver
    # the first part (e.g. a NUL after the real end of data).
    for d in firsts:
        vid = re.search(rb"Subject: first (\S+)", d).group(1).decode()
        assert b"\r\n.\r\n" == dict(vectors)[vid][:5], (vid, replies[vid])
    rejected = [v for v, r in replies.items() if "550 5.6.0" in r]
    assert len(rejected) + len(firsts) == len(vectors), replies
    assert pf_gw.smtp_stats()["smuggling_rejected"] - before == len(rejected)


def test_smuggling_permissive_downstream(pf_gw, shared_corpus):
    vectors = smuggling_vectors(shared_corpus)
    with PySink(pf_gw.ns, PEER, 10026) as sink:
        sink.permissive = True
        replies = run_vectors(pf_gw, vectors)
        def marker():
            s = smtplib.SMTP(GW, 25, timeout=30)
            s.sendmail("a@ext.test", ["b@local.test"], b"Subject: MARKER\r\n\r\nend\r\n")
            s.quit()
        in_ns(pf_gw.ns, marker)
        msgs = sink.wait_messages(1)
        while not any(b"MARKER" in m.data for m in msgs):
            msgs = sink.wait_messages(len(msgs) + 1)
        assert not [m for m in msgs if b"SMUGGLED" in m.data], replies
        assert all(m.mail_from == "a@ext.test" for m in msgs)
        assert "DATA" not in [c for c in sink.commands if c.startswith("MAIL FROM:<evil")]


@pytest.fixture
def pf_up(pf_gw):
    pf = Postfix(pf_gw.ns, f"{PEER}:2525", {
        "myhostname": "up.test",
        "relayhost": f"[{GW}]:25",
    })
    with pf:
        yield pf


def count_log(pf, regex):
    r = re.compile(regex)
    return sum(1 for l in pf.proc.lines["stdout"] if r.search(l))


def test_postfix_upstream_no_loss(pf_gw, pf_up):
    """Downstream 451, then down, then back: all mail delivered exactly once."""
    n = 20
    sink = PySink(pf_gw.ns, PEER, 10026)
    sink.eod_reply = "451 4.3.0 not now"
    with sink:
        def send():
            s = smtplib.SMTP(PEER, 2525, timeout=30)
            for i in range(n):
                s.sendmail("a@ext.test", ["b@local.test"],
                           b"Subject: msg %d\r\nMessage-ID: <%d@up.test>\r\n\r\nbody %d\r\n"
                           % (i, i, i))
            s.quit()
        in_ns(pf_gw.ns, send)
        # Every message tried once through the gateway and deferred.
        idx = 0
        for _ in range(n):
            m = pf_up.wait_log(r"status=deferred .*451", start=idx, timeout=90)
            idx = pf_up.proc.lines["stdout"].index(m.string, idx) + 1
        assert not sink.messages
    # Downstream down (nothing listens): the next retries defer again.
    start = len(pf_up.proc.lines["stdout"])
    pf_up.flush()
    pf_up.wait_log(r"status=deferred", start=start, timeout=90)
    # Back: everything arrives, once.
    with PySink(pf_gw.ns, PEER, 10026) as sink:
        pf_up.flush()
        msgs = sink.wait_messages(n, timeout=120)
        idx = 0
        for _ in range(n):
            m = pf_up.wait_log(r"status=sent", start=idx, timeout=90)
            idx = pf_up.proc.lines["stdout"].index(m.string, idx) + 1
        ids = sorted(re.search(rb"Message-ID: <(\d+)@", m.data).group(1) for m in msgs)
        assert ids == sorted(str(i).encode() for i in range(n)), ids
        assert len(sink.messages) == n
        # ... and the upstream removed every queue file (nothing left to retry).
        idx = 0
        for _ in range(n):
            m = pf_up.wait_log(r": removed$", start=idx, timeout=60)
            idx = pf_up.proc.lines["stdout"].index(m.string, idx) + 1
    assert pf_up.queue_count() == 0
