"""Plot diffs as PNG images, rendered offline from DVC's own Vega-Lite specs.

`dvc plots diff BASE --json` gives one spec per plot in dvc.yaml with both revisions'
data; vl-convert renders each to PNG, so the PR comment shows pictures, not links.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cauce import tools
from cauce.files import write_bytes, write_json
from cauce.layout import PLOT_IMAGES
from cauce.metrics import METRICS

if TYPE_CHECKING:
    from cauce.ops.gate import Check

THIS_PR = "this PR"


def plot_specs(base: str | None) -> dict[str, dict[str, Any]]:
    """Vega-Lite spec per plot title, with the workspace revision named "this PR"; this
    PR's alone without a `base` (one of another task: its curves, labels and features
    would be drawn on this model's axes)."""
    command = ("plots", "diff", base) if base is not None else ("plots", "show")
    result = tools.run("dvc", *command, "--json")
    specs = {}
    for title, renders in json.loads(result.stdout).get("data", {}).items():
        spec = next((r["content"] for r in renders if r.get("type") == "vega"), None)
        if spec is None:
            continue
        specs[title] = _rename_workspace(spec)
    return specs


def _rename_workspace(node: Any) -> Any:
    """DVC calls the working tree "workspace" in the data and in colour scales alike."""
    if isinstance(node, dict):
        return {key: _rename_workspace(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_rename_workspace(value) for value in node]
    return THIS_PR if node == "workspace" else node


def slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def render(base: str | None, folder: Path) -> dict[str, dict[str, Any]]:
    """Write one PNG per plot into `folder`; return {title: {file, revisions}}."""
    import vl_convert

    rendered = {}
    for title, spec in plot_specs(base).items():
        file = folder / f"{slug(title)}.png"
        write_bytes(file, vl_convert.vegalite_to_png(spec, scale=1.5))
        revisions = list(dict.fromkeys(p.get("rev") for p in spec["data"]["values"]))
        rendered[title] = {"file": file.name, "revisions": revisions}
    write_json(folder / PLOT_IMAGES.name, rendered)
    return rendered


def forest(checks: list[Check], file: Path) -> Path | None:
    """A forest plot of every regression check that has an interval: one panel per gated
    metric (and one for its groups), each on its own scale, with the change and its
    interval turned so that better is to the right, zero, and the allowance it may not
    pass; None (and no file) when no check has an interval."""
    values = []
    for check in checks:
        # the constant's margin is far larger than any allowance: it is said in words
        if check.interval is None or check.limit is None or check.rule == "constant":
            continue
        metric, _, group = check.metric.partition(" ")
        turn = 1 if METRICS[metric].higher_is_better else -1
        ends = sorted(turn * end for end in (check.interval.low, check.interval.high))
        values.append(
            {
                "panel": METRICS[metric].label + (" per group" if group else ""),
                "check": f"{group} vs {check.against}" if group else f"vs {check.against}",
                "change": turn * check.interval.delta,
                "low": ends[0],
                "high": ends[1],
                "allowance": -check.limit,
                "gate": "passes" if check.passed else "fails",
            }
        )
    if not values:
        file.unlink(missing_ok=True)  # an earlier report's picture would be of other changes
        return None
    colour = {
        "field": "gate",
        "type": "nominal",
        "scale": {"domain": ["passes", "fails"], "range": ["#4c78a8", "#e45756"]},
        "title": "gate",
    }
    x = {"type": "quantitative", "title": "change (better →)", "scale": {"padding": 12}}
    y = {"field": "check", "type": "nominal", "sort": None, "title": None}
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": {
            "text": "Each gated change with its interval, better to the right",
            "subtitle": "grey: no change; red: the allowance (−max_regression). A check "
            "fails when its dot is left of the red line and its whole interval left of grey.",
        },
        "data": {"values": values},
        "facet": {
            "row": {
                "field": "panel",
                "type": "nominal",
                "sort": list(dict.fromkeys(v["panel"] for v in values)),
                "title": None,
                "header": {"labelAngle": 0, "labelAlign": "left", "labelFontWeight": "bold"},
            }
        },
        "spec": {
            "width": 380,
            "height": {"step": 18},
            "layer": [
                {"mark": {"type": "rule", "color": "#888"}, "encoding": {"x": {"datum": 0, **x}}},
                {
                    "mark": {"type": "rule", "color": "#e45756", "strokeDash": [4, 3]},
                    "encoding": {"x": {"field": "allowance", **x}},
                },
                {
                    "mark": {"type": "rule", "strokeWidth": 2},
                    "encoding": {
                        "y": y,
                        "x": {"field": "low", **x},
                        "x2": {"field": "high"},
                        "color": colour,
                    },
                },
                {
                    "mark": {"type": "point", "filled": True, "size": 45, "opacity": 1},
                    "encoding": {"y": y, "x": {"field": "change", **x}, "color": colour},
                },
            ],
        },
        "resolve": {"scale": {"x": "independent", "y": "independent"}},
    }
    import vl_convert

    write_bytes(file, vl_convert.vegalite_to_png(spec, scale=1.5))
    return file
