"""Running the tools: a long command's output is shown as it comes and kept, and the call
ends when the command does, whatever it leaves running."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from cauce import tools


def test_an_echoed_command_ends_when_it_does_not_when_what_it_left_does(capfd):
    """`dvc exp run --run-all` leaves a queue worker's manager holding its output: reading
    to the end of that output waited for a worker that may never end (seen in a rehearsal
    of the sweep)."""
    script = "sleep 30 & echo $!; printf 'caf\\303'; printf '\\251 done\\n'; exit 3"
    result = tools.run("bash", "-c", script, check=False, echo=True)
    left = Path(f"/proc/{result.stdout.splitlines()[0]}/stat")
    try:  # still running (not gone, not a zombie): the call did not wait for it
        assert left.read_text().split()[2] != "Z"
    finally:
        os.kill(int(left.parent.name), signal.SIGKILL)
    assert result.returncode == 3
    assert result.stdout.splitlines()[1] == "café done"
    assert "café done\n" in capfd.readouterr().err  # shown as it came, a split é whole
