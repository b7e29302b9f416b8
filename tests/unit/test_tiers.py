"""`make tiers`: an experiment's pull request skips the rehearsals, any other runs them;
a pull request runs the statistical tests when it changes what they measure; and one
whose change cannot be listed runs both."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tests.conftest import ROOT, tool_environment
from tests.tiers import STATISTICAL, machinery, measured_by, statistics


@pytest.mark.parametrize(
    ("files", "covered"),
    [
        (["params.yaml", "dvc.lock", "reports/evaluate/metrics.json"], []),
        (["src/cauce/pipeline/train.py", "data/contract.yaml", "docs/operate.md"], []),
        (["README.md", "data/source/new.parquet"], []),
        ([], []),
        (["params.yaml", ".github/workflows/pr.yml"], [".github/workflows/pr.yml"]),
        (["sweep.yaml"], []),  # a sweep proposed: the experiment job runs it
        (["machines.yaml"], ["machines.yaml"]),  # what train.yml launches: its rehearsal
        (["src/cauce/ops/release.py"], ["src/cauce/ops/release.py"]),
        (["Dockerfile", "Makefile", "uv.lock"], ["Dockerfile", "Makefile", "uv.lock"]),
        (["dvc.yaml"], ["dvc.yaml"]),  # the rehearsals name the stages
        (["tests/unit/test_tiers.py"], ["tests/unit/test_tiers.py"]),
        (["params.yaml.orig"], ["params.yaml.orig"]),
        # the model card's template: the release and deploy rehearsals read it
        (["src/cauce/ops/model_card.md"], ["src/cauce/ops/model_card.md"]),
        (["tests/params.yaml", "datasets/x.csv"], ["tests/params.yaml", "datasets/x.csv"]),
    ],
)
def test_only_an_experiments_files_skip_the_rehearsals(files, covered):
    assert machinery(files) == covered


GATE, MONITOR = "tests/gitops/test_gate_rates.py", "tests/monitoring/test_rates.py"
FRAMES = "tests/pipeline/test_awkward_frames.py"


@pytest.mark.parametrize(
    ("files", "measured"),
    [
        (
            ["params.yaml"],
            {GATE: ["params.yaml"], MONITOR: ["params.yaml"], FRAMES: ["params.yaml"]},
        ),
        (["src/cauce/intervals.py"], {GATE: ["src/cauce/intervals.py"]}),
        (["src/cauce/monitoring/drift.py"], {MONITOR: ["src/cauce/monitoring/drift.py"]}),
        # pytest loads it for the monitor's rates, which do not import it
        (["tests/monitoring/conftest.py"], {MONITOR: ["tests/monitoring/conftest.py"]}),
        # cauce.model, which the gate imports inside the function that scores
        (
            ["src/cauce/model.py"],
            {
                GATE: ["src/cauce/model.py"],
                MONITOR: ["src/cauce/model.py"],
                FRAMES: ["src/cauce/model.py"],
            },
        ),
        # the drafting of a contract, which only the awkward frames exercise at length
        (["src/cauce/pipeline/draft.py"], {FRAMES: ["src/cauce/pipeline/draft.py"]}),
        (
            ["uv.lock", "docs/testing.md"],
            {GATE: ["uv.lock"], MONITOR: ["uv.lock"], FRAMES: ["uv.lock"]},
        ),
        (
            ["data/source/new.parquet"],
            {
                GATE: ["data/source/new.parquet"],
                MONITOR: ["data/source/new.parquet"],
                FRAMES: ["data/source/new.parquet"],
            },
        ),
        # neither measures the release, the report's pictures, the workflows or the docs
        (["src/cauce/ops/release.py", "src/cauce/ops/plots.py", "docs/operate.md"], {}),
        ([".github/workflows/monitor.yml", "README.md", "tests/gitops/test_release.py"], {}),
    ],
)
def test_the_statistics_run_when_what_they_measure_changes(files, measured):
    assert statistics(files) == measured


def test_each_statistical_module_is_measured_by_its_own_code_and_is_so_marked():
    for test in STATISTICAL:
        covered = measured_by(test)
        assert test in covered
        assert "tests/conftest.py" in covered
        assert "pytest.mark.statistical" in (ROOT / test).read_text(encoding="utf-8")


@pytest.fixture
def repository(tmp_path):
    """main with one commit, and a branch `proposal` off it; the git environment."""
    env = tool_environment(tmp_path)
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "commit", "-q", "--allow-empty", "-m", "main"],
        ["git", "switch", "-q", "-c", "proposal"],
    ):
        subprocess.run(command, cwd=tmp_path, env=env, check=True)
    return tmp_path, env


def tiers(cwd, env, base: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "tests.tiers", "--base", base]
    run_env = env | {"PYTHONPATH": str(ROOT)}
    return subprocess.run(command, cwd=cwd, env=run_env, capture_output=True, text=True)


def commit(cwd, env, name: str) -> None:
    (cwd / name).parent.mkdir(parents=True, exist_ok=True)
    (cwd / name).write_text("changed\n", encoding="utf-8")
    subprocess.run(["git", "add", "-A"], cwd=cwd, env=env, check=True)
    subprocess.run(["git", "commit", "-q", "-m", name], cwd=cwd, env=env, check=True)


def test_a_params_change_prints_rehearsals_false_and_why(repository):
    cwd, env = repository
    commit(cwd, env, "params.yaml")
    result = tiers(cwd, env, "main")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "rehearsals=false\nstatistics=true\n"
    assert "rehearsals: skipped: 1 changed files, all an experiment's (params.yaml" in result.stderr
    assert "statistics: needed: params.yaml changed (the gate's false-fail rate" in result.stderr


def test_a_workflow_change_prints_rehearsals_true_naming_it(repository):
    cwd, env = repository
    commit(cwd, env, ".github/workflows/pr.yml")
    result = tiers(cwd, env, "main")
    assert result.stdout == "rehearsals=true\nstatistics=true\n"
    assert "rehearsals: needed: .github/workflows/pr.yml changed" in result.stderr


def test_a_change_to_the_release_prints_statistics_false_and_why(repository):
    cwd, env = repository
    commit(cwd, env, "src/cauce/ops/release.py")
    result = tiers(cwd, env, "main")
    assert result.stdout == "rehearsals=true\nstatistics=false\n"
    assert "statistics: skipped: none of 1 changed files is measured by" in result.stderr


def test_a_base_that_cannot_be_found_runs_the_rehearsals(repository):
    cwd, env = repository
    result = tiers(cwd, env, "origin/no-such-branch")
    assert result.returncode == 0
    assert result.stdout == "rehearsals=true\nstatistics=true\n"
    assert "the change since origin/no-such-branch cannot be listed" in result.stderr
