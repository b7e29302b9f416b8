"""Plot diffs as PNG images, rendered offline from DVC's own Vega-Lite specs.

`dvc plots diff BASE --json` gives one spec per plot in dvc.yaml with both revisions'
data; vl-convert renders each to PNG, so the PR comment shows pictures, not links.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from cauce import tools
from cauce.files import write_bytes, write_json
from cauce.layout import PLOT_IMAGES

THIS_PR = "this PR"


def plot_specs(base: str) -> dict[str, dict[str, Any]]:
    """Vega-Lite spec per plot title, with the workspace revision named "this PR"."""
    result = tools.run("dvc", "plots", "diff", base, "--json")
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


def render(base: str, folder: Path) -> dict[str, dict[str, Any]]:
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
