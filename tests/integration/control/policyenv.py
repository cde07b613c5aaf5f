# SPDX-License-Identifier: BSD-3-Clause
"""Environment of the end-to-end policy tests (issue 6): mxgate-control
with its internal PostgreSQL, mxgate-dataplane on net_tap in a namespace
connected to it over the control channel, and a PySink downstream.

  PolicyEnv      the whole set-up as one context manager (ExitStack: every
                 part is torn down, in reverse order, even when a later part
                 fails to start; each part also registers itself in
                 mxgtest's cleanup REGISTRY, so a signal or a crash of the
                 harness still removes namespaces, processes and clusters).
  NsForwarder    mxgate-control lives in the root network namespace, the
                 dataplane and the sink on a tap inside a namespace that has
                 no route to the root one. The forwarder listens on
                 127.0.0.1:PORT in the root namespace and opens, for every
                 connection it accepts, a connection from inside the test
                 namespace (bound to a chosen source address) to the real
                 target. [control] release_smtp points at one (-> the
                 dataplane's reprocessing port, source address in the
                 dataplane's known_hosts), notify_smtp at another (-> the
                 sink, like a downstream MTA on 127.0.0.1:10026 would be).
  SmtpClient     one persistent SMTP session from inside the namespace that
                 returns the server's replies instead of raising.

Both processes read the same [control] section (the dataplane's config file
carries a verbatim copy of the control's: channel_socket, state_dir,
node_name are what the dataplane reads from it).

Waiting is always a condition polled against a deadline (ctlenv.wait_until).
"""

import base64
import contextlib
import json
import os
import pwd
import smtplib
import socket
import subprocess
import sys
import threading
import time
import uuid

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(_HERE, "..", "smtp"))

from mxgtest.cleanup import REGISTRY  # noqa: E402
from mxgtest.proc import Process  # noqa: E402

from ctlenv import PG_BIN, Control, TempDir, control_bin, pg_stop_immediate, wait_until  # noqa: E402,F401
from smtpenv import PySink, SmtpGateway, in_ns  # noqa: E402

LOCAL_DOMAIN = "local.test"
NOTIFY_FROM = f"postmaster@{LOCAL_DOMAIN}"


# ------------------------------------------------------------------ forwarder

class NsForwarder:
    """127.0.0.1:<port> (root namespace) -> |dst| reached from inside |ns|
    with source address |src|. |ns| may be set after start() (the namespace
    exists only once the gateway runs); connections accepted before are
    closed at once (the client sees a refused session and may retry)."""

    def __init__(self, name, dst=None, src=None):
        self.name, self.dst, self.src = name, dst, src
        self.ns = None
        self.sock = None
        self.port = None
        self.accepted = 0
        self.failed = 0
        self._conns = []
        self._lock = threading.Lock()
        self._closing = False
        self._token = None

    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        self.sock, self.port = s, s.getsockname()[1]
        self._token = REGISTRY.add(self.stop, f"forwarder {self.name} 127.0.0.1:{self.port}")
        threading.Thread(target=self._accept_loop, daemon=True, name=f"fwd-{self.name}").start()
        return self

    def stop(self):
        self._closing = True
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
            self.sock = None
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.close()
            except OSError:
                pass
        if self._token is not None:
            REGISTRY.forget(self._token)
            self._token = None

    def _accept_loop(self):
        while not self._closing:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._handle, args=(c,), daemon=True).start()

    def _handle(self, c):
        def connect():
            u = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if self.src:
                u.bind((self.src, 0))
            u.settimeout(30)
            u.connect(self.dst)
            u.settimeout(None)
            return u
        try:
            if self.ns is None or self.dst is None:
                raise OSError("forwarder not wired yet")
            u = in_ns(self.ns, connect)
        except OSError:
            self.failed += 1
            c.close()
            return
        with self._lock:
            self._conns += [c, u]
        a = threading.Thread(target=self._pump, args=(c, u), daemon=True)
        a.start()
        self._pump(u, c)
        a.join(60)
        for x in (c, u):
            try:
                x.close()
            except OSError:
                pass

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                b = src.recv(65536)
                if not b:
                    break
                dst.sendall(b)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


# ------------------------------------------------------------------ gateway

class PolicyGateway(SmtpGateway):
    """SmtpGateway whose config also carries the [control] section."""

    def __init__(self, binary, workdir, control_lines, **kw):
        super().__init__(binary, workdir, **kw)
        self.control_lines = list(control_lines)

    def config(self, pmd, devargs):
        cfg = super().config(pmd, devargs)
        cfg.extra_lines += [""] + self.control_lines
        return cfg

    def control_stats(self):
        return self.dp.query("/mxgate/control")


def control_section(conf_path):
    """The [control] section of |conf_path|, verbatim (header included)."""
    out, inside = [], False
    with open(conf_path) as f:
        for line in f.read().splitlines():
            if line.strip().startswith("["):
                inside = line.strip() == "[control]"
            if inside:
                out.append(line)
    return out


# ------------------------------------------------------------------ SMTP client

class SmtpClient:
    """A persistent session from inside |ns| (created there; the socket keeps
    its namespace). send() returns the final (code, text) of the message,
    or of the first refused step; the session stays usable after a refusal
    (RSET)."""

    def __init__(self, ns, host, port=25, helo="client.test", timeout=60):
        self.ns = ns

        def mk():
            return smtplib.SMTP(host, port, local_hostname=helo, timeout=timeout)
        self.s = in_ns(ns, mk)
        code, msg = self.s.ehlo()
        assert code == 250, (code, msg)
        self.sent = 0

    def send(self, sender, rcpts, data):
        s = self.s
        code, msg = s.mail(sender)
        if code != 250:
            s.rset()
            return code, msg.decode(errors="replace")
        for r in rcpts:
            code, msg = s.rcpt(r)
            if code not in (250, 251):
                s.rset()
                return code, msg.decode(errors="replace")
        try:
            code, msg = s.data(data)
        except smtplib.SMTPDataError as e:   # refused at DATA (before 354)
            s.rset()
            return e.smtp_code, e.smtp_error.decode(errors="replace")
        self.sent += 1
        if code != 250:
            s.rset()
        return code, msg.decode(errors="replace")

    def close(self):
        try:
            self.s.quit()
        except (smtplib.SMTPException, OSError):
            try:
                self.s.close()
            except OSError:
                pass


# ------------------------------------------------------------------ messages

def new_msgid():
    return f"<{uuid.uuid4().hex}@e2e.mxgate.test>"


def headers(subject, sender, to, msgid, extra=()):
    h = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Message-ID: {msgid}",
         "Date: Sat, 28 Nov 2026 09:00:00 +0000"] + list(extra)
    return "".join(x + "\r\n" for x in h).encode()


def simple_message(subject, sender="a@ext.test", to=f"b@{LOCAL_DOMAIN}", body=None):
    """(message-id, bytes) of a one-part text message."""
    mid = new_msgid()
    body = body if body is not None else (b"Hello,\r\n\r\nthis is a test message.\r\n"
                                          b". a line starting with a dot\r\nBye.\r\n")
    return mid, headers(subject, sender, to, mid) + b"\r\n" + body


def multipart_message(subject, parts, sender="a@ext.test", to=f"b@{LOCAL_DOMAIN}",
                      boundary="=_mxg_e2e_b1"):
    """parts: [(part header bytes, part content bytes)]. Returns (message-id,
    bytes)."""
    mid = new_msgid()
    out = headers(subject, sender, to, mid, [
        "MIME-Version: 1.0",
        f"Content-Type: multipart/mixed; boundary=\"{boundary}\""]) + b"\r\n"
    out += b"This is a multi-part message in MIME format.\r\n"
    for h, c in parts:
        out += b"--" + boundary.encode() + b"\r\n" + h + b"\r\n" + c
        if not c.endswith(b"\r\n"):
            out += b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return mid, out


def b64_lines(data):
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def attachment_part(name, payload, ctype="application/octet-stream"):
    h = (f"Content-Type: {ctype}; name=\"{name}\"\r\n"
         f"Content-Disposition: attachment; filename=\"{name}\"\r\n"
         "Content-Transfer-Encoding: base64\r\n").encode()
    return h, b64_lines(payload)


def split_header(msg):
    i = msg.index(b"\r\n\r\n")
    return msg[:i + 2], msg[i + 2:]


def header_lines(head):
    """Header block -> list of unfolded lines (bytes, without CRLF)."""
    out = []
    for line in head.split(b"\r\n"):
        if not line:
            continue
        if line[:1] in (b" ", b"\t") and out:
            out[-1] += b"\r\n" + line
        else:
            out.append(line)
    return out


def header_value(msg, name):
    head, _ = split_header(msg)
    vals = [ln.split(b":", 1)[1].strip() for ln in header_lines(head)
            if ln.split(b":", 1)[0].strip().lower() == name.lower().encode()]
    return vals


# ------------------------------------------------------------------ environment

class PolicyEnv:
    """mxgate-control (internal PostgreSQL) + dataplane + sink. |subnet|
    chooses 198.18.N.0/24 inside the test's own namespace."""

    def __init__(self, dataplane_bin, workdir, subnet=7, smtp_extra=None, dataplane=None,
                 sink="py"):
        """|smtp_extra| adds [smtp] keys, |dataplane| [dataplane] keys;
        |sink| "py" (PySink: records every message) or "smtp-sink"
        (Postfix's, for benchmarks: records nothing)."""
        self.dataplane_bin, self.workdir, self.subnet = dataplane_bin, workdir, subnet
        self.smtp_extra, self.dataplane_opts, self.sink_kind = smtp_extra, dataplane, sink
        self.stack = contextlib.ExitStack()
        self.control = self.gw = self.sink = None
        self.release_src = f"198.18.{subnet}.60"
        self.client_ip = f"198.18.{subnet}.2"

    # life cycle ---------------------------------------------------------------
    def __enter__(self):
        try:
            self._setup()
        except BaseException:
            self.stack.close()
            raise
        return self

    def __exit__(self, *exc):
        self.stack.close()

    def _setup(self):
        st = self.stack
        tmp = st.enter_context(TempDir("mxgpol")).path
        self.tmp = tmp
        self.fwd_release = NsForwarder("release").start()
        st.callback(self.fwd_release.stop)
        self.fwd_notify = NsForwarder("notify").start()
        st.callback(self.fwd_notify.stop)
        state = os.path.join(tmp, "state")
        self.channel_socket = os.path.join(state, "run", "channel.sock")
        extra = (f"channel_socket = {self.channel_socket}\n"
                 f"release_smtp = 127.0.0.1:{self.fwd_release.port}\n"
                 f"notify_smtp = 127.0.0.1:{self.fwd_notify.port}\n"
                 f"notify_from = {NOTIFY_FROM}\n")
        self.control = Control(tmp, extra=extra)
        assert self.control.state == state
        self.control.start()
        st.callback(self.control.stop)
        # Scope (inbound/outbound) is decided by the policy's local domains:
        # the whole configuration goes back in with local.test added.
        code, doc = self.control.api("GET", "/config/export")
        assert code == 200, (code, doc)
        doc["local_domains"] = [LOCAL_DOMAIN]
        code, j = self.control.api("POST", "/config/import", doc)
        assert code == 200, (code, j)
        smtp = {
            # the peer's own address may relay (outbound mail); anyone may
            # send to local.test (inbound)
            "smtp_allow_client_ip": self.client_ip,
            "local_domains": LOCAL_DOMAIN,
            # the reprocessing port takes mail from known hosts only: the
            # release forwarder's source address
            "known_hosts": self.release_src,
            "downstream_reply_timeout": 20,
            "downstream_data_timeout": 20,
            # the churn test keeps two sessions busy for thousands of
            # messages: above the default 10,000 commands per session,
            # whose 421 would end them
            "max_commands": 1000000,
        }
        smtp.update(self.smtp_extra or {})
        kw = {"dataplane": self.dataplane_opts} if self.dataplane_opts else {}
        self.gw = PolicyGateway(self.dataplane_bin, os.path.join(tmp, "gw"),
                                control_section(self.control.conf), smtp=smtp,
                                subnet=self.subnet, **kw)
        os.makedirs(self.gw.workdir, exist_ok=True)
        st.enter_context(self.gw)
        if self.sink_kind == "py":
            self.sink = st.enter_context(PySink(self.gw.ns, self.gw.peer4, 10026))
        else:
            self.sink = Process(["smtp-sink", "-u", "postfix", f"{self.gw.peer4}:10026", "1024"],
                                name="smtp-sink", netns=str(self.gw.ns))
            self.sink.start()
            st.callback(self.sink.stop)
        self.fwd_release.ns, self.fwd_release.dst = self.gw.ns, (self.gw.gw4, 10024)
        self.fwd_release.src = self.release_src
        self.fwd_notify.ns, self.fwd_notify.dst = self.gw.ns, (self.gw.peer4, 10026)

    # state --------------------------------------------------------------------
    def ctl_stats(self):
        return self.gw.control_stats()

    def smtp_stats(self):
        return self.gw.smtp_stats()

    def control_version(self):
        return self.control.status()["policy_version"]

    def sync_policy(self, timeout=30):
        """Waits until the dataplane is connected and runs the control's
        current policy version; returns that version."""
        v = self.control_version()

        def ok():
            s = self.ctl_stats()
            return s["connected"] == 1 and s["policy_version"] == v
        wait_until(ok, timeout, f"dataplane running policy version {v} "
                   f"(last telemetry: {self._last_ctl()})")
        return v

    def _last_ctl(self):
        try:
            return self.ctl_stats()
        except Exception as e:  # noqa: BLE001 -- for the message only
            return repr(e)

    def add_rule(self, rule):
        code, j = self.control.api("POST", "/policies", rule)
        assert code == 201, (code, j)
        return j["id"], self.sync_policy()

    def rule_id(self, name):
        code, rules = self.control.api("GET", "/policies")
        assert code == 200
        ids = [r["id"] for r in rules if r["name"] == name]
        return ids[0] if ids else None

    # SMTP ---------------------------------------------------------------------
    def client(self, port=25):
        return SmtpClient(self.gw.ns, self.gw.gw4, port)

    def send(self, sender, rcpts, data, port=25):
        c = self.client(port)
        try:
            return c.send(sender, rcpts, data)
        finally:
            c.close()

    def sink_msgs(self, msgid):
        key = f"Message-ID: {msgid}\r\n".encode()
        with self.sink.cond:
            return [m for m in self.sink.messages if key in split_header(m.data)[0]]

    def sink_wait(self, msgid, n=1, timeout=30):
        return wait_until(lambda: (lambda l: l if len(l) >= n else None)(self.sink_msgs(msgid)),
                          timeout, f"{n} sink message(s) with {msgid}")

    # database -----------------------------------------------------------------
    def log_rows(self, msgid):
        code, rows = self.control.api("GET", "/logs?message_id=" + _q(msgid))
        assert code == 200, (code, rows)
        return rows

    def wait_log(self, msgid, n, timeout=30):
        return wait_until(lambda: (lambda r: r if len(r) >= n else None)(self.log_rows(msgid)),
                          timeout, f"{n} message_log row(s) for {msgid}")

    def quarantine_ids(self, msgid):
        out = self.control.psql("SELECT id FROM quarantine WHERE message_id = "
                                f"'{_sql(msgid)}' ORDER BY id")
        return [int(x) for x in out.split()]

    def quarantine_row(self, qid):
        code, j = self.control.api("GET", f"/quarantine/{qid}")
        assert code == 200, (code, j)
        return j

    # PostgreSQL ---------------------------------------------------------------
    @property
    def pgdata(self):
        return os.path.join(self.control.state, "pgdata")

    def pg_stop(self):
        """Stops the internal cluster at once (-m immediate), as a crash
        would; returns when the postmaster is gone."""
        pg_stop_immediate(self.pgdata)
        assert not os.path.exists(os.path.join(self.pgdata, "postmaster.pid"))

    def pg_start(self):
        """Starts the internal cluster again, as its owner, with the
        settings mxgate-control wrote (pgdata/mxgate.conf is included)."""
        owner = pwd.getpwuid(os.stat(self.pgdata).st_uid).pw_name
        log = os.path.join(self.control.state, "log", "pg_restart.log")
        r = subprocess.run(["runuser", "-u", owner, "--", f"{PG_BIN}/pg_ctl", "-D",
                            self.pgdata, "-l", log, "-w", "-t", "60", "start"],
                           capture_output=True, text=True, timeout=90)
        assert r.returncode == 0, (r.stdout, r.stderr)

    # diagnostics --------------------------------------------------------------
    def logs(self, n=60):
        out = []
        if self.gw and self.gw.dp:
            out.append("--- dataplane ---\n" + self.gw.dp.tail(n))
        if self.control and self.control.proc:
            out.append("--- mxgate-control stderr ---\n" +
                       "\n".join(self.control.stderr().splitlines()[-n:]))
        return "\n".join(out)


def _q(s):
    from urllib.parse import quote
    return quote(s, safe="")


def _sql(s):
    return s.replace("'", "''")


def notifier_linked():
    """True when mxgate-control carries the notification module (a weak,
    undefined ctl_notify_submit means ctl_chan.c skips notifications)."""
    r = subprocess.run(["nm", control_bin()], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        parts = line.split()
        if parts and parts[-1] == "ctl_notify_submit":
            return parts[-2] in ("T", "t")
    return False


def jdump(x):
    return json.dumps(x, indent=1, default=str)


def now():
    return time.monotonic()
