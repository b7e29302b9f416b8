"""Bad input to the workflows: a dispatch's version or stage, a tag push that is not a
model stage tag, a pull request number that is not a number. Each is refused by the step
that checks it, with a message naming the input and the rule, before anything is built,
pushed, tagged, released or posted.

Where the inputs are checked:

- deploy.yml, step `What to deploy` (id `target`): `cauce deploy-target`, whose argparse
  types check `--version` and `--stage` (exit 2), and which asks GTO whether a pushed tag
  is a stage assignment of the model (exit 2). The inputs reach it through the job's
  `env`, never interpolated into the script. On GitHub the `tags: ["model#*"]` filter
  already keeps `v1.0.0` or `other@v1.0.0` from starting a deploy; this step is what stops
  them when it does start (and `model#…` tags that assign nothing).
- pr-comment.yml, step `Check the pull request number …` (id `pr`): digits only, and a
  pull request whose head is the commit the fork's run built (exit 1).

Each case runs the step's own `run:` script, read from the workflow, as GitHub runs it
(`bash --noprofile --norc -eo pipefail`), with the environment the workflow gives it. Two
act rehearsals (one per workflow) prove the whole workflow stops at that step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, Workspace, tool_environment
from tests.workflows.act import HERE, REPOSITORY, rehearse

WORKFLOWS = ROOT / ".github/workflows"
OWNER = {"full_name": REPOSITORY, "name": "cauce", "owner": {"login": "cauce-org"}}
HEAD_SHA = "a" * 40  # the commit the fork's pull request run built
TAGS = ("v1.0.0", "model@latest", "other@v1.0.0", "model#prod", "model#prod#x")


def workflow_step(workflow: str, job: str, step_id: str) -> tuple[dict, dict]:
    """The job and the step (by id) of a workflow, as the YAML says."""
    jobs = yaml.safe_load((WORKFLOWS / workflow).read_text(encoding="utf-8"))["jobs"]
    (step,) = [s for s in jobs[job]["steps"] if s.get("id") == step_id]
    return jobs[job], step


@dataclass(frozen=True)
class Case:
    workflow: str  # deploy.yml or pr-comment.yml
    event: str  # workflow_dispatch, push (a tag), or workflow_run (the PR number)
    value: str  # the version, the tag, or the pr-number file's contents
    status: int
    message: str
    stage: str = "prod"


def dispatch(version: str, message: str, stage: str = "prod") -> Case:
    return Case("deploy.yml", "workflow_dispatch", version, 2, message, stage)


def tag(name: str) -> Case:
    return Case("deploy.yml", "push", name, 2, f"{name} is not a stage assignment of model")


def pr_number(text: str, shown: str) -> Case:
    message = f"pr-number {shown} is not a pull request number (digits only): refusing to post"
    return Case("pr-comment.yml", "workflow_run", text, 1, message)


def bad_version(quoted: str) -> str:
    return f"error: argument --version: {quoted} is not a version like v0.2.0"


CASES = {
    "dispatch-version-latest": dispatch("latest", bad_version("'latest'")),
    "dispatch-version-v1": dispatch("v1", bad_version("'v1'")),
    "dispatch-version-without-v": dispatch("1.2.3", bad_version("'1.2.3'")),
    "dispatch-version-shell": dispatch("v1.2.3; rm -rf /", bad_version("'v1.2.3; rm -rf /'")),
    "dispatch-version-empty": dispatch("", bad_version("''")),
    "dispatch-stage-shell": dispatch(
        "v0.1.0",
        "error: argument --stage: 'prod$(id)' is not a stage name like prod",
        stage="prod$(id)",
    ),
    "tag-plain-semver": tag("v1.0.0"),
    "tag-model-at-latest": tag("model@latest"),
    "tag-other-artifact": tag("other@v1.0.0"),
    # GTO reads `model#prod` (no number) as an assignment of the commit it tags; that commit
    # is no registered version, and the message names the tag and the commit.
    "tag-stage-without-number": Case("deploy.yml", "push", "model#prod", 2, "model#prod names"),
    "tag-stage-number-not-a-number": tag("model#prod#x"),
    "pr-number-letters": pr_number("12a\n", "'12a'"),
    "pr-number-negative": pr_number("-1\n", "'-1'"),
    "pr-number-space": pr_number("1 2\n", "'1 2'"),
    "pr-number-empty": pr_number("", "''"),
    "pr-number-two-lines": pr_number("7\n::error::forged\n", "$'7\\n::error::forged'"),
}


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Path:
    """A git repository with the bad tags in it, as a push of each would leave it."""
    path = tmp_path_factory.mktemp("bad-inputs")
    env = tool_environment(path)
    for command in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "commit", "-q", "--allow-empty", "-m", "cauce"],
        *(["git", "tag", "-a", "-m", name, name] for name in TAGS),
    ):
        subprocess.run(command, cwd=path, env=env, check=True, capture_output=True)
    return path


def run_step(case: Case, cwd: Path, scratch: Path) -> tuple[subprocess.CompletedProcess, str]:
    """The step that checks `case`'s input, run as its workflow runs it; what it output."""
    scratch.mkdir()
    output = scratch / "github-output"
    output.touch()
    env = {
        **tool_environment(scratch),
        "PATH": os.pathsep.join([str(HERE / "bin"), str(Path(sys.executable).parent), "/usr/bin"]),
        "GITHUB_REPOSITORY": REPOSITORY,
        "GITHUB_OUTPUT": str(output),
        "CAUCE_RECORD": str(scratch),
    }
    if case.workflow == "deploy.yml":
        job, step = workflow_step("deploy.yml", "deploy", "target")
        # What the job's env makes of the event: the tag pushed, or the dispatch's inputs.
        assert job["env"] == {
            "REF": "${{ github.ref_type == 'tag' && github.ref_name || '' }}",
            "VERSION": "${{ inputs.version }}",
            "STAGE": "${{ inputs.stage }}",
        }
        assert "env" not in step
        pushed = case.event == "push"
        env |= {
            "REF": case.value if pushed else "",
            "VERSION": "" if pushed else case.value,
            "STAGE": "" if pushed else case.stage,
        }
    else:
        _, step = workflow_step("pr-comment.yml", "comment", "pr")
        assert set(step["env"]) == {"GH_TOKEN", "HEAD_SHA"}
        assert step["env"]["HEAD_SHA"] == "${{ github.event.workflow_run.head_sha }}"
        env |= {"GH_TOKEN": "a-token", "HEAD_SHA": HEAD_SHA}
        (cwd / "model-report").mkdir()
        (cwd / "model-report/pr-number").write_text(case.value, encoding="utf-8")
    script = scratch / "step.sh"
    script.write_text(step["run"], encoding="utf-8")
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return result, output.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_step_that_checks_the_input_refuses_it(case, repository, tmp_path):
    cwd = repository if case.workflow == "deploy.yml" else tmp_path / "workspace"
    cwd.mkdir(exist_ok=True)
    before = subprocess.run(["git", "tag"], cwd=repository, capture_output=True, text=True)
    result, output = run_step(case, cwd, tmp_path / "scratch")
    assert result.returncode == case.status, result.stdout + result.stderr
    assert case.message in result.stderr, result.stderr
    assert output == "", "nothing for the steps that build, push or post"
    assert result.stdout == ""
    after = subprocess.run(["git", "tag"], cwd=repository, capture_output=True, text=True)
    assert after.stdout == before.stdout, "no tag made"
    assert not (tmp_path / "scratch/gh-api").exists(), "GitHub not even asked"
    assert not list((tmp_path / "scratch").glob("gh-*")), "nothing published"


# The act rehearsals: the whole workflow, stopped at the step that checks the input.


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Workspace:
    """This repository's files in a clone of a bare `origin`, with no model registered."""
    root = tmp_path_factory.mktemp("bad-inputs-act")
    space = Workspace(root / "clone", tool_environment(root))
    # The files git tracks (reports a pipeline run is rewriting elsewhere are not needed:
    # every case stops before the pipeline).
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True)
    for name in filter(None, listed.stdout.split("\0")):
        if (ROOT / name).is_file():
            (space.path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, space.path / name)
    space.run("git", "init", "-q", "--bare", "-b", "main", str(root / "origin.git"))
    space.run("git", "init", "-q", "-b", "main")
    space.run("git", "add", "-A")
    space.run("git", "commit", "-q", "-m", "cauce")
    space.run("git", "remote", "add", "origin", str(root / "origin.git"))
    space.run("git", "push", "-q", "origin", "main")
    return space


REHEARSED = {
    "act-deploy-dispatch-version-shell": "dispatch-version-shell",
    "act-deploy-tag-other-artifact": "tag-other-artifact",
    "act-pr-comment-pr-number-letters": "pr-number-letters",
}


@pytest.mark.rehearsal
@pytest.mark.parametrize("name", REHEARSED.values(), ids=REHEARSED.keys())
def test_the_workflow_stops_at_the_check(name, workspace, tmp_path):
    case = CASES[name]
    if case.event == "workflow_dispatch":
        inputs = {"version": case.value, "stage": case.stage}
        event = {"inputs": inputs, "repository": OWNER}
    elif case.event == "push":
        # The tag is pushed (what starts the workflow), so it is in origin as on GitHub.
        workspace.run("git", "tag", "-f", "-a", "-m", case.value, case.value)
        workspace.run("git", "push", "-q", "-f", "origin", f"refs/tags/{case.value}")
        event = {"ref": f"refs/tags/{case.value}", "repository": OWNER}
    else:
        report = tmp_path / "artifacts/model-report"
        report.mkdir(parents=True)
        (report / "report.md").write_text("## Model report\n", encoding="utf-8")
        (report / "pr-number").write_text(case.value, encoding="utf-8")
        event = {
            "action": "completed",
            "workflow_run": {
                "id": 4242,
                "event": "pull_request",
                "head_repository": {"full_name": "someone/cauce-fork"},
                "head_sha": HEAD_SHA,
            },
            "repository": OWNER,
        }
    extra = {"CAUCE_ARTIFACTS": str(tmp_path / "artifacts")}
    tags = workspace.run("git", "ls-remote", "--tags", "origin").stdout
    run = rehearse(
        workspace, tmp_path / "scratch", case.workflow, case.event, event, extra_env=extra
    )
    assert run.result.returncode != 0, run.output[-3000:]
    assert case.message in run.output, run.output[-3000:]
    step = "What to deploy" if case.workflow == "deploy.yml" else "Check the pull request number"
    assert f"Failure - Main {step}" in run.output
    # Nothing built, pushed, attested, released, notified or posted; no tag made.
    recorded = sorted(path.name for path in run.record.iterdir())
    assert recorded == [], recorded
    assert "Main Post the report" not in run.output
    assert "attest" not in run.output.split(f"Failure - Main {step}")[1]
    assert workspace.run("git", "ls-remote", "--tags", "origin").stdout == tags
