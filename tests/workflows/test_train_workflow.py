"""train.yml rehearsed with act: the launch job's exact `cml runner launch`, the training
job on the launched runner (here: this host, where act maps `self-hosted`), its experiment
kept (`dvc exp push`) and its report posted in the one sticky comment, and the teardown
that removes the runner, after a failed training job too.

The cml stand-in registers a runner where the gh stand-in lists it, as a launched machine
would; `cauce stop-runner` removes it through `gh api`."""

from __future__ import annotations

import pytest

from tests.conftest import Workspace
from tests.workflows.act import REPOSITORY, rehearse

pytestmark = pytest.mark.rehearsal

SECRETS = {
    "CML_RUNNER_TOKEN": "runner-token",
    "AWS_ACCESS_KEY_ID": "key-id",
    "AWS_SECRET_ACCESS_KEY": "secret-key",
}


def dispatch(clone: Workspace, scratch, machine: str, job: str):
    event = {
        "inputs": {"machine": machine, "job": job},
        "ref": "refs/heads/proposal",
        "repository": {
            "full_name": REPOSITORY,
            "name": "cauce",
            "owner": {"login": "cauce-org"},
            "default_branch": "main",
        },
    }
    return rehearse(clone, scratch, "train.yml", "workflow_dispatch", event, secrets=SECRETS)


def launched(run) -> tuple[list[str], list[str]]:
    """The one `cml runner launch` call: its arguments, and the credentials it was given."""
    (folder,) = [
        f for f in sorted(run.record.glob("cml-*")) if (f / "argv").read_text().startswith("runner")
    ]
    return (folder / "argv").read_text().splitlines(), (folder / "env").read_text().split()


def deleted(run) -> list[str]:
    removed = run.record / "gh-deleted"
    return removed.read_text().split() if removed.exists() else []


@pytest.fixture(scope="module")
def proposal(tmp_path_factory, baseline_clone) -> Workspace:
    """A branch that proposes a few more boosting iterations (the baseline has 40), not
    yet trained: its dvc.lock is main's."""
    clone = baseline_clone(tmp_path_factory.mktemp("train-workflow"))
    clone.run("git", "switch", "-q", "-c", "proposal")
    params = clone.path / "params.yaml"
    text = params.read_text(encoding="utf-8")
    params.write_text(text.replace("max_iter: 40", "max_iter: 42", 1), encoding="utf-8")
    clone.run("git", "commit", "-q", "-am", "more iterations, to train on a bigger machine")
    return clone


def test_a_dispatched_training_runs_on_the_launched_machine_keeps_its_experiment_and_reports(
    proposal, tmp_path_factory
):
    run = dispatch(proposal, tmp_path_factory.mktemp("train"), "cpu-large", "pipeline")
    assert run.result.returncode == 0, run.output[-4000:]
    argv, credentials = launched(run)
    label = next(a for a in argv if a.startswith("--labels=")).removeprefix("--labels=")
    assert label.startswith("cauce-cpu-large-")
    assert argv == [
        "runner",
        "launch",
        "--cloud=aws",
        "--cloud-region=us-west",
        "--cloud-type=m5.4xlarge",
        "--cloud-hdd-size=50",
        "--cloud-spot",
        f"--cloud-metadata=cauce-runner={label}",
        f"--labels={label}",
        f"--name={label}",
        "--single",
        "--idle-timeout=600",
    ]
    # The runner token and AWS's keys reached the launch; the unset secrets arrive empty.
    assert {"REPO_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(credentials)
    assert "Success - Main Train the branch's pipeline, as a DVC experiment" in run.output
    # The experiment's commit reached origin under refs/exps, its outputs the DVC remote.
    refs = proposal.run("git", "ls-remote", "origin", "refs/exps/*").stdout
    assert "/train-" in refs, run.output[-3000:]
    (comment,) = [c for c in run.cml_calls() if c["argv"][0] == "comment"]
    assert comment["argv"][:4] == ["comment", "update", "report.md", "--target=pr"]
    assert comment["body"].startswith("## Model report: this PR vs `origin/main`")
    # --single would have shut it down; the teardown makes sure, and finds it here.
    assert deleted(run) == [label]


def test_a_failed_training_still_tears_its_machine_down(proposal, tmp_path_factory):
    clone = proposal
    clone.run("git", "switch", "-q", "-c", "proposal-broken-sweep")
    (clone.path / "sweep.yaml").write_text("grid:\n  train.no_such_param: [1, 2]\n", "utf-8")
    clone.run("git", "commit", "-q", "-am", "a sweep of a parameter that does not exist")
    run = dispatch(clone, tmp_path_factory.mktemp("train-fails"), "cpu-large", "sweep")
    assert run.result.returncode != 0
    assert "Failure - Main Sweep the settings of the branch's sweep.yaml" in run.output
    assert "grid.train.no_such_param: not a parameter of params.yaml" in run.output
    argv, _ = launched(run)
    label = next(a for a in argv if a.startswith("--labels=")).removeprefix("--labels=")
    assert "Success - Main Remove this run's runner; its machine shuts down" in run.output
    assert f"removed runner {label}" in run.output
    assert deleted(run) == [label]
