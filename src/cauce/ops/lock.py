"""`cauce check-lock`: is the committed dvc.lock the result of this commit's code, params
and data? The PR check fails early with "run dvc repro and commit dvc.lock" when not.

Only dependencies that live in git are compared (code, params, the source data); outputs
of other stages are skipped, since CI may not have them yet, and output bytes are never
compared: a model retrained on another CPU may differ in its last bit.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import yaml

from cauce import CauceError
from cauce.config import Params
from cauce.ops.registry import tool


class StaleLockError(CauceError):
    """dvc.lock does not match the code, params or data it claims to come from."""


def pipeline_outputs(dvc_yaml: dict[str, Any]) -> set[str]:
    """Every path a stage writes (outs, metrics, plots)."""
    paths: set[str] = set()
    for stage in dvc_yaml.get("stages", {}).values():
        for section in ("outs", "metrics", "plots"):
            for entry in stage.get(section, []):
                paths.add(next(iter(entry)) if isinstance(entry, dict) else entry)
    return paths


def stale_dependencies(status: dict[str, Any], outputs: set[str]) -> list[str]:
    """Human-readable lines for every recorded dependency that no longer matches."""
    problems = []
    for stage, entries in status.items():
        for entry in entries:
            if isinstance(entry, str):  # "changed command", "always changed"
                problems.append(f"{stage}: {entry}")
                continue
            for path, change in entry.get("changed deps", {}).items():
                if path in outputs:
                    continue
                if isinstance(change, dict):  # params: {"train": "modified"}
                    keys = ", ".join(f"{key} {what}" for key, what in change.items())
                    problems.append(f"{stage}: {path} ({keys})")
                else:
                    problems.append(f"{stage}: {path} {change}")
    return problems


def require_current() -> None:
    """Raise StaleLockError naming every dependency that changed since dvc.lock."""
    outputs = pipeline_outputs(yaml.safe_load(Path("dvc.yaml").read_text(encoding="utf-8")))
    result = subprocess.run(
        [tool("dvc"), "status", "--json"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise CauceError(f"dvc status failed: {result.stderr.strip()}")
    problems = stale_dependencies(json.loads(result.stdout or "{}"), outputs)
    if problems:
        raise StaleLockError(
            "dvc.lock is stale: run dvc repro and commit dvc.lock. What changed since it "
            "was written:\n" + "\n".join(f"  - {p}" for p in problems)
        )


def run(params: Params) -> int:  # noqa: ARG001 - every cauce command receives the params
    require_current()
    print("dvc.lock matches the code, params and data.")
    return 0
