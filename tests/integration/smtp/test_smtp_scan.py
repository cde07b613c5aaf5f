# SPDX-License-Identifier: BSD-3-Clause
"""The content scan in the SMTP path (issues 4 and 5): the message streams
through scan/'s session on its way downstream, and the default policy
refuses viruses before the downstream ever gets the end of data."""

import base64
import smtplib

import pytest

from smtpenv import in_ns

# The EICAR test string, assembled so that this file itself is not one.
EICAR = (b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*")


def send(gw, body):
    def run():
        s = smtplib.SMTP(gw.gw4, 25, local_hostname="client.test", timeout=30)
        try:
            return s.sendmail("a@ext.test", ["b@local.test"], body)
        finally:
            try:
                s.quit()
            except smtplib.SMTPException:
                pass
    return in_ns(gw.ns, run)


def attachment_message(payload, name):
    b64 = base64.encodebytes(payload)
    return (b"From: a@ext.test\r\nTo: b@local.test\r\nSubject: scan\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            b"--b1\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
            b"--b1\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Disposition: attachment; filename=\"" + name + b"\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" + b64.replace(b"\n", b"\r\n") +
            b"--b1--\r\n")


def test_eicar_attachment_refused_not_delivered(relay_gw, sink):
    before = relay_gw.smtp_stats()
    with pytest.raises(smtplib.SMTPDataError) as ei:
        send(relay_gw, attachment_message(EICAR, b"eicar.com"))
    assert ei.value.smtp_code == 550
    assert b"virus found" in ei.value.smtp_error
    # A clean message after it on the same gateway is delivered, and it is
    # the only one the downstream ever saw.
    send(relay_gw, attachment_message(b"just some bytes\n", b"notes.txt"))
    msgs = sink.wait_messages(1)
    assert len(msgs) == 1 and b"notes.txt" in msgs[0].data
    assert EICAR not in b"".join(m.data for m in sink.messages)
    after = relay_gw.smtp_stats()
    assert after["messages_received"] - before["messages_received"] == 2


def test_eicar_in_plain_body_refused(relay_gw, sink):
    body = b"From: a@ext.test\r\nTo: b@local.test\r\nSubject: plain\r\n\r\n" + EICAR + b"\r\n"
    with pytest.raises(smtplib.SMTPDataError) as ei:
        send(relay_gw, body)
    assert ei.value.smtp_code == 550
    assert not sink.messages
