"""How every entry point runs a command (`cauce`, and `python -m cauce.pipeline`, which DVC
runs): log lines on stderr, and a failure as one message naming the command, with the
exit code of its kind (docs/reliability.md), never a traceback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from cauce import CauceError, ConfigError, ExitCode


def run_command(name: str, call: Callable[[], int | None]) -> int:
    """Run `call` as command `name` (e.g. "cauce train"); its exit code."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    try:
        status = call()
    except CauceError as error:
        kind = "configuration error:\n" if isinstance(error, ConfigError) else ""
        print(f"{name}: {kind}{error}", file=sys.stderr)
        return error.exit_code
    except FileNotFoundError as error:
        print(f"{name}: {error.filename or error}: no such file or directory", file=sys.stderr)
        return ExitCode.DATA
    except OSError as error:  # the file system refused: permissions, a full disk
        print(f"{name}: {error}", file=sys.stderr)
        return ExitCode.EXTERNAL
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    return status or ExitCode.OK
