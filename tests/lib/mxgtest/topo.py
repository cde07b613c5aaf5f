"""Ready-made test topologies: mxgate-dataplane owning one port, and a
kernel peer on the other side of the link, each in namespaces of its own
run. Both expose the same attributes, so tests run unchanged over either:

  dp         the Dataplane process (ready)
  port       the port's name in config and telemetry ("gw0")
  peer_ns    namespace of the kernel peer (Netns)
  peer_dev   the peer's interface (kernel side of the tap, or veth end b)
  gw4, gw6   the dataplane's addresses; peer4, peer6 the peer's
  dp_mac     the dataplane's MAC (from telemetry /mxgate/ports, else the
             interface's MAC as the kernel reports it)
"""

import contextlib

from . import names
from .dpdk import Dataplane, DataplaneConfig
from .net import Netns, VethPair


class _Gateway:
    kind = None
    port = "gw0"

    def __init__(self, binary, workdir, subnet=1, dataplane=None, port=None,
                 ready_timeout=60.0):
        assert 0 < subnet < 256
        self.binary, self.workdir, self.subnet = binary, workdir, subnet
        self.dp_opts = dataplane or {}
        self.port_opts = port or {}
        self.ready_timeout = ready_timeout
        self.gw4, self.peer4 = f"198.18.{subnet}.1", f"198.18.{subnet}.2"
        self.gw6, self.peer6 = f"2001:db8:{subnet:x}::1", f"2001:db8:{subnet:x}::2"
        self._stack = contextlib.ExitStack()
        self.dp = None
        self._dp_mac = None

    def config(self, pmd, devargs):
        cfg = DataplaneConfig(dataplane=self.dp_opts)
        keys = {"pmd": pmd, "devargs": devargs, "mtu": 1500,
                "ipv4": f"{self.gw4}/24", "ipv6": f"{self.gw6}/64"}
        keys.update(self.port_opts)
        cfg.add_port(self.port, **keys)
        return cfg

    def __enter__(self):
        try:
            self._setup()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        self._stack.close()
        if exc_type is None:
            self.check_clean_exit()

    def close(self):
        self._stack.close()

    def _start_dp(self, cfg, ns):
        self.dp = Dataplane(self.binary, cfg, netns=ns, workdir=self.workdir)
        self._stack.callback(self.dp.stop)
        self.dp.start()
        self.dp.wait_ready(self.ready_timeout)

    SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

    def check_clean_exit(self):
        """After teardown: the dataplane stopped on SIGTERM with status 0
        and printed no sanitizer report (ASan builds). Raises
        AssertionError otherwise, so a fixture's teardown reports it."""
        if self.dp is None or self.dp.returncode is None:
            return
        err = self.dp.output("stderr")
        bad = [m for m in self.SANITIZER_MARKERS if m in err]
        if self.dp.killed or self.dp.returncode != 0 or bad:
            raise AssertionError(
                f"dataplane did not exit cleanly (status {self.dp.returncode}, "
                f"killed {self.dp.killed}, sanitizer {bad}):\n{self.dp.tail(60)}")

    def _configure_peer(self):
        ns, dev = self.peer_ns, self.peer_dev
        ns.add_addr(dev, f"{self.peer4}/24")
        ns.add_addr(dev, f"{self.peer6}/64")
        ns.link_up(dev)

    @property
    def dp_mac(self):
        if self._dp_mac is None:
            mac = None
            try:
                info = self.dp.ports().get(self.port, {})
                mac = info.get("mac")
            except Exception:  # noqa: BLE001 -- fall back to the kernel's view
                mac = None
            self._dp_mac = (mac or self._kernel_dp_mac()).lower()
        return self._dp_mac

    @property
    def peer_mac(self):
        return self.peer_ns.mac(self.peer_dev).lower()

    def stats(self):
        return self.dp.port_stats(self.port)

    def alive(self):
        return self.dp.alive


class TapGateway(_Gateway):
    """Dataplane on net_tap inside namespace ns; the tap's kernel side
    (created by the tap PMD) is the peer, in the same namespace."""
    kind = "tap"

    def _setup(self):
        self.ns = self._stack.enter_context(Netns())
        self.ns.quiet_ipv6_defaults()
        self.peer_ns = self.ns
        self.peer_dev = names.ifname("t")
        self._start_dp(self.config("net_tap", f"iface={self.peer_dev}"), self.ns)
        if not self.ns.link_exists(self.peer_dev):
            raise RuntimeError(f"tap {self.peer_dev} not in {self.ns} after ready")
        self._configure_peer()

    def _kernel_dp_mac(self):
        raise RuntimeError("the tap PMD's MAC is only known through telemetry")


class AfXdpGateway(_Gateway):
    """Dataplane on net_af_xdp over veth end a (namespace ns_dp) with the
    XDP program |xdp_prog|; the kernel peer owns veth end b in peer_ns."""
    kind = "af_xdp"

    def __init__(self, binary, workdir, xdp_prog, **kw):
        super().__init__(binary, workdir, **kw)
        self.xdp_prog = xdp_prog

    def _setup(self):
        self.ns_dp = self._stack.enter_context(Netns())
        self.peer_ns = self._stack.enter_context(Netns())
        self.peer_ns.quiet_ipv6_defaults()
        # The kernel keeps transmitting on an AF_XDP interface (only its RX
        # is redirected): with IPv6 on, it would send MLD reports from the
        # dataplane's MAC. The dataplane's side carries no kernel address.
        for scope in ("default", "all"):
            self.ns_dp.sysctl(f"net.ipv6.conf.{scope}.disable_ipv6", 1)
        self.veth = self._stack.enter_context(VethPair(self.ns_dp, self.peer_ns))
        self.dp_dev, self.peer_dev = self.veth.a, self.veth.b
        # The dataplane side carries no kernel address; it must be up for
        # the socket to bind, and the XDP program needs an MTU that fits a
        # page (1500 does).
        self.ns_dp.link_up(self.dp_dev)
        devargs = f"iface={self.dp_dev},start_queue=0,queue_count=1,xdp_prog={self.xdp_prog}"
        self._start_dp(self.config("net_af_xdp", devargs), self.ns_dp)
        self._configure_peer()

    def _kernel_dp_mac(self):
        return self.ns_dp.mac(self.dp_dev)

    def xdp_attached(self):
        out = self.ns_dp.ip("-d", "link", "show", "dev", self.dp_dev).stdout
        return "xdp" in out
