# SPDX-License-Identifier: BSD-3-Clause
"""The sender blocklist and the IP profiler (issue 7): /api/v1/blocklist and
mxgatectl block (validation naming the field), the MXG_CHAN_BLOCKLIST push
to a Python stand-in for the dataplane (on HELLO, within a second of a
change, expiry), the profiler's virus / directory harvest / bounce
thresholds fed by TRACK records, and one end-to-end test with the real
dataplane on net_tap: a blocked client's SYNs are dropped within a second
of the API call, and service is back within a second of the removal.

Frames are packed here from common/mxg_chan.h (test_ctl_chan.Chan)."""

import json
import os
import time
import uuid
from urllib.parse import quote

import pytest

from ctlenv import TRACK, Chan, Control, TempDir, channel_control, wait_until

BLOCKLIST = 7


@pytest.fixture(scope="module")
def ctl():
    with channel_control("mxgbl") as c:
        yield c


def bl_frame(ch, timeout=5.0):
    return json.loads(ch.recv_type(BLOCKLIST, timeout))


def prefixes(doc):
    return {e["prefix"]: e for e in doc["entries"]}


def wait_frame(ch, cond, timeout=5.0):
    """Reads BLOCKLIST frames until |cond|(doc) holds; returns (doc, s)."""
    t0 = time.monotonic()
    while True:
        left = timeout - (time.monotonic() - t0)
        if left <= 0:
            raise TimeoutError("no BLOCKLIST frame with the expected content")
        doc = bl_frame(ch, left)
        if cond(doc):
            return doc, time.monotonic() - t0


def field_error(code, j, field, words=""):
    assert code == 400, (code, j)
    fields = [e["field"] for e in j.get("errors", [])]
    assert field in fields, j
    assert words.lower() in json.dumps(j).lower(), j


# ------------------------------------------------------------------ API

def test_api_validation(ctl):
    bad = [
        ({}, "prefix", "missing"),
        ({"prefix": 12}, "prefix", "expected a string"),
        ({"prefix": "not-an-ip"}, "prefix", "not an IPv4 or IPv6"),
        ({"prefix": "198.51.100.7/8"}, "prefix", "host bits"),
        ({"prefix": "198.51.100.0/33"}, "prefix", "beyond 32"),
        ({"prefix": "2001:db8::/129"}, "prefix", "beyond 128"),
        ({"prefix": "0.0.0.0/0"}, "prefix", "every"),
        ({"prefix": "198.51.100.0/24", "reason": 5}, "reason", "string"),
        ({"prefix": "198.51.100.0/24", "reason": "x" * 201}, "reason", "200"),
        ({"prefix": "198.51.100.0/24", "expires_in": 0}, "expires_in", "integer"),
        ({"prefix": "198.51.100.0/24", "expires_in": "10"}, "expires_in", "integer"),
        ({"prefix": "198.51.100.0/24", "expires_in": 10, "expires_at": 4102444800},
         "expires_at", "not both"),
        ({"prefix": "198.51.100.0/24", "expires_at": 1000}, "expires_at", "past"),
        ({"prefix": "198.51.100.0/24", "expires_at": "yesterday-ish"}, "expires_at",
         "not a time"),
        ({"prefix": "198.51.100.0/24", "comment": "x"}, "comment", "unknown field"),
    ]
    for body, field, words in bad:
        code, j = ctl.api("POST", "/blocklist", body)
        field_error(code, j, field, words)
    code, j = ctl.api("DELETE", "/blocklist/" + quote("300.1.1.1", safe=""))
    field_error(code, j, "prefix", "not an IPv4")
    code, j = ctl.api("DELETE", "/blocklist/" + quote("192.0.2.0/24", safe=""))
    assert code == 404, (code, j)
    code, j = ctl.api("GET", "/blocklist?sauce=admin")
    field_error(code, j, "sauce", "unknown")
    # nothing was stored by the refused requests
    code, j = ctl.api("GET", "/blocklist")
    assert code == 200 and "198.51.100.0/24" not in prefixes(j), j


def test_api_add_list_remove(ctl):
    code, e = ctl.api("POST", "/blocklist", {"prefix": "198.51.100.0/24",
                                              "reason": "spam run", "expires_in": 600})
    assert code == 201, (code, e)
    assert e["prefix"] == "198.51.100.0/24" and e["source"] == "admin"
    assert e["reason"] == "spam run" and 590 <= e["expires_in"] <= 600
    code, e = ctl.api("POST", "/blocklist", {"prefix": "2001:db8:bad::/48"})
    assert code == 201 and e["expires_at"] is None and e["expires_in"] is None, e
    code, e = ctl.api("POST", "/blocklist", {"prefix": "192.0.2.66",
                                              "expires_at": "2099-01-01T00:00:00Z"})
    assert code == 201 and e["prefix"] == "192.0.2.66/32", e
    code, j = ctl.api("GET", "/blocklist")
    assert code == 200
    p = prefixes(j)
    assert {"198.51.100.0/24", "2001:db8:bad::/48", "192.0.2.66/32"} <= set(p), j
    assert j["version"] > 0
    # replacing keeps one row
    code, e = ctl.api("POST", "/blocklist", {"prefix": "198.51.100.0/24", "reason": "again"})
    assert code == 201 and e["reason"] == "again" and e["expires_at"] is None
    assert ctl.psql("SELECT count(*) FROM blocklist WHERE prefix = '198.51.100.0/24'") == "1"
    for pfx in ("198.51.100.0/24", "2001:db8:bad::/48", "192.0.2.66"):
        code, j = ctl.api("DELETE", "/blocklist/" + quote(pfx, safe=""))
        assert code == 200, (code, j)
    code, j = ctl.api("GET", "/blocklist")
    assert not {"198.51.100.0/24", "2001:db8:bad::/48", "192.0.2.66/32"} & set(prefixes(j))


def test_mxgatectl_block(ctl):
    r = ctl.ctl("block", "add", "203.0.113.7", "--reason", "manual test", "--expires", "900")
    assert r.returncode == 0, r.stderr
    assert "203.0.113.7/32" in r.stdout
    r = ctl.ctl("block", "list")
    assert r.returncode == 0, r.stderr
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("203.0.113.7/32")]
    assert line and "admin" in line[0] and "manual test" in line[0], r.stdout
    r = ctl.ctl("block", "add", "203.0.113.7/16")
    assert r.returncode == 1 and "prefix" in r.stderr and "host bits" in r.stderr, r.stderr
    r = ctl.ctl("block", "add", "203.0.113.8", "--expires", "soon")
    assert r.returncode == 2, r.stderr
    r = ctl.ctl("block", "remove", "203.0.113.7/32")
    assert r.returncode == 0, r.stderr
    r = ctl.ctl("block", "remove", "203.0.113.7/32")
    assert r.returncode == 1 and "no such" in r.stderr, r.stderr
    r = ctl.ctl("--json", "block", "list")
    assert r.returncode == 0 and "203.0.113.7/32" not in prefixes(json.loads(r.stdout))


# ------------------------------------------------------------------ the push

def test_push_on_hello_and_on_change(ctl):
    code, _ = ctl.api("POST", "/blocklist", {"prefix": "192.0.2.0/25", "reason": "early"})
    assert code == 201
    ch = Chan(ctl.sock, node="dp-bl1")
    try:
        doc = bl_frame(ch)
        assert "192.0.2.0/25" in prefixes(doc), doc
        assert prefixes(doc)["192.0.2.0/25"]["reason"] == "early"
        assert prefixes(doc)["192.0.2.0/25"]["expires_at"] is None
        v0 = doc["version"]
        # a change reaches the connected dataplane within a second
        t0 = time.monotonic()
        code, _ = ctl.api("POST", "/blocklist", {"prefix": "2001:db8:1::/64",
                                                 "reason": "v6", "expires_in": 300})
        assert code == 201
        doc, _ = wait_frame(ch, lambda d: "2001:db8:1::/64" in prefixes(d))
        took = time.monotonic() - t0
        assert took < 1.0, f"BLOCKLIST frame {took:.3f} s after the API call"
        assert doc["version"] > v0
        exp = prefixes(doc)["2001:db8:1::/64"]["expires_at"]
        assert abs(exp - (time.time() + 300)) < 5, exp
        t0 = time.monotonic()
        code, _ = ctl.api("DELETE", "/blocklist/" + quote("192.0.2.0/25", safe=""))
        assert code == 200
        doc, _ = wait_frame(ch, lambda d: "192.0.2.0/25" not in prefixes(d))
        assert time.monotonic() - t0 < 1.0
        assert "2001:db8:1::/64" in prefixes(doc)
        # the status shows what each dataplane was sent
        st = ctl.status()
        dp = [d for d in st["dataplanes"] if d["node"] == "dp-bl1"]
        assert dp and dp[0]["blocklist_sent"] == doc["version"], st
        assert st["channel"]["blocklist_version"] == doc["version"]
    finally:
        ch.close()
        ctl.api("DELETE", "/blocklist/" + quote("2001:db8:1::/64", safe=""))


def test_expiry(ctl):
    ch = Chan(ctl.sock, node="dp-bl2")
    try:
        bl_frame(ch)
        code, _ = ctl.api("POST", "/blocklist", {"prefix": "192.0.2.200/29",
                                                 "expires_in": 2})
        assert code == 201
        doc, _ = wait_frame(ch, lambda d: "192.0.2.200/29" in prefixes(d))
        assert abs(prefixes(doc)["192.0.2.200/29"]["expires_at"] - (time.time() + 2)) < 3
        # the row is purged shortly after its deadline and the list pushed again
        doc, took = wait_frame(ch, lambda d: "192.0.2.200/29" not in prefixes(d), 10)
        assert ctl.psql("SELECT count(*) FROM blocklist WHERE prefix = '192.0.2.200/29'") == "0"
        code, j = ctl.api("GET", "/blocklist")
        assert "192.0.2.200/29" not in prefixes(j)
    finally:
        ch.close()


# ------------------------------------------------------------------ profiler

def rec(ip, sender="s@example.net", rcpts=None, verdicts=None, helo="mx.bad.test"):
    rcpts = rcpts or [{"rcpt": "u@example.com", "verdict": "clean",
                       "downstream_reply": "250 2.0.0 Ok"}]
    r = {"uuid": uuid.uuid4().hex, "ts": time.time(), "client_ip": ip, "helo": helo,
         "sender": sender, "subject": "x", "message_id": f"<{uuid.uuid4().hex}@t>",
         "size": 100, "policy_version": 1, "verdicts": verdicts or {},
         "timings": {}, "recipients": [], "notify": []}
    for x in rcpts:
        r["recipients"].append({"rcpt": x["rcpt"], "direction": "inbound",
                                "action": x.get("action", "deliver"),
                                "verdict": x.get("verdict", "clean"), "rule_id": None,
                                "rule_name": None,
                                "downstream_reply": x.get("downstream_reply", ""),
                                "quarantine_id": None})
    return r


def set_settings(ctl, **kv):
    for k, v in kv.items():
        ctl.psql(f"UPDATE settings SET value = '{int(v)}' WHERE key = 'profiler_{k}'")

    def loaded():
        code, p = ctl.api("GET", "/profiler")
        return code == 200 and all(p[k] == v for k, v in kv.items())
    wait_until(loaded, 10, "the profiler settings reloaded")


def profiler_row(ctl, ip):
    out = ctl.psql(f"SELECT source || '|' || reason || '|' || "
                   f"COALESCE(extract(epoch FROM expires_at - now())::int::text, 'never') FROM blocklist "
                   f"WHERE prefix = '{ip}/32'")
    return out.split("|", 2) if out else None


def test_profiler_virus(ctl):
    ip = "192.0.2.11"
    ch = Chan(ctl.sock, node="dp-prof1")
    try:
        bl_frame(ch)
        code, p = ctl.api("GET", "/profiler")
        assert code == 200 and p["virus_threshold"] == 10 and p["window_s"] == 600, p
        assert p["block_s"] == 3600
        for i in range(9):
            ch.send(TRACK, rec(ip, rcpts=[{"rcpt": f"v{i}@example.com", "verdict": "virus",
                                           "action": "quarantine"}],
                               verdicts={"virus": "Eicar-Test-Signature"}))
        time.sleep(0.5)
        assert profiler_row(ctl, ip) is None, "blocked below the threshold"
        ch.send(TRACK, rec(ip, rcpts=[{"rcpt": "v9@example.com", "verdict": "virus"}],
                           verdicts={"virus": "Eicar-Test-Signature"}))
        doc, _ = wait_frame(ch, lambda d: f"{ip}/32" in prefixes(d), 5)
        e = prefixes(doc)[f"{ip}/32"]
        assert e["source"] == "profiler" and e["reason"].startswith("virus: 10 "), e
        assert "Eicar-Test-Signature" in e["reason"], e
        assert abs(e["expires_at"] - (time.time() + 3600)) < 10, e
        row = profiler_row(ctl, ip)
        assert row[0] == "profiler" and 3590 <= int(row[2]) <= 3600, row
        assert f"blocked {ip}/32 for 3600 s: virus" in ctl.stderr()
        # an administrator's entry is never replaced by the profiler
        ip2 = "192.0.2.12"
        code, _ = ctl.api("POST", "/blocklist", {"prefix": ip2, "reason": "by hand"})
        for i in range(10):
            ch.send(TRACK, rec(ip2, rcpts=[{"rcpt": f"v{i}@example.com", "verdict": "virus"}]))
        wait_until(lambda: "administrator's blocklist entry stays" in ctl.stderr(), 5,
                   "the profiler leaving the admin entry alone")
        assert profiler_row(ctl, ip2)[:2] == ["admin", "by hand"]
    finally:
        ch.close()
        for x in ("192.0.2.11", "192.0.2.12"):
            ctl.api("DELETE", "/blocklist/" + x)


def test_profiler_dha_and_bounce(ctl):
    set_settings(ctl, dha_threshold=5, bounce_threshold=4, block_s=120)
    ch = Chan(ctl.sock, node="dp-prof2")
    try:
        bl_frame(ch)
        dha = "198.51.100.77"
        # one message, 3 unknown recipients (550 5.1.1) and one accepted
        ch.send(TRACK, rec(dha, rcpts=[
            {"rcpt": f"u{i}@example.com", "action": "reject",
             "downstream_reply": "550 5.1.1 <u@example.com>: Recipient address rejected: "
                                 "User unknown"} for i in range(3)] +
            [{"rcpt": "real@example.com", "downstream_reply": "250 2.1.5 Ok"}]))
        ch.send(TRACK, rec(dha, rcpts=[{"rcpt": "w@example.com",
                                        "downstream_reply": "5.1.1 unknown user"}]))
        time.sleep(0.5)
        assert profiler_row(ctl, dha) is None
        ch.send(TRACK, rec(dha, rcpts=[{"rcpt": "zz@example.com",
                                        "downstream_reply": "550 no such user"}]))
        doc, _ = wait_frame(ch, lambda d: f"{dha}/32" in prefixes(d), 5)
        e = prefixes(doc)[f"{dha}/32"]
        assert e["reason"].startswith("dha: 5 "), e
        assert "zz@example.com" in e["reason"], e
        assert abs(e["expires_at"] - (time.time() + 120)) < 10, e
        # bounces: messages with the null sender
        bnc = "2001:db8:77::9"
        for i in range(3):
            ch.send(TRACK, rec(bnc, sender="", helo="bouncer.test"))
            ch.send(TRACK, rec(bnc, sender="real@example.net"))  # not counted
        time.sleep(0.5)
        assert ctl.psql(f"SELECT count(*) FROM blocklist WHERE prefix = '{bnc}/128'") == "0"
        ch.send(TRACK, rec(bnc, sender="", helo="bouncer.test"))
        doc, _ = wait_frame(ch, lambda d: f"{bnc}/128" in prefixes(d), 5)
        e = prefixes(doc)[f"{bnc}/128"]
        assert e["source"] == "profiler" and e["reason"].startswith("bounce: 4 "), e
        assert "bouncer.test" in e["reason"]
        # a counter set to 0 is off
        set_settings(ctl, bounce_threshold=0)
        off = "2001:db8:77::10"
        for i in range(10):
            ch.send(TRACK, rec(off, sender=""))
        time.sleep(0.5)
        assert ctl.psql(f"SELECT count(*) FROM blocklist WHERE prefix = '{off}/128'") == "0"
        code, p = ctl.api("GET", "/profiler")
        assert p["blocks"] >= 2 and p["tracked_ips"] >= 1, p
    finally:
        ch.close()
        set_settings(ctl, dha_threshold=20, bounce_threshold=50, block_s=3600)
        for x in ("198.51.100.77", "2001:db8:77::9"):
            ctl.api("DELETE", "/blocklist/" + quote(x, safe=""))


# ------------------------------------------------------------------ end to end

@pytest.fixture(scope="module")
def env(dataplane_bin, tmp_path_factory):
    from policyenv import PolicyEnv
    with PolicyEnv(dataplane_bin, str(tmp_path_factory.mktemp("blenv")), subnet=23) as e:
        yield e


def test_dataplane_drops_blocked_client(env):
    from smtpenv import in_ns

    def connect(timeout):
        import socket

        def body():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(timeout)
            try:
                s.bind((env.client_ip, 0))
                s.connect((env.gw.gw4, 25))
                return True
            except OSError:
                return False
            finally:
                s.close()
        return in_ns(env.gw.ns, body)

    def listed():
        # telemetry names: '.' and ':' are written '_' (dp_filter.c cmd_list)
        key = f"{env.client_ip}/32".replace(".", "_")
        return key in env.gw.dp.query("/mxgate/filter/list")

    env.sync_policy()
    wait_until(lambda: env.ctl_stats()["blocklist_version"] >= 0, 10,
               "the first blocklist applied by the dataplane")
    assert connect(5), "no SMTP service before the block\n" + env.logs()
    before = env.gw.dp.query("/mxgate/filter")["drop_blocked"]

    t0 = time.monotonic()
    code, e = env.control.api("POST", "/blocklist", {"prefix": env.client_ip,
                                                     "reason": "e2e test"})
    assert code == 201, (code, e)
    wait_until(listed, 1.0, "the block in /mxgate/filter/list", interval=0.02)
    took = time.monotonic() - t0
    assert took < 1.0, took
    print(f"\nblock in force {took:.3f} s after the API call")
    st = env.ctl_stats()
    assert st["blocklist_entries"] >= 1 and st["blocklist_failed"] == 0, st
    assert not connect(1.0), "a blocked client connected"
    assert env.gw.dp.query("/mxgate/filter")["drop_blocked"] > before

    t0 = time.monotonic()
    code, j = env.control.api("DELETE", "/blocklist/" + quote(env.client_ip, safe=""))
    assert code == 200, (code, j)
    wait_until(lambda: connect(0.3), 3, "service restored after the removal", interval=0)
    took = time.monotonic() - t0
    print(f"service restored {took:.3f} s after the removal")
    assert not listed()
    assert took < 1.0, took
    # and mail flows again
    from policyenv import simple_message
    mid, msg = simple_message("after unblock")
    code, text = env.send("a@ext.test", ["b@local.test"], msg)
    assert code == 250, (code, text, env.logs())


# ------------------------------------------------------ end to end, XDP maps

def test_af_xdp_blocklist_reaches_xdp_maps(dataplane_bin, xpf_obj, tmp_path_factory):
    """The dataplane on net_af_xdp (veth, under `ip netns exec`: a private
    mount namespace, where dp_filter_xdp_pin mounts its own bpffs) with the
    RFC 862 echo service: a POST /api/v1/blocklist for the peer reaches the
    XDP program's maps within a second (its drop counter, read through
    /mxgate/filter/xdp, rises while the peer's connects time out, and
    tcpstack never sees the SYNs); a DELETE restores service within a
    second."""
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tcp"))
    import tcputil
    from mxgtest.net import in_netns
    from mxgtest.topo import AfXdpGateway
    from policyenv import control_section

    echo = 7

    class CtlXdpGateway(AfXdpGateway):
        def __init__(self, *a, control_lines=(), **kw):
            super().__init__(*a, **kw)
            self.control_lines = list(control_lines)

        def config(self, pmd, devargs):
            cfg = super().config(pmd, devargs)
            cfg.extra_lines += [""] + self.control_lines
            return cfg

    with TempDir("mxgblx") as t:
        sock = os.path.join(t.path, "state", "run", "channel.sock")
        c = Control(t.path, extra=f"channel_socket = {sock}\n").start()
        try:
            gw = CtlXdpGateway(dataplane_bin, str(tmp_path_factory.mktemp("blxdp")), xpf_obj,
                               subnet=26, dataplane={"test_services": "yes"},
                               control_lines=control_section(c.conf))
            with gw:
                tcputil.prepare_peer(gw)
                peer = gw.peer4

                def connect(timeout):
                    def body():
                        import socket
                        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                        s.settimeout(timeout)
                        try:
                            s.bind((peer, 0))
                            s.connect((gw.gw4, echo))
                            return True
                        except OSError:
                            return False
                        finally:
                            s.close()
                    return in_netns(str(gw.peer_ns), body)

                def xdp():
                    return gw.dp.query("/mxgate/filter/xdp")[gw.port]

                def rx():
                    return tcputil.tcp_stats(gw)["rx_segs"]

                def connected():
                    s = gw.dp.query("/mxgate/control")
                    return s.get("connected") == 1 and s.get("blocklist_version", -1) >= 0
                wait_until(connected, 30, "the dataplane connected to mxgate-control "
                           "and its first blocklist applied")
                x = xdp()
                assert x["pin"] == 1, f"XDP maps not pinned: {x}\n{gw.dp.tail(40)}"
                log = gw.dp.output("stderr") + gw.dp.output("stdout")
                print("\n[af_xdp] bpffs mounted by the dataplane:", "was not a bpffs" in log)
                assert connect(5), "no echo service before the block\n" + gw.dp.tail(40)

                d0, sw0 = x["drop_blocked"], gw.dp.query("/mxgate/filter")["drop_blocked"]
                t0 = time.monotonic()
                code, e = c.api("POST", "/blocklist", {"prefix": peer, "reason": "e2e xdp"})
                assert code == 201, (code, e)
                # in force: a connect fails and the XDP program counted the drop
                wait_until(lambda: not connect(0.15) and xdp()["drop_blocked"] > d0, 1.0,
                           "the block in the XDP maps", interval=0)
                took = time.monotonic() - t0
                print(f"\n[af_xdp] XDP drops the blocked peer {took:.3f} s after the API call")
                assert took < 1.0, took
                d1, rx0 = xdp()["drop_blocked"], rx()
                assert not connect(2.5), "a blocked peer connected"
                x = xdp()
                assert x["drop_blocked"] >= d1 + 2, ("SYN and its retransmission dropped", x)
                assert x.get("reason_manual", 0) >= 2, x   # "e2e xdp": no named reason
                assert rx() == rx0, "a blocked SYN reached tcpstack"
                # dropped in the driver, before the software filter
                assert gw.dp.query("/mxgate/filter")["drop_blocked"] == sw0

                t0 = time.monotonic()
                code, j = c.api("DELETE", "/blocklist/" + quote(peer, safe=""))
                assert code == 200, (code, j)
                wait_until(lambda: rx() > rx0 or connect(0.3), 1.0,
                           "service restored after the removal", interval=0)
                took = time.monotonic() - t0
                print(f"[af_xdp] service restored {took:.3f} s after the removal")
                assert took < 1.0, took
                # af_xdp may lose a transmitted frame (tcputil.known_issue): retries
                assert connect(5), "no echo service after the removal"
                d2 = xdp()["drop_blocked"]
                assert connect(5)
                assert xdp()["drop_blocked"] == d2
                assert gw.alive(), "the dataplane died:\n" + gw.dp.tail(40)
        finally:
            assert c.stop() == 0
