"""Stage `evaluate`: score the model on the test split, overall and per group.

Writes, through DVCLive, `reports/evaluate/metrics.json` (declared as DVC metrics and kept
in git), the per-group metrics in `groups.json`, and the plot data under `plots/custom/`,
the plots of the model's task (`PLOTS`): ROC, precision-recall, calibration and confusion
matrix for a binary model; confusion matrix and per-class precision-recall for a
multiclass one; predicted against actual values and residuals for a regression; and
permutation feature importance for all. Curves are thinned to at most `CURVE_POINTS`
points so that they stay small in git and quick to render in the PR report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.inspection import permutation_importance
from sklearn.metrics import precision_recall_curve, roc_curve
from sklearn.pipeline import Pipeline

from cauce.artifact import ModelInfo, Target
from cauce.config import Params
from cauce.files import atomic_directory, read_parquet, stage_log, write_json
from cauce.layout import (
    EVALUATE_REPORTS,
    GROUP_METRICS,
    MODEL_CARD,
    MODEL_FILE,
    PLOT_DATA,
    SCORE_PROFILE,
    TEST_SPLIT,
)
from cauce.metrics import (
    PER_CLASS_RECALL,
    PRIMARY,
    Task,
    compute_all,
    predicted_codes,
    recall_per_class,
)
from cauce.model import load_model, score
from cauce.profile import prediction_profile
from cauce.progress import phase

CURVE_POINTS = 200
CALIBRATION_BINS = 10


@dataclass(frozen=True)
class Plot:
    """One plot of dvc.yaml's `plots:`: the file evaluate writes and how DVC draws it."""

    name: str  # the file: reports/evaluate/plots/custom/<name>.json
    title: str
    template: str
    x: str
    y: str
    x_label: str
    y_label: str


IMPORTANCE = Plot(
    "feature_importance",
    "Permutation feature importance",
    "bar_horizontal_sorted",
    "importance",
    "feature",
    "Mean drop in the primary metric when shuffled",
    "Feature",
)
CONFUSION = Plot(
    "confusion_matrix",
    "Confusion matrix",
    "confusion_counts",
    "predicted",
    "actual",
    "Predicted",
    "Actual",
)
# Each task's plots; `cauce init` writes them into dvc.yaml (test_layout checks they agree).
PLOTS: dict[Task, tuple[Plot, ...]] = {
    "binary": (
        Plot(
            "roc", "ROC curve", "simple", "fpr", "tpr", "False positive rate", "True positive rate"
        ),
        Plot(
            "precision_recall",
            "Precision-recall curve",
            "simple",
            "recall",
            "precision",
            "Recall",
            "Precision",
        ),
        Plot(
            "calibration",
            "Calibration",
            "simple",
            "predicted",
            "observed",
            "Mean predicted probability",
            "Observed share of the positive label",
        ),
        CONFUSION,
        IMPORTANCE,
    ),
    "multiclass": (
        CONFUSION,
        Plot(
            "precision_recall_per_class",
            "Precision-recall per class",
            "per_class_lines",
            "recall",
            "precision",
            "Recall",
            "Precision",
        ),
        IMPORTANCE,
    ),
    "regression": (
        Plot(
            "predicted_vs_actual",
            "Predicted vs actual",
            "scatter",
            "actual",
            "predicted",
            "Actual value",
            "Predicted value",
        ),
        Plot(
            "residuals",
            "Residuals",
            "scatter",
            "predicted",
            "residual",
            "Predicted value",
            "Actual minus predicted",
        ),
        IMPORTANCE,
    ),
}


def dvc_plots(task: Task) -> list[dict[str, Any]]:
    """dvc.yaml's `plots:` section for a model of `task`."""
    return [
        {
            plot.title: {
                "template": plot.template,
                "x": plot.x,
                "y": {f"{PLOT_DATA}/{plot.name}.json": plot.y},
                "x_label": plot.x_label,
                "y_label": plot.y_label,
            }
        }
        for plot in PLOTS[task]
    ]


# What permutation importance measures the drop of: each task's primary metric.
SCORING = {"roc_auc": "roc_auc", "log_loss": "neg_log_loss", "rmse": "neg_root_mean_squared_error"}


def measure(
    frame: pd.DataFrame, prediction: np.ndarray, target: Target, params: Params
) -> tuple[dict[str, float | None], dict[str, dict[str, dict[str, Any]]]]:
    """Overall and per-group metrics of the model's `prediction` for `frame`'s rows."""
    y_true = target.encode(frame[target.column], str(TEST_SPLIT))
    overall = compute_all(target.task, y_true, prediction, target.threshold)
    return overall, group_metrics(frame, y_true, prediction, target, params)


def group_metrics(
    frame: pd.DataFrame,
    y_true: np.ndarray,
    prediction: np.ndarray,
    target: Target,
    params: Params,
) -> dict[str, dict[str, dict[str, Any]]]:
    """For each slice column, each group's size, its target's share or mean, and metrics."""
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for column in params.evaluate.slices:
        groups[column] = {}
        for value in sorted(frame[column].dropna().unique()):
            member = (frame[column] == value).to_numpy()
            facts: dict[str, Any] = {"rows": int(member.sum())}
            if target.task == "binary":
                facts["positive_share"] = float(y_true[member].mean())
            elif target.task == "regression":
                facts["target_mean"] = float(y_true[member].mean())
            groups[column][str(value)] = facts | compute_all(
                target.task, y_true[member], prediction[member], target.threshold
            )
    return groups


def thin(points: list[dict[str, Any]], keep: int = CURVE_POINTS) -> list[dict[str, Any]]:
    """At most `keep` points, evenly spread along the curve, first and last always kept."""
    if len(points) <= keep:
        return points
    chosen = np.unique(np.linspace(0, len(points) - 1, keep).round().astype(int))
    return [points[i] for i in chosen]


def curves(y_true: np.ndarray, prediction: np.ndarray, target: Target) -> dict[str, list]:
    """The plot data of the task's plots (feature importance apart), a list of points each."""
    if target.task == "regression":
        return regression_curves(y_true, prediction)
    if target.task == "multiclass":
        return multiclass_curves(y_true, prediction, [str(c) for c in target.classes or []])
    return binary_curves(y_true, prediction, target.threshold)


def binary_curves(
    y_true: np.ndarray, probability: np.ndarray, threshold: float | None
) -> dict[str, list]:
    fpr, tpr, roc_thresholds = roc_curve(y_true, probability)
    precision, recall, pr_thresholds = precision_recall_curve(
        y_true, probability, drop_intermediate=True
    )
    observed, predicted = calibration_curve(y_true, probability, n_bins=CALIBRATION_BINS)
    label = predicted_codes("binary", probability, threshold)
    return {
        "roc": thin(
            [
                {"fpr": float(f), "tpr": float(t), "threshold": float(min(c, 1.0))}
                for f, t, c in zip(fpr, tpr, roc_thresholds, strict=True)
            ]
        ),
        "precision_recall": thin(
            [
                {"recall": float(r), "precision": float(p), "threshold": float(c)}
                for r, p, c in zip(recall[:-1], precision[:-1], pr_thresholds, strict=True)
            ]
        ),
        "calibration": [
            {"predicted": float(p), "observed": float(o)}
            for p, o in zip(predicted, observed, strict=True)
        ],
        "confusion_matrix": confusion(y_true, label, ["0", "1"]),
    }


def confusion(y_true: np.ndarray, predicted: np.ndarray, names: list[str]) -> list[dict]:
    """A count per (actual, predicted) pair of classes, named by `names`."""
    return [
        {
            "actual": names[actual],
            "predicted": names[guess],
            "count": int(((y_true == actual) & (predicted == guess)).sum()),
        }
        for actual in range(len(names))
        for guess in range(len(names))
    ]


def multiclass_curves(
    y_true: np.ndarray, probability: np.ndarray, names: list[str]
) -> dict[str, list]:
    """The confusion matrix, and each class's precision-recall curve (one against the rest)."""
    per_class: list[dict[str, Any]] = []
    for code, name in enumerate(names):
        precision, recall, _ = precision_recall_curve(y_true == code, probability[:, code])
        per_class += thin(
            [
                {"class": name, "recall": float(r), "precision": float(p)}
                for r, p in zip(recall, precision, strict=True)
            ],
            CURVE_POINTS // len(names) + 2,
        )
    return {
        "confusion_matrix": confusion(y_true, np.argmax(probability, axis=1), names),
        "precision_recall_per_class": per_class,
    }


def regression_curves(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, list]:
    """Predicted against actual values, and residuals against predictions, for
    `CURVE_POINTS` rows spread evenly over the range of actual values."""
    order = np.argsort(y_true, kind="stable")
    rows = order[np.unique(np.linspace(0, len(order) - 1, CURVE_POINTS).round().astype(int))]
    return {
        "predicted_vs_actual": [
            {"actual": float(y_true[i]), "predicted": float(predicted[i])} for i in rows
        ],
        "residuals": [
            {"predicted": float(predicted[i]), "residual": float(y_true[i] - predicted[i])}
            for i in rows
        ],
    }


def feature_importance(
    pipeline: Pipeline, features: pd.DataFrame, y_true: np.ndarray, params: Params
) -> list[dict[str, Any]]:
    """Mean drop in the task's primary metric when a feature is shuffled, on a seeded
    sample of the test split."""
    settings = params.evaluate.permutation_importance
    rows = np.random.default_rng(params.data.seed).permutation(len(features))[: settings.max_rows]
    result = permutation_importance(
        pipeline,
        features.iloc[rows],
        y_true[rows],
        scoring=SCORING[PRIMARY[params.data.task]],
        n_repeats=settings.n_repeats,
        random_state=params.data.seed,
    )
    ranked = sorted(
        zip(features.columns, result.importances_mean, result.importances_std, strict=True),
        key=lambda item: -item[1],
    )
    return [
        {"feature": name, "importance": float(mean), "std": float(std)}
        for name, mean, std in ranked
    ]


def run(params: Params) -> None:
    from dvclive import Live

    with stage_log("evaluate") as log:
        pipeline = load_model(MODEL_FILE)
        target = ModelInfo.read(MODEL_CARD).target
        log.reads(MODEL_FILE)
        frame = read_parquet(TEST_SPLIT)
        log.reads(TEST_SPLIT, len(frame))
        with phase("evaluate", "test split scored, metrics per group and curves") as now:
            prediction = score(pipeline, frame)
            metrics, groups = measure(frame, prediction, target, params)
            y_true = target.encode(frame[target.column], str(TEST_SPLIT))
            plots = curves(y_true, prediction, target)
            now.detail = f"{len(frame):,} rows, {sum(len(g) for g in groups.values())} groups"
        settings = params.evaluate.permutation_importance
        with phase("evaluate", "permutation feature importance") as now:
            columns = params.features.columns
            plots["feature_importance"] = feature_importance(
                pipeline, frame[columns], y_true, params
            )
            now.detail = (
                f"{len(columns)} features × {settings.n_repeats} shuffles of "
                f"{min(settings.max_rows, len(frame)):,} rows"
            )
        axes = {plot.name: (plot.x, plot.y) for plot in PLOTS[target.task]}
        with (
            atomic_directory(EVALUATE_REPORTS) as staging,
            Live(dir=str(staging), dvcyaml=None, save_dvc_exp=False) as live,
        ):
            for name, value in metrics.items():
                live.log_metric(name, value, plot=False)
            if target.task == "multiclass":
                recalls = recall_per_class(y_true, prediction)
                for label, recall in zip(target.classes or [], recalls, strict=True):
                    live.log_metric(f"{PER_CLASS_RECALL}/{label}", recall, plot=False)
            live.log_metric("test_rows", len(frame), plot=False)
            for name, points in plots.items():
                live.log_plot(name, points, x=axes[name][0], y=axes[name][1])
            write_json(staging / GROUP_METRICS.name, groups)
            write_json(staging / SCORE_PROFILE.name, prediction_profile(target.task, prediction))
        log.writes(EVALUATE_REPORTS)
