"""The paired bootstrap's weighted metrics are scikit-learn's, resample by resample."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cauce.intervals import Interval, Scores, Subset, paired, resample_counts, weighted
from cauce.metrics import METRICS, TASKS, of_task

ROWS = 400


def task_data(task: str, rng: np.random.Generator):
    """Labels (with ties in the scores, as a boosted model's have) and two models' predictions."""
    if task == "regression":
        y = rng.normal(50, 10, ROWS)
        return y, y + rng.normal(0, 5, ROWS), y + rng.normal(0, 6, ROWS)
    if task == "binary":
        y = (rng.random(ROWS) < 0.3).astype(int)
        scores = [
            np.round(np.clip(0.3 + 0.3 * (y - 0.3) + rng.normal(0, s, ROWS), 0, 1), 2)
            for s in (0.2, 0.25)
        ]
        return y, *scores
    y = rng.integers(0, 4, ROWS)
    shares = [rng.dirichlet(np.ones(4), ROWS) + np.eye(4)[y] * s for s in (0.5, 0.3)]
    return y, *(p / p.sum(axis=1, keepdims=True) for p in shares)


@pytest.mark.parametrize("task", TASKS)
def test_each_weighted_metric_is_scikit_learns_metric_of_the_resampled_rows(task):
    rng = np.random.default_rng(3)
    y, prediction, _ = task_data(task, rng)
    counts = next(resample_counts(ROWS, 5, seed=11))
    for name, metric in of_task(task).items():
        fast = weighted(name, task, counts, y, prediction, 0.5)
        for resample, value in zip(counts.astype(int), fast, strict=True):
            rows = np.repeat(np.arange(ROWS), resample)
            chosen = prediction[rows]
            expected = metric.compute(task, y[rows], chosen, 0.5)
            assert value == pytest.approx(expected, rel=1e-9, abs=1e-12), name


def test_the_same_seed_gives_the_same_resamples_and_another_seed_others():
    first = np.concatenate(list(resample_counts(1000, 250, seed=5)))
    again = np.concatenate(list(resample_counts(1000, 250, seed=5)))
    other = np.concatenate(list(resample_counts(1000, 250, seed=6)))
    assert first.shape == (250, 1000)
    assert (first.sum(axis=1) == 1000).all()
    assert (first == again).all()
    assert not (first == other).all()


def test_an_identical_model_is_within_noise_and_a_worse_one_is_outside_it():
    rng = np.random.default_rng(4)
    y, good, _ = task_data("binary", rng)
    worse = good + rng.normal(0, 0.3, ROWS)  # the same model, blurred
    found = paired(
        "binary",
        y,
        Scores(good, 0.5),
        {"same": Scores(good, 0.5), "worse": Scores(worse, 0.5)},
        [Subset("roc_auc", "roc_auc", None), Subset("f1 half", "f1", np.arange(ROWS) < ROWS // 2)],
        confidence=0.95,
        resamples=400,
        seed=1,
    )
    assert (
        found["same"]["roc_auc"].delta
        == found["same"]["roc_auc"].low
        == found["same"]["roc_auc"].high
        == 0
    )
    auc = found["worse"]["roc_auc"]
    assert auc.delta == pytest.approx(roc_auc_score(y, good) - roc_auc_score(y, worse))
    assert 0 < auc.low < auc.delta < auc.high
    assert set(found["worse"]) == {"roc_auc", "f1 half"}


def test_a_group_with_one_class_has_no_interval():
    rng = np.random.default_rng(5)
    y, new, old = task_data("binary", rng)
    only_negatives = y == 0
    found = paired(
        "binary",
        y,
        Scores(new, 0.5),
        {"base": Scores(old, 0.5)},
        [Subset("auc", "roc_auc", only_negatives)],
        confidence=0.9,
        resamples=50,
        seed=1,
    )
    assert found == {"base": {}}


def test_the_roc_auc_interval_agrees_with_delongs():
    """DeLong's paired variance of the AUC delta, and the bootstrap's 95% interval, agree."""
    from scipy.stats import norm

    rng = np.random.default_rng(6)
    rows = 4000
    y = (rng.random(rows) < 0.3).astype(int)
    new = 0.6 * y + rng.normal(0, 0.5, rows)
    old = 0.55 * y + rng.normal(0, 0.5, rows)
    found = paired(
        "binary",
        y,
        Scores(new, None),
        {"old": Scores(old, None)},
        [Subset("auc", "roc_auc", None)],
        0.95,
        2000,
        2,
    )
    interval = found["old"]["auc"]

    def components(score):
        positives, negatives = score[y == 1], score[y == 0]
        above = (positives[:, None] > negatives[None, :]) + 0.5 * (
            positives[:, None] == negatives[None, :]
        )
        return above.mean(axis=1), above.mean(axis=0)

    (new_pos, new_neg), (old_pos, old_neg) = components(new), components(old)
    variance = np.var(new_pos - old_pos, ddof=1) / len(new_pos) + np.var(
        new_neg - old_neg, ddof=1
    ) / len(new_neg)
    half = norm.ppf(0.975) * np.sqrt(variance)
    assert interval.low == pytest.approx(interval.delta - half, abs=0.001)
    assert interval.high == pytest.approx(interval.delta + half, abs=0.001)
    assert METRICS["roc_auc"].higher_is_better


def test_models_with_the_same_predictions_get_the_same_intervals_as_when_scored_apart():
    rng = np.random.default_rng(5)
    y, good, worse = task_data("binary", rng)
    subsets = [Subset("roc_auc", "roc_auc", None), Subset("brier", "brier", None)]

    def intervals(others: dict) -> dict:
        scored = {name: Scores(values, 0.5) for name, values in others.items()}
        return paired("binary", y, Scores(good, 0.5), scored, subsets, 0.9, 300, seed=2)

    together = intervals({"base": worse, "production": worse.copy(), "same": good.copy()})
    assert together["base"] == together["production"] == intervals({"base": worse})["base"]
    assert {i.delta for i in together["same"].values()} == {0.0}


def test_an_interval_of_a_family_of_k_is_one_at_the_bonferroni_level():
    rng = np.random.default_rng(8)
    y, good, worse = task_data("binary", rng)

    def interval(confidence: float, family: int):
        subset = Subset("auc", "roc_auc", None, family)
        scored = {"b": Scores(worse, 0.5)}
        return paired("binary", y, Scores(good, 0.5), scored, [subset], confidence, 400, 3)["b"]

    of_five = interval(0.95, 5)["auc"]
    alone_at_99 = interval(1 - 0.05 / 5, 1)["auc"]
    assert (of_five.low, of_five.high) == (alone_at_99.low, alone_at_99.high)
    assert of_five.level == pytest.approx(0.99)
    alone = interval(0.95, 1)["auc"]
    assert of_five.low < alone.low < alone.high < of_five.high


def test_each_model_labels_rows_by_its_own_threshold():
    """A base model with the same probabilities and another threshold is another model."""
    rng = np.random.default_rng(10)
    y, good, _ = task_data("binary", rng)
    subsets = [Subset("accuracy", "accuracy", None), Subset("roc_auc", "roc_auc", None)]
    others = {"base": Scores(good, 0.3)}
    found = paired("binary", y, Scores(good, 0.5), others, subsets, 0.95, 200, 0)["base"]
    expected = METRICS["accuracy"].compute("binary", y, good, 0.5) - METRICS["accuracy"].compute(
        "binary", y, good, 0.3
    )
    assert found["accuracy"].delta == pytest.approx(expected)
    assert found["accuracy"].delta != 0
    assert found["roc_auc"] == Interval(0.0, 0.0, 0.0, 0.95)  # the ranking is the same


def test_r2_keeps_its_digits_when_the_targets_mean_dwarfs_its_spread():
    from sklearn.metrics import r2_score

    rng = np.random.default_rng(11)
    y = 1e6 + rng.normal(0, 0.001, 200)
    predicted = y + rng.normal(0, 0.001, 200)
    value = weighted("r2", "regression", np.ones((1, 200)), y, predicted, None)[0]
    assert value == pytest.approx(r2_score(y, predicted), rel=1e-9)


def test_a_large_split_is_drawn_in_smaller_blocks_and_the_same_resamples(monkeypatch):
    """Blocks hold at most BLOCK_COUNTS counts; the draws do not depend on the blocks."""
    import cauce.intervals

    whole = np.concatenate(list(resample_counts(500, 30, seed=4)))
    monkeypatch.setattr(cauce.intervals, "BLOCK_COUNTS", 500 * 7)
    blocks = list(resample_counts(500, 30, seed=4))
    assert [len(b) for b in blocks] == [7, 7, 7, 7, 2]
    assert (np.concatenate(blocks) == whole).all()
