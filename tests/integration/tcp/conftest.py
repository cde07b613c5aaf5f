"""Fixtures of the TCP interop tests: one gateway per module and PMD, with
the RFC 862 echo / RFC 863 discard test services (test_services = yes),
the kernel peer prepared as tcputil.prepare_peer documents.

Sizes: MXG_LONG=1 selects the long variants (bigger transfers, see each
module); the default set is meant to finish in a few minutes on 2 cores.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import tcputil  # noqa: E402

# Each module gets its own /24 (198.18.<n>.0, 2001:db8:<n>::/64) so a
# leftover of one cannot answer for another.
_SUBNETS = {"test_tcp_transfer": 40, "test_tcp_close": 42, "test_tcp_synflood": 44,
            "test_tcp_many": 46, "test_tcp_active": 50}


@pytest.fixture(scope="module", params=["tap", "af_xdp"])
def gw(request, dataplane_bin, tmp_path_factory):
    """A gateway with the test services; [tap] and [af_xdp]."""
    mod = request.module.__name__.rsplit(".", 1)[-1]
    subnet = _SUBNETS.get(mod, 48) + (0 if request.param == "tap" else 1)
    xdp = request.getfixturevalue("xpf_obj") if request.param == "af_xdp" else None
    extra = getattr(request.module, "DATAPLANE", None)
    if callable(extra):  # DATAPLANE(subnet) -> dict: keys naming the peer's addresses
        extra = extra(subnet)
    g = tcputil.gateway(request.param, dataplane_bin,
                        str(tmp_path_factory.mktemp(f"tcp-{request.param}")), subnet,
                        xdp_prog=xdp, dataplane=extra)
    with g:
        tcputil.prepare_peer(g)
        g.known_issue = tcputil.known_issue(g)
        yield g
        assert g.alive(), "the dataplane died:\n" + g.dp.tail(40)


@pytest.fixture(autouse=True)
def _known_issue(request):
    """Marks a test on a gateway with a diagnosed dataplane defect
    (tcputil.known_issue) as an expected failure: it still runs, and
    XPASS shows when the defect is gone."""
    if "gw" in request.fixturenames:
        g = request.getfixturevalue("gw")
        if getattr(g, "known_issue", None):
            # Not run by default: a stalled transfer waits out its stall
            # timeout, which would make the suite slow. MXG_RUN_XFAIL=1
            # runs them (XPASS once the defect is fixed).
            run = os.environ.get("MXG_RUN_XFAIL", "") not in ("", "0")
            request.applymarker(pytest.mark.xfail(reason=g.known_issue, strict=False,
                                                  run=run))
