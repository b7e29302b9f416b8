"""The fast path is the pipeline's own answer by other means (`predict_proba` of a binary
or multiclass classifier, `predict` of a regressor): equal within 1e-9 on every row, in
one call or row by row in small requests, and it steps aside (with a log line) wherever it
cannot prove that."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import datasets
from sklearn.ensemble import HistGradientBoostingRegressor
from tests.conftest import SOURCE

from cauce import fastpath
from cauce.config import Params
from cauce.fastpath import FastModel, FastModelFileError
from cauce.model import score
from cauce.pipeline.train import build_pipeline

BOUND = 1e-9
SHA = "0" * 64


def odd_rows(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """`frame` with holes in every column; unknown, negative, fractional and huge codes in
    its number columns; unseen text and None (which scikit-learn's imputer passes over) in
    its text columns; and one row with nothing at all."""
    rng = np.random.default_rng(seed)
    numbers = frame.select_dtypes("number").columns
    odd = frame[numbers].to_numpy(dtype="float64", copy=True)
    odd[rng.random(odd.shape) < 0.15] = np.nan
    strange = rng.random(odd.shape) < 0.05
    values = [-1, 99, 2.5, 1e6, -0.0, 255, 256, 1023, 1024, 3.0000001]
    odd[strange] = rng.choice(values, odd.shape)[strange]
    odd[0] = np.nan
    rows = pd.DataFrame(odd, columns=numbers, index=frame.index)
    for column in frame.columns.difference(numbers):
        text = frame[column].to_numpy(dtype=object, copy=True)
        for value, share in [(np.nan, 0.15), ("unseen", 0.05), (None, 0.05)]:
            text[rng.random(len(text)) < share] = value
        text[0] = np.nan
        rows[column] = pd.Series(text, dtype=object, index=frame.index)
    return rows[frame.columns]


def answer(pipeline, frame: pd.DataFrame) -> np.ndarray:
    """scikit-learn's own answer, in the shape `FastModel.predict` gives."""
    if not hasattr(pipeline, "predict_proba"):
        return pipeline.predict(frame)
    probabilities = pipeline.predict_proba(frame)
    return probabilities[:, 1] if probabilities.shape[1] == 2 else probabilities


def gap(got: np.ndarray, want: np.ndarray) -> float:
    assert got.shape == want.shape
    return float(np.max(np.abs(got - want)))


def fast_gap(fast: FastModel, pipeline, frame: pd.DataFrame) -> float:
    """How far the fast path is from scikit-learn on `frame`, which it must take."""
    matrix = fast.matrix(frame)
    assert matrix is not None
    return gap(fast.predict(matrix), answer(pipeline, frame))


# ---- models of every task on the embedded and scikit-learn's offline data sets


@dataclass(frozen=True)
class Case:
    data: str  # "census" (the embedded source) or a scikit-learn loader's name
    task: str
    text: tuple[str, ...] = ()  # number columns cut into text categories, then categorical
    ranked: tuple[str, ...] = ()  # of those, ordinal in their order (low, mid, high)
    holes: float = 0.0  # share of the training values made missing (codes become floats)
    estimator: dict[str, Any] = field(default_factory=lambda: {"max_iter": 30})


CASES = {
    "census, 63 leaves": Case("census", "binary", estimator={"max_leaf_nodes": 63, "max_iter": 15}),
    "census, 200 leaves": Case(
        "census", "binary", estimator={"max_leaf_nodes": 200, "max_iter": 5, "min_samples_leaf": 5}
    ),
    "census, holes in training": Case("census", "binary", holes=0.05),
    "breast cancer, numbers only": Case("breast_cancer", "binary"),
    "wine": Case("wine", "multiclass"),
    "iris": Case("iris", "multiclass"),
    "diabetes": Case("diabetes", "regression"),
    "diabetes, text categories": Case("diabetes", "regression", text=("bmi", "bp")),
    "wine, text categories": Case("wine", "multiclass", text=("alcohol", "hue")),
    "wine, text ordinal": Case("wine", "multiclass", text=("alcohol", "hue"), ranked=("alcohol",)),
}


def as_text(frame: pd.DataFrame, columns: tuple[str, ...], seed: int = 5) -> pd.DataFrame:
    """`frame` with `columns` cut into thirds named low, mid and high, a tenth of them None."""
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    for column in columns:
        text = pd.qcut(frame[column], 3, labels=["low", "mid", "high"]).astype(str)
        text[rng.random(len(text)) < 0.1] = None
        frame[column] = text
    return frame


def fitted(case: Case, params: Params, census: pd.DataFrame) -> tuple[Any, pd.DataFrame]:
    """The case's pipeline as `build_pipeline` makes it, fitted, and its data's features."""
    if case.data == "census":
        features, rows = params.features, census.head(20_000)
        frame, target = rows[features.columns], rows[params.data.target]
    else:
        bunch = getattr(datasets, f"load_{case.data}")(as_frame=True)
        frame, target = as_text(bunch.data, case.text), bunch.target
        features = params.features.model_copy(
            update={
                "numeric": [c for c in frame.columns if c not in case.text],
                "ordinal": [{c: ["low", "mid", "high"]} for c in case.ranked],
                "categorical": [c for c in case.text if c not in case.ranked],
            }
        )
    if case.holes:
        frame = frame.mask(np.random.default_rng(7).random(frame.shape) < case.holes)
    boosting = params.train.hist_gradient_boosting.model_copy(update=case.estimator)
    train = params.train.model_copy(update={"hist_gradient_boosting": boosting})
    model_params = params.model_copy(update={"features": features, "train": train})
    pipeline = build_pipeline(model_params)
    if case.task == "regression":
        regressor = HistGradientBoostingRegressor(
            categorical_features=features.categorical,
            random_state=0,
            **train.estimator_params(),
        )
        pipeline.set_params(estimator=regressor)
    if case.task == "multiclass":
        target = pd.factorize(target, sort=True)[0]  # classes 0..k-1
    return pipeline.fit(frame, target), frame


@pytest.fixture(scope="module")
def model(params, source_2015) -> Callable[[str], tuple[Any, pd.DataFrame, FastModel]]:
    """A case's fitted pipeline, its data's features and its fast form, each made once."""
    made: dict[str, tuple[Any, pd.DataFrame, FastModel]] = {}

    def of(name: str) -> tuple[Any, pd.DataFrame, FastModel]:
        if name not in made:
            pipeline, frame = fitted(CASES[name], params, source_2015)
            fast = FastModel.derive(pipeline, SHA)
            assert fast is not None
            made[name] = pipeline, frame, fast
        return made[name]

    return of


@pytest.fixture(params=list(CASES))
def case(request, model) -> tuple[str, Any, pd.DataFrame, FastModel]:
    return request.param, *model(request.param)


def test_every_task_scores_like_scikit_learn_on_every_row(case, source_2015):
    name, pipeline, frame, fast = case
    assert fast.task == CASES[name].task
    rows = source_2015[frame.columns].tail(5_000) if CASES[name].data == "census" else frame
    assert fast_gap(fast, pipeline, rows) <= BOUND
    assert fast_gap(fast, pipeline, odd_rows(rows, seed=13)) <= BOUND
    assert score(fast, rows).shape == answer(pipeline, rows).shape


def test_each_task_has_its_shape_of_output(case):
    _, pipeline, frame, fast = case
    classes = len(pipeline[-1].classes_) if fast.task != "regression" else 0
    assert fast.classes == classes
    shape = {"binary": (0,), "multiclass": (0, classes), "regression": (0,)}[fast.task]
    assert fast.predict(np.empty((0, len(fast.columns)))).shape == shape
    if fast.task == "multiclass":
        np.testing.assert_allclose(fast.score(frame).sum(axis=1), 1.0)


@pytest.mark.parametrize(
    ("name", "leaves"), [("census, 63 leaves", 32), ("census, 200 leaves", 128)]
)
def test_trees_with_more_leaves_than_one_word_holds_are_served(model, name, leaves):
    pipeline, _, fast = model(name)
    most = max(tree.get_n_leaf_nodes() for (tree,) in pipeline[-1]._predictors)
    assert most > leaves  # several words, or a wider one, per tree
    assert fast.masks.shape[2] * 8 * fast.masks.itemsize >= most


def test_text_categories_from_records_and_frames_of_either_kind(model):
    pipeline, frame, fast = model("diabetes, text categories")
    assert fast.text_categories.dtype.kind == "U"
    odd = odd_rows(frame, seed=3)
    assert any(value is None for value in odd["bmi"])
    as_strings = odd.astype({"bmi": "str", "bp": "str"})  # None is NaN there
    assert fast_gap(fast, pipeline, as_strings) <= BOUND
    # An API request: null for anything missing, unseen text included.
    records = odd.astype(object).where(odd.notna(), None).to_dict("records")
    served = fast.predict(fast.matrix_of_records(records))
    assert gap(served, answer(pipeline, pd.DataFrame(records))) <= BOUND
    # What scikit-learn cannot take either: pandas' NA, numbers in a text column.
    for strange in [pd.NA, 3]:
        rows = frame.head(3).astype({"bmi": object})
        rows.iloc[0, rows.columns.get_loc("bmi")] = strange
        assert fast.matrix(rows) is None


@pytest.mark.parametrize("name", ["wine", "diabetes, text categories"])
def test_the_saved_form_of_another_task_or_text_needs_no_pickle(model, tmp_path, name):
    _, frame, fast = model(name)
    path = fast.save(tmp_path / "model.fast.npz")
    with np.load(path, allow_pickle=False) as stored:
        assert all(stored[member].dtype != object for member in stored.files)
    loaded = FastModel.load(path, SHA)
    assert (loaded.task, loaded.classes, loaded.pipeline) == (fast.task, fast.classes, None)
    np.testing.assert_array_equal(loaded.score(frame), fast.score(frame))


def test_an_unexpected_failure_is_one_plain_line(model, caplog, monkeypatch):
    pipeline, _, _ = model("iris")

    def broken(_trees: Any) -> Any:
        raise KeyError("private state moved")

    monkeypatch.setattr(fastpath, "_tables", broken)
    with caplog.at_level(logging.INFO, logger="cauce.fastpath"):
        assert FastModel.derive(pipeline, SHA) is None
    assert [r.getMessage() for r in caplog.records] == [
        "scoring with scikit-learn: the fast path failed (KeyError)"
    ]
    assert caplog.records[0].exc_info is None


def test_a_small_model_with_odd_rows_scores_like_predict_proba(params, source_2015):
    columns = params.features.columns
    rows = source_2015.head(3_000)
    pipeline = build_pipeline(params).fit(rows[columns], rows[params.data.target])
    fast = FastModel.derive(pipeline, SHA)
    assert fast is not None
    assert fast_gap(fast, pipeline, odd_rows(source_2015[columns].tail(2_000), seed=11)) <= BOUND


# ---- the default model on the whole embedded source


@pytest.fixture(scope="module")
def source() -> pd.DataFrame:
    return pd.read_parquet(SOURCE)


@pytest.fixture(scope="module")
def pipeline(params, source):
    """The default model as params.yaml configures it, fitted on the labelled rows."""
    labelled = source.dropna(subset=[params.data.target])
    columns = params.features.columns
    return build_pipeline(params).fit(labelled[columns], labelled[params.data.target])


@pytest.fixture(scope="module")
def fast(pipeline) -> FastModel:
    derived = FastModel.derive(pipeline, SHA)
    assert derived is not None
    return derived


@pytest.fixture(scope="module")
def expected(pipeline, params, source) -> np.ndarray:
    return pipeline.predict_proba(source[params.features.columns])[:, 1]


@pytest.mark.slow
def test_equal_on_the_whole_source_in_one_call(fast, source, expected):
    assert len(source) == 277_677
    assert gap(score(fast, source), expected) <= BOUND


@pytest.mark.slow
def test_a_rows_score_does_not_depend_on_the_rows_sent_with_it(fast, source, expected):
    matrix = fast.matrix(source)
    pieces = [fast.predict(matrix[i : i + 37]) for i in range(0, len(matrix), 37)]
    alone = [fast.predict(matrix[i : i + 1]) for i in range(2_000)]
    np.testing.assert_array_equal(np.concatenate(pieces), fast.predict(matrix))
    np.testing.assert_array_equal(np.concatenate(alone), fast.predict(matrix[:2_000]))
    assert gap(np.concatenate(pieces), expected) <= BOUND


@pytest.mark.slow
def test_the_saved_form_needs_only_numpy_and_is_equal_too(fast, source, expected, tmp_path):
    path = fast.save(tmp_path / "model.fast.npz")
    first = path.read_bytes()
    assert fast.save(tmp_path / "again.npz").read_bytes() == first  # canonical bytes
    loaded = FastModel.load(path, SHA)
    assert loaded.pipeline is None
    assert gap(loaded.predict(fast.matrix(source)), expected) <= BOUND


@pytest.mark.slow
def test_missing_values_and_codes_it_never_saw(pipeline, fast, params, source):
    """Every column with holes, unknown, negative and fractional codes, huge values."""
    columns = params.features.columns
    odd = odd_rows(source[columns].sample(n=20_000, random_state=3), seed=7)
    assert fast_gap(fast, pipeline, odd) <= BOUND
    assert fast_gap(fast, pipeline, odd.head(1)) <= BOUND


@pytest.mark.slow
def test_rows_only_scikit_learn_can_judge_go_to_it(pipeline, fast, params, source):
    columns = params.features.columns
    rows = source[columns].head(3).astype({"SEX": "object"})
    rows.loc[rows.index[0], "SEX"] = "x"  # the encoder calls it unknown; so must we
    assert fast.matrix(rows) is None
    np.testing.assert_array_equal(score(fast, rows), pipeline.predict_proba(rows)[:, 1])
    infinite = source[columns].head(2).astype("float64")
    infinite.iloc[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        score(fast, infinite)


@pytest.mark.slow
def test_a_model_it_cannot_rebuild_keeps_scikit_learn_and_says_so(params, source, caplog):
    train = params.train.model_copy(update={"model": "logistic_regression"})
    labelled = source.dropna(subset=[params.data.target]).head(5_000)
    columns = params.features.columns
    baseline = build_pipeline(params.model_copy(update={"train": train}))
    baseline.fit(labelled[columns], labelled[params.data.target])
    with caplog.at_level(logging.INFO, logger="cauce.fastpath"):
        assert FastModel.derive(baseline, SHA) is None
    assert "scoring with scikit-learn: no fast path for this model" in caplog.text
    assert "LogisticRegression" in caplog.text or "ordinal encoder" in caplog.text


@pytest.mark.slow
def test_a_fast_model_file_for_another_model_or_broken_is_refused(fast, tmp_path):
    path = fast.save(tmp_path / "model.fast.npz")
    with pytest.raises(FastModelFileError, match="derived from model sha256 000000000000"):
        FastModel.load(path, "f" * 64)
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(FastModelFileError, match="not a fast-model file"):
        FastModel.load(truncated, SHA)


def test_a_categorical_of_more_codes_than_the_trees_take_is_grouped_and_served_fast(
    params, source_2015
):
    """An id-like text column listed under features.categorical by hand (init's advice for
    text of many values): beyond 255 codes the trees would refuse it; the 254 most frequent
    keep their own code, the rest share one, and the fast form agrees with scikit-learn."""
    rows = source_2015.head(3000).assign(
        household=lambda frame: "h" + (frame["id"] % 700).astype(str)
    )
    features = params.features.model_copy(
        update={"categorical": [*params.features.categorical, "household"]}
    )
    boosting = params.train.hist_gradient_boosting.model_copy(update={"max_iter": 20})
    model_params = params.model_copy(
        update={
            "features": features,
            "train": params.train.model_copy(update={"hist_gradient_boosting": boosting}),
        }
    )
    frame = rows[features.columns]
    pipeline = build_pipeline(model_params).fit(frame, rows[params.data.target])
    categorical = pipeline[0].named_transformers_["categorical"]
    assert len(categorical[-1].categories_[-1]) == 700
    assert categorical.transform(frame[features.categorical])["household"].max() == 254
    fast = FastModel.derive(pipeline, SHA)
    assert fast is not None
    assert fast_gap(fast, pipeline, frame) <= BOUND
    assert fast_gap(fast, pipeline, odd_rows(frame, seed=3)) <= BOUND
