"""What the tests share stays unshared where it matters: the state built once per run
(tests/built.py) is copied, never written, whatever a test does to its copy; each copy's
origin, DVC remote and cache are its own; and each pytest-xdist worker has its own
temporary directories."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.built import built_once, changes, shared_directory


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
