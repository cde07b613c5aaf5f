"""Network namespaces, veth pairs, tap devices, netem qdiscs, addresses.

All are context managers registered in the cleanup registry before they are
created. Commands run through iproute2 (`ip -n NS ...`, `tc -n NS ...`).
Test addresses must come from 198.18.0.0/15 and 2001:db8::/32.

Code that needs a socket inside a namespace uses in_netns(): it runs a
function on a short-lived thread that has entered the namespace (setns is
per thread), so the main thread never changes namespace and a signal
arriving meanwhile cannot run cleanup in the wrong one. A socket keeps the
namespace it was created in, whichever thread uses it afterwards.
"""

import ctypes
import ipaddress
import os
import subprocess
import threading

from . import names
from .cleanup import REGISTRY

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)

TEST_V4 = ipaddress.ip_network("198.18.0.0/15")
TEST_V6 = ipaddress.ip_network("2001:db8::/32")


class CommandError(RuntimeError):
    def __init__(self, argv, proc):
        self.argv, self.proc = argv, proc
        super().__init__(f"{' '.join(argv)} exited {proc.returncode}: "
                         f"{(proc.stderr or '').strip()}")


def run(argv, netns=None, check=True, timeout=60, input=None):
    """Runs |argv| (inside |netns| through `ip netns exec` when given) and
    returns the CompletedProcess with text stdout/stderr."""
    if netns is not None:
        argv = ["ip", "netns", "exec", str(netns)] + list(argv)
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, input=input, check=False)
    if check and p.returncode != 0:
        raise CommandError(argv, p)
    return p


def check_test_address(addr):
    """Raises ValueError unless |addr| (address or interface/prefix) lies in
    the ranges tests may use."""
    ip = ipaddress.ip_interface(addr).ip
    if ip not in TEST_V4 and ip not in TEST_V6 and not ip.is_link_local:
        raise ValueError(f"{addr}: tests use 198.18.0.0/15 and 2001:db8::/32 only")


def in_netns(netns, fn, *args, **kwargs):
    """Calls fn(*args, **kwargs) on a thread inside namespace |netns| (a name
    under /run/netns, or None for the current one) and returns its result."""
    if netns is None:
        return fn(*args, **kwargs)
    result = {}

    def body():
        try:
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({netns}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result["value"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 -- re-raised in the caller
            result["error"] = e

    t = threading.Thread(target=body, name=f"in_netns:{netns}", daemon=True)
    t.start()
    t.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


class Netns:
    """A fresh network namespace with lo up; deleted on exit together with
    every process still inside it (all of them were started by us: nobody
    else knows the name)."""

    def __init__(self, name=None):
        self.name = name or names.unique("n")
        self._token = None

    def __str__(self):
        return self.name

    def __enter__(self):
        self.create()
        return self

    def __exit__(self, *exc):
        self.delete()

    def create(self):
        self._token = REGISTRY.add(self._remove, f"netns {self.name}")
        run(["ip", "netns", "add", self.name])
        self.ip("link", "set", "lo", "up")
        return self

    def delete(self):
        if self._token is not None:
            REGISTRY.run(self._token)
            self._token = None

    def _remove(self):
        p = run(["ip", "netns", "pids", self.name], check=False)
        for pid in p.stdout.split():
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        run(["ip", "netns", "delete", self.name], check=False)

    # helpers ------------------------------------------------------------
    def exec(self, argv, **kw):
        return run(argv, netns=self.name, **kw)

    def ip(self, *args, check=True):
        return run(["ip", "-n", self.name] + [str(a) for a in args], check=check)

    def sysctl(self, key, value):
        return self.exec(["sysctl", "-q", "-w", f"{key}={value}"])

    def quiet_ipv6_defaults(self):
        """Interfaces created after this call send no router solicitation
        and do no DAD, so the only IPv6 frames on a test link are the
        test's own (plus MLD reports, which cannot be turned off)."""
        for k, v in (("accept_ra", 0), ("router_solicitations", 0),
                     ("accept_dad", 0), ("dad_transmits", 0)):
            for scope in ("default", "all"):
                self.sysctl(f"net.ipv6.conf.{scope}.{k}", v)

    def link_exists(self, dev):
        return self.ip("link", "show", "dev", dev, check=False).returncode == 0

    def link_up(self, dev):
        self.ip("link", "set", "dev", dev, "up")

    def add_addr(self, dev, cidr):
        check_test_address(cidr)
        if ":" in cidr:
            self.ip("-6", "addr", "add", cidr, "dev", dev, "nodad")
        else:
            self.ip("addr", "add", cidr, "dev", dev)

    def mac(self, dev):
        out = self.ip("-o", "link", "show", "dev", dev).stdout
        fields = out.split()
        return fields[fields.index("link/ether") + 1]

    def neigh(self, addr, dev):
        """Returns (lladdr or None, state or None) of |addr| in the kernel's
        neighbor table of |dev|."""
        fam = "-6" if ":" in str(addr) else "-4"
        out = self.ip(fam, "neigh", "show", str(addr), "dev", dev).stdout.split()
        if not out:
            return None, None
        lladdr = out[out.index("lladdr") + 1] if "lladdr" in out else None
        return lladdr, out[-1]


class VethPair:
    """veth pair a <-> b, end a in namespace ns_a, end b in ns_b (None: the
    current namespace), |queues| RX and TX queues on each end."""

    def __init__(self, ns_a=None, ns_b=None, name_a=None, name_b=None, queues=1):
        base = names.ifname("v")
        self.queues = queues
        self.ns_a, self.ns_b = ns_a, ns_b
        self.a = name_a or base + "a"
        self.b = name_b or base + "b"
        if len(self.a) > names.IFNAMSIZ or len(self.b) > names.IFNAMSIZ:
            raise ValueError("veth name too long")
        self._token = None

    def __enter__(self):
        self._token = REGISTRY.add(self._remove, f"veth {self.a}/{self.b}")
        # An explicit queue count: the kernel otherwise gives a veth one
        # queue per CPU, and frames on a queue without an AF_XDP socket
        # would bypass the dataplane.
        q = ["numtxqueues", str(self.queues), "numrxqueues", str(self.queues)]
        argv = ["ip", "link", "add", self.a] + q
        if self.ns_a is not None:
            argv += ["netns", str(self.ns_a)]
        argv += ["type", "veth", "peer", "name", self.b] + q
        if self.ns_b is not None:
            argv += ["netns", str(self.ns_b)]
        run(argv)
        return self

    def __exit__(self, *exc):
        REGISTRY.run(self._token)

    def _remove(self):
        # Deleting one end removes both; the namespace may be gone already.
        for ns, dev in ((self.ns_a, self.a), (self.ns_b, self.b)):
            argv = ["ip"] + (["-n", str(ns)] if ns is not None else []) + \
                ["link", "delete", dev]
            if run(argv, check=False).returncode == 0:
                return


class Tap:
    """A persistent tap device (no process attached) in namespace |ns|."""

    def __init__(self, ns=None, name=None):
        self.ns = ns
        self.name = name or names.ifname("t")
        self._token = None

    def _ip(self):
        return ["ip"] + (["-n", str(self.ns)] if self.ns is not None else [])

    def __enter__(self):
        self._token = REGISTRY.add(self._remove, f"tap {self.name}")
        run(self._ip() + ["tuntap", "add", "dev", self.name, "mode", "tap"])
        return self

    def __exit__(self, *exc):
        REGISTRY.run(self._token)

    def _remove(self):
        run(self._ip() + ["tuntap", "del", "dev", self.name, "mode", "tap"], check=False)


class NetemUnavailable(RuntimeError):
    pass


_netem_ok = None


def netem_available():
    """True if this kernel has sch_netem (tried once, on lo of a scratch
    namespace; Debian's kernels have it as a module, some VM kernels lack
    it: CONFIG_NET_SCH_NETEM)."""
    global _netem_ok
    if _netem_ok is None:
        run(["modprobe", "-q", "sch_netem"], check=False)
        with Netns() as ns:
            p = run(["tc", "-n", ns.name, "qdisc", "add", "dev", "lo", "root", "netem",
                     "delay", "1ms"], check=False)
            _netem_ok = p.returncode == 0
    return _netem_ok


class Netem:
    """A root netem qdisc on |dev|, e.g. Netem(ns, "veth0", "loss 1% delay 5ms").
    Raises NetemUnavailable when the kernel has no netem (tests skip)."""

    def __init__(self, ns, dev, spec):
        self.ns, self.dev = ns, dev
        self.spec = spec.split() if isinstance(spec, str) else list(spec)
        self._token = None

    def _tc(self):
        return ["tc"] + (["-n", str(self.ns)] if self.ns is not None else [])

    def __enter__(self):
        if not netem_available():
            raise NetemUnavailable("this kernel has no netem qdisc (CONFIG_NET_SCH_NETEM)")
        self._token = REGISTRY.add(self._remove, f"netem on {self.dev}")
        run(self._tc() + ["qdisc", "add", "dev", self.dev, "root", "netem"] + self.spec)
        return self

    def change(self, spec):
        self.spec = spec.split() if isinstance(spec, str) else list(spec)
        run(self._tc() + ["qdisc", "change", "dev", self.dev, "root", "netem"] + self.spec)

    def __exit__(self, *exc):
        REGISTRY.run(self._token)

    def _remove(self):
        run(self._tc() + ["qdisc", "del", "dev", self.dev, "root"], check=False)
