"""The bad-input matrix for the source data: `cauce ingest` on a source it cannot use, and
`cauce validate` on data that breaks the contract. Each case: the exit code, a message
naming the file, the column and the rule, and the outputs of the last good run intact.
docs/reliability.md lists every case."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
import yaml

from cauce import ExitCode
from cauce.layout import CONTRACT, RAW, TRAIN_SPLIT, VALIDATION_REPORT
from tests.pipeline.conftest import GOOD, outputs, params_for

# (file name, its bytes from the good sample, exit code, words the message must hold)
SOURCES: dict[str, tuple[str, Callable[[pd.DataFrame], bytes | None], int, str]] = {
    "missing-file": ("absent.parquet", lambda _: None, ExitCode.DATA, "absent.parquet: not found"),
    "empty-file": ("empty.parquet", lambda _: b"", ExitCode.DATA, "cannot be read as Parquet"),
    "csv-named-parquet": (
        "text.parquet",
        lambda s: s.head(5).to_csv(index=False).encode(),
        ExitCode.DATA,
        "cannot be read as Parquet (name a .csv file for CSV)",
    ),
    "truncated-parquet": (
        "cut.parquet",
        lambda s: (data := s.to_parquet())[: len(data) // 2],
        ExitCode.DATA,
        "cannot be read as Parquet",
    ),
    "parquet-without-rows": (
        "none.parquet",
        lambda s: s.head(0).to_parquet(),
        ExitCode.DATA,
        "the file has no rows",
    ),
    "empty-csv": ("empty.csv", lambda _: b"", ExitCode.DATA, "the file is empty"),
    "csv-header-only": (
        "header.csv",
        lambda s: ",".join(s.columns).encode() + b"\n",
        ExitCode.DATA,
        "the file has no rows",
    ),
    "csv-not-text": (
        "binary.csv",
        lambda _: bytes(range(128, 256)) * 8,
        ExitCode.DATA,
        "binary.csv: not utf-8 text (it holds byte 0x80): set data.csv.encoding",
    ),
    "no-year-column": (
        "no-year.parquet",
        lambda s: s.drop(columns="year").to_parquet(),
        ExitCode.USAGE,
        "column 'year' (data.year_column) is missing",
    ),
    "no-training-years": (
        "later.parquet",
        lambda s: s.assign(year=2018).to_parquet(),
        ExitCode.USAGE,
        "data.train_years = [2015]: no rows in data/source/later.parquet; its years are [2018]",
    ),
}


@pytest.mark.parametrize("case", SOURCES.values(), ids=SOURCES.keys())
def test_a_source_ingest_cannot_use(checkout, sample, cauce, case):
    name, content, code, words = case
    source = f"data/source/{name}"
    if (data := content(sample)) is not None:
        (checkout / source).write_bytes(data)
    before = outputs(checkout)
    result = cauce(checkout, "--params", str(params_for(checkout, source)), "ingest")
    assert result.code == code, result.err
    assert f"{source}" in result.err
    assert words in result.err
    assert outputs(checkout) == before


def breaks(column: str, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """The sample with `value` in the first row of `column`."""

    def change(frame: pd.DataFrame) -> pd.DataFrame:
        changed = frame.astype({column: str}) if isinstance(value, str) else frame.copy()
        if isinstance(value, float) and not pd.isna(value):
            changed = changed.astype({column: float})
        changed.iloc[0, changed.columns.get_loc(column)] = value
        return changed

    return change


# (how the sample is changed, words the message must hold)
CONTRACT_BREACHES: dict[str, tuple[Callable[[pd.DataFrame], pd.DataFrame], str]] = {
    "age-above-max": (
        breaks("AGEP", 150),
        "column 'AGEP' breaks rule 'range [0, 99]' in 1 row, e.g. row 0: 150",
    ),
    "age-below-min": (
        breaks("AGEP", -1),
        "column 'AGEP' breaks rule 'range [0, 99]' in 1 row, e.g. row 0: -1",
    ),
    "code-not-allowed": (
        breaks("MAR", 9),
        "column 'MAR' breaks rule 'allowed codes [1, 2, 3, 4, 5]'",
    ),
    "text-in-integer-column": (
        breaks("SCHL", "twelve"),
        "column 'SCHL' breaks rule 'type integer'",
    ),
    "fraction-in-integer-column": (
        breaks("AGEP", 40.5),
        "column 'AGEP' breaks rule 'type integer'",
    ),
    "missing-id": (breaks("id", float("nan")), "column 'id' breaks rule 'no missing values'"),
    "duplicate-id": (
        lambda f: f.assign(id=f["id"].where(f.index != f.index[1], f["id"].iloc[0])),
        "column 'id' breaks rule 'unique values'",
    ),
    "too-many-missing": (
        lambda f: f.astype({"DIS": float}).assign(
            DIS=f["DIS"].where(pd.Series(range(len(f)), index=f.index) % 10 != 0)
        ),
        "column 'DIS' breaks rule 'null share at most 5%': 8.9% of values are missing",
    ),
    "declared-column-missing": (
        lambda f: f.drop(columns="CIT"),
        "column 'CIT' breaks rule 'required column': not in the data",
    ),
    "target-not-a-label": (
        breaks("employed", 2),
        "column 'employed' breaks rule 'allowed codes [0, 1]'",
    ),
}


@pytest.mark.parametrize("case", CONTRACT_BREACHES.values(), ids=CONTRACT_BREACHES.keys())
def test_data_that_breaks_the_contract(checkout, sample, cauce, case):
    change, words = case
    source = "data/source/changed.parquet"
    change(sample).to_parquet(checkout / source)
    params = str(params_for(checkout, source))
    assert cauce(checkout, "--params", params, "ingest").code == ExitCode.OK
    raw = (checkout / RAW).read_bytes()
    result = cauce(checkout, "--params", params, "validate")
    assert result.code == ExitCode.DATA, result.err
    assert f"{source} breaks the data contract {CONTRACT}" in result.err
    assert words in result.err
    assert (checkout / RAW).read_bytes() == raw, "validate changes nothing it reads"
    report = yaml.safe_load((checkout / VALIDATION_REPORT).read_text(encoding="utf-8"))
    assert report["status"] == "failed"
    assert any(words in violation["message"] for violation in report["violations"])


def test_a_breach_names_the_row_of_the_users_file(checkout, sample, cauce):
    """Ingest keeps the training years only; the row named is the one in the source."""
    source = "data/source/late-breach.parquet"
    position = int(np.flatnonzero(sample["year"].to_numpy() == 2015)[-1])
    kept_before = int((sample["year"].to_numpy()[:position] == 2015).sum())
    assert kept_before != position, "the sample must put other years before the breach"
    changed = sample.copy()
    changed.iloc[position, changed.columns.get_loc("MIG")] = 7
    changed.to_parquet(checkout / source)
    params = str(params_for(checkout, source))
    assert cauce(checkout, "--params", params, "ingest").code == ExitCode.OK
    result = cauce(checkout, "--params", params, "validate")
    assert result.code == ExitCode.DATA, result.err
    assert "rows counted from 0 in that file" in result.err
    assert f"in 1 row, e.g. row {position}: 7" in result.err


# (params changed, words the message must hold): the census target, 0 and 1, read as a task
# or with a positive label it does not fit.
TARGETS = {
    "multiclass-of-two-labels": (
        {"task": "multiclass", "positive_label": None},
        "column 'employed' (data.target) has 2 labels (0, 1); task multiclass needs 3 or more: "
        "set data.task: binary",
    ),
    "positive-label-not-a-label": (
        {"positive_label": 7},
        "data.positive_label = 7 is not a label of column 'employed'; its labels are 0, 1",
    ),
    "positive-label-as-text": (
        {"positive_label": "1"},
        "data.positive_label = '1' is not a label of column 'employed'; its labels are 0, 1",
    ),
}


@pytest.mark.parametrize("case", TARGETS.values(), ids=TARGETS.keys())
def test_a_target_that_does_not_fit_the_task(checkout, cauce, case):
    changes, words = case
    path = params_for(checkout, GOOD)
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    params["data"].update(changes)
    params["gate"]["metrics"] = {"log_loss": {"max_regression": 0.01}}  # in every classifier
    params["gate"]["groups"]["metric"] = params["monitor"]["performance"]["metric"] = "log_loss"
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    before = outputs(checkout)
    result = cauce(checkout, "--params", str(path), "prepare")
    assert result.code == ExitCode.DATA, result.err
    assert f"{RAW}: {words}" in result.err
    assert outputs(checkout) == before
    assert not (checkout / TRAIN_SPLIT).exists(), "no split is written"
