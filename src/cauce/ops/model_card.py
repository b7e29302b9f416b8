"""The model card of a version: what it is for, what it learned from, how well it does.

Its facts come from the version itself: the model directory's `model.json` (data,
target, estimator, threshold) and the metrics committed with it, never from today's
params.yaml, so the card of an old version stays true as the parameters evolve. Its
words (intended use, limitations) are the team's, from `card` in params.yaml.
"""

from __future__ import annotations

from pathlib import Path
from string import Template

from cauce.artifact import ModelInfo
from cauce.config import Params
from cauce.ops.gate import Evidence
from cauce.ops.report import groups_section, metrics_table
from cauce.ops.revisions import flatten

TEMPLATE = Path(__file__).with_name("model_card.md")


def target_line(info: ModelInfo) -> str:
    """What the model predicts, in the words of its task."""
    target, data = info.target, info.data
    if target.task == "binary":
        return (
            f"`{target.column}`, binary: the probability of {target.positive!r} "
            f"({data.positive_share:.1%} of the training rows)"
        )
    if target.task == "multiclass":
        shares = ", ".join(
            f"{label!r} {share:.1%}"
            for label, share in zip(target.classes or [], data.class_shares or [], strict=True)
        )
        return f"`{target.column}`, multiclass: a probability per class ({shares})"
    return f"`{target.column}`, regression: its value (mean {data.target_mean:.4g} in training)"


def model_card(
    info: ModelInfo, version: str, stage: str, evidence: Evidence, params: Params
) -> str:
    """The card as markdown; `params` gives only today's reporting policy (group metric)
    and the card's text (its intended use and limitations)."""
    hyperparameters = {k: v for k, v in flatten(info.params).items() if k != "model"}
    mine = Evidence(base="–", metrics=evidence.metrics, groups=evidence.groups)
    threshold = info.target.threshold
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        name=info.name,
        version=version,
        stage=stage,
        intended_use=params.card.intended_use.strip(),
        source=info.data.source,
        years=", ".join(map(str, info.data.train_years or [])) or "all rows (no time column)",
        rows=f"{info.data.rows:,}",
        test_rows=f"{int(evidence.metrics.get('test_rows', 0)):,}",
        target=target_line(info),
        estimator=info.params["model"],
        params_line=", ".join(f"`{k}={v}`" for k, v in hyperparameters.items()),
        threshold=f" Decision threshold {threshold}." if threshold is not None else "",
        metrics=metrics_table(mine, label=version, with_base=False),
        groups=groups_section(mine, params, label=version, with_base=False),
        limitations="\n".join(f"- {line}" for line in params.card.limitations),
        min_rows=params.gate.groups.min_rows,
    )
