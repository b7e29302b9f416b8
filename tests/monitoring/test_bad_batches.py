"""The bad-input matrix for `cauce monitor`: a batch it cannot read stops it with exit 5 and
the last report stays; a batch that breaks the data contract is a contract breach (exit 4),
reported as such and never judged for drift; a report directory that holds other files is
refused (exit 2). docs/reliability.md lists every case."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from cauce import ExitCode
from cauce.layout import DRIFT_PLOTS, DRIFT_RECORD, MONITOR_REPORTS
from tests.conftest import tree_digest
from tests.monitoring.conftest import record

pytestmark = pytest.mark.slow

MODEL = ("--model-dir", "models")


@pytest.fixture
def last_report(checkout, cauce) -> dict[str, str]:
    """The reports of a good run, there before the bad batch arrives."""
    if not (checkout / DRIFT_RECORD).exists() or record(checkout)["decision"] != "no drift":
        result = cauce(checkout, "monitor", "--batch", "test.parquet", *MODEL)
        assert result.code == ExitCode.OK, result.out + result.err
    return tree_digest(checkout / MONITOR_REPORTS)


def batch_of(
    change: Callable[[pd.DataFrame], pd.DataFrame], name: str = "batch.csv"
) -> Callable[[Path], str]:
    """The first 500 rows of the test split, changed, written as `name`."""

    def write(checkout: Path) -> str:
        batch = change(pd.read_parquet(checkout / "test.parquet").head(500))
        if name.endswith(".csv"):
            batch.to_csv(checkout / name, index=False)
        else:
            batch.to_parquet(checkout / name)
        return name

    return write


def file_of(name: str, content: bytes | None) -> Callable[[Path], str]:
    def write(checkout: Path) -> str:
        if content is not None:
            (checkout / name).write_bytes(content)
        return name

    return write


def truncated(checkout: Path) -> str:
    data = (checkout / "test.parquet").read_bytes()
    (checkout / "cut.parquet").write_bytes(data[: len(data) // 2])
    return "cut.parquet"


UNREADABLE: dict[str, tuple[Callable[[Path], str], str]] = {
    "missing-file": (file_of("absent.parquet", None), "absent.parquet: not found"),
    "empty-csv": (file_of("empty.csv", b""), "empty.csv: the file is empty"),
    "header-only-csv": (file_of("header.csv", b"AGEP,MAR\n"), "header.csv: the file has no rows"),
    "csv-named-parquet": (
        file_of("text.parquet", b"AGEP,MAR\n1,2\n"),
        "text.parquet: cannot be read as Parquet",
    ),
    "truncated-parquet": (truncated, "cut.parquet: cannot be read as Parquet"),
    "csv-not-text": (
        file_of("binary.csv", bytes(range(128, 256)) * 8),
        "binary.csv: not utf-8 text (it holds byte 0x80): set data.csv.encoding",
    ),
}


@pytest.mark.parametrize("case", UNREADABLE.values(), ids=UNREADABLE.keys())
def test_an_unreadable_batch_is_an_error_and_the_last_report_stays(
    checkout, cauce, last_report, case
):
    make, words = case
    result = cauce(checkout, "monitor", "--batch", make(checkout), *MODEL)
    assert result.code == ExitCode.DATA, result.err
    assert words in result.err
    assert tree_digest(checkout / MONITOR_REPORTS) == last_report


def at_first_rows(
    column: str, value: object, rows: int = 3
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(batch: pd.DataFrame) -> pd.DataFrame:
        changed = batch.astype({column: object})
        changed.loc[changed.index[:rows], column] = value
        return changed

    return change


BREACHES: dict[str, tuple[Callable[[Path], str], str]] = {
    "missing-column": (
        batch_of(lambda b: b.drop(columns="MAR")),
        "column 'MAR' breaks rule 'required column'",
    ),
    "unknown-code": (
        batch_of(at_first_rows("MAR", 9)),
        "column 'MAR' breaks rule 'allowed codes [1, 2, 3, 4, 5]' in 3 rows, e.g. row 0: 9",
    ),
    "text-in-integer-column": (
        batch_of(at_first_rows("AGEP", "forty", 1)),
        "column 'AGEP' breaks rule 'type integer'",
    ),
    "age-above-max": (
        batch_of(at_first_rows("AGEP", 150)),
        "column 'AGEP' breaks rule 'range [0, 99]' in 3 rows",
    ),
    "fraction-in-integer-column": (
        batch_of(at_first_rows("SCHL", 12.5, 1)),
        "column 'SCHL' breaks rule 'type integer'",
    ),
    "too-many-missing": (
        batch_of(at_first_rows("SEX", None, 100)),
        "column 'SEX' breaks rule 'null share at most 5%': 20.0% of values are missing",
    ),
    "target-not-a-label": (
        batch_of(at_first_rows("employed", 2)),
        "column 'employed' breaks rule 'allowed codes [0, 1]' in 3 rows",
    ),
    "parquet-missing-column": (
        batch_of(lambda b: b.drop(columns="SCHL"), "batch.parquet"),
        "column 'SCHL' breaks rule 'required column'",
    ),
}


@pytest.mark.parametrize("case", BREACHES.values(), ids=BREACHES.keys())
def test_a_batch_that_breaks_the_contract_is_a_breach_not_drift(checkout, cauce, case):
    make, words = case
    name = make(checkout)
    result = cauce(checkout, "monitor", "--batch", name, *MODEL)
    assert result.code == ExitCode.CONTRACT_BREACH, result.err
    assert f"{name} breaks the data contract: not judged for drift" in result.out
    assert words in result.out
    written = record(checkout)
    assert written["decision"] == "contract breach"
    assert any(words in violation["message"] for violation in written["violations"])
    assert not (checkout / DRIFT_PLOTS).exists(), "no picture of an earlier run is left"


def test_a_report_directory_holding_other_files_is_refused(checkout, cauce):
    (checkout / "elsewhere").mkdir()
    (checkout / "elsewhere/notes.txt").write_text("mine")
    result = cauce(checkout, "monitor", "--batch", "test.parquet", *MODEL, "--out", "elsewhere")
    assert result.code == ExitCode.USAGE
    assert "--out elsewhere: holds files that are not a drift report (notes.txt)" in result.err
    assert [path.name for path in (checkout / "elsewhere").iterdir()] == ["notes.txt"]
    assert (checkout / "elsewhere/notes.txt").read_text() == "mine"


def test_with_an_outcome_file_the_verdict_is_written_and_every_verdict_exits_0(checkout, cauce):
    """What monitor.yml branches on: `--outcome "$GITHUB_OUTPUT"`; a batch that cannot be
    judged still fails."""
    outcome = checkout / "github-output"
    breach = BREACHES["unknown-code"][0](checkout)
    calm = cauce(checkout, "monitor", "--batch", "test.parquet", *MODEL, "--outcome", outcome.name)
    broken = cauce(checkout, "monitor", "--batch", breach, *MODEL, "--outcome", outcome.name)
    assert (calm.code, broken.code) == (ExitCode.OK, ExitCode.OK), calm.err + broken.err
    assert outcome.read_text() == "verdict=none\nverdict=contract-breach\n"
    missing = cauce(checkout, "monitor", "--batch", "gone.csv", *MODEL, "--outcome", outcome.name)
    assert missing.code == ExitCode.DATA
    assert outcome.read_text().count("verdict=") == 2
