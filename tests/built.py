"""State that is expensive to build, made once per test run and copied by each test that
needs its own.

A reproduced baseline repository takes a `dvc repro` and a dozen git and dvc processes to
make; copying a built one takes `cp -a` (a fraction of a second) and a few git commands
to point the copy at its own `origin` and DVC remote. The builds live in a directory that
every pytest-xdist worker of the run sees, behind a file lock: whichever worker asks
first builds, the others wait and copy.

Nothing in a copy points back into the build (tests/test_isolation.py): the copy's
origin, DVC remote and cache are its own, so a test may push, tag, release and break
things in it freely; and a build that anything wrote into fails the next test asking for
it, in whichever worker.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

from tests.conftest import SMALL, Workspace, tool_environment, tree_digest

# What the baseline's first `dvc repro` printed, beside the seed and the clone in every
# copy, for the tests about that first run (tests/pipeline/test_dvc_repro.py); and what a
# fork's `cauce reproduce` printed (tests/gitops/test_release_integrity.py).
FIRST_REPRO = "first-repro.log"
REPRODUCE = "reproduce.log"


def shared_directory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory of this test run that every xdist worker sees: the parent of the
    workers' own base directories (each worker's is `popen-gwN` inside it)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(folder: Path, build: Callable[[Path], None]) -> Path:
    """`folder`, made by `build(folder)` unless this run made it already (in any worker),
    and as it was made: a build that failed half-way is started again from nothing, and
    one that something wrote into since fails the test that asks for it."""
    record = folder.with_name(folder.name + ".built.json")
    with FileLock(folder.with_name(folder.name + ".lock")):
        if not record.exists():
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            build(folder)
            record.write_text(json.dumps(tree_digest(folder)), encoding="utf-8")
    changed = changes(folder, json.loads(record.read_text(encoding="utf-8")))
    assert not changed, f"{folder}, built for the whole run, was written into: {changed[:5]}"
    return folder


def changes(folder: Path, recorded: dict[str, str]) -> list[str]:
    """The files under `folder` added, removed or changed since it was `recorded`."""
    now = tree_digest(folder)
    return sorted(
        name for name in recorded.keys() | now.keys() if recorded.get(name) != now.get(name)
    )


def copy_tree(source: Path, destination: Path) -> None:
    """`cp -a`: permissions (DVC's read-only cache files), times and hard links kept."""
    destination.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", f"{source}/.", str(destination)], check=True)


def build_reproduced_seed(folder: Path) -> None:
    """`folder/seed`: this repository's files with SMALL params, committed and tagged
    `before-first-run` (no dvc.lock, no reports), then reproduced (not yet committed)."""
    seed = Workspace.copy_of_repository(folder / "seed", tool_environment(folder))
    shutil.rmtree(seed.path / "reports")
    (seed.path / "dvc.lock").unlink()
    seed.set_params(SMALL)
    seed.run("git", "init", "-q", "-b", "main")
    seed.run("git", "add", "-A")
    seed.run("git", "commit", "-q", "-m", "cauce, before its first run")
    seed.run("git", "tag", "before-first-run")
    result, _ = seed.repro()
    (folder / FIRST_REPRO).write_text(result.stdout, encoding="utf-8")


def build_baseline(folder: Path, seed: Path, remote: bool) -> None:
    """`folder`: origin.git, whose main holds the reproduced seed (of `seed`, a
    build_reproduced_seed folder), the seed that pushed it, a clone, what the first
    `dvc repro` printed, and with `remote` the DVC remote (dvc-remote) the seed pushed to,
    committed, with the clone using the seed's DVC cache."""
    copy_tree(seed / "seed", folder / "seed")
    shutil.copy2(seed / FIRST_REPRO, folder / FIRST_REPRO)
    env = tool_environment(folder)
    seed_space = Workspace(folder / "seed", env)
    origin = folder / "origin.git"
    seed_space.run("git", "init", "-q", "--bare", "-b", "main", str(origin))
    if remote:
        # A local directory is the team's DVC remote, committed as a real one would be.
        storage = str(folder / "dvc-remote")
        seed_space.run("dvc", "remote", "add", "--default", "storage", storage)
        seed_space.run("dvc", "push", "--quiet")
    seed_space.run("git", "add", "-A")
    seed_space.run("git", "commit", "-q", "-m", "baseline model")
    seed_space.run("git", "remote", "add", "origin", str(origin))
    seed_space.run("git", "push", "-q", "origin", "main", "before-first-run")
    clone = Workspace(folder / "clone", env)
    seed_space.run("git", "clone", "-q", str(origin), str(clone.path))
    if remote:
        # Relative (DVC keeps it relative to .dvc/): a copy of the build uses its own seed.
        clone.run("dvc", "cache", "dir", "--local", "../seed/.dvc/cache")
        clone.run("dvc", "checkout", "-q")


def copy_of_baseline(build: Path, root: Path) -> Workspace:
    """The clone of a copy of `build` in `root`, its origin and DVC remote the copy's own."""
    copy_tree(build, root)
    env = tool_environment(root)
    seed, clone = Workspace(root / "seed", env), Workspace(root / "clone", env)
    origin = str(root / "origin.git")
    for space in (seed, clone):
        space.run("git", "remote", "set-url", "origin", origin)
    config = seed.path / ".dvc/config"
    if str(build) in config.read_text(encoding="utf-8"):
        # The DVC remote is committed: the copy's main commits its own remote instead.
        config.write_text(
            config.read_text(encoding="utf-8").replace(str(build), str(root)), encoding="utf-8"
        )
        seed.run("git", "commit", "-q", "--amend", "--no-edit", "--", ".dvc/config")
        seed.run("git", "push", "-q", "--force", "origin", "main")
        clone.run("git", "fetch", "-q", "origin")
        clone.run("git", "reset", "-q", "--hard", "origin/main")
    return clone


def build_reproduced_fork(folder: Path, fork: Path) -> None:
    """`folder`: a copy of the `fork` build (no DVC remote) whose clone, on day one with
    no outputs and an empty cache, ran `cauce reproduce`; what it printed beside it."""
    clone = copy_of_baseline(fork, folder)
    assert not (clone.path / "models").exists(), "a fork starts with no outputs"
    result = clone.run("cauce", "reproduce")
    (folder / REPRODUCE).write_text(result.stdout, encoding="utf-8")
