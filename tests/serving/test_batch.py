"""`cauce score` as a process: the whole embedded source scored in record batches, and on
a Dask LocalCluster of two workers, equals the in-process scores; rows that break the
input schema are quarantined with their reasons while the rest are scored, the same way
by both engines; memory follows the batch, not the file; a killed run leaves the previous
output intact. The other Dask runs go to the cluster the test run starts (`--scheduler`,
as to a team's cluster; tests/conftest.py `cluster`) instead of starting one each. The
runs are warm processes (tests/warm.py) but those that measure the process itself: its
memory, and a kill."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from cauce import ExitCode
from cauce.fastpath import FastModel
from cauce.files import file_sha256
from cauce.model import score
from cauce.pipeline.prepare import split
from tests.conftest import ROOT, SOURCE, small_model, tool_environment

pytestmark = pytest.mark.slow

CAUCE = Path(sys.executable).parent / "cauce"


@pytest.fixture(scope="module")
def checkout(tmp_path_factory, params, source_2015) -> Path:
    root = tmp_path_factory.mktemp("batch")
    (root / "params.yaml").write_text((ROOT / "params.yaml").read_text(encoding="utf-8"))
    train, _ = split(source_2015.sample(n=6000, random_state=1), params)
    small_model(root, params, train)
    return root


@pytest.fixture(scope="module")
def tenfold(tmp_path_factory) -> Path:
    """The source ten times over: 2.8 million rows in ten files."""
    directory = tmp_path_factory.mktemp("tenfold")
    source = pd.read_parquet(SOURCE)
    for part in range(10):
        source.to_parquet(directory / f"part-{part}.parquet")
    return directory


def engine(name: str, cluster: str) -> tuple[str, ...]:
    """The options that run `cauce score` on `name`: local, or Dask on `cluster`."""
    return (
        ("--engine", "local") if name == "local" else ("--engine", "dask", "--scheduler", cluster)
    )


def score_command(source: Path | str, output: str, *options: str, program: str = "cauce") -> list:
    return [
        program,
        "score",
        "--input",
        str(source),
        "--output",
        output,
        "--model-dir",
        "models",
        *options,
    ]


def run_score(
    checkout: Path, source: Path | str, output: str = "out/predictions.parquet", *options: str
):
    command = score_command(source, output, *options)
    env = tool_environment(checkout)
    return subprocess.run(
        command, cwd=checkout, env=env, capture_output=True, text=True, check=False
    )


def test_the_whole_source_scored_in_batches_equals_the_in_process_scores(checkout, params):
    from cauce.model import load_model

    result = run_score(checkout, SOURCE)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("score: 277,677 rows read, 277,677 scored with model ")
    predictions = pd.read_parquet(checkout / "out/predictions.parquet")
    source = pd.read_parquet(SOURCE)
    pipeline = load_model(checkout / "models/model.skops")
    fast = FastModel.derive(pipeline, file_sha256(checkout / "models/model.skops"))
    expected = score(fast, source)  # what the API answers for these rows, too
    assert predictions["id"].tolist() == source["id"].tolist()
    np.testing.assert_array_equal(predictions["probability"].to_numpy(), expected)
    in_process = pipeline.predict_proba(source[list(fast.columns)])[:, 1]
    np.testing.assert_allclose(expected, in_process, rtol=0, atol=1e-9)
    labels = (expected >= params.evaluate.threshold).astype("int8")
    np.testing.assert_array_equal(predictions["label"].to_numpy(), labels)
    summary = json.loads((checkout / "out/predictions.summary.json").read_text())
    assert summary["rows_read"] == summary["scored"] == len(source)
    assert summary["quarantined"] == 0
    assert not (checkout / "out/predictions.quarantine.parquet").exists()

    on_dask = run_score(checkout, SOURCE, "out/dask.parquet", "--engine", "dask")
    assert on_dask.returncode == 0, on_dask.stderr
    assert on_dask.stdout.startswith("score: 277,677 rows read, 277,677 scored with model ")
    assert (checkout / "out/dask.parquet").is_dir()
    pd.testing.assert_frame_equal(pd.read_parquet(checkout / "out/dask.parquet"), predictions)
    assert not (checkout / "out/dask.quarantine.parquet").exists()


@pytest.mark.parametrize("name", ["local", "dask"])
def test_rows_that_break_the_schema_are_quarantined_and_the_rest_scored(
    checkout, tmp_path, name, cluster
):
    rows = pd.read_parquet(SOURCE).head(1000).astype({"AGEP": object, "id": "Int64"})
    rows.loc[0, "MAR"] = 9
    rows.loc[1, "AGEP"] = "forty"
    rows.loc[2, "AGEP"] = 120
    rows.loc[3, "id"] = None  # its score could be joined to nothing
    file = tmp_path / "batch.csv"
    rows.to_csv(file, index=False)
    result = run_score(checkout, file, f"out/csv-{name}.parquet", *engine(name, cluster))
    assert result.returncode == 0, result.stderr
    assert "1,000 rows read, 996 scored" in result.stdout
    assert f"4 quarantined (out/csv-{name}.quarantine.parquet)" in result.stdout
    quarantine = pd.read_parquet(checkout / f"out/csv-{name}.quarantine.parquet")
    assert quarantine["quarantine_reason"].tolist() == [
        "MAR: allowed codes [1, 2, 3, 4, 5]",  # in the words validate uses
        "AGEP: type integer",
        "AGEP: range [0, 99]",
        "id: no missing values",
    ]
    ids = rows["id"].tolist()
    assert quarantine["id"].tolist()[:3] == ids[:3]
    assert quarantine["AGEP"].tolist()[:3] == ["62", "forty", "120"]  # as the file has them
    scored = pd.read_parquet(checkout / f"out/csv-{name}.parquet")
    assert scored["id"].tolist() == ids[4:]


def test_dask_on_many_small_files_with_empty_ones_equals_the_local_engine(
    checkout, tmp_path, cluster
):
    rows = pd.read_parquet(SOURCE).head(5000)
    rows.loc[[10, 4010], "MAR"] = 9
    parts = tmp_path / "parts"
    parts.mkdir()
    for number, start in enumerate(range(0, len(rows), 200)):  # 25 files of 200 rows
        # part-2 before part-10 on both engines
        rows.iloc[start : start + 200].to_parquet(parts / f"part-{number}.parquet")
    rows.head(0).to_parquet(parts / "part-100.parquet")  # no rows at all
    rows.iloc[[10]].to_parquet(parts / "part-101.parquet")  # nothing to score
    local = run_score(checkout, parts, "out/parts.parquet")
    on_dask = run_score(checkout, parts, "out/parts-dask.parquet", *engine("dask", cluster))
    for result in (local, on_dask):
        assert result.returncode == 0, result.stderr
        assert "5,001 rows read, 4,998 scored" in result.stdout
        assert "3 quarantined" in result.stdout
    out = checkout / "out"
    expected = pd.read_parquet(out / "parts.parquet")
    assert len(expected) == 4998
    pd.testing.assert_frame_equal(pd.read_parquet(out / "parts-dask.parquet"), expected)
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "parts-dask.quarantine.parquet"),
        pd.read_parquet(out / "parts.quarantine.parquet"),
    )
    summary = json.loads((out / "parts-dask.summary.json").read_text())
    assert (summary["rows_read"], summary["scored"], summary["quarantined"]) == (5001, 4998, 3)


@pytest.mark.rehearsal  # a load test
def test_memory_follows_the_batch_not_the_file(checkout, tenfold):
    """Peak RSS scoring the source once and ten times over differs by much less than the
    nine extra copies would take in memory: the file size does not enter. (What it does
    depend on, the batch and the input's row groups, is in the benchmark's figures.)"""

    def peak_rss(source: Path) -> int:
        measure = (
            "import resource, subprocess, sys;"
            "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL);"
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
        )
        rss = score_command(source, "out/rss.parquet", program=CAUCE)  # a process of its own
        command = [sys.executable, "-c", measure, *rss]
        result = subprocess.run(command, cwd=checkout, capture_output=True, text=True, check=True)
        return int(result.stdout) * 1024

    once, ten_times = peak_rss(SOURCE), peak_rss(tenfold)
    nine_copies = 9 * pq.read_table(SOURCE).nbytes  # about 380 MB
    # A reader that held the file would add at least the nine copies. Scoring batch by
    # batch added 55 to 250 MB in 12 runs with both cores busy, as in the parallel suite
    # (the allocator's and the threads' timing): a third of the copies, the bound this
    # test had, failed one run in three there. The figure itself is the benchmark's.
    assert ten_times - once < nine_copies, (once, ten_times, nine_copies)


@pytest.mark.parametrize("name", ["local", "dask"])
def test_a_missing_column_or_file_is_an_error_naming_it(checkout, tmp_path, name, cluster):
    file = tmp_path / "no-mar.parquet"
    pd.read_parquet(SOURCE).head(50).drop(columns="MAR").to_parquet(file)
    result = run_score(checkout, file, "out/none.parquet", *engine(name, cluster))
    assert result.returncode == ExitCode.DATA
    assert "columns the model needs are missing: ['MAR']" in result.stderr
    result = run_score(
        checkout, tmp_path / "absent.parquet", "out/none.parquet", *engine(name, cluster)
    )
    assert result.returncode == ExitCode.DATA
    assert f"--input {tmp_path / 'absent.parquet'}: not found" in result.stderr
    assert not (checkout / "out/none.parquet").exists()


def test_unreadable_input_and_the_other_engines_output_are_clear_errors(
    checkout, tmp_path, cluster
):
    source = pd.read_parquet(SOURCE).head(200)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    source.head(100).to_parquet(mixed / "a.parquet")
    later = source.tail(100).astype({"AGEP": float})
    later.iloc[0, later.columns.get_loc("AGEP")] = 12.5  # the first file says integers
    later.to_parquet(mixed / "b.parquet")
    result = run_score(checkout, mixed, "out/mixed.parquet")
    assert result.returncode == ExitCode.DATA
    assert f"--input {mixed}: cannot be read: Float value 12.5" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (checkout / "out/mixed.parquet").exists()
    # a file the local engine wrote is not replaced by Dask's directory
    assert run_score(checkout, mixed / "a.parquet", "out/kind.parquet").returncode == 0
    before = (checkout / "out/kind.parquet").read_bytes()
    result = run_score(checkout, mixed / "a.parquet", "out/kind.parquet", *engine("dask", cluster))
    assert result.returncode == ExitCode.USAGE
    assert "out/kind.parquet is a file the local engine wrote" in result.stderr
    assert (checkout / "out/kind.parquet").read_bytes() == before


@pytest.mark.rehearsal  # a fault test
@pytest.mark.parametrize("signal_number", [signal.SIGKILL, signal.SIGTERM], ids=["kill", "term"])
def test_a_killed_run_leaves_the_previous_output_intact(checkout, tmp_path, tenfold, signal_number):
    """Killed while it writes, the previous output stays; stopped by SIGTERM (a cancelled
    job), it also removes its temporary files and says it was interrupted."""
    small = tmp_path / "small.parquet"
    pd.read_parquet(SOURCE).head(100).to_parquet(small)
    assert run_score(checkout, small, "out/kept.parquet").returncode == 0
    before = (checkout / "out/kept.parquet").read_bytes()
    earlier = set((checkout / "out").glob(".kept.parquet.*.tmp"))  # a killed run's
    # 2.8 million rows: long enough to be killed while writing
    process = subprocess.Popen(
        score_command(tenfold, "out/kept.parquet", program=CAUCE), cwd=checkout
    )
    deadline = time.monotonic() + 120
    staged = (checkout / "out").glob
    while not set(staged(".kept.parquet.*.tmp")) - earlier:
        assert process.poll() is None, "finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # well into writing batches
    process.send_signal(signal_number)
    assert process.wait(timeout=60) != 0
    assert (checkout / "out/kept.parquet").read_bytes() == before
    if signal_number == signal.SIGTERM:
        assert set(staged(".kept.parquet.*.tmp")) <= earlier
