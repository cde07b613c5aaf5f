# SPDX-License-Identifier: BSD-3-Clause
"""The sender filter inside the SMTP proxy (dp_smtp.c, SENDER FILTER):

  throttling per client address and worker over [smtp] throttle_window:
    connections beyond throttle_connections  -> 421 4.7.0 at greeting, closed
    MAIL beyond throttle_messages             -> 451 4.7.1
    RCPT beyond throttle_recipients           -> 452 4.5.3
    after the window the client is served again;
  known hosts (198.18.76.3, PROXY protocol) are never throttled, their
  original clients are; an original client in the blocklist
  (/mxgate/filter/block) gets 554 5.7.1 at the greeting after the PROXY
  header, or at the next command after XCLIENT; an unblocked one is served.

Real sockets from the namespace (smtplib, or raw for PROXY); each client
role uses its own source address, so the tests do not share counts."""

import os
import smtplib
import socket
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "smtp"))

from filterutil import wait_until  # noqa: E402
from smtpenv import RawSmtp, SmtpGateway, in_ns  # noqa: E402

SUBNET = 76
GW = f"198.18.{SUBNET}.1"
KNOWN = f"198.18.{SUBNET}.3"
C_CONN = f"198.18.{SUBNET}.20"
C_MSG = f"198.18.{SUBNET}.42"
C_RCPT = f"198.18.{SUBNET}.50"
BLOCKED = "203.0.113.66"    # original clients named by the known host
CLEAN = "203.0.113.77"
BUSY = "203.0.113.88"
HOST = "gw.mxgate.test"

LIMITS = {"throttle_connections": 3, "throttle_messages": 2, "throttle_recipients": 3}


@pytest.fixture(scope="module")
def gw(dataplane_bin, tmp_path_factory):
    smtp = {"local_domains": "local.test", "known_hosts": KNOWN, "proxy_protocol": "yes",
            "throttle_window": 600}
    smtp.update({k: str(v) for k, v in LIMITS.items()})
    with SmtpGateway(dataplane_bin, str(tmp_path_factory.mktemp("thr")), smtp=smtp,
                     subnet=SUBNET) as g:
        yield g
        assert g.alive(), "the dataplane died:\n" + g.dp.tail(40)


@pytest.fixture(scope="module")
def short_gw(dataplane_bin, tmp_path_factory):
    smtp = {"local_domains": "local.test", "throttle_window": 2, "throttle_connections": 1}
    with SmtpGateway(dataplane_bin, str(tmp_path_factory.mktemp("thr2")), smtp=smtp,
                     subnet=SUBNET + 1) as g:
        yield g
        assert g.alive(), "the dataplane died:\n" + g.dp.tail(40)


def raw(gw, source, proxy=None):
    """Connects from |source|; sends |proxy| (a PROXY v1 line) first."""
    s = socket.create_connection((gw.gw4, 25), timeout=20, source_address=(source, 0))
    r = RawSmtp(s)
    if proxy:
        r.send(proxy)
    return r


def proxy_line(client):
    return f"PROXY TCP4 {client} {GW} 40000 25"


def stats(gw):
    return gw.smtp_stats()


def greeting(gw, source, proxy=None):
    """The greeting a new connection gets, and whether it was closed after."""
    def run():
        c = raw(gw, source, proxy)
        try:
            g = c.reply()
            return g, g.startswith("220") or c.closed()
        finally:
            c.close()
    return in_ns(gw.ns, run)


def block(gw, prefix):
    """Blocks |prefix| and waits until the worker applied it."""
    u0 = gw.dp.query("/mxgate/filter")["updates"]
    r = gw.dp.query(f"/mxgate/filter/block,{prefix},manual")
    assert r.get("ok") == 1, r
    wait_until(lambda: gw.dp.query("/mxgate/filter")["updates"] > u0, 5, "block applied")


def test_connections_over_limit_get_421(gw):
    st0 = stats(gw)
    for i in range(LIMITS["throttle_connections"]):
        g, _ = greeting(gw, C_CONN)
        assert g == f"220 {HOST} ESMTP", (i, g)
    g, closed = greeting(gw, C_CONN)
    assert g == (f"421 4.7.0 {HOST} Error: too many connections from [{C_CONN}], "
                 "try again later")
    assert closed
    st = stats(gw)
    assert st["throttled_connections"] == st0["throttled_connections"] + 1
    assert st["sessions"] == st0["sessions"] + LIMITS["throttle_connections"] + 1
    # Another client is not affected.
    g, _ = greeting(gw, C_MSG)
    assert g == f"220 {HOST} ESMTP"


def test_messages_over_limit_get_451(gw):
    st0 = stats(gw)

    def run():
        s = smtplib.SMTP(gw.gw4, 25, local_hostname="client.test", timeout=20,
                         source_address=(C_MSG, 0))
        out = []
        try:
            s.ehlo()
            for _ in range(LIMITS["throttle_messages"] + 1):
                out.append(s.mail("a@ext.test"))
                s.rset()
            return out
        finally:
            s.close()
    out = in_ns(gw.ns, run)
    assert out[:-1] == [(250, b"2.1.0 Ok")] * LIMITS["throttle_messages"]
    assert out[-1] == (451, f"4.7.1 Error: too many messages from [{C_MSG}], "
                            "try again later".encode())
    st = stats(gw)
    assert st["throttled_messages"] == st0["throttled_messages"] + 1
    assert st["throttled_recipients"] == st0["throttled_recipients"]


def test_recipients_over_limit_get_452(gw):
    st0 = stats(gw)

    def run():
        s = smtplib.SMTP(gw.gw4, 25, local_hostname="client.test", timeout=20,
                         source_address=(C_RCPT, 0))
        try:
            s.ehlo()
            assert s.mail("a@ext.test")[0] == 250
            return [s.rcpt(f"r{i}@local.test") for i in range(LIMITS["throttle_recipients"] + 2)]
        finally:
            s.close()
    out = in_ns(gw.ns, run)
    n = LIMITS["throttle_recipients"]
    assert out[:n] == [(250, b"2.1.5 Ok")] * n
    refused = (452, f"4.5.3 Error: too many recipients from [{C_RCPT}], "
                    "try again later".encode())
    assert out[n:] == [refused, refused]
    st = stats(gw)
    assert st["throttled_recipients"] == st0["throttled_recipients"] + 2
    assert st["rcpt_accepted"] == st0["rcpt_accepted"] + n


def test_known_host_not_throttled_its_clients_are(gw):
    """The known host opens more connections than the limit (each naming
    another client, or none); a client it names too often gets 421."""
    st0 = stats(gw)
    n = LIMITS["throttle_connections"]
    for i in range(n + 2):
        g, _ = greeting(gw, KNOWN, f"PROXY TCP4 198.51.100.{10 + i} {GW} 40000 25")
        assert g == f"220 {HOST} ESMTP", (i, g)
    for i in range(n + 1):
        g, _ = greeting(gw, KNOWN, "PROXY UNKNOWN")
        assert g == f"220 {HOST} ESMTP", (i, g)
    for i in range(n):
        g, _ = greeting(gw, KNOWN, proxy_line(BUSY))
        assert g == f"220 {HOST} ESMTP", (i, g)
    g, closed = greeting(gw, KNOWN, proxy_line(BUSY))
    assert g == f"421 4.7.0 {HOST} Error: too many connections from [{BUSY}], try again later"
    assert closed
    st = stats(gw)
    assert st["throttled_connections"] == st0["throttled_connections"] + 1


def test_proxy_names_blocked_client_554(gw):
    block(gw, f"{BLOCKED}/32")
    st0 = stats(gw)
    g, closed = greeting(gw, KNOWN, proxy_line(BLOCKED))
    assert g == f"554 5.7.1 {HOST} Error: client [{BLOCKED}] blocked by the sender filter"
    assert closed
    st = stats(gw)
    assert st["filter_blocked_original"] == st0["filter_blocked_original"] + 1

    # The same known host naming an unblocked client is served end to end
    # as far as the envelope.
    def run():
        c = raw(gw, KNOWN, proxy_line(CLEAN))
        try:
            return [c.reply(), c.cmd("HELO upstream.test"), c.cmd("MAIL FROM:<a@ext.test>"),
                    c.cmd("RCPT TO:<x@local.test>"), c.cmd("QUIT")]
        finally:
            c.close()
    out = in_ns(gw.ns, run)
    assert out == [f"220 {HOST} ESMTP", f"250 {HOST}", "250 2.1.0 Ok", "250 2.1.5 Ok",
                   "221 2.0.0 Bye"]
    assert stats(gw)["filter_blocked_original"] == st0["filter_blocked_original"] + 1


def test_xclient_names_blocked_client_554(gw):
    """After XCLIENT the next command is judged: 554 5.7.1 while the blocked
    client is named; XCLIENT naming a clean client restores service."""
    block(gw, f"{BLOCKED}/32")
    st0 = stats(gw)

    def run():
        c = raw(gw, KNOWN, "PROXY UNKNOWN")
        try:
            out = [c.reply()]
            c.cmd("EHLO upstream.test")
            out.append(c.cmd(f"XCLIENT ADDR={BLOCKED}"))
            out.append(c.cmd("EHLO upstream.test"))
            out.append(c.cmd("HELO upstream.test"))
            out.append(c.cmd(f"XCLIENT ADDR={CLEAN}"))
            out.append(c.cmd("HELO upstream.test"))
            out.append(c.cmd("MAIL FROM:<a@ext.test>"))
            return out
        finally:
            c.close()
    out = in_ns(gw.ns, run)
    refused = f"554 5.7.1 Error: client [{BLOCKED}] blocked by the sender filter"
    assert out == [f"220 {HOST} ESMTP", f"220 {HOST} ESMTP", refused, refused,
                   f"220 {HOST} ESMTP", f"250 {HOST}", "250 2.1.0 Ok"]
    st = stats(gw)
    assert st["filter_blocked_original"] == st0["filter_blocked_original"] + 1


def test_served_again_after_window(short_gw):
    """throttle_window = 2 s, one connection per window: the second is
    refused, and once the window is over the client is served again."""
    gw = short_gw
    src = gw.peer4
    g, _ = greeting(gw, src)
    assert g == f"220 {HOST} ESMTP"
    t0 = time.monotonic()
    g, closed = greeting(gw, src)
    refused = f"421 4.7.0 {HOST} Error: too many connections from [{src}], try again later"
    assert g == refused and closed
    assert stats(gw)["throttled_connections"] == 1
    seen = []

    def served():
        g, _ = greeting(gw, src)
        seen.append(g)
        return g == f"220 {HOST} ESMTP"
    wait_until(served, 15, "service after the window", interval=0.2)
    assert time.monotonic() - t0 < 15
    assert all(g == refused for g in seen[:-1]), seen
    # A new window began with that connection: the next one is refused again.
    g, _ = greeting(gw, src)
    assert g == refused
    assert stats(gw)["throttled_connections"] == 1 + len(seen)
