"""`cauce monitor` as a process: the verdict in the exit code and on stdout, the report
on disk, and batches that break the data contract reported as such, never as drift.

The checkout holds a small model trained in-process as the train stage does, with its
reference profile and the test split's scores and metrics beside it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cauce import ExitCode
from cauce.files import write_json
from cauce.layout import (
    CONTRACT,
    DRIFT_PAGE,
    DRIFT_PLOTS,
    DRIFT_RECORD,
    DRIFT_SUMMARY,
    EVALUATE_METRICS,
    PARAMS,
    SCORE_PROFILE,
)
from cauce.metrics import compute_all
from cauce.model import score
from cauce.pipeline.prepare import split
from cauce.profile import numeric_profile
from tests.conftest import ROOT, small_model

pytestmark = pytest.mark.slow

CAUCE = Path(sys.executable).parent / "cauce"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory, params, source_2015) -> Path:
    """A directory laid out like a checkout after `dvc repro`, on 6,000 rows of 2015."""
    root = tmp_path_factory.mktemp("checkout")
    for path in (PARAMS, CONTRACT):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, root / path)
    train, test = split(source_2015.sample(n=6000, random_state=0), params)
    model = small_model(root, params, train)
    probability = score(model, test)
    write_json(root / SCORE_PROFILE, numeric_profile(probability))
    y = test[params.data.target].to_numpy()
    write_json(root / EVALUATE_METRICS, compute_all(y, probability, params.evaluate.threshold))
    test.to_parquet(root / "test.parquet")
    return root


def monitor(checkout: Path, batch: pd.DataFrame | str, name: str = "batch.parquet"):
    """Run `cauce monitor` on `batch` (a frame written to `name`, or raw file text)."""
    file = checkout / name
    if isinstance(batch, str):
        file.write_text(batch)
    elif name.endswith(".csv"):
        batch.to_csv(file, index=False)
    else:
        batch.to_parquet(file)
    command = [str(CAUCE), "monitor", "--batch", name, "--model-dir", "models"]
    return subprocess.run(command, cwd=checkout, capture_output=True, text=True, check=False)


def record(checkout: Path) -> dict:
    return json.loads((checkout / DRIFT_RECORD).read_text())


def test_a_batch_like_the_test_split_passes_and_gets_every_output(checkout):
    batch = pd.read_parquet(checkout / "test.parquet")
    result = monitor(checkout, batch)
    assert result.returncode == 0, result.stderr
    assert "no drift: 0 of 17 checked" in result.stdout
    written = record(checkout)
    assert written["decision"] == "no drift"
    assert written["performance"]["metric"] == "roc_auc"  # the batch has the target
    assert not written["performance"]["degraded"]
    assert (checkout / DRIFT_SUMMARY).read_text().startswith("## Drift report: batch.parquet")
    page = (checkout / DRIFT_PAGE).read_text()
    assert page.count("data:image/png;base64,") == 17  # 16 features and the scores
    assert len(list((checkout / DRIFT_PLOTS).glob("*.png"))) == 17


def test_labels_that_arrive_late_are_judged_on_the_labelled_rows(checkout, params):
    batch = pd.read_parquet(checkout / "test.parquet")
    late = batch.index[: len(batch) * 3 // 4]
    batch.loc[late, "employed"] = None  # 75% missing: far beyond the contract's null share
    result = monitor(checkout, batch)
    assert result.returncode == 0, result.stdout + result.stderr
    performance = record(checkout)["performance"]
    assert performance["metric"] == params.monitor.performance.metric


def test_older_people_are_drift_with_a_line_naming_the_feature(checkout):
    batch = pd.read_parquet(checkout / "test.parquet").drop(columns="employed")
    older = batch.index[: len(batch) // 3]
    batch.loc[older, "AGEP"] = (batch.loc[older, "AGEP"] + 10).clip(upper=99)  # the contract's
    result = monitor(checkout, batch)
    assert result.returncode == 3, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("AGEP: drift: Wasserstein / std ")
    written = record(checkout)
    assert written["decision"] == "drift"
    assert written["drifted"][0] == "AGEP"
    assert written["features"][0]["name"] == "AGEP", "most drifted first"
    assert written["performance"] is None  # no target in the batch
    assert "| AGEP | numeric |" in (checkout / DRIFT_SUMMARY).read_text()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda b: b.drop(columns="MAR"), "column 'MAR' breaks rule 'required column'"),
        (
            lambda b: b.assign(MAR=b["MAR"].where(b.index > 2, 9)),
            "column 'MAR' breaks rule 'allowed codes [1, 2, 3, 4, 5]' in 3 rows, e.g. row 0: 9",
        ),
        (
            lambda b: b.assign(AGEP=b["AGEP"].astype(str).where(b.index > 0, "forty")),
            "column 'AGEP' breaks rule 'type integer'",
        ),
    ],
    ids=["missing-column", "unknown-code", "wrong-type"],
)
def test_a_batch_that_breaks_the_contract_is_a_breach_not_drift(checkout, change, expected):
    batch = change(pd.read_parquet(checkout / "test.parquet").head(500))
    result = monitor(checkout, batch, "breach.csv")
    assert result.returncode == 4, result.stderr
    assert "breach.csv breaks the data contract: not judged for drift" in result.stdout
    assert expected in result.stdout
    written = record(checkout)
    assert written["decision"] == "contract breach"
    assert any(expected in v["message"] for v in written["violations"])
    assert not (checkout / DRIFT_PLOTS).exists(), "no picture of an earlier run is left"


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("empty.csv", "", "empty.csv: the file is empty"),
        ("header-only.csv", "AGEP,MAR\n", "header-only.csv: the file has no rows"),
        ("not-parquet.parquet", "AGEP,MAR\n1,2\n", "not-parquet.parquet: cannot be read as"),
    ],
)
def test_an_unreadable_batch_is_an_error_and_the_last_report_stays(checkout, name, text, expected):
    before = (checkout / DRIFT_RECORD).read_bytes()
    result = monitor(checkout, text, name)
    assert result.returncode == ExitCode.DATA
    assert expected in result.stderr
    assert (checkout / DRIFT_RECORD).read_bytes() == before


def test_a_report_directory_holding_other_files_is_refused(checkout):
    (checkout / "elsewhere").mkdir()
    (checkout / "elsewhere/notes.txt").write_text("mine")
    batch = pd.read_parquet(checkout / "test.parquet")
    batch.to_parquet(checkout / "batch.parquet")
    command = [str(CAUCE), "monitor", "--batch", "batch.parquet", "--model-dir", "models"]
    result = subprocess.run(
        [*command, "--out", "elsewhere"], cwd=checkout, capture_output=True, text=True, check=False
    )
    assert result.returncode == ExitCode.USAGE
    assert "--out elsewhere: holds files that are not a drift report (notes.txt)" in result.stderr
    assert (checkout / "elsewhere/notes.txt").read_text() == "mine"
