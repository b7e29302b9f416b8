"""Model versions and stages, as GTO git tags (`model@v1.4.0`, `model#prod#7`).

Git is the source of truth: the production model is whatever `model#prod` points at,
and its files come from DVC (`dvc artifacts get`), resolved through the same tags.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cauce import CauceError

MODEL = "model"
PRODUCTION = "prod"
STAGING = "staging"


class RegistryError(CauceError):
    """GTO or DVC could not resolve, register or fetch a model version."""


@dataclass(frozen=True)
class Version:
    name: str  # v1.4.0
    commit: str
    stages: tuple[str, ...] = ()

    @property
    def ref(self) -> str:
        return f"{MODEL}@{self.name}"

    @property
    def number(self) -> tuple[int, int, int]:
        major, minor, patch = self.name.removeprefix("v").split(".")
        return int(major), int(minor), int(patch)


def tool(name: str) -> str:
    """The command from this environment (beside the running Python), else from PATH."""
    sibling = Path(sys.executable).parent / name
    return str(sibling) if sibling.exists() else name


def run(*command: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run gto, dvc or git; a failure raises RegistryError with the tool's last words."""
    result = subprocess.run(
        [tool(command[0]), *command[1:]], capture_output=True, text=True, check=False
    )
    if check and result.returncode != 0:
        reason = (result.stderr or result.stdout).strip().splitlines()
        raise RegistryError(f"{' '.join(command)}: {reason[-1] if reason else 'failed'}")
    return result


def versions() -> list[Version]:
    """Every registered version, oldest first."""
    result = run("gto", "show", MODEL, "--json", check=False)
    if result.returncode != 0:  # nothing registered yet
        return []
    found = [
        Version(
            v["version"],
            v["commit_hexsha"],
            tuple(sorted({s["stage"] for s in v.get("stages") or []})),
        )
        for v in json.loads(result.stdout)
        if v.get("is_active", True)
    ]
    return sorted(found, key=lambda v: v.number)


def stage_history(stage: str = PRODUCTION) -> list[str]:
    """Versions assigned to `stage`, newest assignment first."""
    result = run("gto", "history", MODEL, "--json", check=False)
    if result.returncode != 0:
        return []
    events = json.loads(result.stdout)
    return [
        e["version"] for e in events if e.get("event") == "assignment" and e.get("stage") == stage
    ]


def production_version(stage: str = PRODUCTION) -> str | None:
    """The version tag (e.g. `model@v0.2.0`) currently in `stage`, or None."""
    result = run("gto", "show", f"{MODEL}#{stage}", "--ref", check=False)
    ref = result.stdout.strip()
    return ref if result.returncode == 0 and ref else None


def register(version: str, commit: str, message: str) -> str:
    run("gto", "register", MODEL, commit, "--version", version, "--message", message)
    return f"{MODEL}@{version}"


def assign(version: str, stage: str, message: str) -> str:
    """Give `version` the stage; return the new tag's name (`model#prod#3`).

    `--force`: a version that held the stage before (a rollback) gets a new tag; the
    newest assignment is what counts.
    """
    command = ["assign", MODEL, "--version", version, "--stage", stage, "--message", message]
    run("gto", *command, "--force")
    tags = run("git", "tag", "--list", f"{MODEL}#{stage}#*").stdout.split()
    return max(tags, key=lambda tag: int(tag.rpartition("#")[2]))


def push_tags(tags: list[str], remote: str = "origin") -> bool:
    """Push the tags when `remote` exists; False when there is nowhere to push."""
    if remote not in run("git", "remote").stdout.split():
        return False
    run("git", "push", "--quiet", remote, *(f"refs/tags/{t}" for t in tags))
    return True


def fetch(version_ref: str, into: Path) -> Path:
    """Download the model directory registered as `version_ref` (`model@v1.2.0`) into `into`."""
    version = version_ref.rpartition("@")[2]
    run("dvc", "artifacts", "get", ".", MODEL, "--rev", version, "-o", str(into), "--force")
    return into
