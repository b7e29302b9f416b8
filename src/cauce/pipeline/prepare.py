"""Stage `prepare`: drop rows without a target, check the target fits the declared task,
then a seeded train/test split (stratified by label for the classifiers).

Missing feature values are kept: the model's own imputer handles them, in training and
in serving alike.
"""

from __future__ import annotations

import logging
import math

import pandas as pd
from sklearn.model_selection import train_test_split

from cauce import DataError
from cauce.artifact import describe_target, plain_label
from cauce.config import Params
from cauce.files import read_parquet, stage_log, write_parquet
from cauce.layout import RAW, TEST_SPLIT, TRAIN_SPLIT

logger = logging.getLogger("cauce")


# Fewer test rows than this measure nothing (one row more or less moves a metric by 10
# points); fewer rows of a label in the test split than NOISY_LABEL_ROWS make its recall
# and the macro metrics noisy, which is worth a warning, not a refusal.
MIN_TEST_ROWS = 10
NOISY_LABEL_ROWS = 10


def check_sizes(labels: pd.Series, classes: bool, test_size: float, where: str) -> list[str]:
    """Whether the labelled rows (`labels`, the target without missing values) can be
    split into a train and a test split that measure something: a DataError naming the
    label, its rows and the minimum when not; warnings for labels the test split holds
    few of. init and prepare both ask, so init refuses what prepare would."""
    rows = len(labels)
    tested = math.ceil(rows * test_size)  # as train_test_split rounds the test share
    if tested < MIN_TEST_ROWS or rows - tested < MIN_TEST_ROWS:
        need = math.ceil(MIN_TEST_ROWS / min(test_size, 1 - test_size))
        raise DataError(
            f"{where}: {rows:,} labelled rows (after exact duplicates are dropped): with "
            f"data.test_size {test_size:g} a split holds fewer than {MIN_TEST_ROWS}, too few to "
            f"measure a model; give at least {need:,} rows"
        )
    if not classes:
        return []
    least = max(2, math.ceil(1 / test_size))  # so that the stratified test split holds one
    counts = labels.map(plain_label).value_counts()
    rare = counts[counts < least]
    if not rare.empty:
        listed = ", ".join(f"{label!r} ({count:,})" for label, count in rare.items())
        raise DataError(
            f"{where}: labels with too few rows to be measured: {listed}; with "
            f"data.test_size {test_size:g} each label needs at least {least} rows so that the "
            "test split holds one: collect more, or drop or merge those rows"
        )
    expected = counts * test_size
    noisy = expected[expected < NOISY_LABEL_ROWS]
    return [
        f"label {label!r}: {counts[label]:,} rows, about {round(share):,} in the test split: "
        "its recall, and the metrics averaged over labels, are noisy"
        for label, share in noisy.items()
    ]


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
    where = f"{RAW}: column {data.target!r} (data.target)"
    for warning in check_sizes(
        labelled[data.target], stratify is not None, float(data.test_size), where
    ):
        logger.warning("prepare: %s", warning)
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
