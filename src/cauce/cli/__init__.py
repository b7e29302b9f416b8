"""`cauce`: one command, a subcommand per job (commands.py). Workflows call these; dvc.yaml
runs the pipeline's stages through `python -m cauce.pipeline`, not through here."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from cauce import ExitCode
from cauce.cli.commands import COMMANDS
from cauce.config import DEFAULT_PARAMS, load_params
from cauce.entry import run_command

__all__ = ["COMMANDS", "main", "parser"]

EXIT_CODES = ", ".join(f"{code.value} {code.name.lower().replace('_', ' ')}" for code in ExitCode)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="cauce",
        description="A GitOps repository for machine learning. "
        "Run the whole pipeline with `dvc repro`; each stage is a subcommand.",
        epilog=f"exit codes: {EXIT_CODES} (docs/reliability.md)",
    )
    root.add_argument(
        "--params",
        type=Path,
        default=DEFAULT_PARAMS,
        help="parameters file (default: %(default)s)",
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.summary, description=command.summary)
        for option in command.options:
            if option.switch:
                sub.add_argument(option.flag, action="store_true", help=option.help)
                continue
            sub.add_argument(
                option.flag,
                action="append" if option.repeated else "store",
                required=option.required,
                default=option.default,
                type=option.type,
                choices=option.choices,
                help=option.help,
            )
    return root


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)  # a wrong option exits 2 with argparse's message
    command = COMMANDS[arguments.command]
    options = {option.name: getattr(arguments, option.name) for option in command.options}

    def call() -> ExitCode | None:
        leading = (load_params(arguments.params),) if command.needs_params else ()
        return command.handler(*leading, **options)

    return run_command(f"cauce {arguments.command}", call)
