"""`cauce monitor`: one batch of production rows against the model that scores them.

ops/ resolves the model (a stage through the tags, or a directory) and reads the batch;
this module judges it and writes the report: `drift.json` (every figure, the decision
and why), `drift.md` (the text of an issue), `drift.html` and a PNG per feature. The
verdict is none, drift, or contract-breach for a batch that breaks the data contract
(reported as such, never as drift); the CLI gives each its exit code.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cauce import UsageError
from cauce.artifact import ModelInfo, Target
from cauce.config import Params
from cauce.events import Verdict
from cauce.files import atomic_directory, write_json, write_text
from cauce.layout import (
    DRIFT_PAGE,
    DRIFT_PLOTS,
    DRIFT_RECORD,
    DRIFT_SUMMARY,
    MODEL_CARD,
    MODEL_FILE,
    REFERENCE_PROFILE,
)
from cauce.model import load_model, score
from cauce.monitoring import drift, report
from cauce.profile import FeatureProfile, ReferenceProfile, profiled_prediction
from cauce.progress import phase

log = logging.getLogger("cauce")

MIN_LABELLED_ROWS = 200  # fewer labelled rows give no useful performance interval


@dataclass(frozen=True)
class Watched:
    """The model a batch is judged against, and what its test split showed."""

    directory: Path
    name: str  # e.g. model@v0.2.0 (prod), or models/
    scores: FeatureProfile | None  # the score profile on the test split (prediction drift)
    metrics: dict[str, float] | None  # the test split's metrics (performance)


@dataclass(frozen=True)
class Judgement:
    """What the monitor decided about a batch, and the lines that say why."""

    verdict: Verdict
    lines: list[str]


def judge(
    params: Params,
    watched: Watched,
    batch: pd.DataFrame,
    batch_name: str,
    violations: list[dict],
    out: Path,
) -> Judgement:
    """Judge `batch` (already checked against the contract) and write the report."""
    _own_directory(out)
    header = {"batch": batch_name, "rows": len(batch), "model": watched.name}
    if violations:
        record = header | {"decision": "contract breach", "violations": violations}
        _write(out, record, report.breach_markdown(record), None)
        said = [f"  - {violation['message']}" for violation in violations]
        return Judgement(
            "contract-breach",
            [f"{batch_name} breaks the data contract: not judged for drift", *said],
        )
    profile = ReferenceProfile.read(
        watched.directory / REFERENCE_PROFILE.name, f"is {watched.directory} a model directory?"
    )
    target = ModelInfo.read(watched.directory / MODEL_CARD.name).target
    with phase("monitor", "batch scored") as now:
        prediction = score(load_model(watched.directory / MODEL_FILE.name), batch)
        now.detail = f"{len(batch):,} rows"
    answers = profiled_prediction(target.task, prediction)
    with phase("monitor", "drift statistics against the training data") as now:
        findings = drift.compare(
            profile, batch, params.monitor, params.data.seed, answers, watched.scores
        )
        now.detail = f"{len(findings)} checks, {params.monitor.resamples:,} resamples each"
    findings.sort(key=lambda f: (f.drifted, f.effect / (f.threshold or 1)), reverse=True)
    with phase("monitor", "performance on the labelled rows"):
        performance, unjudged = _performance(params, watched, batch, prediction, target, batch_name)
    drifted = [f for f in findings if f.drifted]
    degraded = performance is not None and performance.degraded
    record = header | {
        "decision": "drift" if drifted or degraded else "no drift",
        "drifted": [f.name for f in drifted],
        "performance": None if performance is None else asdict(performance),
        "policy": params.monitor.model_dump(),
        "notes": [
            *([] if watched.scores else ["no score profile for this model: no prediction drift"]),
            *([unjudged] if unjudged else []),
        ],
        "features": [asdict(f) | {"drifted": f.drifted} for f in findings],
    }
    with phase("monitor", "report and plots written") as now:
        _write(out, record, report.markdown(record), findings)
        now.detail = str(out)
    lines = [f"{finding.name}: drift: {'; '.join(finding.reasons)}" for finding in drifted]
    if performance is not None and performance.degraded:
        lines.append(f"performance: {performance.reason}")
    if unjudged:
        lines.append(unjudged)
    lines.append(
        f"{record['decision']}: {len(drifted)} of {len(findings)} checked "
        f"({len(batch):,} rows of {batch_name} against {watched.name}); "
        f"report {out / DRIFT_PAGE.name}"
    )
    return Judgement("drift" if record["decision"] == "drift" else "none", lines)


def _performance(
    params: Params,
    watched: Watched,
    batch: pd.DataFrame,
    prediction: np.ndarray,
    target: Target,
    batch_name: str,
) -> tuple[drift.Performance | None, str | None]:
    """Performance when the batch has enough labelled rows (of both classes, for a binary
    model); otherwise None and why it was not judged."""
    if target.column not in batch.columns:
        return None, f"performance not judged: {batch_name} has no {target.column!r} column"
    labelled = batch[target.column].notna().to_numpy()
    rows = int(labelled.sum())
    if rows < MIN_LABELLED_ROWS:
        return None, (
            f"performance not judged: {rows:,} labelled rows in {batch_name}, fewer than "
            f"the {MIN_LABELLED_ROWS} a useful interval needs"
        )
    y_true = target.encode(batch.loc[labelled, target.column], batch_name)
    if target.task == "binary" and np.unique(y_true).size < 2:
        return None, f"performance not judged: {batch_name}'s labelled rows have one class"
    metric = params.monitor.performance.metric
    reference = (watched.metrics or {}).get(metric)
    judged = drift.performance(
        y_true,
        prediction[labelled],
        target,
        reference,
        params.monitor,
        np.random.default_rng(params.data.seed),
    )
    return judged, None


def _write(out: Path, record: dict, summary: str, findings: list[drift.Finding] | None) -> None:
    """The whole report, replacing the last one at once: no file (or picture) of an
    earlier run is left beside it, and a failure leaves the earlier report whole."""
    with atomic_directory(out) as staging:
        write_text(staging / DRIFT_SUMMARY.name, summary)
        write_text(staging / DRIFT_PAGE.name, report.page(record, findings, staging))
        write_json(staging / DRIFT_RECORD.name, record)


REPORT_FILES = {DRIFT_RECORD.name, DRIFT_SUMMARY.name, DRIFT_PAGE.name, DRIFT_PLOTS.name}


def _own_directory(out: Path) -> None:
    """The report replaces `out` whole: refuse a directory that holds anything else."""
    other = (
        sorted(p.name for p in out.iterdir() if p.name not in REPORT_FILES) if out.is_dir() else []
    )
    if other:
        raise UsageError(
            f"--out {out}: holds files that are not a drift report ({', '.join(other[:5])}); "
            "give a directory of its own, e.g. reports/monitor"
        )
