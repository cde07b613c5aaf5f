"""Process-wide cleanup registry.

Resources are registered *before* they are created (the cleanup action must
tolerate "does not exist"), so an interruption between the two never leaks.
Entries run in reverse order of registration (processes before the
namespaces they live in). Each entry runs at most once: when its owner's
context exits (REGISTRY.run(token)), or at the end from run_all(), which is
hooked to atexit and reached on SIGINT/SIGTERM through the exception they
raise (see install_signal_handlers).
"""

import atexit
import contextlib
import signal
import sys
import threading
import traceback


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM, so that every `with` block and
    pytest teardown unwinds exactly as for Ctrl-C."""


_SIGS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def signals_blocked():
    """Defers SIGINT/SIGTERM while a cleanup action runs, so an impatient
    second Ctrl-C cannot interrupt the removal of a namespace half-way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


class Registry:
    def __init__(self):
        self._lock = threading.RLock()
        self._items = {}        # token -> (description, action)
        self._next = 0

    def add(self, action, description):
        """Registers |action| (a callable without arguments); returns a
        token for run() or forget()."""
        with self._lock:
            self._next += 1
            self._items[self._next] = (description, action)
            return self._next

    def forget(self, token):
        with self._lock:
            self._items.pop(token, None)

    def run(self, token):
        """Runs the action of |token| if it has not run yet. Errors are
        reported on stderr, never raised: cleanup must go on."""
        with self._lock:
            item = self._items.pop(token, None)
        if item is None:
            return
        desc, action = item
        with signals_blocked():
            try:
                action()
            except Exception:  # noqa: BLE001 -- report and continue
                sys.stderr.write(f"mxgtest: cleanup of {desc} failed:\n")
                traceback.print_exc()

    def run_all(self):
        while True:
            with self._lock:
                if not self._items:
                    return
                token = max(self._items)
            self.run(token)

    def pending(self):
        with self._lock:
            return [d for _, (d, _) in sorted(self._items.items())]


REGISTRY = Registry()
atexit.register(REGISTRY.run_all)


@contextlib.contextmanager
def registered(action, description):
    """Context manager: |action| runs on exit (or at process exit if the
    context is abandoned by a signal)."""
    token = REGISTRY.add(action, description)
    try:
        yield token
    finally:
        REGISTRY.run(token)


_installed = False


def _on_sigterm(signum, frame):
    raise Terminated(f"signal {signum}")


def install_signal_handlers():
    """SIGTERM raises Terminated (a KeyboardInterrupt) in the main thread;
    SIGINT keeps Python's default (KeyboardInterrupt). Both therefore unwind
    the stack through every `with`/finally, then atexit runs what is left.
    Idempotent; only effective in the main thread."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGTERM, _on_sigterm)
    if signal.getsignal(signal.SIGINT) in (signal.SIG_IGN, signal.SIG_DFL, None):
        signal.signal(signal.SIGINT, signal.default_int_handler)
    _installed = True
