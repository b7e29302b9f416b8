"""dvc.lock as the contract between a commit and its outputs.

- `cauce check-lock`: is the committed dvc.lock the result of this commit's code, params
  and data? The PR check fails early with "run dvc repro and commit dvc.lock" when not.
- `cauce reproduce`: run every stage again and prove that every output is byte for byte
  what the committed dvc.lock records (the pipeline is deterministic); the finding is
  kept for the PR report and the gate.
- `require_outputs_of(rev)`: before a release, the outputs on disk must be exactly those
  the commit's dvc.lock records, outputs and dependencies alike.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Set
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from cauce import CauceError, UsageError, tools
from cauce.files import write_json
from cauce.layout import (
    CONTRACT,
    KEPT_REPORTS,
    LOCK,
    PARAMS,
    PIPELINE,
    REBUILDS,
    REPRODUCTION,
    UV_LOCK,
)
from cauce.ops import revisions

log = logging.getLogger("cauce")

Kind = Literal["output", "dependency", "parameter", "command"]


class StaleLockError(CauceError):
    """dvc.lock does not match the code, params or data it claims to come from."""


class NotReproducibleError(CauceError):
    """The rebuilt outputs are not the ones dvc.lock records."""


class OutputsDifferError(CauceError):
    """The outputs on disk are not the ones a commit records."""


@dataclass(frozen=True)
class Difference:
    """One entry of dvc.lock that is not the same in two places."""

    stage: str
    kind: Kind
    path: str
    recorded: Any  # in the reference (e.g. HEAD's dvc.lock)
    found: Any  # here (e.g. what dvc repro just wrote)

    def describe(self, recorded_as: str, found_as: str) -> str:
        return (
            f"{self.stage}: {self.kind} {self.path}: {recorded_as} {_short(self.recorded)}, "
            f"{found_as} {_short(self.found)}"
        )


def _short(value: Any) -> str:
    if value is None:
        return "nothing"
    text = str(value)
    return f"md5 {text[:12]}…" if len(text) >= 32 else repr(value)


def lock_entries(rev: str | None) -> dict[tuple[str, Kind, str], Any]:
    """Each stage's outputs, dependencies (md5), parameters and command in dvc.lock at `rev`."""
    return entries_of(revisions.read_yaml(LOCK, rev) or {})


def entries_of(lock: dict[str, Any]) -> dict[tuple[str, Kind, str], Any]:
    entries: dict[tuple[str, Kind, str], Any] = {}
    for name, stage in lock.get("stages", {}).items():
        entries[(name, "command", "cmd")] = stage.get("cmd")
        sections: tuple[tuple[str, Kind], ...] = (("outs", "output"), ("deps", "dependency"))
        for section, kind in sections:
            for entry in stage.get(section, []):
                entries[(name, kind, entry["path"])] = entry.get("md5")
        for values in stage.get("params", {}).values():
            for key, value in revisions.flatten(values).items():
                entries[(name, "parameter", key)] = value
    return entries


def differences(reference: str, current: str | None = revisions.WORKSPACE) -> list[Difference]:
    """Entries of dvc.lock that differ between `reference` and `current`, outputs first."""
    return compare(lock_entries(reference), lock_entries(current))


def compare(
    old: dict[tuple[str, Kind, str], Any], new: dict[tuple[str, Kind, str], Any]
) -> list[Difference]:
    found = [
        Difference(stage, kind, path, old.get(key), new.get(key))
        for key in old.keys() | new.keys()
        for stage, kind, path in [key]
        if old.get(key) != new.get(key)
    ]
    kinds = {"output": 0, "dependency": 1, "parameter": 2, "command": 3}
    in_pipeline_order = dict.fromkeys(stage for stage, _, _ in [*old, *new])
    stages = {stage: i for i, stage in enumerate(in_pipeline_order)}
    return sorted(found, key=lambda d: (kinds[d.kind], stages[d.stage], d.path))


def _pipeline() -> dict[str, Any]:
    """dvc.yaml, as written."""
    loaded: dict[str, Any] = revisions.yaml_data(PIPELINE.read_text(encoding="utf-8"))
    return loaded


def pipeline_outputs(dvc_yaml: dict[str, Any]) -> set[str]:
    """Every path a stage writes (outs, metrics, plots)."""
    paths: set[str] = set()
    for stage in dvc_yaml.get("stages", {}).values():
        for section in ("outs", "metrics", "plots"):
            for entry in stage.get(section, []):
                paths.add(next(iter(entry)) if isinstance(entry, dict) else entry)
    return paths


def status_problems(
    status: dict[str, Any], skip: Set[str] = frozenset(), only: str | None = None
) -> list[str]:
    """Readable lines for `dvc status --json`: what no longer matches dvc.lock, and how.

    Paths in `skip` are left out; `only` keeps one section (e.g. "changed deps").
    """
    problems = []
    for stage, entries in status.items():
        for entry in entries:
            if isinstance(entry, str):  # "changed command", "always changed": a dependency
                if only in (None, "changed deps"):
                    problems.append(f"{stage}: {entry}")
                continue
            for section, changes in entry.items():
                if only not in (None, section):
                    continue
                label = "output " if section == "changed outs" else ""
                for path, change in changes.items():
                    if path in skip:
                        continue
                    if isinstance(change, dict):  # params: {"train": "modified"}
                        keys = ", ".join(f"{key} {how}" for key, how in change.items())
                        problems.append(f"{stage}: {path} ({keys})")
                    else:
                        problems.append(f"{stage}: {label}{path} {change}")
    return problems


def _status() -> dict[str, Any]:
    return json.loads(tools.run("dvc", "status", "--json").stdout or "{}")


def require_current() -> None:
    """Raise StaleLockError naming every dependency that changed since dvc.lock.

    Only dependencies that live in git are compared (code, params, the source data):
    outputs of other stages are skipped, since CI may not have them yet.
    """
    outputs = pipeline_outputs(_pipeline())
    problems = status_problems(_status(), skip=outputs, only="changed deps")
    if problems:
        raise StaleLockError(
            "dvc.lock is stale: run dvc repro and commit dvc.lock. What changed since it "
            "was written:\n" + "\n".join(f"  - {p}" for p in problems)
        )


def require_outputs_of(rev: str = "HEAD") -> None:
    """Raise OutputsDifferError unless the outputs on disk are exactly what `rev` records.

    Each way they can differ is named with the stage and the path, and what to do about
    it: the working tree's dvc.lock is not `rev`'s (a rerun that was not committed); what
    the outputs are made from changed since (an edit not yet run); the files on disk are
    not what dvc.lock records (missing or modified); or a file the release reads has
    uncommitted changes.
    """
    if revisions.read_text(LOCK, rev) is None:
        raise OutputsDifferError(f"{rev} has no {LOCK}: run dvc repro and commit {LOCK}")
    status = _status()
    # An output that another stage reads (models, for evaluate) is judged once, as an
    # output: after a merge it is stale, and the remedy is dvc checkout, not dvc repro.
    outputs = pipeline_outputs(_pipeline())
    dirty = tools.run(
        "git", "status", "--porcelain", "--", str(PARAMS), str(PIPELINE), str(CONTRACT)
    ).stdout.splitlines()
    refusals = [
        (
            f"the outputs here are not those {rev}'s {LOCK} records",
            [d.describe(f"{rev} records", "this checkout has") for d in differences(rev)],
            f"Commit what made them (and {LOCK}) to release them, or go back to {rev}'s with: "
            f"git checkout {rev} -- {LOCK} {PARAMS} {KEPT_REPORTS} && dvc checkout",
        ),
        (
            f"what the outputs are made from changed since {LOCK} was written",
            status_problems(status, skip=outputs, only="changed deps"),
            f"Release {rev} as committed by undoing the change (git checkout {rev} -- FILE), "
            "or run dvc repro and commit to release the change",
        ),
        (
            f"the files on disk are not those {LOCK} records",
            status_problems(status, only="changed outs"),
            "Get them with dvc checkout (after a merge or a checkout without the git "
            "hooks: make hooks installs them), dvc pull, or cauce reproduce to rebuild and "
            "verify them",
        ),
        (
            "uncommitted changes in files the release reads",
            [line[3:] for line in dirty],
            f"A release judges {rev} as committed: commit or stash them",
        ),
    ]
    for title, problems, remedy in refusals:
        if problems:
            named = "\n".join(f"  - {p}" for p in problems)
            raise OutputsDifferError(f"{title}:\n{named}\n{remedy}")


def uncommitted_pipeline_files() -> list[str]:
    """The files git keeps that the pipeline is made of (dvc.yaml, dvc.lock, params.yaml,
    every stage's dependencies that are not another stage's output) and that differ from
    HEAD, as `git status` names them."""
    pipeline = _pipeline()
    outputs = pipeline_outputs(pipeline)
    deps = {
        dep
        for stage in pipeline.get("stages", {}).values()
        for dep in stage.get("deps", [])
        if "${" not in dep and dep not in outputs
    }
    paths = sorted({str(LOCK), str(PIPELINE), str(PARAMS), *deps})
    listed = tools.run("git", "status", "--porcelain", "--", *paths).stdout.splitlines()
    return [line[3:] for line in listed]


@dataclass(frozen=True)
class Reproduced:
    """What `cauce reproduce` rebuilt, all of it byte for byte what dvc.lock records."""

    rebuilt: list[str]  # the stages, in the order they ran
    outputs: int  # how many outputs HEAD's dvc.lock records

    def line(self) -> str:
        what = f"rebuilt {', '.join(self.rebuilt)}" if self.rebuilt else "nothing to rebuild"
        return (
            f"Reproduced: {what}; all {self.outputs} outputs are byte for byte what {LOCK} records."
        )


def reproduce() -> Reproduced:
    """`cauce reproduce`: rerun every stage, then prove the outputs are what HEAD's dvc.lock
    records.

    What it found is kept in .cauce/reproduction.json for the PR report, failure included.
    """
    require_current()
    uncommitted = uncommitted_pipeline_files()
    if uncommitted:
        raise UsageError(
            "cauce reproduce proves a commit, and the pipeline here has uncommitted changes "
            f"({', '.join(uncommitted)}): commit them (git add -A && git commit), then run it "
            "again; it compares what it rebuilds with the committed dvc.lock"
        )
    finding: dict[str, Any] = {"commit": revisions.resolve("HEAD"), "rebuilt": []}
    try:
        finding["rebuilt"] = _repro()
    except tools.ToolError as error:
        write_json(REPRODUCTION, finding | {"reproduced": False, "failed": str(error)})
        raise
    changed = [d for d in differences("HEAD") if d.kind == "output"]
    messages = [d.describe("dvc.lock records", "rebuilt") for d in changed]
    write_json(
        REPRODUCTION,
        finding
        | {
            "reproduced": not changed,
            "differences": [
                asdict(d) | {"message": m} for d, m in zip(changed, messages, strict=True)
            ],
        },
    )
    if changed:
        raise NotReproducibleError(
            "the pipeline is not reproducible: what dvc repro rebuilt differs from what "
            f"the committed {LOCK} records:\n" + "\n".join(f"  - {m}" for m in messages)
        )
    outputs = sum(1 for _, kind, _ in lock_entries("HEAD") if kind == "output")
    return Reproduced(finding["rebuilt"], outputs)


def _repro(*targets: str, dvc: str = "dvc", cwd: Path | None = None, env: dict | None = None):
    """Run every stage again (`dvc repro --force`, which skips the run cache too), showing
    its progress; the stages it ran. Forced, so that outputs git keeps (validation,
    metrics) are remade as well, not taken on trust because they are already there.

    It runs as a process (the `dvc` of the commit's own environment, for `rebuild_at`);
    the stages it ran are every stage of the targets' pipelines, as DVC's own plan orders
    them, since a forced run skips none."""
    from dvc.repo import Repo
    from dvc.repo.reproduce import plan_repro

    with Repo(str(cwd or Path.cwd())) as repo:
        # By name: a stage's address is relative to this process's directory, not `cwd`.
        graph = repo.index.graph
        chosen = [stage for stage in graph if stage.name in targets]
        planned = [stage.name for stage in plan_repro(graph, chosen or None)]
    result = tools.run(dvc, "repro", "--force", *targets, cwd=cwd, env=env, echo=True, check=False)
    if result.returncode != 0:
        tail = result.stdout.strip().splitlines()[-20:]
        raise tools.ToolError(f"dvc repro --force {' '.join(targets)} failed:\n" + "\n".join(tail))
    return planned


def rebuild_at(commit: str, target: str = "train") -> None:
    """Rebuild the outputs `commit` records up to stage `target`, with the commit's own
    code and locked dependencies, into this checkout's DVC cache; verify them byte for byte.

    It runs in a git worktree of the commit that shares this checkout's DVC cache. When
    the commit's uv.lock is this checkout's, this environment runs the commit's code;
    otherwise the worktree gets its own environment from its own lock (`make setup`).
    """
    worktree = (REBUILDS / commit[:12]).resolve()
    if worktree.exists():
        tools.run("git", "worktree", "remove", "--force", str(worktree), check=False)
    tools.run("git", "worktree", "add", "--quiet", "--detach", "--force", str(worktree), commit)
    try:
        cache = tools.run("dvc", "cache", "dir").stdout.strip()
        tools.run("dvc", "cache", "dir", "--local", cache, cwd=worktree)
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
        if revisions.read_text(UV_LOCK, commit) == revisions.read_text(UV_LOCK):
            bin_dir = Path(sys.executable).parent
            env["PYTHONPATH"] = str(worktree / "src")
        else:
            log.info(
                "%s has other locked dependencies: setting up its own environment", commit[:12]
            )
            tools.run("make", "setup", cwd=worktree)
            bin_dir = worktree / ".venv/bin"
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        ran = _repro(target, dvc=str(bin_dir / "dvc"), cwd=worktree, env=env)
        rebuilt = entries_of(revisions.yaml_data((worktree / LOCK).read_text(encoding="utf-8")))
    finally:
        tools.run("git", "worktree", "remove", "--force", str(worktree), check=False)
    changed = [
        d for d in compare(lock_entries(commit), rebuilt) if d.kind == "output" and d.stage in ran
    ]
    if changed:
        raise NotReproducibleError(
            f"the pipeline is not reproducible: rebuilding {commit[:12]} gave other outputs "
            f"than its {LOCK} records:\n"
            + "\n".join(f"  - {d.describe('dvc.lock records', 'rebuilt')}" for d in changed)
        )
    log.info(
        "rebuilt %s at %s: byte for byte what its %s records", ", ".join(ran), commit[:12], LOCK
    )


def get_or_rebuild(get: tuple[str, ...], commit: str, what: str) -> None:
    """Run `get` (`dvc get` or `dvc artifacts get` of an output at `commit`); when no DVC
    cache or remote here has the output, rebuild it from its commit first (rebuild_at)."""
    if tools.run(*get, check=False).returncode != 0:
        log.info("%s is in no DVC cache or remote here: rebuilding it from its commit", what)
        rebuild_at(commit)
        tools.run(*get)
