"""The kernel pings the gateway over net_tap and over net_af_xdp (veth pair,
peer in another namespace): 1,000 IPv4 and 1,000 IPv6 echoes, flood pings,
0 % loss, and the kernel's neighbor table resolves the gateway to the
dataplane's MAC for both families (issue 2, "What it must show").

Every test runs twice through the `any_gw` fixture: [tap] and [af_xdp].
The flood count is 20,000 on both paths (the issue's figure); set
MXG_FLOOD_COUNT to change it.
"""

import ipaddress
import os
import re
import time

import pytest

from mxgtest.ping import ping

FLOOD = int(os.environ.get("MXG_FLOOD_COUNT", "20000"))


def echo_counter(gw, family):
    st = gw.stats()
    return st["icmp_echo_rx"] if family == 4 else st["icmp6_echo_rx"]


def test_port_reported(any_gw):
    info = any_gw.dp.ports()
    assert any_gw.port in info, info
    p = info[any_gw.port]
    assert p["pmd"] == ("net_tap" if any_gw.kind == "tap" else "net_af_xdp")
    assert p["ipv4"] == f"{any_gw.gw4}/24"
    assert ipaddress.ip_interface(p["ipv6"]) == ipaddress.ip_interface(f"{any_gw.gw6}/64")
    assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", p["mac"].lower()), p["mac"]
    assert not int(p["mac"].split(":")[0], 16) & 1, "MAC must be unicast"
    ll = ipaddress.ip_address(p["ipv6_ll"])
    assert ll.is_link_local
    if any_gw.kind == "tap":
        # The tap PMD gives the kernel side the port's own MAC; the
        # dataplane must answer with a different one or the kernel drops
        # its replies as looped back (and the dataplane drops the
        # kernel's frames as coming from itself).
        kmac = any_gw.peer_ns.mac(any_gw.peer_dev).lower()
        assert p["mac"].lower() != kmac, f"dataplane uses the kernel tap's MAC {kmac}"
    if any_gw.kind == "af_xdp":
        # The AF_XDP port has the veth's own MAC, and our program is the
        # one attached to the interface.
        assert p["mac"].lower() == any_gw.ns_dp.mac(any_gw.dp_dev).lower()
        out = any_gw.ns_dp.ip("-d", "link", "show", "dev", any_gw.dp_dev).stdout
        assert "xpf_prog" in out, out


@pytest.mark.parametrize("family", [4, 6])
def test_ping_1000(any_gw, family):
    addr = any_gw.gw4 if family == 4 else any_gw.gw6
    before = echo_counter(any_gw, family)
    r = ping(any_gw.peer_ns, addr, count=1000, interval=0.002)
    assert r.transmitted == 1000 and r.received == 1000, str(r)
    assert echo_counter(any_gw, family) - before == 1000


@pytest.mark.parametrize("family", [4, 6])
def test_flood_ping(any_gw, family):
    addr = any_gw.gw4 if family == 4 else any_gw.gw6
    before = echo_counter(any_gw, family)
    r = ping(any_gw.peer_ns, addr, count=FLOOD, flood=True)
    assert r.transmitted == FLOOD and r.received == FLOOD, str(r)
    assert echo_counter(any_gw, family) - before == FLOOD
    assert any_gw.alive()


@pytest.mark.parametrize("family", [4, 6])
def test_kernel_neighbor_resolves_gateway(any_gw, family):
    """After traffic, the kernel holds the gateway as REACHABLE or STALE
    with the dataplane's MAC. Transient states (DELAY, PROBE) are waited
    out: the dataplane must answer the kernel's unicast probe."""
    addr = any_gw.gw4 if family == 4 else any_gw.gw6
    r = ping(any_gw.peer_ns, addr, count=3, interval=0.05)
    assert r.received == 3, str(r)
    deadline = time.monotonic() + 20
    while True:
        lladdr, state = any_gw.peer_ns.neigh(addr, any_gw.peer_dev)
        if state in ("REACHABLE", "STALE") or time.monotonic() > deadline:
            break
        time.sleep(0.2)   # polling the kernel's table with a deadline
    assert state in ("REACHABLE", "STALE"), f"{addr}: {lladdr} {state}"
    assert lladdr == any_gw.dp_mac
    st = any_gw.stats()
    if family == 4:
        assert st["arp_req_rx"] >= 1
    else:
        assert st["ns_rx"] >= 1 and st["na_tx"] >= 1
