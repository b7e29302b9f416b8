"""Running git, dvc and gto: one way, one error type.

git and dvc run as processes (the ones beside the running Python first, so a checkout's
own .venv is used even when it is not on PATH); GTO runs in process through its Python
API. Whatever fails raises ToolError with the command and the tool's last words.
"""

from __future__ import annotations

import codecs
import os
import select
import subprocess
import sys
from pathlib import Path
from typing import IO, Any, cast

from cauce import ExternalError


class ToolError(ExternalError):
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
    echo: bool = False,
) -> subprocess.CompletedProcess:
    """Run git or dvc (or another program); with `check`, a non-zero exit raises ToolError.

    `echo` shows the output on stderr as it comes (progress of long work such as
    `dvc repro`), and keeps it too, merged with stderr.
    """
    argv = [executable(command[0]), *command[1:]]
    if cwd is not None and not cwd.is_dir():
        raise ToolError(f"{' '.join(command)}: the directory {cwd} does not exist")
    try:
        result = _run(argv, cwd, env, echo)
    except FileNotFoundError:  # the program itself, not a file it was given
        raise ToolError(
            f"{command[0]}: not installed (not beside {sys.executable}, not on PATH)"
        ) from None
    if check and result.returncode != 0:
        raise ToolError(f"{' '.join(command)}: {last_words(result)}")
    return result


def last_words(result: subprocess.CompletedProcess) -> str:
    """What a failed tool said last: the line that usually names the cause."""
    words = (result.stderr or result.stdout).strip().splitlines()
    return words[-1] if words else "failed"


def _run(
    argv: list[str], cwd: Path | None, env: dict[str, str] | None, echo: bool
) -> subprocess.CompletedProcess:
    if echo:
        return _echoed(argv, cwd, env)
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd, env=env)


def _echoed(
    argv: list[str], cwd: Path | None, env: dict[str, str] | None
) -> subprocess.CompletedProcess:
    """Run `argv`, its output shown on stderr as it comes and kept. Read until the program
    itself has ended, not until no process holds its output open: what it leaves running
    keeps it open (`dvc exp run --run-all` leaves a queue worker's manager, which waits
    for a worker that may not end; reading to the end of its output waited with it)."""
    kept = bytearray()
    shown = codecs.getincrementaldecoder("utf-8")(errors="replace")
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=cwd, env=env
    ) as process:
        output = cast(IO[bytes], process.stdout).fileno()
        ended = False
        while not ended:
            ended = process.poll() is not None  # then read what it wrote, and stop
            while select.select([output], [], [], 0 if ended else 0.1)[0]:
                chunk = os.read(output, 65536)
                if not chunk:
                    ended = True
                    break
                sys.stderr.write(shown.decode(chunk))
                kept += chunk
        process.wait()
    return subprocess.CompletedProcess(argv, process.returncode, kept.decode(errors="replace"), "")


def gto(action: str, *args: Any, **kwargs: Any) -> Any:
    """Call `gto.api.<action>` on this repository; GTO's own errors become ToolError."""
    from gto import api
    from gto.exceptions import ArtifactNotFound, GTOException

    try:
        return getattr(api, action)(".", *args, **kwargs)
    except ArtifactNotFound:
        return []  # nothing registered yet: every version, stage or event list is empty
    except GTOException as error:
        raise ToolError(f"gto {action}: {error}") from None
