"""The serving image, without Docker: its Dockerfile lints clean, and its entry point, run
in an environment installed as the image installs it (only what serving needs) on a
directory laid out as the image lays it out, passes the deploy's smoke test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.serving.conftest import free_port, running, smoke_test

BIN = sys.executable.rsplit("/", 1)[0]
PIPELINE_ONLY = ("dvc", "dvclive", "gto", "pandera", "pyarrow", "vl_convert")


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


def image_environment(app: Path) -> Path:
    """The image's /app/.venv: the Dockerfile's own `uv sync` line, run in `app`."""
    install = next(
        line.removeprefix("RUN ").split()
        for line in (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
        if line.startswith("RUN uv sync ")
    )
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy2(ROOT / name, app / name)
    shutil.copytree(ROOT / "src", app / "src", ignore=shutil.ignore_patterns("__pycache__"))
    uv = ROOT / ".tools/bin/uv"
    # The image compiles every module's bytecode when it is built; here the entry point
    # compiles the few it imports as it starts (all of them would take longer than the test).
    subprocess.run(
        [str(uv), *install[1:], "--python", sys.executable, "--quiet"],
        cwd=app,
        check=True,
        env={**os.environ, "UV_COMPILE_BYTECODE": "0"},
    )
    return app / ".venv"


@pytest.mark.rehearsal
def test_the_image_entry_point_passes_the_smoke_test(repository, tmp_path):
    packaged = repository.run("cauce", "package", "--version", "v0.1.0")
    assert packaged.stdout.strip() == "model@v0.1.0 → serving/model"
    assert (
        json.loads((repository.path / "serving/model/serving.json").read_text())["version"]
        == "v0.1.0"
    )
    # /app as the image lays it out: params.yaml, the model, the serving-only environment
    app = tmp_path / "app"
    app.mkdir()
    venv = image_environment(app)
    for module in PIPELINE_ONLY:
        absent = subprocess.run([venv / "bin/python", "-c", f"import {module}"], check=False)
        assert absent.returncode != 0, f"the image would install {module}"
    shutil.copy2(repository.path / "params.yaml", app / "params.yaml")
    shutil.copytree(repository.path / "serving/model", app / "model")

    port = str(free_port())
    command = image_command()
    command[command.index("0.0.0.0")] = "127.0.0.1"  # noqa: S104 - replaced, not bound
    command[command.index("8000")] = port
    command[command.index("/app/model")] = str(app / "model")
    environment = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "CAUCE_MODEL_STAGE": "prod",
    }
    with running(command, app, environment):
        smoke = smoke_test(repository, port, "v0.1.0")
        assert smoke.returncode == 0, smoke.stderr
        assert "serving v0.1.0 (model sha256 " in smoke.stdout
        wrong = smoke_test(repository, port, "v9.0.0")
        assert wrong.returncode == 1
        assert "serves version 'v0.1.0', not 'v9.0.0'" in wrong.stderr
