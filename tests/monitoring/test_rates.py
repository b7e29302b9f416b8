"""The drift policy in params.yaml, measured on the embedded data.

The model is trained in-process exactly as the pipeline does (2015 training rows, the
seeded split, the configured estimator), then the monitor judges 50 seeded batches of
10,000 rows of the test split per scenario (the scores of the test rows left out of a
batch are its prediction reference): unchanged (false alarms), ages of a fifth
of the rows raised by five years, and a fifth of the never-married (MAR 5) recoded as
separated (MAR 4). The rates are printed (`pytest -s`); docs/operate.md quotes them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from cauce.model import score
from cauce.monitoring.drift import compare
from cauce.pipeline.ingest import training_rows
from cauce.pipeline.prepare import split
from cauce.pipeline.train import build_pipeline
from cauce.profile import numeric_profile, reference_profile
from tests.conftest import SOURCE

# 150 batches of 10,000 rows judged against a model of the whole 2015 split: a pull request
# runs it when it changes what it measures (tests/tiers.py), main and nightly always.
pytestmark = pytest.mark.statistical

BATCHES = 50
BATCH_ROWS = 10_000
MAX_FALSE_ALARMS = 2  # 4% of 50: the issue allows 5%
MIN_DETECTIONS = 48  # 96% of 50: the issue asks for 95%


class Monitor:
    """The trained model, its profiles and the test split, as `cauce monitor` sees them."""

    def __init__(self, params) -> None:
        self.params = params
        source = pd.read_parquet(SOURCE)
        rows, _ = training_rows(source, params.data, str(SOURCE))
        train, self.test = split(rows, params)
        columns = params.features.columns
        self.model = build_pipeline(params).fit(train[columns], train[params.data.target])
        self.reference = reference_profile(train[columns], params.features.categorical)
        self.test_scores = pd.Series(score(self.model, self.test), index=self.test.index)

    def drifted(self, batch: pd.DataFrame) -> list[str]:
        # The prediction check's reference is the scores of the test rows outside the
        # batch, so that it too compares two disjoint samples of one population.
        rest = self.test_scores.drop(batch.index)
        findings = compare(
            self.reference,
            batch,
            self.params.monitor,
            self.params.data.seed,
            score(self.model, batch),
            numeric_profile(rest),
        )
        return [f.name for f in findings if f.drifted]

    def batch(self, seed: int) -> pd.DataFrame:
        """10,000 test rows, keeping their index (the prediction reference leaves them out)."""
        return self.test.sample(n=BATCH_ROWS, random_state=seed)


@pytest.fixture(scope="module")
def monitor(whole_data_params) -> Monitor:
    return Monitor(whole_data_params)


def older(batch: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    chosen = rng.random(len(batch)) < 0.2
    batch.loc[chosen, "AGEP"] += 5
    return batch


def never_married_as_separated(batch: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    chosen = (batch["MAR"] == 5).to_numpy() & (rng.random(len(batch)) < 0.2)
    batch.loc[chosen, "MAR"] = 4
    return batch


def unchanged(batch: pd.DataFrame, _rng: np.random.Generator) -> pd.DataFrame:
    return batch


def rate(monitor: Monitor, change: Callable) -> tuple[int, dict[str, int]]:
    """In how many of the batches the monitor declared drift, and which features."""
    alarms, features = 0, {}
    for seed in range(BATCHES):
        drifted = monitor.drifted(change(monitor.batch(seed), np.random.default_rng(seed)))
        alarms += bool(drifted)
        for name in drifted:
            features[name] = features.get(name, 0) + 1
    print(f"{change.__name__}: drift in {alarms}/{BATCHES} batches; features {features}")
    return alarms, features


def test_same_distribution_batches_rarely_alarm(monitor):
    alarms, _ = rate(monitor, unchanged)
    assert alarms <= MAX_FALSE_ALARMS


def test_older_ages_are_detected_in_the_age_feature(monitor):
    alarms, features = rate(monitor, older)
    assert alarms >= MIN_DETECTIONS
    assert features.get("AGEP", 0) >= MIN_DETECTIONS


def test_moved_marital_shares_are_detected_in_that_feature(monitor):
    alarms, features = rate(monitor, never_married_as_separated)
    assert alarms >= MIN_DETECTIONS
    assert features.get("MAR", 0) >= MIN_DETECTIONS
