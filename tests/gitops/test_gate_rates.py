"""The gate's rule in params.yaml, measured on the embedded data.

The base model is trained in-process exactly as the pipeline trains it (2015's rows, the
seeded split, the configured estimator), and so is each change. Each change is then
judged against the base on 30 seeded resamples of the test split (rows drawn with
replacement: 30 other test splits of the same size) by the gate itself, with its
intervals, allowances and group rules: two neutral changes (the learning rate 0.5%
lower, and 0.5% higher) and two real regressions (the boosting iterations cut from 200
to 20; RELP, the second strongest feature, dropped). The rates are printed (`pytest -s`);
docs/read-the-report.md quotes them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cauce.artifact import describe_target
from cauce.config import Params
from cauce.intervals import Scores
from cauce.metrics import METRICS
from cauce.model import score
from cauce.ops.gate import (
    BASE,
    Check,
    Evidence,
    ScoredRows,
    add_intervals,
    decide,
    failures,
    reading,
    worsening,
)
from cauce.pipeline.ingest import training_rows
from cauce.pipeline.prepare import split
from cauce.pipeline.train import build_pipeline
from tests.conftest import SOURCE

pytestmark = pytest.mark.slow

SPLITS = 30
MAX_NEUTRAL_FAILURES = 3  # of 60 judgements (2 changes × 30 splits): 5%
MIN_DETECTIONS = 29  # of 30 for each regression: 96.7%, the issue asks for 95%


def changed(params: Params, **settings: object) -> Params:
    """`params` with dotted keys set (`train.hist_gradient_boosting.max_iter=20`)."""
    tree = params.model_dump()
    for key, value in settings.items():
        *path, last = key.split("__")
        node = tree
        for part in path:
            node = node[part]
        node[last] = value
    return Params.model_validate(tree)


class Bench:
    """The test split, its labels and the base model's predictions, as `cauce gate` sees them."""

    def __init__(self, params: Params) -> None:
        self.params = params
        rows, _ = training_rows(pd.read_parquet(SOURCE), params.data, str(SOURCE))
        self.train, self.test = split(rows, params)
        self.target = describe_target(
            self.train[params.data.target], params.data, "train", params.evaluate.threshold
        )
        self.y_true = self.target.encode(self.test[params.data.target], "test")
        self.base = self.predictions(params)
        self.base_measured: dict[int | None, tuple[dict, dict]] = {}  # per resample

    def predictions(self, params: Params) -> np.ndarray:
        columns = params.features.columns
        y = self.target.encode(self.train[params.data.target], "train")
        return score(build_pipeline(params).fit(self.train[columns], y), self.test)

    def judged(self, new: np.ndarray, resample: int | None) -> tuple[list[Check], list[str]]:
        """The gate's checks against the base on one resample of the test split (None:
        the split itself), and the reading of each gated metric's change."""
        picked = np.arange(len(self.test))
        if resample is not None:
            picked = np.random.default_rng(resample).integers(0, len(picked), len(picked))
        frame = self.test.iloc[picked].reset_index(drop=True)
        threshold = self.target.threshold
        mine, base = Scores(new[picked], threshold), Scores(self.base[picked], threshold)
        rows = ScoredRows(frame, self.target, self.y_true[picked], mine)
        gated = self.params.gate.metrics
        metrics, groups = rows.measure(mine, self.params)
        if resample not in self.base_measured:  # the same for every change
            self.base_measured[resample] = rows.measure(base, self.params)
        base_metrics, base_groups = self.base_measured[resample]
        # Only the gated metrics get intervals here (the report's others cannot fail it).
        evidence = Evidence(
            "main", {m: metrics[m] for m in gated}, groups, base_metrics, base_groups
        )
        add_intervals(evidence, self.params, rows, {BASE: base})
        checks = decide(self.params.gate, evidence)
        return checks, [reading(m, evidence.deltas[BASE][m]) for m in gated]


@pytest.fixture(scope="module")
def bench(params) -> Bench:
    return Bench(params)


def surely_past_the_allowance(checks: list[Check]) -> bool:
    """The stricter rule the docs compare with: fail only when even the interval's better
    end is worse than the allowance."""
    return any(
        worsening(c.measured, 0, better_end(c)) > (c.limit or 0)
        for c in checks
        if c.interval is not None
    )


def better_end(check: Check) -> float:
    assert check.interval is not None
    up = METRICS[check.measured].higher_is_better
    return check.interval.high if up else check.interval.low


def failure_rate(bench: Bench, new: np.ndarray, label: str) -> int:
    """How many of the resampled test splits the gate fails with the changed model's
    predictions `new`, printed beside the rate of the stricter rule."""
    judged = [bench.judged(new, seed)[0] for seed in range(SPLITS)]
    failed = [[c.message for c in failures(checks)] for checks in judged]
    count = sum(bool(f) for f in failed)
    strict = sum(surely_past_the_allowance(checks) for checks in judged)
    first = next((f[0] for f in failed if f), "none")
    print(
        f"{label}: the gate fails {count}/{SPLITS} resampled test splits "
        f"(the stricter rule: {strict}/{SPLITS}); e.g. {first}"
    )
    return count


NEUTRAL = {
    "learning_rate × 0.995": {"train__hist_gradient_boosting__learning_rate": 0.0995},
    "learning_rate × 1.005": {"train__hist_gradient_boosting__learning_rate": 0.1005},
}
REGRESSED = {
    "max_iter 200 → 20": {"train__hist_gradient_boosting__max_iter": 20},
    "RELP dropped": "RELP",
}


def test_neutral_changes_rarely_fail_and_read_within_noise_on_the_test_split(bench, params):
    failed = 0
    for label, settings in NEUTRAL.items():
        new = bench.predictions(changed(params, **settings))
        failed += failure_rate(bench, new, label)
        _, readings = bench.judged(new, None)
        assert readings == ["within noise"] * len(params.gate.metrics), label
    print(f"neutral: {failed}/{len(NEUTRAL) * SPLITS} judgements fail")
    assert failed <= MAX_NEUTRAL_FAILURES


@pytest.mark.parametrize("label", REGRESSED)
def test_a_real_regression_fails_almost_every_resampled_split(bench, params, label):
    settings = REGRESSED[label]
    if isinstance(settings, str):  # a feature dropped from the categorical ones
        kept = [c for c in params.features.categorical if c != settings]
        change = changed(params, features__categorical=kept)
    else:
        change = changed(params, **settings)
    assert failure_rate(bench, bench.predictions(change), label) >= MIN_DETECTIONS
