"""Model versions and stages, as GTO git tags (`model@v1.4.0`, `model#prod#7`).

Git is the source of truth: the production model is whatever `model#prod` points at,
and its files come from DVC (`dvc artifacts get`), resolved through the same tags. GTO's
Python API reads and writes the tags; its semantic versions give the next number.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cauce import CauceError, tools
from cauce.ops import lock

log = logging.getLogger("cauce")

MODEL = "model"


def version_of(ref: str) -> str:
    """The version a reference names: `model@v0.2.0` → `v0.2.0`; a bare version as it is."""
    return ref.rpartition("@")[2]


PRODUCTION = "prod"
STAGING = "staging"
Level = Literal["major", "minor", "patch"]


@dataclass(frozen=True)
class Version:
    name: str  # v1.4.0
    commit: str
    stages: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{MODEL}@{self.name}"


def bump(previous: str | None, level: Level) -> str:
    """The version after `previous` (e.g. v0.2.0) at `level`; v0.1.0 when there is none."""
    from gto.versions import SemVer

    if previous is None:
        return "v0.1.0"
    return SemVer(previous).bump(**{f"bump_{level}": True}).version


def versions() -> list[Version]:
    """Every registered, active version, oldest first."""
    from gto.versions import SemVer

    found = [
        Version(v["version"], v["commit_hexsha"], tuple(sorted({s["stage"] for s in v["stages"]})))
        for v in tools.gto("show", MODEL)
        if v.get("is_active", True) and SemVer.is_valid(v["version"])
    ]
    return sorted(found, key=lambda v: SemVer(v.name))


def stage_history(stage: str = PRODUCTION) -> list[str]:
    """Versions assigned to `stage`, newest assignment first."""
    return [event["version"] for event in _assignments(stage)]


def _assignments(stage: str) -> list[dict]:
    return [
        event
        for event in tools.gto("history", MODEL)
        if event["event"] == "assignment" and event["stage"] == stage
    ]


def production_version(stage: str = PRODUCTION) -> str | None:
    """The version tag (e.g. `model@v0.2.0`) currently in `stage`, or None.

    The newest assignment holds the stage (GTO's `show`, sorted by time: a rollback to an
    older version wins over a newer version's earlier promotion).
    """
    found = tools.gto("show", f"{MODEL}#{stage}")
    return f"{MODEL}@{found[0]['version']}" if found else None


def register(version: str, commit: str, message: str) -> str:
    return tools.gto("register", MODEL, commit, version=version, message=message).tag


def assign(version: str, stage: str, message: str) -> str:
    """Give `version` the stage; return the new tag's name (`model#prod#3`).

    `force`: a version that held the stage before (a rollback) gets a new tag; the
    newest assignment is what counts. GTO tells assignments apart by their tags' time, to
    the second: one made in the second of the last (a rollback right after a promotion)
    could lose to it, so it waits for the next second.
    """
    newest = max((e["timestamp"].timestamp() for e in _assignments(stage)), default=None)
    if newest is not None and 0 < (wait := math.floor(newest) + 1 - time.time()) <= 1:
        time.sleep(wait)
    return tools.gto("assign", MODEL, stage, version=version, message=message, force=True).tag


def check_ref(ref: str) -> tuple[str, str] | None:
    """(version, stage) when `ref` is a stage assignment of the model, else None."""
    events = tools.gto("check_ref", ref)
    return next(
        ((e.version, e.stage) for e in events if e.artifact == MODEL and hasattr(e, "stage")),
        None,
    )


class TagsTakenError(CauceError):
    """Another run pushed the same tags first (two releases of one commit at once)."""


def push_tags(tags: list[str], remote: str = "origin") -> bool:
    """Push the tags when `remote` exists; False when there is nowhere to push.

    All or none (`git push --atomic`): when `remote` refuses any of them, none is pushed,
    this run's tags are deleted here too, and the remote's tags are fetched, so that
    nothing is half-done and a rerun sees what the remote holds. A tag another run pushed
    first (two releases racing) is a TagsTakenError, any other refusal a ToolError.
    """
    if remote not in tools.run("git", "remote").stdout.split():
        return False
    refs = [f"refs/tags/{t}" for t in tags]
    pushed = tools.run("git", "push", "--atomic", "--quiet", remote, *refs, check=False)
    if pushed.returncode == 0:
        return True
    listed = tools.run("git", "ls-remote", "--tags", remote, *refs, check=False).stdout
    taken = [t for t in tags if f"refs/tags/{t}" in listed.split()]
    tools.run("git", "tag", "--delete", *tags)
    tools.run("git", "fetch", "--quiet", "--force", remote, "+refs/tags/*:refs/tags/*", check=False)
    undone = f"nothing was pushed and this run's tags ({', '.join(tags)}) are deleted"
    if taken:
        raise TagsTakenError(
            f"{remote} already has {', '.join(taken)}: another release pushed it first. "
            f"{undone.capitalize()}; {remote}'s tags are fetched: run it again to see them"
        )
    raise tools.ToolError(
        f"git push {remote} {' '.join(tags)}: {tools.last_words(pushed)}; {undone}"
    )


def commit_of(version: str) -> str:
    """The commit that version `version` (e.g. `v0.2.0`) of the model was registered at."""
    return tools.run("git", "rev-list", "-n", "1", f"{MODEL}@{version}").stdout.strip()


def fetch(version: str, into: Path) -> Path:
    """The model directory registered as `version` (v1.2.0), in `into`.

    From the DVC cache or remote; when neither has it (a fork with no remote, a fresh
    runner), it is rebuilt from the version's commit and verified against its dvc.lock.
    """
    get = ("dvc", "artifacts", "get", ".", MODEL, "--rev", version, "-o", str(into), "--force")
    lock.get_or_rebuild(get, commit_of(version), f"{MODEL}@{version}")
    return into
