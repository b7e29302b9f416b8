"""The model artifact is canonical: the same inputs give the same bytes, at any thread
count; and `score` is the one way a model scores a frame."""

from __future__ import annotations

import hashlib
import io
import zipfile

import numpy as np
import pytest
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from threadpoolctl import threadpool_limits

from cauce import DataError
from cauce.files import ZIP_EPOCH
from cauce.model import canonical_bytes, score
from cauce.pipeline.evaluate import feature_importance
from cauce.pipeline.train import build_pipeline


@pytest.fixture(scope="module")
def sample(source_2015):
    shuffled = source_2015.sample(n=5_000, random_state=1)
    return shuffled.iloc[:4_000], shuffled.iloc[4_000:]


@pytest.fixture(scope="module")
def params(params):
    """The repository's params with 40 boosting iterations and 2 importance repeats (as
    the end-to-end runs have them): what makes the bytes differ or not is the same."""
    boosting = params.train.hist_gradient_boosting.model_copy(update={"max_iter": 40})
    importance = params.evaluate.permutation_importance.model_copy(update={"n_repeats": 2})
    return params.model_copy(
        update={
            "train": params.train.model_copy(update={"hist_gradient_boosting": boosting}),
            "evaluate": params.evaluate.model_copy(update={"permutation_importance": importance}),
        }
    )


def fitted(params, train, threads: int, model: str = "hist_gradient_boosting"):
    params = params.model_copy(update={"train": params.train.model_copy(update={"model": model})})
    with threadpool_limits(threads):
        assert _openmp_effective_n_threads() == threads
        return build_pipeline(params).fit(train[params.features.columns], train["employed"])


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("model", ["hist_gradient_boosting", "logistic_regression"])
def test_two_fits_of_the_same_data_save_the_same_bytes(params, sample, model):
    train, _ = sample
    first = canonical_bytes(fitted(params, train, 2, model))
    second = canonical_bytes(fitted(params, train, 2, model))
    assert digest(first) == digest(second)


def test_one_or_two_threads_make_the_same_model_and_the_same_evaluation(params, sample):
    train, test = sample
    one, two = fitted(params, train, 1), fitted(params, train, 2)
    assert digest(canonical_bytes(one)) == digest(canonical_bytes(two))
    np.testing.assert_array_equal(score(one, test), score(two, test))
    features, y = test[params.features.columns], test["employed"].to_numpy()
    importance = {}
    for threads in (1, 2):
        with threadpool_limits(threads):
            importance[threads] = feature_importance(one, features, y, params)
    assert importance[1] == importance[2]


def test_the_archive_names_members_by_order_and_dates_them_all_alike(params, sample):
    archive = zipfile.ZipFile(io.BytesIO(canonical_bytes(fitted(params, sample[0], 2))))
    members = archive.infolist()
    assert members[0].filename == "schema.json"
    assert [m.filename.split(".")[0] for m in members[1:]] == [
        str(i) for i in range(len(members) - 1)
    ]
    assert {m.date_time for m in members} == {ZIP_EPOCH}
    assert "_bin_mapper" in archive.read("schema.json").decode()


def test_score_picks_the_models_columns_and_names_what_is_missing(params, sample):
    pipeline = fitted(params, sample[0], 2)
    test = sample[1]
    shuffled = test[list(reversed(test.columns))]
    np.testing.assert_array_equal(score(pipeline, shuffled), score(pipeline, test))
    with pytest.raises(DataError, match="the data lacks columns the model needs: SEX"):
        score(pipeline, test.drop(columns=["SEX"]))
