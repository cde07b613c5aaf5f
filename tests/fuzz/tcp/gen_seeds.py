#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# Writes seed inputs for fuzz_tcp into seeds/ (byte programs, see the
# header of fuzz_tcp.c): handshakes, data both ways, closes, RSTs.
import os, struct

def seg(sel, flags, dseq=0, dack=0, win=65535, opts=b"", plen=0):
    optlen = len(opts)
    return bytes([0, sel, flags, optlen]) + struct.pack("<hhHH", dseq, dack, win, plen) + opts

def tick(ms):
    return bytes([1]) + struct.pack("<H", ms)

def app(sel, what, n=0):
    return bytes([2, sel, what]) + struct.pack("<H", n)

SYN, ACK, PSH, FIN, RST = 0x02, 0x10, 0x08, 0x01, 0x04
mss_ws_sack_ts = bytes([2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7])
seeds = {
    "handshake": seg(0, SYN, opts=mss_ws_sack_ts) + seg(0x40, ACK),
    "data_in": seg(0, SYN) + seg(0x40, ACK) + seg(0x40, ACK | PSH, plen=500) + tick(50),
    "data_out": seg(0, SYN) + seg(0x40, ACK) + app(0, 0, 3000) + tick(300) + seg(0x40, ACK),
    "close": seg(0, SYN) + seg(0x40, ACK) + seg(0x40, ACK | FIN) + app(0, 4) + tick(10) + seg(0x40, ACK),
    "rst": seg(0, SYN) + seg(0x40, ACK) + seg(0x40, RST | ACK),
    "ooo": seg(0, SYN) + seg(0x40, ACK) + seg(0x40, ACK, dseq=1000, plen=300) + seg(0x40, ACK, plen=1000),
    "v6_connect": bytes([3, 1]) + seg(0x40, SYN | ACK) + app(0, 0, 100) + tick(2000),
    "timers": seg(0, SYN) + tick(1000) + tick(3000) + tick(60000),
}
d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
os.makedirs(d, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
