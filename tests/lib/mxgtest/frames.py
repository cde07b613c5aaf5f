"""Raw Ethernet frames on an interface inside a namespace.

L2Port opens an AF_PACKET socket bound to one interface (created on a
thread inside the namespace, see net.in_netns), sends frames exactly as
given (no padding, no checksum fix-up) and captures every frame the
interface receives (frames it transmits are skipped) from the moment it is
opened, so nothing sent afterwards can be missed. wait_for() is
event-driven. Scapy is only used to build and dissect frames.
"""

import os
import select
import socket
import struct
import threading
import time

from .net import in_netns

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def mac_bytes(mac):
    return bytes(int(x, 16) for x in mac.split(":"))


def mac_str(b):
    return ":".join(f"{x:02x}" for x in b)


class L2Port:
    def __init__(self, netns, iface, capture=True):
        self.netns, self.iface = netns, iface
        self.sock = in_netns(netns, self._open, iface)
        self._frames = []                 # (monotonic time, bytes)
        self._cond = threading.Condition()
        self._stop_r, self._stop_w = os.pipe()
        self._thread = None
        if capture:
            self._thread = threading.Thread(target=self._reader, daemon=True,
                                            name=f"l2port:{iface}")
            self._thread.start()

    @staticmethod
    def _open(iface):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        s.bind((iface, ETH_P_ALL))
        return s

    def _reader(self):
        while True:
            r, _, _ = select.select([self.sock, self._stop_r], [], [])
            if self._stop_r in r:
                return
            try:
                data, addr = self.sock.recvfrom(65536)
            except OSError:
                return
            if addr[2] == PACKET_OUTGOING:
                continue
            with self._cond:
                self._frames.append((time.monotonic(), data))
                self._cond.notify_all()

    def send(self, frame):
        frame = bytes(frame)
        n = self.sock.send(frame)
        if n != len(frame):
            raise OSError(f"short send {n}/{len(frame)} on {self.iface}")

    def mark(self):
        """Index of the next captured frame (for wait_for/frames |start|)."""
        with self._cond:
            return len(self._frames)

    def frames(self, start=0):
        with self._cond:
            return [f for _, f in self._frames[start:]]

    def wait_for(self, predicate, timeout=5.0, start=0):
        """Returns the first captured frame (index >= |start|) for which
        predicate(bytes) is true; raises TimeoutError."""
        deadline = time.monotonic() + timeout
        idx = start
        with self._cond:
            while True:
                while idx < len(self._frames):
                    f = self._frames[idx][1]
                    idx += 1
                    if predicate(f):
                        return f
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self.iface}: expected frame not seen in {timeout} s")
                self._cond.wait(left)

    def close(self):
        if self._thread is not None:
            os.write(self._stop_w, b"x")
            self._thread.join(5)
            self._thread = None
        for fd in (self._stop_r, self._stop_w):
            try:
                os.close(fd)
            except OSError:
                pass
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- small parsers usable without scapy -------------------------------------

def eth_fields(frame):
    """(dst mac str, src mac str, ethertype) of the outer header."""
    if len(frame) < 14:
        return None, None, None
    return mac_str(frame[0:6]), mac_str(frame[6:12]), struct.unpack("!H", frame[12:14])[0]


def is_echo_reply(frame, ident, seq=None):
    """True if |frame| is an untagged ICMP or ICMPv6 echo reply with |ident|
    (and |seq|)."""
    _, _, et = eth_fields(frame)
    if et == 0x0800 and len(frame) >= 14 + 20 + 8:
        ihl = (frame[14] & 0x0F) * 4
        if frame[23] != 1 or len(frame) < 14 + ihl + 8:
            return False
        icmp = frame[14 + ihl:]
        if icmp[0] != 0:
            return False
    elif et == 0x86DD and len(frame) >= 14 + 40 + 8:
        if frame[20] != 58:
            return False
        icmp = frame[54:]
        if icmp[0] != 129:
            return False
    else:
        return False
    rid, rseq = struct.unpack("!HH", icmp[4:8])
    return rid == ident and (seq is None or rseq == seq)


def is_resolution_request(frame):
    """ARP request or ICMPv6 neighbor solicitation (what a host sends to
    resolve a neighbor; never an answer to a test frame)."""
    _, _, et = eth_fields(frame)
    if et == 0x0806 and len(frame) >= 22:
        return struct.unpack("!H", frame[20:22])[0] == 1
    if et == 0x86DD and len(frame) >= 55:
        return frame[20] == 58 and frame[54] == 135
    return False
