"""The fast path is the pipeline's `predict_proba` by other means: equal within 1e-9 on
every row of the embedded source, in one call or row by row in small requests, and it
steps aside (with a log line) wherever it cannot prove that."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from tests.conftest import SOURCE

from cauce.fastpath import FastModel, FastModelFileError
from cauce.model import score
from cauce.pipeline.train import build_pipeline

BOUND = 1e-9
SHA = "0" * 64


def odd_rows(frame: pd.DataFrame, seed: int) -> np.ndarray:
    """`frame` as floats with holes in every column and unknown, negative, fractional
    and huge codes, and one row with nothing at all."""
    rng = np.random.default_rng(seed)
    odd = frame.to_numpy(dtype="float64", copy=True)
    odd[rng.random(odd.shape) < 0.15] = np.nan
    strange = rng.random(odd.shape) < 0.05
    values = [-1, 99, 2.5, 1e6, -0.0, 255, 256, 1023, 1024, 3.0000001]
    odd[strange] = rng.choice(values, odd.shape)[strange]
    odd[0] = np.nan
    return odd


def test_a_small_model_with_odd_rows_scores_like_predict_proba(params, source_2015):
    columns = params.features.columns
    rows = source_2015.head(3_000)
    pipeline = build_pipeline(params).fit(rows[columns], rows[params.data.target])
    fast = FastModel.derive(pipeline, SHA)
    assert fast is not None
    odd = odd_rows(source_2015[columns].tail(2_000), seed=11)
    want = pipeline.predict_proba(pd.DataFrame(odd, columns=columns))[:, 1]
    assert gap(fast.probabilities(odd), want) <= BOUND
    assert fast.probabilities(odd[:0]).shape == (0,)


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


def gap(got: np.ndarray, want: np.ndarray) -> float:
    assert got.shape == want.shape
    return float(np.max(np.abs(got - want)))


@pytest.mark.slow
def test_equal_on_the_whole_source_in_one_call(fast, source, expected):
    assert len(source) == 277_677
    assert gap(score(fast, source), expected) <= BOUND


@pytest.mark.slow
def test_a_rows_score_does_not_depend_on_the_rows_sent_with_it(fast, source, expected):
    matrix = fast.matrix(source)
    pieces = [fast.probabilities(matrix[i : i + 37]) for i in range(0, len(matrix), 37)]
    alone = [fast.probabilities(matrix[i : i + 1]) for i in range(2_000)]
    np.testing.assert_array_equal(np.concatenate(pieces), fast.probabilities(matrix))
    np.testing.assert_array_equal(np.concatenate(alone), fast.probabilities(matrix[:2_000]))
    assert gap(np.concatenate(pieces), expected) <= BOUND


@pytest.mark.slow
def test_the_saved_form_needs_only_numpy_and_is_equal_too(fast, source, expected, tmp_path):
    path = fast.save(tmp_path / "model.fast.npz")
    first = path.read_bytes()
    assert fast.save(tmp_path / "again.npz").read_bytes() == first  # canonical bytes
    loaded = FastModel.load(path, SHA)
    assert loaded.pipeline is None
    assert gap(loaded.probabilities(fast.matrix(source)), expected) <= BOUND


@pytest.mark.slow
def test_missing_values_and_codes_it_never_saw(pipeline, fast, params, source):
    """Every column with holes, unknown, negative and fractional codes, huge values."""
    columns = params.features.columns
    odd = odd_rows(source[columns].sample(n=20_000, random_state=3), seed=7)
    frame = pd.DataFrame(odd, columns=columns)
    want = pipeline.predict_proba(frame)[:, 1]
    assert gap(fast.probabilities(odd), want) <= BOUND
    assert gap(fast.probabilities(odd[:1]), want[:1]) <= BOUND


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
