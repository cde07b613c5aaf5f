#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Writes the fuzz_net seed corpus (tests/fuzz/net/seeds/*.bin).

Each seed is a fuzz_net program (format in fuzz_net.c): a conf byte, a
pending-max byte, then operations. The frames are valid ones for the
fuzzed interface (02:00:00:00:00:01, 198.18.0.1/24, 2001:db8::1/64), so
the fuzzer starts deep in every parser instead of at the Ethernet check.

Run from anywhere: python3 tests/fuzz/net/gen_seeds.py
"""
import ipaddress
import os
import struct

OUR_MAC = bytes.fromhex("020000000001")
PEER_MAC = bytes.fromhex("020000000002")
BCAST = b"\xff" * 6
OUR4, PEER4 = "198.18.0.1", "198.18.0.2"
OUR6, PEER6 = "2001:db8::1", "2001:db8::2"
OUR_LL6 = "fe80::ff:fe00:1"
SOLNODE = "ff02::1:ff00:1"
SOLNODE_MAC = bytes.fromhex("3333ff000001")

# conf byte: bit0 VLAN 5, bit1 v4 gw, bit2 IPv6, bit3 v6 gw, bits 4-6 log2(neigh_max)
CONF = 0x02 | 0x04 | 0x08 | (3 << 4)


def ip(a):
    return ipaddress.ip_address(a).packed


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def eth(dst, typ, vlan=None):
    h = dst + PEER_MAC
    if vlan is not None:
        h += struct.pack("!HH", 0x8100, vlan)
    return h + struct.pack("!H", typ)


def ipv4(src, dst, proto, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0x4000, 64, proto, 0,
                    ip(src), ip(dst))
    h = h[:10] + struct.pack("!H", csum(h)) + h[12:]
    return h + payload


def icmp4(typ, body):
    m = struct.pack("!BBH", typ, 0, 0) + body
    return m[:2] + struct.pack("!H", csum(m)) + m[4:]


def ipv6(src, dst, nh, payload, hlim=64):
    return struct.pack("!IHBB16s16s", 0x60000000, len(payload), nh, hlim, ip(src),
                       ip(dst)) + payload


def icmp6(src, dst, typ, body):
    m = struct.pack("!BBH", typ, 0, 0) + body
    pseudo = ip(src) + ip(dst) + struct.pack("!IxxxB", len(m), 58)
    return m[:2] + struct.pack("!H", csum(pseudo + m)) + m[4:]


def arp(op, spa, tpa, tha=b"\0" * 6):
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, PEER_MAC, ip(spa), tha, ip(tpa))


def frame(f):
    # 0x40: the harness recomputes checksums after mutation
    return b"\x40" + struct.pack("!H", len(f)) + f


def out(sel, l4len):
    return b"\x80" + bytes([sel]) + struct.pack("!H", l4len)


def timer(ticks):
    return b"\x81" + bytes([ticks])


ECHO = struct.pack("!HH", 0x1234, 1) + bytes(range(24))
NS_BODY = b"\0" * 4 + ip(OUR6) + bytes([1, 1]) + PEER_MAC
NA_BODY = bytes([0x60, 0, 0, 0]) + ip(PEER6) + bytes([2, 1]) + PEER_MAC

SEEDS = {
    "arp_request": frame(eth(BCAST, 0x0806) + arp(1, PEER4, OUR4) + b"\0" * 18),
    "icmp4_echo": frame(eth(OUR_MAC, 0x0800) + ipv4(PEER4, OUR4, 1, icmp4(8, ECHO))),
    "tcp4": frame(eth(OUR_MAC, 0x0800) +
                  ipv4(PEER4, OUR4, 6, struct.pack("!HHIIBBHHH", 1025, 25, 1, 0, 0x50, 2,
                                                   65535, 0, 0))),
    "icmp6_echo": frame(eth(OUR_MAC, 0x86DD) +
                        ipv6(PEER6, OUR6, 58, icmp6(PEER6, OUR6, 128, ECHO))),
    "ns_global": frame(eth(SOLNODE_MAC, 0x86DD) +
                       ipv6(PEER6, SOLNODE, 58, icmp6(PEER6, SOLNODE, 135, NS_BODY), 255)),
    "ns_dad": frame(eth(SOLNODE_MAC, 0x86DD) +
                    ipv6("::", SOLNODE, 58,
                         icmp6("::", SOLNODE, 135, b"\0" * 4 + ip(OUR_LL6)), 255)),
    "udp6_exthdr": frame(eth(OUR_MAC, 0x86DD) +
                         ipv6(PEER6, OUR6, 60,
                              bytes([43, 0, 1, 4, 0, 0, 0, 0]) +   # dst opts, PadN
                              bytes([17, 0, 4, 0, 0, 0, 0, 0]) +   # routing, segleft 0
                              struct.pack("!HHHH", 53, 53, 8, 0))),
    "resolve_v4": out(0, 20) + out(1, 20) +
                  frame(eth(OUR_MAC, 0x0806) + arp(2, PEER4, OUR4, OUR_MAC)) + timer(10),
    "resolve_v6": out(6, 20) +
                  frame(eth(OUR_MAC, 0x86DD) +
                        ipv6(PEER6, OUR6, 58, icmp6(PEER6, OUR6, 136, NA_BODY), 255)) +
                  timer(255),
    "give_up": out(0, 20) + out(6, 20) + timer(10) + timer(10) + timer(10) + timer(10),
    "start_nobuf": b"\x83\x84\x83\x84" + out(7, 1400),
}


def main():
    d = os.path.join(os.path.dirname(os.path.abspath(__file__)), "seeds")
    os.makedirs(d, exist_ok=True)
    for name, prog in SEEDS.items():
        with open(os.path.join(d, name + ".bin"), "wb") as f:
            f.write(bytes([CONF, 0]) + prog)
    # the VLAN variant of the echo (conf bit 0)
    with open(os.path.join(d, "icmp4_echo_vlan.bin"), "wb") as f:
        f.write(bytes([CONF | 1, 0]) +
                frame(eth(OUR_MAC, 0x0800, vlan=5) + ipv4(PEER4, OUR4, 1, icmp4(8, ECHO))))


if __name__ == "__main__":
    main()
