"""Faults the pipeline survives, with real git and dvc: a stage killed or interrupted while
it writes its outputs, and a DVC remote that cannot be reached when the outputs are pulled.

One clone of a reproduced baseline (tests/conftest.py: a bare origin, a local directory
as the DVC remote); the tests run in order and each leaves it clean.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

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


def stop_while_writing_the_model(
    space: Workspace, *command: str, signal_number: int = signal.SIGKILL
) -> str:
    """Start `command`; send `signal_number` to it and its children (its process group, as
    Ctrl-C or a cancelled job does) the moment the train stage has written model.skops
    into its staging directory and not yet renamed that over models/; what it printed."""
    staged = ".models.*.tmp/model.skops"
    earlier = set(space.path.glob(staged))  # a killed writer's, left for the next to sweep
    with tempfile.TemporaryFile("w+") as printed:
        process = subprocess.Popen(
            command,
            cwd=space.path,
            env=cold(space.env),  # one process group with its stages: not forked elsewhere
            stdout=printed,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: dvc's stage command gets it too
        )
        deadline = time.monotonic() + 300
        try:
            while not set(space.path.glob(staged)) - earlier:
                assert process.poll() is None, f"{command} ended before it was stopped"
                assert time.monotonic() < deadline, "the model was never written"
                time.sleep(0.002)
        finally:
            os.killpg(process.pid, signal_number)
            assert process.wait(timeout=120) != 0
            while group_alive(process.pid):  # dvc may end before its stage has unwound
                assert time.monotonic() < deadline + 120, "the stage outlived dvc"
                time.sleep(0.01)
        printed.seek(0)
        return printed.read()


def group_alive(group: int) -> bool:
    """Whether a process of `group` still runs (a zombie waiting to be reaped does not)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # it ended meanwhile
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def test_a_killed_stage_command_leaves_the_previous_outputs_as_they_were(clone):
    """`cauce train` on its own (what dvc runs): killed half-way through writing models/,
    models/ is still the previous model, whole, and dvc.lock still describes it."""
    models = clone.tree_digest("models")
    params = (clone.path / "params.yaml").read_bytes()
    clone.set_params(OTHER_MODEL)
    stop_while_writing_the_model(clone, "cauce", "train")
    left = strays(clone)
    assert any(name.startswith(".models.") for name in left), left  # it was killed mid-write
    assert clone.tree_digest("models") == models
    (clone.path / "params.yaml").write_bytes(params)
    assert "Data and pipelines are up to date." in clone.run("dvc", "status").stdout


def pipeline_outputs(space: Workspace) -> dict[str, str]:
    return space.tree_digest("data") | space.tree_digest("models") | space.tree_digest("reports")


@pytest.mark.parametrize(
    "signal_number", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"]
)
def test_an_interrupted_dvc_repro_leaves_every_output_as_it_was(clone, signal_number):
    """Ctrl-C, or a cancelled job's SIGTERM, while train writes its model: the stage
    unwinds (its staging directory removed) and every output is the last good one, so
    with the parameter back, dvc finds nothing to do."""
    before, left = pipeline_outputs(clone), strays(clone)  # what the SIGKILL test left
    params = (clone.path / "params.yaml").read_bytes()
    clone.set_params(OTHER_MODEL)
    printed = stop_while_writing_the_model(clone, "dvc", "repro", signal_number=signal_number)
    assert pipeline_outputs(clone) == before
    assert set(strays(clone)) <= set(left), printed  # its own removed (a dead one's swept)
    assert "cauce train: interrupted" in printed
    (clone.path / "params.yaml").write_bytes(params)
    assert "Data and pipelines are up to date." in clone.run("dvc", "status").stdout


def test_a_killed_dvc_repro_leaves_the_last_good_outputs_and_the_next_repro_recovers(clone):
    before = pipeline_outputs(clone)
    models = clone.tree_digest("models")
    clone.set_params(OTHER_MODEL)
    stop_while_writing_the_model(clone, "dvc", "repro")

    # The outputs persist (dvc.yaml): dvc did not delete them before the stage ran, and
    # the killed stage never renamed its half-written model over them.
    assert pipeline_outputs(clone) == before
    # The staging directory is not an output: dvc status names the changed param only.
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
