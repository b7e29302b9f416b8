"""How every entry point runs a command (`cauce`, and `python -m cauce.pipeline`, which DVC
runs): log lines on stderr, and a failure as one message naming the command, with the
exit code of its kind (docs/reliability.md), never a traceback."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from cauce import CauceError, ConfigError, ExitCode


def run_command(name: str, call: Callable[[], int | None]) -> int:
    """Run `call` as command `name` (e.g. "cauce train"); its exit code."""
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    _interrupted.clear()
    with _interruptible():
        try:
            status = call()
        except BaseException as error:  # every kind, told apart by _failure
            return _failure(name, error)
    return status or ExitCode.OK


@contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C, and a job stopped by SIGTERM (a cancelled CI run, `kill`), unwind alike:
    temporaries are removed and the last good outputs stay. The caller's handlers are
    put back after (a test calling commands in its own process keeps its Ctrl-C)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    numbers = (signal.SIGINT, signal.SIGTERM)
    before = {number: signal.signal(number, _interrupt) for number in numbers}
    try:
        yield
    finally:
        for number, handler in before.items():
            if handler is not None:  # None: a handler not set from Python, left as it is
                signal.signal(number, handler)


def _failure(name: str, error: BaseException) -> int:
    """The message and exit code of a command that raised `error`; a bug's traceback."""
    if _interrupted or isinstance(error, KeyboardInterrupt):
        # Whatever the interruption turned into on its way up (a library may wrap it: pydantic
        # reports a KeyboardInterrupt in a serializer as its own error), it was one.
        print(f"{name}: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    if isinstance(error, CauceError):
        kind = "configuration error:\n" if isinstance(error, ConfigError) else ""
        print(f"{name}: {kind}{error}", file=sys.stderr)
        return error.exit_code
    if isinstance(error, FileNotFoundError):
        print(f"{name}: {error.filename or error}: no such file or directory", file=sys.stderr)
        return ExitCode.DATA
    if isinstance(error, OSError):  # the file system refused: permissions, a full disk
        print(f"{name}: {error}", file=sys.stderr)
        return ExitCode.EXTERNAL
    raise error


_interrupted: list[int] = []  # the signal that interrupted this command, once one has


def _interrupt(number: int, _frame: object) -> None:
    """The first SIGINT or SIGTERM unwinds the command; later ones are ignored, so that
    its cleanup (removing a half-written output) is not cut short."""
    if not _interrupted:
        _interrupted.append(number)
        raise KeyboardInterrupt
