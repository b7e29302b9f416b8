"""Stage `prepare`: drop rows without a target, then a stratified, seeded train/test split.

Missing feature values are kept: the model's own imputer handles them, in training and
in serving alike.
"""

from __future__ import annotations

import pandas as pd
from sklearn.model_selection import train_test_split

from cauce import DataError
from cauce.config import Params
from cauce.files import stage_log, write_parquet
from cauce.layout import RAW, TEST_SPLIT, TRAIN_SPLIT


def split(frame: pd.DataFrame, params: Params) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Clean `frame` and split it; the test share and class balance follow params."""
    data = params.data
    labelled = frame.dropna(subset=[data.target])
    labelled = labelled.astype({data.target: "int64"})
    if labelled[data.target].nunique() < 2:
        raise DataError(
            f"{RAW}: column {data.target!r} (data.target) has a single class after cleaning; "
            "a classifier needs both 0 and 1"
        )
    train, test = train_test_split(
        labelled,
        test_size=data.test_size,
        random_state=data.seed,
        stratify=labelled[data.target],
    )
    return train.reset_index(drop=True), test.reset_index(drop=True)


def run(params: Params) -> None:
    with stage_log("prepare") as log:
        frame = pd.read_parquet(RAW)
        log.reads(RAW, len(frame))
        train, test = split(frame, params)
        dropped = len(frame) - len(train) - len(test)
        if dropped:
            log.note(f"dropped {dropped:,} rows without a target")
        write_parquet(TRAIN_SPLIT, train)
        write_parquet(TEST_SPLIT, test)
        log.writes(TRAIN_SPLIT, len(train))
        log.writes(TEST_SPLIT, len(test))
