"""Many concurrent connections from the kernel to tcpstack's echo service
through the real dataplane (issue 3: "10,000 concurrent connections from
kernel clients established, used and closed cleanly, memory within the
configured bound").

The client opens the connections in batches of 500 (non-blocking connect,
one selector), each sends 32 bytes and reads them back; all stay open
until every one has been used; the gateway's gauges then show exactly N
more connections and N x (rcvbuf + sndbuf) of buffer memory within the
stack's bound; after an orderly close of all, the gauges return to the
baseline (the gateway is the passive closer: no TIME_WAIT on our side).

Sizes: [2000] fits the stack's default bound on one worker (mem_max 1 GiB
/ 512 KiB of buffers per connection = 2048). [10000] is the issue's
figure: it cannot pass until the dataplane lets the configuration lower
the per-connection buffers or raise mem_max (tcps_stack_conf has the
knobs; dataplane/dp_worker.c passes zeros, i.e. the defaults). It is
marked xfail with that reason, and still runs, so it shows XPASS the day
it works. MXG_TCP_MANY=N adds a case of N.
"""

import os
import resource
import selectors
import socket
import time

import pytest

import tcputil

BATCH = 500
MSG = 32
# Sized for 10,000 concurrent connections per worker (docs/configuration.md:
# tcp_rcvbuf, tcp_sndbuf, tcp_mem_max_mb): 10,000 x 128 KiB = 1.25 GiB < 2 GiB.
DATAPLANE = {"tcp_rcvbuf": 65536, "tcp_sndbuf": 65536, "tcp_mem_max_mb": 2048}
BUF_PER_CONN = 2 * 65536
MEM_MAX = 2048 << 20

CASES = [2000, 10000]
if os.environ.get("MXG_TCP_MANY"):
    CASES.append(int(os.environ["MXG_TCP_MANY"]))


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, n + 1024)
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))


def open_batch(ns, addr, n):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET

    def mk():
        out = []
        for _ in range(n):
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex((addr, tcputil.ECHO))
            out.append(s)
        return out

    return tcputil.in_netns(str(ns), mk)


def use_batch(socks, timeout):
    """Every socket: connect completes, MSG bytes out, the same back.
    Returns the list of (socket, error) that failed."""
    sel = selectors.DefaultSelector()
    state = {}
    for i, s in enumerate(socks):
        msg = i.to_bytes(4, "big") * (MSG // 4)
        state[s] = {"msg": msg, "got": b""}
        sel.register(s, selectors.EVENT_WRITE)
    pending, failed = set(socks), []
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for key, ev in sel.select(timeout=max(0.0, deadline - time.monotonic())):
            s, st = key.fileobj, state[key.fileobj]
            if ev & selectors.EVENT_WRITE:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    failed.append((s, os.strerror(err)))
                    pending.discard(s)
                    sel.unregister(s)
                    continue
                s.send(st["msg"])   # 32 bytes always fit a fresh socket buffer
                sel.modify(s, selectors.EVENT_READ)
            elif ev & selectors.EVENT_READ:
                try:
                    b = s.recv(MSG)
                except OSError as e:
                    failed.append((s, repr(e)))
                    pending.discard(s)
                    sel.unregister(s)
                    continue
                st["got"] += b
                if not b or st["got"] == st["msg"] or len(st["got"]) >= MSG:
                    if st["got"] != st["msg"]:
                        failed.append((s, f"echo {st['got']!r}"))
                    pending.discard(s)
                    sel.unregister(s)
    failed += [(s, "timeout") for s in pending]
    sel.close()
    return failed


@pytest.mark.parametrize("n", CASES)
def test_many_concurrent(gw, n, record_property):
    raise_nofile(n)
    addr = gw.gw4
    base = tcputil.wait_conns(gw, tcputil.tcp_stats(gw)["conns"])
    socks, failed = [], []
    t0 = time.monotonic()
    try:
        while len(socks) < n:
            batch = open_batch(gw.peer_ns, addr, min(BATCH, n - len(socks)))
            socks += batch
            failed += use_batch(batch, timeout=60)
            if failed:
                break
        t_open = time.monotonic() - t0
        held = tcputil.tcp_stats(gw)
        d = tcputil.delta(held, base)
        print(f"\n[{gw.kind} many {n}] {len(socks)} opened and used in {t_open:.1f} s; "
              f"conns +{d['conns']}, mem_used +{d['mem_used'] >> 20} MiB, mem_limit "
              f"+{d['mem_limit']}, conn_limit +{d['conn_limit']}, rst_sent +{d['rst_sent']}; "
              f"failed {len(failed)}: {failed[:3]}")
        record_property("open_seconds", round(t_open, 2))
        assert not failed, f"{len(failed)} of {len(socks)} failed, first: {failed[:5]}"
        assert d["passive_opens"] == n and d["conns"] == n, d
        assert d["mem_used"] == n * BUF_PER_CONN, d
        assert held["mem_used"] <= MEM_MAX
    finally:
        for s in socks:
            s.close()
    after = tcputil.wait_conns(gw, base["conns"], timeout=120)
    assert after["mem_used"] == base["mem_used"], after
    d = tcputil.delta(after, base)
    # When 2,000 close at once over net_tap, the kernel's tap queue holds
    # and drops frames; clients retransmit FINs, and copies arriving after
    # our LAST_ACK -> CLOSED draw the RFC 9293 3.10.7.1 reset (0 to ~200
    # seen with the release build, ~600 with ASan), so rst_sent is only
    # reported. Every connection was used byte-exact before the close.
    print(f"  after close: rst_sent {d['rst_sent']}")
    assert d["rst_rcvd"] == 0, d
