"""Generic peer-process manager.

A Process runs one command (optionally inside a namespace), in its own
session, with a parent-death signal (setpriv --pdeathsig) so it dies with
the harness even on SIGKILL. Two reader threads collect stdout and stderr
line by line (and copy them to a log file); waiting for a line or for exit
is event-driven through a condition variable, never a sleep.
"""

import os
import signal
import subprocess
import threading
import time

from .cleanup import REGISTRY


class ProcessExited(RuntimeError):
    pass


class Process:
    def __init__(self, argv, name=None, netns=None, env=None, cwd=None, log_path=None,
                 stdin=subprocess.DEVNULL):
        self.argv = [str(a) for a in argv]
        self.name = name or os.path.basename(self.argv[0])
        self.netns = netns
        self.env = env
        self.cwd = cwd
        self.log_path = log_path
        self.stdin = stdin
        self.popen = None
        self.lines = {"stdout": [], "stderr": []}
        self.returncode = None
        self.killed = False
        self._cond = threading.Condition()
        self._eof = 0
        self._readers = []
        self._log = None
        self._token = None

    def __repr__(self):
        return f"<Process {self.name} pid={self.pid} rc={self.returncode}>"

    @property
    def pid(self):
        return self.popen.pid if self.popen else None

    # lifecycle ------------------------------------------------------------
    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def full_argv(self):
        argv = ["setpriv", "--pdeathsig", "TERM", "--"]
        if self.netns is not None:
            argv += ["ip", "netns", "exec", str(self.netns)]
        return argv + self.argv

    def start(self):
        self._token = REGISTRY.add(self._cleanup, f"process {self.name}")
        if self.log_path:
            self._log = open(self.log_path, "a", buffering=1, errors="replace")
            self._log.write(f"# {' '.join(self.full_argv())}\n")
        env = None
        if self.env is not None:
            env = dict(os.environ)
            env.update(self.env)
        self.popen = subprocess.Popen(self.full_argv(), stdin=self.stdin,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      env=env, cwd=self.cwd, start_new_session=True)
        for stream in ("stdout", "stderr"):
            t = threading.Thread(target=self._reader, args=(stream,),
                                 name=f"{self.name}:{stream}", daemon=True)
            t.start()
            self._readers.append(t)
        return self

    def _reader(self, stream):
        pipe = getattr(self.popen, stream)
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                self.lines[stream].append(line)
                if self._log:
                    self._log.write(f"[{self.name} {stream}] {line}\n")
                self._cond.notify_all()
        pipe.close()
        with self._cond:
            self._eof += 1
            self._cond.notify_all()

    # observation ------------------------------------------------------------
    def poll(self):
        if self.popen is None:
            return None
        rc = self.popen.poll()
        if rc is not None:
            self.returncode = rc
        return rc

    @property
    def alive(self):
        return self.popen is not None and self.poll() is None

    def output(self, stream="stdout"):
        with self._cond:
            return "\n".join(self.lines[stream])

    def tail(self, n=30):
        with self._cond:
            out = [f"[stdout] {l}" for l in self.lines["stdout"][-n:]]
            out += [f"[stderr] {l}" for l in self.lines["stderr"][-n:]]
        return "\n".join(out)

    def wait_for_line(self, pattern, timeout=30.0, stream="stdout", start=0):
        """Waits until a line of |stream| (from index |start|) equals
        |pattern| (str) or matches it (compiled regex). Returns the line (or
        the match). Raises ProcessExited if the stream ends first, and
        TimeoutError after |timeout| seconds; both carry the output tail."""
        deadline = time.monotonic() + timeout
        idx = start
        with self._cond:
            while True:
                lines = self.lines[stream]
                while idx < len(lines):
                    line = lines[idx]
                    idx += 1
                    if isinstance(pattern, str):
                        if line == pattern:
                            return line
                    else:
                        m = pattern.search(line)
                        if m:
                            return m
                if self._eof >= 2:
                    rc = self.popen.wait()
                    self.returncode = rc
                    raise ProcessExited(
                        f"{self.name} exited with {rc} before printing {pattern!r}:\n"
                        + self._tail_locked())
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{self.name}: no {pattern!r} within {timeout} s:\n"
                        + self._tail_locked())
                self._cond.wait(left)

    def _tail_locked(self, n=30):
        out = [f"[stdout] {l}" for l in self.lines["stdout"][-n:]]
        out += [f"[stderr] {l}" for l in self.lines["stderr"][-n:]]
        return "\n".join(out)

    def wait(self, timeout=None):
        """Waits for exit and for both output streams to drain; returns the
        exit status. Raises subprocess.TimeoutExpired."""
        rc = self.popen.wait(timeout)
        self.returncode = rc
        for t in self._readers:
            t.join(5)
        return rc

    def send_signal(self, sig):
        if self.alive:
            os.kill(self.popen.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends |sig|, waits up to |timeout| s, then SIGKILLs (self.killed).
        Returns the exit status (negative: killed by that signal)."""
        if self.popen is None:
            return None
        if self.poll() is None:
            try:
                os.kill(self.popen.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.killed = True
                try:
                    os.kill(self.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.popen.wait()
        rc = self.wait()
        if self._token is not None:
            REGISTRY.forget(self._token)
            self._token = None
        self._after_exit()
        return rc

    def _after_exit(self):
        if self._log:
            self._log.write(f"# {self.name} exited {self.returncode}\n")
            self._log.close()
            self._log = None

    def _cleanup(self):
        # Registry path (signal/atexit/abandoned context): be quick.
        self._token = None
        self.stop(timeout=5.0)
