"""Helpers of the TCP interop tests (tests/integration/tcp): gateways with
the echo/discard test services, link impairment in both directions,
kernel-socket clients inside a namespace, and counters of both stacks.

Topology requirement (documented in docs/tcp.md, "Interop"): on the
net_af_xdp path the kernel end of the veth pair runs with transmit
checksum offload off (`ethtool -K <peer> tx off`). A veth "NIC" never
computes checksums: the sending kernel leaves CHECKSUM_PARTIAL skbs with
only the pseudo-header sum in the TCP checksum field, which the receiving
kernel would trust (it knows the skb came from a veth), but an XDP program
and an AF_XDP socket see the raw bytes. tcpstack verifies every checksum
and drops those segments (rx_bad_csum); test_tcp_transfer.py
::test_veth_tx_csum_offload_breaks_af_xdp shows it. A real NIC computes the
checksum on the wire, so this is an artefact of the virtual link only.
No other offload needs changing: with an XDP program attached the kernel
turns TSO/GSO off on the veth peer by itself (veth_xdp_set), the tap PMD
enables no offloads on its kernel interface, and GRO on the receiving
kernel side is harmless.
"""

import contextlib
import hashlib
import json
import os
import random
import socket
import threading
import time

from mxgtest.net import Netns, VethPair, in_netns
from mxgtest.proc import Process
from mxgtest.topo import AfXdpGateway, TapGateway

ECHO, DISCARD = 7, 9
MB = 1000 * 1000
LONG = os.environ.get("MXG_LONG", "") not in ("", "0")

# Kernel-side counters worth recording next to ours (/proc/net/snmp and
# /proc/net/netstat of the client's namespace).
KERNEL_COUNTERS = ("Tcp:RetransSegs", "Tcp:OutRsts", "Tcp:InErrs", "Tcp:ActiveOpens",
                   "TcpExt:TCPSackRecovery", "TcpExt:TCPLostRetransmit", "TcpExt:TCPTimeouts",
                   "TcpExt:TCPOFOQueue", "TcpExt:TCPDSACKRecv")


def gateway(kind, binary, workdir, subnet, xdp_prog=None, dataplane=None):
    """A started gateway (TapGateway or AfXdpGateway, not yet entered)
    running the RFC 862/863 test services; |dataplane| adds keys to
    [dataplane]."""
    dp = {"test_services": "yes"}
    dp.update(dataplane or {})
    if kind == "tap":
        return TapGateway(binary, workdir, subnet=subnet, dataplane=dp)
    return AfXdpGateway(binary, workdir, xdp_prog, subnet=subnet, dataplane=dp)


def prepare_peer(gw):
    """The test-topology requirements of the kernel side (module doc)."""
    if gw.kind == "af_xdp":
        gw.peer_ns.exec(["ethtool", "-K", gw.peer_dev, "tx", "off"])
    # Plenty of ephemeral ports for the many-connections test.
    gw.peer_ns.sysctl("net.ipv4.ip_local_port_range", "10000 65000")


MEMPOOL_F_NO_IOVA_CONTIG = 0x20


def known_issue(gw):
    """A diagnosed dataplane defect that breaks TCP on this gateway, or
    None. net_af_xdp under --no-huge: the mbuf pool is created without
    RTE_MEMPOOL_F_NO_IOVA_CONTIG, so DPDK places one mbuf per 4 KiB page
    (objects may not straddle pages), while DPDK 22.11's af_xdp PMD
    registers its UMEM as populated_size x object size from the first
    object, assuming packed objects: roughly the upper 40 % of the mbufs
    lie outside the UMEM and every frame transmitted from one of them is
    dropped by the kernel as an invalid descriptor (XDP_STATISTICS
    tx_invalid_descs). ICMP echo survives (replies reuse received
    mbufs, which are in the UMEM by construction); TCP, which allocates
    its frames, loses some and, when the mbuf cache keeps handing out the
    same bad mbuf, stalls. Reported to the dataplane owner with a fix
    (dp_port.c: create the pool with RTE_MEMPOOL_F_NO_IOVA_CONTIG);
    docs/tcp.md has the evidence."""
    if gw.kind != "af_xdp":
        return None
    try:
        info = gw.dp.query("/mempool/info,mxg_pkt")
    except Exception:  # noqa: BLE001 -- no telemetry: cannot tell
        return None
    eal = (gw.dp.config.dataplane.get("eal_args", "") if gw.dp.config else "")
    if "--no-huge" in eal and not int(info.get("flags", 0)) & MEMPOOL_F_NO_IOVA_CONTIG:
        return ("dataplane mbuf pool not AF_XDP-safe under --no-huge (mbufs outside the "
                "UMEM: transmitted frames dropped); see tcputil.known_issue")
    return None


def gw_addr(gw, family):
    return gw.gw4 if family == 4 else gw.gw6


def peer_addr(gw, family):
    return gw.peer4 if family == 4 else gw.peer6


# ---------------------------------------------------------------------------
# Counters
# ---------------------------------------------------------------------------

def tcp_stats(gw):
    """/mxgate/tcp: tcpstack counters summed over the workers."""
    return gw.dp.query("/mxgate/tcp")


def delta(after, before, keys=None):
    keys = keys or after.keys()
    return {k: after[k] - before.get(k, 0) for k in keys
            if isinstance(after.get(k), (int, float))}


def kernel_counters(ns):
    """{"Tcp:RetransSegs": n, ...} of the kernel stack in namespace |ns|."""
    out = {}
    for f in ("/proc/net/snmp", "/proc/net/netstat"):
        lines = ns.exec(["cat", f]).stdout.splitlines()
        for hdr, val in zip(lines[0::2], lines[1::2]):
            h, v = hdr.split(), val.split()
            for k, x in zip(h[1:], v[1:]):
                try:
                    out[f"{h[0]}{k}"] = int(x)
                except ValueError:
                    pass
    return out


def wait_until(cond, timeout, what, interval=0.05):
    """Polls |cond| until it returns a true value (returned) or |timeout|
    seconds pass (AssertionError naming |what| and the last value). For
    state that only the other process knows (telemetry counters): there
    is no event to wait on."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)   # polling a condition with a deadline


def wait_conns(gw, target, timeout=30.0):
    """Waits until the gateway's live connection gauge is <= |target|."""
    last = {}

    def ok():
        last.update(tcp_stats(gw))
        return last["conns"] <= target

    try:
        wait_until(ok, timeout, f"conns <= {target}")
    except AssertionError as e:
        raise AssertionError(f"{e}: conns {last.get('conns')}, mem_used "
                             f"{last.get('mem_used')}") from None
    return last


# ---------------------------------------------------------------------------
# Link impairment
# ---------------------------------------------------------------------------

BRIDGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "impair_bridge.py")


class Impaired:
    """An impaired path between the gateway and a kernel client. This
    kernel has no sch_netem (nor sch_fq), so the impairment is done by
    impair_bridge.py, a userspace two-port bridge with netem's loss,
    duplication, delay/jitter and reordering, in both directions:

      gateway port == peer_dev [peer_ns: impair_bridge] m ==veth== c [ns]

    The peer's addresses move from peer_dev to c in a fresh namespace
    |ns| (the client's); on exit they move back, so the module's gateway
    stays usable. |spec| holds impair_bridge options, e.g. "--loss 0.05".

    Test-topology requirement on c (documented in docs/tcp.md): transmit
    checksum offload, TSO and GSO off. The bridge forwards frames as the
    kernel hands them to a packet socket: a CHECKSUM_PARTIAL frame would
    reach the gateway with a wrong checksum, and a GSO super-frame (up to
    64 KiB) would exceed the link MTU."""

    def __init__(self, gw, spec, seed=1):
        self.gw, self.spec, self.seed = gw, spec, seed
        self._stack = contextlib.ExitStack()
        self.stats = None

    def __enter__(self):
        try:
            self._setup()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc):
        self._stack.close()

    def _setup(self):
        gw, st = self.gw, self._stack
        self.ns = st.enter_context(Netns())
        self.ns.quiet_ipv6_defaults()
        veth = st.enter_context(VethPair(gw.peer_ns, self.ns))
        m, self.dev = veth.a, veth.b
        for d in (m, self.dev):
            ns = gw.peer_ns if d == m else self.ns
            ns.exec(["ethtool", "-K", d, "tx", "off", "tso", "off", "gso", "off",
                     "gro", "off"])
            ns.ip("link", "set", "dev", d, "mtu", "1500")
        gw.peer_ns.ip("link", "set", "dev", gw.peer_dev, "promisc", "on")
        gw.peer_ns.ip("link", "set", "dev", m, "promisc", "on")
        gw.peer_ns.link_up(m)
        # the client's addresses: off peer_dev, onto c (back on exit)
        st.callback(self._restore_addrs)
        for a in (f"{gw.peer4}/24", f"{gw.peer6}/64"):
            gw.peer_ns.ip("addr", "del", a, "dev", gw.peer_dev)
            self.ns.add_addr(self.dev, a)
        # c takes peer_dev's MAC: the gateway's neighbor entry for the
        # client stays right, and the bridge needs no learning
        self.ns.ip("link", "set", "dev", self.dev, "address", gw.peer_mac)
        self.ns.link_up(self.dev)
        self.ns.sysctl("net.ipv4.ip_local_port_range", "10000 65000")
        self.bridge = Process(["/usr/bin/python3", BRIDGE, gw.peer_dev, m, "--seed",
                               str(self.seed)] + self.spec.split(),
                              name="impair_bridge", netns=str(gw.peer_ns))
        st.callback(self._stop_bridge)
        self.bridge.start()
        self.bridge.wait_for_line("impair_bridge: ready", timeout=10)

    def _stop_bridge(self):
        self.bridge.stop(timeout=10)
        for line in self.bridge.lines["stdout"]:
            if line.startswith("impair_bridge: stats "):
                self.stats = json.loads(line.split(" ", 2)[2])

    def _restore_addrs(self):
        gw = self.gw
        gw.peer_ns.ip("link", "set", "dev", gw.peer_dev, "promisc", "off", check=False)
        for a in (f"{gw.peer4}/24", f"{gw.peer6}/64"):
            self.ns.ip("addr", "del", a, "dev", self.dev, check=False)
            if ":" in a:
                gw.peer_ns.ip("-6", "addr", "add", a, "dev", gw.peer_dev, "nodad",
                              check=False)
            else:
                gw.peer_ns.ip("addr", "add", a, "dev", gw.peer_dev, check=False)


# ---------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------

def connect(ns, addr, port, timeout=10.0, bind=None, opts=()):
    """A connected kernel TCP socket created inside namespace |ns|
    (blocking, |timeout| per operation). |bind|: (addr, port) to bind
    first; |opts|: (level, name, value) set before connect."""
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET

    def mk():
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            s.settimeout(timeout)
            for lvl, name, val in opts:
                s.setsockopt(lvl, name, val)
            if bind is not None:
                s.bind(bind)
            s.connect((addr, port))
        except BaseException:
            s.close()
            raise
        return s

    return in_netns(str(ns), mk)


def stream(seed, nbytes, chunk=1 << 16):
    """Deterministic pseudo-random bytes (|nbytes| in all), as chunks."""
    r = random.Random(seed)
    left = nbytes
    while left > 0:
        n = min(chunk, left)
        yield r.randbytes(n)
        left -= n


class TransferError(AssertionError):
    pass


def echo_transfer(ns, addr, nbytes, seed=1, stall=60.0, port=ECHO):
    """Sends |nbytes| to the echo service and reads the echo back at the
    same time; half-closes after the last byte and expects the server's
    FIN after the whole echo. Returns a dict: sent, received, sha256 of
    both, seconds. Raises TransferError when nothing moves for |stall| s."""
    s = connect(ns, addr, port, timeout=stall)
    h_out, res = hashlib.sha256(), {"sent": 0, "err": None}

    def sender():
        try:
            for c in stream(seed, nbytes):
                h_out.update(c)
                s.sendall(c)
                res["sent"] += len(c)
            s.shutdown(socket.SHUT_WR)
        except BaseException as e:  # noqa: BLE001 -- reported by the caller
            res["err"] = e

    t0 = time.monotonic()
    th = threading.Thread(target=sender, name="echo-sender", daemon=True)
    th.start()
    h_in, got = hashlib.sha256(), 0
    try:
        while True:
            b = s.recv(1 << 18)
            if not b:
                break
            h_in.update(b)
            got += len(b)
    except OSError as e:
        raise TransferError(f"echo {addr}: receive failed after {got} of {nbytes} bytes "
                            f"(sent {res['sent']}): {e!r}") from e
    finally:
        th.join(stall)
        s.close()
    if res["err"] is not None:
        raise TransferError(f"echo {addr}: send failed after {res['sent']} bytes: "
                            f"{res['err']!r}")
    return {"sent": res["sent"], "received": got, "sha_sent": h_out.hexdigest(),
            "sha_received": h_in.hexdigest(), "seconds": time.monotonic() - t0}


def discard_transfer(ns, addr, nbytes, seed=2, stall=60.0):
    """Sends |nbytes| to the discard service, half-closes and waits for the
    server's FIN. The FIN follows our last byte in sequence space and the
    service closes only at EOF, so an orderly EOF (no RST, no data) means
    every byte reached the service in order. Returns sent, seconds."""
    s = connect(ns, addr, DISCARD, timeout=stall)
    t0 = time.monotonic()
    sent = 0
    try:
        for c in stream(seed, nbytes):
            s.sendall(c)
            sent += len(c)
        s.shutdown(socket.SHUT_WR)
        extra = s.recv(4096)
    except OSError as e:
        raise TransferError(f"discard {addr}: failed after {sent} bytes: {e!r}") from e
    finally:
        s.close()
    if extra:
        raise TransferError(f"discard {addr}: the service sent {len(extra)} bytes")
    return {"sent": sent, "seconds": time.monotonic() - t0}


def recv_exact(s, n):
    buf = bytearray()
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            raise TransferError(f"EOF after {len(buf)} of {n} bytes")
        buf.extend(b)
    return bytes(buf)


# ---------------------------------------------------------------------------
# The Linux kernel as the peer under the same impairment
# ---------------------------------------------------------------------------

class KernelImpaired:
    """The same impaired path as Impaired, with the Linux kernel in the
    gateway's place: a kernel TCP echo server in namespace |srv_ns|,
    impair_bridge.py with the same spec and seed in between, the kernel
    client in |ns|:

      [srv_ns] s ==veth== m1 [br: impair_bridge] m2 ==veth== c [ns]

    Every end has tx checksum offload, TSO, GSO and GRO off (the bridge
    forwards frames as a packet socket gets them, as in Impaired). The
    reference peer of test_tcp_transfer's rate comparisons: same link,
    same impairment, same client, in the same run."""

    SUBNET = 58

    def __init__(self, spec, seed=1):
        self.spec, self.seed = spec, seed
        self._stack = contextlib.ExitStack()
        self.stats = None
        self.srv4, self.cli4 = f"198.18.{self.SUBNET}.1", f"198.18.{self.SUBNET}.2"
        self.srv6, self.cli6 = f"2001:db8:{self.SUBNET:x}::1", f"2001:db8:{self.SUBNET:x}::2"

    def __enter__(self):
        try:
            self._setup()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc):
        self._stack.close()

    def addr(self, family):
        return self.srv4 if family == 4 else self.srv6

    def _setup(self):
        st = self._stack
        self.srv_ns = st.enter_context(Netns())
        br = st.enter_context(Netns())
        self.ns = st.enter_context(Netns())
        for n in (self.srv_ns, br, self.ns):
            n.quiet_ipv6_defaults()
        v1 = st.enter_context(VethPair(self.srv_ns, br))
        v2 = st.enter_context(VethPair(br, self.ns))
        for ns, d in ((self.srv_ns, v1.a), (br, v1.b), (br, v2.a), (self.ns, v2.b)):
            ns.exec(["ethtool", "-K", d, "tx", "off", "tso", "off", "gso", "off",
                     "gro", "off"])
            ns.ip("link", "set", "dev", d, "mtu", "1500")
            if ns is br:
                ns.ip("link", "set", "dev", d, "promisc", "on")
            ns.link_up(d)
        self.srv_ns.add_addr(v1.a, f"{self.srv4}/24")
        self.srv_ns.add_addr(v1.a, f"{self.srv6}/64")
        self.ns.add_addr(v2.b, f"{self.cli4}/24")
        self.ns.add_addr(v2.b, f"{self.cli6}/64")
        self.bridge = Process(["/usr/bin/python3", BRIDGE, v1.b, v2.a, "--seed",
                               str(self.seed)] + self.spec.split(),
                              name="impair_bridge", netns=str(br))
        st.callback(self._stop_bridge)
        self.bridge.start()
        self.bridge.wait_for_line("impair_bridge: ready", timeout=10)
        self.server = EchoServer(self.srv_ns)
        st.enter_context(self.server)

    def _stop_bridge(self):
        self.bridge.stop(timeout=10)
        for line in self.bridge.lines["stdout"]:
            if line.startswith("impair_bridge: stats "):
                self.stats = json.loads(line.split(" ", 2)[2])


class EchoServer:
    """RFC 862 echo on port ECHO of namespace |ns| over kernel sockets
    (IPv4 and IPv6), one thread per connection: reads, writes back, and
    after the client's FIN sends its own. Serves any number of clients
    until closed."""

    def __init__(self, ns, port=ECHO):
        self.ns, self.port = ns, port
        self.socks = []
        self.peers = []  # (address, port) of every accepted connection

    def __enter__(self):
        for fam, a in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
            def mk(fam=fam, a=a):
                s = socket.socket(fam, socket.SOCK_STREAM)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if fam == socket.AF_INET6:
                    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                s.bind((a, self.port))
                s.listen(64)
                return s
            s = in_netns(str(self.ns), mk)
            self.socks.append(s)
            threading.Thread(target=self._accept, args=(s,), daemon=True).start()
        return self

    def __exit__(self, *exc):
        for s in self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def _accept(self, ls):
        while True:
            try:
                c, peer = ls.accept()
            except OSError:
                return
            self.peers.append(peer[:2])
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _serve(c):
        try:
            while True:
                b = c.recv(1 << 18)
                if not b:
                    break
                c.sendall(b)
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            c.close()
