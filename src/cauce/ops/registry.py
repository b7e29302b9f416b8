"""Model versions and stages, as GTO git tags (`model@v1.4.0`, `model#prod#7`).

Git is the source of truth: the production model is whatever `model#prod` points at,
and its files come from DVC (`dvc artifacts get`), resolved through the same tags.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cauce import CauceError

MODEL = "model"
PRODUCTION = "prod"


class RegistryError(CauceError):
    """GTO or DVC could not resolve or fetch a model version."""


def tool(name: str) -> str:
    """The command from this environment (beside the running Python), else from PATH."""
    sibling = Path(sys.executable).parent / name
    return str(sibling) if sibling.exists() else name


def production_version(stage: str = PRODUCTION) -> str | None:
    """The version tag (e.g. `model@v0.2.0`) currently in `stage`, or None."""
    result = subprocess.run(
        [tool("gto"), "show", f"{MODEL}#{stage}", "--ref"],
        capture_output=True,
        text=True,
        check=False,
    )
    ref = result.stdout.strip()
    return ref if result.returncode == 0 and ref else None


def fetch(version_ref: str, into: Path) -> Path:
    """Download the model directory registered as `version_ref` (`model@v1.2.0`) into `into`."""
    version = version_ref.rpartition("@")[2]
    command = ["artifacts", "get", ".", MODEL, "--rev", version, "-o", str(into), "--force"]
    result = subprocess.run(
        [tool("dvc"), *command],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        reason = (result.stderr or result.stdout).strip().splitlines()
        raise RegistryError(
            f"cannot fetch {version_ref}: {reason[-1] if reason else 'dvc artifacts get failed'}"
        )
    return into
