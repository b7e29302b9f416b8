"""The model-quality metrics cauce reports, gates on and compares: one registry.

Each metric knows whether higher is better and whether it scores probabilities or
thresholded labels, so the evaluate stage, the gate and the reports never disagree
about what "worse" means.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    scores: Literal["probability", "label"]
    label: str

    def compute(
        self, y_true: np.ndarray, probability: np.ndarray, threshold: float | None
    ) -> float:
        function = _sklearn_function(self.name)
        if self.scores == "probability":
            return float(function(y_true, probability))
        predicted = (probability >= threshold).astype(int)
        return float(function(y_true, predicted, zero_division=0))


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("roc_auc", True, "probability", "ROC AUC"),
        Metric("average_precision", True, "probability", "Average precision"),
        Metric("accuracy", True, "label", "Accuracy"),
        Metric("f1", True, "label", "F1"),
        Metric("precision", True, "label", "Precision"),
        Metric("recall", True, "label", "Recall"),
        Metric("log_loss", False, "probability", "Log loss"),
        Metric("brier", False, "probability", "Brier score"),
    )
}


def _sklearn_function(name: str) -> Callable[..., float]:
    # Imported here: config validation needs the registry but not scikit-learn.
    from sklearn import metrics

    functions = {
        "roc_auc": metrics.roc_auc_score,
        "average_precision": metrics.average_precision_score,
        "accuracy": lambda y, p, **_: metrics.accuracy_score(y, p),
        "f1": metrics.f1_score,
        "precision": metrics.precision_score,
        "recall": metrics.recall_score,
        "log_loss": metrics.log_loss,
        "brier": metrics.brier_score_loss,
    }
    return functions[name]


def compute_all(
    y_true: np.ndarray, probability: np.ndarray, threshold: float | None
) -> dict[str, float | None]:
    """Every registered metric (only the probability ones without a threshold).

    The ranking metrics are undefined (None) when `y_true` holds a single class.
    """
    y_true = np.asarray(y_true)
    single_class = np.unique(y_true).size < 2
    return {
        name: None
        if single_class and name in {"roc_auc", "average_precision", "log_loss"}
        else metric.compute(y_true, probability, threshold)
        for name, metric in METRICS.items()
        if threshold is not None or metric.scores == "probability"
    }
