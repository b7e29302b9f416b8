"""monitor.yml and retrain.yml rehearsed with act against a released model.

A batch like the training data raises nothing. A drifted batch opens one `drift` issue
with the report, signs a webhook the local receiver verifies, and dispatches the
retraining; a second drifted run comments on the same issue instead of opening another.
The retraining widens the training window, reproduces the pipeline, pushes a retrain/…
branch (never main) and opens a PR whose body carries the params change, the drift
report and, with only the default token, the warning that its checks will not start.
`gh` is a recording stand-in that keeps the issues it created.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import SOURCE, Workspace
from tests.receiver import Receiver
from tests.workflows.act import REPOSITORY, rehearse

pytestmark = pytest.mark.rehearsal
OWNER = {"full_name": REPOSITORY, "name": "cauce", "owner": {"login": "cauce-org"}}
KEY = b"the receiver's signing key"
SECRET = "whsec_" + base64.b64encode(KEY).decode()


@pytest.fixture(scope="module")
def main(tmp_path_factory, baseline_clone) -> Workspace:
    """A clone whose origin has a released model in prod (the small baseline)."""
    clone = baseline_clone(tmp_path_factory.mktemp("monitor-workflows"))
    clone.run("cauce", "release")
    return clone


@pytest.fixture(scope="module")
def batches(tmp_path_factory) -> dict[str, str]:
    """Production batches as files: 2015 rows as they are, and the same grown older."""
    folder = tmp_path_factory.mktemp("batches")
    source = pd.read_parquet(SOURCE)
    rows = source[source["year"] == 2015].sample(n=5000, random_state=11)
    rows.to_parquet(folder / "same.parquet")
    older = rows.copy()
    chosen = older.index[: len(older) // 3]
    older.loc[chosen, "AGEP"] = (older.loc[chosen, "AGEP"] + 10).clip(upper=99)
    older.to_parquet(folder / "older.parquet")
    return {"same": str(folder / "same.parquet"), "older": str(folder / "older.parquet")}


@pytest.fixture(scope="module")
def github(tmp_path_factory):
    """What the stand-in `gh` keeps between runs: the repository's issues."""
    return tmp_path_factory.mktemp("github")


def monitor(main, scratch, batch, github, receiver=None):
    event = {"inputs": {"batch": batch}, "repository": OWNER}
    secrets = (
        {"CAUCE_WEBHOOK_URL": receiver.url, "CAUCE_WEBHOOK_SECRET": SECRET} if receiver else {}
    )
    return rehearse(
        main,
        scratch,
        "monitor.yml",
        "workflow_dispatch",
        event,
        extra_env={"CAUCE_GH_STATE": str(github)},
        secrets=secrets,
    )


def gh_calls(run) -> list[list[str]]:
    return [
        (folder / "argv").read_text(encoding="utf-8").splitlines()
        for folder in sorted(run.record.glob("gh-*"), key=lambda f: int(f.name[3:]))
    ]


@pytest.fixture(scope="module")
def drifted(main, batches, github, tmp_path_factory):
    with Receiver() as receiver:
        run = monitor(main, tmp_path_factory.mktemp("drift-1"), batches["older"], github, receiver)
        return run, receiver.requests


def test_a_batch_like_the_training_data_raises_nothing(main, batches, github, tmp_path):
    run = monitor(main, tmp_path, batches["same"], github)
    assert run.result.returncode == 0, run.output[-4000:]
    assert "no drift: 0 of 17 checked" in run.output
    report = json.loads((run.artifacts / "drift-report/drift.json").read_text())
    assert report["decision"] == "no drift"
    assert report["model"] == "model@v0.1.0 (prod)"
    assert gh_calls(run) == []  # no issue, no dispatch
    assert not (github / "issues").exists() or not any((github / "issues").iterdir())


def test_drift_opens_an_issue_notifies_and_dispatches_the_retraining(drifted):
    run, requests = drifted
    assert run.result.returncode == 0, run.output[-4000:]
    assert "AGEP: drift: Wasserstein / std" in run.output
    calls = gh_calls(run)
    assert calls[0][:3] == ["label", "create", "drift"]
    create = calls[1]
    assert create[:2] == ["issue", "create"]
    assert create[create.index("--title") + 1] == "Production data: drift"
    assert create[create.index("--label") + 1] == "drift"
    body = (run.record / "gh-1/body.md").read_text()
    assert body == (run.artifacts / "drift-report/drift.md").read_text()
    assert body.startswith("## Drift report: ")
    assert "| AGEP | numeric |" in body
    assert calls[2][:3] == ["workflow", "run", "retrain.yml"]
    assert any(argument.startswith("monitor-run=") for argument in calls[2])
    # the webhook: one request, signed, a drift event linking the issue
    (_, headers, payload), *_ = requests
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + payload
    expected = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"
    event = json.loads(payload)
    assert event["type"] == "cauce.drift"
    assert event["data"]["link"] == f"https://github.com/{REPOSITORY}/issues/1"
    assert SECRET not in run.output


def test_drift_again_updates_the_open_issue_instead_of_a_second(
    main, batches, github, drifted, tmp_path
):
    assert drifted[0].result.returncode == 0
    run = monitor(main, tmp_path, batches["older"], github)
    assert run.result.returncode == 0, run.output[-4000:]
    calls = gh_calls(run)
    assert ["issue", "comment", "1", "--body-file", "reports/monitor/drift.md"] in calls
    assert not any(call[:2] == ["issue", "create"] for call in calls)
    assert sorted(p.name for p in (github / "issues").iterdir()) == ["1"]
    assert "no webhook configured" in run.output  # this run had no webhook secrets


def retrain(main, scratch, drifted, **settings):
    """retrain.yml dispatched by the monitor run that found drift (its artifact at hand).
    Its runner keeps main's DVC cache, as a runner with a restored cache has."""
    shutil.copytree(drifted[0].artifacts, scratch / "artifacts")
    event = {"inputs": {"monitor-run": "4242", "through": ""}, "repository": OWNER}
    cache = Path(main.run("dvc", "cache", "dir").stdout.strip())
    return rehearse(
        main, scratch, "retrain.yml", "workflow_dispatch", event, dvc_cache=cache, **settings
    )


def pushed_branches(main) -> dict[str, str]:
    lines = main.run("git", "ls-remote", "--heads", "origin").stdout.splitlines()
    return {line.split("refs/heads/")[1]: line.split()[0] for line in lines}


def test_the_retraining_arrives_as_a_pull_request_never_on_main(main, drifted, tmp_path):
    main_before = pushed_branches(main)["main"]
    run = retrain(main, tmp_path, drifted)
    assert run.result.returncode == 0, run.output[-4000:]
    branches = pushed_branches(main)
    assert branches["main"] == main_before
    (branch,) = [name for name in branches if name.startswith("retrain/")]
    main.run("git", "fetch", "-q", "origin")
    params = yaml.safe_load(main.run("git", "show", f"origin/{branch}:params.yaml").stdout)
    assert params["data"]["train_years"] == [2015, 2016, 2017, 2018]
    changed = main.run("git", "diff", "--name-only", "origin/main", f"origin/{branch}").stdout
    assert {"params.yaml", "dvc.lock"} <= set(changed.split())
    (create,) = [c for c in gh_calls(run) if c[:2] == ["pr", "create"]]
    assert create[create.index("--base") + 1] == "main"
    assert create[create.index("--head") + 1] == branch
    body = next(run.record.glob("gh-*/body.md")).read_text()
    assert "`data.train_years: [2015] → [2015, 2016, 2017, 2018]`" in body
    assert "### What the monitor found (run 4242)" in body
    assert "#### Drift report: " in body
    assert "| AGEP | numeric |" in body
    assert "**Only the default GITHUB_TOKEN was available**" in body
    assert "the retraining PR's checks will not start by themselves" in run.output
    main.run("git", "push", "-q", "origin", "--delete", branch)


def test_with_the_app_configured_its_token_opens_the_pull_request(main, drifted, tmp_path):
    run = retrain(
        main,
        tmp_path,
        drifted,
        variables={"CAUCE_APP_ID": "123456"},
        secrets={"CAUCE_APP_PRIVATE_KEY": "a private key"},
    )
    assert run.result.returncode == 0, run.output[-4000:]
    assert (run.record / "app-token").read_text().split() == [
        "123456",
        "contents=write",
        "pull-requests=write",
    ]
    body = next(run.record.glob("gh-*/body.md")).read_text()
    assert "Opened with the cauce GitHub App's token" in body
    assert "Only the default GITHUB_TOKEN" not in body + run.output
    for branch in pushed_branches(main):
        if branch.startswith("retrain/"):
            main.run("git", "push", "-q", "origin", "--delete", branch)
