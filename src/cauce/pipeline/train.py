"""Stage `train`: fit the whole scikit-learn Pipeline and write the model directory.

`models/` holds one artifact, written all at once: `model.skops` (preprocessing and
estimator), `model.json` (input schema, params, data hash, training time, git commit)
and `reference.json` (the per-feature profile the drift monitor compares against).
DVCLive logs the params and training metrics under `reports/train/`.
"""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from cauce.config import Params
from cauce.files import atomic_directory, file_sha256, stage_log, write_json
from cauce.metrics import compute_all
from cauce.model import save_model
from cauce.pipeline import (
    MODEL_CARD,
    MODEL_DIR,
    MODEL_FILE,
    REFERENCE_PROFILE,
    TRAIN_REPORTS,
    TRAIN_SPLIT,
)
from cauce.pipeline.validate import Contract, load_contract

PROFILE_BINS = 10


def build_pipeline(params: Params) -> Pipeline:
    """Preprocessing and estimator as one Pipeline, shaped for the selected model."""
    features, train = params.features, params.train
    ordered = [*features.numeric, *features.ordinal]
    impute_numeric = SimpleImputer(strategy=features.impute.numeric)
    impute_categorical = SimpleImputer(strategy=features.impute.categorical)
    if train.model == "hist_gradient_boosting":
        # Native categorical splits: categories become 0..k-1, unseen codes become missing.
        encode = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan)
        preprocess = ColumnTransformer(
            [
                ("ordered", impute_numeric, ordered),
                ("categorical", make_pipeline(impute_categorical, encode), features.categorical),
            ],
            verbose_feature_names_out=False,
        ).set_output(transform="pandas")
        estimator = HistGradientBoostingClassifier(
            categorical_features=features.categorical,
            random_state=params.data.seed,
            **train.estimator_params(),
        )
    else:
        preprocess = ColumnTransformer(
            [
                ("ordered", make_pipeline(impute_numeric, StandardScaler()), ordered),
                (
                    "categorical",
                    make_pipeline(impute_categorical, OneHotEncoder(handle_unknown="ignore")),
                    features.categorical,
                ),
            ]
        )
        estimator = LogisticRegression(random_state=params.data.seed, **train.estimator_params())
    return Pipeline([("preprocess", preprocess), ("estimator", estimator)])


def input_schema(params: Params, contract: Contract) -> list[dict[str, Any]]:
    """What a caller must send: each feature's kind, type, and allowed codes or range."""
    kinds = {
        **dict.fromkeys(params.features.numeric, "numeric"),
        **dict.fromkeys(params.features.ordinal, "ordinal"),
        **dict.fromkeys(params.features.categorical, "categorical"),
    }
    return [
        {"name": column, "kind": kind}
        | contract.columns[column].model_dump(exclude={"unique"}, exclude_none=True)
        for column, kind in kinds.items()
    ]


def reference_profile(
    features: pd.DataFrame, probability: np.ndarray, params: Params
) -> dict[str, Any]:
    """Per-feature distribution of the training data, and of the model's scores on it."""
    profile: dict[str, Any] = {}
    for column in features.columns:
        values = features[column]
        entry: dict[str, Any] = {"null_share": float(values.isna().mean())}
        present = values.dropna()
        if column in params.features.categorical:
            shares = present.value_counts(normalize=True).sort_index()
            entry |= {
                "kind": "categorical",
                "shares": {str(k): float(v) for k, v in shares.items()},
            }
        else:
            entry |= {"kind": "numeric", **_histogram(present.to_numpy(dtype=float))}
        profile[column] = entry
    return {
        "rows": len(features),
        "features": profile,
        "prediction": _histogram(probability, edges=np.linspace(0, 1, PROFILE_BINS + 1)),
    }


def _histogram(values: np.ndarray, edges: np.ndarray | None = None) -> dict[str, Any]:
    if edges is None:
        edges = np.unique(np.quantile(values, np.linspace(0, 1, PROFILE_BINS + 1)))
    # Open-ended outer bins, so that production values outside the training range count.
    inner = edges[1:-1]
    counts = np.bincount(np.searchsorted(inner, values, side="right"), minlength=len(inner) + 1)
    return {
        "bin_edges": [float(e) for e in edges],
        "bin_shares": [float(c) for c in counts / max(len(values), 1)],
        "mean": float(np.mean(values)) if len(values) else None,
        "std": float(np.std(values)) if len(values) else None,
    }


def git_commit() -> str | None:
    result = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
    return result.stdout.strip() or None


def run(params: Params) -> None:
    from dvclive import Live

    with stage_log("train") as log:
        contract = load_contract()
        frame = pd.read_parquet(TRAIN_SPLIT)
        log.reads(TRAIN_SPLIT, len(frame))
        features, target = frame[params.features.columns], frame[params.data.target]

        pipeline = build_pipeline(params)
        started = dt.datetime.now(dt.UTC)
        pipeline.fit(features, target)
        fit_seconds = (dt.datetime.now(dt.UTC) - started).total_seconds()
        probability = pipeline.predict_proba(features)[:, 1]
        training_metrics = compute_all(target.to_numpy(), probability, threshold=None)

        with atomic_directory(MODEL_DIR) as staging:
            save_model(pipeline, staging / MODEL_FILE.name)
            write_json(
                staging / MODEL_CARD.name,
                {
                    "name": "model",
                    "estimator": type(pipeline[-1]).__name__,
                    "target": params.data.target,
                    "input_schema": input_schema(params, contract),
                    "params": {
                        "model": params.train.model,
                        **params.train.estimator_params(),
                    },
                    "data": {
                        "source": params.data.source,
                        "train_years": params.data.train_years,
                        "rows": len(frame),
                        "positive_share": float(target.mean()),
                        "sha256": file_sha256(TRAIN_SPLIT),
                    },
                    "model_sha256": file_sha256(staging / MODEL_FILE.name),
                    "trained_at": started.isoformat(timespec="seconds"),
                    "training_seconds": round(fit_seconds, 3),
                    "git_commit": git_commit(),
                    "versions": {
                        "python": platform.python_version(),
                        "scikit-learn": sklearn.__version__,
                    },
                },
            )
            write_json(
                staging / REFERENCE_PROFILE.name,
                reference_profile(features, probability, params),
            )
        log.writes(MODEL_DIR)

        # dvcyaml=None: dvc.yaml declares the outputs; DVCLive only writes them.
        with (
            atomic_directory(TRAIN_REPORTS) as staging,
            Live(dir=str(staging), dvcyaml=None, save_dvc_exp=False) as live,
        ):
            live.log_params({"model": params.train.model, **params.train.estimator_params()})
            for name, value in training_metrics.items():
                live.log_metric(f"train/{name}", value, plot=False)
            live.log_metric("fit_seconds", round(fit_seconds, 3), plot=False)
            iterations = getattr(pipeline[-1], "n_iter_", None)
            if iterations is not None:
                live.log_metric("iterations", int(np.max(iterations)), plot=False)
        log.writes(TRAIN_REPORTS)
