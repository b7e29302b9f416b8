"""Real datasets that ship offline with scikit-learn, shaped as a fork's own files: what
cauce is tested with beyond the census data (tests/pipeline/test_your_data.py, the fast
path's tests, `make bench`). None is designed for cauce; each exercises one promise:

- `tumours`: binary with string labels ("malignant" / "benign"), numeric features only;
- `flowers`: binary with integer labels 1 / 2 (virginica or not), numeric only;
- `wines`: multiclass (three cultivars, labelled by name);
- `progression`: regression (disease progression after a year);
- `wines_described`: multiclass with text categoricals (colour and alcohol as words),
  missing values in them and in a number, and no time column.

`surveys_dated` (made from the embedded census data) has a time column of dates.

Each has an `id` column, and `shifted` gives a batch of it whose features moved (what the
drift monitor must notice).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Dataset:
    name: str
    frame: pd.DataFrame
    target: str
    task: str
    positive_label: object = None
    shifted_column: str = ""  # a numeric feature `shifted` moves

    @property
    def init_arguments(self) -> list[str]:
        """`cauce init`'s options for this file (the source given apart)."""
        arguments = ["--target", self.target, "--task", self.task, "--id", "id"]
        if self.positive_label is not None:
            arguments += ["--positive-label", str(self.positive_label)]
        return arguments

    def shifted(self) -> pd.DataFrame:
        """The data with `shifted_column` moved by two standard deviations."""
        column = self.frame[self.shifted_column]
        return self.frame.assign(**{self.shifted_column: column + 2 * column.std()})


def _with_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.reset_index(drop=True).rename_axis("id").reset_index()


def tumours() -> Dataset:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: c.replace(" ", "_"))
    frame["diagnosis"] = np.where(bunch.target == 0, "malignant", "benign")
    frame = frame.drop(columns="target")
    return Dataset("tumours", _with_id(frame), "diagnosis", "binary", "malignant", "mean_radius")


def flowers() -> Dataset:
    from sklearn.datasets import load_iris

    bunch = load_iris(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: c.replace(" (cm)", "").replace(" ", "_"))
    frame["virginica"] = np.where(bunch.target == 2, 2, 1)
    frame = frame.drop(columns="target")
    return Dataset("flowers", _with_id(frame), "virginica", "binary", 2, "petal_length")


def wines() -> Dataset:
    from sklearn.datasets import load_wine

    bunch = load_wine(as_frame=True)
    frame = bunch.frame.rename(columns=lambda c: c.replace("/", "_"))
    frame["cultivar"] = np.asarray(["barolo", "grignolino", "barbera"])[bunch.target]
    frame = frame.drop(columns="target")
    return Dataset("wines", _with_id(frame), "cultivar", "multiclass", None, "alcohol")


def progression() -> Dataset:
    from sklearn.datasets import load_diabetes

    bunch = load_diabetes(as_frame=True, scaled=False)
    frame = bunch.frame.rename(columns={"target": "progression"})
    return Dataset("progression", _with_id(frame), "progression", "regression", None, "bmi")


def wines_described() -> Dataset:
    """The wines, with colour and alcohol as words and a tenth of them missing."""
    base = wines().frame
    rng = np.random.default_rng(7)
    colour = pd.cut(base["color_intensity"], [0, 3.5, 6, 99], labels=["pale", "ruby", "deep"])
    strength = pd.cut(base["alcohol"], [0, 12.5, 13.5, 99], labels=["light", "medium", "strong"])
    frame = base.drop(columns=["color_intensity", "alcohol"]).assign(
        colour=colour.astype(str), strength=strength.astype(str)
    )
    for column in ("colour", "strength", "magnesium"):
        frame[column] = frame[column].mask(rng.random(len(frame)) < 0.1)
    frame["magnesium"] = frame["magnesium"].astype("float64")
    return Dataset("wines_described", frame, "cultivar", "multiclass", None, "proline")


def surveys_dated(rows_per_year: int = 600) -> Dataset:
    """A sample of the embedded census data with each row's survey year as a date in that
    year (ISO 8601 text): a time column of dates, as most tables with time have."""
    from tests.conftest import SOURCE

    census = pd.read_parquet(SOURCE)
    frame = census.groupby("year").sample(n=rows_per_year, random_state=3).reset_index(drop=True)
    day = np.random.default_rng(3).integers(0, 365, len(frame))
    dates = pd.to_datetime(frame["year"].astype(str)) + pd.to_timedelta(day, unit="D")
    frame = frame.drop(columns="year").assign(surveyed=dates.dt.strftime("%Y-%m-%d"))
    return Dataset("surveys_dated", frame, "employed", "binary", 1, "AGEP")


ALL = (tumours, flowers, wines, progression, wines_described)
