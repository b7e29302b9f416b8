"""batch.yml rehearsed with act against a released model and a local DVC remote.

A dispatched run scores the given file with the model in prod, quarantines the rows that
break the input schema, pushes the predictions to the DVC remote and records them with a
`scores/…` tag (never a branch), uploads the summary, and sends a signed `scored` event.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from tests.conftest import SOURCE, Workspace
from tests.receiver import Receiver
from tests.workflows.act import REPOSITORY, rehearse
from tests.workflows.test_monitor_workflows import SECRET

pytestmark = pytest.mark.rehearsal


@pytest.fixture(scope="module")
def main(tmp_path_factory, baseline_clone) -> Workspace:
    """A clone whose origin has a released model in prod and a DVC remote."""
    clone = baseline_clone(tmp_path_factory.mktemp("batch-workflow"))
    clone.run("cauce", "release")
    return clone


def test_a_scheduled_batch_is_scored_versioned_tagged_and_announced(main, tmp_path):
    rows = pd.read_parquet(SOURCE).sample(n=5000, random_state=3)
    rows.iloc[[0, 1], rows.columns.get_loc("MAR")] = 9
    batch = tmp_path / "batch.parquet"
    rows.to_parquet(batch)
    main_before = main.run("git", "ls-remote", "origin", "refs/heads/main").stdout
    event = {"inputs": {"input": str(batch)}, "repository": {"full_name": REPOSITORY}}
    with Receiver() as receiver:
        run = rehearse(
            main,
            tmp_path / "act",
            "batch.yml",
            "workflow_dispatch",
            event,
            secrets={"CAUCE_WEBHOOK_URL": receiver.url, "CAUCE_WEBHOOK_SECRET": SECRET},
        )
        requests = receiver.requests
    assert run.result.returncode == 0, run.output[-4000:]
    line = "score: 5,000 rows read, 4,998 scored with model v0.1.0, 2 quarantined"
    assert line in run.output

    summary = json.loads((run.artifacts / "batch-summary/predictions.summary.json").read_text())
    assert (summary["rows_read"], summary["scored"], summary["quarantined"]) == (5000, 4998, 2)
    assert summary["model_version"] == "v0.1.0"
    assert not (run.artifacts / "predictions").exists()  # the DVC remote keeps them

    # one scores/… tag on origin, main untouched
    assert main.run("git", "ls-remote", "origin", "refs/heads/main").stdout == main_before
    tags = main.run("git", "ls-remote", "--tags", "origin", "refs/tags/scores/*").stdout.split()
    (tag,) = [name.removeprefix("refs/tags/") for name in tags if name.startswith("refs/")]
    main.run("git", "fetch", "-q", "origin", f"refs/tags/{tag}:refs/tags/{tag}")
    pointer = yaml.safe_load(
        main.run("git", "show", f"{tag}:scores/predictions.parquet.dvc").stdout
    )
    md5 = pointer["outs"][0]["md5"]
    stored = main.path.parent / "dvc-remote/files/md5" / md5[:2] / md5[2:]
    predictions = pd.read_parquet(stored)
    assert len(predictions) == 4998
    assert set(predictions["model_version"]) == {"v0.1.0"}
    assert set(predictions["id"]) == set(rows["id"].iloc[2:])
    assert main.run("git", "show", f"{tag}:scores/predictions.quarantine.parquet.dvc").stdout
    committed = json.loads(main.run("git", "show", f"{tag}:scores/predictions.summary.json").stdout)
    assert committed == summary

    # the webhook: a signed `scored` event carrying the summary line
    (_, headers, payload), *_ = requests
    assert headers["webhook-signature"].startswith("v1,")
    event = json.loads(payload)
    assert event["type"] == "cauce.scored"
    assert event["data"]["title"].startswith(line)


def test_without_a_dvc_remote_the_predictions_are_the_run_artifact(
    tmp_path_factory, tmp_path, baseline_clone
):
    """A fork on day one: no DVC remote, no input given (so data.source is scored)."""
    # The outputs rebuilt (cauce reproduce: dvc.lock unchanged), then released.
    fork = baseline_clone(tmp_path_factory.mktemp("batch-fork"), remote=False, reproduced=True)
    fork.run("cauce", "release")
    event = {"inputs": {"input": ""}, "repository": {"full_name": REPOSITORY}}
    # A runner with the fork's DVC cache: the model is fetched, not rebuilt (the rollback
    # rehearsal proves the rebuild).
    cache = fork.path / ".dvc/cache"
    run = rehearse(fork, tmp_path / "act", "batch.yml", "workflow_dispatch", event, dvc_cache=cache)
    assert "is in no DVC cache or remote here" not in run.output
    assert run.result.returncode == 0, run.output[-4000:]
    assert "score: 277,677 rows read, 277,677 scored with model v0.1.0" in run.output
    assert "the predictions are kept only as this run's artifact" in run.output
    predictions = pd.read_parquet(run.artifacts / "predictions/predictions.parquet")
    assert len(predictions) == 277_677
    assert (run.artifacts / "batch-summary/predictions.parquet.dvc").exists()
    assert not fork.run("git", "ls-remote", "--tags", "origin", "refs/tags/scores/*").stdout
