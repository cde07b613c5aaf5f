#!/usr/bin/python3
"""impair_bridge.py - a two-port userspace Ethernet bridge that impairs
the frames it forwards, netem style, for kernels without sch_netem (the
test VMs' kernels are built without CONFIG_NET_SCH_NETEM and without
sch_fq, so neither netem nor EDT-based delay is available).

    impair_bridge.py DEV_A DEV_B [--loss P] [--dup P] [--delay MS]
                     [--jitter MS] [--reorder P] [--seed N]

Runs inside a namespace holding both interfaces (put them in promiscuous
mode first). Every frame received on one is sent on the other, in both
directions, each direction impaired independently with the same model:

  --loss P      drop the frame with probability P (0..1)
  --dup P       send it twice with probability P
  --delay MS    hold it MS milliseconds; with --jitter J, a uniform delay
                in [MS-J, MS+J] per frame (frames overtake each other, as
                with netem's jitter)
  --reorder P   with --delay: send the frame at once with probability P,
                delay the others (netem "delay D reorder P"; netem's
                correlation argument is not modelled)

Prints "impair_bridge: ready" when both sockets are bound, and on SIGTERM
or SIGINT one line "impair_bridge: stats {json}" with per-direction
counters (rx, tx, lost, dup, delayed), then exits 0.
"""

import argparse
import heapq
import json
import random
import signal
import socket
import sys
import threading
import time

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


class Direction:
    def __init__(self, name, rx, tx, args, seed, stop):
        self.name, self.rx, self.tx, self.a, self.stop = name, rx, tx, args, stop
        self.rng = random.Random(seed)
        self.st = {"rx": 0, "tx": 0, "lost": 0, "dup": 0, "delayed": 0, "tx_err": 0}
        self.heap, self.seq = [], 0
        self.cond = threading.Condition()

    def send(self, frame):
        try:
            self.tx.send(frame)
            self.st["tx"] += 1
        except OSError:
            self.st["tx_err"] += 1

    def schedule(self, frame):
        a = self.a
        if a.delay <= 0 or (a.reorder > 0 and self.rng.random() < a.reorder):
            self.send(frame)
            return
        d = a.delay + (self.rng.uniform(-a.jitter, a.jitter) if a.jitter else 0.0)
        self.st["delayed"] += 1
        with self.cond:
            self.seq += 1
            heapq.heappush(self.heap, (time.monotonic() + max(d, 0.0) / 1000.0, self.seq, frame))
            self.cond.notify()

    def receiver(self):
        self.rx.settimeout(0.2)
        while not self.stop.is_set():
            try:
                frame, addr = self.rx.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                if self.stop.is_set():
                    return
                raise
            if addr[2] == PACKET_OUTGOING:
                continue
            self.st["rx"] += 1
            if self.a.loss and self.rng.random() < self.a.loss:
                self.st["lost"] += 1
                continue
            copies = 1
            if self.a.dup and self.rng.random() < self.a.dup:
                self.st["dup"] += 1
                copies = 2
            for _ in range(copies):
                self.schedule(frame)

    def sender(self):
        """Sends delayed frames when due: waits on the condition until the
        earliest deadline (or a new frame), never polls."""
        with self.cond:
            while not self.stop.is_set():
                if not self.heap:
                    self.cond.wait(0.5)
                    continue
                due = self.heap[0][0] - time.monotonic()
                if due > 0:
                    self.cond.wait(due)
                    continue
                _, _, frame = heapq.heappop(self.heap)
                self.send(frame)


def open_sock(dev):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 24)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 24)
    s.bind((dev, ETH_P_ALL))
    return s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dev_a")
    ap.add_argument("dev_b")
    ap.add_argument("--loss", type=float, default=0.0)
    ap.add_argument("--dup", type=float, default=0.0)
    ap.add_argument("--delay", type=float, default=0.0)
    ap.add_argument("--jitter", type=float, default=0.0)
    ap.add_argument("--reorder", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    stop = threading.Event()
    sa, sb = open_sock(a.dev_a), open_sock(a.dev_b)
    dirs = [Direction(f"{a.dev_a}->{a.dev_b}", sa, sb, a, a.seed, stop),
            Direction(f"{a.dev_b}->{a.dev_a}", sb, sa, a, a.seed + 1, stop)]
    threads = []
    for d in dirs:
        for fn in (d.receiver, d.sender):
            t = threading.Thread(target=fn, daemon=True)
            t.start()
            threads.append(t)
    done = threading.Event()

    def on_signal(signo, frame):
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print("impair_bridge: ready", flush=True)
    while not done.wait(1.0):
        pass
    stop.set()
    for d in dirs:
        with d.cond:
            d.cond.notify_all()
    for t in threads:
        t.join(2)
    print("impair_bridge: stats " + json.dumps({d.name: d.st for d in dirs}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
