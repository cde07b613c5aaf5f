#!/usr/bin/python3
"""syn_flood.py - sends TCP SYNs from spoofed source addresses as raw
Ethernet frames (AF_PACKET), for the SYN flood interop test.

    syn_flood.py DEV SRC_MAC DST_MAC DST_IP DST_PORT COUNT --src-net CIDR

Sources are drawn from CIDR (a test range: 198.18.0.0/15 or
2001:db8::/32), excluding DST_IP; source ports, ISNs and the IP ID vary per
frame. Frames carry MSS, SACK-permitted, timestamps and window scale like
a Linux SYN, with correct checksums, so the target treats each as a real
connection attempt. 1024 distinct frames (4-tuples and ISNs) are built up
front and cycled: Python could not build and checksum 200,000 frames at
flood rate.

Prints "syn_flood: ready", sends COUNT frames (or until SIGTERM) and prints
"syn_flood: sent N in S s". Never sends outside the given interface.
"""

import argparse
import ipaddress
import random
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return (~s) & 0xffff


def mac(s):
    return bytes(int(x, 16) for x in s.split(":"))


def syn_frame(rng, smac, dmac, src, dst, dport):
    sport = rng.randrange(1024, 65536)
    isn = rng.getrandbits(32)
    opts = (struct.pack("!BBH", 2, 4, 1460) + b"\x04\x02" +
            struct.pack("!BBII", 8, 10, rng.getrandbits(32), 0) + b"\x01\x03\x03\x07")
    hl = 20 + len(opts)
    tcp = struct.pack("!HHIIBBHHH", sport, dport, isn, 0, (hl // 4) << 4, 0x02, 64240, 0,
                      0) + opts
    if src.version == 4:
        ph = src.packed + dst.packed + struct.pack("!BBH", 0, 6, len(tcp))
        tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), rng.getrandbits(16), 0x4000,
                         64, 6, 0, src.packed, dst.packed)
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        return dmac + smac + b"\x08\x00" + ip + tcp
    ph = src.packed + dst.packed + struct.pack("!IxxxB", len(tcp), 6)
    tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
    ip = struct.pack("!IHBB16s16s", 0x60000000, len(tcp), 6, 64, src.packed, dst.packed)
    return dmac + smac + b"\x86\xdd" + ip + tcp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dev")
    ap.add_argument("src_mac")
    ap.add_argument("dst_mac")
    ap.add_argument("dst_ip")
    ap.add_argument("dst_port", type=int)
    ap.add_argument("count", type=int)
    ap.add_argument("--src-net", required=True)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--exclude", action="append", default=[],
                    help="a source address never to spoof (a real host on the link: its "
                         "kernel would reset the half-open connection and free a backlog slot)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    net = ipaddress.ip_network(a.src_net)
    dst = ipaddress.ip_address(a.dst_ip)
    skip = {dst} | {ipaddress.ip_address(x) for x in a.exclude}
    n_hosts = min(net.num_addresses - 2, 1 << 16)
    frames = []
    while len(frames) < 1024:
        src = net[rng.randrange(1, n_hosts + 1)]
        if src not in skip:
            frames.append(syn_frame(rng, mac(a.src_mac), mac(a.dst_mac), src, dst,
                                    a.dst_port))
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((a.dev, ETH_P_ALL))
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print("syn_flood: ready", flush=True)
    t0 = time.monotonic()
    sent = 0
    nf = len(frames)
    while sent < a.count and not stop:
        try:
            s.send(frames[sent % nf])
        except BlockingIOError:
            continue
        except OSError as e:
            if e.errno == 105:   # ENOBUFS: the device queue is full; go on
                continue
            raise
        sent += 1
    print(f"syn_flood: sent {sent} in {time.monotonic() - t0:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
