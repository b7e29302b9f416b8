"""The serving image, without Docker: its Dockerfile lints clean, and its entry point, run
on a directory laid out as the image lays it out, passes the deploy's smoke test."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.serving.conftest import free_port

BIN = sys.executable.rsplit("/", 1)[0]


def image_command() -> list[str]:
    """The CMD of the Dockerfile, as the image runs it."""
    line = next(
        line
        for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.startswith("CMD ")
    )
    return json.loads(line.removeprefix("CMD "))


def test_the_dockerfile_lints_clean():
    result = subprocess.run(
        [f"{BIN}/hadolint", str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dockerfile_runs_as_non_root_with_a_healthcheck():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert text.count("\nFROM ") + text.startswith("FROM ") >= 2, "multi-stage"
    assert "\nUSER 10001\n" in text
    assert "\nHEALTHCHECK " in text
    assert "COPY serving/model/ /app/model/" in text


@pytest.mark.slow
def test_the_image_entry_point_passes_the_smoke_test(repository):
    packaged = repository.run("cauce", "package", "--version", "v0.1.0")
    assert packaged.stdout.strip() == "model@v0.1.0 → serving/model"
    assert (
        json.loads((repository.path / "serving/model/serving.json").read_text())["version"]
        == "v0.1.0"
    )

    port = str(free_port())
    command = image_command()
    command[command.index("/app/model")] = "serving/model"
    command[command.index("0.0.0.0")] = "127.0.0.1"  # noqa: S104 - replaced, not bound
    command[command.index("8000")] = port
    server = subprocess.Popen(
        command,
        cwd=repository.path,
        env={**repository.env, "CAUCE_MODEL_STAGE": "prod"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        smoke = repository.run(
            "cauce",
            "smoke-test",
            "--url",
            f"http://127.0.0.1:{port}",
            "--version",
            "v0.1.0",
            check=False,
        )
        assert smoke.returncode == 0, smoke.stderr
        assert "serving v0.1.0, one prediction" in smoke.stdout
        wrong = repository.run(
            "cauce",
            "smoke-test",
            "--url",
            f"http://127.0.0.1:{port}",
            "--version",
            "v9.0.0",
            check=False,
        )
        assert wrong.returncode == 1
        assert "serves version 'v0.1.0', not 'v9.0.0'" in wrong.stderr
    finally:
        server.terminate()
        server.wait(timeout=10)
