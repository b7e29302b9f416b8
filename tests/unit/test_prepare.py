"""prepare: unlabelled rows go, the split is stratified, seeded and of the asked size."""

from __future__ import annotations

import numpy as np
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
