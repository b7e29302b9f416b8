"""evaluate: each metric equals scikit-learn's on a known input; groups and curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from cauce.artifact import Target
from cauce.metrics import METRICS, compute_all, of_task, recall_per_class
from cauce.pipeline.evaluate import PLOTS, curves, group_metrics, thin

Y = np.array([0, 0, 1, 1, 0, 1, 1, 0, 1, 0])
P = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.55, 0.45, 0.05])


BINARY = Target(column="y", task="binary", classes=[0, 1], threshold=0.5)
# Three classes: the true codes, and probabilities whose likeliest is right 7 times of 10.
Y3 = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2, 2])
P3 = np.array(
    [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.3, 0.6, 0.1], [0.2, 0.5, 0.3],
     [0.1, 0.1, 0.8], [0.5, 0.4, 0.1], [0.6, 0.3, 0.1], [0.3, 0.3, 0.4], [0.2, 0.7, 0.1]]
)  # fmt: skip
VALUES = np.array([3.0, 1.5, 4.0, 2.0, 5.5, 0.5, 2.5, 3.5, 1.0, 4.5])
GUESSES = VALUES + np.array([0.5, -0.5, 0.2, 0.0, -1.0, 0.3, 0.1, -0.2, 0.4, 0.6])


def test_each_metric_equals_scikit_learns():
    label = (P >= 0.5).astype(int)
    expected = {
        "roc_auc": sk.roc_auc_score(Y, P),
        "average_precision": sk.average_precision_score(Y, P),
        "accuracy": sk.accuracy_score(Y, label),
        "f1": sk.f1_score(Y, label),
        "precision": sk.precision_score(Y, label),
        "recall": sk.recall_score(Y, label),
        "log_loss": sk.log_loss(Y, P),
        "brier": sk.brier_score_loss(Y, P),
    }
    assert compute_all("binary", Y, P, threshold=0.5) == pytest.approx(expected)
    assert set(expected) == set(of_task("binary"))


def test_multiclass_metrics_take_the_likeliest_class_and_every_class():
    result = compute_all("multiclass", Y3, P3, threshold=None)
    assert result == pytest.approx(
        {
            "accuracy": 0.7,
            "macro_f1": sk.f1_score(Y3, P3.argmax(axis=1), average="macro"),
            "log_loss": sk.log_loss(Y3, P3),
        }
    )
    assert recall_per_class(Y3, P3) == pytest.approx([2 / 3, 2 / 3, 3 / 4])
    # A subset without class 2 still scores its probabilities over all three classes.
    subset = compute_all("multiclass", Y3[:2], P3[:2], threshold=None)
    assert subset["log_loss"] == pytest.approx(sk.log_loss(Y3[:2], P3[:2], labels=[0, 1, 2]))


def test_regression_metrics_and_their_directions():
    result = compute_all("regression", VALUES, GUESSES, threshold=None)
    assert result == pytest.approx(
        {
            "rmse": sk.root_mean_squared_error(VALUES, GUESSES),
            "mae": sk.mean_absolute_error(VALUES, GUESSES),
            "r2": sk.r2_score(VALUES, GUESSES),
        }
    )
    assert not METRICS["rmse"].higher_is_better
    assert METRICS["r2"].higher_is_better
    assert compute_all("regression", VALUES[:1], GUESSES[:1], None)["r2"] is None


def test_known_values():
    result = compute_all("binary", Y, P, threshold=0.5)
    assert result["accuracy"] == pytest.approx(0.7)  # 3 of 10 on the wrong side of 0.5
    assert result["roc_auc"] == pytest.approx(22 / 25)  # positive above negative in 22 of 25 pairs


def test_without_a_threshold_only_probability_metrics():
    assert set(compute_all("binary", Y, P, threshold=None)) == {
        "roc_auc",
        "average_precision",
        "log_loss",
        "brier",
    }


def test_the_threshold_moves_label_metrics():
    assert compute_all("binary", Y, P, 0.3)["recall"] == 1.0
    assert compute_all("binary", Y, P, 0.95)["precision"] == 0.0  # no positive predictions


def test_group_metrics_per_slice(params):
    frame = pd.DataFrame({"SEX": [1, 1, 1, 1, 1, 2, 2, 2, 2, 2], "RAC1P": [1] * 9 + [2]})
    groups = group_metrics(frame, Y, P, BINARY, params)
    assert set(groups) == {"SEX", "RAC1P"}
    men = (frame["SEX"] == 1).to_numpy()
    assert groups["SEX"]["1"]["rows"] == 5
    assert groups["SEX"]["1"]["roc_auc"] == pytest.approx(sk.roc_auc_score(Y[men], P[men]))
    # One person, one class: the ranking metrics are undefined, not a crash.
    assert groups["RAC1P"]["2"]["roc_auc"] is None
    assert groups["RAC1P"]["2"]["accuracy"] == 1.0


def test_curves_are_thin_and_the_confusion_matrix_adds_up():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 5000)
    p = np.clip(y * 0.3 + rng.random(5000) * 0.7, 0, 1)
    plots = curves(y, p, BINARY)
    assert 2 < len(plots["roc"]) <= 200
    assert plots["roc"][0]["fpr"] == 0.0
    assert plots["roc"][-1]["tpr"] == 1.0
    assert len(plots["precision_recall"]) <= 200
    assert sum(cell["count"] for cell in plots["confusion_matrix"]) == 5000
    tp = next(c for c in plots["confusion_matrix"] if c["actual"] == "1" and c["predicted"] == "1")
    assert tp["count"] == int(((y == 1) & (p >= 0.5)).sum())


def test_each_task_writes_the_plots_dvc_yaml_would_show_for_it():
    multiclass = Target(column="y", task="multiclass", classes=["a", "b", "c"])
    regression = Target(column="y", task="regression")
    for target, y, prediction in [(multiclass, Y3, P3), (regression, VALUES, GUESSES)]:
        plots = curves(y, prediction, target)
        wanted = {plot.name for plot in PLOTS[target.task]} - {"feature_importance"}
        assert set(plots) == wanted
        for plot in PLOTS[target.task]:
            for point in plots.get(plot.name, []):
                assert {plot.x, plot.y} <= set(point)
    confusion = curves(Y3, P3, multiclass)["confusion_matrix"]
    assert len(confusion) == 9
    assert sum(c["count"] for c in confusion) == 10
    assert {c["class"] for c in curves(Y3, P3, multiclass)["precision_recall_per_class"]} == {
        "a",
        "b",
        "c",
    }


def test_thin_keeps_the_ends():
    points = [{"x": i} for i in range(1000)]
    thinned = thin(points, keep=10)
    assert len(thinned) == 10
    assert thinned[0] == {"x": 0}
    assert thinned[-1] == {"x": 999}
