"""`cauce gate --base REV`: may this pull request's model be merged?

The policy is the `gate` section of params.yaml (so lowering it shows in the PR's params
diff): bounds on this PR's metrics, and how much worse than the base branch's model and
the production model each metric and each group may get. All three models are scored on
this PR's test rows, so each delta comes with its paired bootstrap interval
(cauce.intervals), and a regression fails only when the evidence says so: when it is
worse than its allowance and its interval does not reach zero (`regression`).
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cauce import CauceError
from cauce.artifact import Target
from cauce.config import GateParams, Params
from cauce.files import read_parquet, write_json
from cauce.intervals import Interval, Scores, Subset, paired
from cauce.layout import (
    EVALUATE_METRICS,
    GATE_VERDICT,
    GROUP_METRICS,
    LOCK,
    MODEL_CARD,
    MODEL_DIR,
    MODEL_FILE,
    PARAMS,
    REPRODUCTION,
    TEST_SPLIT,
)
from cauce.metrics import METRICS, PER_CLASS_RECALL, PRIMARY
from cauce.ops import lock, registry, revisions
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
    # {BASE or PRODUCTION: {metric, or "metric column=group": this PR − that model}},
    # paired on this PR's test rows; a comparison missing here is judged on points alone.
    deltas: dict[str, dict[str, Interval]] = field(default_factory=dict)
    confidence: float | None = None
    base_model_sha256: str | None = None  # the base's model file, where it was scored
    # {BASE or PRODUCTION: how its task or target differs}: its numbers are not compared.
    incomparable: dict[str, str] = field(default_factory=dict)
    constant: str | None = None  # what the constant model answers, in words
    constant_metrics: dict[str, Any] | None = None
    primary: str | None = None  # the task's primary metric, the one the constant is held to
    task: str = ""  # this checkout's "task target", what a reviewer's acceptance names


# The comparisons of Evidence.deltas. CONSTANT: a model that answers every row with the
# training target's shares or mean, which this one must beat on the primary metric.
BASE, PRODUCTION, CONSTANT = "base", "production", "constant"


# Checks of this model on its own, reported before comparisons with others.
BOUNDS = ("comparable", "judged", "reproduced", "constant", "present", "min", "max")
# Differences smaller than this are float arithmetic, not a change (0.905 - 0.9 > 0.005).
FLOAT_NOISE = 1e-9


@dataclass
class Check:
    rule: str
    metric: str
    value: float | None  # a regression's: how much worse, in the metric's direction
    limit: float | None
    passed: bool
    message: str
    interval: Interval | None = None  # a regression's delta with its interval, when paired
    judged: bool = True  # False: paired, but its change has no interval to judge it by

    @property
    def measured(self) -> str:
        """The metric itself: `roc_auc` of a group's check `roc_auc SEX=1` too."""
        return self.metric.partition(" ")[0]

    @property
    def against(self) -> str:
        """What a regression compares with (`main`, `production model@v0.1.0`); "" else."""
        return self.rule.partition(" vs ")[2]


def gather(base: str, params: Params, champion: bool = True, command: str = "gate") -> Evidence:
    """This PR's metrics, the base revision's, and the champion's on this PR's test set,
    with the intervals of the deltas: one phase of `command` (scoring takes seconds)."""
    with phase(command, f"metrics of this PR, {base} and production") as now:
        evidence = _gather(base, params, champion)
        now.detail = f"production: {evidence.champion or 'none yet'}"
    return evidence


def _gather(base: str, params: Params, champion: bool) -> Evidence:
    commit = revisions.resolve(base)
    metrics = revisions.read_json(EVALUATE_METRICS)
    if metrics is None:
        raise CauceError(f"{EVALUATE_METRICS} not found: run `dvc repro` first")
    evidence = Evidence(
        base=base,
        metrics=metrics,
        groups=revisions.read_json(GROUP_METRICS) or {},
        base_metrics=revisions.read_json(EVALUATE_METRICS, base),
        base_groups=revisions.read_json(GROUP_METRICS, base),
        task=f"{params.data.task} {params.data.target}",
        primary=PRIMARY[params.data.task],
    )
    changed = task_change(revisions.read_yaml(PARAMS, base), params)
    if evidence.base_metrics is not None and changed is not None:
        evidence.incomparable[BASE] = changed  # its numbers are of another question
        evidence.base_metrics = evidence.base_groups = None
        evidence.notes.append(
            f"Not comparable with {base}: {changed}. Its numbers are left out; the gate asks "
            "a reviewer to accept the change (gate.accept_task_change)."
        )
    found = revisions.read_json(REPRODUCTION)
    if found is not None and found.get("commit") == revisions.resolve("HEAD"):
        evidence.reproduction = found
    rows = ScoredRows.read()
    others: dict[str, Scores] = {}
    constant = rows.constant()
    if constant is not None:
        scores, evidence.constant = constant
        others[CONSTANT] = scores
        evidence.constant_metrics = rows.measure(scores, params)[0]
    if BASE in evidence.incomparable:
        pass  # its note says why its numbers are left out
    elif evidence.base_metrics is None:
        evidence.notes.append(
            f"{base} has no {EVALUATE_METRICS} (a first pull request?): "
            "only this PR's own numbers and the gate's bounds apply."
        )
    else:
        try:
            others[BASE], evidence.base_model_sha256 = scores_at(commit, rows)
        except (CauceError, OSError, ValueError) as error:
            evidence.notes.append(
                f"The changes against {base} are point estimates, without intervals: {error}."
            )
    if champion:
        version = registry.production_version()
        if version is not None:
            evidence.champion = version
            try:
                others[PRODUCTION] = _score_production(evidence, params, rows, version)
            except IncomparableError as error:
                evidence.incomparable[PRODUCTION] = error.change
                evidence.notes.append(
                    f"Not comparable with the production model {version}: {error.change}."
                )
            except (CauceError, OSError, ValueError) as error:
                evidence.notes.append(
                    f"The production model {version} could not be scored on this PR's test "
                    f"rows: {error}."
                )
    add_intervals(evidence, params, rows, others)
    return evidence


@dataclass(frozen=True)
class ScoredRows:
    """This checkout's test split, its true values, and this PR's model's scores."""

    frame: pd.DataFrame
    target: Target
    y_true: np.ndarray
    scores: Scores

    @classmethod
    def read(cls) -> ScoredRows:
        from cauce.artifact import ModelInfo
        from cauce.model import load_model, score

        frame = read_parquet(TEST_SPLIT)
        target = ModelInfo.read(MODEL_CARD).target
        y_true = target.encode(frame[target.column], str(TEST_SPLIT))
        return cls(
            frame, target, y_true, Scores(score(load_model(MODEL_FILE), frame), target.threshold)
        )

    def constant(self) -> tuple[Scores, str] | None:
        """The scores of a model that learned only the training target (its shares or its
        mean, from model.json), for these rows, and what it answers in words."""
        from cauce.artifact import ModelInfo

        found = ModelInfo.read(MODEL_CARD).data.constant(len(self.frame))
        if found is None:
            return None
        values, words = found
        return Scores(values, self.scores.threshold), words

    def measure(self, scores: Scores, params: Params) -> tuple[dict[str, Any], dict[str, Any]]:
        """Metrics and group metrics of a model's `scores` on this PR's test split, judged by
        this PR's labels and that model's own threshold."""
        from cauce.pipeline.evaluate import measure

        target = self.target.model_copy(update={"threshold": scores.threshold})
        return measure(self.frame, scores.values, target, params)


class UnpairedError(CauceError):
    """Another model's scores cannot be paired with this checkout's: they would not be
    measured on rows it never trained on, or would not mean the same thing."""


class IncomparableError(UnpairedError):
    """Another model answers another question (another task or target): neither its
    scores nor its metrics say anything of this checkout's model."""

    def __init__(self, change: str) -> None:
        super().__init__(change)
        self.change = change


def task_change(base_params: Any, params: Params) -> str | None:
    """How the base's task or target differs from this checkout's, from the base's
    params.yaml ("the task changed from binary (employed) to multiclass (cultivar)");
    None when they agree or the base has no params to tell."""
    data = base_params.get("data") if isinstance(base_params, dict) else None
    if not isinstance(data, dict) or "target" not in data:
        return None
    return _changed(
        data.get("task", "binary"), data["target"], params.data.task, params.data.target
    )


def _changed(task: str, target: str, new_task: str, new_target: str) -> str | None:
    if (task, target) == (new_task, new_target):
        return None
    what = "task" if task != new_task else "target"
    return f"the {what} changed from {task} ({target}) to {new_task} ({new_target})"


TEMPORARY = "<temporary folder>"


@contextmanager
def _fetch_folder() -> Iterator[Path]:
    """A temporary folder to fetch a model into. An error that names it names TEMPORARY
    instead (same type, same exit code), so a note that carries one reads the same on
    every run."""
    with tempfile.TemporaryDirectory() as folder:
        try:
            yield Path(folder)
        except OSError as error:
            for name in ("filename", "filename2"):
                if isinstance(getattr(error, name), str):
                    setattr(error, name, getattr(error, name).replace(folder, TEMPORARY))
            raise
        except (CauceError, ValueError) as error:
            error.args = (str(error).replace(folder, TEMPORARY),)
            raise


def _scores(model_dir: Path, rows: ScoredRows) -> tuple[Scores, str | None]:
    """The scores of the model in `model_dir` for this checkout's test rows, and its file's
    hash; an UnpairedError when it predicts another target than this checkout's model (a
    column, task, class or label order changed: its scores would not mean the same), or
    has no threshold to label them by (an older model.json)."""
    from cauce.artifact import ModelInfo
    from cauce.model import load_model, score

    info = ModelInfo.read(model_dir / MODEL_CARD.name)
    theirs, mine = info.target, rows.target
    change = _changed(theirs.task, theirs.column, mine.task, mine.column)
    if change is not None:
        raise IncomparableError(change)
    if (theirs.column, theirs.task, theirs.classes) != (mine.column, mine.task, mine.classes):
        raise UnpairedError(
            f"its model predicts {theirs.column!r} ({theirs.task}, {theirs.classes}), this "
            f"checkout's {mine.column!r} ({mine.task}, {mine.classes})"
        )
    if theirs.task == "binary" and theirs.threshold is None:
        raise UnpairedError(f"its {MODEL_CARD.name} records no decision threshold")
    prediction = score(load_model(model_dir / MODEL_FILE.name), rows.frame)
    return Scores(prediction, theirs.threshold), info.model_sha256


def _recorded(commit: str | None, stage: str, path: Path) -> Any:
    """The md5 dvc.lock at `commit` records for `stage`'s output `path` (None: none)."""
    return lock.lock_entries(commit).get((stage, "output", path.as_posix()))


def _test_split_md5() -> str:
    """The md5 of this checkout's test split as it is on disk (DVC's md5 of a file)."""
    return hashlib.md5(TEST_SPLIT.read_bytes(), usedforsecurity=False).hexdigest()


def scores_of_version(version_ref: str, rows: ScoredRows) -> Scores:
    """A registered version's scores for this checkout's test rows."""
    with _fetch_folder() as folder:
        fetched = registry.fetch(registry.version_of(version_ref), folder / "model")
        return _scores(fetched, rows)[0]


def split_apart(version_ref: str) -> str | None:
    """A note when the `version_ref`'s commit split its data otherwise than this checkout
    (new data, another test_size or seed): the production model is still scored on this
    checkout's test rows, as the release compares champion and challenger on the same
    rows, but some of them may be in its training data, which would flatter it."""
    commit = registry.commit_of(registry.version_of(version_ref))
    if _recorded(commit, "prepare", TEST_SPLIT) == _test_split_md5():
        return None
    return (
        f"The production model {version_ref} was trained on another split of the data than "
        "this one's: some of these test rows may be in its training data, which would "
        "flatter it against this model."
    )


def scores_at(commit: str, rows: ScoredRows) -> tuple[Scores, str | None]:
    """The scores of the model `commit`'s dvc.lock records for this checkout's test rows
    (this checkout's own where dvc.lock records the same model: a PR that did not
    retrain), and the model file's hash. An UnpairedError when they cannot be paired:
    `commit`'s test split is not the one on disk here (its model may have trained on
    some of these rows), or its target is another."""
    from cauce.artifact import ModelInfo

    split = _recorded(commit, "prepare", TEST_SPLIT)
    if split is None:
        raise UnpairedError(f"its {LOCK} records no test split")
    if split != _test_split_md5():
        raise UnpairedError(
            "its test split is not this PR's (the data or the split changed), and its model "
            "may have trained on some of these rows"
        )
    model = _recorded(commit, "train", MODEL_DIR)
    if model is not None and model == _recorded(revisions.WORKSPACE, "train", MODEL_DIR):
        return rows.scores, ModelInfo.read(MODEL_CARD).model_sha256
    with _fetch_folder() as folder:
        into = folder / MODEL_DIR.name
        get = ("dvc", "get", ".", MODEL_DIR.as_posix(), "--rev", commit, "-o", str(into))
        lock.get_or_rebuild(get, commit, f"{MODEL_DIR} at {commit[:12]}")
        return _scores(into, rows)


def _score_production(evidence: Evidence, params: Params, rows: ScoredRows, version: str) -> Scores:
    """The production `version`'s scores for this checkout's test rows; its metrics and
    group metrics, and a note when it was trained on another split, go into `evidence`."""
    scores = scores_of_version(version, rows)
    evidence.champion = version
    evidence.champion_metrics, evidence.champion_groups = rows.measure(scores, params)
    evidence.notes += filter(None, [split_apart(version)])
    return scores


def against_production(evidence: Evidence, params: Params, version: str) -> None:
    """Score the production `version` on this checkout's test rows into `evidence`: its
    metrics, its group metrics and the paired intervals of this model against it."""
    rows = ScoredRows.read()
    scores = _score_production(evidence, params, rows, version)
    add_intervals(evidence, params, rows, {PRODUCTION: scores})


def subsets(
    gate: GateParams, rows: ScoredRows, metrics: dict[str, Any], columns: list[str]
) -> list[Subset]:
    """What gets an interval: every metric this PR reports; a multiclass model's recall of
    each class (the accuracy on that class's rows); and the gate's group metric in every
    group of the slice `columns` large enough to be gated. The classes are one family of
    intervals and the groups another, each covered at `gate.confidence` as a whole."""
    found = [Subset(name, name, None) for name in METRICS if metrics.get(name) is not None]
    recalls = metrics.get(PER_CLASS_RECALL) or {}
    classes = [
        (recall_key(label), rows.y_true == code)
        for code, label in enumerate(rows.target.classes or [])
        if recalls.get(str(label)) is not None
    ]
    found += [Subset(key, "accuracy", member, len(classes)) for key, member in classes]
    groups = gate.groups
    gated = []
    for column in columns:
        values = rows.frame[column]
        for group in sorted(values.dropna().unique()):
            member = (values == group).to_numpy()
            if member.sum() >= groups.min_rows:
                gated.append((f"{groups.metric} {column}={group}", member))
    found += [Subset(key, groups.metric, member, len(gated)) for key, member in gated]
    return found


def recall_key(label: object) -> str:
    """Evidence.deltas' key of a multiclass model's recall of the class `label`."""
    return f"{PER_CLASS_RECALL} {label}"


def add_intervals(
    evidence: Evidence, params: Params, rows: ScoredRows, others: dict[str, Scores]
) -> None:
    """Evidence.deltas: this PR's model against each of `others`, on the same resamples."""
    if not others:
        return
    gate = params.gate
    measured = subsets(gate, rows, evidence.metrics, list(evidence.groups))
    evidence.confidence = gate.confidence
    evidence.deltas = paired(
        rows.target.task,
        rows.y_true,
        rows.scores,
        others,
        measured,
        gate.confidence,
        gate.resamples,
        gate.seed,
    )
    blind = []
    for metric, rule in gate.metrics.items():
        against = [d for name, d in evidence.deltas.items() if name != CONSTANT]
        found = [d[metric] for d in against if metric in d]
        half = max(((i.high - i.low) / 2 for i in found), default=0.0)
        if rule.max_regression is not None and half > rule.max_regression:
            blind.append(f"{metric} ±{half:.4f} against {rule.max_regression}")
    if blind:
        evidence.notes.append(
            f"The test split ({len(rows.y_true):,} rows) is too small to judge these metrics "
            f"against their allowances, each interval being wider: {', '.join(blind)}. A "
            "regression of the allowed size reads as noise here; more test rows "
            "(data.test_size) or a larger max_regression would let the gate tell."
        )


def worsening(metric: str, old: float, new: float) -> float:
    """How much worse `new` is than `old`, in the metric's own direction (negative: better)."""
    return old - new if METRICS[metric].higher_is_better else new - old


def within(worse: float, allowed: float) -> bool:
    """Is a worsening within its allowance? Exactly the allowance is."""
    return worse <= allowed + FLOAT_NOISE


def reading(metric: str, interval: Interval) -> str:
    """What the interval says of the change: better, worse, or within noise (it holds 0)."""
    if interval.low <= 0 <= interval.high:
        return "within noise"
    up = interval.low > 0
    return "better" if up == METRICS[metric].higher_is_better else "worse"


def signed(value: float) -> str:
    """+0.0012 / −0.0008: the sign always shown, a true minus sign."""
    return f"{value:+.4f}".replace("-", "−")


def shown(interval: Interval) -> str:
    """`+0.0012 (−0.0008 … +0.0031)`: the delta and its interval, as the report prints it."""
    return f"{signed(interval.delta)} ({signed(interval.low)} … {signed(interval.high)})"


def regression(
    metric: str,
    key: str,
    against: str,
    old: float,
    new: float,
    allowed: float,
    deltas: Mapping[str, Interval] | None,
) -> Check:
    """How much worse `key` got than `against`, and is that beyond `allowed`?

    With the comparison paired (`deltas`: its intervals) the rule asks for evidence: fail
    when the change is worse than the allowance *and* its interval does not reach zero
    (the whole interval is on the worse side). A drop past the allowance that the interval
    cannot tell from noise passes, and so does a real but allowed one; so does a change
    with no interval (undefined in too many resamples: too few of one class to say
    anything). Without pairing, the point alone decides."""
    whole = key == metric
    rule = f"regression vs {against}" if whole else f"group regression vs {against}"
    said = key if whole else key.replace(" ", " for ", 1)  # roc_auc for SEX=1
    interval = None if deltas is None else deltas.get(key)
    if interval is None:
        worse = worsening(metric, old, new)
        if deltas is not None:
            return Check(
                rule,
                key,
                worse,
                allowed,
                True,
                f"{said} vs {against} not judged: its change is undefined in too many "
                "resamples (too few rows of one class)",
                judged=False,
            )
        return Check(
            rule,
            key,
            worse,
            allowed,
            within(worse, allowed),
            f"{said} got worse by {worse:.4f} vs {against} ({old:.4f} → {new:.4f}, "
            f"allowed {allowed})",
        )
    worse = worsening(metric, 0, interval.delta)
    passed = within(worse, allowed) or reading(metric, interval) != "worse"
    return Check(
        rule,
        key,
        worse,
        allowed,
        passed,
        f"{said} {shown(interval)} vs {against}: worse beyond noise, and by more than the "
        f"allowed {allowed} ({new - interval.delta:.4f} → {new:.4f})",
        interval,
    )


def decide(gate: GateParams, evidence: Evidence) -> list[Check]:
    """Every check the policy asks for, passed or not."""
    checks: list[Check] = []
    for name, change in evidence.incomparable.items():
        checks.append(_comparable(gate, evidence, name, change))
    constant = _beats_the_constant(evidence)
    if constant is not None:
        checks.append(constant)
    if evidence.reproduction is not None:
        checks.append(_reproduced(evidence.reproduction))
    comparisons = [
        (BASE, evidence.base, evidence.base_metrics, evidence.base_groups),
        (
            PRODUCTION,
            f"production {evidence.champion}",
            evidence.champion_metrics,
            evidence.champion_groups,
        ),
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
        for name, against, reference, _ in comparisons:
            old = (reference or {}).get(metric)
            if old is None:
                continue
            checks.append(
                regression(
                    metric,
                    metric,
                    against,
                    old,
                    value,
                    rule.max_regression,
                    evidence.deltas.get(name),
                )
            )
    metric, allowed = gate.groups.metric, gate.groups.max_regression
    for name, against, _, reference_groups in comparisons:
        for column, groups in (reference_groups or {}).items():
            for group, old_entry in groups.items():
                new_entry = evidence.groups.get(column, {}).get(group, {})
                old, new = old_entry.get(metric), new_entry.get(metric)
                if old is None or new is None or new_entry["rows"] < gate.groups.min_rows:
                    continue
                key = f"{metric} {column}={group}"
                deltas = evidence.deltas.get(name)
                checks.append(regression(metric, key, against, old, new, allowed, deltas))
    if not checks:
        # A gate that checked nothing has not passed anything.
        names = ", ".join(gate.metrics)
        message = (
            f"no check ran: none of gate.metrics ({names}) has a min or max, or a base or "
            "production model reporting it to compare with; give one a floor or ceiling"
        )
        checks.append(Check("judged", "gate.metrics", None, None, False, message))
    return checks


def _beats_the_constant(evidence: Evidence) -> Check | None:
    """The primary metric must be better than a constant model's beyond noise (paired on
    these rows; on points alone, better at all): a model that learned nothing useful, or
    overfit small data, is worse than answering the training shares or mean."""
    primary, metrics, constant = evidence.primary, evidence.metrics, evidence.constant_metrics or {}
    if primary is None or metrics.get(primary) is None or constant.get(primary) is None:
        return None  # nothing to compare: no check, so a gate of nothing else fails
    new, old = metrics[primary], constant[primary]
    interval = evidence.deltas.get(CONSTANT, {}).get(primary)
    better = (
        reading(primary, interval) == "better"
        if interval is not None
        else worsening(primary, old, new) < -FLOAT_NOISE
    )
    said = f" ({shown(interval)})" if interval is not None else ""
    message = (
        f"{primary} {new:.4f} beats a constant model's {old:.4f}{said} (always {evidence.constant})"
        if better
        else f"{primary} {new:.4f} does not beat a constant model's {old:.4f}{said} beyond "
        f"noise (always {evidence.constant}): the model learned nothing it can show on "
        "these rows"
    )
    return Check("constant", primary, worsening(primary, old, new), 0.0, better, message, interval)


def _comparable(gate: GateParams, evidence: Evidence, name: str, change: str) -> Check:
    """The check of a comparison that cannot be made: a reviewer's acceptance, or none."""
    against = evidence.base if name == BASE else f"production {evidence.champion}"
    said = f"not comparable with {against}: {change}"
    if gate.accept_task_change == evidence.task:
        return Check("comparable", "task", None, None, True, f"{said}; accepted in params.yaml")
    return Check(
        "comparable",
        "task",
        None,
        None,
        False,
        f"{said}, so its numbers say nothing of this model: a reviewer who accepts the "
        f"change sets gate.accept_task_change: {evidence.task} in params.yaml",
    )


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
        accepted = "".join(f"; {c.message}" for c in checks if c.rule == "comparable")
        return f"Gate passed: all {len(checks)} checks hold{accepted}{let_through(checks)}."
    reasons = "; ".join(c.message for c in failed[:3])
    more = f"; and {len(failed) - 3} more" if len(failed) > 3 else ""
    return f"Gate failed ({len(failed)} of {len(checks)} checks): {reasons}{more}."


def let_through(checks: list[Check]) -> str:
    """What a passing gate let through that a reviewer should still see: changes worse
    beyond noise but within their allowance, drops past their allowance that the interval
    cannot tell from noise, and changes it could not judge ("" when nothing was paired)."""
    paired = [(c, c.interval) for c in checks if c.interval is not None]
    unjudged = [f"{c.metric} vs {c.against}" for c in checks if not c.judged]
    if not paired and not unjudged:
        return ""
    worse, unclear = [], []
    for check, interval in paired:
        said = f"{check.metric} {shown(interval)} vs {check.against}"
        if reading(check.measured, interval) == "worse":
            worse.append(said)
        elif not within(check.value or 0.0, check.limit or 0.0):
            unclear.append(said)
    parts = [
        f"{what}: {', '.join(found)}"
        for what, found in (
            ("worse beyond noise, within the allowance", worse),
            ("past the allowance, within noise", unclear),
            ("not judged (too few rows of one class)", unjudged),
        )
        if found
    ]
    return "; " + "; ".join(parts) if parts else "; no gated change is worse beyond noise"


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
