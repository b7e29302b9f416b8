"""`cauce release`: run on main after a merge. Versions the model, and promotes it only
when it beats production on the same test set.

Semantic versions follow what changed since the last registered version: the input
schema (major), code or params (minor), only data (patch). A version is registered with
GTO (`model@vX.Y.Z`), always assigned `staging`, and `prod` only when the gate holds
against the production model. Running it twice on one commit changes nothing.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from cauce import CauceError, UsageError, tools
from cauce.artifact import ModelInfo
from cauce.config import Params
from cauce.files import write_json, write_text
from cauce.layout import (
    CONTRACT,
    EVALUATE_METRICS,
    GROUP_METRICS,
    MODEL_CARD,
    MODEL_CARD_PAGE,
    MODEL_DIR,
    PARAMS,
    RELEASE_NOTES,
    RELEASE_OUTCOME,
    RELEASE_RECORD,
    RELEASE_REPORTS,
)
from cauce.ops import lock, registry, revisions
from cauce.ops.gate import Evidence, UnpairedError, against_production, decide, failures
from cauce.ops.registry import MODEL, PRODUCTION, STAGING, Level, Version, bump
from cauce.ops.report import metrics_table

log = logging.getLogger("cauce")

# Stages whose inputs make the model; evaluate only measures it.
MODEL_STAGES = ("ingest", "validate", "prepare", "train")
SCHEMA_PARAMS = ("features.numeric", "features.ordinal", "features.categorical")


class ReleaseError(CauceError):
    """The commit cannot be released as it is."""


@dataclass
class Change:
    """What changed in the model's inputs since a revision, and the version bump it means."""

    schema: list[str] = field(default_factory=list)
    code_or_params: list[str] = field(default_factory=list)
    data: list[str] = field(default_factory=list)

    @property
    def level(self) -> Level | None:
        if self.schema:
            return "major"
        if self.code_or_params:
            return "minor"
        return "patch" if self.data else None

    @property
    def reasons(self) -> list[str]:
        return [*self.schema, *self.code_or_params, *self.data]


@dataclass(frozen=True)
class Inputs:
    """What made the model at one revision, as its dvc.lock and params.yaml record it."""

    files: dict[str, str | None]  # dependencies that live in git (code, source data): md5
    params: dict[str, Any]  # the model stages' parameters, flattened
    commands: dict[str, str | None]
    schema: dict[str, Any]  # each feature's kind and contract rule, and the model's answer
    model: str | None  # the md5 dvc.lock records for the model directory


def model_inputs(rev: str | None) -> Inputs:
    """The inputs the model stages recorded in dvc.lock at `rev` (None: the working tree)."""
    entries = lock.lock_entries(rev)
    produced = {path: md5 for (_, kind, path), md5 in entries.items() if kind == "output"}
    mine = {
        (kind, path): value
        for (stage, kind, path), value in entries.items()
        if stage in MODEL_STAGES
    }
    params = revisions.read_yaml(PARAMS, rev) or {}
    features, data = params.get("features", {}), params.get("data", {})
    contract = (revisions.read_yaml(CONTRACT, rev) or {}).get("columns", {})
    # What the model answers is part of its interface too: another task or target is major.
    answer = {"task": data.get("task", "binary"), "target": data.get("target")}
    return Inputs(
        files={p: v for (k, p), v in mine.items() if k == "dependency" and p not in produced},
        params={p: v for (k, p), v in mine.items() if k == "parameter"},
        commands={s: v for (s, k, _), v in entries.items() if k == "command" and s in MODEL_STAGES},
        schema={
            column: {"kind": kind, "rule": contract.get(column)}
            for kind in ("numeric", "ordinal", "categorical")
            for column in map(_column_name, features.get(kind, []))
        }
        | {"(the answer)": answer},
        model=produced.get(str(MODEL_DIR)),
    )


def _column_name(entry: str | dict[str, Any]) -> str:
    """A feature as params.yaml lists it: a name, or an ordinal {name: its codes' order}."""
    return entry if isinstance(entry, str) else next(iter(entry))


def classify(old: Inputs, new: Inputs) -> Change:
    """What changed from `old` to `new`, sorted into schema, code or params, and data."""
    change = Change()
    for column in sorted(old.schema.keys() | new.schema.keys()):
        if old.schema.get(column) != new.schema.get(column):
            change.schema.append(f"input schema: {column} {_what(old.schema, new.schema, column)}")
    for path in sorted(old.files.keys() | new.files.keys()):
        if old.files.get(path) == new.files.get(path):
            continue
        if path.startswith("src/") or path == str(CONTRACT):
            change.code_or_params.append(f"code: {path}")
        else:
            change.data.append(f"data: {path} content")
    for key in sorted(old.params.keys() | new.params.keys()):
        before, after = old.params.get(key), new.params.get(key)
        if before == after or key in SCHEMA_PARAMS:
            continue
        entry = f"params: {key} {before} → {after}"
        (change.data if key.startswith("data.") else change.code_or_params).append(entry)
    for stage in MODEL_STAGES:
        if old.commands.get(stage) != new.commands.get(stage):
            change.code_or_params.append(f"command of {stage}: {new.commands.get(stage)}")
    if old.model != new.model and not change.reasons:
        # Same recorded inputs, other bytes: made on another platform or library build.
        change.data.append("model: other bytes from the same inputs")
    return change


def _what(old: dict[str, Any], new: dict[str, Any], column: str) -> str:
    if column not in old:
        return "added"
    if column not in new:
        return "removed"
    return "changed"


@dataclass
class Decision:
    promote: bool
    reason: str
    evidence: Evidence


def judge(params: Params, version: str, production: str | None) -> Decision:
    """Score production and the new model on the same test split; may the new one replace it?"""
    metrics = revisions.read_json(EVALUATE_METRICS)
    if metrics is None:
        raise ReleaseError(f"{EVALUATE_METRICS} not found: run dvc repro (or dvc pull) first")
    evidence = Evidence(
        base=production or "none", metrics=metrics, groups=revisions.read_json(GROUP_METRICS) or {}
    )
    if production is None:
        return Decision(True, f"{version} is the first version: promoted to {PRODUCTION}", evidence)
    try:
        against_production(evidence, params, production)
    except UnpairedError as error:
        return Decision(
            False,
            f"{version} stays in {STAGING}: {production} cannot be compared with it ({error}); "
            f"review both, then promote by hand (gto assign {MODEL} --version {version} "
            f"--stage {PRODUCTION})",
            evidence,
        )
    checks = decide(params.gate, evidence)
    failed = failures(checks)  # broken bounds first, as the PR report lists them
    if failed:
        return Decision(False, f"{version} stays in {STAGING}: {failed[0].message}", evidence)
    metric, theirs = params.gate.groups.metric, evidence.champion_metrics or {}
    return Decision(
        True,
        f"{version} promoted to {PRODUCTION}: {metric} {metrics[metric]:.4f} against "
        f"{theirs[metric]:.4f} for {production}; all {len(checks)} gate "
        "checks hold",
        evidence,
    )


def push_outputs() -> None:
    """`dvc push` to the default DVC remote, when there is one. A remote that cannot be
    reached or refuses is a ToolError naming the remote and what went wrong (`--quiet`
    would hide it), before anything is registered."""
    default = tools.run("dvc", "remote", "default", check=False)
    if default.returncode != 0:
        return
    name = default.stdout.strip()
    # A process, not dvc.repo.Repo.push: the API raises only "N files failed to upload"
    # and logs each file's cause, and the cause (a host that refused, a bad credential) is
    # what the user needs, so it is read from the ERROR: lines DVC prints.
    pushed = tools.run("dvc", "push", check=False)
    if pushed.returncode == 0:
        return
    errors = [
        line.removeprefix("ERROR:").strip()
        for line in (pushed.stderr + pushed.stdout).splitlines()
        if line.startswith("ERROR:")
    ]
    # "failed to transfer '<md5>' - Cannot connect to host …": the cause, once
    causes = list(dict.fromkeys(e.partition(" - ")[2] or e for e in errors)) or ["failed"]
    raise tools.ToolError(
        f"dvc push to the DVC remote {name!r} ({remote_url(name)}) failed: "
        + "; ".join(causes[:3])
        + ". Nothing was registered: make the remote reachable (or fix its credentials) "
        "and run cauce release again"
    )


def remote_url(name: str) -> str:
    """The URL of DVC remote `name`, without any user or password in it."""
    for line in tools.run("dvc", "remote", "list", check=False).stdout.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0] == name:
            url = urlsplit(fields[1])
            if url.netloc and "@" in url.netloc:
                url = url._replace(netloc=url.netloc.rpartition("@")[2])
            return urlunsplit(url)
    return "its URL unknown"


def require_fetchable(commit: str) -> None:
    """Push the outputs when there is a DVC remote, then prove the model directory of
    `commit` can be fetched the way serve and deploy fetch it: a version whose model
    exists nowhere is never registered."""
    push_outputs()
    with tempfile.TemporaryDirectory() as folder:
        fetched = tools.run(
            "dvc",
            "get",
            ".",
            str(MODEL_DIR),
            "--rev",
            commit,
            "-o",
            f"{folder}/model",
            check=False,
        )
    if fetched.returncode != 0:
        said = " ".join(fetched.stderr.strip().splitlines()[-1:])
        raise ReleaseError(
            f"the model directory of {commit[:12]} cannot be fetched from the DVC cache or "
            f"remote ({said}): a version nobody can fetch is not registered. Bring it with "
            "make outputs (dvc pull, or cauce reproduce to rebuild it), then release again"
        )


@dataclass(frozen=True)
class Released:
    """What `cauce release` did: the tags it made, and why; no tags when there was nothing
    to release."""

    reason: str  # the promotion decision, or why nothing was released
    tags: list[str] = field(default_factory=list)
    pushed: bool = False

    def lines(self) -> list[str]:
        if not self.tags:
            return [self.reason]
        pushed = "" if self.pushed else " (no origin: not pushed)"
        return [self.reason, f"tags: {', '.join(self.tags)}{pushed}"]


def run(params: Params) -> Released:
    """`cauce release`: register HEAD's model as the next version, and give it prod when it
    beats production (staging when not)."""
    lock.require_outputs_of("HEAD")
    head = revisions.resolve("HEAD")
    known = registry.versions()
    at_head = next((v for v in known if v.commit == head), None)
    if at_head is not None and at_head.stages:
        stages = ", ".join(at_head.stages)
        return Released(f"{at_head.ref} is already released from this commit ({stages})")
    previous = known[-1] if known else None
    if at_head is not None:
        version, change = at_head.name, Change()
    else:
        new = model_inputs("HEAD")
        if previous is None:
            change = Change(code_or_params=["first version"])
        else:
            old = model_inputs(previous.commit)
            if old.model == new.model:
                return Released(
                    f"the model is byte for byte that of {previous.ref}: nothing to release"
                )
            change = classify(old, new)
        version = bump(previous.name if previous else None, change.level or "patch")

    production = registry.production_version()
    decision = judge(params, version, production)  # before any tag: nothing half-done
    require_fetchable(head)
    tags = []
    if at_head is None:
        tags.append(registry.register(version, head, "; ".join(change.reasons)[:500]))
    # One stage per version: prod when it wins, staging (the least a release gets) when not.
    stage = PRODUCTION if decision.promote else STAGING
    tags.append(registry.assign(version, stage, decision.reason))
    pushed = registry.push_tags(tags)  # a refused push undoes the tags: no report of them
    write_reports(params, version, stage, change, decision, previous)
    return Released(decision.reason, tags, pushed)


def write_reports(
    params: Params,
    version: str,
    stage: str,
    change: Change,
    decision: Decision,
    previous: Version | None,
) -> None:
    from cauce.ops.model_card import model_card

    evidence = decision.evidence
    info = ModelInfo.read(MODEL_CARD)
    write_json(
        RELEASE_RECORD,
        {
            "version": version,
            "stage": stage,
            "promoted": decision.promote,
            "reason": decision.reason,
            "bump": change.level,
            "changes": change.reasons,
            "previous": previous.name if previous else None,
            "production_before": evidence.champion,
            "model": {"md5": model_inputs("HEAD").model, "sha256": info.model_sha256},
            "metrics": evidence.metrics,
            "production_metrics": evidence.champion_metrics,
        },
    )
    # key=value lines for $GITHUB_OUTPUT: release.yml deploys what this says
    write_text(RELEASE_OUTCOME, f"version={version}\nstage={stage}\n")
    write_text(
        RELEASE_NOTES,
        release_notes(version, stage, change, decision, previous),
    )
    write_text(
        RELEASE_REPORTS / MODEL_CARD_PAGE, model_card(info, version, stage, evidence, params)
    )


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
        lines += [
            f"## Against {evidence.champion}, on this version's test split",
            metrics_table(evidence, label=version, with_base=False),
        ]
    return "\n\n".join(lines) + "\n"


@dataclass(frozen=True)
class RolledBack:
    """Production before and after `cauce rollback`; no tag when `to` already had it."""

    before: str  # model@v0.3.0
    to: str  # v0.2.0
    tag: str | None = None
    pushed: bool = False

    def line(self) -> str:
        if self.tag is None:
            return f"{self.before} is already in production"
        version = registry.version_of(self.before)
        pushed = "" if self.pushed else ", not pushed: no origin"
        return f"prod: {version} → {self.to} ({self.tag}{pushed})"


def rollback(to: str | None = None) -> RolledBack:
    """Give `prod` to version `to`, or to the version that had it before the current one."""
    current = registry.production_version()
    if current is None:
        raise ReleaseError("no version is in production: nothing to roll back")
    current_version = registry.version_of(current)
    if to is None:
        earlier = [v for v in registry.stage_history(PRODUCTION) if v != current_version]
        if not earlier:
            raise ReleaseError(f"{current} is the only version ever in production")
        to = earlier[0]
    registered = [v.name for v in registry.versions()]
    if to not in registered:
        raise UsageError(f"--to {to}: not a registered version; known: {', '.join(registered)}")
    if to == current_version:
        return RolledBack(current, to)
    tag = registry.assign(to, PRODUCTION, f"rollback from {current_version} to {to}")
    return RolledBack(current, to, tag, registry.push_tags([tag]))
