"""The target and model.json, typed once: every kind of label a data file holds trains,
every mismatch between the data and the declared task is an error that says what to set,
and the answers read in the user's own labels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cauce import DataError, ExitCode
from cauce.artifact import ModelInfo, Target, describe_target
from cauce.config import DataParams

WHERE = "data/raw/data.parquet"


def data(task: str, positive_label=None) -> DataParams:
    return DataParams(
        source="file.csv", task=task, target="y", positive_label=positive_label,
        test_size=0.2, seed=1,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("labels", "positive", "classes"),
    [
        ([0, 1, 1, 0], None, [0, 1]),
        ([False, True, True], None, [False, True]),
        ([1, 2, 2, 1], 2, [1, 2]),
        ([1.0, 2.0, np.nan, 2.0], 1, [2, 1]),  # whole floats (a gap widened them) are ints
        (["no", "yes", "yes"], "yes", ["no", "yes"]),
        (["benign", "malignant"], "benign", ["malignant", "benign"]),
    ],
)
def test_binary_takes_any_two_labels_with_the_positive_last(labels, positive, classes):
    target = describe_target(pd.Series(labels), data("binary", positive), WHERE, 0.5)
    assert target.classes == classes
    assert target.positive == classes[1]
    codes = target.encode(pd.Series(labels).dropna(), WHERE)
    assert (
        target.decode(codes).tolist()
        == pd.Series(labels).dropna().map(lambda v: int(v) if isinstance(v, float) else v).tolist()
    )


@pytest.mark.parametrize(
    ("labels", "task", "positive", "words"),
    [
        (["a", "b", "c"], "binary", None, "has 3 labels ('a', 'b', 'c'); task binary needs 2: "
         "set data.task: multiclass"),
        (["no", "yes"], "binary", None, "set data.positive_label to the one the model's "
         "probability is for"),
        (["no", "yes"], "binary", "maybe", "data.positive_label = 'maybe' is not a label"),
        ([0, 1], "binary", True, "data.positive_label = True is not a label"),
        ([1, 1], "binary", None, "has a single label (1); a classifier needs two"),
        (["a", "b"], "multiclass", None, "task multiclass needs 3 or more: set data.task: "
         "binary"),
        (["x", "y"], "regression", None, "task regression needs numbers: set data.task: "
         "binary or multiclass"),
        (list(range(300)), "multiclass", None, "has 300 labels; a classifier takes at most "
         "255: set data.task: regression"),
    ],
)  # fmt: skip
def test_a_target_that_does_not_fit_the_task_says_what_to_set(labels, task, positive, words):
    with pytest.raises(DataError) as caught:
        describe_target(pd.Series(labels), data(task, positive), WHERE, 0.5)
    assert caught.value.exit_code == ExitCode.DATA
    message = str(caught.value)
    assert message.startswith(f"{WHERE}: "), "the file is named first"
    assert words in message


def test_a_label_the_model_never_saw_is_named():
    target = Target(column="y", task="multiclass", classes=["a", "b", "c"])
    with pytest.raises(DataError, match=r"labels the model does not know: d; it knows 'a'"):
        target.encode(pd.Series(["a", "d"]), "batch.csv")


def test_each_task_answers_in_the_users_labels():
    binary = Target(column="y", task="binary", classes=["no", "yes"], threshold=0.5)
    assert binary.answers(np.array([0.2, 0.7])) == [
        {"probability": 0.2, "label": "no"},
        {"probability": 0.7, "label": "yes"},
    ]
    multiclass = Target(column="y", task="multiclass", classes=["a", "b", "c"])
    (answer,) = multiclass.answers(np.array([[0.1, 0.6, 0.3]]))
    assert answer == {"probabilities": {"a": 0.1, "b": 0.6, "c": 0.3}, "label": "b"}
    assert list(multiclass.columns(np.zeros((0, 3)))) == [
        "probability_a",
        "probability_b",
        "probability_c",
        "label",
    ]
    regression = Target(column="y", task="regression")
    assert regression.answers(np.array([1.5])) == [{"value": 1.5}]
    assert regression.answer_schema()["required"] == ["value"]


def test_a_model_json_from_before_tasks_reads_as_a_binary_0_1_model(tmp_path):
    old = tmp_path / "model.json"
    old.write_text(
        '{"estimator": "HistGradientBoostingClassifier", "target": "employed", "threshold": 0.5,'
        ' "input_schema": [{"name": "AGEP", "kind": "numeric", "type": "integer"}],'
        ' "params": {"model": "hist_gradient_boosting"}, "data": {"source": "s.parquet",'
        ' "train_years": [2015], "rows": 10, "positive_share": 0.5, "sha256": "0"},'
        ' "versions": {}, "model_sha256": "1"}'
    )
    info = ModelInfo.read(old)
    assert info.target == Target(column="employed", task="binary", classes=[0, 1], threshold=0.5)
    assert info.columns == ["AGEP"]
