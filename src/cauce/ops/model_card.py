"""The model card of a version: what it is for, what it learned from, how well it does.

Its facts come from the version itself: the model directory's `model.json` (data,
estimator, threshold) and the metrics committed with it, never from today's params.yaml,
so the card of an old version stays true as the parameters evolve.
"""

from __future__ import annotations

from pathlib import Path
from string import Template
from typing import Any

from cauce.config import Params
from cauce.ops.gate import Evidence
from cauce.ops.report import groups_section, metrics_table
from cauce.ops.revisions import flatten

TEMPLATE = Path(__file__).with_name("model_card.md")


def model_card(
    card: dict[str, Any], version: str, stage: str, evidence: Evidence, params: Params
) -> str:
    """The card as markdown; `params` gives only today's reporting policy (group metric)."""
    data = card["data"]
    hyperparameters = {k: v for k, v in flatten(card["params"]).items() if k != "model"}
    mine = Evidence(base="–", metrics=evidence.metrics, groups=evidence.groups)
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(
        name=card.get("name", "model"),
        version=version,
        stage=stage,
        source=data["source"],
        years=", ".join(map(str, data["train_years"])),
        rows=f"{data['rows']:,}",
        test_rows=f"{int(evidence.metrics.get('test_rows', 0)):,}",
        positive_share=f"{data['positive_share']:.1%}",
        estimator=card["params"]["model"],
        params_line=", ".join(f"`{k}={v}`" for k, v in hyperparameters.items()),
        threshold=card["threshold"],
        metrics=metrics_table(mine, label=version, with_base=False),
        groups=groups_section(mine, params, label=version, with_base=False),
        min_rows=params.gate.groups.min_rows,
    )
