"""mxgtest: the harness of mxgate's integration tests.

Everything a test creates -- network namespaces, veth pairs, tap devices,
netem qdiscs, DPDK processes and their runtime directories, peer processes --
is registered in one process-wide cleanup registry *before* it is created,
and removed when its context exits, when the test fails, on Ctrl-C (SIGINT),
on SIGTERM and at interpreter exit. Names carry the creating process id
(mxg<pid>-<n>...), so parallel runs never collide and leftovers of a run that
was SIGKILLed are swept by the next one (names.sweep_stale).

Modules:
  cleanup    the registry, signal handlers, atexit hook
  names      per-run unique names and the stale-resource sweeper
  net        namespaces, veth pairs, taps, netem, addresses, setns helpers
  proc       generic peer-process manager (output capture, wait for a line)
  dpdk       DPDK processes (unique --file-prefix) and mxgate-dataplane
  telemetry  DPDK telemetry v2 client
  ping       iputils ping wrapper with parsed results
  frames     raw L2 send/capture on an interface inside a namespace
  paths      repository, build directory, shared corpus
  topo       dataplane + kernel peer topologies over net_tap and net_af_xdp
  fixtures   pytest fixtures (imported by tests/integration/conftest.py)
"""

from . import cleanup, names, net, proc, dpdk, telemetry, ping, frames, paths, topo  # noqa: F401
from .cleanup import REGISTRY, install_signal_handlers  # noqa: F401
from .net import Netns, VethPair, Tap, Netem, NetemUnavailable, netem_available  # noqa: F401
from .proc import Process, ProcessExited  # noqa: F401
from .dpdk import DpdkProcess, Dataplane, DataplaneConfig  # noqa: F401
from .telemetry import Telemetry  # noqa: F401

__all__ = [
    "cleanup", "names", "net", "proc", "dpdk", "telemetry", "ping", "frames", "paths", "topo",
    "REGISTRY", "install_signal_handlers", "Netns", "VethPair", "Tap", "Netem",
    "NetemUnavailable", "netem_available", "Process", "ProcessExited", "DpdkProcess",
    "Dataplane", "DataplaneConfig", "Telemetry",
]
