"""`cauce sweep`: many settings of params.yaml tried at once, as DVC experiments, ranked.

The settings are declared in sweep.yaml: a grid (every combination of the values listed
per parameter), or a seeded random sample of that grid. Each one is queued with
`dvc exp run --queue -n NAME -S key=value …` and the queue is run by `dvc exp run
--run-all -j JOBS`, which waits for the last: DVC's own experiments, so each run is a
commit under refs/exps that `dvc exp show`, `dvc exp apply` and `dvc exp branch` know, each
in its own copy of the workspace, each on the same seeded test split. The stages a setting
does not touch (ingest, validate, prepare) run in none of them when dvc.lock is up to date.

Each experiment is judged by the gate against this commit, like a pull request, and ranked
by the task's primary metric (or sweep.yaml's `metric`). The table, a picture and every
figure go to reports/sweep/; the best setting that passes the gate is applied to the
workspace (`dvc exp apply`), to be committed and proposed by PR like any change.

Threads: with JOBS experiments at once on C cores, each gets C // JOBS (at least one)
through OMP_NUM_THREADS, which scikit-learn's histogram gradient boosting reads, so the
runs do not oversubscribe the machine. The models are the same bytes at any thread count
(tests/unit/test_model.py).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt

from cauce import ConfigError, tools
from cauce.config import Params, parse_yaml
from cauce.files import write_bytes, write_json, write_text
from cauce.layout import (
    EVALUATE_METRICS,
    GROUP_METRICS,
    PARAMS,
    SWEEP_PICTURE,
    SWEEP_RECORD,
    SWEEP_SPEC,
    SWEEP_TABLE,
)
from cauce.metrics import METRICS, PRIMARY, of_task
from cauce.ops import revisions
from cauce.ops.gate import Evidence, decide, failures
from cauce.progress import phase

log = logging.getLogger("cauce")

Value = bool | int | float | str
OUTCOMES = (EVALUATE_METRICS, GROUP_METRICS)  # what the gate compares, in git at every commit
GATE_COLOURS = {"domain": ["passes", "fails"], "range": ["#2e7d32", "#c62828"]}


class RandomSearch(BaseModel):
    """A seeded sample of the grid's combinations, without repeats."""

    model_config = ConfigDict(extra="forbid")
    samples: PositiveInt
    seed: int = 0


class SweepSpec(BaseModel):
    """sweep.yaml."""

    model_config = ConfigDict(extra="forbid")
    grid: Annotated[dict[str, Annotated[list[Value], Field(min_length=1)]], Field(min_length=1)]
    random: RandomSearch | None = None
    metric: str | None = None  # what ranks the runs (default: the task's primary metric)
    jobs: PositiveInt = 2  # experiments at once


def load_spec(path: Path, params: Params) -> SweepSpec:
    """sweep.yaml, checked: every key is a parameter of params.yaml, the metric one the
    task reports. A ConfigError names the file, the field and the rule."""
    spec = parse_yaml(SweepSpec, path)
    known = revisions.flatten(yaml.safe_load(PARAMS.read_text(encoding="utf-8")))
    unknown = [key for key in spec.grid if key not in known]
    if unknown:
        raise ConfigError(
            f"{path}: grid.{unknown[0]}: not a parameter of {PARAMS} (give its dotted "
            "name, e.g. train.hist_gradient_boosting.max_leaf_nodes)"
        )
    task = params.data.task
    if spec.metric is not None and spec.metric not in of_task(task):
        raise ConfigError(
            f"{path}: metric = {spec.metric!r}: not a metric of a {task} model; "
            f"one of {', '.join(of_task(task))}"
        )
    return spec


def settings(spec: SweepSpec) -> list[dict[str, Value]]:
    """The settings to try, in a fixed order: the grid's combinations, or a seeded sample."""
    keys = list(spec.grid)
    combinations = [
        dict(zip(keys, values, strict=True)) for values in itertools.product(*spec.grid.values())
    ]
    if spec.random is None or spec.random.samples >= len(combinations):
        return combinations
    # A seeded choice of settings, not a secret: the standard generator is what it needs.
    draw = random.Random(spec.random.seed)  # noqa: S311
    chosen = draw.sample(range(len(combinations)), spec.random.samples)
    return [combinations[i] for i in sorted(chosen)]


@dataclass(frozen=True)
class Trial:
    """One setting's experiment: what it set, what it scored, what the gate said."""

    name: str  # the experiment's name (dvc exp show, dvc exp apply)
    rev: str  # its commit under refs/exps
    setting: dict[str, Value]
    metric: float | None  # the ranking metric on the test split
    passed: bool  # the gate against this commit
    failed: list[str]  # the gate's failed checks


@dataclass(frozen=True)
class Swept:
    """A finished sweep: its trials, best first, and the one applied (None: none passed)."""

    commit: str  # the commit each setting changes
    metric: str
    baseline: float | None  # this commit's figure
    trials: list[Trial]
    applied: str | None

    def lines(self) -> list[str]:
        said = [f"sweep: {len(self.trials)} settings ranked by {self.metric}; table {SWEEP_TABLE}"]
        applied = next((t for t in self.trials if t.name == self.applied), None)
        if applied is None:
            said.append("no setting was applied: none passed the gate (see the table)")
            return said
        change = ", ".join(f"{k}={v}" for k, v in applied.setting.items())
        said.append(
            f"applied {applied.name} ({change}): {self.metric} {_number(applied.metric)}, this "
            f"commit {_number(self.baseline)}; review with git diff, then commit params.yaml "
            "and dvc.lock to propose it"
        )
        return said


def run(
    params: Params, spec_path: Path = SWEEP_SPEC, jobs: int | None = None, apply: bool = True
) -> Swept:
    """`cauce sweep`: queue every setting, run the queue, judge and rank, apply the best."""
    spec = load_spec(spec_path, params)
    metric = spec.metric or PRIMARY[params.data.task]
    wanted = settings(spec)
    workers = jobs or spec.jobs
    head = revisions.resolve("HEAD")
    names = [f"sweep-{head[:7]}-{i:02d}" for i in range(1, len(wanted) + 1)]
    # A sweep run again on the same commit replaces its experiments of the same names.
    tools.run("dvc", "exp", "remove", *names, check=False)
    with phase("sweep", "settings queued") as now:
        for name, setting in zip(names, wanted, strict=True):
            overrides = [
                arg
                for key, value in setting.items()
                for arg in ("-S", f"{key}={json.dumps(value)}")
            ]
            tools.run("dvc", "exp", "run", "--queue", "-n", name, *overrides)
        now.detail = f"{len(wanted)} experiments"
    threads = max(1, (os.cpu_count() or 1) // workers)
    environment = os.environ | {"OMP_NUM_THREADS": str(threads)}
    with phase("sweep", "experiments run") as now:
        tools.run("dvc", "exp", "run", "--run-all", "-j", str(workers), env=environment, echo=True)
        now.detail = f"{workers} at once, {threads} thread{'s' * (threads > 1)} each"
    revs = _experiment_revs(set(names))
    here = Evidence("HEAD", {}, {}, *(revisions.read_json(f, head) for f in OUTCOMES))
    trials = [
        _judged(params, here, name, revs[name], setting, metric)
        for name, setting in zip(names, wanted, strict=True)
        if name in revs
    ]
    # Ranked by the metric alone, best first; the best that passes the gate is applied.
    sign = -1 if METRICS[metric].higher_is_better else 1
    trials.sort(key=lambda t: (t.metric is None, sign * (t.metric or 0)))
    best = next((t for t in trials if t.passed), None)
    applied = None
    if best is not None and apply:
        tools.run("dvc", "exp", "apply", best.name)
        applied = best.name
    swept = Swept(head, metric, (here.base_metrics or {}).get(metric), trials, applied)
    _write(swept)
    return swept


def _experiment_revs(names: set[str]) -> dict[str, str]:
    """The commit of each named experiment (refs/exps/…/<name>), as DVC keeps them."""
    listed = tools.run(
        "git", "for-each-ref", "--format=%(objectname) %(refname)", "refs/exps"
    ).stdout
    found = {}
    for line in listed.splitlines():
        sha, ref = line.split(" ", 1)
        name = ref.rsplit("/", 1)[-1]
        if name in names:
            found[name] = sha
    return found


def _judged(
    params: Params, here: Evidence, name: str, rev: str, setting: dict[str, Value], metric: str
) -> Trial:
    """Experiment `name` judged by the gate against this commit (`here`'s base figures)."""
    metrics, groups = (revisions.read_json(f, rev) or {} for f in OUTCOMES)
    evidence = Evidence("HEAD", metrics, groups, here.base_metrics, here.base_groups)
    failed = failures(decide(params.gate, evidence))
    return Trial(name, rev, setting, metrics.get(metric), not failed, [c.message for c in failed])


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def _write(swept: Swept) -> None:
    """The ranked table (Markdown, for the terminal and the PR), every figure, the picture."""
    label = METRICS[swept.metric].label
    arrow = "↑" if METRICS[swept.metric].higher_is_better else "↓"
    keys = list(swept.trials[0].setting) if swept.trials else []
    header = ["rank", "experiment", *(f"`{k}`" for k in keys), f"{label} {arrow}", "gate"]
    rows = [_row(header), _row(["---"] * len(header))]
    for rank, trial in enumerate(swept.trials, 1):
        gate = "passes" if trial.passed else "fails: " + "; ".join(trial.failed[:2])
        applied = " (applied)" if trial.name == swept.applied else ""
        values = [f"`{trial.setting[k]}`" for k in keys]
        rows.append(
            _row([str(rank), f"`{trial.name}`{applied}", *values, _number(trial.metric), gate])
        )
    lines = [
        f"## Sweep: {len(swept.trials)} settings, ranked by {label}",
        "",
        f"Commit `{swept.commit[:7]}`: {_number(swept.baseline)}. Each setting is a DVC "
        "experiment of it on the same test split, judged by the gate against it.",
        "",
        *rows,
        "",
        f"![{label} per setting]({SWEEP_PICTURE.name})",
        "",
    ]
    write_text(SWEEP_TABLE, "\n".join(lines))
    record = asdict(swept) | {"trials": [asdict(t) for t in swept.trials]}
    write_json(SWEEP_RECORD, record)
    _picture(swept)


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _picture(swept: Swept) -> None:
    """The metric of every setting as a point, best at the top, green where the gate passes,
    this commit's figure as a dashed line (rendered offline by vl-convert, as the PR
    report's plots are)."""
    import vl_convert

    label = METRICS[swept.metric].label
    bars = [
        {
            "setting": ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in t.setting.items()),
            "value": t.metric,
            "gate": "passes" if t.passed else "fails",
        }
        for t in swept.trials
        if t.metric is not None
    ]
    layers: list[dict[str, Any]] = [
        {
            "data": {"values": bars},
            # Points, not bars: a bar starts at zero, and the settings differ in the third decimal.
            "mark": {"type": "point", "filled": True, "size": 90},
            "encoding": {
                "y": {
                    "field": "setting",
                    "type": "nominal",
                    "sort": None,
                    "title": None,
                    "axis": {"labelLimit": 400},
                },
                "x": {"field": "value", "type": "quantitative", "title": label,
                      "scale": {"zero": False}},
                "color": {"field": "gate", "type": "nominal", "scale": GATE_COLOURS},
            },
        }
    ]  # fmt: skip
    if swept.baseline is not None:
        layers.append(
            {
                "data": {"values": [{"value": swept.baseline}]},
                "mark": {"type": "rule", "strokeDash": [4, 3]},
                "encoding": {"x": {"field": "value", "type": "quantitative"}},
            }
        )
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
        "title": f"{label} per setting (dashed: this commit)",
        "width": 420,
        "height": {"step": 22},
        "layer": layers,
    }
    write_bytes(SWEEP_PICTURE, vl_convert.vegalite_to_png(spec, scale=1.5))
