"""Reading the repository as it was at another revision (the PR's base, a release tag).

Metrics, params and validation reports are kept in git, so `git show` is all it takes:
no DVC remote is needed to compare a pull request with its base.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from cauce import UsageError, tools

WORKSPACE = None  # the revision argument meaning "the files as they are now"


class RevisionError(UsageError):
    """A revision does not exist in this repository."""


def resolve(rev: str) -> str:
    """The full commit id of `rev`, or a RevisionError that names it."""
    result = tools.run("git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
    if result.returncode != 0:
        raise RevisionError(
            f"revision {rev!r} not found; fetch it first (e.g. git fetch origin {rev})"
        )
    return result.stdout.strip()


def read_text(path: str | Path, rev: str | None = WORKSPACE) -> str | None:
    """The file's text at `rev` (None: the working tree), or None where it does not exist."""
    if rev is WORKSPACE:
        file = Path(path)
        return file.read_text(encoding="utf-8") if file.exists() else None
    result = tools.run("git", "show", f"{rev}:{Path(path).as_posix()}", check=False)
    return result.stdout if result.returncode == 0 else None


def read_json(path: str | Path, rev: str | None = WORKSPACE) -> Any:
    text = read_text(path, rev)
    return None if text is None else json.loads(text)


def read_yaml(path: str | Path, rev: str | None = WORKSPACE) -> Any:
    text = read_text(path, rev)
    return None if text is None else yaml_data(text)


def yaml_data(text: str) -> Any:
    """YAML that DVC wrote (dvc.lock, dvc.yaml) as data: parsed by libyaml, in C, where
    PyYAML has it (ten times faster on dvc.lock, read a dozen times by a report), else by
    PyYAML's own parser. The same data either way."""
    safe = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # safe: builds no Python objects
    return yaml.load(text, Loader=safe)  # noqa: S506 (a safe loader, as the line above says)


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} → {"a.b": 1}; lists stay values."""
    if not isinstance(tree, dict):
        return {prefix: tree} if prefix else {}
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        flat |= flatten(value, f"{prefix}.{key}" if prefix else str(key))
    return flat
