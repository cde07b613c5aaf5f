"""Where things are: the repository (derived from this file), the build
directory under test (MXG_BUILD, default <repo>/build), the shared corpus
(MXG_SHARED, default <repo>/../shared/corpus; absent on some clones)."""

import os

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def build_dir():
    return os.path.abspath(os.environ.get("MXG_BUILD") or os.path.join(REPO, "build"))


def dataplane_bin():
    return os.path.join(build_dir(), "dataplane", "mxgate-dataplane")


def xpf_obj():
    return os.path.join(build_dir(), "bpf", "xpf.bpf.o")


def shared_corpus():
    """The corpus directory, or None when this clone has no ../shared."""
    p = os.environ.get("MXG_SHARED") or os.path.join(REPO, "..", "shared", "corpus")
    p = os.path.abspath(p)
    return p if os.path.isdir(p) else None


def default_config():
    return os.path.join(REPO, "etc", "mxgate.conf")
