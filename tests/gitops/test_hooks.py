"""The git hooks (`make hooks`) as a data scientist meets them: after a switch or a merge the
outputs are the commit's, brought from the cache or the DVC remote, or kept and named with
the command that brings them; git's own command never fails because of them, and nothing
is deleted that cannot be replaced."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import Workspace

pytestmark = pytest.mark.slow

OUTPUTS = ("data/raw/data.parquet", "data/prepared/train.parquet", "models/model.skops")


def with_hooks(clone: Workspace) -> Workspace:
    """The clone with the hooks installed, and the project's environment where the hooks
    look for it (.venv, as `make setup` makes it)."""
    (clone.path / ".venv").symlink_to(Path(sys.executable).parent.parent)
    clone.run("pre-commit", "install")
    return clone


def experiment(clone: Workspace, max_iter: int) -> None:
    """A branch `exp` with another model, built and committed (the lint hooks skipped: they
    are tested on their own)."""
    clone.run("git", "switch", "-q", "-c", "exp")
    clone.set_params({"train.hist_gradient_boosting.max_iter": max_iter})
    clone.repro()
    clone.run("git", "add", "-A")
    clone.run("git", "commit", "-q", "--no-verify", "-m", f"max_iter {max_iter}")


def forget_main_model(clone: Workspace) -> None:
    """main's model taken out of the DVC cache, as on a machine that never built main:
    the directory's manifest (`<md5>.dir`) is what DVC looks for first."""
    lock = yaml.safe_load(clone.run("git", "show", "main:dvc.lock").stdout)
    digest = next(o["md5"] for o in lock["stages"]["train"]["outs"] if o["path"] == "models")
    cache = Path(clone.run("dvc", "cache", "dir").stdout.strip())
    (cache / "files/md5" / digest[:2] / digest[2:]).unlink()


def said(result) -> str:
    return result.stdout + result.stderr


def test_a_switch_and_a_merge_bring_the_commits_outputs_and_release_needs_nothing_more(
    tmp_path, baseline_clone
):
    clone = baseline_clone(tmp_path)
    experiment(clone, 20)
    # Without the hooks, git leaves exp's outputs in main's checkout; release says so.
    clone.run("git", "switch", "-q", "main")
    refused = clone.run("cauce", "release", check=False)
    assert refused.returncode != 0
    assert "the files on disk are not those dvc.lock records" in refused.stderr
    assert "Get them with dvc checkout (after a merge or a checkout without the git hooks" in (
        refused.stderr
    )

    with_hooks(clone)
    forget_main_model(clone)  # it is on the DVC remote only
    brought = clone.run("git", "switch", "-c", "review", check=False)
    assert brought.returncode == 0, said(brought)
    assert "cauce (post-checkout): outputs checked out from the DVC cache: models" in said(brought)
    assert "Data and pipelines are up to date" in clone.run("dvc", "status").stdout

    clone.run("git", "switch", "-q", "main")
    merged = clone.run("git", "merge", "--no-edit", "exp", check=False)
    assert merged.returncode == 0, said(merged)
    assert "cauce (post-merge): outputs checked out from the DVC cache: models" in said(merged)
    released = clone.run("cauce", "release", check=False)
    assert released.returncode == 0, said(released)


def test_a_switch_to_a_commit_never_built_here_keeps_the_outputs_and_names_them(
    tmp_path, baseline_clone
):
    clone = with_hooks(baseline_clone(tmp_path, remote=False, reproduced=True))
    experiment(clone, 20)
    forget_main_model(clone)  # and there is no remote
    before = {path: (clone.path / path).read_bytes() for path in OUTPUTS}

    away = clone.run("git", "switch", "main", check=False)
    assert away.returncode == 0, said(away)
    assert (
        "cauce (post-checkout): not in the DVC cache (no remote), so left as they were: "
        "models; bring them with: make outputs" in said(away)
    )
    assert {path: (clone.path / path).read_bytes() for path in OUTPUTS} == before

    again = clone.run("git", "switch", "-", check=False)
    assert again.returncode == 0, said(again)
    assert "Data and pipelines are up to date" in clone.run("dvc", "status").stdout
