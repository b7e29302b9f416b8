"""`cauce release`: run on main after a merge. Versions the model, and promotes it only
when it beats production on the same test set.

Semantic versions follow what changed since the last registered version: the input
schema (major), code or params (minor), only data (patch). A version is registered with
GTO (`model@vX.Y.Z`), always assigned `staging`, and `prod` only when the gate holds
against the production model. Running it twice on one commit changes nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cauce import CauceError
from cauce.config import Params
from cauce.files import write_json, write_text
from cauce.ops import lock, registry, revisions
from cauce.ops.gate import GROUPS_FILE, METRICS_FILE, Evidence, decide, score_version
from cauce.ops.registry import PRODUCTION, STAGING, Version

log = logging.getLogger("cauce")

RELEASE_REPORTS = Path("reports/release")
# Stages whose inputs make the model; evaluate only measures it.
MODEL_STAGES = ("ingest", "validate", "prepare", "train")
SCHEMA_PARAMS = ("features.numeric", "features.ordinal", "features.categorical")
Level = Literal["major", "minor", "patch"]


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


def _model_inputs(rev: str | None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(file hashes, params, commands) the model stages recorded in dvc.lock at `rev`."""
    stages = (revisions.read_yaml("dvc.lock", rev) or {}).get("stages", {})
    produced = {out["path"] for stage in stages.values() for out in stage.get("outs", [])}
    files: dict[str, Any] = {}
    params: dict[str, Any] = {}
    commands: dict[str, Any] = {}
    for name in MODEL_STAGES:
        stage = stages.get(name, {})
        commands[name] = stage.get("cmd")
        for dep in stage.get("deps", []):
            if dep["path"] not in produced:
                files[dep["path"]] = dep.get("md5")
        for values in stage.get("params", {}).values():
            params |= revisions.flatten(values)
    return files, params, commands


def _input_schema(rev: str | None) -> dict[str, Any]:
    """Each feature's kind and contract rule at `rev`: what a caller must send."""
    features = (revisions.read_yaml("params.yaml", rev) or {}).get("features", {})
    contract = (revisions.read_yaml("data/contract.yaml", rev) or {}).get("columns", {})
    return {
        column: {"kind": kind, "rule": contract.get(column)}
        for kind in ("numeric", "ordinal", "categorical")
        for column in features.get(kind, [])
    }


def classify(since: str) -> Change:
    """Compare the model's recorded inputs at `since` with the working tree's."""
    change = Change()
    old_files, old_params, old_commands = _model_inputs(since)
    new_files, new_params, new_commands = _model_inputs(None)
    old_schema, new_schema = _input_schema(since), _input_schema(None)
    for column in sorted(old_schema.keys() | new_schema.keys()):
        if old_schema.get(column) != new_schema.get(column):
            change.schema.append(f"input schema: {column} {_what(old_schema, new_schema, column)}")
    for path in sorted(old_files.keys() | new_files.keys()):
        if old_files.get(path) == new_files.get(path):
            continue
        if path.startswith("src/") or path == "data/contract.yaml":
            change.code_or_params.append(f"code: {path}")
        else:
            change.data.append(f"data: {path} content")
    for key in sorted(old_params.keys() | new_params.keys()):
        old, new = old_params.get(key), new_params.get(key)
        if old == new or key in SCHEMA_PARAMS:
            continue
        entry = f"params: {key} {old} → {new}"
        (change.data if key.startswith("data.") else change.code_or_params).append(entry)
    for stage in MODEL_STAGES:
        if old_commands[stage] != new_commands[stage]:
            change.code_or_params.append(f"command of {stage}: {new_commands[stage]}")
    return change


def _what(old: dict[str, Any], new: dict[str, Any], column: str) -> str:
    if column not in old:
        return "added"
    if column not in new:
        return "removed"
    return "changed"


def bump(previous: Version | None, level: Level) -> str:
    if previous is None:
        return "v0.1.0"
    major, minor, patch = previous.number
    if level == "major":
        return f"v{major + 1}.0.0"
    if level == "minor":
        return f"v{major}.{minor + 1}.0"
    return f"v{major}.{minor}.{patch + 1}"


@dataclass
class Decision:
    promote: bool
    reason: str
    evidence: Evidence


def judge(params: Params, version: str, production: str | None) -> Decision:
    """Score production and the new model on the same test split; may the new one replace it?"""
    metrics = revisions.read_json(METRICS_FILE)
    if metrics is None:
        raise ReleaseError(f"{METRICS_FILE} not found: run dvc repro (or dvc pull) first")
    evidence = Evidence(
        base=production or "none", metrics=metrics, groups=revisions.read_json(GROUPS_FILE) or {}
    )
    if production is None:
        return Decision(True, f"{version} is the first version: promoted to {PRODUCTION}", evidence)
    evidence.champion = production
    evidence.champion_metrics, evidence.champion_groups = score_version(production, params)
    checks = decide(params.gate, evidence)
    failed = [c for c in checks if not c.passed]
    if failed:
        return Decision(False, f"{version} stays in {STAGING}: {failed[0].message}", evidence)
    metric = params.gate.groups.metric
    return Decision(
        True,
        f"{version} promoted to {PRODUCTION}: {metric} {metrics[metric]:.4f} against "
        f"{evidence.champion_metrics[metric]:.4f} for {production}; all {len(checks)} gate "
        "checks hold",
        evidence,
    )


def _outputs_available() -> None:
    if registry.run("dvc", "status", "--quiet", check=False).returncode != 0:
        raise ReleaseError(
            "the pipeline's outputs are not those dvc.lock records: run dvc pull "
            "(or dvc repro) before releasing"
        )
    if registry.run("dvc", "remote", "default", check=False).returncode == 0:
        registry.run("dvc", "push", "--quiet")


def run(params: Params) -> int:
    lock.require_current()
    _outputs_available()
    head = revisions.resolve("HEAD")
    known = registry.versions()
    at_head = next((v for v in known if v.commit == head), None)
    if at_head is not None and at_head.stages:
        print(f"{at_head.ref} is already released from this commit ({', '.join(at_head.stages)})")
        return 0
    previous = known[-1] if known else None
    if at_head is not None:
        version, change = at_head.name, Change()
    else:
        change = classify(previous.commit) if previous else Change(code_or_params=["first version"])
        if change.level is None:
            print(f"the model's inputs have not changed since {previous.ref}: nothing to release")
            return 0
        version = bump(previous, change.level)

    production = registry.production_version()
    decision = judge(params, version, production)  # before any tag: nothing half-done
    tags = []
    if at_head is None:
        tags.append(registry.register(version, head, "; ".join(change.reasons)[:500]))
    # One stage per version: prod when it wins, staging (the least a release gets) when not.
    stage = PRODUCTION if decision.promote else STAGING
    tags.append(registry.assign(version, stage, decision.reason))
    write_reports(params, version, stage, change, decision, previous)
    pushed = registry.push_tags(tags)
    print(decision.reason)
    print(f"tags: {', '.join(tags)}" + ("" if pushed else " (no origin: not pushed)"))
    return 0


def write_reports(
    params: Params,
    version: str,
    stage: str,
    change: Change,
    decision: Decision,
    previous: Version | None,
) -> None:
    from cauce.ops.model_card import model_card, release_notes

    evidence = decision.evidence
    write_json(
        RELEASE_REPORTS / "release.json",
        {
            "version": version,
            "stage": stage,
            "promoted": decision.promote,
            "reason": decision.reason,
            "bump": change.level,
            "changes": change.reasons,
            "previous": previous.name if previous else None,
            "production_before": evidence.champion,
            "metrics": evidence.metrics,
            "production_metrics": evidence.champion_metrics,
        },
    )
    # key=value lines for $GITHUB_OUTPUT: release.yml deploys what this says
    write_text(RELEASE_REPORTS / "outcome.env", f"version={version}\nstage={stage}\n")
    write_text(
        RELEASE_REPORTS / "release-notes.md",
        release_notes(version, stage, change, decision, previous),
    )
    write_text(RELEASE_REPORTS / "model-card.md", model_card(params, version, stage, evidence))


def rollback(params: Params, to: str | None = None) -> int:  # noqa: ARG001 - a cauce command
    """Give `prod` to version `to`, or to the version that had it before the current one."""
    current = registry.production_version()
    if current is None:
        raise ReleaseError("no version is in production: nothing to roll back")
    current_version = current.rpartition("@")[2]
    if to is None:
        earlier = [v for v in registry.stage_history(PRODUCTION) if v != current_version]
        if not earlier:
            raise ReleaseError(f"{current} is the only version ever in production")
        to = earlier[0]
    registered = [v.name for v in registry.versions()]
    if to not in registered:
        raise ReleaseError(f"--to {to}: not a registered version; known: {', '.join(registered)}")
    if to == current_version:
        print(f"{current} is already in production")
        return 0
    tag = registry.assign(to, PRODUCTION, f"rollback from {current_version} to {to}")
    pushed = registry.push_tags([tag])
    print(f"prod: {current_version} → {to} ({tag}{'' if pushed else ', not pushed: no origin'})")
    return 0
