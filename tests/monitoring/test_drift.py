"""The statistics of the drift monitor on known inputs: each effect size and test equals
its textbook (scipy) value, sparse codes are pooled, and the decision needs both the
calibrated effect and the corrected test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from sklearn.metrics import roc_auc_score

from cauce.artifact import Target
from cauce.monitoring.drift import (
    chi_square_p,
    compare,
    decide,
    examine,
    holm,
    js_distance,
    performance,
    rank_sum_p,
    wasserstein,
)
from cauce.profile import (
    ReferenceProfile,
    categorical_profile,
    counts_like,
    numeric_profile,
    reference_profile,
)

RNG = np.random.default_rng(7)
BINARY = Target(column="employed", task="binary", classes=[0, 1], threshold=0.5)


def test_js_distance_is_scipys():
    a, b = np.array([10, 20, 30, 0]), np.array([5, 5, 40, 10])
    assert js_distance(a, b) == pytest.approx(jensenshannon(a / 60, b / 60, base=2))
    assert js_distance(a, a) == 0
    assert js_distance(np.array([1, 0]), np.array([0, 1])) == pytest.approx(1)


def test_wasserstein_on_one_bin_per_value_is_scipys_in_std_units():
    reference = RNG.integers(0, 40, 5000)
    current = reference[:2000] + RNG.integers(0, 4, 2000)
    profile = numeric_profile(reference)
    assert len(profile.counts) == len(np.unique(reference)), "one bin per value"
    counts, _ = counts_like(profile, pd.Series(current.clip(max=reference.max())))
    got = wasserstein(np.array(profile.counts), counts, np.array(profile.means), 1.0)
    expected = stats.wasserstein_distance(reference, current.clip(max=reference.max()))
    assert got == pytest.approx(expected, rel=1e-9)


def test_rank_sum_on_counts_is_scipys_mann_whitney_with_ties():
    reference = RNG.integers(0, 12, 3000)
    current = RNG.integers(1, 13, 800)
    bins = np.arange(14)
    ref_counts = np.bincount(reference, minlength=len(bins))
    cur_counts = np.bincount(current, minlength=len(bins))
    expected = stats.mannwhitneyu(current, reference, method="asymptotic").pvalue
    assert rank_sum_p(ref_counts, cur_counts) == pytest.approx(expected, rel=1e-9)


def test_chi_square_pools_sparse_codes_and_finds_no_change_in_equal_shares():
    reference = np.array([5000, 3000, 1990, 8, 2])
    assert chi_square_p(reference, reference // 2) == pytest.approx(1.0, abs=1e-6)
    assert chi_square_p(reference, np.array([2500, 2500, 995, 4, 1])) < 1e-10
    # cells with tiny expected counts are pooled: two rare codes swapping is no finding
    assert chi_square_p(reference, np.array([2500, 1500, 995, 1, 4])) > 0.5


def test_holm_is_the_step_down_adjustment():
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_unseen_codes_are_counted_apart():
    profile = categorical_profile(pd.Series([1, 1, 2, 3]))
    counts, unseen = counts_like(profile, pd.Series([1, 2, 2, 9, 9, 7, None]))
    assert unseen == [7, 9]
    assert counts.tolist() == [1, 2, 0, 1, 2]


@pytest.fixture(scope="module")
def reference_frame() -> pd.DataFrame:
    rows = 40_000
    return pd.DataFrame(
        {
            "age": RNG.integers(16, 90, rows),
            "code": RNG.choice([1, 2, 3, 4], rows, p=[0.5, 0.3, 0.15, 0.05]),
        }
    )


@pytest.fixture(scope="module")
def profile(reference_frame) -> ReferenceProfile:
    return reference_profile(reference_frame, categorical=["code"])


def batch_of(frame: pd.DataFrame, rows: int, seed: int) -> pd.DataFrame:
    return frame.sample(n=rows, replace=True, random_state=seed).reset_index(drop=True)


def drifted(profile: dict, batch: pd.DataFrame, params) -> dict[str, list[str]]:
    return {f.name: f.reasons for f in compare(profile, batch, params.monitor, 0) if f.drifted}


def test_a_sample_of_the_reference_does_not_drift(profile, reference_frame, params):
    assert drifted(profile, batch_of(reference_frame, 10_000, 1), params) == {}


def test_a_shift_needs_both_a_calibrated_effect_and_a_significant_test(
    profile, reference_frame, params
):
    batch = batch_of(reference_frame, 10_000, 2)
    batch.loc[batch.index[:3000], "age"] += 10
    found = drifted(profile, batch, params)
    assert list(found) == ["age"]
    assert found["age"][0].startswith("Wasserstein / std 0.")
    assert "beyond its calibrated" in found["age"][0]
    assert "(Holm) ≤ 0.01" in found["age"][0]
    # the same shift in a batch of 40 rows is too noisy for the test: no drift
    small = batch.sample(n=40, random_state=5)
    assert drifted(profile, small, params) == {}


def test_a_tiny_effect_in_a_huge_batch_is_not_drift(profile, reference_frame, params):
    """With 400,000 rows a 1-point share change is significant, but within the noise of a
    10,000-row sample: the calibrated effect threshold keeps it out."""
    batch = batch_of(reference_frame, 400_000, 3)
    moved = batch.index[(batch["code"] == 1).to_numpy()][:4_000]
    batch.loc[moved, "code"] = 2
    finding = next(f for f in compare(profile, batch, params.monitor, 0) if f.name == "code")
    assert finding.p_adjusted <= params.monitor.alpha  # significant, yet no drift
    assert finding.effect < finding.threshold
    assert not finding.drifted


def test_missing_values_and_unseen_codes_are_findings_of_their_own(
    profile, reference_frame, params
):
    batch = batch_of(reference_frame, 10_000, 4).astype({"age": "float64", "code": "float64"})
    batch.loc[batch.index[:300], "age"] = np.nan
    batch.loc[batch.index[300:330], "code"] = 9
    found = drifted(profile, batch, params)
    assert found["age"] == ["3.0% missing, 0.0% in the reference"]
    assert found["code"][-1] == "0.30% of rows have codes never seen: 9"


def test_performance_is_judged_by_its_interval(params):
    y = RNG.integers(0, 2, 4000)
    good = y * 0.3 + RNG.random(4000) * 0.7  # overlapping classes: AUC below 1
    rng = np.random.default_rng(0)
    auc = roc_auc_score(y, good)
    held = performance(y, good, BINARY, reference=auc + 0.01, policy=params.monitor, rng=rng)
    assert held.value == pytest.approx(auc)
    assert held.low < held.value < held.high
    assert not held.degraded, "0.01 worse is within the allowed 0.02"
    worse = performance(y, good, BINARY, reference=held.high + 0.03, policy=params.monitor, rng=rng)
    assert worse.degraded
    assert worse.reason.startswith(f"roc_auc {worse.value:.4f} (95% interval ")


def test_a_gap_more_in_a_small_batch_is_noise_and_many_more_are_drift(params):
    reference = categorical_profile(pd.Series([1, 2] * 50 + [None] * 9))  # 8.3% missing
    one_more = pd.Series([1, 2] * 16 + [None] * 4)  # 36 rows, 11.1% missing
    many_more = pd.Series([1, 2] * 12 + [None] * 12)  # 36 rows, 33.3% missing
    for batch, drifted in ((one_more, False), (many_more, True)):
        counts, unseen = counts_like(reference, batch)
        finding = examine("x", "categorical", reference, counts, unseen, int(batch.isna().sum()),
                          params.monitor, 0)  # fmt: skip
        decide([finding], params.monitor)
        assert any("missing" in reason for reason in finding.reasons) is drifted
