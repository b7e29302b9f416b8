"""The drift report for people: Markdown for an issue, a page with a picture per feature.

Each picture sets the batch against the reference: code shares side by side for a
categorical feature, shares over equal-width bins for a numeric one and for the model's
scores (whose reference is the test split). PNGs are rendered offline
with vl-convert and inlined in the page, so the page is one file anyone can open.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

import numpy as np

from cauce.files import write_bytes
from cauce.layout import DRIFT_PLOTS
from cauce.metrics import METRICS
from cauce.monitoring.drift import PREDICTION, Finding

REFERENCE, TEST_SPLIT, BATCH = "training data", "test split", "this batch"
COLOURS = ["#8c8c8c", "#d6604d"]
DISPLAY_BINS = 40
DOCS = "docs/operate.md"


def verdict_line(record: dict[str, Any]) -> str:
    if record["decision"] == "contract breach":
        count = len(record["violations"])
        return f"⛔ **The batch breaks the data contract ({count} rule{'s' * (count != 1)})**"
    checks = len(record["features"])
    drifted = record["drifted"]
    performance = record["performance"]
    parts = []
    if drifted:
        parts.append(f"drift in {len(drifted)} of {checks} checks: {', '.join(drifted)}")
    if performance and performance["degraded"]:
        parts.append(f"{METRICS[performance['metric']].label} degraded")
    if parts:
        text = "; ".join(parts)
        return f"🔴 **{text[0].upper()}{text[1:]}**"
    return f"🟢 **No drift in {checks} checks**"


def _title(record: dict[str, Any]) -> str:
    return f"Drift report: {record['batch']} against {record['model']}"


def _performance_line(performance: dict[str, Any] | None) -> str:
    if performance is None:
        return "Performance: not judged (the batch has no labelled target)."
    label = METRICS[performance["metric"]].label
    interval = f"{performance['low']:.4f}–{performance['high']:.4f}"
    against = (
        f" against {performance['reference']:.4f} on the test split"
        if performance["reference"] is not None
        else ""
    )
    state = "🔴 degraded" if performance["degraded"] else "held"
    value = performance["value"]
    return f"Performance: {label} {value:.4f} (interval {interval}){against}: {state}."


def _rows(record: dict[str, Any]) -> list[list[str]]:
    rows = []
    for f in record["features"]:
        missing = f"{f['missing'][0]:.1%} → {f['missing'][1]:.1%}"
        unseen = ", ".join(f"{code} ({n})" for code, n in f["unseen"].items()) or "–"
        rows.append(
            [
                f["name"],
                f["kind"],
                f"{f['effect']:.4f}",
                f"{f['threshold']:.4f}",
                f"{f['p_adjusted']:.2g}",
                missing,
                unseen,
                "🔴 " + "; ".join(f["reasons"]) if f["drifted"] else "ok",
            ]
        )
    return rows


HEADERS = ["check", "kind", "effect", "calibrated threshold", "p (Holm)", "missing", "unseen"]


def markdown(record: dict[str, Any]) -> str:
    """The text of the drift issue: verdict, a row per check (most drifted first), policy."""
    policy = record["policy"]
    lines = [
        f"## {_title(record)}",
        "",
        f"{verdict_line(record)} · {record['rows']:,} rows",
        "",
        "| " + " | ".join([*HEADERS, "verdict"]) + " |",
        "|" + "---|" * (len(HEADERS) + 1),
        *("| " + " | ".join(row) + " |" for row in _rows(record)),
        "",
        _performance_line(record["performance"]),
        "",
        "A check drifts when its effect (Jensen–Shannon distance for codes, Wasserstein "
        "distance in standard deviations for numbers) is beyond the "
        f"{policy['quantile']:.0%} quantile of the effect between the training data and "
        f"{policy['calibration_rows']:,}-row samples of it, and the two-sample test "
        f"rejects at {policy['alpha']} after Holm's correction. How: `{DOCS}`.",
        *(f"\n> {note}" for note in record["notes"]),
        "",
    ]
    return "\n".join(lines)


def breach_markdown(record: dict[str, Any]) -> str:
    lines = [
        f"## {_title(record)}",
        "",
        f"{verdict_line(record)} · {record['rows']:,} rows",
        "",
        "The batch was not judged for drift; fix the data or the contract "
        "(`data/contract.yaml`) first.",
        "",
        *(f"- {v['message']}" for v in record["violations"]),
        "",
    ]
    return "\n".join(lines)


def chart(finding: Finding) -> dict[str, Any]:
    """The Vega-Lite spec of one check: code shares side by side, or shares per unit."""
    verdict = "drift" if finding.drifted else "no drift"
    title = (
        f"{finding.name}: {verdict} ({finding.effect_name} {finding.effect:.3f}, "
        f"calibrated threshold {finding.threshold:.3f})"
    )
    reference = TEST_SPLIT if finding.kind == PREDICTION else REFERENCE
    domain = {"range": COLOURS, "domain": [reference, BATCH]}
    colour = {"field": "data", "type": "nominal", "scale": domain, "title": None}
    if not finding.starts:  # codes: a categorical feature, or a multiclass model's answers
        values = [
            {"code": label, "share": share, "data": which}
            for which, shares in ((reference, finding.reference), (BATCH, finding.current))
            for label, share in zip(finding.labels, shares, strict=True)
        ]
        encoding = {
            "x": {"field": "code", "type": "nominal", "sort": None, "axis": {"labelAngle": 0}},
            "xOffset": {"field": "data"},
            "y": {"field": "share", "type": "quantitative", "axis": {"format": "%"}},
            "color": colour,
        }
        mark: dict[str, Any] = {"type": "bar"}
    else:
        # Quantile bins differ in width (narrow where scores pile up near 0): spread each
        # bin's share evenly over its width and show equal-width bins instead.
        starts = np.asarray(finding.starts)
        end = starts[-1] + (starts[-1] - starts[-2] if len(starts) > 1 else 1)
        ends = np.append(starts, end)
        edges = np.linspace(starts[0], end, min(DISPLAY_BINS, len(starts)) + 1)
        values = [
            {"value": float(start), "share": float(share), "data": which}
            for which, shares in ((reference, finding.reference), (BATCH, finding.current))
            for start, share in zip(
                edges[:-1], np.diff(np.interp(edges, ends, np.cumsum([0, *shares]))), strict=True
            )
        ]
        encoding = {
            "x": {"field": "value", "type": "quantitative", "title": finding.name},
            "y": {"field": "share", "type": "quantitative", "axis": {"format": "%"}},
            "color": colour,
        }
        mark = {"type": "line", "interpolate": "step-after"}
    return {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": title,
        "width": 420,
        "height": 180,
        "data": {"values": values},
        "mark": mark,
        "encoding": encoding,
        "config": {"legend": {"orient": "top"}},
    }


def render(findings: list[Finding], out: Path) -> dict[str, bytes]:
    """A PNG per check in `out`/plots, in the order given; {check: png bytes}."""
    import vl_convert

    images = {}
    for finding in findings:
        png = vl_convert.vegalite_to_png(chart(finding), scale=1.5)
        write_bytes(out / DRIFT_PLOTS.name / f"{finding.name}.png", png)
        images[finding.name] = png
    return images


STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 1180px;
       padding: 0 1rem; color: #1f2328; }
table { border-collapse: collapse; font-size: 13px; margin: 1rem 0; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; }
th { background: #f6f8fa; } tr.drift td { background: #fff1ef; }
figure { display: inline-block; margin: 0.5rem; vertical-align: top; width: 560px; }
figure img { width: 560px; } figcaption { font-size: 13px; color: #57606a; }
"""


def page(record: dict[str, Any], findings: list[Finding] | None, out: Path) -> str:
    """The self-contained HTML page; renders the PNGs into `out` as a side effect."""
    title = html.escape(_title(record))
    verdict = html.escape(verdict_line(record).replace("**", ""))
    body = [f"<h1>{title}</h1>", f"<p><strong>{verdict}</strong> · {record['rows']:,} rows</p>"]
    if findings is None:
        body.append("<ul>")
        body += [f"<li>{html.escape(v['message'])}</li>" for v in record["violations"]]
        body.append("</ul>")
    else:
        body.append(f"<p>{html.escape(_performance_line(record['performance']))}</p>")
        body.append("<table><tr>" + "".join(f"<th>{h}</th>" for h in HEADERS) + "</tr>")
        for row, f in zip(_rows(record), record["features"], strict=True):
            cells = "".join(f"<td>{html.escape(cell)}</td>" for cell in row[:-1])
            body.append(f'<tr class="{"drift" if f["drifted"] else ""}">{cells}</tr>')
        body.append("</table>")
        for finding, png in render(findings, out).items():
            reasons = next(f["reasons"] for f in record["features"] if f["name"] == finding)
            caption = html.escape("; ".join(reasons) or "within the calibrated threshold")
            data = base64.b64encode(png).decode("ascii")
            body.append(
                f'<figure><img alt="{html.escape(finding)}" src="data:image/png;base64,{data}">'
                f"<figcaption>{caption}</figcaption></figure>"
            )
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head>\n<body>\n" + "\n".join(body) + "\n</body></html>\n"
    )
