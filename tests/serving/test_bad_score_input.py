"""The bad-input matrix for `cauce score`: input files it cannot score, and options that
cannot go together. Each case: the exit code, a message naming the input and the rule, and
the predictions of the last good run intact. Rows that break the model's input schema are
not errors: they are quarantined with their reasons (test_batch.py). docs/reliability.md
lists every case."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cauce import ExitCode
from tests.conftest import tree_digest
from tests.serving.conftest import MODEL, OUTPUT


def parquet(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path, pd.DataFrame], str]:
    def write(root: Path, rows: pd.DataFrame) -> str:
        change(rows).to_parquet(root / "input.parquet")
        return "input.parquet"

    return write


def text(name: str, content: bytes) -> Callable[[Path, pd.DataFrame], str]:
    def write(root: Path, _: pd.DataFrame) -> str:
        (root / name).write_bytes(content)
        return name

    return write


def truncated(root: Path, rows: pd.DataFrame) -> str:
    data = rows.to_parquet()
    (root / "cut.parquet").write_bytes(data[: len(data) // 2])
    return "cut.parquet"


def mixed_directory(root: Path, rows: pd.DataFrame) -> str:
    """Two files whose types disagree: the second has a fraction where the first has
    whole numbers."""
    (root / "parts").mkdir()
    rows.head(100).to_parquet(root / "parts/a.parquet")
    later = rows.tail(100).astype({"AGEP": float})
    later.iloc[0, later.columns.get_loc("AGEP")] = 12.5
    later.to_parquet(root / "parts/b.parquet")
    return "parts"


def a_folder_of_notes(root: Path, _: pd.DataFrame) -> str:
    """A directory of the user's own files named as --output: the input is a good one."""
    (root / "notes").mkdir()
    (root / "notes/todo.md").write_text("keep me", encoding="utf-8")
    return "good.parquet"


def empty_directory(root: Path, _: pd.DataFrame) -> str:
    (root / "nothing").mkdir()
    return "nothing"


# (how the input is made, extra options, exit code, words the message must hold)
INPUTS: dict[str, tuple[Callable[[Path, pd.DataFrame], str], tuple[str, ...], int, str]] = {
    "missing-file": (lambda *_: "absent.parquet", (), ExitCode.DATA, "absent.parquet: not found"),
    "empty-file": (text("empty.parquet", b""), (), ExitCode.DATA, "cannot be read"),
    "csv-named-parquet": (
        text("text.parquet", b"AGEP,MAR\n40,1\n"),
        (),
        ExitCode.DATA,
        "cannot be read",
    ),
    "truncated-parquet": (truncated, (), ExitCode.DATA, "cut.parquet: cannot be read"),
    "no-rows": (parquet(lambda r: r.head(0)), (), ExitCode.DATA, "input.parquet: no rows"),
    "empty-csv": (text("empty.csv", b""), (), ExitCode.DATA, "empty.csv"),
    "column-missing": (
        parquet(lambda r: r.drop(columns="MAR")),
        (),
        ExitCode.DATA,
        "columns the model needs are missing: ['MAR']",
    ),
    "id-column-missing": (
        parquet(lambda r: r.drop(columns="id")),
        (),
        ExitCode.DATA,
        "columns the model needs are missing: ['id']",
    ),
    "types-differ-between-files": (
        mixed_directory,
        (),
        ExitCode.DATA,
        "parts: cannot be read: Float value 12.5",
    ),
    "directory-without-files": (empty_directory, (), ExitCode.DATA, "nothing: no file matches"),
    "glob-matching-nothing": (
        lambda *_: "batches/*.parquet",
        (),
        ExitCode.DATA,
        "batches/*.parquet: no file matches",
    ),
    "scheduler-without-dask": (
        lambda *_: "good.parquet",
        ("--scheduler", "tcp://127.0.0.1:8786"),
        ExitCode.USAGE,
        "--scheduler is for --engine dask",
    ),
    "output-named-csv": (
        lambda *_: "good.parquet",
        ("--output", "out/predictions.csv"),
        ExitCode.USAGE,
        "--output out/predictions.csv: cauce score writes Parquet, not .csv: name it "
        "out/predictions.parquet",
    ),
    "output-an-empty-directory": (
        lambda root, _: (root / "empty").mkdir() or "good.parquet",
        ("--output", "empty"),
        ExitCode.USAGE,
        "--output empty: an empty directory; the local engine writes one file: give its "
        "name, e.g. empty/predictions.parquet",
    ),
    "output-a-directory-of-other-files": (
        a_folder_of_notes,
        ("--output", "notes"),
        ExitCode.USAGE,
        "--output notes: a directory; the local engine writes one file: give its name, e.g. "
        "notes/predictions.parquet",
    ),
    "two-models-named": (
        lambda *_: "good.parquet",
        ("--stage", "prod"),
        ExitCode.USAGE,
        "give one of --stage, --version or --model-dir",
    ),
}


@pytest.mark.parametrize("case", INPUTS.values(), ids=INPUTS.keys())
def test_an_input_score_cannot_use(scored_checkout, rows, cauce, case):
    make, options, code, words = case
    location = make(scored_checkout, rows)
    before = tree_digest(scored_checkout / "out")
    result = cauce(
        scored_checkout, "score", "--input", location, "--output", OUTPUT, *MODEL, *options
    )
    assert result.code == code, result.err
    assert words in result.err
    assert tree_digest(scored_checkout / "out") == before


def spellings(root: Path) -> dict[str, tuple[str, str]]:
    """(--input, --output) pairs that name the same file, or a file and its directory."""
    (root / "link.parquet").symlink_to(root / OUTPUT)
    (root / "hard.parquet").hardlink_to(root / OUTPUT)
    (root / "good.quarantine.parquet").write_bytes((root / "good.parquet").read_bytes())
    return {
        "same-path": (OUTPUT, OUTPUT),
        "dot-spelling": (f"./{OUTPUT}", OUTPUT),
        "through-a-symlink": ("link.parquet", OUTPUT),
        "a-hard-link": ("hard.parquet", OUTPUT),
        "output-in-the-input-directory": ("out", "out/more.parquet"),
        "its-quarantine-over-the-input": ("good.quarantine.parquet", "good.parquet"),
        "glob-holding-the-output": ("out/*.parquet", OUTPUT),
    }


def test_an_output_that_would_replace_the_input_is_refused_before_anything_is_read(
    scored_checkout, cauce
):
    """`--output` naming the input, however spelled, exits with a usage error and leaves
    both as they were; the model directory is not even opened (it does not exist)."""
    cases = spellings(scored_checkout)
    before = tree_digest(scored_checkout)
    for case, (location, output) in cases.items():
        result = cauce(
            scored_checkout, "score", "--input", location, "--output", output,
            "--model-dir", "absent",
        )  # fmt: skip
        assert result.code == ExitCode.USAGE, (case, result.err)
        assert f"--output {output}: " in result.err, (case, result.err)
        assert "would replace the data being scored" in result.err, (case, result.err)
        assert tree_digest(scored_checkout) == before, case


def test_without_an_id_column_each_prediction_carries_its_row_number(scored_checkout, rows, cauce):
    """data.id_column null (what init drafts for data without one): the local engine
    numbers the rows from 0 in the input's order and says so; Dask, whose partitions have
    no row numbers, refuses naming the two ways on."""
    params = yaml.safe_load((scored_checkout / "params.yaml").read_text(encoding="utf-8"))
    params["data"]["id_column"] = None
    (scored_checkout / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    rows.drop(columns="id").to_parquet(scored_checkout / "no-id.parquet")
    result = cauce(
        scored_checkout, "score", "--input", "no-id.parquet", "--output", "numbered.parquet", *MODEL
    )
    assert result.code == ExitCode.OK, result.err
    assert result.out.strip().endswith(
        "wrote numbered.parquet; no id column (data.id_column is null): 'row' is each row's "
        "number in the input, from 0"
    )
    scored = pd.read_parquet(scored_checkout / "numbered.parquet")
    assert scored["row"].tolist() == list(range(len(rows)))
    dask = cauce(
        scored_checkout, "score", "--input", "no-id.parquet", "--output", "d", *MODEL,
        "--engine", "dask",
    )  # fmt: skip
    assert dask.code == ExitCode.USAGE
    assert "--engine dask joins each prediction back by data.id_column, which is null" in dask.err


def test_a_csv_in_the_sources_format_scores_as_its_parquet_does(scored_checkout, rows, cauce):
    """data.csv (what init detected in the source: ';', a decimal comma, Latin-1) is how
    cauce score reads a CSV input too: the same predictions as the same rows in Parquet."""
    params = yaml.safe_load((scored_checkout / "params.yaml").read_text(encoding="utf-8"))
    params["data"]["csv"] = {"sep": ";", "decimal": ",", "encoding": "latin-1"}
    (scored_checkout / "params.yaml").write_text(yaml.safe_dump(params), encoding="utf-8")
    rows.to_csv(scored_checkout / "european.csv", sep=";", decimal=",", encoding="latin-1")
    result = cauce(
        scored_checkout, "score", "--input", "european.csv", "--output", "eu.parquet", *MODEL
    )
    assert result.code == ExitCode.OK, result.err
    scored = pd.read_parquet(scored_checkout / "eu.parquet")
    expected = pd.read_parquet(scored_checkout / OUTPUT)
    pd.testing.assert_frame_equal(scored, expected)
