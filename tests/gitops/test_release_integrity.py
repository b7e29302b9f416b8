"""A fork on day one, with real git, dvc and gto: no DVC remote, an empty cache. The
pipeline rebuilds exactly what main records, and `cauce release` registers only a commit
whose outputs on disk are those its dvc.lock records and whose model can be fetched.
The tests run in order on one clone."""

from __future__ import annotations

import shutil

import pytest

from tests.built import REPRODUCE
from tests.conftest import Workspace
from tests.serving.conftest import free_port, running, smoke_test

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fork(tmp_path_factory, baseline_clone) -> Workspace:
    """The fork after its first `cauce reproduce` (run once per test run, tests/built.py)."""
    return baseline_clone(tmp_path_factory.mktemp("fork"), remote=False, reproduced=True)


def refused(fork: Workspace) -> str:
    result = fork.run("cauce", "release", check=False)
    assert result.returncode == 1, result.stdout
    assert fork.run("git", "tag", "--list", "model*").stdout == "", "nothing registered"
    return result.stderr


def test_a_fresh_clone_rebuilds_exactly_what_main_records(fork):
    printed = (fork.path.parent / REPRODUCE).read_text(encoding="utf-8")
    assert "Reproduced: rebuilt ingest, validate, prepare, train, evaluate; all " in printed
    assert (fork.path / "models/model.skops").exists()
    assert fork.run("git", "status", "--porcelain").stdout == ""


def test_a_rerun_with_another_parameter_is_refused_naming_the_output(fork):
    fork.set_params({"train.hist_gradient_boosting.max_iter": 30})
    fork.run("dvc", "repro")
    message = refused(fork)
    assert "the outputs here are not those HEAD's dvc.lock records:" in message
    assert "  - train: output models: HEAD records md5 " in message
    assert "train: parameter train.hist_gradient_boosting.max_iter: HEAD records 40, " in message
    assert "git checkout HEAD -- dvc.lock params.yaml reports && dvc checkout" in message
    fork.run("git", "checkout", "HEAD", "--", "dvc.lock", "params.yaml", "reports")
    fork.run("dvc", "checkout", "--quiet")
    assert fork.run("git", "status", "--porcelain").stdout == ""


def test_a_parameter_changed_without_a_rerun_is_refused_naming_it(fork):
    fork.set_params({"train.hist_gradient_boosting.learning_rate": 0.2})
    message = refused(fork)
    assert "what the outputs are made from changed since dvc.lock was written:" in message
    assert "  - train: params.yaml (train modified)" in message
    assert "or run dvc repro and commit to release the change" in message
    fork.run("git", "checkout", "HEAD", "--", "params.yaml")


def test_a_model_that_is_in_no_cache_is_never_registered(fork, tmp_path):
    cache = fork.path / ".dvc/cache"
    shutil.move(cache, tmp_path / "cache")
    try:
        message = refused(fork)
        assert "cache" in message, message
    finally:
        shutil.move(tmp_path / "cache", cache)


def test_the_release_registers_what_is_on_disk_and_serves_it(fork):
    result = fork.run("cauce", "release")
    assert "v0.1.0 is the first version: promoted to prod" in result.stdout
    port = str(free_port())
    with running(["cauce", "serve", "--port", port], fork.path, fork.env):
        smoke = smoke_test(fork, port, "v0.1.0")
    assert smoke.returncode == 0, smoke.stderr
    served = fork.tree_digest(".cauce/models/v0.1.0")
    assert all(served[name] == digest for name, digest in fork.tree_digest("models").items())
