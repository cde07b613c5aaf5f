"""Integration tests: real processes through DPDK. The harness lives in
tests/lib (package mxgtest); its fixtures are imported here."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

from mxgtest.fixtures import *  # noqa: E402,F401,F403
