"""A fork's own data, as a new user brings it: five real datasets that ship offline with
scikit-learn (tests/datasets.py), none shaped for cauce, each taken from `cauce init` to a
served prediction, batch scores and a drift verdict in a repository of its own.

Per dataset: `cauce init`, the pipeline (`dvc repro`, what `make run` runs), the PR report
and gate, the first release, `cauce serve` and one request, `cauce score` on both engines
(equal row for row; Dask on the run's cluster, as a team's), and `cauce monitor --batch`
on the held-out test split (no drift) and on the data with one feature moved (drift).
And data whose time column holds dates: trained on its earlier years, monitored on the
newest, its window widened."""

from __future__ import annotations

import json
import subprocess

import httpx
import pandas as pd
import pytest

from cauce import ExitCode
from tests.conftest import Workspace, tool_environment
from tests.datasets import ALL, Dataset, surveys_dated
from tests.serving.conftest import free_port, running, smoke_test

# A rehearsal of a fork's first day: a pull request runs it when it changes the template's
# machinery (tests/tiers.py), main and nightly always. An experiment's pull request (its
# params, data, pipeline code, outputs, docs) changes this repository's model, not how
# cauce meets another team's data: the end-to-end tier runs the pipeline on the census
# data, the unit tests each task's stages, and this the five datasets once it is merged.
pytestmark = pytest.mark.rehearsal

FAST = {"train.hist_gradient_boosting.max_iter": 30, "evaluate.permutation_importance.n_repeats": 2}


@pytest.fixture(params=ALL, ids=lambda make: make.__name__)
def dataset(request) -> Dataset:
    return request.param()


def fork(root, dataset: Dataset) -> Workspace:
    """This repository's files with `dataset` as data.source, before `cauce init`, pushed
    to an origin of its own: what a team has after forking and adding its file."""
    space = Workspace.copy_of_repository(root / "fork", tool_environment(root))
    for generated in ("dvc.lock", "reports"):
        subprocess.run(["rm", "-rf", str(space.path / generated)], check=True)
    source = space.path / "data/source" / f"{dataset.name}.csv"
    dataset.frame.to_csv(source, index=False)
    space.run("git", "init", "-q", "-b", "main")
    space.run("git", "init", "-q", "--bare", "-b", "main", str(root / "origin.git"))
    space.run("git", "remote", "add", "origin", str(root / "origin.git"))
    return space


def test_a_new_dataset_goes_from_init_to_a_served_prediction(tmp_path, dataset, cluster):
    space = fork(tmp_path, dataset)
    source = f"data/source/{dataset.name}.csv"
    init = space.run(
        "cauce", "init", "--source", source, *dataset.init_arguments, "--force", check=False
    )
    assert init.returncode == 0, init.stdout + init.stderr
    assert f"task: {dataset.task}" in init.stdout
    space.set_params(FAST)

    space.run("git", "add", "-A")
    space.run("git", "commit", "-q", "-m", f"cauce on {dataset.name}")
    space.repro()
    metrics = json.loads((space.path / "reports/evaluate/metrics.json").read_text())
    primary = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}
    assert metrics[primary[dataset.task]] is not None
    space.run("git", "add", "-A")
    space.run("git", "commit", "-q", "-m", "the first model")
    space.run("git", "push", "-q", "origin", "main")

    # The PR report and gate of a change against main (here, the same model again).
    report = space.run("cauce", "report", "--base", "main", check=False)
    assert report.returncode == 0, report.stdout + report.stderr
    text = (space.path / "reports/pr/report.md").read_text(encoding="utf-8")
    assert "### Metrics on the test split" in text
    assert space.run("cauce", "gate", "--base", "main", check=False).returncode == 0

    release = space.run("cauce", "release", check=False)
    assert release.returncode == 0, release.stdout + release.stderr
    assert "promoted to prod" in release.stdout
    card = (space.path / "reports/release/model-card.md").read_text(encoding="utf-8")
    assert dataset.target in card
    assert "employ" not in card.lower().replace("cauce", "")  # no census words

    records = dataset.frame.drop(columns=[dataset.target, "id"]).head(2)
    port = free_port()
    with running(["cauce", "serve", "--port", str(port)], space.path, space.env):
        smoke = smoke_test(space, str(port), "v0.1.0")  # waits until the API is ready
        assert smoke.returncode == 0, smoke.stdout + smoke.stderr
        body = {"records": json.loads(records.to_json(orient="records"))}
        reply = httpx.post(f"http://127.0.0.1:{port}/v1/predict", json=body, timeout=30)
    assert reply.status_code == 200, reply.text
    answer = reply.json()["predictions"]
    assert len(answer) == 2
    if dataset.task == "regression":
        assert all(isinstance(a["value"], float) for a in answer)
    else:
        labels = set(dataset.frame[dataset.target].astype(str))
        assert {str(a["label"]) for a in answer} <= labels

    batch = space.path / "batch.parquet"
    dataset.frame.drop(columns=[dataset.target]).to_parquet(batch)
    for engine in (("local",), ("dask", "--scheduler", cluster)):
        scored = space.run(
            "cauce", "score", "--input", str(batch), "--output", f"scored-{engine[0]}",
            "--engine", *engine, check=False,
        )  # fmt: skip
        assert scored.returncode == 0, scored.stdout + scored.stderr
    local = pd.read_parquet(space.path / "scored-local").sort_values("id", ignore_index=True)
    dask = pd.read_parquet(space.path / "scored-dask").sort_values("id", ignore_index=True)
    pd.testing.assert_frame_equal(local, dask, check_dtype=False)
    assert len(local) == len(dataset.frame)

    held_out = "data/prepared/test.parquet"  # rows of the same data the model never saw
    calm = space.run("cauce", "monitor", "--batch", held_out, "--model-dir", "models", check=False)
    assert calm.returncode == ExitCode.OK, calm.stdout + calm.stderr
    moved = space.path / "moved.csv"
    dataset.shifted().to_csv(moved, index=False)
    drift = space.run(
        "cauce", "monitor", "--batch", str(moved), "--model-dir", "models", check=False
    )
    assert drift.returncode == ExitCode.DRIFT, drift.stdout + drift.stderr
    assert f"{dataset.shifted_column}: drift" in drift.stdout


def test_a_time_column_of_dates_trains_on_earlier_years_and_monitors_the_newest(tmp_path):
    dataset = surveys_dated()
    space = fork(tmp_path, dataset)
    source = f"data/source/{dataset.name}.csv"
    init = space.run(
        "cauce", "init", "--source", source, *dataset.init_arguments, "--time", "surveyed",
        "--force", check=False,
    )  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr
    assert "training years: 2015, 2016, 2017: the newest, 2018, plays production" in init.stdout
    space.set_params(FAST)
    space.run("git", "add", "-A")
    space.run("git", "commit", "-q", "-m", f"cauce on {dataset.name}")
    space.repro()
    trained = json.loads((space.path / "models/model.json").read_text())["data"]
    assert (trained["train_years"], trained["rows"]) == ([2015, 2016, 2017], 3 * 600 * 0.8)

    newest = space.run(
        "cauce", "monitor", "--years", "latest", "--model-dir", "models", check=False
    )
    assert newest.returncode in (ExitCode.OK, ExitCode.DRIFT), newest.stdout + newest.stderr
    assert f"{source} year 2018" in newest.stdout
    widened = space.run("cauce", "train-window", check=False)
    assert widened.returncode == 0, widened.stdout + widened.stderr
    assert "data.train_years: [2015, 2016, 2017] → [2015, 2016, 2017, 2018]" in widened.stdout
