"""prepare: unlabelled rows go, the split is stratified, seeded and of the asked size."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cauce import DataError
from cauce.pipeline.prepare import split


def test_split_is_stratified_sized_and_seeded(source_2015, params):
    frame = source_2015.head(5000)
    train, test = split(frame, params)
    assert len(train) + len(test) == len(frame)
    assert len(test) == pytest.approx(len(frame) * params.data.test_size, abs=1)
    assert train["employed"].mean() == pytest.approx(test["employed"].mean(), abs=0.01)
    assert set(train["id"]).isdisjoint(test["id"])
    again_train, _ = split(frame, params)
    assert again_train["id"].tolist() == train["id"].tolist()


def test_rows_without_a_target_are_dropped(source_2015, params):
    frame = source_2015.head(1000).astype({"employed": "float64"})
    frame.loc[[1, 2, 3], "employed"] = np.nan
    train, test = split(frame, params)
    assert len(train) + len(test) == 997
    assert train["employed"].dtype == "int64"
    unlabelled = {frame.loc[i, "id"] for i in (1, 2, 3)}
    assert unlabelled.isdisjoint(set(train["id"]) | set(test["id"]))


def test_missing_features_are_kept_for_the_imputer(source_2015, params):
    frame = source_2015.head(1000).astype({"AGEP": "float64"})
    frame.loc[:9, "AGEP"] = np.nan
    train, test = split(frame, params)
    assert train["AGEP"].isna().sum() + test["AGEP"].isna().sum() == 10


def test_a_single_class_is_refused(source_2015, params):
    frame = source_2015[source_2015["employed"] == 1].head(500)
    with pytest.raises(DataError, match=r"column 'employed' \(data.target\) has a single label"):
        split(frame, params)


@pytest.mark.parametrize(
    ("positives", "rows", "message"),
    [
        (2, 3000, "labels with too few rows to be measured: 1 (2); with data.test_size 0.2 each "
         "label needs at least 5 rows so that the test split holds one"),
        (1, 3000, "labels with too few rows to be measured: 1 (1)"),
        (2, 4, "4 labelled rows (after exact duplicates are dropped): with data.test_size 0.2 "
         "a split holds fewer than 10, too few to measure a model; give at least 50 rows"),
    ],
    ids=["two-positives-in-3000", "one-row-label", "four-rows"],
)  # fmt: skip
def test_a_split_that_could_not_measure_a_label_is_refused_naming_it(
    source_2015, params, positives, rows, message
):
    """Stratified, a label of fewer rows than 1 / test_size would be missing from the test
    split (ROC AUC undefined, importance across fewer classes): refused before splitting."""
    negatives = source_2015[source_2015["employed"] == 0].head(rows - positives)
    frame = pd.concat([source_2015[source_2015["employed"] == 1].head(positives), negatives])
    with pytest.raises(DataError) as caught:
        split(frame, params)
    assert str(caught.value).startswith("data/raw/data.parquet: column 'employed' (data.target): ")
    assert message in str(caught.value)


def test_a_label_the_test_split_holds_few_of_is_a_warning(source_2015, params, caplog):
    frame = pd.concat(
        [
            source_2015[source_2015["employed"] == 1].head(20),
            source_2015[source_2015["employed"] == 0].head(980),
        ]
    )
    _, test = split(frame, params)
    assert (test["employed"] == 1).sum() == 4
    assert (
        "prepare: label 1: 20 rows, about 4 in the test split: its recall, and the metrics "
        "averaged over labels, are noisy"
    ) in caplog.messages
