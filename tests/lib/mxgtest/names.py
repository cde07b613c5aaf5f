"""Per-run unique names, and the sweeper of a previous run's leftovers.

Every name is mxg<pid>-<n><suffix>: <pid> is this process, <n> a counter in
base 36. That fits IFNAMSIZ (15 characters) for interfaces, and tells the
sweeper which process created a resource: if that process is gone (or is
us, before we created anything), the resource is stale.
"""

import itertools
import os
import re
import shutil
import subprocess
import glob

PID = os.getpid()
_counter = itertools.count(1)
NAME_RE = re.compile(r"^mxg(\d+)-[0-9a-z]+")
IFNAMSIZ = 15


def _b36(n):
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    s = ""
    while True:
        n, r = divmod(n, 36)
        s = digits[r] + s
        if n == 0:
            return s


def unique(suffix=""):
    """A fresh name such as mxg4242-1a (+ |suffix|)."""
    name = f"mxg{PID}-{_b36(next(_counter))}{suffix}"
    return name


def ifname(suffix=""):
    name = unique(suffix)
    if len(name) > IFNAMSIZ:
        raise ValueError(f"interface name {name!r} longer than {IFNAMSIZ}")
    return name


def _stale(name, own_ok):
    m = NAME_RE.match(name)
    if not m:
        return False
    pid = int(m.group(1))
    if pid == PID:
        return not own_ok
    return not os.path.exists(f"/proc/{pid}")


def _run(argv):
    return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True, check=False)


def sweep_stale(own_ok=False):
    """Removes namespaces, root-namespace links, DPDK runtime directories and
    hugepage files left by dead mxgtest processes. With own_ok=False (the
    default, for use before this process creates anything) names carrying
    our own pid are stale too: a dead process with a reused pid left them.
    Returns the list of what was removed."""
    removed = []
    out = _run(["ip", "netns", "list"]).stdout
    for line in out.splitlines():
        ns = line.split()[0] if line.split() else ""
        if _stale(ns, own_ok):
            pids = _run(["ip", "netns", "pids", ns]).stdout.split()
            for p in pids:
                try:
                    os.kill(int(p), 9)
                except (ProcessLookupError, ValueError):
                    pass
            _run(["ip", "netns", "delete", ns])
            removed.append(f"netns {ns}")
    out = _run(["ip", "-o", "link", "show"]).stdout
    for line in out.splitlines():
        parts = line.split(":")
        if len(parts) < 2:
            continue
        dev = parts[1].strip().split("@")[0]
        if _stale(dev, own_ok):
            _run(["ip", "link", "delete", dev])
            removed.append(f"link {dev}")
    for d in glob.glob("/var/run/dpdk/mxg*"):
        if _stale(os.path.basename(d), own_ok):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(f"dpdk runtime {d}")
    for f in glob.glob("/dev/hugepages/mxg*"):
        if _stale(os.path.basename(f), own_ok):
            try:
                os.unlink(f)
                removed.append(f"hugepage file {f}")
            except OSError:
                pass
    return removed
