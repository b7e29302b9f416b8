"""`cauce report --base REV`: the pull-request report, as markdown with PNG plots beside it.

In the order a reviewer reads: the gate's verdict; metrics against the base and the
production model; what changed in params and data; plot diffs; per-group metrics;
validation, model size, training time and latency. CML posts it as one sticky comment.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cauce import CauceError
from cauce.config import Params
from cauce.files import read_parquet, read_timings, write_bytes, write_text
from cauce.intervals import Interval
from cauce.layout import (
    LOCK,
    MODEL_CARD,
    MODEL_FILE,
    PARAMS,
    PR_REPORT,
    PR_REPORTS,
    SWEEP_PICTURE,
    SWEEP_TABLE,
    TEST_SPLIT,
    VALIDATION_REPORT,
)
from cauce.metrics import METRICS, PER_CLASS_RECALL
from cauce.ops import plots, revisions
from cauce.ops.gate import (
    BASE,
    CONSTANT,
    PRODUCTION,
    Check,
    Evidence,
    decide,
    gather,
    reading,
    recall_key,
    regression,
    shown,
    signed,
    verdict,
    worsening,
)
from cauce.progress import phase

log = logging.getLogger("cauce")

UNCHANGED = 5e-5  # smaller changes print as 0.0000 at four decimals
NONE = "–"
DELTAS_TITLE = "The gated changes, with their intervals"
DELTAS_PICTURE = "deltas.png"  # beside report.md
MARKS = {"better": "🟢", "worse": "🔴", "within noise": "⚪"}


def run(params: Params, base: str) -> Path:
    """`cauce report`: write the PR report against `base`; the report's path."""
    started = time.perf_counter()
    evidence = gather(base, params, command="report")
    checks = decide(params.gate, evidence)
    for stale in PR_REPORTS.glob("*.png"):  # an earlier run's pictures are not this one's
        stale.unlink()
    with phase("report", "plots of both revisions") as now:
        try:
            # A base of another task is not drawn: its curves and labels are another's.
            images = plots.render(None if BASE in evidence.incomparable else base, PR_REPORTS)
        except CauceError as error:
            images = {}
            evidence.notes.append(f"Plots could not be rendered: {error}")
        now.detail = f"{len(images)} rendered"
        try:
            deltas = plots.forest(checks, PR_REPORTS / DELTAS_PICTURE)
        except (CauceError, ValueError) as error:  # vl-convert's refusals are ValueErrors
            deltas = None
            evidence.notes.append(f"The picture of the changes could not be rendered: {error}")
    with phase("report", "model file, training time and latency"):
        model = validation_and_model(evidence)
    report = build(evidence, checks, images, params, model, sweep_section(), deltas)
    write_text(PR_REPORT, report)
    seconds = time.perf_counter() - started
    log.info("report: wrote %s and %d plots in %.1f s", PR_REPORT, len(images), seconds)
    return PR_REPORT


def build(
    evidence: Evidence,
    checks: list[Check],
    images: dict[str, dict[str, Any]],
    params: Params,
    model: str,
    sweep: str | None = None,
    deltas: Path | None = None,
) -> str:
    """The report's markdown; `model`: the validation-and-model section (measured apart,
    as it times the model); `sweep`: the sweep's section, when one ran; `deltas`: the
    picture of the gated changes with their intervals, when there are any."""
    base = evidence.base
    passed = all(c.passed for c in checks)
    sections = [
        f"## Model report: this PR vs `{base}`",
        f"{'✅' if passed else '❌'} **{verdict(checks)}**",
        reproducibility(evidence.reproduction),
        *(f"> {note}" for note in evidence.notes),
        "### Metrics on the test split",
        metrics_table(evidence),
        *([f"![{DELTAS_TITLE}]({deltas.name})"] if deltas else []),
        "### Parameters",
        params_diff(base),
        *([sweep] if sweep else []),
        "### Data",
        data_diff(base, params),
        "### Plots",
        plots_section(images, base, evidence.incomparable.get(BASE)),
        "### Per group",
        groups_section(evidence, params),
        "### Validation and model",
        model,
        f"<sub>Made by `cauce report --base {base}`; the gate policy is `gate` in "
        "params.yaml.</sub>",
    ]
    return "\n\n".join(sections) + "\n"


def sweep_section() -> str | None:
    """`cauce sweep`'s table, as a section of the report, with its picture copied beside
    the report (CML uploads the pictures report.md names); None when no sweep ran here."""
    if not (SWEEP_TABLE.exists() and SWEEP_PICTURE.exists()):
        return None
    write_bytes(PR_REPORTS / SWEEP_PICTURE.name, SWEEP_PICTURE.read_bytes())
    return SWEEP_TABLE.read_text(encoding="utf-8").strip().replace("## ", "### ", 1)


def row(*cells: object) -> str:
    """One markdown table row."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def number(value: Any) -> str:
    if value is None:
        return NONE
    return f"{value:.4f}" if isinstance(value, float) else f"{value:,}"


def change(
    metric: str,
    old: float | None,
    new: float | None,
    deltas: Mapping[str, Interval] | None = None,
    key: str = "",
    unjudged: str = "too few rows of one class",
) -> str:
    """The change, marked by what it means whatever its sign. Where the comparison was
    paired (`deltas`), by the interval of `key`: 🟢 better and 🔴 worse when it says so,
    ⚪ within noise when it holds zero, and no colour at all where there is no interval
    (`unjudged` says why: a point marked green or red would read as a verdict). Without
    pairing, the point's direction."""
    interval = None if deltas is None else deltas.get(key)
    if interval is not None and interval.low == interval.high == 0:
        return "⚪ 0.0000 unchanged"  # the same predictions, on every resample
    if interval is not None:
        said = reading(metric, interval)
        return f"{MARKS[said]} {shown(interval)} {said}"
    if old is None or new is None:
        return NONE
    if deltas is not None:
        return f"{signed(new - old)} ({unjudged} to judge)"
    delta = round(new, 4) - round(old, 4)  # the difference of the numbers shown
    if abs(delta) < UNCHANGED:
        return "⚪ 0.0000"
    better = worsening(metric, old, new) < 0
    return f"{'🟢' if better else '🔴'} {'▲' if delta > 0 else '▼'} {delta:+.4f}"


def metrics_table(evidence: Evidence, label: str = "this PR", with_base: bool = True) -> str:
    """Metrics of `label`, against the base and the champion where they are known."""
    base_metrics = evidence.base_metrics or {}
    champion = evidence.champion_metrics
    header, align = ["metric"], ["---"]
    if with_base:
        header.append(f"`{evidence.base}`")
        align.append("---:")
    header.append(label)
    align.append("---:")
    if with_base:
        header.append("change")
        align.append(":---")
    if champion is not None:
        header += [f"production `{evidence.champion}` ¹", "vs production"]
        align += ["---:", ":---"]
    rows = [row(*header), row(*align)]

    def add(name: str, label: str, new: Any, old: Any, theirs: Any, key: str) -> None:
        cells = [f"{label} {'↑' if METRICS[name].higher_is_better else '↓'}"]
        cells += (
            [
                number(old),
                f"**{number(new)}**",
                change(name, old, new, evidence.deltas.get(BASE), key),
            ]
            if with_base
            else [f"**{number(new)}**"]
        )
        if champion is not None:
            cells += [
                number(theirs),
                change(name, theirs, new, evidence.deltas.get(PRODUCTION), key),
            ]
        rows.append(row(*cells))

    for name, metric in METRICS.items():
        if name in evidence.metrics:  # else a metric of another task
            theirs = champion.get(name) if champion is not None else None
            add(name, metric.label, evidence.metrics[name], base_metrics.get(name), theirs, name)
    # A multiclass model's recall of each class (evaluate's recall_per_class): a class the
    # model stops finding shows here even when the averages hardly move.
    for label, new in (evidence.metrics.get(PER_CLASS_RECALL) or {}).items():
        old = (base_metrics.get(PER_CLASS_RECALL) or {}).get(label)
        theirs = ((champion or {}).get(PER_CLASS_RECALL) or {}).get(label)
        add("recall", f"{METRICS['recall'].label} of {label}", new, old, theirs, recall_key(label))
    notes = ["↑ higher is better, ↓ lower is better."]
    primary, constant = evidence.primary, (evidence.constant_metrics or {})
    if primary is not None and constant.get(primary) is not None and primary in evidence.metrics:
        versus = change(
            primary,
            constant[primary],
            evidence.metrics[primary],
            evidence.deltas.get(CONSTANT),
            primary,
        )
        notes.append(
            f"A constant model (always {evidence.constant}) scores {METRICS[primary].label} "
            f"{number(constant[primary])} on these rows; {label}: {versus}."
        )
    if evidence.deltas:
        notes.append(
            "Each change is this PR minus the other model on the same test rows, with its "
            f"{evidence.confidence:.0%} interval (a paired bootstrap of the rows): 🟢 better "
            "or 🔴 worse when the whole interval is on that side of zero, ⚪ within noise when "
            "it holds zero." + family_note(evidence, PER_CLASS_RECALL, "classes' recall intervals")
        )
    else:
        notes.append("🟢 better, 🔴 worse, ⚪ unchanged (point estimates: no intervals here).")
    if champion is not None:
        notes.append(f"¹ the production model, scored on the same test split as {label}.")
    return "\n".join(rows) + "\n\n" + "<br>".join(notes)


def params_diff(base: str) -> str:
    old = revisions.flatten(revisions.read_yaml(PARAMS, base) or {})
    new = revisions.flatten(revisions.read_yaml(PARAMS) or {})
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k, NONE) != new.get(k, NONE))
    if not changed:
        return "No parameter changed."
    rows = [row("parameter", f"`{base}`", "this PR"), row("---", "---", "---")]
    for key in changed:
        mark = " 🛡️ **gate policy**" if key.startswith("gate.") else ""
        rows.append(row(f"`{key}`{mark}", f"`{old.get(key, NONE)}`", f"`{new.get(key, NONE)}`"))
    return "\n".join(rows)


def _lock_hashes(rev: str | None, source: str) -> dict[str, str | None]:
    """Content hashes DVC recorded for the source and the ingested data at `rev`."""
    lock = revisions.read_yaml(LOCK, rev) or {}
    ingest = lock.get("stages", {}).get("ingest", {})
    source_dep: dict[str, Any] = next(
        (d for d in ingest.get("deps", []) if d.get("path") == source), {}
    )
    raw: dict[str, Any] = next(iter(ingest.get("outs", [])), {})
    return {"source": source_dep.get("md5"), "raw": raw.get("md5")}


def data_diff(base: str, params: Params) -> str:
    old_data = (revisions.read_yaml(PARAMS, base) or {}).get("data", {})
    old_rows = (revisions.read_json(VALIDATION_REPORT, base) or {}).get("rows")
    new_rows = (revisions.read_json(VALIDATION_REPORT) or {}).get("rows")
    old_hashes = _lock_hashes(base, old_data.get("source", params.data.source))
    new_hashes = _lock_hashes(None, params.data.source)
    facts = [
        ("source", old_data.get("source"), params.data.source),
        ("training years", old_data.get("train_years"), params.data.train_years),
        ("rows ingested", old_rows, new_rows),
        ("source content (md5)", old_hashes["source"], new_hashes["source"]),
        ("ingested data (md5)", old_hashes["raw"], new_hashes["raw"]),
    ]
    rows = [row("", f"`{base}`", "this PR"), row("---", "---", "---")]
    for label, old, new in facts:
        rows.append(row(label + ("" if old == new else " ✏️"), _fact(old), _fact(new)))
    changed = any(old != new for _, old, new in facts)
    return "\n".join(rows) + ("\n\n✏️ changed." if changed else "\n\nThe data did not change.")


def _fact(value: Any) -> str:
    if value is None:
        return NONE
    if isinstance(value, int):
        return f"{value:,}"
    text = str(value)
    return f"`{text[:12]}`" if len(text) == 32 else f"`{text}`"  # md5s, shortened


def plots_section(images: dict[str, dict[str, Any]], base: str, apart: str | None = None) -> str:
    """The plots, saying whose: this PR's and `base`'s together, or this PR's alone when
    the base answers another question (`apart`: how)."""
    if not images:
        return "No plots."
    together = f"Each plot shows `{base}` and this PR together (from `dvc plots diff`)."
    alone = f"Each plot shows this PR alone: `{base}` is not comparable ({apart})."
    parts = [alone if apart else together]
    parts += [f"**{title}**\n\n![{title}]({image['file']})" for title, image in images.items()]
    return "\n\n".join(parts)


def groups_section(
    evidence: Evidence, params: Params, label: str = "this PR", with_base: bool = True
) -> str:
    """The gate's group metric per group of each slice column, flagged where it fell."""
    metric = params.gate.groups.metric
    allowed, min_rows = params.gate.groups.max_regression, params.gate.groups.min_rows
    if not evidence.groups:
        return (
            "No groups: `evaluate.slices` in params.yaml names no column (list categorical "
            "features there to see the metrics of each group, and the gate to hold them)."
        )
    undefined = "too few rows" if params.data.task == "regression" else "one class only"
    intro = f"{METRICS[metric].label} per group; – where it is undefined ({undefined})."
    if with_base:
        intro += (
            f" ⚠️ marks a group the gate fails: worse than `{evidence.base}` beyond noise and "
            f"by more than {allowed}; groups under {min_rows:,} rows are shown, not gated."
        )
    parts = [intro + family_note(evidence, f"{metric} ", "groups' intervals")]
    deltas = evidence.deltas.get(BASE)
    for column, groups in evidence.groups.items():
        base_groups = (evidence.base_groups or {}).get(column, {})
        header = [column, "rows", f"`{evidence.base}`", label, "change"]
        rows = [row(*header), row("---", "---:", "---:", "---:", ":---")]
        if not with_base:
            rows = [row(column, "rows", label), row("---", "---:", "---:")]
        for group, entry in groups.items():
            old, new = base_groups.get(group, {}).get(metric), entry.get(metric)
            key = f"{metric} {column}={group}"
            gated = old is not None and new is not None and entry["rows"] >= min_rows
            worse = (
                gated
                and not regression(metric, key, evidence.base, old, new, allowed, deltas).passed
            )
            why = "too few rows of one class" if gated else "too few rows"
            cells = [number(old), number(new), change(metric, old, new, deltas, key, why)]
            rows.append(
                row(f"{group}{' ⚠️' if worse else ''}", f"{entry['rows']:,}", *cells)
                if with_base
                else row(group, f"{entry['rows']:,}", number(new))
            )
        parts.append("\n".join(rows))
    return "\n\n".join(parts)


def family_note(evidence: Evidence, prefix: str, what: str) -> str:
    """How a family of intervals (the groups', the classes') is covered together, from the
    level gate.subsets gave each of them: "" when there is no family of two or more."""
    levels = [
        interval.level
        for found in evidence.deltas.values()
        for key, interval in found.items()
        if key.startswith(prefix)
    ]
    if not levels or evidence.confidence is None or levels[0] <= evidence.confidence:
        return ""
    size = round((1 - evidence.confidence) / (1 - levels[0]))
    return (
        f" The {size} {what} hold {evidence.confidence:.0%} together (each at "
        f"{levels[0]:.1%}, Bonferroni), so that one of many does not read worse by chance."
    )


def reproducibility(found: dict[str, Any] | None) -> str:
    """One line: did `cauce reproduce` rebuild exactly what this commit's dvc.lock records?"""
    if found is None:
        return "⚪ Reproducibility not checked for this commit (`cauce reproduce` checks it)."
    rebuilt = ", ".join(found["rebuilt"]) or "no stage (every output was already there)"
    if "failed" in found:
        return (
            "❌ **`dvc repro` failed**, so the numbers below are the committed ones:\n\n"
            f"```\n{found['failed']}\n```"
        )
    if found["reproduced"]:
        return (
            f"🔁 **Reproduced**: `dvc repro` rebuilt {rebuilt}; every output is byte for byte "
            f"what the committed `{LOCK}` records."
        )
    lines = [
        f"❌ **Not reproduced**: `dvc repro` rebuilt {rebuilt}, and outputs differ from what the "
        f"committed `{LOCK}` records:",
        *(f"> - {d['message']}" for d in found["differences"]),
    ]
    return "\n".join(lines)


def single_row_latency_ms(repeats: int = 50, budget_seconds: float = 0.25) -> float | None:
    """Median time of scoring one row in process, in milliseconds: over `repeats` calls,
    or as many as fit in `budget_seconds`, but at least 10. (It was up to 200 calls in a
    second: a report's second for a figure that calls within a quarter of one agree on.)"""
    from cauce.model import load_model, score

    if not MODEL_FILE.exists() or not TEST_SPLIT.exists():
        return None
    pipeline = load_model(MODEL_FILE)
    one_row = read_parquet(TEST_SPLIT).head(1)
    for _ in range(10):
        score(pipeline, one_row)
    timings: list[float] = []
    deadline = time.perf_counter() + budget_seconds
    while len(timings) < repeats and (len(timings) < 10 or time.perf_counter() < deadline):
        started = time.perf_counter()
        score(pipeline, one_row)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


def training_time(evidence: Evidence) -> str | None:
    """How long fitting this PR's model took, and the base's, as this machine timed them
    (by model file hash: timings stay out of git, so another machine's are not known)."""
    from cauce.artifact import ModelInfo

    if not MODEL_CARD.exists():
        return None
    fits = read_timings().get("fits", {})
    mine, theirs = ModelInfo.read(MODEL_CARD).model_sha256, evidence.base_model_sha256
    if mine not in fits:
        return None
    line = f"- **Training time**: {fits[mine]:.2f} s (fitting)"
    if theirs == mine:
        return f"{line}; `{evidence.base}` has the same model"
    if theirs in fits:
        return f"{line}; `{evidence.base}`: {fits[theirs]:.2f} s, on this machine too"
    return f"{line}; `{evidence.base}`: not timed on this machine"


def validation_and_model(evidence: Evidence) -> str:
    validation = revisions.read_json(VALIDATION_REPORT) or {}
    status = validation.get("status", "not run")
    violations = validation.get("violations", [])
    lines = [
        f"- **Data contract**: {'✅' if status == 'passed' else '❌'} {status} on "
        f"{validation.get('rows', 0):,} rows × {validation.get('columns', 0)} columns"
        + (f", {len(violations)} broken rules" if violations else ""),
        *(f"  - {v['message']}" for v in violations[:5]),
    ]
    if MODEL_FILE.exists():
        lines.append(f"- **Model file**: {MODEL_FILE.stat().st_size / 1e6:.2f} MB")
    fitting = training_time(evidence)
    if fitting is not None:
        lines.append(fitting)
    latency = single_row_latency_ms()
    if latency is not None:
        lines.append(f"- **Prediction latency**: {latency:.2f} ms for one row (median, in process)")
    return "\n".join(lines)
