"""Connection endings between kernel clients and tcpstack's test services,
through the real dataplane (issue 3, interop): half-close, reset by the
client in the middle of a transfer (SO_LINGER 0), and a new connection
from the 4-tuple of one the client still holds in TIME_WAIT.

The echo and discard services never close first (they close at the
client's EOF), so the gateway is always the passive closer here and its
own TIME_WAIT is not reached; the RFC 6191 reuse of a TIME_WAIT slot on
our side is covered by the scripted unit tests (tests/unit/tcp).
"""

import socket
import struct

import pytest

import tcputil
from tcputil import ECHO, DISCARD, MB

def in_time_wait(ns, local):
    """Does the kernel of |ns| hold |local| (addr, port) in TIME_WAIT? (The
    socket itself reads CLOSE: Linux moves the state to a timewait
    mini-socket.)"""
    out = ns.exec(["ss", "-Htan", "state", "time-wait", "sport", f"= :{local[1]}"]).stdout
    return any(local[0] in line for line in out.splitlines())


def linger0(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


@pytest.mark.parametrize("family", [4, 6])
def test_half_close(gw, family):
    """The client sends 200 kB and shuts down its side before reading a
    byte: the echo keeps sending in CLOSE_WAIT, everything comes back,
    then the service's FIN; the client ends in TIME_WAIT (active closer)
    and the gateway keeps no connection."""
    base = tcputil.tcp_stats(gw)
    data = b"".join(tcputil.stream(family, 200 * 1000))
    s = tcputil.connect(gw.peer_ns, tcputil.gw_addr(gw, family), ECHO)
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        got = tcputil.recv_exact(s, len(data))
        assert got == data
        assert s.recv(4096) == b"", "no FIN after the echo"
        local = s.getsockname()[:2]
    finally:
        s.close()
    assert in_time_wait(gw.peer_ns, local), "the client is not in TIME_WAIT"
    after = tcputil.wait_conns(gw, base["conns"])
    d = tcputil.delta(after, base)
    assert d["passive_opens"] == 1 and d["rst_sent"] == 0 and d["rst_rcvd"] == 0, d
    assert after["mem_used"] == base["mem_used"], (after["mem_used"], base["mem_used"])


@pytest.mark.parametrize("port", [DISCARD, ECHO], ids=["discard", "echo"])
@pytest.mark.parametrize("family", [4, 6])
def test_client_abort_mid_transfer(gw, family, port):
    """The client writes 2 MB and, while data is still in flight, closes
    with SO_LINGER {1, 0}: the kernel sends RST, tcpstack honours it
    (rst_rcvd + 1), frees the connection and its buffers (conns and
    mem_used back to the baseline) and stays up. On echo the client never
    reads, so the gateway's send buffer is full and its window closed
    when the reset comes."""
    base = tcputil.tcp_stats(gw)
    s = tcputil.connect(gw.peer_ns, tcputil.gw_addr(gw, family), port)
    sent = 0
    s.settimeout(0.5)
    try:
        for c in tcputil.stream(3, 2 * MB):
            try:
                s.sendall(c)
            except socket.timeout:
                break   # echo: our window closed, as designed (back-pressure)
            sent += len(c)
        during = tcputil.tcp_stats(gw)
        assert during["conns"] == base["conns"] + 1, during
        assert during["mem_used"] > base["mem_used"]
        linger0(s)
    finally:
        s.close()
    after = tcputil.wait_conns(gw, base["conns"])
    d = tcputil.delta(after, base)
    assert d["rst_rcvd"] == 1, d
    assert after["mem_used"] == base["mem_used"], (after["mem_used"], base["mem_used"])
    assert sent > 0
    # the service still works
    res = tcputil.echo_transfer(gw.peer_ns, tcputil.gw_addr(gw, family), 100_000)
    assert res["sha_received"] == res["sha_sent"] and res["received"] == 100_000


@pytest.mark.parametrize("family", [4, 6])
def test_time_wait_4tuple_reuse(gw, family):
    """Two connections from the same client address and port in a row:
    the first ends with the client in TIME_WAIT; with tcp_tw_reuse the
    kernel reuses that 4-tuple at once (its new SYN carries a higher
    timestamp), and tcpstack, which closed its side (LAST_ACK -> CLOSED),
    accepts it as a new connection and echoes byte-exact."""
    gw.peer_ns.sysctl("net.ipv4.tcp_tw_reuse", 1)   # IPv6 too, despite the name
    base = tcputil.tcp_stats(gw)
    addr = tcputil.gw_addr(gw, family)
    src = (tcputil.peer_addr(gw, family), 40000 + family)
    opts = [(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)]
    for i in range(2):
        s = tcputil.connect(gw.peer_ns, addr, ECHO, bind=src, opts=opts)
        try:
            assert s.getsockname()[:2] == src
            msg = f"incarnation {i}\n".encode()
            s.sendall(msg)
            assert tcputil.recv_exact(s, len(msg)) == msg
            s.shutdown(socket.SHUT_WR)
            assert s.recv(10) == b""
        finally:
            s.close()
        assert in_time_wait(gw.peer_ns, src), f"incarnation {i}: no TIME_WAIT"
    after = tcputil.wait_conns(gw, base["conns"])
    d = tcputil.delta(after, base)
    assert d["passive_opens"] == 2 and d["rst_sent"] == 0 and d["rst_rcvd"] == 0, d
