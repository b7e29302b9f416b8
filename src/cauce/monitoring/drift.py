"""Drift that can be trusted: the statistics of `cauce monitor`.

A feature drifts when two things hold at once:

1. **The change is large enough to matter.** Its effect size — the Jensen–Shannon
   distance between code shares for a categorical feature, the Wasserstein distance in
   units of the reference's standard deviation for a numeric one — is beyond a threshold
   calibrated on the reference itself: the `quantile` of the effect over `resamples`
   pairs of samples drawn from it, one of the reference's size and one of
   `calibration_rows` rows (drawing from a profile's counts is resampling the training
   rows). Because the threshold is set at a fixed sample size, a large batch does not
   make every small difference count: it has to exceed the noise of a
   `calibration_rows`-row sample.
2. **It is not noise for this batch's size.** A valid two-sample test — chi-square on
   the contingency table of codes (sparse codes pooled), or for a numeric feature the
   rank-sum test (location) and chi-square on its bins (shape), Bonferroni-combined —
   rejects equality after Holm's correction across all features at `alpha`. This guards
   small batches, whose effects are noisy.

The model's scores are checked the same way against its scores on the test split
(prediction drift). Missing values beyond the reference's share and codes the model
never saw are findings of their own; performance, when the batch has the target, is
compared with the test split's with a bootstrap confidence interval.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from cauce.artifact import Target
from cauce.config import MonitorParams
from cauce.metrics import METRICS
from cauce.profile import (
    CategoricalProfile,
    FeatureProfile,
    ReferenceProfile,
    counts_like,
    numeric_labels,
)

PREDICTION = "prediction"
MIN_EXPECTED = 5  # expected count below which codes or bins are pooled for chi-square


@dataclass
class Finding:
    """What the monitor found for one feature, or for the model's scores."""

    name: str
    kind: str  # categorical, numeric, prediction
    effect: float
    threshold: float
    p_value: float
    p_adjusted: float = 1.0
    rows: int = 0  # in the batch
    labels: list[str] = field(default_factory=list)  # codes, or bin ranges
    starts: list[float] = field(default_factory=list)  # numeric: where each bin starts
    reference: list[float] = field(default_factory=list)  # shares per label
    current: list[float] = field(default_factory=list)
    missing: tuple[float, float] = (0.0, 0.0)  # share of missing values: reference, batch
    unseen: dict[str, int] = field(default_factory=dict)  # codes the reference lacks: rows
    reasons: list[str] = field(default_factory=list)  # why it drifted; empty when it did not

    @property
    def drifted(self) -> bool:
        return bool(self.reasons)

    @property
    def effect_name(self) -> str:
        return "Wasserstein / std" if self.starts else "JS distance"  # bins, or codes


# --- effect sizes, vectorised over rows of count arrays -------------------------------


def js_distance(reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Jensen–Shannon distance (base 2, in [0, 1]) between count vectors, row by row."""
    p = _shares(reference)
    q = _shares(current)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum(axis=-1)
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum(axis=-1)
    return np.sqrt(np.maximum((kl_p + kl_q) / 2, 0.0))


def wasserstein(
    reference: np.ndarray, current: np.ndarray, means: np.ndarray, std: float
) -> np.ndarray:
    """Wasserstein-1 distance between binned distributions, in reference std units.

    Each bin stands for its mean value; the distance is the area between the two
    cumulative distributions over those values.
    """
    gaps = np.diff(means)
    cdf_gap = np.abs(np.cumsum(_shares(reference), axis=-1) - np.cumsum(_shares(current), axis=-1))
    return (cdf_gap[..., :-1] * gaps).sum(axis=-1) / (std or 1.0)


def _shares(counts: np.ndarray) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    total = counts.sum(axis=-1, keepdims=True)
    return counts / np.where(total > 0, total, 1)


# --- two-sample tests on counts ---------------------------------------------------------


def chi_square_p(reference: np.ndarray, current: np.ndarray) -> float:
    """Chi-square test of homogeneity on two count vectors; sparse cells are pooled."""
    reference, current = np.asarray(reference), np.asarray(current)
    together = reference + current
    total = max(together.sum(), 1)
    # the smaller row's expected counts: cells too sparse on either side are pooled
    expected = together * min(reference.sum(), current.sum()) / total
    sparse = expected < MIN_EXPECTED
    if sparse.any():
        reference = np.append(reference[~sparse], reference[sparse].sum())
        current = np.append(current[~sparse], current[sparse].sum())
    table = np.vstack([reference, current])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return 1.0
    return float(stats.chi2_contingency(table, correction=False).pvalue)


def rank_sum_p(reference: np.ndarray, current: np.ndarray) -> float:
    """Mann–Whitney U test (two-sided, normal approximation with the tie correction)
    on two samples given as counts per ordered bin: all values in a bin are ties."""
    reference, current = np.asarray(reference, float), np.asarray(current, float)
    n_ref, n_cur = reference.sum(), current.sum()
    total = n_ref + n_cur
    if n_ref == 0 or n_cur == 0:
        return 1.0
    together = reference + current
    midranks = np.cumsum(together) - (together - 1) / 2
    u = (current * midranks).sum() - n_cur * (n_cur + 1) / 2
    ties = (together**3 - together).sum() / (total * (total - 1))
    variance = n_ref * n_cur / 12 * ((total + 1) - ties)
    if variance <= 0:
        return 1.0
    z = (abs(u - n_ref * n_cur / 2) - 0.5) / np.sqrt(variance)
    return float(min(1.0, 2 * stats.norm.sf(max(z, 0.0))))


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment: family-wise error control across the features.

    Our own eight lines: scipy offers only false-discovery-rate corrections
    (false_discovery_control), and statsmodels' multipletests, the usual home of Holm's,
    would add a large dependency for it. tests/monitoring checks it against Holm's
    definition."""
    order = np.argsort(p_values)
    m = len(p_values)
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


# --- one profile entry against a batch --------------------------------------------------


def _effect(entry: FeatureProfile, reference: np.ndarray, current: np.ndarray) -> np.ndarray:
    if isinstance(entry, CategoricalProfile):
        return js_distance(reference, current)
    return wasserstein(reference, current, np.asarray(entry.means), entry.std)


def threshold(entry: FeatureProfile, policy: MonitorParams, rng: np.random.Generator) -> float:
    """The `quantile` of the effect between pairs of samples drawn from the reference:
    one of the reference's own size, one of `calibration_rows`. Both sides vary, as
    they do for a real batch: a small reference is itself a noisy picture of its data."""
    shares = _shares(np.asarray(entry.counts, dtype=float))
    references = rng.multinomial(sum(entry.counts), shares, size=policy.resamples)
    samples = rng.multinomial(policy.calibration_rows, shares, size=policy.resamples)
    return float(np.quantile(_effect(entry, references, samples), policy.quantile))


def examine(
    name: str,
    kind: str,
    entry: FeatureProfile,
    counts: np.ndarray,
    unseen: list[Any],
    missing: int,
    policy: MonitorParams,
    seed: int,
) -> Finding:
    """Effect, calibrated threshold and raw p-value of one feature (decided later).

    Each check draws from its own stream, seeded by `seed` and its name, so that adding
    or reordering features leaves every other threshold as it was.
    """
    rng = np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])
    known = len(entry.counts)
    reference = np.append(np.asarray(entry.counts), np.zeros(len(unseen)))
    rows = int(counts.sum()) + missing
    if isinstance(entry, CategoricalProfile):
        p_value = chi_square_p(reference, counts)
        labels = [str(code) for code in [*entry.codes, *unseen]]
        starts = []
    else:
        p_value = min(1.0, 2 * min(rank_sum_p(reference, counts), chi_square_p(reference, counts)))
        labels = numeric_labels(entry.starts)
        starts = entry.starts
    return Finding(
        name=name,
        kind=kind,
        effect=float(_effect(entry, reference, counts)),
        threshold=threshold(entry, policy, rng),
        p_value=p_value,
        rows=rows,
        labels=labels,
        starts=starts,
        reference=_shares(reference).tolist(),
        current=_shares(counts).tolist(),
        missing=(entry.missing / max(entry.rows, 1), missing / max(rows, 1)),
        unseen={str(code): int(c) for code, c in zip(unseen, counts[known:], strict=True)},
    )


def more_missing_p(finding: Finding) -> float:
    """How likely the batch's missing values, or more, are at the reference's share: on a
    small batch one more gap is several points of share, and that is noise, not drift."""
    reference_missing, batch_missing = finding.missing
    missing = round(batch_missing * finding.rows)
    return float(stats.binom.sf(missing - 1, finding.rows, reference_missing))


def decide(findings: list[Finding], policy: MonitorParams) -> None:
    """Holm-adjust the p-values across `findings` and give each drifted one its reasons."""
    for finding, adjusted in zip(findings, holm([f.p_value for f in findings]), strict=True):
        finding.p_adjusted = adjusted
        if finding.effect > finding.threshold and adjusted <= policy.alpha:
            finding.reasons.append(
                f"{finding.effect_name} {finding.effect:.4f} beyond its calibrated "
                f"{finding.threshold:.4f}, p = {adjusted:.2g} (Holm) ≤ {policy.alpha}"
            )
        reference_missing, batch_missing = finding.missing
        if batch_missing - reference_missing > policy.max_missing_increase and (
            more_missing_p(finding) <= policy.alpha
        ):
            finding.reasons.append(
                f"{batch_missing:.1%} missing, {reference_missing:.1%} in the reference"
            )
        unseen = sum(finding.unseen.values()) / max(finding.rows, 1)
        if unseen > policy.max_unseen_share:
            codes = ", ".join(finding.unseen)
            finding.reasons.append(f"{unseen:.2%} of rows have codes never seen: {codes}")


# --- performance ---------------------------------------------------------------------------


@dataclass
class Performance:
    metric: str
    value: float
    low: float
    high: float
    reference: float | None  # on the test split
    degraded: bool
    reason: str | None


def performance(
    y_true: np.ndarray,
    prediction: np.ndarray,
    target: Target,
    reference: float | None,
    policy: MonitorParams,
    rng: np.random.Generator,
) -> Performance:
    """The metric on the batch with a bootstrap interval, against the test split's."""
    rule = policy.performance
    metric = METRICS[rule.metric]
    task, threshold = target.task, target.threshold
    value = metric.compute(task, y_true, prediction, threshold)
    rows = len(y_true)
    estimates = []
    for _ in range(rule.resamples):
        sample = rng.integers(0, rows, rows)
        # A binary metric needs both classes in a resample; the others need nothing more.
        if task != "binary" or np.unique(y_true[sample]).size == 2:
            estimates.append(metric.compute(task, y_true[sample], prediction[sample], threshold))
    tail = (1 - rule.confidence) / 2
    low, high = np.quantile(estimates, [tail, 1 - tail])
    degraded, reason = False, None
    if reference is not None:
        if metric.higher_is_better:
            degraded = high < reference - rule.max_drop
        else:
            degraded = low > reference + rule.max_drop
        if degraded:
            reason = (
                f"{rule.metric} {value:.4f} ({rule.confidence:.0%} interval {low:.4f}–"
                f"{high:.4f}) against {reference:.4f} on the test split, allowed "
                f"{rule.max_drop} worse"
            )
    return Performance(
        rule.metric, value, float(low), float(high), reference, bool(degraded), reason
    )


def compare(
    reference: ReferenceProfile,
    batch: pd.DataFrame,
    policy: MonitorParams,
    seed: int,
    scores: np.ndarray | None = None,
    score_reference: FeatureProfile | None = None,
) -> list[Finding]:
    """Every feature of `reference` (and the scores, when given) against `batch`, decided."""
    findings = []
    for name, entry in reference.features.items():
        counts, unseen = counts_like(entry, batch[name])
        missing = int(batch[name].isna().sum())
        findings.append(examine(name, entry.kind, entry, counts, unseen, missing, policy, seed))
    if scores is not None and score_reference is not None:
        counts, _ = counts_like(score_reference, pd.Series(scores))
        findings.append(
            examine(PREDICTION, PREDICTION, score_reference, counts, [], 0, policy, seed)
        )
    decide(findings, policy)
    return findings
