"""Paired bootstrap intervals of metric deltas: is a change evidence or noise?

Two models scored on the same test rows are compared on the same resamples of those rows,
so the noise both share (which rows happen to be in the test split) cancels, and what is
left is the interval of the delta itself. A bootstrap resample is a vector of row counts
(how often each row was drawn), so every metric is computed as a *weighted* metric over
a block of resamples at once, with numpy and no per-resample Python loop. The figures do
not depend on the thread count: sums of fractions are plain numpy reductions, and only
counts of rows (whole numbers, exact in any order) are summed by BLAS products.

Why the bootstrap and not DeLong's interval for ROC AUC: one method serves every metric of
every task (average precision, log loss, F1, RMSE, …) and every group, so the report's
intervals mean the same thing in every row; for ROC AUC on thousands of rows the two agree
to the fourth decimal (tests/unit/test_intervals.py compares them).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from cauce.metrics import METRICS, Task, predicted_codes

# Resamples computed together: at most 100, and at most 10 million counts (80 MB of
# float64) per block, so a test split of millions of rows fits in memory too.
BLOCK = 100
BLOCK_COUNTS = 10_000_000
# A delta whose resamples are undefined this often (a group with one class) has no interval.
MAX_UNDEFINED = 0.1


@dataclass(frozen=True)
class Interval:
    """A metric's delta (new − old, on all the rows) and its bootstrap interval, at the
    two-sided `level` (the stated confidence, or its Bonferroni share in a family)."""

    delta: float
    low: float
    high: float
    level: float


@dataclass(frozen=True)
class Scores:
    """A model's predictions (model.score's shape) and the threshold it labels them by."""

    values: np.ndarray
    threshold: float | None

    def same_as(self, other: Scores) -> bool:
        return self.threshold == other.threshold and np.array_equal(self.values, other.values)


def resample_counts(rows: int, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """Blocks of bootstrap resamples of `rows` rows, each row's count in each resample
    (resamples × rows, float64); the same seed gives the same blocks."""
    rng = np.random.default_rng(seed)
    block = max(1, min(BLOCK, BLOCK_COUNTS // max(rows, 1)))
    for start in range(0, resamples, block):
        size = min(block, resamples - start)
        drawn = rng.integers(0, rows, size=(size, rows))
        # One bincount per resample: its counts fit in the CPU cache, one for all does not.
        yield np.stack([np.bincount(d, minlength=rows) for d in drawn]).astype(np.float64)


def weighted(
    name: str,
    task: Task,
    counts: np.ndarray,
    y_true: np.ndarray,
    prediction: np.ndarray,
    threshold: float | None,
) -> np.ndarray:
    """Metric `name` on each resample (a row of `counts`): NaN where it is undefined."""
    return weighted_metrics((name,), task, counts, y_true, prediction, threshold)[name]


def weighted_metrics(
    names: Iterable[str],
    task: Task,
    counts: np.ndarray,
    y_true: np.ndarray,
    prediction: np.ndarray,
    threshold: float | None,
) -> dict[str, np.ndarray]:
    """Each metric of `names` on each resample (NaN where it is undefined). ROC AUC and
    average precision share one pass over the rows in the order of their scores."""
    found: dict[str, np.ndarray] = {}
    ranked: tuple[np.ndarray, np.ndarray] | None = None
    total = counts.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in names:
            if METRICS[name].scores == "label":
                predicted = predicted_codes(task, prediction, threshold)
                found[name] = _label_metric(name, counts, y_true, predicted)
            elif name in ("roc_auc", "average_precision"):
                ranked = ranked or _tied_groups(counts, y_true, prediction)
                found[name] = (_roc_auc if name == "roc_auc" else _average_precision)(*ranked)
            else:
                found[name] = _score_metric(name, task, counts, total, y_true, prediction)
    return found


def _score_metric(
    name: str,
    task: Task,
    counts: np.ndarray,
    total: np.ndarray,
    y_true: np.ndarray,
    prediction: np.ndarray,
) -> np.ndarray:
    if name == "log_loss":
        chance = (
            prediction if task == "multiclass" else np.column_stack([1 - prediction, prediction])
        )
        eps = np.finfo(np.float64).eps
        loss = -np.log(np.clip(chance[np.arange(len(y_true)), y_true], eps, 1 - eps))
        return _mean(counts, loss, total)
    if name == "brier":
        return _mean(counts, (prediction - y_true) ** 2, total)
    error = prediction - y_true
    if name == "rmse":
        return np.sqrt(_mean(counts, error**2, total))
    if name == "mae":
        return _mean(counts, np.abs(error), total)
    if name == "r2":
        # Two passes (the spread around each resample's own mean): E[y²] − E[y]² loses
        # every digit when the target's mean is large against its spread.
        mean = _mean(counts, y_true, total)
        spread = (counts * (y_true - mean[:, None]) ** 2).sum(axis=1) / total
        return 1 - _mean(counts, error**2, total) / np.where(spread > 0, spread, np.nan)
    raise ValueError(f"no weighted form of {name}")


def _mean(counts: np.ndarray, values: np.ndarray, total: np.ndarray) -> np.ndarray:
    mean: np.ndarray = (counts * values).sum(axis=1) / total
    return mean


def _counted(counts: np.ndarray, *masks: np.ndarray) -> list[np.ndarray]:
    """How many resampled rows each boolean mask holds, per resample (whole numbers)."""
    summed = counts @ np.column_stack(masks).astype(np.float64)
    return [summed[:, i] for i in range(len(masks))]


def _label_metric(
    name: str, counts: np.ndarray, y_true: np.ndarray, predicted: np.ndarray
) -> np.ndarray:
    if name == "accuracy":
        right, rows = _counted(counts, predicted == y_true, np.ones(len(y_true), dtype=bool))
        accuracy: np.ndarray = right / rows
        return accuracy

    def tally(code: int) -> list[np.ndarray]:
        """Weighted true positives, false positives and false negatives of class `code`."""
        hit, said = y_true == code, predicted == code
        return _counted(counts, hit & said, ~hit & said, hit & ~said)

    if name == "macro_f1":
        scores, present = [], []
        for code in range(int(max(y_true.max(), predicted.max())) + 1):
            tp, fp, fn = tally(code)
            scores.append(np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0))
            present.append(tp + fp + fn > 0)
        shown = np.array(present)
        result: np.ndarray = (np.array(scores) * shown).sum(axis=0) / shown.sum(axis=0)
        return result
    tp, fp, fn = tally(1)
    ratio = {"precision": (tp, tp + fp), "recall": (tp, tp + fn), "f1": (2 * tp, 2 * tp + fp + fn)}
    top, bottom = ratio[name]
    return np.where(bottom > 0, top / bottom, 0.0)  # zero_division=0, as metrics.compute


def _tied_groups(
    counts: np.ndarray, y_true: np.ndarray, prediction: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted positives and negatives per distinct score, lowest score first: the counts
    taken in score order (stable, so tied rows keep their order) and summed per run of
    equal scores, whole numbers all."""
    order = np.argsort(prediction, kind="stable")
    ranked = prediction[order]
    ordered = np.take(counts, order, axis=1)  # C order, as the sums below expect
    positives = ordered * (y_true[order] == 1)
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    if len(starts) < len(ranked):  # ties: one column per distinct score
        positives = np.add.reduceat(positives, starts, axis=1)
        ordered = np.add.reduceat(ordered, starts, axis=1)
    return positives, ordered - positives


def _roc_auc(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """Mann-Whitney: the weighted share of (positive, negative) pairs ranked right, ties half."""
    below = np.cumsum(negatives, axis=1) - negatives
    pairs = positives.sum(axis=1) * negatives.sum(axis=1)
    right: np.ndarray = (positives * (below + negatives / 2)).sum(axis=1)
    return np.where(pairs > 0, right / pairs, np.nan)


def _average_precision(positives: np.ndarray, negatives: np.ndarray) -> np.ndarray:
    """scikit-learn's step sum: each threshold's recall gain times its precision."""
    positives, negatives = positives[:, ::-1], negatives[:, ::-1]  # highest score first
    found = np.cumsum(positives, axis=1)
    said = found + np.cumsum(negatives, axis=1)
    precision = np.where(said > 0, found / np.where(said > 0, said, 1), 0.0)
    total = positives.sum(axis=1)
    return np.where(total > 0, (positives * precision).sum(axis=1) / total, np.nan)


@dataclass(frozen=True)
class Subset:
    """Rows one delta is measured on: all of them, or a group's."""

    key: str  # the metric name, or "metric column=group"
    metric: str
    rows: np.ndarray | None  # a boolean mask; None: every row
    # How many intervals share this one's confidence (Bonferroni): a family of groups, or
    # of classes, is covered at `confidence` all together, each interval at
    # 1 − (1 − confidence) / family, so that one of many groups does not read "worse" by
    # the luck of the test rows alone.
    family: int = 1


def paired(
    task: Task,
    y_true: np.ndarray,
    new: Scores,
    others: Mapping[str, Scores],
    subsets: list[Subset],
    confidence: float,
    resamples: int,
    seed: int,
) -> dict[str, dict[str, Interval]]:
    """For each model in `others` and each subset: the interval of new − other, from the same
    resamples of the same rows for every model, metric and subset (that is what pairs them).
    Each model labels rows by its own threshold. Models that score alike are scored once
    (production is often the base's model). A subset whose delta is undefined (one class
    only) on all its rows, or in more than MAX_UNDEFINED of the resamples, has none."""
    models: dict[str, Scores] = {"new": new}
    scored_as: dict[str, str] = {}  # each of `others`, and the model of `models` it equals
    for name, scores in others.items():
        same = next((m for m, s in models.items() if s.same_as(scores)), name)
        models.setdefault(same, scores)
        scored_as[name] = same
    # Subsets of the same rows are measured together: the ranking metrics share a sort.
    on_rows: dict[int, tuple[np.ndarray | slice, list[Subset]]] = {}
    for subset in subsets:  # id(None) is one key for all the subsets of every row
        rows = slice(None) if subset.rows is None else subset.rows
        on_rows.setdefault(id(subset.rows), (rows, []))[1].append(subset)

    def measured(
        counts: np.ndarray, rows: np.ndarray | slice, members: list[Subset]
    ) -> dict[str, dict[str, np.ndarray]]:
        metrics = list(dict.fromkeys(s.metric for s in members))
        return {
            name: weighted_metrics(metrics, task, counts, y_true[rows], s.values[rows], s.threshold)
            for name, s in models.items()
        }

    drawn: dict[str, dict[str, list[np.ndarray]]] = {
        o: {s.key: [] for s in subsets} for o in others
    }
    for counts in resample_counts(len(y_true), resamples, seed):
        for rows, members in on_rows.values():
            values = measured(counts[:, rows], rows, members)
            for subset in members:
                new_values = values["new"][subset.metric]
                for other in others:
                    other_values = values[scored_as[other]][subset.metric]
                    drawn[other][subset.key].append(new_values - other_values)
    found: dict[str, dict[str, Interval]] = {other: {} for other in others}
    for rows, members in on_rows.values():
        point = measured(np.ones((1, len(y_true[rows]))), rows, members)
        for subset in members:
            level = 1 - (1 - confidence) / subset.family
            for other in others:
                delta = point["new"][subset.metric][0] - point[scored_as[other]][subset.metric][0]
                deltas = np.concatenate(drawn[other][subset.key])
                defined = deltas[~np.isnan(deltas)]
                if np.isnan(delta) or len(defined) < (1 - MAX_UNDEFINED) * resamples:
                    continue
                tail = (1 - level) / 2 * 100
                low, high = np.percentile(defined, [tail, 100 - tail])
                found[other][subset.key] = Interval(float(delta), float(low), float(high), level)
    return found
