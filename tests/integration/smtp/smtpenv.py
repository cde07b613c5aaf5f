# SPDX-License-Identifier: BSD-3-Clause
"""Helpers of the SMTP proxy integration tests (issue 4).

  SmtpGateway  mxgate-dataplane on net_tap (namespace A) with an [smtp]
               section; the tap's kernel side (198.18.N.2) hosts the
               clients and the downstream peers, reached by the gateway
               (198.18.N.1) through the tap.
  PySink       a scripted downstream SMTP server (threads, in namespace A):
               records every message byte-exact (after dot-unstuffing),
               the envelope and XFORWARD, and can answer 4xx/5xx, reset
               mid-DATA or hold its final reply until the test releases it.
  Postfix      a private Postfix instance (own config, queue and data
               directories; `postfix -c DIR start-fg` as a managed process
               logging to stdout), as upstream relay or downstream Maildir.
  in_ns        run a callable inside the namespace (smtplib, raw sockets).
  RawSmtp      a raw client on a connected socket: exact replies, PROXY
               headers and anything else smtplib will not send.

Everything is registered for cleanup by mxgtest before it is created, or
is a thread that dies with its socket. No sleeps are used to synchronise:
waits are on conditions with deadlines.
"""

import os
import pwd
import grp
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

from mxgtest import net
from mxgtest.cleanup import REGISTRY
from mxgtest.proc import Process
from mxgtest.topo import TapGateway

SMTP_DEFAULTS = {
    "hostname": "gw.mxgate.test",
    "proxy_smtp_server_ip": "all",
    "downstream_smtp_server_port": 10026,
    "downstream_tls": "none",
}


class SmtpGateway(TapGateway):
    """TapGateway whose config carries an [smtp] section (|smtp| overrides
    SMTP_DEFAULTS; a value None drops the key) and, with |scan|, a [scan]
    section of those keys ({"enable": "no"})."""

    def __init__(self, binary, workdir, smtp=None, scan=None, **kw):
        super().__init__(binary, workdir, **kw)
        opts = dict(SMTP_DEFAULTS)
        opts["downstream_smtp_server_addr"] = self.peer4
        opts.update(smtp or {})
        self.smtp_opts = {k: v for k, v in opts.items() if v is not None}
        self.scan_opts = dict(scan or {})

    def config(self, pmd, devargs):
        cfg = super().config(pmd, devargs)
        cfg.extra_lines += ["", "[smtp]"] + [f"{k} = {v}" for k, v in self.smtp_opts.items()]
        if self.scan_opts:
            cfg.extra_lines += ["", "[scan]"] + [f"{k} = {v}"
                                                 for k, v in self.scan_opts.items()]
        return cfg

    def _configure_peer(self):
        super()._configure_peer()
        # Extra client addresses for the relay-control tests; the peer's
        # own address .2 stays the default source.
        for host in (3, 20, 42, 50, 60):
            self.ns.add_addr(self.peer_dev, f"198.18.{self.subnet}.{host}/24")
        self.ns.add_addr(self.peer_dev, f"2001:db8:{self.subnet:x}::12/64")
        self.ns.ip("link", "set", "lo", "up")

    def smtp_stats(self):
        return self.dp.query("/mxgate/smtp")


def in_ns(ns, fn, *a, **kw):
    return net.in_netns(str(ns), fn, *a, **kw)


# ------------------------------------------------------------------ PySink

class SinkMessage:
    def __init__(self):
        self.mail_from = None
        self.mail_args = ""
        self.rcpts = []
        self.data = b""
        self.xforward = []
        self.tls = False
        self.conn_id = None


class PySink:
    """Downstream SMTP server. Behaviour knobs (attributes, change any time):
      rcpt_reply   {address: "550 5.1.1 no such user"} per recipient
      eod_reply    final reply to the end of data ("250 2.0.0 Ok" default)
      reset_after  close with RST after this many content bytes (None: no)
      hold         threading.Event: the final reply waits until it is set
      chunking     offer CHUNKING
      tls_ctx      ssl.SSLContext: offer STARTTLS
      permissive   end DATA at a "." line with any line ending (the kind
                   of receiver SMTP smuggling exploits)
    """

    def __init__(self, ns, addr, port, family=socket.AF_INET):
        self.ns, self.addr, self.port, self.family = ns, addr, port, family
        self.rcpt_reply = {}
        self.eod_reply = "250 2.0.0 Ok: queued"
        self.reset_after = None
        self.hold = None
        self.chunking = False
        self.tls_ctx = None
        self.permissive = False
        self.messages = []
        self.connections = 0
        self.commands = []
        self.cond = threading.Condition()
        self.sock = None
        self.clients = []
        self._closing = False

    def start(self):
        def mk():
            s = socket.socket(self.family, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.addr, self.port))
            s.listen(128)
            return s
        self.sock = in_ns(self.ns, mk)
        self._token = REGISTRY.add(self.stop, f"pysink {self.addr}:{self.port}")
        threading.Thread(target=self._accept_loop, daemon=True, name="pysink").start()
        return self

    def stop(self):
        self._closing = True
        with self.cond:
            clients, self.clients = self.clients, []
        for c in clients:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self.sock:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        REGISTRY.forget(self._token)

    def wait_messages(self, n, timeout=30.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"sink: {len(self.messages)} of {n} messages")
                self.cond.wait(left)
            return list(self.messages)

    def _accept_loop(self):
        while not self._closing:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.cond:
                self.connections += 1
                cid = self.connections
                self.clients.append(c)
            threading.Thread(target=self._session, args=(c, cid), daemon=True).start()

    def _session(self, c, cid):
        try:
            self._serve(c, cid)
        except (OSError, ValueError, ssl.SSLError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _reset(self, c):
        import struct
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()

    def _serve(self, c, cid):
        f = c.makefile("rb")
        tls = False

        def send(line):
            c.sendall(line.encode() + b"\r\n")

        send("220 sink.test ESMTP")
        msg = None
        while True:
            line = f.readline()
            if not line:
                return
            if not line.endswith(b"\r\n"):
                send("500 5.5.2 bare LF")
                continue
            cmd = line[:-2].decode("utf-8", "replace")
            with self.cond:
                self.commands.append(cmd)
            verb = cmd.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                ext = ["PIPELINING", "SIZE 104857600", "8BITMIME", "SMTPUTF8",
                       "ENHANCEDSTATUSCODES", "DSN", "XFORWARD NAME ADDR PORT PROTO HELO SOURCE"]
                if self.chunking:
                    ext.append("CHUNKING")
                if self.tls_ctx and not tls:
                    ext.append("STARTTLS")
                lines = ["sink.test"] + ext
                for i, e in enumerate(lines):
                    send(f"250{'-' if i + 1 < len(lines) else ' '}{e}")
            elif verb == "STARTTLS" and self.tls_ctx:
                send("220 2.0.0 go ahead")
                c = self.tls_ctx.wrap_socket(c, server_side=True)
                f = c.makefile("rb")
                tls = True
            elif verb == "XFORWARD":
                with self.cond:
                    pending_xf = getattr(self, "_xf", {})
                    pending_xf.setdefault(cid, []).append(cmd[9:])
                    self._xf = pending_xf
                send("250 2.0.0 Ok")
            elif verb == "MAIL":
                msg = SinkMessage()
                msg.conn_id = cid
                msg.tls = tls
                arg = cmd[10:]
                msg.mail_from = arg[arg.index("<") + 1:arg.index(">")]
                msg.mail_args = arg[arg.index(">") + 1:].strip()
                with self.cond:
                    msg.xforward = getattr(self, "_xf", {}).pop(cid, [])
                send("250 2.1.0 Ok")
            elif verb == "RCPT":
                arg = cmd[8:]
                a = arg[arg.index("<") + 1:arg.index(">")]
                r = self.rcpt_reply.get(a)
                if r:
                    send(r)
                else:
                    msg.rcpts.append(a)
                    send("250 2.1.5 Ok")
            elif verb == "DATA":
                if not msg or not msg.rcpts:
                    send("554 5.5.1 no valid recipients")
                    continue
                send("354 go ahead")
                data = bytearray()
                while True:
                    l = f.readline()
                    if not l:
                        return
                    if l == b".\r\n" or (self.permissive and l.rstrip(b"\r\n") == b"."):
                        break
                    if l.startswith(b"."):
                        l = l[1:]
                    data += l
                    if self.reset_after is not None and len(data) >= self.reset_after:
                        self._reset(c)
                        return
                if not self._finish(msg, bytes(data), send):
                    return
                msg = None
            elif verb == "BDAT":
                parts = cmd.split()
                n = int(parts[1])
                chunk = f.read(n)
                if msg is not None:
                    msg.data += chunk
                    if self.reset_after is not None and len(msg.data) >= self.reset_after:
                        self._reset(c)
                        return
                if len(parts) > 2:
                    if not msg or not msg.rcpts:
                        send("554 5.5.1 no valid recipients")
                        continue
                    if not self._finish(msg, msg.data, send):
                        return
                    msg = None
                else:
                    send(f"250 2.0.0 {n} octets")
            elif verb == "RSET":
                msg = None
                send("250 2.0.0 Ok")
            elif verb == "QUIT":
                send("221 2.0.0 Bye")
                return
            elif verb == "NOOP":
                send("250 2.0.0 Ok")
            else:
                send("502 5.5.1 no")

    def _finish(self, msg, data, send):
        msg.data = data
        reply = self.eod_reply
        if reply.startswith("2"):
            with self.cond:
                self.messages.append(msg)
                self.cond.notify_all()
        else:
            with self.cond:
                self.rejected = getattr(self, "rejected", 0) + 1
                self.cond.notify_all()
        if self.hold is not None:
            self.hold.wait(60)
        if reply == "RESET":
            return False
        send(reply)
        return True


# ------------------------------------------------------------------ Postfix

MASTER_CF = """\
{listen} inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """A private Postfix instance: `postfix -c DIR start-fg` as a managed
    process (dies with the harness), logging to stdout. DIR is a fresh
    0755 directory under /tmp (Postfix's daemons run as user postfix and
    must traverse it; pytest's tmp dirs are 0700), removed at stop.
    |listen| is the smtpd endpoint ("198.18.1.2:2525"); |main| extra
    main.cf settings; "{dir}" in a value is replaced by DIR; |master|
    extra master.cf text appended to MASTER_CF (services, -o lines)."""

    def __init__(self, ns, listen, main, master=""):
        self.ns, self.listen = ns, listen
        self.main = main
        self.master = master
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="mxgpf-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        if not os.environ.get("MXG_KEEP_LOGS"):
            REGISTRY.add(lambda: shutil.rmtree(self.dir, ignore_errors=True),
                         f"postfix dir {self.dir}")

    def postconf_cmd(self):
        return ["postfix", "-c", self.dir]

    def start(self, timeout=60.0):
        os.makedirs(self.dir, exist_ok=True)
        for d in ("queue", "data"):
            os.makedirs(os.path.join(self.dir, d), exist_ok=True)
        pf = pwd.getpwnam("postfix")
        os.chown(os.path.join(self.dir, "data"), pf.pw_uid, pf.pw_gid)
        main = {
            "compatibility_level": "3.6",
            "queue_directory": os.path.join(self.dir, "queue"),
            "data_directory": os.path.join(self.dir, "data"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "inet_protocols": "ipv4",
            "inet_interfaces": "all",
            "mynetworks": "127.0.0.0/8 198.18.0.0/15",
            "mydestination": "",
            "maillog_file": "/dev/stdout",
            "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
            "alias_maps": "",
            "alias_database": "",
            "biff": "no",
            "smtpd_relay_restrictions": "permit_mynetworks, reject",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "smtp_connect_timeout": "5s",
            "smtp_data_done_timeout": "20s",
        }
        main.update({k: str(v).replace("{dir}", self.dir) for k, v in self.main.items()})
        with open(os.path.join(self.dir, "main.cf"), "w") as f:
            for k, v in main.items():
                f.write(f"{k} = {v}\n")
        with open(os.path.join(self.dir, "master.cf"), "w") as f:
            f.write(MASTER_CF.format(listen=self.listen))
            f.write(self.master.replace("{dir}", self.dir))
        self.proc = Process(["postfix", "-c", self.dir, "start-fg"], name=f"postfix:{self.listen}",
                            netns=str(self.ns),
                            log_path=os.path.join(self.dir, "postfix.log"))
        self.proc.start()
        self._token = REGISTRY.add(self.stop, f"postfix {self.dir}")
        self.proc.wait_for_line(__import__("re").compile(r"daemon started"), timeout=timeout)
        return self

    def log(self):
        return self.proc.output("stdout") + "\n" + self.proc.output("stderr")

    def wait_log(self, regex, timeout=30.0, start=0):
        import re
        return self.proc.wait_for_line(re.compile(regex), timeout=timeout, start=start)

    def log_lines(self):
        return len(self.proc.lines["stdout"])

    def flush(self):
        net.run(["postqueue", "-c", self.dir, "-f"], netns=str(self.ns), check=False)

    def queue_count(self):
        n = 0
        for sub in ("incoming", "active", "deferred", "maildrop", "hold"):
            for _, _, files in os.walk(os.path.join(self.dir, "queue", sub)):
                n += len(files)
        return n

    def stop(self):
        if self.proc is not None:
            net.run(["postfix", "-c", self.dir, "stop"], netns=str(self.ns), check=False)
            self.proc.stop(timeout=15)
            self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        REGISTRY.forget(self._token)


def maildir_files(path):
    out = []
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        if os.path.isdir(d):
            out += [os.path.join(d, x) for x in sorted(os.listdir(d))]
    return out


def postfix_ids():
    pf = pwd.getpwnam("postfix")
    return pf.pw_uid, grp.getgrnam("postfix").gr_gid


def have(binary):
    return shutil.which(binary) is not None


def self_signed(dirpath, cn="sink.test"):
    key, crt = os.path.join(dirpath, "k.pem"), os.path.join(dirpath, "c.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                    "-days", "2", "-subj", f"/CN={cn}"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return crt, key


def need(binary):
    """Skips the calling test when |binary| is not installed."""
    import pytest
    if shutil.which(binary) is None:
        pytest.skip(f"{binary} not installed (scripts/deps.sh installs it)")


class RawSmtp:
    """A raw SMTP client socket (already connected): exact replies, and any
    bytes first (a PROXY header) - what smtplib will not do."""

    def __init__(self, sock):
        self.s = sock
        self.f = sock.makefile("rb")

    def send(self, line):
        self.s.sendall(line.encode() + b"\r\n")

    def reply(self):
        """The whole (multi-line) reply as one string, lines joined by \\n."""
        lines = []
        while True:
            l = self.f.readline()
            if not l:
                raise ConnectionError(f"closed after {lines}")
            lines.append(l.decode().rstrip("\r\n"))
            if len(l) < 4 or l[3:4] == b" ":
                return "\n".join(lines)

    def cmd(self, line):
        self.send(line)
        return self.reply()

    def closed(self):
        """True once the server closed the connection (EOF)."""
        return self.f.read() == b""

    def close(self):
        self.f.close()
        self.s.close()
