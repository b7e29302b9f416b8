"""`cauce gate --base REV`: may this pull request's model be merged?

The policy is the `gate` section of params.yaml (so lowering it shows in the PR's params
diff): bounds on this PR's metrics, and how much worse than the base branch, and than the
production model evaluated on this PR's test set, each metric and each group may get.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from cauce import CauceError
from cauce.config import GateParams, Params
from cauce.files import write_json
from cauce.layout import (
    EVALUATE_METRICS,
    GATE_VERDICT,
    GROUP_METRICS,
    MODEL_CARD,
    MODEL_FILE,
    REPRODUCTION,
    TEST_SPLIT,
)
from cauce.metrics import METRICS
from cauce.ops import registry, revisions
from cauce.progress import phase

log = logging.getLogger("cauce")


@dataclass
class Evidence:
    """Everything the gate and the report compare, gathered once."""

    base: str
    metrics: dict[str, Any]
    groups: dict[str, Any]
    base_metrics: dict[str, Any] | None = None
    base_groups: dict[str, Any] | None = None
    champion: str | None = None
    champion_metrics: dict[str, Any] | None = None
    champion_groups: dict[str, Any] | None = None
    reproduction: dict[str, Any] | None = None  # what `cauce reproduce` found for this commit
    notes: list[str] = field(default_factory=list)


# Checks of this model on its own, reported before comparisons with others.
BOUNDS = ("reproduced", "present", "min", "max")
# Differences smaller than this are float arithmetic, not a change (0.905 - 0.9 > 0.005).
FLOAT_NOISE = 1e-9


@dataclass
class Check:
    rule: str
    metric: str
    value: float | None
    limit: float | None
    passed: bool
    message: str


def gather(base: str, params: Params, champion: bool = True, command: str = "gate") -> Evidence:
    """This PR's metrics, the base revision's, and the champion's on this PR's test set:
    one phase of `command` (scoring the champion takes seconds)."""
    with phase(command, f"metrics of this PR, {base} and production") as now:
        evidence = _gather(base, params, champion)
        now.detail = f"production: {evidence.champion or 'none yet'}"
    return evidence


def _gather(base: str, params: Params, champion: bool) -> Evidence:
    revisions.resolve(base)
    metrics = revisions.read_json(EVALUATE_METRICS)
    if metrics is None:
        raise CauceError(f"{EVALUATE_METRICS} not found: run `dvc repro` first")
    evidence = Evidence(
        base=base,
        metrics=metrics,
        groups=revisions.read_json(GROUP_METRICS) or {},
        base_metrics=revisions.read_json(EVALUATE_METRICS, base),
        base_groups=revisions.read_json(GROUP_METRICS, base),
    )
    found = revisions.read_json(REPRODUCTION)
    if found is not None and found.get("commit") == revisions.resolve("HEAD"):
        evidence.reproduction = found
    if evidence.base_metrics is None:
        evidence.notes.append(
            f"{base} has no {EVALUATE_METRICS} (a first pull request?): "
            "only this PR's own numbers and the gate's bounds apply."
        )
    if champion:
        _score_champion(evidence, params)
    return evidence


def score_version(version_ref: str, params: Params) -> tuple[dict[str, Any], dict[str, Any]]:
    """Metrics and group metrics of a registered version on *this* checkout's test split."""
    from cauce.artifact import ModelInfo
    from cauce.model import load_model, score
    from cauce.pipeline.evaluate import measure

    with tempfile.TemporaryDirectory() as folder:
        fetched = registry.fetch(registry.version_of(version_ref), Path(folder) / "model")
        pipeline = load_model(fetched / MODEL_FILE.name)
    test = pd.read_parquet(TEST_SPLIT)
    # Judged as this PR's model is: its labels and threshold, on its test split.
    target = ModelInfo.read(MODEL_CARD).target
    return measure(test, score(pipeline, test), target, params)


def _score_champion(evidence: Evidence, params: Params) -> None:
    version = registry.production_version()
    if version is None:
        return
    evidence.champion = version
    try:
        evidence.champion_metrics, evidence.champion_groups = score_version(version, params)
    except (CauceError, OSError) as error:
        evidence.notes.append(f"The production model {version} could not be scored: {error}")


def worsening(metric: str, old: float, new: float) -> float:
    """How much worse `new` is than `old`, in the metric's own direction (negative: better)."""
    return old - new if METRICS[metric].higher_is_better else new - old


def within(worse: float, allowed: float) -> bool:
    """Is a worsening within its allowance? Exactly the allowance is."""
    return worse <= allowed + FLOAT_NOISE


def decide(gate: GateParams, evidence: Evidence) -> list[Check]:
    """Every check the policy asks for, passed or not."""
    checks: list[Check] = []
    if evidence.reproduction is not None:
        checks.append(_reproduced(evidence.reproduction))
    comparisons = [
        (evidence.base, evidence.base_metrics, evidence.base_groups),
        (f"production {evidence.champion}", evidence.champion_metrics, evidence.champion_groups),
    ]
    for metric, rule in gate.metrics.items():
        value = evidence.metrics.get(metric)
        if value is None:
            message = f"{metric} is missing from {EVALUATE_METRICS}"
            checks.append(Check("present", metric, None, None, False, message))
            continue
        if rule.min is not None:
            checks.append(
                Check(
                    "min",
                    metric,
                    value,
                    rule.min,
                    value >= rule.min,
                    f"{metric} {value:.4f} is below the floor {rule.min}",
                )
            )
        if rule.max is not None:
            checks.append(
                Check(
                    "max",
                    metric,
                    value,
                    rule.max,
                    value <= rule.max,
                    f"{metric} {value:.4f} is above the ceiling {rule.max}",
                )
            )
        if rule.max_regression is None:
            continue
        for against, reference, _ in comparisons:
            old = (reference or {}).get(metric)
            if old is None:
                continue
            worse = worsening(metric, old, value)
            checks.append(
                Check(
                    f"regression vs {against}",
                    metric,
                    worse,
                    rule.max_regression,
                    within(worse, rule.max_regression),
                    f"{metric} got worse by {worse:.4f} vs {against} ({old:.4f} → {value:.4f}, "
                    f"allowed {rule.max_regression})",
                )
            )
    metric, allowed = gate.groups.metric, gate.groups.max_regression
    for against, _, reference_groups in comparisons:
        for column, groups in (reference_groups or {}).items():
            for group, old_entry in groups.items():
                new_entry = evidence.groups.get(column, {}).get(group, {})
                old, new = old_entry.get(metric), new_entry.get(metric)
                if old is None or new is None or new_entry["rows"] < gate.groups.min_rows:
                    continue
                worse = worsening(metric, old, new)
                checks.append(
                    Check(
                        f"group regression vs {against}",
                        f"{metric} {column}={group}",
                        worse,
                        allowed,
                        within(worse, allowed),
                        f"{metric} for {column}={group} got worse by {worse:.4f} vs {against} "
                        f"({old:.4f} → {new:.4f}, allowed {allowed})",
                    )
                )
    return checks


def _reproduced(found: dict[str, Any]) -> Check:
    passed = bool(found.get("reproduced"))
    if passed:
        message = "the pipeline reproduced what dvc.lock records"
    elif "failed" in found:
        message = "dvc repro failed"
    else:
        changed = ", ".join(f"{d['stage']}'s {d['path']}" for d in found["differences"])
        message = f"the pipeline is not reproducible: {changed} differ from dvc.lock"
    return Check("reproduced", "dvc.lock", None, None, passed, message)


def failures(checks: list[Check]) -> list[Check]:
    """The failed checks, broken bounds first, then regressions."""
    return sorted((c for c in checks if not c.passed), key=lambda c: c.rule not in BOUNDS)


def verdict(checks: list[Check]) -> str:
    """One sentence: passed or failed, and why."""
    failed = failures(checks)
    if not failed:
        return f"Gate passed: all {len(checks)} checks hold."
    reasons = "; ".join(c.message for c in failed[:3])
    more = f"; and {len(failed) - 3} more" if len(failed) > 3 else ""
    return f"Gate failed ({len(failed)} of {len(checks)} checks): {reasons}{more}."


@dataclass(frozen=True)
class Judged:
    """The gate's checks of this model, and the ones it failed."""

    checks: list[Check]

    @property
    def failed(self) -> list[Check]:
        return failures(self.checks)

    def lines(self) -> list[str]:
        """The verdict, then each failed check on a line of its own."""
        failed = self.failed
        if not failed:
            return [verdict(self.checks)]
        said = f"Gate failed ({len(failed)} of {len(self.checks)} checks):"
        return [said, *(f"  - {check.message}" for check in failed)]


def run(params: Params, base: str) -> Judged:
    """`cauce gate`: judge this model against `base` and production; the verdict is kept
    in reports/gate/verdict.json."""
    evidence = gather(base, params)
    checks = decide(params.gate, evidence)
    failed = failures(checks)
    write_json(
        GATE_VERDICT,
        {
            "passed": not failed,
            "verdict": verdict(checks),
            "base": base,
            "champion": evidence.champion,
            "failures": [c.message for c in failed],
            "checks": [asdict(c) for c in checks],
            "notes": evidence.notes,
        },
    )
    for note in evidence.notes:
        log.info(note)
    return Judged(checks)
