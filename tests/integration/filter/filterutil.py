"""Helpers of the sender-filter tests: mxgatectl on pinned XDP maps,
kernel-socket clients and servers in namespaces, scapy frames."""

import contextlib
import socket
import subprocess
import threading
import time

from mxgtest import names
from mxgtest.cleanup import REGISTRY
from mxgtest.net import in_netns, run


def ctl(mxgatectl, *args, check=True):
    """Runs mxgatectl ARGS; returns the CompletedProcess."""
    p = subprocess.run([mxgatectl] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30, check=False)
    if check and p.returncode != 0:
        raise AssertionError(f"mxgatectl {' '.join(map(str, args))}: exit {p.returncode}: "
                             f"{p.stderr.strip()}")
    return p


def xdp_stats(mxgatectl, name):
    """{"seen": packets, ..., "reason dnsbl": packets} of instance |name|."""
    out = ctl(mxgatectl, "xdp", "stats", "--name", name).stdout
    st = {}
    for line in out.splitlines()[1:]:
        f = line.split()
        if f[0] == "reason":
            st[f"reason {f[1]}"] = int(f[2])
        elif len(f) >= 3 and f[2] == "packets":
            st[f[0]] = int(f[1])
    return st


@contextlib.contextmanager
def adopted(mxgatectl, ns, dev):
    """Pins the maps of the XDP program on |dev| (namespace |ns|) under a
    unique name; unpinned on exit."""
    name = names.unique("x")
    token = REGISTRY.add(lambda: run(["rm", "-rf", f"/sys/fs/bpf/mxgate/{name}"],
                                     check=False), f"pins {name}")
    try:
        ctl(mxgatectl, "xdp", "adopt", dev, "--netns", ns, "--name", name)
        yield name
    finally:
        REGISTRY.run(token)


def try_connect(ns, addr, port, timeout, bind=None):
    """True if a TCP connect from namespace |ns| to addr:port completes
    within |timeout| seconds (the socket is closed at once)."""
    def body():
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            if bind:
                s.bind((bind, 0))
            s.connect((addr, port))
            return True
        except OSError:
            return False
        finally:
            s.close()
    return in_netns(str(ns), body)


def wait_until(cond, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)   # polling a condition with a deadline


class Server:
    """A kernel TCP server in namespace |ns| that accepts and closes,
    counting accepted connections (the "ordinary MTA" of the stand-alone
    tests)."""

    def __init__(self, ns, addr, port):
        self.ns, self.addr, self.port = ns, addr, port
        self.accepted = 0
        self._stop = threading.Event()
        self.sock = None

    def __enter__(self):
        def mk():
            s = socket.socket(socket.AF_INET6 if ":" in self.addr else socket.AF_INET)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.addr, self.port))
            s.listen(512)
            s.settimeout(0.1)
            return s
        self.sock = in_netns(str(self.ns), mk)
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()
        return self

    def _loop(self):
        while not self._stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            c.close()

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join(5)
        self.sock.close()


SCAPY_SEND = """
import sys
from scapy.all import Ether, IP, IPv6, TCP, sendp, conf
conf.verb = 0
frames = [bytes.fromhex(l.strip()) for l in sys.stdin if l.strip()]
sendp([Ether(f) for f in frames], iface=sys.argv[1], verbose=False)
"""


def send_frames(ns, dev, frames):
    """Transmits raw |frames| (bytes) on |dev| in namespace |ns| with scapy
    (/usr/bin/python3, a packet socket: they bypass the sender's stack)."""
    run(["/usr/bin/python3", "-c", SCAPY_SEND, dev], netns=str(ns),
        input="\n".join(f.hex() for f in frames) + "\n", timeout=120)
