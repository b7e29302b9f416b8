"""`python -m cauce.pipeline STAGE`: how dvc.yaml runs a stage.

Not through the `cauce` CLI: a stage's dependencies in dvc.yaml are the modules it
imports, so an option added to `cauce score` (or any command that is not a stage) changes
no stage's hash in dvc.lock and reruns nothing. The stage module is imported by name, so
that each stage depends on its own module, not on every stage's
(tests/unit/test_layout.py). `cauce STAGE` runs the same function, for a person at a
terminal.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from cauce.config import DEFAULT_PARAMS, load_params
from cauce.entry import run_command

STAGES = ("ingest", "validate", "prepare", "train", "evaluate")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cauce.pipeline", description="run one stage of dvc.yaml"
    )
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS)
    arguments = parser.parse_args(argv)

    def call() -> None:
        params = load_params(arguments.params)
        importlib.import_module(f"cauce.pipeline.{arguments.stage}").run(params)

    return run_command(f"cauce {arguments.stage}", call)


if __name__ == "__main__":
    sys.exit(main())
