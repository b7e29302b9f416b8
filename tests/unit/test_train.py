"""train: the pipeline learns, survives a skops round trip, and describes itself."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from tests.conftest import ROOT

from cauce import ModelFileError
from cauce.model import TRUSTED_TYPES, UntrustedModelError, load_model, save_model
from cauce.pipeline.train import build_pipeline, input_schema
from cauce.pipeline.validate import load_contract
from cauce.profile import NUMERIC_BINS, reference_profile


@pytest.fixture(scope="module")
def sample(source_2015):
    shuffled = source_2015.sample(n=12_000, random_state=0)
    return shuffled.iloc[:9_000], shuffled.iloc[9_000:]


def fit(params, sample, **train_changes):
    train, _ = sample
    params = params.model_copy(update={"train": params.train.model_copy(update=train_changes)})
    return build_pipeline(params).fit(train[params.features.columns], train["employed"])


def holdout_auc(pipeline, params, sample) -> float:
    _, test = sample
    return roc_auc_score(
        test["employed"], pipeline.predict_proba(test[params.features.columns])[:, 1]
    )


def test_the_default_model_reaches_088_auc(params, sample):
    assert params.train.model == "hist_gradient_boosting"
    assert holdout_auc(fit(params, sample), params, sample) >= 0.88


def test_the_baseline_learns_too(params, sample):
    assert holdout_auc(fit(params, sample, model="logistic_regression"), params, sample) >= 0.85


def test_missing_and_unseen_values_are_handled(params, sample):
    pipeline = fit(params, sample)
    rows = sample[1].head(3)[params.features.columns].astype({"AGEP": "float64"})
    rows.loc[rows.index[0], "AGEP"] = np.nan
    rows.loc[rows.index[1], "RELP"] = 42  # a code never seen in training
    probability = pipeline.predict_proba(rows)[:, 1]
    assert np.isfinite(probability).all()


@pytest.mark.parametrize("model", ["hist_gradient_boosting", "logistic_regression"])
def test_skops_round_trip_predicts_the_same(params, sample, tmp_path, model):
    pipeline = fit(params, sample, model=model)
    loaded = load_model(save_model(pipeline, tmp_path / "model.skops"))
    features = sample[1][params.features.columns]
    np.testing.assert_array_equal(loaded.predict_proba(features), pipeline.predict_proba(features))


def test_a_model_needing_other_types_or_of_another_kind_is_refused(tmp_path, monkeypatch):
    import skops.io as sio

    path = tmp_path / "model.skops"
    sio.dump({"payload": np.dtype("int64")}, path)  # numpy.dtype is on the allowlist
    with pytest.raises(ModelFileError, match=r"model\.skops: holds a dict, not a scikit-learn"):
        load_model(path)
    monkeypatch.setattr("cauce.model.TRUSTED_TYPES", TRUSTED_TYPES - {"numpy.dtype"})
    with pytest.raises(UntrustedModelError, match=r"untrusted types: numpy\.dtype"):
        load_model(path)


def test_input_schema_names_every_feature_with_its_domain(params):
    schema = {
        c.name: c.model_dump(exclude_none=True)
        for c in input_schema(params, load_contract(ROOT / "data/contract.yaml"))
    }
    assert list(schema) == params.features.columns
    assert schema["AGEP"] == {
        "name": "AGEP",
        "kind": "numeric",
        "type": "integer",
        "nullable": True,
        "min": 0,
        "max": 99,
    }
    assert schema["SEX"]["allowed"] == [1, 2]
    assert schema["SEX"]["kind"] == "categorical"


def test_reference_profile_counts_every_training_row(params, sample):
    train, _ = sample
    features = train[params.features.columns]
    profile = reference_profile(features, params.features.categorical)
    assert profile.rows == len(features)
    for name, entry in profile.features.items():
        present = len(features) - features[name].isna().sum()
        assert sum(entry.counts) == present, name
    assert profile.features["SEX"].codes == [1, 2]
    ages = profile.features["AGEP"]
    assert ages.kind == "numeric"
    assert set(ages.starts) <= set(features["AGEP"].unique()), "bins start at ages"
    assert len(ages.starts) <= NUMERIC_BINS + 1


def test_ridge_is_the_linear_baseline_of_a_regression(params, tmp_path):
    from sklearn.metrics import r2_score
    from tests.datasets import progression

    from cauce.config import FeatureParams

    frame = progression().frame
    regression = params.model_copy(
        update={
            "data": params.data.model_copy(update={"task": "regression", "target": "progression"}),
            "features": FeatureParams(
                numeric=["age", "bmi", "bp", "s1", "s5"],
                ordinal=[],
                categorical=["sex"],
                impute=params.features.impute,
            ),
            "train": params.train.model_copy(update={"model": "ridge"}),
        }
    )
    train, test = frame.iloc[:350], frame.iloc[350:]
    columns = regression.features.columns
    pipeline = build_pipeline(regression).fit(train[columns], train["progression"])
    assert type(pipeline[-1]).__name__ == "Ridge"
    assert r2_score(test["progression"], pipeline.predict(test[columns])) >= 0.3
    loaded = load_model(save_model(pipeline, tmp_path / "model.skops"))
    np.testing.assert_array_equal(loaded.predict(test[columns]), pipeline.predict(test[columns]))
