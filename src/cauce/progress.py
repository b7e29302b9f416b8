"""What a long command is doing, as it goes, on stderr (stdout carries results).

- `phase`: one line per phase of a command, with its time, when the phase ends
  (`report: plots of both revisions rendered (5): 2.9 s`). On a terminal the line is
  shown as the phase starts and completed in place, so a slow phase is never silence.
- `bar`: a progress bar over the steps of a long phase (tqdm), on a terminal only: when
  stderr is not a TTY or `CI` is set, a bar would fill logs with redraws, and the phase
  lines say enough.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("cauce")


def interactive() -> bool:
    """Whether a person watches stderr: a terminal, and not a CI job's log."""
    return sys.stderr.isatty() and not os.environ.get("CI")


@dataclass
class Phase:
    """A running phase; `detail` (e.g. how many rows) is added to its line when it ends."""

    command: str
    doing: str
    detail: str = ""

    def line(self, seconds: float) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.command}: {self.doing}{detail}: {seconds:.1f} s"


@contextmanager
def phase(command: str, doing: str) -> Iterator[Phase]:
    """Time the body as one phase of `command` and say so when it ends."""
    current = Phase(command, doing)
    shown = interactive()
    if shown:
        sys.stderr.write(f"{command}: {doing} …")
        sys.stderr.flush()
    started = time.perf_counter()
    yield current
    line = current.line(time.perf_counter() - started)
    if shown:  # the line started above, completed in place
        sys.stderr.write(f"\r\033[K{line}\n")
        sys.stderr.flush()
    else:
        log.info(line)


def bar(total: int, unit: str, description: str = "") -> Any:
    """A tqdm bar of `total` steps on a terminal; a bar that draws nothing elsewhere.
    Call `.update(n)` as steps are done and `.close()` at the end."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        unit=unit,
        unit_scale=True,
        desc=description or None,
        file=sys.stderr,
        leave=False,
        disable=not interactive(),
    )
