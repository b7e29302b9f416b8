"""Stage `train`: fit the whole scikit-learn Pipeline and write the model directory.

`models/` holds one artifact, written all at once: `model.skops` (preprocessing and
estimator), `model.json` (artifact.ModelInfo, what serving needs: input schema, the task
and its labels, decision threshold, params, training data facts) and `reference.json`
(the profile the drift monitor compares against). DVCLive logs the params and training
metrics under `reports/train/`.

Nothing here depends on when, where or from which commit it runs: the same inputs make
the same bytes, so any machine can rebuild the model a commit records and prove it. The
commit of a version is known from its tag; the fitting time goes to the stage log.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import sklearn
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from cauce.artifact import (
    FeatureKind,
    ModelInfo,
    SchemaColumn,
    Target,
    TrainingData,
    describe_target,
)
from cauce.config import Params
from cauce.files import (
    atomic_directory,
    file_sha256,
    read_parquet,
    remember_fit,
    stage_log,
    write_json,
)
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
from cauce.progress import phase

MAX_TREE_CATEGORIES = 255  # HistGradientBoosting's max_bins, its limit on a column's codes


def build_pipeline(params: Params) -> Pipeline:
    """Preprocessing and estimator as one Pipeline, shaped for the selected model."""
    features, train = params.features, params.train
    ranked = list(features.orders)  # ordinal codes: each becomes its rank in its order
    ordered = [*features.numeric, *(c for c in features.ordinal_columns if c not in ranked)]
    impute_numeric = SimpleImputer(strategy=features.impute.numeric)
    impute_categorical = SimpleImputer(strategy=features.impute.categorical)
    boosted = train.model == "hist_gradient_boosting"
    # Unseen codes become missing, for the ranked and the categorical columns alike.
    unseen = {"handle_unknown": "use_encoded_value", "unknown_value": np.nan}
    steps: list[tuple[str, Any, list[str]]] = [
        (
            "ordered",
            impute_numeric if boosted else make_pipeline(impute_numeric, StandardScaler()),
            ordered,
        )
    ]
    if ranked:  # only then: a model without them keeps the bytes it had
        rank = OrdinalEncoder(categories=[features.orders[c] for c in ranked], **unseen)
        scale = [] if boosted else [StandardScaler()]
        steps.append(
            ("ranked", make_pipeline(SimpleImputer(strategy="most_frequent"), rank, *scale), ranked)
        )
    if boosted:
        # Native categorical splits: categories become 0..k-1; ranks are numbers to split.
        # The trees take at most 255 categories a column: past that, the 254 most frequent
        # keep their own code and the rest share one (an id or a ZIP code listed by hand).
        encode = OrdinalEncoder(max_categories=MAX_TREE_CATEGORIES, **unseen)
        steps.append(
            ("categorical", make_pipeline(impute_categorical, encode), features.categorical)
        )
        preprocess = ColumnTransformer(steps, verbose_feature_names_out=False).set_output(
            transform="pandas"
        )
        boosting = (
            HistGradientBoostingRegressor
            if params.data.task == "regression"
            else HistGradientBoostingClassifier
        )
        estimator = boosting(
            categorical_features=features.categorical,
            random_state=params.data.seed,
            **train.estimator_params(),
        )
    else:
        one_hot = OneHotEncoder(handle_unknown="ignore")
        steps.append(
            ("categorical", make_pipeline(impute_categorical, one_hot), features.categorical)
        )
        preprocess = ColumnTransformer(steps)
        linear = Ridge if train.model == "ridge" else LogisticRegression
        estimator = linear(random_state=params.data.seed, **train.estimator_params())
    return Pipeline([("preprocess", preprocess), ("estimator", estimator)])


def input_schema(params: Params, contract: Contract) -> list[SchemaColumn]:
    """What a caller must send: each feature's kind, type, and allowed codes or range."""
    kinds: dict[str, FeatureKind] = {
        **dict.fromkeys(params.features.numeric, "numeric"),
        **dict.fromkeys(params.features.ordinal_columns, "ordinal"),
        **dict.fromkeys(params.features.categorical, "categorical"),
    }
    return [
        SchemaColumn(
            name=column, kind=kind, **contract.columns[column].model_dump(exclude={"unique"})
        )
        for column, kind in kinds.items()
    ]


def model_info(
    params: Params,
    contract: Contract,
    pipeline: Pipeline,
    target: Target,
    y: np.ndarray,
    train_sha256: str,
) -> ModelInfo:
    """What serving and the model card need, carried by the model itself (`y`: the
    training target as the model learned it; `train_sha256`: the training split's hash)."""
    import skops

    shares = np.bincount(y) / len(y) if target.classes else np.array([])
    return ModelInfo(
        estimator=type(pipeline[-1]).__name__,
        target=target,
        input_schema=input_schema(params, contract),
        params={"model": params.train.model, **params.train.estimator_params()},
        data=TrainingData(
            source=params.data.source,
            train_years=params.data.train_years,
            rows=len(y),
            positive_share=float(shares[1]) if target.task == "binary" else None,
            class_shares=[float(s) for s in shares] if target.task == "multiclass" else None,
            target_mean=float(y.mean()) if target.task == "regression" else None,
            sha256=train_sha256,
        ),
        versions={"scikit-learn": sklearn.__version__, "skops": skops.__version__},
    )


def run(params: Params) -> None:
    from dvclive import Live

    with stage_log("train") as log:
        contract = load_contract()
        frame = read_parquet(TRAIN_SPLIT)
        log.reads(TRAIN_SPLIT, len(frame))
        features = frame[params.features.columns]
        target = describe_target(
            frame[params.data.target], params.data, str(TRAIN_SPLIT), params.evaluate.threshold
        )
        y = target.encode(frame[params.data.target], str(TRAIN_SPLIT))

        pipeline = build_pipeline(params)
        with phase("train", f"{type(pipeline[-1]).__name__} fitted") as now:
            started = time.perf_counter()
            pipeline.fit(features, y)
            log.time("fit_seconds", time.perf_counter() - started)
            now.detail = f"{len(frame):,} rows × {len(params.features.columns)} features"
        training_metrics = compute_all(target.task, y, score(pipeline, features), threshold=None)

        with atomic_directory(MODEL_DIR) as staging:
            model_file = save_model(pipeline, staging / MODEL_FILE.name)
            info = model_info(params, contract, pipeline, target, y, file_sha256(TRAIN_SPLIT))
            model_sha256 = file_sha256(model_file)
            info = info.model_copy(update={"model_sha256": model_sha256})
            write_json(staging / MODEL_CARD.name, info)
            write_json(
                staging / REFERENCE_PROFILE.name,
                reference_profile(features, params.features.coded),
            )
        log.writes(MODEL_DIR)
        remember_fit(model_sha256, log.timings["fit_seconds"])

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
