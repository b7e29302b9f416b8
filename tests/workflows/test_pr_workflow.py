"""pr.yml and pr-comment.yml rehearsed with act: the tiers a change needs (an experiment's
change skips the rehearsals and runs the statistics, a workflow's the other way round),
the sticky comment, the gate as the job's result, and the fork path where a separate,
trusted workflow posts the report.

One act run of the whole of pr.yml on a params-only pull request serves the tests of its
jobs (lint, changes, test, statistics, experiment); its fork runs only the experiment job."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import Workspace
from tests.tiers import STATISTICAL
from tests.workflows.act import REPOSITORY, rehearse

pytestmark = pytest.mark.rehearsal


def pull_request_event(clone: Workspace, head_repository: str, label: str | None = None) -> dict:
    head = clone.run("git", "rev-parse", "HEAD").stdout.strip()
    return {
        "action": "labeled" if label else "synchronize",
        "number": 7,
        "pull_request": {
            "number": 7,
            "head": {"ref": "proposal", "sha": head, "repo": {"full_name": head_repository}},
            "base": {"ref": "main", "repo": {"full_name": REPOSITORY}},
            "labels": [{"name": label}] if label else [],
        },
        "repository": {"full_name": REPOSITORY, "name": "cauce", "owner": {"login": "cauce-org"}},
    }


def rehearse_pr(
    clone: Workspace,
    scratch,
    job: str | None,
    head_repository: str = REPOSITORY,
    label: str | None = None,
    **options,
):
    """pr.yml (one job and those it needs, or all) on a pull_request from `head_repository`,
    or on the `label` added to it."""
    event = pull_request_event(clone, head_repository=head_repository, label=label)
    return rehearse(clone, scratch, "pr.yml", "pull_request", event, job=job, **options)


def job_output(run, job: str) -> str:
    """What one job of the run printed (act prefixes each line with `[workflow/job]`)."""
    prefix = f"[pull request/{job}"
    return "\n".join(line for line in run.output.splitlines() if line.startswith(prefix))


@pytest.fixture(scope="module")
def worse_pr(tmp_path_factory, baseline_clone) -> Workspace:
    """A PR branch whose model is worse than main's (3 boosting iterations)."""
    clone = baseline_clone(tmp_path_factory.mktemp("pr-workflow"))
    clone.run("git", "switch", "-q", "-c", "proposal")
    clone.run("dvc", "exp", "run", "-S", "train.hist_gradient_boosting.max_iter=3")
    clone.run("git", "add", "-A")
    clone.run("git", "commit", "-q", "-m", "try 3 boosting iterations")
    return clone


# The test and statistics jobs collect their tiers rather than run them: running them
# would take minutes and rehearse these tests from inside themselves (suite.yml's
# rehearsal runs a few for real). The advisory database on a closed port: the audit
# cannot ask it, and must say so. The host's pre-commit environments, instead of
# installing them again.
PARAMS_ONLY_ENV = {
    "PYTEST_ADDOPTS": "-n 0 --collect-only -q",
    "PIP_AUDIT_VULNERABILITY_SERVICE": "osv",
    "PIP_AUDIT_OSV_URL": "http://127.0.0.1:9",
    "PRE_COMMIT_HOME": str(Path.home() / ".cache/pre-commit"),
}


@pytest.fixture(scope="module")
def params_only_run(worse_pr, tmp_path_factory):
    """All of pr.yml on the worse PR, which changes params.yaml, dvc.lock and reports/."""
    return rehearse_pr(
        worse_pr, tmp_path_factory.mktemp("params-only"), None, extra_env=PARAMS_ONLY_ENV
    )


def test_a_params_only_change_runs_the_checks_the_statistics_and_the_experiment_not_the_rehearsals(
    params_only_run,
):
    run = params_only_run
    changes = job_output(run, "changes")
    assert "rehearsals: skipped: " in changes, run.output[-3000:]
    assert "all an experiment's" in changes
    assert "::set-output:: rehearsals=false" in changes
    assert job_output(run, "rehearsals") == "", "the rehearsals job must not run"
    assert "statistics: needed: params.yaml changed (the gate's false-fail rate" in changes
    assert "::set-output:: statistics=true" in changes
    for job in ("lint", "test", "statistics", "experiment"):
        assert "Success - Main ./.github/actions/setup" in job_output(run, job), job


def collected(output: str) -> set[str]:
    """The tests a job's `pytest --collect-only -q` listed."""
    return set(re.findall(r"\|\s+(tests/\S+\.py::\S+)", output))


def test_statistics_job_runs_the_statistical_tier_and_only_it(params_only_run):
    statistics = job_output(params_only_run, "statistics")
    assert "make test-statistics" in statistics
    assert "🏁  Job succeeded" in statistics, statistics[-3000:]
    assert {test.split("::")[0] for test in collected(statistics)} == set(STATISTICAL)


def test_experiment_job_posts_one_sticky_comment_and_fails_on_the_gate(params_only_run):
    run = params_only_run
    experiment = job_output(run, "experiment")
    assert "Failure - Main Gate" in experiment, "a failing gate must fail the job"
    assert "🏁  Job failed" in experiment
    assert "vs origin/main: worse beyond noise, and by more than the allowed" in experiment
    (call,) = run.cml_calls()
    assert call["argv"] == [
        "comment",
        "update",
        "report.md",
        "--target=pr",
        "--watermark-title=cauce model report",
    ]
    uploaded = run.artifacts / "model-report"
    assert call["body"] == (uploaded / "report.md").read_text(encoding="utf-8")
    assert call["body"].startswith("## Model report: this PR vs `origin/main`\n\n❌ **Gate failed")
    assert call["body"].splitlines()[4] == (
        "🔁 **Reproduced**: `dvc repro` rebuilt ingest, validate, prepare, train, evaluate; "
        "every output is byte for byte what the committed `dvc.lock` records."
    )
    assert (uploaded / "pr-number").read_text(encoding="utf-8").strip() == "7"
    assert (uploaded / "roc-curve.png").stat().st_size > 10_000


def test_a_pull_request_labelled_sweep_gets_the_sweep_as_a_section_of_its_one_comment(
    worse_pr, tmp_path_factory
):
    """Two settings of the worse PR's sweep.yaml, swept in the experiment job; the table and
    its picture are in the same sticky comment, and nothing is applied."""
    clone = worse_pr
    clone.run("git", "switch", "-q", "-c", "proposal-sweep")
    (clone.path / "sweep.yaml").write_text(
        "grid:\n  train.hist_gradient_boosting.max_iter: [3, 20]\njobs: 2\n", encoding="utf-8"
    )
    clone.run("git", "commit", "-q", "-am", "sweep the iterations")
    try:
        run = rehearse_pr(clone, tmp_path_factory.mktemp("sweep"), "experiment", label="sweep")
    finally:  # the branch the module's other runs are of
        clone.run("git", "switch", "-q", "proposal")
    experiment = job_output(run, "experiment")
    assert "Success - Main Sweep the settings of sweep.yaml" in experiment, run.output[-3000:]
    (call,) = run.cml_calls()
    body = call["body"]
    assert "### Sweep: 2 settings, ranked by ROC AUC" in body
    assert body.index("### Parameters") < body.index("### Sweep") < body.index("### Data")
    assert "![ROC AUC per setting](sweep.png)" in body
    assert (run.artifacts / "model-report/sweep.png").read_bytes()[:4] == b"\x89PNG"


def test_without_the_label_there_is_no_sweep(params_only_run):
    (call,) = params_only_run.cml_calls()
    assert "### Sweep" not in call["body"]


@pytest.fixture(scope="module")
def unreproducible_pr(tmp_path_factory, baseline_clone) -> Workspace:
    """A PR whose dvc.lock records a model its code does not make: model.json was edited
    by hand after training and `dvc commit` recorded the edit."""
    clone = baseline_clone(tmp_path_factory.mktemp("pr-unreproducible"))
    clone.run("git", "switch", "-q", "-c", "proposal")
    card = clone.path / "models/model.json"
    card.chmod(0o644)
    card.write_text(
        card.read_text(encoding="utf-8").replace('"threshold": 0.5', '"threshold": 0.4')
    )
    clone.run("dvc", "commit", "--force", "--quiet")
    clone.run("git", "add", "-A")
    clone.run("git", "commit", "-q", "-m", "a hand-edited model")
    return clone


@pytest.fixture(scope="module")
def fork_run(unreproducible_pr, tmp_path_factory):
    """The experiment job of that pull request, opened from a fork."""
    fork = "someone/cauce-fork"
    return rehearse_pr(unreproducible_pr, tmp_path_factory.mktemp("fork"), "experiment", fork)


def test_a_pr_whose_lock_its_code_does_not_rebuild_shows_the_difference(
    unreproducible_pr, fork_run
):
    recorded = unreproducible_pr.run("dvc", "status", "--json").stdout
    assert recorded.strip() == "{}", "the tampered lock is consistent with the files"
    run = fork_run
    assert run.result.returncode != 0, "the gate fails a pipeline that does not reproduce"
    body = (run.artifacts / "model-report/report.md").read_text(encoding="utf-8")
    assert "❌ **Gate failed (1 of " in body
    assert "the pipeline is not reproducible: train's models differ from dvc.lock" in body
    assert "❌ **Not reproduced**: `dvc repro` rebuilt ingest, validate, prepare, train" in body
    assert re.search(
        r"> - train: output models: dvc.lock records md5 \w{12}…, rebuilt md5 \w{12}…", body
    ), body


def workflow_run_event(head_repository: str, head_sha: str = "0" * 40) -> dict:
    return {
        "action": "completed",
        "workflow_run": {
            "id": 4242,
            "event": "pull_request",
            "conclusion": "failure",
            "head_repository": {"full_name": head_repository},
            "head_sha": head_sha,
        },
        "repository": {"full_name": REPOSITORY, "name": "cauce", "owner": {"login": "cauce-org"}},
    }


def test_a_fork_pr_gets_no_comment_from_the_job_that_runs_its_code(fork_run):
    assert fork_run.result.returncode != 0, "the gate still fails the job"
    assert fork_run.cml_calls() == []
    assert not (fork_run.record / "npm").exists(), "CML is not even installed there"
    assert (fork_run.artifacts / "model-report/report.md").exists()


def github_with_pull(folder: Path, number: int, head_sha: str) -> str:
    """A GitHub (the gh stand-in's state) where pull request `number` has head `head_sha`."""
    (folder / f"pulls/{number}").mkdir(parents=True)
    (folder / f"pulls/{number}/head-sha").write_text(head_sha + "\n", encoding="utf-8")
    return str(folder)


def test_pr_comment_posts_the_forks_report_without_its_code(fork_run, unreproducible_pr, tmp_path):
    artifacts = fork_run.artifacts
    head = unreproducible_pr.run("git", "rev-parse", "HEAD").stdout.strip()
    run = rehearse(
        unreproducible_pr,
        tmp_path,
        "pr-comment.yml",
        "workflow_run",
        workflow_run_event("someone/cauce-fork", head_sha=head),
        extra_env={
            "CAUCE_ARTIFACTS": str(artifacts),
            "CAUCE_GH_STATE": github_with_pull(tmp_path / "github", 7, head),
        },
    )
    assert run.result.returncode == 0, run.output[-3000:]
    asked = (run.record / "gh-api").read_text(encoding="utf-8").splitlines()
    assert asked == [f"api repos/{REPOSITORY}/pulls/7 --jq .head.sha"]
    (call,) = run.cml_calls()
    assert call["argv"] == [
        "comment",
        "update",
        "report.md",
        "--target=pr/7",
        "--watermark-title=cauce model report",
    ]
    assert call["body"] == (artifacts / "model-report/report.md").read_text(encoding="utf-8")
    assert call["cwd"].endswith("/model-report")
    assert (artifacts / "download-run-id").read_text(encoding="utf-8").strip() == "4242"
    assert "checkout" not in (tmp_path / "act.log").read_text(encoding="utf-8").lower()


def report_saying(fork_run, artifacts: Path, pr_number: str) -> Path:
    """The fork run's model-report artifact, copied to `artifacts` with another pr-number:
    what a fork's code could write, since the PR run executes it."""
    (artifacts / "model-report").mkdir(parents=True)
    for file in (fork_run.artifacts / "model-report").iterdir():
        (artifacts / "model-report" / file.name).write_bytes(file.read_bytes())
    (artifacts / "model-report/pr-number").write_text(pr_number, encoding="utf-8")
    return artifacts


def test_pr_comment_refuses_a_tampered_pr_number(fork_run, unreproducible_pr, tmp_path):
    tampered = report_saying(fork_run, tmp_path / "artifacts", "7 --target=issue/1\n")
    run = rehearse(
        unreproducible_pr,
        tmp_path / "scratch",
        "pr-comment.yml",
        "workflow_run",
        workflow_run_event("someone/cauce-fork"),
        extra_env={"CAUCE_ARTIFACTS": str(tampered)},
    )
    assert run.result.returncode != 0
    assert (
        "pr-number '7 --target=issue/1' is not a pull request number (digits only): "
        "refusing to post" in run.output
    )
    assert run.cml_calls() == []
    assert not (run.record / "gh-api").exists(), "GitHub is not even asked"
    assert not (run.record / "npm").exists()


def test_pr_comment_refuses_a_number_whose_pull_request_has_another_head(
    fork_run, unreproducible_pr, tmp_path
):
    # A fork's run writes the number of someone else's pull request (8), whose head is
    # another commit: the report would land on a pull request it does not describe.
    head = unreproducible_pr.run("git", "rev-parse", "HEAD").stdout.strip()
    other = "1" * 40
    tampered = report_saying(fork_run, tmp_path / "artifacts", "8\n")
    run = rehearse(
        unreproducible_pr,
        tmp_path / "scratch",
        "pr-comment.yml",
        "workflow_run",
        workflow_run_event("someone/cauce-fork", head_sha=head),
        extra_env={
            "CAUCE_ARTIFACTS": str(tampered),
            "CAUCE_GH_STATE": github_with_pull(tmp_path / "github", 8, other),
        },
    )
    assert run.result.returncode != 0
    assert (
        f"pr-number 8: pull request #8's head is {other}, not {head}, the commit this report "
        "was built from: refusing to post"
    ) in run.output
    assert run.cml_calls() == []
    assert not (run.record / "npm").exists()


def test_pr_comment_leaves_same_repository_prs_alone(unreproducible_pr, tmp_path):
    run = rehearse(
        unreproducible_pr,
        tmp_path,
        "pr-comment.yml",
        "workflow_run",
        workflow_run_event(REPOSITORY),
    )
    assert run.result.returncode == 0, run.output[-3000:]
    assert run.cml_calls() == []


def test_lint_job_runs_pre_commit_and_an_audit_that_fails_when_it_cannot_check(
    params_only_run,
):
    lint = job_output(params_only_run, "lint")
    assert "Success - Main pre-commit run --all-files" in lint, lint[-3000:]
    assert "zizmor (workflow security)" in lint
    assert "make audit: could not audit: the advisory database" in lint
    assert "Failure - Main Audit the locked dependencies" in lint
    assert "🏁  Job failed" in lint, "an audit that checked nothing must fail the job"


def test_test_job_runs_the_quick_and_end_to_end_tier(params_only_run):
    test = job_output(params_only_run, "test")
    assert "make test-required" in test
    assert "🏁  Job succeeded" in test, test[-3000:]
    selected = collected(test)
    quick, end_to_end = "tests/unit/test_tiers.py::", "tests/gitops/test_pull_request.py::"
    assert any(t.startswith(quick) for t in selected)
    assert any(t.startswith(end_to_end) for t in selected)
    rehearsals = (
        "tests/workflows/test_pr_workflow.py",
        "tests/serving/test_image.py::test_the_image_entry_point_passes_the_smoke_test",
    )
    others = (*STATISTICAL, *rehearsals)
    assert [test for test in selected if test.startswith(others)] == []


@pytest.fixture(scope="module")
def workflow_pr(tmp_path_factory, baseline_clone) -> Workspace:
    """A PR that changes a workflow file (a comment in batch.yml) and nothing else."""
    clone = baseline_clone(tmp_path_factory.mktemp("pr-workflow-change"))
    clone.run("git", "switch", "-q", "-c", "proposal")
    with (clone.path / ".github/workflows/batch.yml").open("a", encoding="utf-8") as workflow:
        workflow.write("# scores the day's input\n")
    clone.run("git", "commit", "-q", "-am", "batch.yml: a comment")
    return clone


def test_a_change_under_github_runs_the_rehearsals(workflow_pr, tmp_path):
    # What the job's `make test-rehearsals` selects, collected rather than run (the run
    # would rehearse this test again from inside itself): the rehearsals, nothing else.
    options = {"PYTEST_ADDOPTS": "-n 0 --collect-only -q"}
    run = rehearse_pr(workflow_pr, tmp_path, "rehearsals", extra_env=options)
    assert run.result.returncode == 0, run.output[-3000:]
    changes = job_output(run, "changes")
    assert "rehearsals: needed: .github/workflows/batch.yml changed" in changes
    assert "::set-output:: statistics=false" in changes  # it measures no workflow
    rehearsals = job_output(run, "rehearsals")
    assert "make test-rehearsals" in rehearsals
    selected = collected(rehearsals)
    expected = {
        "tests/workflows/test_pr_workflow.py::test_a_change_under_github_runs_the_rehearsals",
        "tests/serving/test_image.py::test_the_image_entry_point_passes_the_smoke_test",
        "tests/serving/test_faults.py::test_sigterm_finishes_the_requests_in_flight_and_exits",
    }
    assert expected <= selected, sorted(selected)
    others = ("tests/unit/", "tests/gitops/test_release.py", *STATISTICAL)
    assert [test for test in selected if test.startswith(others)] == []


def test_the_full_suite_runs_every_tier_on_a_push_to_main(workflow_pr, tmp_path):
    # suite.yml: `make test`, with a small selection (the whole suite would rehearse
    # itself), and its time per tier and budget at the end.
    head = workflow_pr.run("git", "rev-parse", "HEAD").stdout.strip()
    event = {"ref": "refs/heads/main", "after": head, "repository": {"full_name": REPOSITORY}}
    options = {"PYTEST_ADDOPTS": "-n 0 tests/unit/test_evaluate.py"}
    run = rehearse(workflow_pr, tmp_path, "suite.yml", "push", event, extra_env=options)
    assert run.result.returncode == 0, run.output[-3000:]
    assert "make test" in run.output
    assert re.search(r"\b10 passed\b", run.output), run.output[-3000:]  # test_evaluate's
    assert "time per tier" in run.output
    assert re.search(
        r"quick +10 tests +\d+ s \(this run's wall time\): within its 90 s", run.output
    )
