"""Stage `train`: fit the whole scikit-learn Pipeline and write the model directory.

`models/` holds one artifact, written all at once: `model.skops` (preprocessing and
estimator), `model.json` (what serving needs: input schema, decision threshold, params,
training data facts) and `reference.json` (the profile the drift monitor compares
against). DVCLive logs the params and training metrics under `reports/train/`.

Nothing here depends on when, where or from which commit it runs: the same inputs make
the same bytes, so any machine can rebuild the model a commit records and prove it. The
commit of a version is known from its tag; the fitting time goes to the stage log.
"""

from __future__ import annotations

import time
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
from cauce.layout import (
    MODEL_CARD,
    MODEL_DIR,
    MODEL_FILE,
    REFERENCE_PROFILE,
    TRAIN_REPORTS,
    TRAIN_SPLIT,
)
from cauce.metrics import compute_all
from cauce.model import save_model, score
from cauce.pipeline.validate import Contract, load_contract
from cauce.profile import reference_profile


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


def model_card(
    params: Params, contract: Contract, pipeline: Pipeline, train: pd.DataFrame
) -> dict[str, Any]:
    """What serving and the model card need, carried by the model itself."""
    import skops

    return {
        "name": "model",
        "estimator": type(pipeline[-1]).__name__,
        "target": params.data.target,
        "threshold": params.evaluate.threshold,
        "input_schema": input_schema(params, contract),
        "params": {"model": params.train.model, **params.train.estimator_params()},
        "data": {
            "source": params.data.source,
            "train_years": params.data.train_years,
            "rows": len(train),
            "positive_share": float(train[params.data.target].mean()),
            "sha256": file_sha256(TRAIN_SPLIT),
        },
        "versions": {"scikit-learn": sklearn.__version__, "skops": skops.__version__},
    }


def run(params: Params) -> None:
    from dvclive import Live

    with stage_log("train") as log:
        contract = load_contract()
        frame = pd.read_parquet(TRAIN_SPLIT)
        log.reads(TRAIN_SPLIT, len(frame))
        features, target = frame[params.features.columns], frame[params.data.target]

        pipeline = build_pipeline(params)
        started = time.perf_counter()
        pipeline.fit(features, target)
        log.time("fit_seconds", time.perf_counter() - started)
        probability = score(pipeline, features)
        training_metrics = compute_all(target.to_numpy(), probability, threshold=None)

        with atomic_directory(MODEL_DIR) as staging:
            model_file = save_model(pipeline, staging / MODEL_FILE.name)
            card = model_card(params, contract, pipeline, frame)
            write_json(staging / MODEL_CARD.name, card | {"model_sha256": file_sha256(model_file)})
            write_json(
                staging / REFERENCE_PROFILE.name,
                reference_profile(features, params.features.categorical),
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
            iterations = getattr(pipeline[-1], "n_iter_", None)
            if iterations is not None:
                live.log_metric("iterations", int(np.max(iterations)), plot=False)
        log.writes(TRAIN_REPORTS)
