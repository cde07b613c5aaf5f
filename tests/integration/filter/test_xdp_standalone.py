"""`mxgatectl xdp attach` shielding an ordinary kernel TCP server (the
stand-alone deployment in front of an MTA): a veth pair between the
server's namespace (program attached on its end, generic mode: veth's
native XDP would need an XDP program on the peer too for the reverse
path) and a client namespace with two addresses."""

import time

import pytest

from filterutil import Server, ctl, send_frames, try_connect, wait_until, xdp_stats
from mxgtest import names
from mxgtest.cleanup import REGISTRY
from mxgtest.net import Netns, VethPair, run

SUB = 72
SRV, CLI, CLI2 = f"198.18.{SUB}.1", f"198.18.{SUB}.2", f"198.18.{SUB}.3"
SRV6, CLI6 = f"2001:db8:{SUB:x}::1", f"2001:db8:{SUB:x}::2"
PORT = 2525


@pytest.fixture(scope="module")
def shield(mxgatectl):
    with Netns() as srv_ns, Netns() as cli_ns:
        for ns in (srv_ns, cli_ns):
            ns.quiet_ipv6_defaults()
        with VethPair(srv_ns, cli_ns) as v:
            srv_ns.add_addr(v.a, f"{SRV}/24")
            srv_ns.add_addr(v.a, f"{SRV6}/64")
            cli_ns.add_addr(v.b, f"{CLI}/24")
            cli_ns.add_addr(v.b, f"{CLI2}/24")
            cli_ns.add_addr(v.b, f"{CLI6}/64")
            srv_ns.link_up(v.a)
            cli_ns.link_up(v.b)
            name = names.unique("s")
            tok = REGISTRY.add(lambda: (ctl(mxgatectl, "xdp", "detach", v.a, "--netns", srv_ns,
                                            "--name", name, check=False),
                                        run(["rm", "-rf", f"/sys/fs/bpf/mxgate/{name}"],
                                            check=False)), f"xdp on {v.a}")
            ctl(mxgatectl, "xdp", "attach", v.a, "--netns", srv_ns, "--name", name,
                "--generic")
            with Server(srv_ns, "::", PORT) as srv:
                yield type("Shield", (), dict(srv_ns=srv_ns, cli_ns=cli_ns, dev=v.a,
                                              peer=v.b, name=name, srv=srv))
            REGISTRY.run(tok)


def test_attached_and_serving(shield):
    assert try_connect(shield.cli_ns, SRV, PORT, 3)
    assert try_connect(shield.cli_ns, SRV6, PORT, 3)
    out = shield.srv_ns.ip("-d", "link", "show", "dev", shield.dev).stdout
    assert "xdpgeneric" in out or "prog/xdp" in out, out


def test_block_then_unblock(shield, mxgatectl):
    n = shield.name
    before = xdp_stats(mxgatectl, n)
    ctl(mxgatectl, "block", "add", f"{CLI}/32", "--reason", "dnsbl", "--expire", "600",
        "--name", n)
    listing = ctl(mxgatectl, "block", "list", "--name", n).stdout
    assert f"{CLI}/32" in listing and "dnsbl" in listing
    acc = shield.srv.accepted
    assert not try_connect(shield.cli_ns, SRV, PORT, 2, bind=CLI)
    assert try_connect(shield.cli_ns, SRV, PORT, 3, bind=CLI2), "another source was hit"
    after = xdp_stats(mxgatectl, n)
    assert after["drop_blocked"] > before["drop_blocked"]
    assert after["reason dnsbl"] > before.get("reason dnsbl", 0)
    assert shield.srv.accepted == acc + 1
    t0 = time.monotonic()
    ctl(mxgatectl, "block", "del", f"{CLI}/32", "--name", n)
    wait_until(lambda: try_connect(shield.cli_ns, SRV, PORT, 0.3, bind=CLI), 1.0,
               "service restored after block del")
    print(f"restored {time.monotonic() - t0:.3f} s after block del")


def test_ipv6_block(shield, mxgatectl):
    ctl(mxgatectl, "block", "add", f"2001:db8:{SUB:x}::/64", "--name", shield.name)
    try:
        assert not try_connect(shield.cli_ns, SRV6, PORT, 2)
    finally:
        ctl(mxgatectl, "block", "del", f"2001:db8:{SUB:x}::/64", "--name", shield.name)
    assert try_connect(shield.cli_ns, SRV6, PORT, 3)


def test_known_host_never_dropped(shield, mxgatectl):
    n = shield.name
    ctl(mxgatectl, "block", "add", f"198.18.{SUB}.0/24", "--name", n)
    ctl(mxgatectl, "allow", "add", CLI2, "--name", n)
    try:
        assert f"{CLI2}/32" in ctl(mxgatectl, "allow", "list", "--name", n).stdout
        assert try_connect(shield.cli_ns, SRV, PORT, 3, bind=CLI2)
        assert not try_connect(shield.cli_ns, SRV, PORT, 1.5, bind=CLI)
    finally:
        ctl(mxgatectl, "allow", "del", CLI2, "--name", n)
        ctl(mxgatectl, "block", "del", f"198.18.{SUB}.0/24", "--name", n)


def test_expiry(shield, mxgatectl):
    ctl(mxgatectl, "block", "add", CLI, "--expire", "1", "--name", shield.name)
    assert not try_connect(shield.cli_ns, SRV, PORT, 0.5, bind=CLI)
    wait_until(lambda: try_connect(shield.cli_ns, SRV, PORT, 0.3, bind=CLI), 3.0,
               "the entry to expire")
    assert "expired" in ctl(mxgatectl, "block", "list", "--name", shield.name).stdout
    assert "1 expired" in ctl(mxgatectl, "block", "gc", "--name", shield.name).stdout


def test_malformed_frames_on_the_wire(shield, mxgatectl):
    """Truncated, VLAN-in-VLAN and long IPv6 extension chains sent raw at
    the shielded interface: counted, no drop of good traffic after."""
    from scapy.all import Dot1Q, Ether, IP, IPv6, IPv6ExtHdrDestOpt, TCP
    mac_srv = shield.srv_ns.mac(shield.dev)
    mac_cli = shield.cli_ns.mac(shield.peer)
    eth = Ether(src=mac_cli, dst=mac_srv)
    syn = IP(src=CLI, dst=SRV) / TCP(dport=PORT, flags="S")
    chain = IPv6ExtHdrDestOpt()
    for _ in range(11):
        chain = chain / IPv6ExtHdrDestOpt()
    frames = [bytes(eth / syn)[:14 + 12], bytes(eth / Dot1Q(vlan=3) / Dot1Q(vlan=4) / syn),
              bytes(eth / Dot1Q(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3) / syn),
              bytes(eth / IPv6(src=CLI6, dst=SRV6) / chain / TCP(dport=PORT, flags="S"))]
    before = xdp_stats(mxgatectl, shield.name)
    send_frames(shield.cli_ns, shield.peer, frames * 25)
    after = wait_until(lambda: (lambda s: s if s["seen"] - before["seen"] >= 100 else None)(
        xdp_stats(mxgatectl, shield.name)), 5, "the frames to be seen")
    assert after["malformed"] - before["malformed"] >= 75    # cut, 3 tags, long chain
    assert after["drop_blocked"] == before["drop_blocked"]
    assert try_connect(shield.cli_ns, SRV, PORT, 3)


def test_syn_flood_from_one_source(shield, mxgatectl):
    """syn_rate 10/s burst 10: a flood of 500 SYNs from CLI (raw, random
    ports) is mostly dropped while CLI2 connects normally."""
    from scapy.all import Ether, IP, TCP
    n = shield.name
    ctl(mxgatectl, "xdp", "conf", "--syn-rate", "10", "--syn-burst", "10", "--name", n)
    try:
        eth = Ether(src=shield.cli_ns.mac(shield.peer), dst=shield.srv_ns.mac(shield.dev))
        flood = [bytes(eth / IP(src=CLI, dst=SRV) / TCP(sport=20000 + i, dport=PORT, flags="S",
                                                        seq=i)) for i in range(500)]
        before = xdp_stats(mxgatectl, n)
        send_frames(shield.cli_ns, shield.peer, flood)
        assert try_connect(shield.cli_ns, SRV, PORT, 3, bind=CLI2)
        after = xdp_stats(mxgatectl, n)
        dropped = after["drop_synrate"] - before["drop_synrate"]
        assert dropped >= 400, after
    finally:
        ctl(mxgatectl, "xdp", "conf", "--syn-rate", "0", "--syn-burst", "0", "--name", n)
