"""pytest fixtures of the integration tests (imported by
tests/integration/conftest.py)."""

import os

import pytest

from . import names, paths
from .cleanup import install_signal_handlers
from .net import Netns
from .topo import AfXdpGateway, TapGateway


@pytest.fixture(scope="session", autouse=True)
def mxg_session():
    """Root check, signal handlers, sweep of leftovers of dead runs."""
    if os.geteuid() != 0:
        pytest.skip("integration tests need root (namespaces, taps, DPDK)")
    install_signal_handlers()
    removed = names.sweep_stale()
    if removed:
        print("mxgtest: removed stale resources: " + ", ".join(removed))
    yield
    names.sweep_stale(own_ok=True)


@pytest.fixture(scope="session")
def build_dir():
    return paths.build_dir()


@pytest.fixture(scope="session")
def dataplane_bin():
    b = paths.dataplane_bin()
    if not os.access(b, os.X_OK):
        pytest.skip(f"{b} not built (build it: meson setup build && ninja -C build; "
                    "or point MXG_BUILD at a build directory)")
    return b


@pytest.fixture(scope="session")
def xpf_obj():
    o = paths.xpf_obj()
    if not os.path.isfile(o):
        pytest.skip(f"{o} not built (needs clang and bpftool, meson option bpf)")
    return o


@pytest.fixture(scope="session")
def shared_corpus():
    c = paths.shared_corpus()
    if c is None:
        pytest.skip("shared corpus absent (<repo>/../shared/corpus or MXG_SHARED)")
    return c


@pytest.fixture
def netns():
    """A fresh namespace, removed after the test."""
    with Netns() as ns:
        yield ns


@pytest.fixture(scope="module")
def tap_gw(dataplane_bin, tmp_path_factory):
    with TapGateway(dataplane_bin, str(tmp_path_factory.mktemp("tapgw")), subnet=1) as gw:
        yield gw


@pytest.fixture(scope="module")
def afxdp_gw(dataplane_bin, xpf_obj, tmp_path_factory):
    with AfXdpGateway(dataplane_bin, str(tmp_path_factory.mktemp("afxdpgw")), xpf_obj,
                      subnet=2) as gw:
        yield gw


@pytest.fixture(scope="module", params=["tap", "af_xdp"])
def any_gw(request, dataplane_bin, tmp_path_factory):
    """Each test using it runs once over net_tap and once over net_af_xdp."""
    wd = str(tmp_path_factory.mktemp(f"gw-{request.param}"))
    if request.param == "tap":
        gw = TapGateway(dataplane_bin, wd, subnet=3)
    else:
        gw = AfXdpGateway(dataplane_bin, wd, request.getfixturevalue("xpf_obj"), subnet=4)
    with gw:
        yield gw
