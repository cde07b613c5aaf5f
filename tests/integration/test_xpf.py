"""The XDP program of bpf/ as loaded by the net_af_xdp PMD: it is the
program attached to the veth, its XSKMAP is the one the PMD filled, and its
per-CPU counters account for every frame (seen = redirected + passed, all
redirected while the AF_XDP socket is bound to the only queue)."""

import json

from mxgtest.net import run
from mxgtest.ping import ping

XPF_STAT_SEEN, XPF_STAT_REDIRECTED, XPF_STAT_PASSED = 0, 1, 2


def xdp_prog_id(gw):
    out = json.loads(gw.ns_dp.ip("-d", "-j", "link", "show", "dev", gw.dp_dev).stdout)
    xdp = out[0].get("xdp", {})
    if "prog" in xdp:
        return xdp["prog"]["id"]
    for att in xdp.get("attached", []):
        if "prog" in att:
            return att["prog"]["id"]
    raise AssertionError(f"no XDP program on {gw.dp_dev}: {xdp}")


def prog_maps(prog_id):
    prog = json.loads(run(["bpftool", "-j", "prog", "show", "id", str(prog_id)]).stdout)
    maps = {}
    for mid in prog.get("map_ids", []):
        m = json.loads(run(["bpftool", "-j", "map", "show", "id", str(mid)]).stdout)
        maps[m["name"]] = m
    return prog, maps


def read_stats(map_id):
    dump = json.loads(run(["bpftool", "-j", "map", "dump", "id", str(map_id)]).stdout)
    totals = {}
    for entry in dump:
        key = entry.get("key")
        key = key if isinstance(key, int) else int.from_bytes(
            bytes(int(b, 16) for b in key), "little")
        pk = 0
        for v in entry.get("values", []):
            val = v["value"]
            if isinstance(val, dict):
                pk += int(val["packets"])
            else:   # raw bytes: first u64 is packets
                pk += int.from_bytes(bytes(int(b, 16) for b in val[:8]), "little")
        totals[key] = pk
    return totals


def test_xpf_program_attached_and_counting(afxdp_gw):
    gw = afxdp_gw
    prog, maps = prog_maps(xdp_prog_id(gw))
    assert prog["name"] == "xpf_prog", prog
    assert "xsks_map" in maps and maps["xsks_map"]["type"] == "xskmap", maps
    assert "xpf_stats" in maps and maps["xpf_stats"]["type"] == "percpu_array", maps
    before = read_stats(maps["xpf_stats"]["id"])
    r = ping(gw.peer_ns, gw.gw4, count=200, interval=0.002)
    assert r.received == 200, str(r)
    after = read_stats(maps["xpf_stats"]["id"])
    seen = after[XPF_STAT_SEEN] - before.get(XPF_STAT_SEEN, 0)
    redir = after[XPF_STAT_REDIRECTED] - before.get(XPF_STAT_REDIRECTED, 0)
    passed = after[XPF_STAT_PASSED] - before.get(XPF_STAT_PASSED, 0)
    assert seen >= 200
    assert seen == redir + passed
    assert passed == 0, "frames on a queue without an AF_XDP socket"
