# SPDX-License-Identifier: BSD-3-Clause
"""Relay control (issue 4): not an open relay by default; who may relay is
smtp_allow_client_ip in each IMSS form (single, CIDR, range a.b.c.d-e, and
IPv6); local_domains are accepted from anyone."""

import smtplib

import pytest

from smtpenv import PySink, SmtpGateway, in_ns
from test_smtp_relay import BODY


def rcpt(gw, to, source, host=None):
    """The reply code and text of RCPT TO:<to> from |source|."""
    def run():
        s = smtplib.SMTP(host or gw.gw4, 25, local_hostname="client.test", timeout=30,
                         source_address=(source, 0))
        try:
            s.ehlo()
            s.mail("a@ext.test")
            return s.rcpt(to)
        finally:
            s.close()
    code, text = in_ns(gw.ns, run)
    return code, text.decode()


@pytest.fixture(scope="module")
def closed_gw(dataplane_bin, tmp_path_factory):
    with SmtpGateway(dataplane_bin, str(tmp_path_factory.mktemp("smtpgw")), subnet=6) as gw:
        yield gw


@pytest.fixture(scope="module")
def acl_gw(dataplane_bin, tmp_path_factory):
    smtp = {"smtp_allow_client_ip": "198.18.7.3, 198.18.7.16/28; 198.18.7.40-45 "
                                    "2001:db8:7::10-1f",
            "local_domains": "local.test, .sub.test"}
    with SmtpGateway(dataplane_bin, str(tmp_path_factory.mktemp("smtpgw")), smtp=smtp,
                     subnet=7) as gw:
        yield gw


@pytest.mark.parametrize("to", ["x@ext.test", "postmaster@ext.test", "x@local.test"])
def test_not_open_relay_by_default(closed_gw, to):
    code, text = rcpt(closed_gw, to, closed_gw.peer4)
    assert code == 554 and "5.7.1" in text, text
    assert closed_gw.smtp_stats()["relay_denied"] >= 1


@pytest.mark.parametrize("source,allowed", [
    ("198.18.7.3", True),     # single address
    ("198.18.7.20", True),    # inside 198.18.7.16/28
    ("198.18.7.42", True),    # inside the range .40-45
    ("198.18.7.50", False),   # outside all of them
    ("198.18.7.2", False),
])
def test_allow_client_ip_forms(acl_gw, source, allowed):
    code, text = rcpt(acl_gw, "x@ext.test", source)
    assert (code == 250) == allowed, (source, code, text)
    if not allowed:
        assert code == 554 and "Relay access denied" in text


@pytest.mark.parametrize("source,allowed", [("2001:db8:7::12", True),
                                            ("2001:db8:7::2", False)])
def test_allow_client_ip_v6_range(acl_gw, source, allowed):
    code, text = rcpt(acl_gw, "x@ext.test", source, host=acl_gw.gw6)
    assert (code == 250) == allowed, (source, code, text)


@pytest.mark.parametrize("to,ok", [("x@local.test", True), ("x@LOCAL.TEST", True),
                                   ("x@a.sub.test", True), ("x@sub.test", False),
                                   ("x@notlocal.test", False)])
def test_local_domains_from_anyone(acl_gw, to, ok):
    code, text = rcpt(acl_gw, to, "198.18.7.50")
    assert (code == 250) == ok, (to, code, text)


def test_open_relay_probe_end_to_end(acl_gw):
    """A whole message from outside to a foreign domain never reaches the
    downstream."""
    with PySink(acl_gw.ns, acl_gw.peer4, 10026) as sink:
        def run():
            s = smtplib.SMTP(acl_gw.gw4, 25, timeout=30, source_address=("198.18.7.60", 0))
            try:
                s.sendmail("spammer@ext.test", ["victim@elsewhere.test"], BODY)
            finally:
                s.close()
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            in_ns(acl_gw.ns, run)
        assert sink.connections == 0 and not sink.messages
