"""The checks a pull request's lint job runs: pre-commit on the repository, and the
workflow linters (zizmor, GitHub's schemas) on every workflow and action."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, Workspace, tool_environment

BIN = Path(sys.executable).parent
WORKFLOWS = sorted(ROOT.glob(".github/workflows/*.yml"))
ACTIONS = sorted(ROOT.glob(".github/actions/*/action.yml"))


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Workspace:
    space = Workspace.copy_of_repository(
        tmp_path_factory.mktemp("lint"), tool_environment(tmp_path_factory.mktemp("home"))
    )
    space.run("git", "init", "-q", "-b", "main")
    space.run("git", "add", "-A")
    space.run("git", "commit", "-q", "-m", "cauce")
    return space


@pytest.mark.slow
def test_pre_commit_passes_on_the_repository(repository):
    result = repository.run(str(BIN / "pre-commit"), "run", "--all-files", check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    for hook in ("ruff check", "zizmor (workflow security)", "workflows match GitHub's schema"):
        assert any(
            line.startswith(hook) and line.endswith("Passed") for line in result.stdout.splitlines()
        ), f"{hook} did not run and pass:\n{result.stdout}"


@pytest.mark.slow
def test_a_staged_lint_error_is_rejected(repository):
    bad = repository.path / "src/cauce/careless.py"
    bad.write_text("def broken():\n    return undefined_name\n", encoding="utf-8")
    repository.run("git", "add", str(bad))
    result = repository.run(str(BIN / "pre-commit"), "run", check=False)
    repository.run("git", "reset", "-q", "--", str(bad))
    bad.unlink()
    assert result.returncode == 1
    assert "- hook id: ruff-check" in result.stdout
    assert "F821 Undefined name `undefined_name`" in result.stdout


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_zizmor_finds_nothing_medium_or_higher(workflow):
    result = subprocess.run(
        [BIN / "zizmor", "--offline", "--min-severity", "medium", workflow],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


@pytest.mark.parametrize(
    ("schema", "path"),
    [("vendor.github-workflows", p) for p in WORKFLOWS]
    + [("vendor.github-actions", p) for p in ACTIONS],
    ids=lambda value: value.name if isinstance(value, Path) else value,
)
def test_github_schema_accepts(schema, path):
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", schema, path],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_action_is_pinned_by_full_sha_with_its_version():
    from tests.workflows.act import USES

    for path in [*WORKFLOWS, *ACTIONS]:
        for line in path.read_text(encoding="utf-8").splitlines():
            if "uses:" in line and "./.github/" not in line:
                assert USES.search(line), f"{path.name}: not pinned by SHA: {line.strip()}"
                assert "# v" in line, f"{path.name}: no version comment: {line.strip()}"


def test_every_job_declares_its_permissions():
    import yaml

    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert workflow["permissions"] == {}, f"{path.name}: default permissions must be none"
        for name, job in workflow["jobs"].items():
            assert "permissions" in job, f"{path.name}: job {name} has no permissions"
