# SPDX-License-Identifier: BSD-3-Clause
"""Email reputation (DNSBL, issue 7) against a real DNS server: unbound
(Debian's, scripts/deps.sh) on 127.0.0.1:<free port> serving test zones
from local-data, mxgate-control pointed at it (dnsbl_resolver).

  - /api/v1/dnsbl validation (errors name the field), mxgatectl dnsbl;
  - the channel: DNSBL_QUERY / DNSBL_ANSWER (common/mxg_chan.h) with a
    Python stand-in for the dataplane: listed, unlisted, cached (no second
    DNS query: the control's "lookups" counter and unbound's query log),
    a resolver that never answers (the default action), no zone enabled;
  - end to end with the real dataplane on net_tap: a listed client is
    refused at connect (554 reject zone, 450 tempfail zone), an unlisted one
    is served, a second connection is answered from the dataplane's cache,
    and a silent resolver falls back to dnsbl_default_action;
  - a client a known host names by XCLIENT or XFORWARD is looked up too:
    its next refusable command waits for the answer, then 554 (reject
    zone) or 450 (tempfail zone) for every such command while it is
    named, served when unlisted or only scored (tracking verdicts).
"""

import json
import os
import shutil
import smtplib
import socket
import struct
import subprocess
import time

import pytest

from ctlenv import Chan, TempDir, channel_control, wait_until

DNSBL_QUERY, DNSBL_ANSWER = 8, 9
SUBNET = 31

pytestmark = pytest.mark.skipif(not shutil.which("unbound") and
                                not os.path.exists("/usr/sbin/unbound"),
                                reason="unbound not installed (scripts/deps.sh)")


def free_udp_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rev(ip):
    return ".".join(reversed(ip.split(".")))


def dns_a(port, name, timeout=1.0):
    """One A query to 127.0.0.1:|port|: the rcode, or None (no answer)."""
    q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
    q += struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, ("127.0.0.1", port))
        r = s.recv(512)
        return r[3] & 15
    except OSError:
        return None
    finally:
        s.close()


class Unbound:
    """unbound in the foreground with static local zones: |records| maps
    a name to an A address (TTL 300)."""

    def __init__(self, tmp, records):
        self.dir = tmp
        self.port = free_udp_port()
        self.log = os.path.join(tmp, "unbound.log")
        zones = sorted({n.split(".", 4)[4] if n.count(".") >= 5 else n.split(".", 1)[1]
                        for n in records})
        lines = ["server:", "  interface: 127.0.0.1", f"  port: {self.port}",
                 "  do-ip6: no", "  do-daemonize: no", "  chroot: \"\"", "  username: \"\"",
                 f"  directory: \"{tmp}\"", f"  pidfile: \"{tmp}/unbound.pid\"",
                 f"  logfile: \"{self.log}\"", "  use-syslog: no", "  verbosity: 1",
                 "  log-queries: yes", "  access-control: 127.0.0.0/8 allow",
                 "  module-config: \"iterator\"", "  num-threads: 1"]
        for z in zones:
            lines.append(f"  local-zone: \"{z}.\" static")
        for n, a in records.items():
            lines.append(f"  local-data: \"{n}. 300 IN A {a}\"")
        self.conf = os.path.join(tmp, "unbound.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.p = None

    def start(self):
        exe = shutil.which("unbound") or "/usr/sbin/unbound"
        chk = subprocess.run([exe + "-checkconf" if os.path.exists(exe + "-checkconf")
                              else "true", self.conf], capture_output=True, text=True)
        assert chk.returncode == 0, chk.stdout + chk.stderr
        self.p = subprocess.Popen([exe, "-d", "-c", self.conf], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)
        wait_until(lambda: self.p.poll() is None and dns_a(self.port, "x.invalid", 0.2)
                   is not None, 10, "unbound answering")
        return self

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()

    def queries(self, name):
        """Queries for |name| unbound logged (log-queries)."""
        try:
            with open(self.log) as f:
                return sum(1 for ln in f
                           if f"info: 127.0.0.1 {name.lower()}. a in" in ln.lower())
        except FileNotFoundError:
            return 0


class Silent:
    """A UDP socket that reads DNS queries and never answers."""

    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.port = self.s.getsockname()[1]

    def close(self):
        self.s.close()


LISTED = f"198.18.{SUBNET}.3"      # bl.test: reject
TEMPF = f"198.18.{SUBNET}.20"      # tf.test: tempfail
SCORED = "192.0.2.77"              # sc.test: score
RECORDS = {
    f"{rev(LISTED)}.bl.test": "127.0.0.2",
    f"{rev(TEMPF)}.tf.test": "127.0.0.4",
    f"{rev(SCORED)}.sc.test": "127.0.0.9",
    f"{rev('192.0.2.99')}.bl.test": "127.0.0.3",   # not a return code of bl.test
    f"{rev('192.0.2.1')}.bl.test": "127.0.0.2",
    f"{rev('192.0.2.2')}.bl.test": "127.0.0.2",    # named by XCLIENT only
    f"{rev('192.0.2.3')}.bl.test": "127.0.0.2",    # named by XFORWARD, pipelined
}
ZONES = [
    {"name": "std", "zone": "bl.test", "kind": "standard", "action": "reject",
     "return_codes": ["127.0.0.2"]},
    {"name": "adv", "zone": "tf.test", "kind": "advanced", "action": "tempfail"},
    {"name": "sc", "zone": "sc.test", "action": "score", "score": 5},
]


@pytest.fixture(scope="module")
def dns():
    with TempDir("mxgdns") as t:
        u = Unbound(t.path, RECORDS).start()
        s = Silent()
        try:
            yield u, s
        finally:
            u.stop()
            s.close()


@pytest.fixture(scope="module")
def ctl():
    with channel_control("mxgdnsbl") as c:
        yield c


def put(ctl, body, expect=200):
    code, j = ctl.api("PUT", "/dnsbl", body)
    assert code == expect, (code, j)
    return j


def configured(ctl, n, resolver):
    """Waits until mxgate-control loaded |n| enabled zones and |resolver|."""
    def ok():
        st = ctl.api("GET", "/dnsbl")[1]["stats"]
        return st["loaded"] and st["zones_enabled"] == n and st["resolver"] == resolver
    wait_until(ok, 10, f"{n} zones loaded with resolver {resolver!r}")


def stats(ctl):
    return ctl.api("GET", "/dnsbl")[1]["stats"]


def ask(ch, req, ip, timeout=10.0):
    ch.send(DNSBL_QUERY, struct.pack(">Q", req) + ip.encode())
    while True:
        p = ch.recv_type(DNSBL_ANSWER, timeout)
        r, v, ttl = struct.unpack(">QBI", p[:13])
        if r == req:
            text = p[13:].decode()
            zone, _, code = text.partition(" ")
            return v, ttl, zone, code


# ------------------------------------------------------------------ API

def field_error(code, j, field, words=""):
    assert code == 400, (code, j)
    fields = [e["field"] for e in j.get("errors", [])]
    assert field in fields, j
    assert words.lower() in json.dumps(j).lower(), j


def test_api_validation(ctl):
    ok = {"name": "a", "zone": "bl.test"}
    bad = [
        ({"zones": 5}, "zones", "array"),
        ({"zones": [{"zone": "bl.test"}]}, "zones[0].name", "string"),
        ({"zones": [ok, ok]}, "zones[1].name", "twice"),
        ({"zones": [{"name": "a", "zone": ".bl.test"}]}, "zones[0].zone", "DNS name"),
        ({"zones": [{"name": "a", "zone": "bl test"}]}, "zones[0].zone", "DNS name"),
        ({"zones": [dict(ok, kind="premium")]}, "zones[0].kind", "standard or advanced"),
        ({"zones": [dict(ok, action="drop")]}, "zones[0].action", "reject, tempfail"),
        ({"zones": [dict(ok, return_codes=["10.0.0.2"])]}, "zones[0].return_codes[0]",
         "127.0.0.0/8"),
        ({"zones": [dict(ok, return_codes=["x"])]}, "zones[0].return_codes[0]", "IPv4"),
        ({"zones": [dict(ok, return_codes="127.0.0.2")]}, "zones[0].return_codes", "array"),
        ({"zones": [dict(ok, enabled="yes")]}, "zones[0].enabled", "true or false"),
        ({"zones": [dict(ok, score=5000)]}, "zones[0].score", "integer"),
        ({"zones": [dict(ok, colour="red")]}, "zones[0].colour", "unknown field"),
        ({"zones": [], "timeout_ms": 10}, "timeout_ms", "50..60000"),
        ({"zones": [], "resolver": "dns.example:53"}, "resolver", "address"),
        ({"zones": [], "resolver": "127.0.0.1:99999"}, "resolver", "address"),
        ({"zones": [], "default_action": "drop"}, "default_action", "accept, reject"),
        ({"zones": [], "ttl": 3}, "ttl", "unknown field"),
    ]
    for body, field, words in bad:
        code, j = ctl.api("PUT", "/dnsbl", body)
        field_error(code, j, field, words)
    j = put(ctl, {"zones": ZONES, "timeout_ms": 800, "resolver": "[::1]:53",
                  "default_action": "tempfail"})
    assert [z["name"] for z in j["zones"]] == ["std", "adv", "sc"], j
    assert j["zones"][0]["return_codes"] == ["127.0.0.2"] and j["zones"][1]["return_codes"] == []
    assert j["zones"][1]["kind"] == "advanced" and j["zones"][2]["score"] == 5
    assert j["timeout_ms"] == 800 and j["resolver"] == "[::1]:53", j
    code, g = ctl.api("GET", "/dnsbl")
    assert code == 200 and g["zones"] == j["zones"] and "stats" in g, g
    # a bare array is the zone list alone
    j = put(ctl, [dict(ok, enabled=False)])
    assert len(j["zones"]) == 1 and j["zones"][0]["enabled"] is False
    assert j["default_action"] == "tempfail"   # settings not given: kept


def test_mxgatectl_dnsbl(ctl, tmp_path):
    f = tmp_path / "zones.json"
    f.write_text(json.dumps({"zones": ZONES[:1]}))
    r = ctl.ctl("dnsbl", "set", str(f))
    assert r.returncode == 0, r.stderr
    assert "std bl.test standard reject" in r.stdout, r.stdout
    r = ctl.ctl("dnsbl", "list")
    assert r.returncode == 0 and json.loads(r.stdout)["zones"][0]["zone"] == "bl.test", r.stdout
    f.write_text(json.dumps({"zones": [{"name": "x", "zone": "a..b"}]}))
    r = ctl.ctl("dnsbl", "set", str(f))
    assert r.returncode == 1 and "zones[0].zone" in r.stderr, r.stderr


# ------------------------------------------------------------------ the channel

def test_chan_no_zone_answers_pass(ctl):
    put(ctl, {"zones": [], "resolver": "", "default_action": "accept"})
    configured(ctl, 0, "")
    ch = Chan(ctl.sock, node="dp-dnsbl0")
    try:
        t0 = time.monotonic()
        v, ttl, zone, code = ask(ch, 1, "192.0.2.1")
        assert (v, zone, code) == (0, "", ""), (v, zone, code)
        assert ttl > 0 and time.monotonic() - t0 < 1.0
    finally:
        ch.close()


def test_chan_listed_unlisted_cached(ctl, dns):
    ub, _ = dns
    res = f"127.0.0.1:{ub.port}"
    put(ctl, {"zones": ZONES, "resolver": res, "timeout_ms": 1500,
              "default_action": "accept"})
    configured(ctl, 3, res)
    ch = Chan(ctl.sock, node="dp-dnsbl1")
    try:
        s0 = stats(ctl)
        v, ttl, zone, code = ask(ch, 11, LISTED)
        assert (v, zone, code) == (1, "bl.test", "127.0.0.2"), (v, zone, code)
        assert 30 <= ttl <= 300, ttl
        v, ttl, zone, code = ask(ch, 12, TEMPF)
        assert (v, zone, code) == (2, "tf.test", "127.0.0.4"), (v, zone, code)
        v, ttl, zone, code = ask(ch, 13, SCORED)
        assert (v, zone, code) == (0, "sc.test", "127.0.0.9"), (v, zone, code)
        v, ttl, zone, code = ask(ch, 14, "192.0.2.99")      # 127.0.0.3: not a code of bl
        assert (v, zone) == (0, ""), (v, zone, code)
        v, ttl, zone, code = ask(ch, 15, "192.0.2.55")      # nowhere: NXDOMAIN
        assert (v, zone) == (0, "") and ttl > 0, (v, ttl, zone)
        v, ttl, zone, code = ask(ch, 16, "2001:db8::1")     # IPv6: nibbles, NXDOMAIN
        assert (v, zone) == (0, ""), (v, zone)
        s1 = stats(ctl)
        assert s1["lookups"] - s0["lookups"] == 6 * 3, (s0, s1)
        q = ub.queries(f"{rev(LISTED)}.bl.test")
        assert q == 1, q   # this module's first control: one query so far
        # cached: no second DNS query
        v, ttl, zone, code = ask(ch, 17, LISTED)
        assert (v, zone, code) == (1, "bl.test", "127.0.0.2")
        s2 = stats(ctl)
        assert s2["lookups"] == s1["lookups"] and s2["cache_hits"] == s1["cache_hits"] + 1
        assert ub.queries(f"{rev(LISTED)}.bl.test") == 1
        assert s2["listed"] >= 3, s2
    finally:
        ch.close()


def test_chan_timeout_default(ctl, dns):
    _, silent = dns
    res = f"127.0.0.1:{silent.port}"
    put(ctl, {"zones": ZONES[:1], "resolver": res, "timeout_ms": 300,
              "default_action": "tempfail"})
    configured(ctl, 1, res)
    ch = Chan(ctl.sock, node="dp-dnsbl2")
    try:
        t0 = time.monotonic()
        v, ttl, zone, code = ask(ch, 21, "192.0.2.1")
        took = time.monotonic() - t0
        assert (v, ttl, zone, code) == (3, 0, "bl.test", "tempfail"), (v, ttl, zone, code)
        assert 0.25 < took < 2.0, took
        # timeouts are not cached: asked again
        n = stats(ctl)["lookups"]
        v, _, _, code = ask(ch, 22, "192.0.2.1")
        assert v == 3 and stats(ctl)["lookups"] == n + 1
    finally:
        ch.close()


# ------------------------------------------------------------------ end to end

@pytest.fixture(scope="module")
def env(dataplane_bin, tmp_path_factory, dns):
    from policyenv import PolicyEnv
    with PolicyEnv(dataplane_bin, str(tmp_path_factory.mktemp("dnsblenv")),
                   subnet=SUBNET) as e:
        yield e


def greet(env, src, timeout=10):
    """Connects from |src| and returns the greeting line."""
    from smtpenv import in_ns

    def body():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.bind((src, 0))
            s.connect((env.gw.gw4, 25))
            data = b""
            while not data.endswith(b"\r\n"):
                b = s.recv(4096)
                if not b:
                    break
                data += b
            return data.decode(errors="replace").strip()
        finally:
            s.close()
    return in_ns(env.gw.ns, body)


def test_e2e_listed_refused_unlisted_served(env, dns):
    ub, _ = dns
    res = f"127.0.0.1:{ub.port}"
    put(env.control, {"zones": ZONES, "resolver": res, "timeout_ms": 1500,
                      "default_action": "accept"})
    configured(env.control, 3, res)
    env.sync_policy()
    st0 = env.smtp_stats()
    g = greet(env, LISTED)
    assert g.startswith("554 5.7.1") and "bl.test" in g and LISTED in g, g
    g = greet(env, TEMPF)
    assert g.startswith("450 4.7.1") and "tf.test" in g, g
    g = greet(env, env.client_ip)
    assert g.startswith("220 "), g
    st1 = env.smtp_stats()
    assert st1["dnsbl_queries"] - st0["dnsbl_queries"] == 3, (st0, st1)
    assert st1["dnsbl_listed"] - st0["dnsbl_listed"] == 2, (st0, st1)
    # the unlisted client's mail goes through
    from policyenv import simple_message
    mid, msg = simple_message("dnsbl ok")
    code, text = env.send("a@ext.test", ["b@local.test"], msg)
    assert code == 250, (code, text)
    env.sink_wait(mid)
    # the dataplane's cache: no query to mxgate-control, none to DNS
    n_dns = ub.queries(f"{rev(LISTED)}.bl.test")
    lookups = stats(env.control)["lookups"]
    g = greet(env, LISTED)
    assert g.startswith("554 5.7.1"), g
    st2 = env.smtp_stats()
    assert st2["dnsbl_cache_hits"] > st1["dnsbl_cache_hits"], st2
    assert stats(env.control)["lookups"] == lookups
    assert ub.queries(f"{rev(LISTED)}.bl.test") == n_dns >= 1
    logs = env.logs(200)
    assert "listed in bl.test" in logs, logs


def test_e2e_timeout_default(env, dns):
    _, silent = dns
    res = f"127.0.0.1:{silent.port}"
    put(env.control, {"zones": ZONES[:1], "resolver": res, "timeout_ms": 300,
                      "default_action": "tempfail"})
    configured(env.control, 1, res)
    st0 = env.smtp_stats()
    t0 = time.monotonic()
    g = greet(env, f"198.18.{SUBNET}.42")
    assert g.startswith("450 4.7.1") and "did not answer" in g, g
    assert time.monotonic() - t0 < 2.0
    put(env.control, {"zones": ZONES[:1], "default_action": "accept"})
    wait_until(lambda: stats(env.control)["default_action"] == "accept", 10, "accept")
    g = greet(env, f"198.18.{SUBNET}.50")
    assert g.startswith("220 "), g
    st1 = env.smtp_stats()
    assert st1["dnsbl_timeouts"] - st0["dnsbl_timeouts"] == 2, (st0, st1)


def known_host_session(env, body, timeout=15):
    """Runs |body|(smtplib.SMTP) on a session from the known host's address
    (PolicyEnv's release forwarder source, in known_hosts), after its EHLO."""
    def run():
        s = smtplib.SMTP(env.gw.gw4, 25, local_hostname="relay.test", timeout=timeout,
                         source_address=(env.release_src, 0))
        try:
            code, msg = s.ehlo()
            assert code == 250 and b"XCLIENT" in msg and b"XFORWARD" in msg, (code, msg)
            return body(s)
        finally:
            try:
                s.quit()
            except (smtplib.SMTPException, OSError):
                s.close()
    from smtpenv import in_ns
    return in_ns(env.gw.ns, run)


def cmd(s, verb, arg=""):
    code, msg = s.docmd(verb, arg)
    return code, msg.decode(errors="replace")


def test_e2e_xclient_xforward_named_clients(env, dns):
    ub, _ = dns
    res = f"127.0.0.1:{ub.port}"
    put(env.control, {"zones": ZONES, "resolver": res, "timeout_ms": 1500,
                      "default_action": "accept"})
    configured(env.control, 3, res)
    env.sync_policy()
    from policyenv import simple_message
    st0 = env.smtp_stats()
    mid_ok, msg_ok = simple_message("dnsbl xclient unlisted")
    mid_sc, msg_sc = simple_message("dnsbl xforward scored")

    def body(s):
        r = {}
        # XCLIENT: a listed client not in the dataplane's cache; the new
        # session's EHLO waits for the answer and is refused, and so is
        # every refusable command while that client is named
        r["xc_listed"] = cmd(s, "XCLIENT", "ADDR=192.0.2.2")
        t0 = time.monotonic()
        r["ehlo_listed"] = cmd(s, "EHLO", "c1.test")
        r["ehlo_took"] = time.monotonic() - t0
        r["helo_listed"] = cmd(s, "HELO", "c1.test")
        r["noop_listed"] = cmd(s, "NOOP")
        # XCLIENT naming an unlisted client: served, the message delivered
        r["xc_ok"] = cmd(s, "XCLIENT", "ADDR=192.0.2.55")
        r["ehlo_ok"] = cmd(s, "EHLO", "c2.test")
        r["mail_ok"] = cmd(s, "MAIL", "FROM:<a@ext.test>")
        r["rcpt_ok"] = cmd(s, "RCPT", "TO:<b@local.test>")
        r["data_ok"] = s.data(msg_ok)
        # XFORWARD (no new session): MAIL waits for the answer, 554 naming
        # the zone, again at the next MAIL
        r["xf_listed"] = cmd(s, "XFORWARD", "ADDR=192.0.2.1")
        r["mail_listed"] = cmd(s, "MAIL", "FROM:<a@ext.test>")
        r["mail_listed2"] = cmd(s, "MAIL", "FROM:<a@ext.test>")
        # a tempfail zone: 450 4.7.1
        r["xf_tempf"] = cmd(s, "XFORWARD", f"ADDR={TEMPF}")
        r["mail_tempf"] = cmd(s, "MAIL", "FROM:<a@ext.test>")
        # a score zone: served, recorded in the tracking record
        r["xf_sc"] = cmd(s, "XFORWARD", f"ADDR={SCORED}")
        r["mail_sc"] = cmd(s, "MAIL", "FROM:<a@ext.test>")
        r["rcpt_sc"] = cmd(s, "RCPT", "TO:<b@local.test>")
        r["data_sc"] = s.data(msg_sc)
        # pipelined behind the naming command (the lookup cannot be in
        # yet): the command is held, then refused or run
        s.send(b"XFORWARD ADDR=192.0.2.3\r\nMAIL FROM:<a@ext.test>\r\n")
        r["pl_xf_listed"] = s.getreply()
        r["pl_mail_listed"] = s.getreply()
        s.send(b"XCLIENT ADDR=192.0.2.56\r\nEHLO c3.test\r\n")
        r["pl_xc_ok"] = s.getreply()
        r["pl_ehlo_ok"] = s.getreply()
        s.send(b"XFORWARD ADDR=192.0.2.57\r\nMAIL FROM:<a@ext.test>\r\n"
               b"RCPT TO:<b@local.test>\r\nRSET\r\n")
        r["pl_xf_ok"] = [s.getreply() for _ in range(4)]
        return r

    r = known_host_session(env, body)
    assert r["xc_listed"][0] == 220, r
    code, text = r["ehlo_listed"]
    assert code == 554 and text.startswith("5.7.1") and "bl.test" in text, r
    assert "192.0.2.2" in text, r
    assert r["ehlo_took"] < 2.5, r
    assert r["helo_listed"][0] == 554 and "bl.test" in r["helo_listed"][1], r
    assert r["noop_listed"][0] == 250, r          # not refusable: the session goes on
    assert r["xc_ok"][0] == 220, r
    assert r["ehlo_ok"][0] == 250 and r["mail_ok"][0] == 250 and r["rcpt_ok"][0] == 250, r
    assert r["data_ok"][0] == 250, r
    assert r["xf_listed"][0] == 250, r
    for k in ("mail_listed", "mail_listed2"):
        code, text = r[k]
        assert code == 554 and text.startswith("5.7.1") and "bl.test" in text, r
        assert "192.0.2.1" in text, r
    assert r["xf_tempf"][0] == 250, r
    code, text = r["mail_tempf"]
    assert code == 450 and text.startswith("4.7.1") and "tf.test" in text, r
    assert r["xf_sc"][0] == 250, r
    assert r["mail_sc"][0] == 250 and r["rcpt_sc"][0] == 250 and r["data_sc"][0] == 250, r
    assert r["pl_xf_listed"][0] == 250, r
    code, text = r["pl_mail_listed"]
    assert code == 554 and b"bl.test" in text and b"192.0.2.3" in text, r
    assert r["pl_xc_ok"][0] == 220, r
    assert r["pl_ehlo_ok"][0] == 250 and b"PIPELINING" in r["pl_ehlo_ok"][1], r
    assert [c for c, _ in r["pl_xf_ok"]] == [250] * 4, r
    env.sink_wait(mid_ok)
    env.sink_wait(mid_sc)
    st1 = env.smtp_stats()
    # 192.0.2.{1,2,3,55,56,57} were in no worker's cache (TEMPF and SCORED
    # may be: earlier tests)
    assert st1["dnsbl_queries"] - st0["dnsbl_queries"] >= 6, (st0, st1)
    assert st1["dnsbl_listed"] - st0["dnsbl_listed"] >= 5, (st0, st1)
    # the known host itself is never looked up
    assert ub.queries(f"{rev(env.release_src)}.bl.test") == 0
    rows = env.wait_log(mid_sc, 1)
    assert rows[0]["client_ip"] == SCORED, rows
    assert rows[0]["verdicts"].get("dnsbl", {}).get("zone") == "sc.test", rows
    rows = env.wait_log(mid_ok, 1)
    assert rows[0]["client_ip"] == "192.0.2.55" and "dnsbl" not in rows[0]["verdicts"], rows
