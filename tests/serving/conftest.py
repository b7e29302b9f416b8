"""A repository whose `model#prod` tag names a reproduced model, for the serving tests."""

from __future__ import annotations

import socket

import pytest

from tests.conftest import Workspace, baseline_clone


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="package")
def repository(tmp_path_factory) -> Workspace:
    clone = baseline_clone(tmp_path_factory.mktemp("serving"))
    clone.run("gto", "register", "model", "HEAD", "--version", "v0.1.0")
    clone.run("gto", "assign", "model", "--version", "v0.1.0", "--stage", "prod")
    return clone
