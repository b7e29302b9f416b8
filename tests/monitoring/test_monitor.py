"""`cauce monitor` as a process: the verdict in the exit code and on stdout, and the report
on disk. Batches it cannot judge (unreadable, breaking the contract) are the bad-input
matrix in test_bad_batches.py."""

from __future__ import annotations

import pandas as pd
import pytest

from cauce.layout import DRIFT_PAGE, DRIFT_PLOTS, DRIFT_SUMMARY
from tests.monitoring.conftest import monitor, record

pytestmark = pytest.mark.slow


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
    assert written["performance"] is None
    assert "performance not judged: batch.parquet has no 'employed' column" in written["notes"]
    assert "| AGEP | numeric |" in (checkout / DRIFT_SUMMARY).read_text()


def test_a_batch_with_few_labels_says_why_performance_is_not_judged(checkout):
    batch = pd.read_parquet(checkout / "test.parquet").head(150)
    result = monitor(checkout, batch)
    assert result.returncode == 0, result.stdout + result.stderr
    why = "performance not judged: 150 labelled rows in batch.parquet, fewer than the 200"
    assert why in result.stdout
    assert record(checkout)["performance"] is None
    assert any(note.startswith(why) for note in record(checkout)["notes"])
