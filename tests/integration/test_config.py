"""Configuration errors (issue 2): an unknown key or a bad value makes
mxgate-dataplane exit 2 before the EAL starts, with `FILE:LINE: key: message`
on stderr, and leaves nothing behind (no runtime directory, no interface)."""

import os
import re
import shutil
import subprocess

import pytest

from mxgtest import names, paths
from mxgtest.dpdk import DataplaneConfig
from mxgtest.telemetry import RUNTIME_DIR


def base_config(tap="mxgcfgtap0"):
    cfg = DataplaneConfig()
    cfg.add_port("gw0", pmd="net_tap", devargs=f"iface={tap}", mtu=1500,
                 ipv4="198.18.5.1/24", ipv6="2001:db8:5::1/64")
    return cfg


def run_dp(binary, cfg_path, netns, prefix):
    argv = ["ip", "netns", "exec", str(netns), binary, "--config", cfg_path,
            "--file-prefix", prefix]
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=60)


# (id, section, key, value): the key is set to the value in that section.
BAD = [
    ("unknown_key_dataplane", "dataplane", "wrokers", "1"),
    ("unknown_key_port", "port gw0", "ipv4_adress", "198.18.5.1/24"),
    ("workers_not_a_number", "dataplane", "workers", "banana"),
    ("workers_zero", "dataplane", "workers", "0"),
    ("idle_unknown_mode", "dataplane", "idle", "sometimes"),
    ("mbufs_negative", "dataplane", "mbufs", "-5"),
    ("burst_too_big", "dataplane", "burst", "100000"),
    ("pmd_unknown", "port gw0", "pmd", "net_magic"),
    ("mtu_too_big", "port gw0", "mtu", "70000"),
    ("ipv4_bad_octet", "port gw0", "ipv4", "198.18.5.300/24"),
    ("ipv4_bad_prefix_len", "port gw0", "ipv4", "198.18.5.1/33"),
    ("ipv6_not_an_address", "port gw0", "ipv6", "2001:db8:::1:/64"),
    ("ipv4_gateway_off_link", "port gw0", "ipv4_gateway", "198.19.9.9"),
    ("vlan_out_of_range", "port gw0", "vlan", "4095"),
]


@pytest.mark.parametrize("case,section,key,value", BAD, ids=[b[0] for b in BAD])
def test_bad_config_exits_2(dataplane_bin, netns, tmp_path, case, section, key, value):
    tap = names.ifname("t")
    cfg = base_config(tap)
    if section == "dataplane":
        cfg.dataplane[key] = value
    else:
        cfg.ports[section.split(" ", 1)[1]][key] = value
    prefix = names.unique("p")
    cfg.dataplane["file_prefix"] = prefix
    path = cfg.write(str(tmp_path / "bad.conf"))
    line = cfg.line_of[(section, key)]
    p = run_dp(dataplane_bin, path, netns, prefix)
    try:
        assert p.returncode == 2, f"rc {p.returncode}\nstdout:{p.stdout}\nstderr:{p.stderr}"
        want = re.compile(re.escape(f"{path}:{line}: {key}:"))
        assert want.search(p.stderr), \
            f"stderr lacks '{path}:{line}: {key}:':\n{p.stderr}"
        assert "mxgate-dataplane: ready" not in p.stdout
        assert not os.path.exists(os.path.join(RUNTIME_DIR, prefix)), \
            "a config error must stop before the EAL creates its runtime directory"
        assert not netns.link_exists(tap)
    finally:
        shutil.rmtree(os.path.join(RUNTIME_DIR, prefix), ignore_errors=True)


def test_missing_config_file(dataplane_bin, netns, tmp_path):
    path = str(tmp_path / "does-not-exist.conf")
    p = run_dp(dataplane_bin, path, netns, names.unique("p"))
    assert p.returncode == 2, p.stderr
    assert path in p.stderr


def test_shipped_config_parses(dataplane_bin, netns):
    """etc/mxgate.conf (the embedded default) has no unknown key and no bad
    value. Loaded with an invalid EAL argument appended, so the run stops
    right after parsing (exit 1 from the EAL, not 2 from the config)."""
    prefix = names.unique("p")
    try:
        p = subprocess.run(["ip", "netns", "exec", str(netns), dataplane_bin,
                            "--config", paths.default_config(), "--file-prefix", prefix,
                            "--", "--no-such-eal-option"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
        assert p.returncode != 2, p.stderr
        assert "mxgate.conf:" not in p.stderr, p.stderr
    finally:
        shutil.rmtree(os.path.join(RUNTIME_DIR, prefix), ignore_errors=True)
