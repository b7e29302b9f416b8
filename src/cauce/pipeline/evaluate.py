"""Stage `evaluate`: score the model on the test split, overall and per group.

Writes, through DVCLive, `reports/evaluate/metrics.json` (declared as DVC metrics and kept
in git), the per-group metrics in `groups.json`, and the plot data under `plots/custom/`:
ROC, precision-recall, calibration, confusion matrix and permutation feature importance.
Curves are thinned to at most `CURVE_POINTS` points so that they stay small in git and
quick to render in the PR report.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.inspection import permutation_importance
from sklearn.metrics import precision_recall_curve, roc_curve
from sklearn.pipeline import Pipeline

from cauce.config import Params
from cauce.files import atomic_directory, stage_log, write_json
from cauce.layout import EVALUATE_REPORTS, GROUP_METRICS, MODEL_FILE, SCORE_PROFILE, TEST_SPLIT
from cauce.metrics import compute_all
from cauce.model import load_model, score
from cauce.profile import numeric_profile

CURVE_POINTS = 200
CALIBRATION_BINS = 10


def measure(
    frame: pd.DataFrame, probability: np.ndarray, params: Params
) -> tuple[dict[str, float | None], dict[str, dict[str, dict[str, Any]]]]:
    """Overall and per-group metrics of the probabilities `probability` for `frame`'s rows."""
    y_true = frame[params.data.target].to_numpy()
    threshold = params.evaluate.threshold
    return compute_all(y_true, probability, threshold), group_metrics(
        frame, y_true, probability, params
    )


def group_metrics(
    frame: pd.DataFrame, y_true: np.ndarray, probability: np.ndarray, params: Params
) -> dict[str, dict[str, dict[str, Any]]]:
    """For each slice column, each group's size, positive share and metrics."""
    threshold = params.evaluate.threshold
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    for column in params.evaluate.slices:
        groups[column] = {}
        for value in sorted(frame[column].dropna().unique()):
            member = (frame[column] == value).to_numpy()
            groups[column][str(value)] = {
                "rows": int(member.sum()),
                "positive_share": float(y_true[member].mean()),
                **compute_all(y_true[member], probability[member], threshold),
            }
    return groups


def thin(points: list[dict[str, float]], keep: int = CURVE_POINTS) -> list[dict[str, float]]:
    """At most `keep` points, evenly spread along the curve, first and last always kept."""
    if len(points) <= keep:
        return points
    chosen = np.unique(np.linspace(0, len(points) - 1, keep).round().astype(int))
    return [points[i] for i in chosen]


def curves(y_true: np.ndarray, probability: np.ndarray, threshold: float) -> dict[str, list]:
    """The plot data, one list of points per plot."""
    fpr, tpr, roc_thresholds = roc_curve(y_true, probability)
    precision, recall, pr_thresholds = precision_recall_curve(
        y_true, probability, drop_intermediate=True
    )
    observed, predicted = calibration_curve(y_true, probability, n_bins=CALIBRATION_BINS)
    label = (probability >= threshold).astype(int)
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
        "confusion_matrix": [
            {
                "actual": str(actual),
                "predicted": str(guess),
                "count": int(((y_true == actual) & (label == guess)).sum()),
            }
            for actual in (0, 1)
            for guess in (0, 1)
        ],
    }


def feature_importance(
    pipeline: Pipeline, features: pd.DataFrame, y_true: np.ndarray, params: Params
) -> list[dict[str, Any]]:
    """Mean drop in ROC AUC when a feature is shuffled, on a seeded sample of the test split."""
    settings = params.evaluate.permutation_importance
    rows = np.random.default_rng(params.data.seed).permutation(len(features))[: settings.max_rows]
    result = permutation_importance(
        pipeline,
        features.iloc[rows],
        y_true[rows],
        scoring="roc_auc",
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
        log.reads(MODEL_FILE)
        frame = pd.read_parquet(TEST_SPLIT)
        log.reads(TEST_SPLIT, len(frame))
        probability = score(pipeline, frame)
        metrics, groups = measure(frame, probability, params)
        y_true = frame[params.data.target].to_numpy()
        plots = curves(y_true, probability, params.evaluate.threshold)
        plots["feature_importance"] = feature_importance(
            pipeline, frame[params.features.columns], y_true, params
        )
        axes = {
            "roc": ("fpr", "tpr"),
            "precision_recall": ("recall", "precision"),
            "calibration": ("predicted", "observed"),
            "confusion_matrix": ("actual", "predicted"),
            "feature_importance": ("importance", "feature"),
        }
        with (
            atomic_directory(EVALUATE_REPORTS) as staging,
            Live(dir=str(staging), dvcyaml=None, save_dvc_exp=False) as live,
        ):
            for name, value in metrics.items():
                live.log_metric(name, value, plot=False)
            live.log_metric("test_rows", len(frame), plot=False)
            for name, points in plots.items():
                live.log_plot(name, points, x=axes[name][0], y=axes[name][1])
            write_json(staging / GROUP_METRICS.name, groups)
            # The scores' distribution: what the monitor's prediction drift compares with.
            write_json(staging / SCORE_PROFILE.name, numeric_profile(probability))
        log.writes(EVALUATE_REPORTS)
