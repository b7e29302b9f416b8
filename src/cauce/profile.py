"""The reference profile: how the data a model learned from is distributed.

The train stage writes it into the model directory (`models/reference.json`), so every
version carries the reference its drift checks compare production data against; the
evaluate stage profiles the model's scores on the test split the same way. A profile
keeps counts, not shares, so that the monitor can test and resample it exactly:

- a categorical feature: its codes and how many rows have each;
- a numeric one: up to `NUMERIC_BINS` bins starting at quantiles of the data (a bin per
  value when there are fewer values, as for ages), each bin's count and mean value.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from cauce.artifact import plain_label
from cauce.files import read_typed

NUMERIC_BINS = 100


class _Profile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CategoricalProfile(_Profile):
    kind: Literal["categorical"] = "categorical"
    rows: int
    missing: int
    codes: list[Any]
    counts: list[int]


class NumericProfile(_Profile):
    kind: Literal["numeric"] = "numeric"
    rows: int
    missing: int
    starts: list[float]
    counts: list[int]
    means: list[float]
    std: float


FeatureProfile = Annotated[CategoricalProfile | NumericProfile, Field(discriminator="kind")]
FEATURE_PROFILE: TypeAdapter[FeatureProfile] = TypeAdapter(FeatureProfile)


class ReferenceProfile(_Profile):
    """`reference.json`: every feature's profile over the training rows."""

    rows: int
    features: dict[str, FeatureProfile]

    @classmethod
    def read(cls, path: Path, hint: str = "") -> ReferenceProfile:
        return read_typed(cls, path, "a reference profile", hint)


def read_feature_profile(path: Path) -> CategoricalProfile | NumericProfile:
    """A profile of one column on its own (the scores', `scores.json`)."""
    return read_typed(FEATURE_PROFILE, path, "a profile")


def reference_profile(features: pd.DataFrame, categorical: list[str]) -> ReferenceProfile:
    """The profile of every column of `features`."""
    return ReferenceProfile(
        rows=len(features),
        features={
            column: (categorical_profile if column in categorical else numeric_profile)(
                features[column]
            )
            for column in features.columns
        },
    )


def categorical_profile(values: pd.Series) -> CategoricalProfile:
    counts = values.dropna().value_counts().sort_index()
    return CategoricalProfile(
        rows=len(values),
        missing=int(values.isna().sum()),
        codes=[plain_label(code) for code in counts.index],
        counts=[int(c) for c in counts],
    )


def numeric_profile(values: pd.Series | np.ndarray) -> NumericProfile:
    series = pd.Series(values, dtype=float)
    present = series.dropna().to_numpy()
    # Each bin starts at a value of the data (a quantile, not interpolated) and holds the
    # values up to the next bin's start, so no bin is empty and a feature with few
    # values (ages) gets one bin per value.
    starts = np.unique(
        np.quantile(present, np.linspace(0, 1, NUMERIC_BINS + 1), method="inverted_cdf")
    )
    bins = numeric_bins(starts, present)
    counts = np.bincount(bins, minlength=len(starts))
    sums = np.bincount(bins, weights=present, minlength=len(starts))
    return NumericProfile(
        rows=len(series),
        missing=int(series.isna().sum()),
        starts=[float(start) for start in starts],
        counts=[int(c) for c in counts],
        means=[float(s / c) for s, c in zip(sums, counts, strict=True)],
        std=float(np.std(present)),
    )


def profiled_prediction(task: str, prediction: np.ndarray) -> np.ndarray:
    """What prediction drift compares: a probability or a value as a number, a multiclass
    answer as the class it picks (its code)."""
    return np.argmax(prediction, axis=1) if task == "multiclass" else prediction


def prediction_profile(task: str, prediction: np.ndarray) -> FeatureProfile:
    """The profile of a model's answers on the test split (evaluate writes it)."""
    values = profiled_prediction(task, prediction)
    if task == "multiclass":
        return categorical_profile(pd.Series(values))
    return numeric_profile(values)


def numeric_bins(starts: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The bin of each value: the last start at or below it (values below the first
    start go to the first bin, values beyond the last to the last)."""
    return np.searchsorted(np.asarray(starts)[1:], values, side="right")


def numeric_labels(starts: list[float]) -> list[str]:
    """A label per bin: its value when it holds one, else its range."""
    labels = [
        f"{low:g}" if high == low + 1 and float(low).is_integer() else f"[{low:g}, {high:g})"
        for low, high in pairwise(starts)
    ]
    return [*labels, f"≥ {starts[-1]:g}"]


def counts_like(profile: FeatureProfile, values: pd.Series) -> tuple[np.ndarray, list[Any]]:
    """How `values` fall into the profile's codes or bins, and the codes it never saw.

    For a categorical profile the counts follow its codes; codes the profile lacks are
    returned apart (with their counts as extra entries at the end of the array).
    """
    present = values.dropna()
    if isinstance(profile, NumericProfile):
        bins = numeric_bins(np.asarray(profile.starts), present.to_numpy(dtype=float))
        return np.bincount(bins, minlength=len(profile.counts)), []
    found = present.value_counts()
    found.index = [plain_label(code) for code in found.index]
    known = list(profile.codes)
    unseen = sorted(code for code in found.index if code not in set(known))
    ordered = [int(found.get(code, 0)) for code in [*known, *unseen]]
    return np.asarray(ordered), unseen
