"""DPDK processes with a unique --file-prefix, and mxgate-dataplane.

DpdkProcess removes /var/run/dpdk/<prefix> and /dev/hugepages/<prefix>map_*
after the process ends, however it ends. Dataplane writes an INI config for
mxgate-dataplane, starts it (optionally inside a namespace), waits for the
line "mxgate-dataplane: ready" and reads its counters through telemetry.
"""

import glob
import os
import shutil
import signal
import tempfile

from . import names
from .cleanup import REGISTRY
from .proc import Process
from .telemetry import RUNTIME_DIR, Telemetry, socket_path

READY_LINE = "mxgate-dataplane: ready"
LSAN_SUPP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lsan.supp")


def sanitizer_env(env=None):
    """Environment for a process that may be an ASan/UBSan build: our
    third-party leak suppressions, UBSan reports fatal and with stacks.
    Options already set by the caller win."""
    env = dict(env or {})
    lsan = os.environ.get("LSAN_OPTIONS", "")
    if "suppressions=" not in lsan:
        lsan = ":".join(x for x in (lsan, f"suppressions={LSAN_SUPP}") if x)
    env.setdefault("LSAN_OPTIONS", lsan)
    env.setdefault("UBSAN_OPTIONS", os.environ.get(
        "UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1"))
    return env


def remove_runtime(prefix):
    shutil.rmtree(os.path.join(RUNTIME_DIR, prefix), ignore_errors=True)
    for f in glob.glob(f"/dev/hugepages/{prefix}map_*"):
        try:
            os.unlink(f)
        except OSError:
            pass


class DpdkProcess(Process):
    """A DPDK primary process; |argv| must already carry --file-prefix
    |prefix| (see Dataplane) or the caller adds it."""

    def __init__(self, argv, prefix, **kw):
        super().__init__(argv, **kw)
        self.prefix = prefix
        self._rt_token = None

    def start(self):
        self._rt_token = REGISTRY.add(lambda: remove_runtime(self.prefix),
                                      f"dpdk runtime {self.prefix}")
        return super().start()

    def _after_exit(self):
        super()._after_exit()
        if self._rt_token is not None:
            REGISTRY.run(self._rt_token)
            self._rt_token = None

    @property
    def runtime_dir(self):
        return os.path.join(RUNTIME_DIR, self.prefix)

    def telemetry(self, timeout=10.0):
        return Telemetry(socket_path(self.prefix), timeout=timeout)

    def query(self, command):
        with self.telemetry() as t:
            return t.query(command)


class DataplaneConfig:
    """An mxgate-dataplane INI config: a [dataplane] section and one
    [port NAME] section per port. Values are written as given; lines()
    remembers where each key landed, for tests of error messages."""

    DEFAULTS = {
        "eal_args": "--no-huge -m 256 --no-pci",
        "workers": 1,
        "idle": "adaptive",
        "mbufs": 4095,
        "mbuf_cache": 128,
        "burst": 32,
    }

    def __init__(self, dataplane=None, ports=None, extra_lines=()):
        self.dataplane = dict(self.DEFAULTS)
        self.dataplane.update(dataplane or {})
        self.ports = ports or {}          # name -> {key: value}
        self.extra_lines = list(extra_lines)
        self.line_of = {}                 # (section, key) -> line number

    def add_port(self, name, **keys):
        self.ports[name] = keys
        return self

    def render(self):
        out = ["# written by mxgtest"]
        self.line_of = {}

        def section(title, items):
            out.append("")
            out.append(f"[{title}]")
            for k, v in items.items():
                if v is None:
                    continue
                out.append(f"{k} = {v}")
                self.line_of[(title, k)] = len(out)

        section("dataplane", self.dataplane)
        for name, keys in self.ports.items():
            section(f"port {name}", keys)
        for line in self.extra_lines:
            out.append(line)
        return "\n".join(out) + "\n"

    def write(self, path):
        with open(path, "w") as f:
            f.write(self.render())
        return path


class Dataplane(DpdkProcess):
    def __init__(self, binary, config, netns=None, prefix=None, workdir=None,
                 extra_eal=(), log_path=None, env=None):
        prefix = prefix or names.unique("p")
        if workdir is None:
            workdir = tempfile.mkdtemp(prefix=f"{prefix}-")
            if not os.environ.get("MXG_KEEP_LOGS"):
                REGISTRY.add(lambda: shutil.rmtree(workdir, ignore_errors=True),
                             f"workdir {workdir}")
        self.workdir = workdir
        if isinstance(config, DataplaneConfig):
            config.dataplane["file_prefix"] = prefix
            self.config_path = config.write(os.path.join(self.workdir, f"{prefix}.conf"))
            self.config = config
        else:
            self.config_path, self.config = str(config), None
        argv = [binary, "--config", self.config_path, "--file-prefix", prefix]
        if extra_eal:
            argv += ["--"] + list(extra_eal)
        super().__init__(argv, prefix, name=f"dataplane:{prefix}", netns=netns,
                         log_path=log_path or os.path.join(self.workdir, "dataplane.log"),
                         env=sanitizer_env(env))

    def wait_ready(self, timeout=60.0):
        return self.wait_for_line(READY_LINE, timeout=timeout)

    def stats(self):
        return self.query("/mxgate/stats")

    def port_stats(self, port):
        st = self.stats()
        return st["ports"][port] if "ports" in st else st[port]

    def ports(self):
        return self.query("/mxgate/ports")

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        return super().stop(sig=sig, timeout=timeout)
