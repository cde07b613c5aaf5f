# SPDX-License-Identifier: BSD-3-Clause
"""Helpers of the control-plane tests: mxgate-control with a fresh state
directory (its internal PostgreSQL created by the process itself), an
external PostgreSQL cluster started by the test, and clients (REST over
HTTPS with the generated certificate, mxgatectl, psql).

Every temporary directory and every PostgreSQL cluster is registered in
mxgtest's cleanup registry *before* it is created, so it is removed (the
cluster stopped with "pg_ctl stop -m immediate") even when a test fails,
is interrupted, or mxgate-control was killed and could not stop its own
cluster. Waiting is always polling a condition against a deadline.
"""

import struct
import contextlib
import http.client
import json
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

from mxgtest import paths
from mxgtest.cleanup import REGISTRY
from mxgtest.proc import Process

PG_BIN = "/usr/lib/postgresql/15/bin"
READY = "mxgate-control: ready"


def control_bin():
    return os.path.join(paths.build_dir(), "control", "mxgate-control")


def ctl_bin():
    return os.path.join(paths.build_dir(), "control", "mxgatectl")


def wait_until(cond, timeout=30.0, what="condition", interval=0.05):
    """Polls |cond| until it returns a true value (returned) or |timeout|
    seconds pass (TimeoutError naming |what|)."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise TimeoutError(f"no {what} within {timeout} s")
        time.sleep(interval)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_stop_immediate(pgdata):
    """Stops the cluster in |pgdata| as its owner, if it runs."""
    if not os.path.exists(os.path.join(pgdata, "postmaster.pid")):
        return
    owner = pwd.getpwuid(os.stat(pgdata).st_uid).pw_name
    subprocess.run(["runuser", "-u", owner, "--", f"{PG_BIN}/pg_ctl", "-D", pgdata,
                    "-m", "immediate", "-w", "-t", "30", "stop"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


class TempDir:
    """A 0755 directory under /tmp (the unprivileged PostgreSQL user must be
    able to traverse to its state directory), removed at exit together with
    any cluster left running inside it."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.path = None
        self._token = None

    def __enter__(self):
        self._token = REGISTRY.add(self._cleanup, f"temp dir {self.prefix}")
        self.path = tempfile.mkdtemp(prefix=self.prefix, dir="/tmp")
        os.chmod(self.path, 0o755)
        return self

    def __exit__(self, *exc):
        REGISTRY.run(self._token)

    def _cleanup(self):
        if not self.path or not os.path.isdir(self.path):
            return
        for root, dirs, _ in os.walk(self.path):
            if "PG_VERSION" in os.listdir(root):
                pg_stop_immediate(root)
                dirs[:] = []
        shutil.rmtree(self.path, ignore_errors=True)


class ExternalPg:
    """A PostgreSQL cluster owned by the postgres user, listening only on a
    Unix socket in its own temp dir: the "external database" of the tests."""

    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "extpg")
        self.data = os.path.join(self.dir, "data")
        self.sock = self.dir
        self.port = 5432
        self.dsn = f"host={self.sock} port={self.port} dbname=mxgext user=postgres"

    def _pg(self, *argv, check=True):
        r = subprocess.run(["runuser", "-u", "postgres", "--", *argv],
                           capture_output=True, text=True)
        if check and r.returncode != 0:
            log = ""
            if os.path.exists(os.path.join(self.dir, "log")):
                with open(os.path.join(self.dir, "log")) as f:
                    log = "".join(f.readlines()[-10:])
            raise RuntimeError(f"{argv[0]} failed ({r.returncode}): {r.stdout}{r.stderr}\n"
                               f"server log:\n{log}")
        return r

    def create(self):
        # 0755: mxgate-control runs as mxgate and must reach the socket
        os.mkdir(self.dir)
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, "postgres", "postgres")
        self._pg(f"{PG_BIN}/initdb", "-D", self.data, "-U", "postgres", "--no-locale",
                 "-E", "UTF8", "--auth-local=trust", "--auth-host=reject")
        self.start()
        self._pg(f"{PG_BIN}/psql", "-h", self.sock, "-p", str(self.port), "-U", "postgres",
                 "-d", "postgres", "-q", "-c", "CREATE DATABASE mxgext")
        return self

    def start(self):
        self._pg(f"{PG_BIN}/pg_ctl", "-D", self.data, "-l", os.path.join(self.dir, "log"),
                 "-w", "-t", "60", "-o",
                 f"-c listen_addresses='' -k {self.sock} -p {self.port}", "start")

    def postmaster_pid(self):
        try:
            with open(os.path.join(self.data, "postmaster.pid")) as f:
                return int(f.readline())
        except (FileNotFoundError, ValueError):
            return None

    def kill(self):
        """SIGKILLs the postmaster and every backend: the database dies
        without a chance to say goodbye. Returns once all are gone."""
        pm = self.postmaster_pid()
        assert pm, "external PostgreSQL is not running"
        kids = subprocess.run(["pgrep", "-P", str(pm)], capture_output=True,
                              text=True).stdout.split()
        pids = [pm] + [int(k) for k in kids]
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass

        def gone():
            return all(not os.path.exists(f"/proc/{p}") or
                       open(f"/proc/{p}/stat").read().split()[2] == "Z" for p in pids)
        wait_until(gone, 30, "death of the PostgreSQL processes")
        # A killed postmaster leaves postmaster.pid behind. Where PID 1 does
        # not reap orphans (containers) its zombie keeps the PID alive and
        # PostgreSQL would refuse to start ("another postmaster running"):
        # remove the stale locks as an operator would after a crash.
        os.unlink(os.path.join(self.data, "postmaster.pid"))
        lock = os.path.join(self.sock, f".s.PGSQL.{self.port}.lock")
        if os.path.exists(lock):
            os.unlink(lock)

    def psql(self, sql):
        return self._pg(f"{PG_BIN}/psql", "-h", self.sock, "-p", str(self.port), "-U",
                        "postgres", "-d", "mxgext", "-At", "-c", sql).stdout.strip()


class Control:
    """One mxgate-control process with its configuration and clients."""

    def __init__(self, tmp, database="internal", extra=""):
        self.tmp = tmp
        self.state = os.path.join(tmp, "state")
        self.conf = os.path.join(tmp, "mxgate.conf")
        self.port = free_port()
        self.pg_port = 5432
        with open(self.conf, "w") as f:
            f.write("[dataplane]\nworkers = 1\n\n"   # not ours: must be left alone
                    "[control]\n"
                    f"state_dir = {self.state}\n"
                    f"database = \"{database}\"\n"
                    f"api_listen = 127.0.0.1:{self.port}\n"
                    f"pg_port = {self.pg_port}\n"
                    "node_name = testnode\n" + extra)
        self.proc = None

    # lifecycle ---------------------------------------------------------------
    def start(self, timeout=120):
        if not os.access(control_bin(), os.X_OK):
            pytest.skip(f"{control_bin()} not built (MXG_BUILD=build-ctl?)")
        self.proc = Process([control_bin(), "--config", self.conf],
                            name="mxgate-control",
                            log_path=os.path.join(self.tmp, "control.log"))
        self.proc.start()
        self.proc.wait_for_line(READY, timeout=timeout)
        return self

    def stop(self):
        rc = self.proc.stop(timeout=60)
        return rc

    def stderr(self):
        return self.proc.output("stderr")

    # clients -----------------------------------------------------------------
    @property
    def token(self):
        with open(os.path.join(self.state, "admin.token")) as f:
            return f.read().strip()

    def api(self, method, path, body=None, token=True, raw=None):
        """Returns (status, parsed JSON or None)."""
        ctx = ssl.create_default_context(cafile=os.path.join(self.state, "tls", "api.crt"))
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=30)
        headers = {}
        if token is True:
            headers["Authorization"] = f"Bearer {self.token}"
        elif token:
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            conn.request(method, "/api/v1" + path, body=data, headers=headers)
            r = conn.getresponse()
            text = r.read().decode()
        finally:
            conn.close()
        try:
            return r.status, json.loads(text)
        except ValueError:
            return r.status, None

    def ctl(self, *args, stdin=None):
        """Runs mxgatectl against this instance; returns CompletedProcess."""
        if not os.access(ctl_bin(), os.X_OK):
            pytest.skip(f"{ctl_bin()} not built")
        return subprocess.run([ctl_bin(), "--config", self.conf, *args], input=stdin,
                              capture_output=True, text=True, timeout=60)

    def psql(self, sql):
        """Runs |sql| on the internal cluster's database (as its superuser)."""
        r = subprocess.run([f"{PG_BIN}/psql", "-h", os.path.join(self.state, "run"), "-p",
                            str(self.pg_port), "-U", "mxgate", "-d", "mxgate", "-At",
                            "-v", "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, text=True, check=True)
        return r.stdout.strip()

    def status(self):
        code, j = self.api("GET", "/status")
        assert code == 200, (code, j)
        return j


# ------------------------------------------------------------------ channel
# A fake dataplane on mxgate-control's channel socket (common/mxg_chan.h):
# what test_ctl_chan, test_blocklist and test_dnsbl talk to it with.

HELLO, POLICY, POLICY_ACK, TRACK, QUAR, QUAR_ACK = range(1, 7)


def frame(ftype, payload):
    if isinstance(payload, (dict, list)):
        payload = json.dumps(payload).encode()
    return struct.pack(">IB", len(payload) + 1, ftype) + payload


class Chan:
    """One dataplane connection."""

    def __init__(self, path, node="dp-test", hello=True):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.buf = b""
        self.node = node
        if hello:
            self.send(HELLO, {"node": node, "pid": os.getpid(), "version": "test",
                              "policy_version": -1})

    def close(self):
        self.s.close()

    def send(self, ftype, payload):
        self.s.sendall(frame(ftype, payload))

    def recv(self, timeout=30.0):
        """The next frame as (type, payload); None if the peer closed."""
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 5:
                n, = struct.unpack(">I", self.buf[:4])
                if len(self.buf) >= 4 + n:
                    t, p = self.buf[4], self.buf[5:4 + n]
                    self.buf = self.buf[4 + n:]
                    return t, p
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no frame from mxgate-control")
            self.s.settimeout(left)
            d = self.s.recv(1 << 20)
            if not d:
                return None
            self.buf += d

    def recv_type(self, ftype, timeout=30.0):
        """Skips frames of other types (a policy may arrive at any time)."""
        deadline = time.monotonic() + timeout
        while True:
            f = self.recv(max(0.01, deadline - time.monotonic()))
            assert f is not None, "connection closed by mxgate-control"
            if f[0] == ftype:
                return f[1]

    def policy(self, timeout=30.0):
        doc = json.loads(self.recv_type(POLICY, timeout))
        assert doc["format"] == "mxgate-policy"
        return doc

    def quar(self, req, meta, msg, timeout=30.0):
        m = json.dumps(meta).encode()
        self.send(QUAR, struct.pack(">QI", req, len(m)) + m + msg)
        p = self.recv_type(QUAR_ACK, timeout)
        rid, status, qid = struct.unpack(">QBQ", p[:17])
        assert rid == req
        return status, qid, p[17:].decode()

    def closed(self, timeout=10.0):
        """True once mxgate-control closed the connection."""
        try:
            while True:
                if self.recv(timeout) is None:
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True


@contextlib.contextmanager
def channel_control(prefix):
    """mxgate-control (internal PostgreSQL) in a fresh state directory, with
    .sock set to its channel socket; stopped cleanly (exit 0) at the end."""
    with TempDir(prefix) as t:
        c = Control(t.path).start()
        c.sock = os.path.join(c.state, "run", "channel.sock")
        try:
            yield c
        finally:
            assert c.stop() == 0
