# SPDX-License-Identifier: BSD-3-Clause
"""[smtp] configuration errors stop the dataplane with FILE:LINE (exit 2),
before the EAL starts; downstream_smtp_server_addr given as a host name is
resolved once at start."""

import os
import shutil
import smtplib
import subprocess

import pytest

from mxgtest import names
from mxgtest.cleanup import REGISTRY
from mxgtest.dpdk import DataplaneConfig
from smtpenv import PySink, SmtpGateway, in_ns

BODY = b"From: a@ext.test\r\nTo: b@local.test\r\nSubject: named\r\n\r\nbody\r\n"

GOOD = {"downstream_smtp_server_addr": "198.18.10.2", "smtp_allow_client_ip": "198.18.10.0/24"}

BAD = [
    ("unknown_key", "smpt_allow_client_ip", "198.18.10.2"),
    ("acl_bad_entry", "smtp_allow_client_ip", "198.18.10.0/24, 198.18.10.300"),
    ("acl_bad_range", "known_hosts", "198.18.10.9-3x"),
    ("downstream_unresolvable", "downstream_smtp_server_addr", "nonexistent.invalid"),
    ("downstream_with_port", "downstream_smtp_server_addr", "198.18.10.2:25"),
    ("downstream_tls_bad", "downstream_tls", "sometimes"),
    ("port_bad", "proxy_smtp_ports", "25, 70000"),
    ("listen_bad", "proxy_smtp_server_ip", "198.18.10.1.5"),
    ("tls_version_bad", "tls_min_version", "1.1"),
    ("size_too_small", "max_message_size", "10"),
    ("proxy_without_known", "proxy_protocol", "yes"),
    ("throttle_window_zero", "throttle_window", "0"),
    ("throttle_rcpt_bad", "throttle_recipients", "-3"),
]


def run_bad(dataplane_bin, tmp_path, key, value):
    """Runs the dataplane on a config whose [smtp] |key| is |value|; returns
    (completed process, config path, line of the key)."""
    cfg = DataplaneConfig()
    cfg.add_port("gw0", pmd="net_tap", devargs=f"iface={names.ifname('t')}",
                 ipv4="198.18.10.1/24")
    smtp = dict(GOOD)
    smtp[key] = value
    lines = ["", "[smtp]"]
    for k, v in smtp.items():
        lines.append(f"{k} = {v}")
    cfg.extra_lines = lines
    path = str(tmp_path / "bad.conf")
    text = cfg.render()
    with open(path, "w") as f:
        f.write(text)
    line = text.split("\n").index(f"{key} = {value}") + 1
    p = subprocess.run([dataplane_bin, "--config", path], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    return p, path, line


@pytest.mark.parametrize("case,key,value", BAD, ids=[b[0] for b in BAD])
def test_bad_smtp_key(dataplane_bin, tmp_path, case, key, value):
    p, path, line = run_bad(dataplane_bin, tmp_path, key, value)
    assert p.returncode == 2, p.stderr
    assert f"{path}:{line}:" in p.stderr and key in p.stderr, p.stderr


def test_downstream_name_unresolvable_message(dataplane_bin, tmp_path):
    """A host name is resolved once at start; one that does not resolve
    (.invalid never does, RFC 2606) stops the start, naming the key."""
    key = "downstream_smtp_server_addr"
    p, path, line = run_bad(dataplane_bin, tmp_path, key, "nonexistent.invalid")
    assert p.returncode == 2, p.stderr
    assert f"{path}:{line}: {key}: 'nonexistent.invalid' does not resolve" in p.stderr, p.stderr


def test_downstream_localhost_resolved_ipv4_first(dataplane_bin, tmp_path):
    """"localhost" (/etc/hosts: 127.0.0.1 and usually ::1) is resolved at
    start, the IPv4 address preferred, and the choice is logged."""
    with SmtpGateway(dataplane_bin, str(tmp_path), subnet=84,
                     smtp={"downstream_smtp_server_addr": "localhost"}) as gw:
        want = "downstream 127.0.0.1:10026 (localhost, resolved once at start)"
        out = gw.dp.output("stdout") + gw.dp.output("stderr")
        assert want in out, gw.dp.tail(40)


class NamedDownstreamGateway(SmtpGateway):
    """A gateway whose downstream is given as a host name that only its own
    namespace resolves: `ip netns exec NS` (how the dataplane is started)
    bind-mounts /etc/netns/NS/hosts over /etc/hosts, so the system's
    /etc/hosts is never touched."""

    NAME = "mx.downstream.test"

    def _start_dp(self, cfg, ns):
        top = "/etc/netns"
        d = os.path.join(top, str(ns))
        made_top = not os.path.isdir(top)

        def remove():
            shutil.rmtree(d, ignore_errors=True)
            if made_top:
                try:
                    os.rmdir(top)           # only if empty: no one else uses it
                except OSError:
                    pass
        os.makedirs(d)
        token = REGISTRY.add(remove, f"hosts {d}")
        self._stack.callback(REGISTRY.forget, token)
        self._stack.callback(remove)
        with open(os.path.join(d, "hosts"), "w") as f:
            # The IPv6 address first: the IPv4 one is still preferred.
            f.write(f"127.0.0.1 localhost\n{self.peer6} {self.NAME}\n{self.peer4} {self.NAME}\n")
        super()._start_dp(cfg, ns)


def test_downstream_host_name_delivers(dataplane_bin, tmp_path):
    """downstream_smtp_server_addr as a host name, end to end: resolved at
    start to the peer's IPv4 address, and mail reaches the sink there."""
    smtp = {"downstream_smtp_server_addr": NamedDownstreamGateway.NAME,
            "local_domains": "local.test"}
    with NamedDownstreamGateway(dataplane_bin, str(tmp_path), subnet=85, smtp=smtp) as gw:
        want = (f"downstream {gw.peer4}:10026 ({NamedDownstreamGateway.NAME}, "
                "resolved once at start)")
        out = gw.dp.output("stdout") + gw.dp.output("stderr")
        assert want in out, gw.dp.tail(40)
        with PySink(gw.ns, gw.peer4, 10026) as sink:
            def send():
                s = smtplib.SMTP(gw.gw4, 25, local_hostname="client.test", timeout=30)
                try:
                    return s.sendmail("a@ext.test", ["b@local.test"], BODY)
                finally:
                    s.quit()
            assert in_ns(gw.ns, send) == {}
            m = sink.wait_messages(1)[0]
            assert m.data == BODY and m.rcpts == ["b@local.test"]
