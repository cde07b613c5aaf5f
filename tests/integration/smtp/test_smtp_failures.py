# SPDX-License-Identifier: BSD-3-Clause
"""SMTP proxy failure paths (issue 4): whatever the downstream does wrong -
4xx, silence, reset, disappearing - the client gets 4xx, never 250; a 5xx
from the downstream is passed on; recipients the downstream refuses are
mapped honestly (451 for the message, the refusal at RCPT on the retry)."""

import smtplib
import threading

import pytest

from smtpenv import PySink, in_ns
from test_smtp_relay import BODY, smtp_send


def send_expect(gw, rcpts, body=BODY, **kw):
    """Returns (code, text) of the failing reply, or (250, refused-dict)."""
    try:
        r = smtp_send(gw, "a@ext.test", rcpts, body, **kw)
        return 250, r
    except smtplib.SMTPDataError as e:
        return e.smtp_code, e.smtp_error.decode()
    except smtplib.SMTPRecipientsRefused as e:
        return 0, e.recipients


def test_downstream_451_at_eod(relay_gw, sink):
    sink.eod_reply = "451 4.3.0 try again"
    code, text = send_expect(relay_gw, ["b@local.test"])
    assert code == 451, text
    assert "try again" in text


def test_downstream_554_at_eod(relay_gw, sink):
    sink.eod_reply = "554 5.7.1 spam"
    code, text = send_expect(relay_gw, ["b@local.test"])
    assert code == 554 and "5.7.1" in text, text


def test_downstream_down(relay_gw):
    before = relay_gw.smtp_stats()["messages_tempfailed"]
    code, text = send_expect(relay_gw, ["b@local.test"])
    assert code == 451, text
    assert relay_gw.smtp_stats()["messages_tempfailed"] == before + 1


def test_downstream_reset_mid_data(relay_gw, sink):
    sink.reset_after = 3000
    body = BODY + (b"y" * 70 + b"\r\n") * 500
    code, text = send_expect(relay_gw, ["b@local.test"], body=body)
    assert code == 451, text
    assert not sink.messages


def test_downstream_silent_beyond_timeout(relay_gw, sink):
    sink.hold = threading.Event()      # never set: the final reply never comes
    code, text = send_expect(relay_gw, ["b@local.test"])
    assert code == 451 and "timeout" in text, text


def test_partial_recipients_mapped(relay_gw, sink):
    sink.rcpt_reply = {"gone@local.test": "550 5.1.1 no such user"}
    code, text = send_expect(relay_gw, ["b@local.test", "gone@local.test"])
    assert code == 451, text
    assert not sink.messages
    # The retry learns the refusal at RCPT time; the other recipient gets it.
    code, refused = send_expect(relay_gw, ["b@local.test", "gone@local.test"])
    assert code == 250, refused
    assert refused["gone@local.test"][0] == 550, refused
    m = sink.wait_messages(1)[0]
    assert m.rcpts == ["b@local.test"] and m.data == BODY


def test_all_recipients_refused(relay_gw, sink):
    sink.rcpt_reply = {"x1@local.test": "550 5.1.1 nope", "x2@local.test": "550 5.1.1 nope"}
    code, text = send_expect(relay_gw, ["x1@local.test", "x2@local.test"])
    assert code in (550, 554), text
    assert not sink.messages
