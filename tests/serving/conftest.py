"""A repository whose `model#prod` tag names a reproduced model, for the serving tests."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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


@contextmanager
def running(command: list[str], cwd: Path, env: dict[str, str]) -> Iterator[None]:
    """A server process for the duration of the block."""
    server = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        yield
    finally:
        server.terminate()
        server.wait(timeout=10)


def smoke_test(workspace: Workspace, port: str, version: str) -> subprocess.CompletedProcess:
    """What the deploy runs against a started image: `cauce smoke-test --version`."""
    url = f"http://127.0.0.1:{port}"
    return workspace.run("cauce", "smoke-test", "--url", url, "--version", version, check=False)
