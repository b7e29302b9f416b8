"""Any file `cauce init` accepts runs through the pipeline; any it refuses, it refuses in
one line with a reason. Checked on 200 awkward frames from a seeded generator: few rows,
rare and missing labels, every task, numbers with holes, inf and stray text, codes of
many values, constant and empty columns, dates, booleans, ids and duplicate rows, as CSV
and as Parquet.

Each accepted frame runs every stage as `dvc repro` runs it (`python -m cauce.pipeline
STAGE`'s function, in process: a process per stage and frame would take many minutes),
with a small model. A statistical test (tests/tiers.py): its claim is a rate over many
generated cases (none may break), minutes of CPU, rerun when a pull request changes the
code it imports.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from cauce import ExitCode
from cauce.layout import PARAMS, PIPELINE
from cauce.pipeline import draft, evaluate, ingest, prepare, train, validate
from tests.conftest import ROOT

pytestmark = pytest.mark.statistical

CASES = 200
# What the test runs, `cauce init` then each stage, imported by name so that tests/tiers.py
# sees what it measures (the CLI imports them inside its handlers).
COVERED = (draft, ingest, validate, prepare, train, evaluate)
STAGES = tuple(module.__name__.rsplit(".", 1)[1] for module in COVERED[1:])
# A small model: the claim is that the pipeline runs, not how well it learns.
SMALL_MODEL = {"max_iter": 5, "max_leaf_nodes": 7, "min_samples_leaf": 2}


def target(rng: np.random.Generator, rows: int) -> tuple[pd.Series, str]:
    """A target of a random kind, with rare labels and holes now and then."""
    kind = rng.choice(["binary", "words", "multiclass", "regression"])
    if kind == "regression":
        values = pd.Series(rng.normal(50, 10, rows))
    elif kind == "multiclass":
        classes = int(rng.integers(3, 7))
        shares = rng.dirichlet(np.full(classes, 0.7))
        values = pd.Series(rng.choice(classes, rows, p=shares))
    else:
        share = rng.choice([0.5, 0.1, 0.02, 0.002])
        labels = ["no", "yes"] if kind == "words" else [0, 1]
        values = pd.Series(np.where(rng.random(rows) < share, labels[1], labels[0]))
    if rng.random() < 0.2:
        values = values.mask(rng.random(rows) < 0.05)
    return values, str(kind)


def feature(rng: np.random.Generator, rows: int) -> pd.Series:
    """One column of a random awkward kind."""
    kind = rng.integers(12)
    if kind == 0:  # numbers with holes
        return pd.Series(rng.normal(0, 1, rows)).mask(rng.random(rows) < rng.random() * 0.5)
    if kind == 1:  # numbers with an inf
        values = pd.Series(rng.normal(0, 1, rows))
        values.iloc[int(rng.integers(rows))] = np.inf
        return values
    if kind == 2:  # numbers written as text, a few of them not numbers
        text = pd.Series(rng.normal(0, 1, rows).round(3).astype(str), dtype=object)
        text[rng.random(rows) < 0.03] = rng.choice(["?", "1,5", "n/a"])
        return text
    if kind == 3:  # a few codes
        return pd.Series(rng.integers(0, int(rng.integers(2, 8)), rows))
    if kind == 4:  # text codes with holes
        words = ["red", "green", "blue", "grey"][: int(rng.integers(2, 5))]
        return pd.Series(rng.choice(words, rows), dtype=object).mask(rng.random(rows) < 0.1)
    if kind == 5:  # text of many values
        return pd.Series([f"name {i}" for i in rng.integers(0, 400, rows)], dtype=object)
    if kind == 6:  # one value
        return pd.Series(["same"] * rows, dtype=object)
    if kind == 7:  # nothing
        return pd.Series([np.nan] * rows)
    if kind == 8:  # dates
        days = pd.to_datetime("2016-01-01") + pd.to_timedelta(rng.integers(0, 900, rows), "D")
        return pd.Series(days.strftime("%Y-%m-%d"), dtype=object)
    if kind == 9:  # true and false
        return pd.Series(rng.random(rows) < 0.5)
    if kind == 10:  # whole numbers, widened to floats by a hole
        return pd.Series(rng.integers(0, 90, rows).astype(float)).mask(rng.random(rows) < 0.02)
    return pd.Series(rng.exponential(3, rows))  # a skewed quantity


def awkward(seed: int) -> tuple[pd.DataFrame, str, str]:
    """Frame `seed`, its target column and its file's name."""
    rng = np.random.default_rng(seed)
    # Mostly enough rows to split, now and then too few: both paths are taken.
    rows = int(rng.choice([3, 40, 80, 150, 400, 1000], p=[0.05, 0.1, 0.2, 0.25, 0.25, 0.15]))
    labels, _ = target(rng, rows)
    frame = pd.DataFrame({f"x{i}": feature(rng, rows) for i in range(int(rng.integers(1, 8)))})
    frame["y"] = labels
    if rng.random() < 0.3:
        frame.insert(0, "key", rng.permutation(rows) + 1000)
    if rng.random() < 0.2:
        frame = pd.concat([frame, frame.head(max(1, rows // 4))])  # re-delivered rows
    name = "awkward.csv" if rng.random() < 0.5 else "awkward.parquet"
    return frame.reset_index(drop=True), "y", name


def fast(path: Path) -> None:
    """params.yaml with a small model and importance on few shuffles."""
    params = yaml.safe_load(path.read_text(encoding="utf-8"))
    params["train"]["hist_gradient_boosting"].update(SMALL_MODEL)
    params["evaluate"]["permutation_importance"]["n_repeats"] = 1
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")


def one_line(message: str) -> bool:
    return message.strip() != "" and "Traceback" not in message


@pytest.mark.parametrize("chunk", range(4))
def test_a_frame_init_accepts_runs_through_the_pipeline(tmp_path, cauce, chunk):
    """Cases chunk, chunk + 4, …: four tests, so that workers share them."""
    broken: list[str] = []
    outcomes: dict[str, int] = {"refused": 0, "ran": 0}
    for seed in range(chunk, CASES, 4):
        found = run_case(tmp_path / f"case-{seed}", seed, cauce)
        if found.startswith("broken"):
            broken.append(f"frame {seed}: {found}")
        else:
            outcomes[found] += 1
    assert broken == []
    assert outcomes["ran"] > 0, outcomes  # both paths were taken
    assert outcomes["refused"] > 0, outcomes


def run_case(root: Path, seed: int, cauce: Callable) -> str:
    """ "refused" (one line, exit 5 or 2), "ran" (every stage), or "broken: why"."""
    root.mkdir()
    for path in (PARAMS, PIPELINE):
        shutil.copy(ROOT / path, root / path)
    (root / "data").mkdir()
    frame, label, name = awkward(seed)
    if name.endswith(".csv"):
        frame.to_csv(root / name, index=False)
    else:
        frame.to_parquet(root / name, index=False)
    try:
        init = cauce(root, "init", "--source", name, "--target", label)
    except Exception as error:
        return f"broken: init raised {type(error).__name__}: {error}"
    if init.code != ExitCode.OK:
        said = one_line(init.err) and init.code in (ExitCode.DATA, ExitCode.USAGE)
        return "refused" if said else f"broken: init exit {init.code}: {init.err[-300:]}"
    fast(root / PARAMS)
    for stage in STAGES:
        try:
            done = cauce(root, stage)
        except Exception as error:
            return f"broken: {stage} raised {type(error).__name__}: {error}"
        if done.code != ExitCode.OK:
            return f"broken: {stage} exit {done.code}: {done.err.strip()[-300:]}"
    return "ran"
