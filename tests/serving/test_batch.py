"""`cauce score` as a process: the whole embedded source scored in record batches equals
the in-process scores, rows that break the input schema are quarantined with their
reasons while the rest are scored, and a killed run leaves the previous output intact."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cauce.model import score
from cauce.pipeline.prepare import split
from tests.conftest import ROOT, SOURCE, small_model

pytestmark = pytest.mark.slow

CAUCE = Path(sys.executable).parent / "cauce"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory, params, source_2015) -> Path:
    root = tmp_path_factory.mktemp("batch")
    (root / "params.yaml").write_text((ROOT / "params.yaml").read_text(encoding="utf-8"))
    train, _ = split(source_2015.sample(n=6000, random_state=1), params)
    small_model(root, params, train)
    return root


def run_score(checkout: Path, source: Path | str, output: str = "out/predictions.parquet"):
    command = [CAUCE, "score", "--input", str(source), "--output", output, "--model-dir", "models"]
    return subprocess.run(command, cwd=checkout, capture_output=True, text=True, check=False)


def test_the_whole_source_scored_in_batches_equals_the_in_process_scores(checkout, params):
    from cauce.model import load_model

    result = run_score(checkout, SOURCE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("score: 277,677 rows read, 277,677 scored with model ")
    predictions = pd.read_parquet(checkout / "out/predictions.parquet")
    source = pd.read_parquet(SOURCE)
    expected = score(load_model(checkout / "models/model.skops"), source)
    assert predictions["id"].tolist() == source["id"].tolist()
    np.testing.assert_array_equal(predictions["probability"].to_numpy(), expected)
    labels = (expected >= params.evaluate.threshold).astype("int8")
    np.testing.assert_array_equal(predictions["label"].to_numpy(), labels)
    summary = json.loads((checkout / "out/predictions.summary.json").read_text())
    assert summary["rows_read"] == summary["scored"] == len(source)
    assert summary["quarantined"] == 0
    assert not (checkout / "out/predictions.quarantine.parquet").exists()


def test_rows_that_break_the_schema_are_quarantined_and_the_rest_scored(checkout, tmp_path):
    rows = pd.read_parquet(SOURCE).head(1000).astype({"AGEP": object, "MAR": "Int64"})
    rows.loc[0, "MAR"] = 9
    rows.loc[1, "AGEP"] = "forty"
    rows.loc[2, "AGEP"] = 120
    file = tmp_path / "batch.csv"
    rows.to_csv(file, index=False)
    result = run_score(checkout, file, "out/csv.parquet")
    assert result.returncode == 0, result.stderr
    assert "1,000 rows read, 997 scored" in result.stdout
    assert "3 quarantined (out/csv.quarantine.parquet)" in result.stdout
    quarantine = pd.read_parquet(checkout / "out/csv.quarantine.parquet")
    reasons = dict(zip(quarantine["id"], quarantine["quarantine_reason"], strict=True))
    ids = rows["id"].tolist()
    assert reasons == {
        ids[0]: "MAR: allowed codes",
        ids[1]: "AGEP: type integer",
        ids[2]: "AGEP: range [0.0, 99.0]",
    }
    scored = pd.read_parquet(checkout / "out/csv.parquet")
    assert scored["id"].tolist() == ids[3:]


def test_a_missing_column_is_an_error_naming_it(checkout, tmp_path):
    file = tmp_path / "no-mar.parquet"
    pd.read_parquet(SOURCE).head(50).drop(columns="MAR").to_parquet(file)
    result = run_score(checkout, file, "out/none.parquet")
    assert result.returncode == 1
    assert "columns the model needs are missing: ['MAR']" in result.stderr
    assert not (checkout / "out/none.parquet").exists()


def test_a_killed_run_leaves_the_previous_output_intact(checkout, tmp_path):
    small = tmp_path / "small.parquet"
    pd.read_parquet(SOURCE).head(100).to_parquet(small)
    assert run_score(checkout, small, "out/kept.parquet").returncode == 0
    before = (checkout / "out/kept.parquet").read_bytes()
    big = tmp_path / "big"
    big.mkdir()
    source = pd.read_parquet(SOURCE)
    for part in range(10):  # 2.8 million rows: long enough to be killed while writing
        source.to_parquet(big / f"part-{part}.parquet")
    command = [CAUCE, "score", "--input", str(big), "--output", "out/kept.parquet"]
    process = subprocess.Popen([*command, "--model-dir", "models"], cwd=checkout)
    deadline = time.monotonic() + 120
    while not list((checkout / "out").glob(".kept.parquet.*.tmp")):
        assert process.poll() is None, "finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # well into writing batches
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (checkout / "out/kept.parquet").read_bytes() == before
