"""Release notes and the model card, written by `cauce release` into reports/release/."""

from __future__ import annotations

from pathlib import Path
from string import Template
from typing import TYPE_CHECKING

from cauce.config import Params
from cauce.ops import revisions
from cauce.ops.gate import Evidence
from cauce.ops.report import groups_section, metrics_table
from cauce.ops.revisions import flatten

if TYPE_CHECKING:
    from cauce.ops.registry import Version
    from cauce.ops.release import Change, Decision

TEMPLATE = Path(__file__).with_name("model_card.md")


def release_notes(
    version: str, stage: str, change: Change, decision: Decision, previous: Version | None
) -> str:
    evidence = decision.evidence
    lines = [
        f"# model {version}",
        f"**{stage}** — {decision.reason}.",
        f"## What changed since {previous.ref if previous else 'the beginning'}",
        "\n".join(f"- {reason}" for reason in change.reasons) or "- nothing (re-release)",
    ]
    if evidence.champion_metrics is not None:
        against = Evidence(
            base=evidence.champion or "production",
            metrics=evidence.metrics,
            groups=evidence.groups,
            base_metrics=evidence.champion_metrics,
            base_groups=evidence.champion_groups,
        )
        lines += [
            f"## Against {evidence.champion}, on this version's test split",
            metrics_table(against, label=version),
        ]
    return "\n\n".join(lines) + "\n"


def model_card(params: Params, version: str, stage: str, evidence: Evidence) -> str:
    validation = revisions.read_json("reports/validation.json") or {}
    hyperparameters = flatten(params.train.estimator_params())
    mine = Evidence(base="–", metrics=evidence.metrics, groups=evidence.groups)
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        name="model",
        version=version,
        stage=stage,
        source=params.data.source,
        years=", ".join(map(str, params.data.train_years)),
        rows=f"{validation.get('rows', 0):,}",
        test_rows=f"{int(evidence.metrics.get('test_rows', 0)):,}",
        positive_share=_share(evidence.groups),
        estimator=params.train.model,
        params_line=", ".join(f"`{k}={v}`" for k, v in hyperparameters.items()),
        threshold=params.evaluate.threshold,
        metrics=metrics_table(mine, label=version, with_base=False),
        groups=groups_section(mine, params, label=version, with_base=False),
        min_rows=params.gate.groups.min_rows,
    )


def _share(groups: dict) -> str:
    """The positive share over the test split, from any slice's groups."""
    column = next(iter(groups.values()), {})
    rows = sum(g["rows"] for g in column.values())
    positives = sum(g["rows"] * g["positive_share"] for g in column.values())
    return f"{positives / rows:.1%}" if rows else "–"
