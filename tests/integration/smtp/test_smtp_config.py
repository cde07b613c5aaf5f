# SPDX-License-Identifier: BSD-3-Clause
"""[smtp] configuration errors stop the dataplane with FILE:LINE (exit 2),
before the EAL starts."""

import subprocess

import pytest

from mxgtest import names
from mxgtest.dpdk import DataplaneConfig

GOOD = {"downstream_smtp_server_addr": "198.18.10.2", "smtp_allow_client_ip": "198.18.10.0/24"}

BAD = [
    ("unknown_key", "smpt_allow_client_ip", "198.18.10.2"),
    ("acl_bad_entry", "smtp_allow_client_ip", "198.18.10.0/24, 198.18.10.300"),
    ("acl_bad_range", "known_hosts", "198.18.10.9-3x"),
    ("downstream_not_ip", "downstream_smtp_server_addr", "mx.example"),
    ("downstream_tls_bad", "downstream_tls", "sometimes"),
    ("port_bad", "proxy_smtp_ports", "25, 70000"),
    ("listen_bad", "proxy_smtp_server_ip", "198.18.10.1.5"),
    ("tls_version_bad", "tls_min_version", "1.1"),
    ("size_too_small", "max_message_size", "10"),
    ("proxy_without_known", "proxy_protocol", "yes"),
    ("throttle_window_zero", "throttle_window", "0"),
    ("throttle_rcpt_bad", "throttle_recipients", "-3"),
]


@pytest.mark.parametrize("case,key,value", BAD, ids=[b[0] for b in BAD])
def test_bad_smtp_key(dataplane_bin, tmp_path, case, key, value):
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
    assert p.returncode == 2, p.stderr
    assert f"{path}:{line}:" in p.stderr and key in p.stderr, p.stderr
