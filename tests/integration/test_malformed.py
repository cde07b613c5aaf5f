"""Malformed-frame suite (issue 2): each frame is sent from the kernel side
of the link (raw AF_PACKET socket inside the peer's namespace, bytes exactly
as built, no padding) to the dataplane's MAC and addresses, so the intended
defect is the only one. For every case:

  * the named drop counter rises by exactly the number of frames sent, and
    no other drop counter moves (except not_for_us, which the kernel's own
    MLD reports feed, see NOISY);
  * nothing answers on the wire: between the first frame and the reply to
    a valid echo request sent right after them (a barrier: one RX queue is
    processed in order), the peer captures no frame from the dataplane
    other than that reply and address-resolution requests;
  * the dataplane is still running and answers the barrier echo.

Runs over net_tap and net_af_xdp (`any_gw`).
"""

import struct

import pytest

from mxgtest.frames import L2Port, eth_fields, is_echo_reply, is_resolution_request
from mxgtest.ping import ping

scapy = pytest.importorskip("scapy.all", reason="python3-scapy (scripts/deps.sh)")
from scapy.all import (ARP, ICMP, IP, Dot1Q, Ether, ICMPv6EchoRequest,  # noqa: E402
                       ICMPv6ND_NS, ICMPv6NDOptSrcLLAddr, IPv6, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, Jumbo, Raw, raw)
from scapy.layers.inet6 import in6_chksum  # noqa: E402
from scapy.utils import checksum  # noqa: E402

REPEAT = 3                     # frames sent per case
NOISY = {"not_for_us"}         # fed by the kernel's MLD reports meanwhile
PAYLOAD = b"mxgate-malformed-test-payload!!!"


class Ctx:
    def __init__(self, gw):
        self.dmac, self.smac = gw.dp_mac, gw.peer_mac
        self.gw4, self.peer4, self.gw6, self.peer6 = gw.gw4, gw.peer4, gw.gw6, gw.peer6

    def eth(self, type_):
        return Ether(dst=self.dmac, src=self.smac, type=type_)

    def ip4(self, **kw):
        return IP(src=self.peer4, dst=self.gw4, **kw)

    def ip6(self, **kw):
        return IPv6(src=self.peer6, dst=self.gw6, **kw)

    def echo4(self, **kw):
        return self.ip4(**kw) / ICMP(type=8, id=0x4d58, seq=1) / PAYLOAD

    def echo6(self, **kw):
        return self.ip6(**kw) / ICMPv6EchoRequest(id=0x4d58, seq=1, data=PAYLOAD)


def ip4_fix_csum(hdr):
    """Recomputes the IPv4 header checksum over the IHL the header claims."""
    hdr = bytearray(hdr)
    hl = max((hdr[0] & 0xF) * 4, 4)
    hdr[10:12] = b"\0\0"
    hdr[10:12] = struct.pack("!H", checksum(bytes(hdr[:hl])))
    return bytes(hdr)


def icmp6_bytes(c, body):
    """ICMPv6 message |body| (checksum field zero) with a correct checksum."""
    cs = in6_chksum(58, c.ip6(), body)
    return body[:2] + struct.pack("!H", cs) + body[4:]


# Each case: (id, expected drop counter, builder(ctx) -> frame bytes)
def _eth_vlan_truncated(c):
    return raw(c.eth(0x8100)) + b"\x00"            # tag cut after 1 byte


def _ipv4_truncated(c):
    return raw(c.eth(0x0800)) + raw(c.echo4())[:12]


def _ipv6_truncated(c):
    return raw(c.eth(0x86DD)) + raw(c.echo6())[:30]


def _icmp_truncated(c):
    body = b"\x08\x00\x00\x00"
    body = body[:2] + struct.pack("!H", checksum(body)) + body[4:]
    return raw(c.eth(0x0800) / c.ip4(proto=1) / Raw(body))


def _icmpv6_truncated(c):
    return raw(c.eth(0x86DD) / c.ip6(nh=58) / Raw(b"\x80\x00"))


def _icmpv6_echo_truncated(c):
    body = icmp6_bytes(c, b"\x80\x00\x00\x00\x4d\x58")     # echo without seq
    return raw(c.eth(0x86DD) / c.ip6(nh=58) / Raw(body))


def _ipv4_ihl_4(c):
    pkt = bytearray(raw(c.echo4()))
    pkt[0] = 0x44
    return raw(c.eth(0x0800)) + ip4_fix_csum(bytes(pkt[:20])) + bytes(pkt[20:])


def _ipv4_ihl_0(c):
    pkt = bytearray(raw(c.echo4()))
    pkt[0] = 0x40
    return raw(c.eth(0x0800)) + bytes(pkt)


def _ipv4_ihl_beyond_frame(c):
    pkt = bytearray(raw(c.ip4(proto=1)))           # 20 bytes, claims 60
    pkt[0] = 0x4F
    return raw(c.eth(0x0800)) + bytes(pkt)


def _ipv4_totlen_above_frame(c):
    return raw(c.eth(0x0800) / c.echo4(len=200))


def _ipv4_totlen_below_header(c):
    return raw(c.eth(0x0800) / c.echo4(len=16))


def _ipv4_totlen_jumbo(c):
    return raw(c.eth(0x0800) / c.echo4(len=65535))


def _ipv4_bad_header_csum(c):
    good = IP(raw(c.echo4())).chksum
    return raw(c.eth(0x0800) / c.echo4(chksum=good ^ 0x5A5A))


def _icmp_bad_csum(c):
    p = c.ip4() / ICMP(type=8, id=0x4d58, seq=1) / PAYLOAD
    good = IP(raw(p))[ICMP].chksum
    return raw(c.eth(0x0800) / c.ip4() / ICMP(type=8, id=0x4d58, seq=1,
                                               chksum=good ^ 0x00FF) / PAYLOAD)


def _icmpv6_bad_csum(c):
    good = IPv6(raw(c.echo6()))[ICMPv6EchoRequest].cksum
    return raw(c.eth(0x86DD) / c.ip6() /
               ICMPv6EchoRequest(id=0x4d58, seq=1, data=PAYLOAD, cksum=good ^ 0x00FF))


def _ipv6_plen_above_frame(c):
    return raw(c.eth(0x86DD) / c.echo6(plen=400))


def _ipv6_plen_jumbo(c):
    return raw(c.eth(0x86DD) / c.echo6(plen=65535))


def _ipv6_jumbogram(c):
    # RFC 2675: payload length 0 + Jumbo Payload option. We do not take
    # jumbograms: the hop-by-hop header lies outside the (zero) payload.
    return raw(c.eth(0x86DD) / c.ip6(plen=0) /
               IPv6ExtHdrHopByHop(options=[Jumbo(jumboplen=8 + 8 + len(PAYLOAD))]) /
               ICMPv6EchoRequest(id=0x4d58, seq=1, data=PAYLOAD))


def _ipv6_exthdr_chain(n):
    def build(c):
        p = c.ip6()
        for _ in range(n):
            p = p / IPv6ExtHdrDestOpt()
        return raw(c.eth(0x86DD) / p / ICMPv6EchoRequest(id=0x4d58, seq=1, data=PAYLOAD))
    return build


def _vlan_in_vlan(c):
    return raw(Ether(dst=c.dmac, src=c.smac) / Dot1Q(vlan=0) / Dot1Q(vlan=0) / c.echo4())


def _qinq_88a8(c):
    return raw(Ether(dst=c.dmac, src=c.smac, type=0x88A8) / Dot1Q(vlan=10) / c.echo4())


def _vlan_not_ours(c):
    return raw(Ether(dst=c.dmac, src=c.smac) / Dot1Q(vlan=77) / c.echo4())


def _ipv4_fragment_first(c):
    return raw(c.eth(0x0800) / c.echo4(flags="MF", id=4242))


def _ipv4_fragment_later(c):
    return raw(c.eth(0x0800) / c.ip4(proto=1, frag=100, id=4242) / Raw(PAYLOAD))


def _ipv6_fragment(c):
    return raw(c.eth(0x86DD) / c.ip6() / IPv6ExtHdrFragment(m=1, id=4242) /
               ICMPv6EchoRequest(id=0x4d58, seq=1, data=PAYLOAD))


def _arp_bad_hwtype(c):
    return raw(c.eth(0x0806) / ARP(hwtype=6, op=1, hwsrc=c.smac, psrc=c.peer4,
                                   pdst=c.gw4))


def _arp_bad_plen(c):
    p = bytearray(raw(c.eth(0x0806) / ARP(op=1, hwsrc=c.smac, psrc=c.peer4, pdst=c.gw4)))
    p[14 + 5] = 16                                 # protocol address length
    return bytes(p)


def _ndp_ns_hoplimit_64(c):
    return raw(c.eth(0x86DD) / c.ip6(hlim=64) / ICMPv6ND_NS(tgt=c.gw6) /
               ICMPv6NDOptSrcLLAddr(lladdr=c.smac))


def _unknown_ethertype(c):
    return raw(c.eth(0x88B5) / Raw(PAYLOAD + PAYLOAD))


def _ipv6_in_ipv4_ethertype(c):
    return raw(c.eth(0x0800)) + raw(c.echo6())


def _ipv4_in_ipv6_ethertype(c):
    return raw(c.eth(0x86DD)) + raw(c.echo4()) + bytes(20)


CASES = [
    ("eth_vlan_tag_truncated", "truncated", _eth_vlan_truncated),
    ("ipv4_header_truncated", "truncated", _ipv4_truncated),
    ("ipv6_header_truncated", "truncated", _ipv6_truncated),
    ("icmp_header_truncated", "truncated", _icmp_truncated),
    ("icmpv6_header_truncated", "truncated", _icmpv6_truncated),
    ("icmpv6_echo_truncated", "truncated", _icmpv6_echo_truncated),
    ("ipv4_ihl_4", "bad_ihl", _ipv4_ihl_4),
    ("ipv4_ihl_0", "bad_ihl", _ipv4_ihl_0),
    ("ipv4_ihl_beyond_frame", "truncated", _ipv4_ihl_beyond_frame),
    ("ipv4_total_length_above_frame", "bad_len", _ipv4_totlen_above_frame),
    ("ipv4_total_length_below_header", "bad_len", _ipv4_totlen_below_header),
    ("ipv4_total_length_jumbo", "bad_len", _ipv4_totlen_jumbo),
    ("ipv4_bad_header_checksum", "bad_csum", _ipv4_bad_header_csum),
    ("icmp_bad_checksum", "bad_csum", _icmp_bad_csum),
    ("icmpv6_bad_checksum", "bad_csum", _icmpv6_bad_csum),
    ("ipv6_payload_length_above_frame", "bad_len", _ipv6_plen_above_frame),
    ("ipv6_payload_length_jumbo", "bad_len", _ipv6_plen_jumbo),
    ("ipv6_jumbogram_option", "exthdr", _ipv6_jumbogram),
    ("ipv6_exthdr_chain_9", "exthdr", _ipv6_exthdr_chain(9)),
    ("ipv6_exthdr_chain_32", "exthdr", _ipv6_exthdr_chain(32)),
    ("vlan_in_vlan", "vlan", _vlan_in_vlan),
    ("qinq_88a8", "vlan", _qinq_88a8),
    ("vlan_id_not_ours", "vlan", _vlan_not_ours),
    ("ipv4_fragment_first", "fragment", _ipv4_fragment_first),
    ("ipv4_fragment_later", "fragment", _ipv4_fragment_later),
    ("ipv6_fragment_header", "fragment", _ipv6_fragment),
    ("arp_bad_hw_type", "bad_arp", _arp_bad_hwtype),
    ("arp_bad_proto_len", "bad_arp", _arp_bad_plen),
    ("ndp_ns_hop_limit_64", "bad_ndp", _ndp_ns_hoplimit_64),
    ("unknown_ethertype", "unknown_ethertype", _unknown_ethertype),
    ("ipv6_packet_in_ipv4_ethertype", "bad_version", _ipv6_in_ipv4_ethertype),
    ("ipv4_packet_in_ipv6_ethertype", "bad_version", _ipv4_in_ipv6_ethertype),
]


@pytest.fixture(scope="module")
def l2(any_gw):
    # Resolve both ways first, so no ARP/NDP exchange is pending during a
    # case and the peer's MAC is known.
    for addr in (any_gw.gw4, any_gw.gw6):
        r = ping(any_gw.peer_ns, addr, count=2, interval=0.05)
        assert r.received == 2, str(r)
    with L2Port(any_gw.peer_ns, any_gw.peer_dev) as port:
        yield port


_barrier_id = [0x6200]


def barrier(gw, port, ctx):
    """Sends a valid echo request and waits for its reply; returns the
    capture index just after it. With one RX queue the dataplane handles
    frames in order, so every reply to frames sent before has been sent."""
    _barrier_id[0] += 1
    ident = _barrier_id[0]
    start = port.mark()
    port.send(raw(ctx.eth(0x0800) / ctx.ip4() / ICMP(type=8, id=ident, seq=7) / PAYLOAD))
    port.wait_for(lambda f: is_echo_reply(f, ident, 7), timeout=10, start=start)
    return ident


def drops(gw):
    st = gw.stats()
    return dict(st["drop"])


@pytest.mark.parametrize("case,counter,build", CASES, ids=[c[0] for c in CASES])
def test_malformed_frame_dropped(any_gw, l2, case, counter, build):
    ctx = Ctx(any_gw)
    frame = build(ctx)
    before = drops(any_gw)
    assert counter in before, f"no drop counter {counter!r} in telemetry: {sorted(before)}"
    tx_before = any_gw.stats()["tx_pkts"]
    start = l2.mark()
    for _ in range(REPEAT):
        l2.send(frame)
    ident = barrier(any_gw, l2, ctx)
    after = drops(any_gw)
    delta = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    assert delta.get(counter, 0) == REPEAT, \
        f"{case}: expected {counter} +{REPEAT}, counters moved: {delta}"
    others = {k: v for k, v in delta.items() if k != counter and k not in NOISY}
    assert not others, f"{case}: other drop counters moved: {others}"
    # Nothing but the barrier's reply (and resolution requests) came back.
    answers = []
    for f in l2.frames(start):
        _, src, _ = eth_fields(f)
        if src != any_gw.dp_mac or is_echo_reply(f, ident) or is_resolution_request(f):
            continue
        answers.append(f.hex())
    assert not answers, f"{case}: the dataplane answered: {answers}"
    assert any_gw.alive(), any_gw.dp.tail()
    # tx counted only the barrier reply (plus any resolution request seen).
    resolutions = sum(1 for f in l2.frames(start)
                      if eth_fields(f)[1] == any_gw.dp_mac and is_resolution_request(f))
    assert any_gw.stats()["tx_pkts"] - tx_before == 1 + resolutions


@pytest.mark.parametrize("family", [4, 6])
def test_ethernet_padding_not_payload(any_gw, l2, family):
    """An echo request whose IP length is shorter than the frame (trailing
    bytes, like Ethernet padding) is answered with exactly the IP payload:
    the trailer is neither echoed nor counted as a drop."""
    ctx = Ctx(any_gw)
    ident = 0x7100 + family
    if family == 4:
        pkt = ctx.ip4() / ICMP(type=8, id=ident, seq=3) / PAYLOAD
    else:
        pkt = ctx.ip6() / ICMPv6EchoRequest(id=ident, seq=3, data=PAYLOAD)
    ip_bytes = raw(pkt)
    trailer = b"\xA5" * 40
    before = drops(any_gw)
    start = l2.mark()
    l2.send(raw(ctx.eth(0x0800 if family == 4 else 0x86DD)) + ip_bytes + trailer)
    reply = l2.wait_for(lambda f: is_echo_reply(f, ident, 3), timeout=10, start=start)
    body = reply[14:]
    if family == 4:
        rlen = IP(body).len
        assert rlen == len(ip_bytes)
        assert bytes(IP(body)[ICMP].payload) == PAYLOAD
    else:
        rlen = 40 + IPv6(body).plen
        assert rlen == len(ip_bytes)
        assert IPv6(body)[1].data == PAYLOAD
    # The reply may be padded to the Ethernet minimum, never with our trailer.
    assert trailer not in reply
    after = drops(any_gw)
    moved = {k: after[k] - before[k] for k in after if after[k] != before[k] and k not in NOISY}
    assert not moved, moved


def test_alive_after_suite(any_gw, l2):
    for addr in (any_gw.gw4, any_gw.gw6):
        r = ping(any_gw.peer_ns, addr, count=20, interval=0.01)
        assert r.transmitted == 20 and r.received == 20, str(r)
    assert any_gw.alive()
