"""Clean shutdown (issue 2): SIGTERM or SIGINT makes mxgate-dataplane stop
its ports and exit 0 within a few seconds; the tap interface disappears
with it, an AF_XDP port's XDP program is detached, and the harness removes
/var/run/dpdk/<prefix>."""

import os
import signal
import time

import pytest

from mxgtest.ping import ping
from mxgtest.topo import AfXdpGateway, TapGateway

STOP_WITHIN = 10.0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_tap_clean_shutdown(dataplane_bin, tmp_path, sig):
    with TapGateway(dataplane_bin, str(tmp_path), subnet=6) as gw:
        r = ping(gw.peer_ns, gw.gw4, count=5, interval=0.02)
        assert r.received == 5, str(r)
        rundir = gw.dp.runtime_dir
        assert os.path.isdir(rundir)
        t0 = time.monotonic()
        rc = gw.dp.stop(sig=sig, timeout=STOP_WITHIN)
        took = time.monotonic() - t0
        assert not gw.dp.killed, f"not stopped within {STOP_WITHIN} s:\n{gw.dp.tail()}"
        assert rc == 0, f"exit status {rc}:\n{gw.dp.tail()}"
        assert took < STOP_WITHIN
        assert not gw.ns.link_exists(gw.peer_dev), "tap still present after exit"
        assert not os.path.exists(rundir), "harness left the runtime directory"
        err = gw.dp.output("stderr")
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in err, err


def test_af_xdp_clean_shutdown(dataplane_bin, xpf_obj, tmp_path):
    with AfXdpGateway(dataplane_bin, str(tmp_path), xpf_obj, subnet=7) as gw:
        r = ping(gw.peer_ns, gw.gw4, count=5, interval=0.02)
        assert r.received == 5, str(r)
        assert gw.xdp_attached()
        rundir = gw.dp.runtime_dir
        rc = gw.dp.stop(sig=signal.SIGTERM, timeout=STOP_WITHIN)
        assert not gw.dp.killed, f"not stopped within {STOP_WITHIN} s:\n{gw.dp.tail()}"
        assert rc == 0, f"exit status {rc}:\n{gw.dp.tail()}"
        err = gw.dp.output("stderr")
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            assert marker not in err, err
        assert not gw.xdp_attached(), "XDP program left attached to the veth"
        assert not os.path.exists(rundir)
        # The veth itself belongs to the harness and stays until teardown.
        assert gw.ns_dp.link_exists(gw.dp_dev)
