"""`cauce`: one command, a subcommand per job. Workflows and dvc.yaml call these."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from cauce import CauceError
from cauce.config import DEFAULT_PARAMS, ConfigError, load_params

# subcommand → (module with a run(params, **options) function, one-line description)
STAGES = {
    "ingest": ("cauce.pipeline.ingest", "read the source data and keep the training years"),
    "validate": ("cauce.pipeline.validate", "check the raw data against data/contract.yaml"),
    "prepare": ("cauce.pipeline.prepare", "drop unlabelled rows; stratified train/test split"),
    "train": ("cauce.pipeline.train", "fit the model pipeline and write models/"),
    "evaluate": ("cauce.pipeline.evaluate", "score the test split: metrics, groups, plots"),
}
CHECKS = {
    "check-lock": ("cauce.ops.lock", "fail if dvc.lock is stale for the code, params or data"),
}
PR_COMMANDS = {
    "report": ("cauce.ops.report", "write the PR report, reports/pr/report.md, against --base"),
    "gate": ("cauce.ops.gate", "exit 1 unless the model passes the gate against --base"),
}
COMMANDS = STAGES | CHECKS | PR_COMMANDS


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="cauce",
        description="A GitOps repository for machine learning. "
        "Run the whole pipeline with `dvc repro`; each stage is a subcommand.",
    )
    root.add_argument(
        "--params",
        type=Path,
        default=DEFAULT_PARAMS,
        help="parameters file (default: %(default)s)",
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, summary) in (STAGES | CHECKS).items():
        commands.add_parser(name, help=summary, description=summary)
    for name, (_, summary) in PR_COMMANDS.items():
        command = commands.add_parser(name, help=summary, description=summary)
        command.add_argument(
            "--base",
            required=True,
            help="git revision to compare with, e.g. main or origin/main",
        )
    return root


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    module_name, _ = COMMANDS[arguments.command]
    options = {"base": arguments.base} if arguments.command in PR_COMMANDS else {}
    try:
        params = load_params(arguments.params)
        status = importlib.import_module(module_name).run(params, **options)
    except ConfigError as error:
        print(f"cauce {arguments.command}: configuration error:\n{error}", file=sys.stderr)
        return 2
    except (CauceError, FileNotFoundError) as error:
        print(f"cauce {arguments.command}: {error}", file=sys.stderr)
        return 1
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
