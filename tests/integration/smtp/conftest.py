# SPDX-License-Identifier: BSD-3-Clause
"""Fixtures of the SMTP proxy tests: tests/integration/conftest.py already
puts tests/lib on sys.path and imports mxgtest's fixtures."""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from smtpenv import PySink, SmtpGateway, need  # noqa: E402,F401


@pytest.fixture(scope="module")
def relay_gw(dataplane_bin, tmp_path_factory):
    """Gateway relaying for the peer (198.18.5.2) and for local.test from
    anyone; short downstream timeouts for the failure tests."""
    smtp = {
        "smtp_allow_client_ip": "198.18.5.2",
        "local_domains": "local.test",
        "downstream_reply_timeout": 5,
        "downstream_data_timeout": 5,
        "known_hosts": "198.18.5.2",
    }
    with SmtpGateway(dataplane_bin, str(tmp_path_factory.mktemp("smtpgw")), smtp=smtp,
                     subnet=5) as gw:
        yield gw


@pytest.fixture
def sink(relay_gw):
    with PySink(relay_gw.ns, relay_gw.peer4, 10026) as s:
        yield s
