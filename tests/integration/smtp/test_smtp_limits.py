# SPDX-License-Identifier: BSD-3-Clause
"""Session limits and the original-client protocols of the SMTP proxy
(dp_smtp.c SECURITY, SENDER FILTER), over real sockets in the namespace:

  max_sessions (per worker, one worker here)  -> 421 4.3.2 at the greeting
  max_sessions_per_ip                         -> 421 4.3.2 for that client,
                                                 another address is served
  PROXY v2 (binary) from a known host         -> the downstream's XFORWARD
                                                 ADDR is the original client
  PROXY header from an unknown host           -> not a PROXY session: the
                                                 header is an SMTP command
  XCLIENT from a known host                   -> honoured (new greeting,
                                                 XFORWARD ADDR downstream)
  XCLIENT / XFORWARD from an unknown host     -> 550 5.7.0

Not repeated here (tests/integration/filter/test_throttle.py): throttling
(421 4.7.0), PROXY v1 and XCLIENT naming a blocklisted client (554 5.7.1);
(test_smtp_relay.py) XFORWARD of the TCP peer itself."""

import smtplib
import socket
import struct
import time

import pytest

from smtpenv import PySink, RawSmtp, SmtpGateway, in_ns

HOST = "gw.mxgate.test"
TOO_MANY = f"421 4.3.2 {HOST} Error: too many connections, try again later"
NOT_AUTH = "550 5.7.0 Error: insufficient authorization"
BODY = b"From: a@ext.test\r\nTo: b@local.test\r\nSubject: limits\r\n\r\nbody\r\n"

# ------------------------------------------------------------ session limits

LIM = 83
MAX_SESSIONS, PER_IP = 4, 2


@pytest.fixture(scope="module")
def lim_gw(dataplane_bin, tmp_path_factory):
    smtp = {"local_domains": "local.test", "max_sessions": MAX_SESSIONS,
            "max_sessions_per_ip": PER_IP}
    with SmtpGateway(dataplane_bin, str(tmp_path_factory.mktemp("lim")), smtp=smtp,
                     subnet=LIM) as g:
        yield g
        assert g.alive(), "the dataplane died:\n" + g.dp.tail(40)


def connect(gw, source, first=None):
    """A Raw connection from |source| (inside the namespace); |first|
    (bytes) is sent before anything is read."""
    def run():
        s = socket.create_connection((gw.gw4, 25), timeout=20, source_address=(source, 0))
        if first:
            s.sendall(first)
        return RawSmtp(s)
    return in_ns(gw.ns, run)


def wait_idle(gw, timeout=15.0):
    """Waits until the gateway has no session left (the previous test's
    connections closed)."""
    deadline = time.monotonic() + timeout
    while gw.smtp_stats()["sessions_active"]:
        if time.monotonic() > deadline:
            raise TimeoutError(f"sessions still active: {gw.smtp_stats()}")
        time.sleep(0.05)


def held(gw, sources):
    """Opens one session per entry of |sources|, each greeted 220."""
    out = []
    for src in sources:
        c = connect(gw, src)
        g = c.reply()
        assert g.startswith("220 "), (src, g)
        out.append(c)
    return out


def test_max_sessions_per_worker_421(lim_gw):
    """At max_sessions the next connection gets 421 4.3.2 at the greeting
    and is closed; once a session ends, a new one is served."""
    net = f"198.18.{LIM}"
    wait_idle(lim_gw)
    r0 = lim_gw.smtp_stats()["sessions_refused"]
    conns = held(lim_gw, [f"{net}.2", f"{net}.3", f"{net}.20", f"{net}.42"])
    try:
        extra = connect(lim_gw, f"{net}.50")
        assert extra.reply() == TOO_MANY
        assert extra.closed()
        extra.close()
        assert lim_gw.smtp_stats()["sessions_refused"] == r0 + 1
        assert conns[0].cmd("QUIT").startswith("221 ")
        conns.pop(0).close()
        deadline = time.monotonic() + 10
        while lim_gw.smtp_stats()["sessions_active"] >= MAX_SESSIONS:
            assert time.monotonic() < deadline, lim_gw.smtp_stats()
            time.sleep(0.05)
        conns += held(lim_gw, [f"{net}.50"])
    finally:
        for c in conns:
            c.close()


def test_max_sessions_per_ip_421_other_client_served(lim_gw):
    """The client at max_sessions_per_ip gets 421 4.3.2 for one more
    connection while a client from another address is served, up to a
    delivered message."""
    net = f"198.18.{LIM}"
    wait_idle(lim_gw)
    conns = held(lim_gw, [f"{net}.20"] * PER_IP)
    try:
        extra = connect(lim_gw, f"{net}.20")
        assert extra.reply() == TOO_MANY
        assert extra.closed()
        extra.close()
        with PySink(lim_gw.ns, lim_gw.peer4, 10026) as sink:
            def send():
                s = smtplib.SMTP(lim_gw.gw4, 25, local_hostname="client.test", timeout=30,
                                 source_address=(f"{net}.42", 0))
                try:
                    return s.sendmail("a@ext.test", ["b@local.test"], BODY)
                finally:
                    s.quit()
            assert in_ns(lim_gw.ns, send) == {}
            assert sink.wait_messages(1)[0].data == BODY
    finally:
        for c in conns:
            c.close()


# ------------------------------------------------- PROXY, XCLIENT, XFORWARD

PX = 86
KNOWN = f"198.18.{PX}.3"
STRANGER = f"198.18.{PX}.20"
ORIG = "203.0.113.45"
ORIG_XC = "203.0.113.46"

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def proxy_v2(src, dst, sport, dport):
    """A PROXY protocol v2 header: PROXY command, TCP over IPv4."""
    addrs = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return V2_SIG + bytes([0x21, 0x11]) + struct.pack("!H", len(addrs)) + addrs


def proxy_v2_local():
    """A PROXY v2 LOCAL header (the proxy's own connection, no address)."""
    return V2_SIG + bytes([0x20, 0x00]) + struct.pack("!H", 0)


@pytest.fixture(scope="module")
def px_gw(dataplane_bin, tmp_path_factory):
    smtp = {"local_domains": "local.test", "known_hosts": KNOWN, "proxy_protocol": "yes"}
    with SmtpGateway(dataplane_bin, str(tmp_path_factory.mktemp("px")), smtp=smtp,
                     subnet=PX) as g:
        yield g
        assert g.alive(), "the dataplane died:\n" + g.dp.tail(40)


@pytest.fixture
def px_sink(px_gw):
    with PySink(px_gw.ns, px_gw.peer4, 10026) as s:
        yield s


def deliver(c):
    """One message over the greeted Raw session |c|; returns the final reply."""
    for line, want in (("EHLO client.test", "250"), ("MAIL FROM:<a@ext.test>", "250"),
                       ("RCPT TO:<b@local.test>", "250"), ("DATA", "354")):
        r = c.cmd(line)
        assert r.startswith(want), (line, r)
    c.s.sendall(BODY + b".\r\n")
    return c.reply()


def xforward_addr(msg):
    return [a for x in msg.xforward for a in x.split() if a.startswith("ADDR=")]


def test_proxy_v2_known_host_original_client(px_gw, px_sink):
    """A known host's PROXY v2 header names the client: the downstream's
    XFORWARD carries that address, not the known host's."""
    def run():
        c = connect(px_gw, KNOWN, proxy_v2(ORIG, px_gw.gw4, 40000, 25))
        try:
            assert c.reply().startswith("220 ")
            r = deliver(c)
            c.cmd("QUIT")
            return r
        finally:
            c.close()
    assert run().startswith("250 ")
    m = px_sink.wait_messages(1)[0]
    assert xforward_addr(m) == [f"ADDR={ORIG}"], m.xforward


def test_proxy_v1_from_unknown_host_is_a_command(px_gw):
    """From a host not in known_hosts no PROXY header is expected: the
    greeting comes at once, the header line is an unknown command (500)
    and the session stays the TCP peer's."""
    c = connect(px_gw, STRANGER, f"PROXY TCP4 {ORIG} {px_gw.gw4} 40000 25\r\n".encode())
    try:
        assert c.reply().startswith(f"220 {HOST} ")
        assert c.reply() == "500 5.5.2 Error: command not recognized"
        assert c.cmd("QUIT").startswith("221 ")
    finally:
        c.close()


def test_proxy_v2_from_unknown_host_refused(px_gw, px_sink):
    """The binary v2 header from an unknown host is read as SMTP (its
    signature is designed to fail on SMTP servers): two empty command
    lines, a NUL, "QUIT" ended by a bare LF, each refused with 500 (the
    session stays open); the rest of the header (binary addresses) is the
    start of a line, refused once it is ended. The header never names a
    client: the message sent afterwards is the TCP peer's."""
    c = connect(px_gw, STRANGER, proxy_v2(ORIG, px_gw.gw4, 40000, 25))
    try:
        assert c.reply().startswith(f"220 {HOST} ")
        replies = [c.reply() for _ in range(4)]
        assert replies == ["500 5.5.2 Error: command not recognized"] * 2 + [
            "500 5.5.2 Error: invalid character in command",
            "500 5.5.2 Error: bare <LF> received"], replies
        assert c.cmd("") == "500 5.5.2 Error: invalid character in command"
        assert deliver(c).startswith("250 ")
        c.cmd("QUIT")
    finally:
        c.close()
    m = px_sink.wait_messages(1)[0]
    assert xforward_addr(m) == [f"ADDR={STRANGER}"], m.xforward


def test_xclient_known_host_honoured(px_gw, px_sink):
    """XCLIENT from a known host (after a PROXY v2 LOCAL header: the
    host speaking for itself) starts a session for the named client,
    with a new greeting, and the downstream sees it in XFORWARD ADDR."""
    c = connect(px_gw, KNOWN, proxy_v2_local())
    try:
        assert c.reply().startswith("220 ")
        ehlo = c.cmd("EHLO relay.test")
        assert "250-XCLIENT " in ehlo, ehlo
        assert c.cmd(f"XCLIENT ADDR={ORIG_XC} NAME=[UNAVAILABLE]").startswith(f"220 {HOST} ")
        assert deliver(c).startswith("250 ")
        c.cmd("QUIT")
    finally:
        c.close()
    m = px_sink.wait_messages(1)[0]
    assert xforward_addr(m) == [f"ADDR={ORIG_XC}"], m.xforward


@pytest.mark.parametrize("verb", ["XCLIENT", "XFORWARD"])
def test_xclient_unknown_host_refused(px_gw, px_sink, verb):
    """From an unknown host XCLIENT and XFORWARD are not advertised and are
    refused with 550 5.7.0; the session's client stays the TCP peer."""
    c = connect(px_gw, STRANGER)
    try:
        assert c.reply().startswith("220 ")
        ehlo = c.cmd("EHLO stranger.test")
        assert "XCLIENT" not in ehlo and "XFORWARD" not in ehlo, ehlo
        assert c.cmd(f"{verb} ADDR={ORIG_XC}") == NOT_AUTH
        assert deliver(c).startswith("250 ")
        c.cmd("QUIT")
    finally:
        c.close()
    m = px_sink.wait_messages(1)[0]
    assert xforward_addr(m) == [f"ADDR={STRANGER}"], m.xforward
