"""`cauce`: one command, a subcommand per job. Workflows and dvc.yaml call these."""

from __future__ import annotations

import argparse
import importlib
import math
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cauce import ExitCode, periods
from cauce.config import DEFAULT_PARAMS, load_params
from cauce.entry import run_command
from cauce.events import EVENTS
from cauce.layout import MONITOR_REPORTS, SCORED, SERVING_MODEL
from cauce.metrics import TASKS

# GTO's own rules: a semver tag with its v (pre-releases too), named alone or as model@v…
VERSION = re.compile(r"(?:model@)?(v\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?)")
STAGE = re.compile(r"[a-zA-Z0-9](?:[a-zA-Z0-9/_-]*[a-zA-Z0-9])?")
REPOSITORY = re.compile(r"[\w.-]+/[\w.-]+")
URL = re.compile(r"https?://[^\s/]+(?:/\S*)?")


def _checked(pattern: re.Pattern[str], described: str) -> Callable[[str], str]:
    """An argparse type: the text when `pattern` matches all of it (its group, if any)."""

    def check(text: str) -> str:
        match = pattern.fullmatch(text)
        if match is None:
            raise argparse.ArgumentTypeError(f"{text!r} is not {described}")
        return match[match.lastindex or 0]

    return check


version = _checked(VERSION, "a version like v0.2.0")
stage = _checked(STAGE, "a stage name like prod")
repository = _checked(REPOSITORY, "a repository like owner/name")
url = _checked(URL, "an http(s) address like http://127.0.0.1:8000")


def port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: a whole number 1-65535")
    return int(text)


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def _argument(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """An argparse type from a parser that raises ValueError with the message to show."""

    def check(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return check


year = _argument(periods.year)
years = _argument(periods.Years.parse)


@dataclass(frozen=True)
class Option:
    flag: str
    help: str
    required: bool = False
    default: Any = None
    type: Callable[[str], Any] = str
    choices: tuple[str, ...] | None = None
    switch: bool = False  # a flag that takes no value: True when given

    @property
    def name(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Command:
    target: str  # "module:function", called as function(params, **options) or function(**options)
    summary: str
    options: tuple[Option, ...] = ()
    needs_params: bool = True  # False: the command never reads params.yaml


BASE = Option("--base", "git revision to compare with, e.g. main or origin/main", required=True)
TO = Option(
    "--to",
    "the version to put in production, e.g. v0.2.0 (default: the previous one)",
    type=version,
)
STAGE_OPTION = Option("--stage", "the model in this stage (default: prod)", type=stage)
MODEL_DIR = Option("--model-dir", "or this model directory, e.g. models", type=Path)
SERVE_OPTIONS = (
    Option("--stage", "serve the version in this stage (default: prod)", type=stage),
    Option("--model-dir", "serve this model directory instead, e.g. models", type=Path),
    Option(
        "--version",
        "with --model-dir: the version to report, if it has no serving.json",
        type=version,
    ),
    Option("--host", "interface to listen on (default: %(default)s)", default="127.0.0.1"),
    Option("--port", "port to listen on (default: %(default)s)", default=8000, type=port),
)

COMMANDS = {
    # before the first run: the contract and params for your own data
    "init": Command(
        "cauce.pipeline.draft:run",
        "draft contract, params and plots from your data file",
        (
            Option("--source", "your data: a CSV or Parquet file or URL", required=True),
            Option("--target", "the column the model predicts", required=True),
            Option(
                "--task",
                "the model's task (default: inferred from the target)",
                choices=TASKS,
            ),
            Option("--positive-label", "binary: the label the model's probability is for"),
            Option("--id", "the column that identifies a row (unique, never missing)"),
            Option("--time", "the column of years or dates; later years play production"),
            Option("--force", "replace an existing data/contract.yaml", switch=True),
        ),
        needs_params=False,
    ),
    # the pipeline's stages, as dvc.yaml runs them
    "ingest": Command("cauce.pipeline.ingest:run", "read the source data, keep the training years"),
    "validate": Command("cauce.pipeline.validate:run", "check raw data against data/contract.yaml"),
    "prepare": Command("cauce.pipeline.prepare:run", "drop unlabelled rows; stratified split"),
    "train": Command("cauce.pipeline.train:run", "fit the model pipeline and write models/"),
    "evaluate": Command("cauce.pipeline.evaluate:run", "score the test split: metrics, plots"),
    # the pull request
    "check-lock": Command(
        "cauce.ops.lock:run", "fail if dvc.lock is stale for code/params/data", needs_params=False
    ),
    "git-hook": Command(
        "cauce.ops.workspace:hook",
        "outputs of the commit after git switch or merge (hooks)",
        (
            Option(
                "--hook",
                "the git hook that runs it",
                required=True,
                choices=("post-checkout", "post-merge"),
            ),
        ),
        needs_params=False,
    ),
    "reproduce": Command(
        "cauce.ops.lock:reproduce",
        "rerun every stage; fail unless it matches dvc.lock",
        needs_params=False,
    ),
    "report": Command("cauce.ops.report:run", "write the PR report against --base", (BASE,)),
    "gate": Command("cauce.ops.gate:run", "exit 1 unless the model passes the gate", (BASE,)),
    # merge to release
    "release": Command("cauce.ops.release:run", "version the model; promote it if it wins"),
    "rollback": Command(
        "cauce.ops.release:rollback",
        "put an earlier version back in prod",
        (TO,),
        needs_params=False,
    ),
    "deploy-target": Command(
        "cauce.ops.deploy:target",
        "print the version, stage and image a deploy is for",
        (
            Option("--ref", "a stage tag, e.g. model#prod#3"),
            Option("--version", "or a version, e.g. v0.2.0 ...", type=version),
            Option("--stage", "... and the stage to deploy it as", type=stage),
            Option(
                "--repository",
                "owner/name, for the image name ghcr.io/owner/name",
                type=repository,
            ),
        ),
        needs_params=False,
    ),
    # serving
    "serve": Command("cauce.ops.deploy:serve", "serve a model version over HTTP", SERVE_OPTIONS),
    "package": Command(
        "cauce.ops.deploy:package",
        "fetch a version's model, metrics and card for serving",
        (
            Option("--version", "the version, e.g. v0.2.0", required=True, type=version),
            Option(
                "--out",
                "where to put it (default: %(default)s)",
                default=SERVING_MODEL,
                type=Path,
            ),
            Option("--stage", "the stage it is deployed as, for its model card", type=stage),
        ),
    ),
    # operate
    "monitor": Command(
        "cauce.ops.deploy:monitor",
        "judge a production batch (exit 3: drift, 4: breach)",
        (
            Option("--batch", "a Parquet or CSV file or URL of production rows"),
            Option(
                "--years",
                "or years of data.source: e.g. 2018, 2016,2017, or latest",
                type=years,
            ),
            STAGE_OPTION,
            MODEL_DIR,
            Option(
                "--out",
                "where to write the report (default: %(default)s)",
                default=MONITOR_REPORTS,
                type=Path,
            ),
            Option(
                "--outcome",
                "append verdict=none|drift|contract-breach to this file (e.g. $GITHUB_OUTPUT) "
                "and exit 0 for every verdict",
                type=Path,
            ),
        ),
    ),
    "score": Command(
        "cauce.ops.deploy:score",
        "score a file of rows in batches with a model version",
        (
            Option(
                "--input",
                "Parquet file, directory or glob, or a CSV file (default: data.source)",
            ),
            Option(
                "--output",
                "the predictions, a Parquet file (default: %(default)s, git-ignored)",
                default=SCORED,
                type=Path,
            ),
            STAGE_OPTION,
            Option("--version", "or this version, e.g. v0.2.0", type=version),
            MODEL_DIR,
            Option(
                "--engine",
                "local (record batches) or dask (default: %(default)s)",
                default="local",
                choices=("local", "dask"),
            ),
            Option("--scheduler", "with --engine dask: a cluster's scheduler address"),
        ),
    ),
    "notify": Command(
        "cauce.ops.notify:run",
        "send an event to the configured webhooks",
        (
            Option("--event", "what happened: " + ", ".join(EVENTS), required=True),
            Option("--title", "one line saying what happened", required=True),
            Option(
                "--body-file",
                "a Markdown file with the details, e.g. reports/monitor/drift.md",
                type=Path,
            ),
            Option("--link", "where to read more, e.g. the issue or the workflow run"),
        ),
    ),
    "retrain-body": Command(
        "cauce.ops.retrain:body",
        "print the retraining pull request's text (retrain.yml)",
        (
            Option("--window", "what cauce train-window printed", required=True),
            Option("--base", "the branch the pull request merges into", required=True),
            Option(
                "--token",
                "which token opens it: app, pr or default",
                required=True,
                choices=("app", "pr", "default"),
            ),
            Option("--monitor-run", "the monitor run whose drift report asked for it"),
        ),
        needs_params=False,
    ),
    "train-window": Command(
        "cauce.ops.retrain:window",
        "widen data.train_years to newer years",
        (
            Option(
                "--through",
                "the last year to train on (default: the newest in data.source)",
                type=year,
            ),
        ),
    ),
    "smoke-test": Command(
        "cauce.serving.smoke:run",
        "check a running API: ready, version, one prediction",
        (
            Option(
                "--url", "the API's address, e.g. http://127.0.0.1:8000", required=True, type=url
            ),
            Option("--version", "fail unless it serves this version", type=version),
            Option(
                "--wait",
                "seconds to wait for /ready (default: %(default)s)",
                default=60.0,
                type=seconds,
            ),
        ),
        needs_params=False,
    ),
}
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
    module_name, function_name = command.target.split(":")
    options = {option.name: getattr(arguments, option.name) for option in command.options}

    def call() -> int | None:
        leading = (load_params(arguments.params),) if command.needs_params else ()
        function = getattr(importlib.import_module(module_name), function_name)
        return function(*leading, **options)

    return run_command(f"cauce {arguments.command}", call)


if __name__ == "__main__":
    sys.exit(main())
