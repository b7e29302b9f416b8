"""Faults the pipeline survives, with real git and dvc: a stage killed while it writes its
outputs, and a DVC remote that cannot be reached when the outputs are pulled.

One clone of a reproduced baseline (tests/conftest.py: a bare origin, a local directory
as the DVC remote); the tests run in order and each leaves it clean.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from tests.conftest import Workspace
from tests.serving.conftest import free_port
from tests.warm import cold

pytestmark = pytest.mark.rehearsal

# A training run whose model differs from the baseline's (SMALL trains 40 iterations).
OTHER_MODEL = {"train.hist_gradient_boosting.max_iter": 20}


@pytest.fixture(scope="module")
def clone(tmp_path_factory, baseline_clone) -> Workspace:
    return baseline_clone(tmp_path_factory.mktemp("faults"))


def strays(space: Workspace) -> list[str]:
    """Temporaries of cauce's atomic writes anywhere in the workspace (not in .git, .dvc)."""
    return sorted(
        str(path.relative_to(space.path))
        for path in space.path.rglob(".*.tmp")
        if path.relative_to(space.path).parts[0] not in {".git", ".dvc"}
    )


def kill_while_writing_the_model(space: Workspace, *command: str) -> None:
    """Start `command`; SIGKILL it and its children the moment the train stage has written
    model.skops into its staging directory and not yet renamed that over models/."""
    process = subprocess.Popen(
        command,
        cwd=space.path,
        env=cold(space.env),  # one process group with its stages: not forked elsewhere
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: dvc's stage command dies with it
    )
    deadline = time.monotonic() + 300
    try:
        while not list(space.path.glob(".models.*.tmp/model.skops")):
            assert process.poll() is None, f"{command} ended before it was killed"
            assert time.monotonic() < deadline, "the model was never written"
            time.sleep(0.002)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_a_killed_stage_command_leaves_the_previous_outputs_as_they_were(clone):
    """`cauce train` on its own (what dvc runs): killed half-way through writing models/,
    models/ is still the previous model, whole, and dvc.lock still describes it."""
    models = clone.tree_digest("models")
    params = (clone.path / "params.yaml").read_bytes()
    clone.set_params(OTHER_MODEL)
    kill_while_writing_the_model(clone, "cauce", "train")
    left = strays(clone)
    assert any(name.startswith(".models.") for name in left), left  # it was killed mid-write
    assert clone.tree_digest("models") == models
    (clone.path / "params.yaml").write_bytes(params)
    assert "Data and pipelines are up to date." in clone.run("dvc", "status").stdout


def test_a_killed_dvc_repro_leaves_no_half_output_and_the_next_repro_recovers(clone):
    data = clone.tree_digest("data")
    reports = clone.tree_digest("reports/evaluate")
    models = clone.tree_digest("models")
    clone.set_params(OTHER_MODEL)
    kill_while_writing_the_model(clone, "dvc", "repro")

    # dvc removes a stage's outputs before it runs the command: the old model is gone
    # from the workspace (still in the cache), and no part of the new one is there.
    assert not (clone.path / "models").exists() or clone.tree_digest("models") == models
    assert clone.tree_digest("data") == data
    assert clone.tree_digest("reports/evaluate") == reports
    # The staging directory is not an output: dvc status names models/, nothing else.
    status = clone.run("dvc", "status").stdout
    assert ".tmp" not in status

    result, ran = clone.repro()
    assert ran == ["train", "evaluate"], result.stdout
    assert "Data and pipelines are up to date." in clone.run("dvc", "status").stdout
    assert strays(clone) == []  # the killed run's staging directory was swept away
    assert clone.tree_digest("models") != models  # the new model, whole
    # Nothing untracked is left for a `git add -A` to commit by mistake.
    untracked = clone.run("git", "status", "--porcelain", "--untracked-files=all").stdout
    assert [line for line in untracked.splitlines() if line.startswith("??")] == []
    clone.run("git", "checkout", "--", "params.yaml", "dvc.lock", "reports")
    clone.run("dvc", "checkout", "--quiet")
    assert clone.tree_digest("models") == models


def fresh_clone(clone: Workspace, name: str) -> tuple[Workspace, str]:
    """A new clone of origin, with its own empty DVC cache, whose remote is a closed port."""
    fresh = Workspace(clone.path.parent / name, clone.env)
    origin = clone.run("git", "remote", "get-url", "origin").stdout.strip()
    clone.run("git", "clone", "-q", origin, str(fresh.path))
    down = f"http://127.0.0.1:{free_port()}/dvc-store"
    fresh.run("dvc", "remote", "modify", "--local", "storage", "url", down)
    return fresh, down


def make_outputs(space: Workspace):
    """`make outputs`; -o setup: the workspace uses this environment, no .venv of its own."""
    return space.run("make", "--no-print-directory", "-o", "setup", "outputs", check=False)


def test_outputs_from_an_unreachable_remote_fail_leaving_nothing_and_a_retry_pulls_them(clone):
    """`make outputs` (dvc pull) in a fresh clone whose remote points at a closed port
    fails with nothing half-fetched in the workspace; with the remote back, the outputs
    are the ones dvc.lock records."""
    fresh, down = fresh_clone(clone, "fresh")
    tracked = fresh.tree_digest("reports")

    failed = make_outputs(fresh)
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0, output
    assert "failed to pull data from the cloud" in output
    assert f"make outputs: dvc pull from the DVC remote 'storage' ({down}) failed" in output
    assert "Traceback" not in output
    # No output, whole or half, and no temporary of one: nothing git does not track.
    fetched = ("ls-files", "--others", "--ignored", "--exclude-standard", "--", "data", "models")
    assert fresh.run("git", *fetched).stdout == ""
    assert not (fresh.path / "models").exists()
    assert fresh.tree_digest("reports") == tracked
    assert fresh.run("git", "status", "--porcelain").stdout == ""

    (fresh.path / ".dvc/config.local").unlink()  # the remote is reachable again
    pulled = make_outputs(fresh)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert "Data and pipelines are up to date." in fresh.run("dvc", "status").stdout
    assert fresh.tree_digest("models") == clone.tree_digest("models")
    assert fresh.tree_digest("data") == clone.tree_digest("data")
    assert fresh.run("git", "status", "--porcelain").stdout == ""
