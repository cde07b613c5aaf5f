"""Fixtures of the sender-filter tests (issue 7): the XDP pre-filter's
tools (mxgatectl, xpf-testrun) and helpers shared by the modules.

Each module uses its own /24 (198.18.<n>.0) and unique pin names
(/sys/fs/bpf/mxgate/mxg<pid>-...), so concurrent runs of other suites,
which may pin their own instances, are never touched."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tcp"))

from mxgtest import paths  # noqa: E402


@pytest.fixture(scope="session")
def mxgatectl():
    b = os.path.join(paths.build_dir(), "control", "mxgatectl")
    if not os.access(b, os.X_OK):
        pytest.skip(f"{b} not built")
    return b


@pytest.fixture(scope="session")
def xpf_testrun():
    b = os.path.join(paths.build_dir(), "bpf", "xpf-testrun")
    if not os.access(b, os.X_OK):
        pytest.skip(f"{b} not built (needs clang, bpftool and libbpf)")
    return b
