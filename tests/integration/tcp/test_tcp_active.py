"""Active opens by the gateway to a kernel TCP server, clean and under
the same impairments as test_tcp_transfer (issue 3: "the gateway must also
complete active opens to a kernel server under the same conditions"),
over net_tap and net_af_xdp, IPv4 and IPv6.

The dataplane's own active opens serve the SMTP downstream path; to open
connections to an arbitrary server with bulk data both ways the gateway
runs the test-only relay (tcps_svc_relay.c, `test_relay_port`, off by
default): a kernel client connects to the gateway's port 8, the gateway
connects out (SYN from tcpstack, ephemeral port) to a kernel echo server
on the peer's address, and copies bytes and FINs both ways. Both
connections cross the impaired link, so every byte passes the impairment
four times; the server's accept log shows the gateway's address as the
connecting side, and tcpstack counts exactly one active open.

Sizes: 16 MiB each way (MXG_ACTIVE_BYTES), 256 MiB with MXG_LONG=1.
"""

import os
import zlib

import pytest

import tcputil
from tcputil import LONG, MB
from test_tcp_transfer import IMPAIRMENTS

MIB = 1024 * 1024
SERVER_PORT = 5001
RELAY_PORT = 8  # TCPS_SVC_RELAY_PORT
NBYTES = int(os.environ.get("MXG_ACTIVE_BYTES", 256 * MIB if LONG else 16 * MIB))


def DATAPLANE(subnet):
    """The relay targets the peer's addresses (198.18.<subnet>.2 and
    2001:db8:<subnet>::2), where the kernel echo server listens."""
    return {"test_relay_port": SERVER_PORT, "test_relay_v4": f"198.18.{subnet}.2",
            "test_relay_v6": f"2001:db8:{subnet:x}::2",
            "tcp_rcvbuf": 2 * MIB, "tcp_sndbuf": 2 * MIB,
            # the relay closes the server side actively: keep its TIME_WAIT
            # short so the connection gauge is back at the baseline at once
            "tcp_time_wait_ms": 100}


def run_relay(gw, ns, family, nbytes, seed, record_property, label, clean=False):
    base = tcputil.tcp_stats(gw)
    with tcputil.EchoServer(ns, port=SERVER_PORT) as srv:
        kbase = tcputil.kernel_counters(ns)
        try:
            res = tcputil.echo_transfer(ns, tcputil.gw_addr(gw, family), nbytes, seed=seed,
                                        stall=120.0, port=RELAY_PORT)
        except tcputil.TransferError:
            print(f"\n[{label}] failed; tcpstack "
                  f"{tcputil.delta(tcputil.tcp_stats(gw), base)}")
            raise
        after = tcputil.wait_conns(gw, base["conns"], timeout=60.0)
        kd = tcputil.delta(tcputil.kernel_counters(ns), kbase)
    d = tcputil.delta(after, base)
    ours = {k: d[k] for k in ("active_opens", "passive_opens", "retransmits", "rto_fired",
                              "fast_retransmits", "rack_lost", "tlp_probes",
                              "spurious_undos", "rst_sent", "rst_rcvd")}
    record_property("tcpstack", ours)
    record_property("seconds", round(res["seconds"], 2))
    print(f"\n[{label}] {res['received']} B relayed each way in {res['seconds']:.2f} s "
          f"({res['received'] / res['seconds'] / 1e6:.1f} MB/s); tcpstack {ours}; "
          f"kernel {({k: v for k, v in kd.items() if k in tcputil.KERNEL_COUNTERS and v})}")
    assert res["sent"] == nbytes
    assert res["received"] == nbytes, f"relay returned {res['received']} of {nbytes} bytes"
    assert res["sha_received"] == res["sha_sent"]
    # one passive open (the client), one active open (to the server); the
    # server was connected to from the gateway
    assert d["active_opens"] == 1 and d["passive_opens"] == 1, ours
    if clean:
        # on an impaired link a duplicated or delayed segment reaching a
        # closed kernel socket draws a reset into our TIME_WAIT (as in
        # test_tcp_transfer); a reset of a live connection would have
        # failed the transfer above
        assert d["rst_rcvd"] == 0, ours
    assert [p[0] for p in srv.peers] == [tcputil.gw_addr(gw, family)], srv.peers
    return d


@pytest.mark.parametrize("family", [4, 6])
def test_active_open_clean(gw, family, record_property):
    """The relay over the plain link: the gateway's SYN reaches the kernel
    server, the transfer is byte-exact, both connections close."""
    tcputil.prepare_peer(gw)
    run_relay(gw, gw.peer_ns, family, min(NBYTES, 16 * MIB), seed=family,
              record_property=record_property, label=f"{gw.kind} v{family} active clean",
              clean=True)


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("cond", list(IMPAIRMENTS))
def test_active_open_impaired(gw, family, cond, record_property):
    """The same through the impaired link (both connections): the active
    open completes (its SYN or SYN-ACK may be lost, duplicated, delayed)
    and every byte arrives intact."""
    seed = zlib.crc32(("active" + cond).encode())
    with tcputil.Impaired(gw, IMPAIRMENTS[cond], seed=seed) as imp:
        run_relay(gw, imp.ns, family, NBYTES, seed=seed + family,
                  record_property=record_property, label=f"{gw.kind} v{family} active {cond}")
    print(f"  bridge: {imp.stats}")


def test_relay_server_refuses(gw):
    """The test service's failure path: with no server listening, the
    kernel refuses the gateway's SYN (RST), and the relay resets the
    client instead of leaving it connected to nothing."""
    base = tcputil.tcp_stats(gw)
    with pytest.raises(ConnectionResetError):
        s = tcputil.connect(gw.peer_ns, gw.gw4, RELAY_PORT, timeout=30)
        try:
            s.recv(10)
        finally:
            s.close()
    d = tcputil.delta(tcputil.wait_conns(gw, base["conns"]), base)
    assert d["rst_rcvd"] == 1 and d["passive_opens"] == 1 and d["active_opens"] == 0, d
