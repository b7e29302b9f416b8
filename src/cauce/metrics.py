"""The model-quality metrics cauce reports, gates on and compares: one registry.

Each metric knows the tasks it serves, whether higher is better and what it scores, so
the evaluate stage, the gate and the reports never disagree about what "worse" means.
What a model's predictions are depends on its task (model.score):

- binary: the positive label's probability, one per row; `label` metrics threshold it;
- multiclass: a probability per class (rows × classes); `label` metrics take the likeliest;
- regression: the predicted value, one per row.

The true values are codes for the classifiers (0..k-1, in the order model.json's `classes`
lists the labels; binary: 1 is the positive label) and numbers for regression.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

Task = Literal["binary", "multiclass", "regression"]
TASKS: tuple[Task, ...] = ("binary", "multiclass", "regression")


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    scores: Literal["probability", "label", "value"]
    label: str
    tasks: tuple[Task, ...]

    def compute(
        self, task: Task, y_true: np.ndarray, prediction: np.ndarray, threshold: float | None
    ) -> float:
        function = _sklearn_function(self.name)
        if self.scores == "label":
            return float(function(y_true, predicted_codes(task, prediction, threshold)))
        if task == "multiclass":  # every class counts, also those a subset lacks
            return float(function(y_true, prediction, labels=np.arange(prediction.shape[1])))
        return float(function(y_true, prediction))


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("roc_auc", True, "probability", "ROC AUC", ("binary",)),
        Metric("average_precision", True, "probability", "Average precision", ("binary",)),
        Metric("accuracy", True, "label", "Accuracy", ("binary", "multiclass")),
        Metric("f1", True, "label", "F1", ("binary",)),
        Metric("precision", True, "label", "Precision", ("binary",)),
        Metric("recall", True, "label", "Recall", ("binary",)),
        Metric("macro_f1", True, "label", "Macro F1", ("multiclass",)),
        Metric("log_loss", False, "probability", "Log loss", ("binary", "multiclass")),
        Metric("brier", False, "probability", "Brier score", ("binary",)),
        Metric("rmse", False, "value", "RMSE", ("regression",)),
        Metric("mae", False, "value", "MAE", ("regression",)),
        Metric("r2", True, "value", "R²", ("regression",)),
    )
}

# The metric each task ranks models by: permutation importance, the first gate rule
# `cauce init` writes, the monitor's performance check.
PRIMARY: dict[Task, str] = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}


def of_task(task: Task) -> dict[str, Metric]:
    return {name: metric for name, metric in METRICS.items() if task in metric.tasks}


def predicted_codes(task: Task, prediction: np.ndarray, threshold: float | None) -> np.ndarray:
    """The class each row is predicted to be: over the threshold, or the likeliest."""
    if task == "multiclass":
        likeliest: np.ndarray = np.argmax(prediction, axis=1)
        return likeliest
    if threshold is None:
        raise ValueError("a binary model's labels need a threshold")
    return (prediction >= threshold).astype(int)


def _sklearn_function(name: str) -> Callable[..., float]:
    # Imported here: config validation needs the registry but not scikit-learn.
    from sklearn import metrics

    functions: dict[str, Callable[..., float]] = {
        "roc_auc": metrics.roc_auc_score,
        "average_precision": metrics.average_precision_score,
        "accuracy": metrics.accuracy_score,
        "f1": lambda y, p: metrics.f1_score(y, p, zero_division=0),
        "precision": lambda y, p: metrics.precision_score(y, p, zero_division=0),
        "recall": lambda y, p: metrics.recall_score(y, p, zero_division=0),
        "macro_f1": lambda y, p: metrics.f1_score(y, p, average="macro", zero_division=0),
        "log_loss": metrics.log_loss,
        "brier": metrics.brier_score_loss,
        "rmse": metrics.root_mean_squared_error,
        "mae": metrics.mean_absolute_error,
        "r2": metrics.r2_score,
    }
    return functions[name]


def compute_all(
    task: Task, y_true: np.ndarray, prediction: np.ndarray, threshold: float | None
) -> dict[str, float | None]:
    """Every metric of `task` (without a threshold, a binary model's probability ones).

    A metric is undefined (None) where its rows cannot say anything: the binary ranking
    metrics on a single class, R² on fewer than two rows.
    """
    y_true = np.asarray(y_true)
    undefined = set()
    if task == "binary" and np.unique(y_true).size < 2:
        undefined = {"roc_auc", "average_precision", "log_loss"}
    if task == "regression" and len(y_true) < 2:
        undefined = {"r2"}
    return {
        name: None if name in undefined else metric.compute(task, y_true, prediction, threshold)
        for name, metric in of_task(task).items()
        if threshold is not None or task != "binary" or metric.scores == "probability"
    }


# metrics.json's key for recall_per_class: {label: recall} (dvclive nests "key/label").
PER_CLASS_RECALL = "recall_per_class"


def recall_per_class(y_true: np.ndarray, prediction: np.ndarray) -> list[float | None]:
    """A multiclass model's recall of each class (None for a class with no rows)."""
    predicted = np.argmax(prediction, axis=1)
    return [
        float((predicted[y_true == code] == code).mean()) if (y_true == code).any() else None
        for code in range(prediction.shape[1])
    ]
