"""evaluate: each metric equals scikit-learn's on a known input; groups and curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from cauce.metrics import METRICS, compute_all
from cauce.pipeline.evaluate import curves, group_metrics, thin

Y = np.array([0, 0, 1, 1, 0, 1, 1, 0, 1, 0])
P = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9, 0.6, 0.55, 0.45, 0.05])


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
    assert compute_all(Y, P, threshold=0.5) == pytest.approx(expected)
    assert set(expected) == set(METRICS)


def test_known_values():
    result = compute_all(Y, P, threshold=0.5)
    assert result["accuracy"] == pytest.approx(0.7)  # 3 of 10 on the wrong side of 0.5
    assert result["roc_auc"] == pytest.approx(22 / 25)  # positive above negative in 22 of 25 pairs


def test_without_a_threshold_only_probability_metrics():
    assert set(compute_all(Y, P, threshold=None)) == {
        "roc_auc",
        "average_precision",
        "log_loss",
        "brier",
    }


def test_the_threshold_moves_label_metrics():
    assert compute_all(Y, P, 0.3)["recall"] == 1.0
    assert compute_all(Y, P, 0.95)["precision"] == 0.0  # no positive predictions, no crash


def test_group_metrics_per_slice(params):
    frame = pd.DataFrame({"SEX": [1, 1, 1, 1, 1, 2, 2, 2, 2, 2], "RAC1P": [1] * 9 + [2]})
    groups = group_metrics(frame, Y, P, params)
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
    plots = curves(y, p, threshold=0.5)
    assert 2 < len(plots["roc"]) <= 200
    assert plots["roc"][0]["fpr"] == 0.0
    assert plots["roc"][-1]["tpr"] == 1.0
    assert len(plots["precision_recall"]) <= 200
    assert sum(cell["count"] for cell in plots["confusion_matrix"]) == 5000
    tp = next(c for c in plots["confusion_matrix"] if c["actual"] == "1" and c["predicted"] == "1")
    assert tp["count"] == int(((y == 1) & (p >= 0.5)).sum())


def test_thin_keeps_the_ends():
    points = [{"x": i} for i in range(1000)]
    thinned = thin(points, keep=10)
    assert len(thinned) == 10
    assert thinned[0] == {"x": 0}
    assert thinned[-1] == {"x": 999}
