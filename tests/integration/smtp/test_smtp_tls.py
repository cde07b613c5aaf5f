# SPDX-License-Identifier: BSD-3-Clause
"""STARTTLS (issue 4): inbound TLS 1.3 and 1.2 over memory BIOs with the
self-signed certificate generated at start (swaks, openssl s_client,
Python ssl), plaintext pipelined after STARTTLS discarded (CVE-2011-0411),
and STARTTLS to the downstream when it offers it."""

import socket
import ssl
import subprocess

import pytest

from smtpenv import PySink, SmtpGateway, in_ns, self_signed
from test_smtp_relay import BODY


@pytest.fixture(scope="module")
def tls_gw(dataplane_bin, tmp_path_factory):
    smtp = {"smtp_allow_client_ip": "198.18.8.0/24", "downstream_tls": "opportunistic"}
    with SmtpGateway(dataplane_bin, str(tmp_path_factory.mktemp("smtpgw")), smtp=smtp,
                     subnet=8) as gw:
        yield gw


@pytest.fixture
def tsink(tls_gw):
    with PySink(tls_gw.ns, tls_gw.peer4, 10026) as s:
        yield s


def test_swaks_tls(tls_gw, tsink):
    before = tls_gw.smtp_stats()["tls_handshakes"]
    p = subprocess.run(["ip", "netns", "exec", str(tls_gw.ns), "swaks", "--server",
                        f"{tls_gw.gw4}:25", "--tls", "--from", "a@ext.test", "--to",
                        "b@ext.test", "--data", "-"], input=BODY[:-2],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = p.stdout.decode()
    assert p.returncode == 0, out
    assert "TLS started" in out and "250 2.0.0 Ok: delivered" in out, out
    assert tsink.wait_messages(1)[0].data == BODY
    assert tls_gw.smtp_stats()["tls_handshakes"] == before + 1
    assert "self-signed" in tls_gw.dp.output("stderr") + tls_gw.dp.output("stdout")


@pytest.mark.parametrize("ver,name", [("-tls1_3", "TLSv1.3"), ("-tls1_2", "TLSv1.2")])
def test_openssl_s_client(tls_gw, ver, name):
    p = subprocess.run(["ip", "netns", "exec", str(tls_gw.ns), "openssl", "s_client",
                        "-connect", f"{tls_gw.gw4}:25", "-starttls", "smtp", ver, "-crlf",
                        "-brief", "-ign_eof"], input=b"EHLO client.test\nQUIT\n",
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    out = p.stdout.decode()
    assert f"Protocol version: {name}" in out, out
    after = out.split("Protocol version")[1]
    assert "250 CHUNKING" in after and "STARTTLS" not in after, out   # EHLO again, in TLS
    assert "221 2.0.0" in after, out


def test_plaintext_after_starttls_discarded(tls_gw):
    """"STARTTLS\\r\\nMAIL FROM:<...>" in one segment: the injected MAIL
    must not survive into the TLS session."""
    before = tls_gw.smtp_stats()["tls_injections"]

    def run():
        s = socket.create_connection((tls_gw.gw4, 25), timeout=30)
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"EHLO client.test\r\n")
        while f.readline()[3:4] != b" ":
            pass
        s.sendall(b"STARTTLS\r\nMAIL FROM:<injected@ext.test>\r\n")
        r = f.readline()
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        t = ctx.wrap_socket(s, server_hostname="gw.mxgate.test")
        tf = t.makefile("rb")
        t.sendall(b"EHLO client.test\r\n")
        while tf.readline()[3:4] != b" ":
            pass
        t.sendall(b"RCPT TO:<b@ext.test>\r\n")
        rr = tf.readline()
        t.sendall(b"QUIT\r\n")
        tf.readline()
        t.close()
        return r, rr
    r, rr = in_ns(tls_gw.ns, run)
    assert r.startswith(b"220"), r
    assert rr.startswith(b"503"), rr       # no MAIL: the injected one was dropped
    assert tls_gw.smtp_stats()["tls_injections"] >= before + 1


def test_downstream_starttls(tls_gw, tsink, tmp_path):
    crt, key = self_signed(str(tmp_path))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    tsink.tls_ctx = ctx
    before = tls_gw.smtp_stats()["downstream_tls"]
    p = subprocess.run(["ip", "netns", "exec", str(tls_gw.ns), "swaks", "--server",
                        f"{tls_gw.gw4}:25", "--from", "a@ext.test", "--to", "b@ext.test",
                        "--data", "-"], input=BODY[:-2], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60)
    assert p.returncode == 0, p.stdout.decode()
    m = tsink.wait_messages(1)[0]
    assert m.tls and m.data == BODY
    assert tls_gw.smtp_stats()["downstream_tls"] == before + 1
