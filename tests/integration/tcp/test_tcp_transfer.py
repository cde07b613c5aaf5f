"""Kernel TCP clients against tcpstack's echo (RFC 862) and discard
(RFC 863) services through the real dataplane, over net_tap and over
net_af_xdp on a veth pair, IPv4 and IPv6 (issue 3, "What it must show":
interop).

Every transfer is byte-exact: the client sends a deterministic stream and
hashes what it sends and what the echo returns (sha256 equal, length
equal), and the connection ends with an orderly FIN from the service. The
same runs under netem-style impairment of the peer's link in both directions (see
tcputil.Impaired: this kernel has no sch_netem, a userspace bridge does
it): 1 % and 5 % loss, 25 % reordering, 5 % duplication, and 50 ms +-
10 ms delay. tcpstack's and the kernel's retransmission counters
of each case are printed (pytest -s) and kept as test properties.

Sizes: 10 MB each way for clean links and 64 MiB each way under every
impairment (the issue's CI figure); MXG_LONG=1 raises both to 1 GiB (the
issue's full figure, the documented long suite). MXG_TCP_BYTES /
MXG_TCP_NETEM_BYTES override them.

The same transfers run with the Linux kernel in the gateway's place
(tcputil.KernelImpaired: same bridge, same impairment and seed, same
client) for the reordering conditions, so tcpstack's rate under jitter
is compared with the kernel's in the same run (test_kernel_reference).
"""

import os
import socket
import zlib

import pytest

import tcputil
from tcputil import MB, LONG

GIB, MIB = 1024 * 1024 * 1024, 1024 * 1024
CLEAN_BYTES = int(os.environ.get("MXG_TCP_BYTES", GIB if LONG else 10 * MB))
NETEM_BYTES = int(os.environ.get("MXG_TCP_NETEM_BYTES", GIB if LONG else 64 * MIB))
# Buffers of the gateway in this module: 2 MiB each way, so that a 100 ms
# round trip (50 ms +- 10 ms each way) is not bounded by the default
# 256 KiB window (2.6 MB/s) - the kernel peer autotunes up to 4-6 MiB.
DATAPLANE = {"tcp_rcvbuf": 2 * 1024 * 1024, "tcp_sndbuf": 2 * 1024 * 1024}
# Conditions whose rate is compared with the kernel peer's in the same run.
REFERENCE_CONDS = ("reorder25", "delay50j10")

# netem's figures, applied by impair_bridge.py in both directions (this
# kernel has no sch_netem: see tcputil.Impaired).
IMPAIRMENTS = {
    "loss1": "--loss 0.01",                      # netem loss 1%
    "loss5": "--loss 0.05",                      # netem loss 5%
    "reorder25": "--delay 10 --reorder 0.25",    # netem delay 10ms reorder 25%
    "dup5": "--dup 0.05",                        # netem duplicate 5%
    "delay50j10": "--delay 50 --jitter 10",      # netem delay 50ms 10ms
}

OUR_KEYS = ("retransmits", "rto_fired", "fast_retransmits", "rack_lost", "tlp_probes",
            "spurious_undos", "dsack_rcvd", "dsack_sent", "rx_ooo", "rx_ooo_drop",
            "rx_dup_bytes", "rx_out_of_window", "rx_bad_csum", "rst_sent", "rst_rcvd")


def report(record_property, label, ours, kern, res):
    ours = {k: ours[k] for k in OUR_KEYS}
    kern = {k: v for k, v in kern.items() if k in tcputil.KERNEL_COUNTERS and v}
    mbps = res["received"] / res["seconds"] / 1e6 if res.get("received") else None
    record_property("tcpstack", ours)
    record_property("kernel", kern)
    record_property("seconds", round(res["seconds"], 2))
    print(f"\n[{label}] {res.get('sent')} B sent, {res.get('received')} B echoed in "
          f"{res['seconds']:.2f} s ({mbps and round(mbps, 1)} MB/s each way); "
          f"tcpstack {ours}; kernel {kern}")


def check_echo(res, nbytes):
    assert res["sent"] == nbytes
    assert res["received"] == nbytes, f"echo returned {res['received']} of {nbytes} bytes"
    assert res["sha_received"] == res["sha_sent"], "echoed bytes differ from the sent ones"


@pytest.mark.parametrize("family", [4, 6])
def test_echo_clean(gw, family, record_property):
    """CLEAN_BYTES each way through echo: byte-exact, nothing lost on a
    clean link, no connection left behind."""
    base = tcputil.tcp_stats(gw)
    kbase = tcputil.kernel_counters(gw.peer_ns)
    res = tcputil.echo_transfer(gw.peer_ns, tcputil.gw_addr(gw, family), CLEAN_BYTES)
    after = tcputil.wait_conns(gw, base["conns"])
    report(record_property, f"{gw.kind} v{family} clean", tcputil.delta(after, base),
           tcputil.delta(tcputil.kernel_counters(gw.peer_ns), kbase), res)
    check_echo(res, CLEAN_BYTES)
    d = tcputil.delta(after, base)
    assert d["passive_opens"] == 1
    assert d["rx_bad_csum"] == 0 and d["rst_sent"] == 0 and d["rst_rcvd"] == 0, d


@pytest.mark.parametrize("family", [4, 6])
def test_discard_clean(gw, family, record_property):
    """CLEAN_BYTES to discard: the service's FIN (orderly EOF) comes only
    after all of them arrived in order; tcpstack counts every segment."""
    base = tcputil.tcp_stats(gw)
    res = tcputil.discard_transfer(gw.peer_ns, tcputil.gw_addr(gw, family), CLEAN_BYTES)
    after = tcputil.wait_conns(gw, base["conns"])
    d = tcputil.delta(after, base)
    print(f"\n[{gw.kind} v{family} discard] {res['sent']} B in {res['seconds']:.2f} s "
          f"({res['sent'] / res['seconds'] / 1e6:.1f} MB/s); rx_segs {d['rx_segs']}")
    assert res["sent"] == CLEAN_BYTES
    assert d["passive_opens"] == 1 and d["rst_sent"] == 0 and d["rst_rcvd"] == 0, d
    # at least one segment per MSS of payload (1460 / 1440 bytes)
    assert d["rx_segs"] >= CLEAN_BYTES // (1460 if family == 4 else 1440), d


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("cond", list(IMPAIRMENTS))
def test_echo_impaired(gw, family, cond, record_property):
    """NETEM_BYTES each way through echo under IMPAIRMENTS[cond] in both
    directions of the peer's link: byte-exact, the connection completes,
    and the impairment is visible in the counters it must move."""
    nbytes = NETEM_BYTES
    base = tcputil.tcp_stats(gw)
    with tcputil.Impaired(gw, IMPAIRMENTS[cond], seed=zlib.crc32(cond.encode())) as imp:
        kbase = tcputil.kernel_counters(imp.ns)
        res = tcputil.echo_transfer(imp.ns, tcputil.gw_addr(gw, family), nbytes,
                                    seed=zlib.crc32(cond.encode()) + family, stall=120.0)
        after = tcputil.wait_conns(gw, base["conns"], timeout=60.0)
        kd = tcputil.delta(tcputil.kernel_counters(imp.ns), kbase)
    d = tcputil.delta(after, base)
    report(record_property, f"{gw.kind} v{family} {cond}", d, kd, res)
    print(f"  bridge: {imp.stats}")
    check_echo(res, nbytes)
    nz = {k: v for k, v in d.items() if v}
    # The client saw an orderly EOF (echo_transfer): no reset during the
    # connection. After the echo service's LAST_ACK -> CLOSED, a segment
    # the bridge delayed or duplicated (or a kernel retransmission of one)
    # finds no connection and draws the RFC 9293 3.10.7.1 reset (to a
    # listener port: not counted in rx_no_conn), so rst_sent is only
    # reported; a reset of the live connection would have failed the
    # transfer above.
    assert d["passive_opens"] == 1 and d["rst_rcvd"] == 0, nz
    if cond.startswith("loss"):
        # both stacks lost segments and had to resend them
        assert d["retransmits"] > 0, d
        assert kd["Tcp:RetransSegs"] > 0, kd
    elif cond == "dup5":
        # a whole duplicate lies below RCV.NXT: unacceptable, answered with
        # an ACK (RFC 9293 3.10.7.4); a partial one is trimmed
        assert imp.stats and all(v["dup"] > 0 for v in imp.stats.values()), imp.stats
        assert d["rx_out_of_window"] + d["rx_dup_bytes"] > 0, d
    elif cond == "reorder25":
        assert d["rx_ooo"] > 0, d


@pytest.mark.parametrize("cond", REFERENCE_CONDS)
def test_kernel_reference(cond, record_property):
    """The Linux kernel terminating the same NETEM_BYTES echo through the
    same impaired path (tcputil.KernelImpaired, IPv4): the reference rate
    for test_echo_impaired under reordering, measured in the same run.
    Byte-exact like every transfer here."""
    with tcputil.KernelImpaired(IMPAIRMENTS[cond], seed=zlib.crc32(cond.encode())) as k:
        kbase = tcputil.kernel_counters(k.ns)
        res = tcputil.echo_transfer(k.ns, k.addr(4), NETEM_BYTES,
                                    seed=zlib.crc32(cond.encode()) + 4, stall=120.0)
        kd = tcputil.delta(tcputil.kernel_counters(k.ns), kbase)
    kern = {x: v for x, v in kd.items() if x in tcputil.KERNEL_COUNTERS and v}
    record_property("seconds", round(res["seconds"], 2))
    record_property("kernel", kern)
    print(f"\n[kernel-peer v4 {cond}] {res['received']} B echoed in {res['seconds']:.2f} s "
          f"({res['received'] / res['seconds'] / 1e6:.1f} MB/s each way); client {kern}; "
          f"bridge {k.stats}")
    check_echo(res, NETEM_BYTES)


def test_veth_tx_csum_offload_breaks_af_xdp(gw):
    """The reason for the af_xdp topology requirement (tcputil module doc):
    with transmit checksum offload on, the kernel end of a veth sends TCP
    segments whose checksum field holds only the pseudo-header sum;
    AF_XDP hands the raw frame to tcpstack, which drops it as bad. If this
    starts to pass a connect, the requirement can go."""
    if gw.kind != "af_xdp":
        pytest.skip("net_tap: the tap PMD enables no offloads on its kernel side")
    base = tcputil.tcp_stats(gw)
    gw.peer_ns.exec(["ethtool", "-K", gw.peer_dev, "tx", "on"])
    try:
        with pytest.raises(OSError):
            tcputil.connect(gw.peer_ns, gw.gw4, tcputil.ECHO, timeout=1.5).close()
    finally:
        gw.peer_ns.exec(["ethtool", "-K", gw.peer_dev, "tx", "off"])
    d = tcputil.delta(tcputil.tcp_stats(gw), base)
    assert d["rx_bad_csum"] >= 1 and d["passive_opens"] == 0, d
    # and with it off again, the same connect works
    s = tcputil.connect(gw.peer_ns, gw.gw4, tcputil.ECHO)
    s.sendall(b"ok\n")
    assert tcputil.recv_exact(s, 3) == b"ok\n"
    s.shutdown(socket.SHUT_WR)
    assert s.recv(10) == b""
    s.close()
