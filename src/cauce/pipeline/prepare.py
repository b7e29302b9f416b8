"""Stage `prepare`: drop rows without a target, check the target fits the declared task,
then a seeded train/test split (stratified by label for the classifiers).

Missing feature values are kept: the model's own imputer handles them, in training and
in serving alike.
"""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import train_test_split

from cauce import DataError
from cauce.artifact import describe_target, plain_label
from cauce.config import Params
from cauce.files import read_parquet, stage_log, write_parquet
from cauce.layout import RAW, TEST_SPLIT, TRAIN_SPLIT


def split(frame: pd.DataFrame, params: Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clean `frame` and split it; the test share and class balance follow params."""
    data = params.data
    labelled = frame.dropna(subset=[data.target])
    target = describe_target(labelled[data.target], data, str(RAW), params.evaluate.threshold)
    stratify = None
    if target.classes is not None:
        labels = labelled[data.target]
        if pd.api.types.is_float_dtype(labels) and (labels % 1 == 0).all():
            labelled = labelled.astype({data.target: "int64"})  # whole labels widened by a null
        stratify = labelled[data.target]
        counts = stratify.map(plain_label).value_counts()
        rare = counts[counts < 2]
        if not rare.empty:
            raise DataError(
                f"{RAW}: column {data.target!r} (data.target) has labels with a single row "
                f"({', '.join(map(repr, rare.index))}); a stratified split needs two of each: "
                "drop those rows or merge the labels"
            )
    train, test = train_test_split(
        labelled, test_size=data.test_size, random_state=data.seed, stratify=stratify
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def run(params: Params) -> None:
    with stage_log("prepare") as log:
        frame = read_parquet(RAW)
        log.reads(RAW, len(frame))
        train, test = split(frame, params)
        dropped = len(frame) - len(train) - len(test)
        if dropped:
            log.note(f"dropped {dropped:,} rows without a target")
        write_parquet(TRAIN_SPLIT, train)
        write_parquet(TEST_SPLIT, test)
        log.writes(TRAIN_SPLIT, len(train))
        log.writes(TEST_SPLIT, len(test))
