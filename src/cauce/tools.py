"""Running git, dvc and gto: one way, one error type.

git and dvc run as processes (the ones beside the running Python first, so a checkout's
own .venv is used even when it is not on PATH); GTO runs in process through its Python
API. Whatever fails raises ToolError with the command and the tool's last words.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from cauce import CauceError


class ToolError(CauceError):
    """git, dvc or gto failed; the message names the command and what the tool said."""


def executable(name: str) -> str:
    """The command from this environment (beside the running Python), else from PATH."""
    sibling = Path(sys.executable).parent / name
    return str(sibling) if sibling.exists() else name


def run(
    *command: str,
    check: bool = True,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess:
    """Run git or dvc; with `check`, a non-zero exit raises ToolError."""
    result = subprocess.run(
        [executable(command[0]), *command[1:]],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env=env,
    )
    if check and result.returncode != 0:
        words = (result.stderr or result.stdout).strip().splitlines()
        raise ToolError(f"{' '.join(command)}: {words[-1] if words else 'failed'}")
    return result


def gto(action: str, *args: Any, **kwargs: Any) -> Any:
    """Call `gto.api.<action>` on this repository; GTO's own errors become ToolError."""
    from gto import api
    from gto.exceptions import GTOException

    try:
        return getattr(api, action)(".", *args, **kwargs)
    except GTOException as error:
        raise ToolError(f"gto {action}: {error}") from None
