"""A repository whose `model#prod` tag names a reproduced model, for the serving tests."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pandas as pd
import pytest

from cauce import ExitCode
from cauce.fastpath import write_beside
from cauce.files import file_sha256, write_json
from cauce.layout import FAST_MODEL, SERVING_INFO
from cauce.serving.smoke import wait_until_ready
from tests.conftest import (
    ROOT,
    SOURCE,
    Workspace,
    small_model,
    tool_environment,
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="package")
def repository(tmp_path_factory, baseline_clone) -> Workspace:
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


@pytest.fixture(scope="package")
def packaged_model(tmp_path_factory, params, source_2015) -> Path:
    """A model directory as `cauce package` leaves it (fast form, serving.json), fitted on
    3,000 rows: seconds to make, where `repository` needs a `dvc repro`."""
    root = tmp_path_factory.mktemp("packaged-model")
    small_model(root, params, source_2015.head(3_000))
    directory = root / "models"
    assert write_beside(directory) is not None
    fast_sha256 = file_sha256(directory / FAST_MODEL)
    write_json(directory / SERVING_INFO, {"version": "v0.1.0", "fast_model_sha256": fast_sha256})
    return directory


@pytest.fixture(scope="package")
def served_log(served_url, tmp_path_factory) -> Path:  # noqa: ARG001 - its server first
    """What the server of `served_url` logged (a file beside it)."""
    return tmp_path_factory.getbasetemp() / "served-log" / "serve.log"


@pytest.fixture(scope="package")
def served_url(packaged_model, tmp_path_factory) -> Iterator[str]:
    """`cauce serve --model-dir` on 127.0.0.1, ready; its base URL. The log goes to a file
    (served_log): a pipe nobody reads would stall the server once uvicorn's access log
    fills it."""
    home = tmp_path_factory.mktemp("served")
    port = free_port()
    command = ["cauce", "serve", "--model-dir", str(packaged_model), "--port", str(port)]
    log_file = tmp_path_factory.getbasetemp() / "served-log" / "serve.log"
    log_file.parent.mkdir()
    with log_file.open("w") as log:
        server = subprocess.Popen(
            command, cwd=ROOT, env=tool_environment(home), stdout=log, stderr=subprocess.STDOUT
        )
        url = f"http://127.0.0.1:{port}"
        client = httpx.Client(base_url=url, timeout=5)
        if not wait_until_ready(client, 60, alive=lambda: server.poll() is None):
            server.kill()
            pytest.fail(f"cauce serve did not become ready:\n{log_file.read_text()}")
        try:
            yield url
        finally:
            server.terminate()
            server.wait(timeout=10)


OUTPUT = "out/predictions.parquet"
MODEL = ("--model-dir", "model")


@pytest.fixture(scope="package")
def rows() -> pd.DataFrame:
    return pd.read_parquet(SOURCE).head(300)


@pytest.fixture
def scored_checkout(tmp_path, packaged_model, rows, cauce) -> Path:
    """A directory with params.yaml, a packaged model (model/) and the predictions of a
    good run (OUTPUT): what the bad-input cases of score and of model files start from."""
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    shutil.copytree(packaged_model, tmp_path / "model")
    rows.to_parquet(tmp_path / "good.parquet")
    result = cauce(tmp_path, "score", "--input", "good.parquet", "--output", OUTPUT, *MODEL)
    assert result.code == ExitCode.OK, result.err
    return tmp_path
