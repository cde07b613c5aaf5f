# SPDX-License-Identifier: BSD-3-Clause
"""The operator's switch [scan] enable = no (issue 4's benchmark needs the
proxy without scanning): messages are delivered unscanned - the EICAR test
file reaches the downstream byte-identical - with a warning at every start,
while everything else stays: relay control, size limit, SMTP smuggling
protection, end-to-end acknowledgement. With the default configuration the
same message is refused (test_smtp_scan.py has more of that side)."""

import smtplib
import socket
import subprocess
import threading

import pytest

from mxgtest import names
from mxgtest.dpdk import DataplaneConfig
from smtpenv import PySink, RawSmtp, SmtpGateway, in_ns
from test_smtp_scan import EICAR, attachment_message

PLAIN = b"From: a@ext.test\r\nTo: b@local.test\r\nSubject: plain\r\n\r\n" + EICAR + b"\r\n"
WARNING = "content scanning is OFF ([scan] enable = no)"


@pytest.fixture(scope="module")
def off_gw(dataplane_bin, tmp_path_factory):
    smtp = {"smtp_allow_client_ip": "198.18.86.2", "local_domains": "local.test",
            "max_message_size": 100000, "downstream_data_timeout": 5}
    with SmtpGateway(dataplane_bin, str(tmp_path_factory.mktemp("smtpoff")), smtp=smtp,
                     scan={"enable": "no"}, subnet=86) as gw:
        yield gw


@pytest.fixture
def off_sink(off_gw):
    with PySink(off_gw.ns, off_gw.peer4, 10026) as s:
        yield s


def send(gw, body, frm="a@ext.test", to=("b@local.test",), source=None):
    def run():
        s = smtplib.SMTP(gw.gw4, 25, local_hostname="client.test", timeout=30,
                         source_address=(source, 0) if source else None)
        try:
            return s.sendmail(frm, list(to), body)
        finally:
            try:
                s.quit()
            except smtplib.SMTPException:
                pass
    return in_ns(gw.ns, run)


def test_start_warns_scanning_off(off_gw):
    out = off_gw.dp.output("stdout") + off_gw.dp.output("stderr")
    assert WARNING in out, off_gw.dp.tail(40)


def test_enable_bad_value_names_file_and_line(dataplane_bin, tmp_path):
    cfg = DataplaneConfig()
    cfg.add_port("gw0", pmd="net_tap", devargs=f"iface={names.ifname('t')}",
                 ipv4="198.18.86.1/24")
    cfg.extra_lines = ["", "[scan]", "enable = sometimes"]
    path = str(tmp_path / "bad.conf")
    text = cfg.render()
    with open(path, "w") as f:
        f.write(text)
    line = text.split("\n").index("enable = sometimes") + 1
    p = subprocess.run([dataplane_bin, "--config", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    assert f"{path}:{line}: enable:" in p.stderr, p.stderr


def test_default_config_refuses_eicar(relay_gw, sink):
    out = relay_gw.dp.output("stdout") + relay_gw.dp.output("stderr")
    assert WARNING not in out
    with pytest.raises(smtplib.SMTPDataError) as ei:
        send(relay_gw, PLAIN)
    assert ei.value.smtp_code == 550 and b"virus found" in ei.value.smtp_error
    assert not sink.messages


@pytest.mark.parametrize("body", [PLAIN, attachment_message(EICAR, b"eicar.com")],
                         ids=["plain", "attachment"])
def test_eicar_delivered_byte_identical(off_gw, off_sink, body):
    before = off_gw.smtp_stats()
    assert send(off_gw, body) == {}
    msgs = off_sink.wait_messages(1)
    assert len(msgs) == 1
    assert msgs[0].data == body and msgs[0].rcpts == ["b@local.test"]
    after = off_gw.smtp_stats()
    for k, n in (("messages_received", 1), ("messages_delivered", 1),
                 ("messages_unscanned", 1), ("messages_rejected", 0),
                 ("policy_evaluations", 1)):
        assert after[k] - before[k] == n, (k, before[k], after[k])


def test_relay_control_stays(off_gw, off_sink):
    """From an address outside smtp_allow_client_ip to a foreign domain."""
    with pytest.raises(smtplib.SMTPRecipientsRefused) as ei:
        send(off_gw, PLAIN, to=["x@foreign.test"], source="198.18.86.3")
    code, text = ei.value.recipients["x@foreign.test"]
    assert code == 554 and b"Relay access denied" in text
    assert not off_sink.messages


def test_size_limit_stays(off_gw, off_sink):
    body = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 120
    with pytest.raises(smtplib.SMTPResponseException) as ei:
        send(off_gw, body)          # SIZE=: refused at MAIL
    assert ei.value.smtp_code == 552
    assert not off_sink.messages


def raw_session(gw):
    def conn():
        s = socket.create_connection((gw.gw4, 25), timeout=30)
        return RawSmtp(s)
    c = in_ns(gw.ns, conn)
    assert c.reply().startswith("220")
    return c


def test_smuggling_protection_stays(off_gw, off_sink):
    """A bare-LF end of data with a second message behind it: 550, closed,
    and the downstream never sees either message."""
    c = raw_session(off_gw)
    try:
        assert c.cmd("EHLO client.test").startswith("250")
        assert c.cmd("MAIL FROM:<a@ext.test>").startswith("250")
        assert c.cmd("RCPT TO:<b@local.test>").startswith("250")
        assert c.cmd("DATA").startswith("354")
        c.s.sendall(b"Subject: one\r\n\r\nfirst\n.\nMAIL FROM:<evil@ext.test>\r\n"
                    b"RCPT TO:<b@local.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n")
        assert c.reply().startswith("550 5.6.0")
        assert c.closed()
    finally:
        c.close()
    assert not off_sink.messages
    assert off_gw.smtp_stats()["smuggling_rejected"] >= 1


def test_ack_waits_for_downstream(off_gw, off_sink):
    """End-to-end acknowledgement: the sink has the whole message while the
    client still waits; a downstream 451 then becomes the client's 451."""
    off_sink.hold = threading.Event()
    off_sink.eod_reply = "451 4.3.0 try later"
    res = {}

    def client():
        try:
            res["r"] = send(off_gw, PLAIN)
        except Exception as e:  # noqa: BLE001 -- inspected below
            res["e"] = e
    t = threading.Thread(target=client)
    t.start()
    with off_sink.cond:
        assert off_sink.cond.wait_for(lambda: getattr(off_sink, "rejected", 0) == 1,
                                      timeout=30)
    assert not res, res                     # no answer before the downstream's
    off_sink.hold.set()
    t.join(30)
    assert isinstance(res.get("e"), smtplib.SMTPDataError), res
    assert res["e"].smtp_code == 451
