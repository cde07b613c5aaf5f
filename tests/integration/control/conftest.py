"""Fixtures of the control-plane tests; the helpers live in ctlenv.py
(a unique module name: several test folders have a conftest.py)."""

import pytest

from ctlenv import control_bin, ctl_bin, wait_until, free_port, pg_stop_immediate, TempDir, ExternalPg, Control  # noqa: F401


@pytest.fixture
def tmpdir755():
    with TempDir("mxgctl") as t:
        yield t.path


@pytest.fixture
def control(tmpdir755):
    """A freshly started mxgate-control with an internal database."""
    c = Control(tmpdir755).start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def shared_control():
    """One instance for the API tests of a module (each start costs an
    initdb)."""
    with TempDir("mxgctl") as t:
        c = Control(t.path).start()
        try:
            yield c
        finally:
            c.stop()


@pytest.fixture
def external_pg(tmpdir755):
    return ExternalPg(tmpdir755).create()
