"""What the tests share stays unshared where it matters: the state built once per run
(tests/built.py) is copied, never written, whatever a test does to its copy; each copy's
origin, DVC remote and cache are its own; each pytest-xdist worker has its own
temporary directories; and a process forked from the warm server (tests/warm.py) does
what the same command run cold does."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.built import built_once, changes, shared_directory
from tests.conftest import Workspace, tool_environment
from tests.warm import cold


def mentions(space_root: Path, needle: str) -> list[str]:
    """The git and DVC configuration files under `space_root` that name `needle`."""
    configs = [*space_root.glob("*/.git/config"), *space_root.glob("*/.dvc/config*")]
    configs.append(space_root / "origin.git/config")
    return [str(p) for p in configs if p.is_file() and needle in p.read_text(encoding="utf-8")]


BUILDS = ("reproduced", "baseline", "fork", "reproduced-fork")  # tests/conftest.py


@pytest.mark.slow
def test_a_copy_of_the_built_baseline_is_its_own(baseline_clone, tmp_path_factory):
    first = baseline_clone(tmp_path_factory.mktemp("copy-a"))
    second = baseline_clone(tmp_path_factory.mktemp("copy-b"))
    fork = baseline_clone(tmp_path_factory.mktemp("copy-fork"), remote=False, reproduced=True)
    shared = shared_directory(tmp_path_factory)
    for copy in (first, second, fork):
        for build in BUILDS:
            assert mentions(copy.path.parent, f"{shared / build}/") == [], build
    assert fork.run("dvc", "cache", "dir").stdout.strip() == str(fork.path / ".dvc/cache")
    assert first.run("git", "remote", "get-url", "origin").stdout.strip() == str(
        first.path.parent / "origin.git"
    )
    assert first.run("dvc", "cache", "dir").stdout.strip() == str(
        first.path.parent / "seed/.dvc/cache"
    )
    remote = first.run("dvc", "remote", "list").stdout.split()
    assert remote == ["storage", str(first.path.parent / "dvc-remote"), "(default)"]

    # What tests do to their copy: a new model, committed, pushed, tagged, in its remote.
    first.merge("another model", **{"train.hist_gradient_boosting.max_iter": 7})
    first.run("dvc", "push", "--quiet")
    first.run("git", "tag", "-a", "-m", "a tag", "model@v9.0.0")
    first.run("git", "push", "-q", "origin", "model@v9.0.0")

    assert second.run("git", "ls-remote", "--tags", "origin", "model@v9.0.0").stdout == ""
    pushed = {p.name for p in (first.path.parent / "dvc-remote").rglob("*") if p.is_file()}
    others = {p.name for p in (second.path.parent / "dvc-remote").rglob("*") if p.is_file()}
    assert pushed - others, "the first copy's push reached its own remote"
    assert second.run("git", "log", "-1", "--format=%s", "origin/main").stdout.strip() == (
        "baseline model"
    )
    build = shared / "baseline"
    recorded = json.loads(build.with_name("baseline.built.json").read_text(encoding="utf-8"))
    assert changes(build, recorded) == []


def test_a_build_that_was_written_into_fails_the_test_that_asks_for_it(tmp_path):
    def build(folder: Path) -> None:
        (folder / "state").write_text("as built", encoding="utf-8")

    folder = built_once(tmp_path / "thing", build)
    (folder / "state").write_text("changed by a test", encoding="utf-8")
    with pytest.raises(AssertionError, match=r"thing, built for the whole run, was written into"):
        built_once(tmp_path / "thing", build)


def test_each_worker_has_its_own_temporary_directory(tmp_path_factory):
    base = tmp_path_factory.getbasetemp()
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if worker is None:
        assert shared_directory(tmp_path_factory) == base
    else:
        assert base.name == f"popen-{worker}"
        assert shared_directory(tmp_path_factory) == base.parent


@pytest.mark.slow
def test_a_warm_pipeline_makes_the_bytes_a_cold_one_makes_and_fails_alike(baseline_clone, tmp_path):
    """dvc and the stages that fit, save, load and judge the model (train, evaluate)
    forked from the warm server, or started anew: the same model and reports, byte for
    byte; a refused command prints the same and exits the same."""
    clone = baseline_clone(tmp_path)
    warm = Workspace(clone.path, clone.env)
    cool = Workspace(clone.path, cold(clone.env))
    made = {}
    for name, space in (("cold", cool), ("warm", warm)):
        space.run("dvc", "repro", "--force", "--single-item", "train", "evaluate")
        made[name] = {folder: space.tree_digest(folder) for folder in ("models", "reports")}
    assert made["warm"] == made["cold"]
    cold_refusal, warm_refusal = (
        space.run("cauce", "gate", "--base", "no-such-branch", check=False)
        for space in (cool, warm)
    )
    assert (warm_refusal.returncode, warm_refusal.stdout, warm_refusal.stderr) == (
        cold_refusal.returncode, cold_refusal.stdout, cold_refusal.stderr,
    )  # fmt: skip
    assert cold_refusal.returncode == 2


@pytest.mark.slow
def test_a_stand_in_killed_outright_takes_its_warm_process_with_it(tmp_path):
    """SIGKILL to the stand-in a test started (it cannot pass that on): the forked dvc
    dies too, as the real one would, leaving its stage as the real one leaves it."""
    space = Workspace(tmp_path, tool_environment(tmp_path))
    space.run("git", "init", "-q")
    space.run("dvc", "init", "-q")
    space.run("dvc", "stage", "add", "-q", "-n", "wait", "echo $$ $PPID > pids; exec sleep 60")
    stand_in = subprocess.Popen(
        ["dvc", "repro"], cwd=tmp_path, env=space.env, stdout=subprocess.DEVNULL
    )
    pids = tmp_path / "pids"
    deadline = time.monotonic() + 60
    while not pids.exists() or len(pids.read_text().split()) < 2:
        assert stand_in.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.05)
    stage, dvc = map(int, pids.read_text().split())
    assert dvc != stand_in.pid  # forked by the warm server, not the stand-in itself
    stand_in.kill()
    stand_in.wait()
    while Path(f"/proc/{dvc}").exists():
        assert time.monotonic() < deadline, "the warm dvc outlived its stand-in"
        time.sleep(0.05)
    os.kill(stage, signal.SIGKILL)  # orphaned, as a killed dvc leaves it
