"""`cauce`: one command, a subcommand per job. Workflows and dvc.yaml call these."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cauce import CauceError
from cauce.config import DEFAULT_PARAMS, ConfigError, load_params
from cauce.layout import MONITOR_REPORTS, SERVING_MODEL


@dataclass(frozen=True)
class Option:
    flag: str
    help: str
    required: bool = False
    default: str | None = None

    @property
    def name(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True)
class Command:
    target: str  # "module:function", called as function(params, **options)
    summary: str
    options: tuple[Option, ...] = ()


BASE = Option("--base", "git revision to compare with, e.g. main or origin/main", required=True)
TO = Option("--to", "the version to put in production, e.g. v0.2.0 (default: the previous one)")
SERVE_OPTIONS = (
    Option("--stage", "serve the version in this stage (default: prod)"),
    Option("--model-dir", "serve this model directory instead, e.g. models"),
    Option("--version", "with --model-dir: the version to report, if it has no serving.json"),
    Option("--host", "interface to listen on (default: %(default)s)", default="127.0.0.1"),
    Option("--port", "port to listen on (default: %(default)s)", default="8000"),
)

COMMANDS = {
    # the pipeline's stages, as dvc.yaml runs them
    "ingest": Command("cauce.pipeline.ingest:run", "read the source data, keep the training years"),
    "validate": Command("cauce.pipeline.validate:run", "check raw data against data/contract.yaml"),
    "prepare": Command("cauce.pipeline.prepare:run", "drop unlabelled rows; stratified split"),
    "train": Command("cauce.pipeline.train:run", "fit the model pipeline and write models/"),
    "evaluate": Command("cauce.pipeline.evaluate:run", "score the test split: metrics, plots"),
    # the pull request
    "check-lock": Command("cauce.ops.lock:run", "fail if dvc.lock is stale for code/params/data"),
    "reproduce": Command(
        "cauce.ops.lock:reproduce",
        "rerun every stage; fail unless it matches dvc.lock",
    ),
    "report": Command("cauce.ops.report:run", "write the PR report against --base", (BASE,)),
    "gate": Command("cauce.ops.gate:run", "exit 1 unless the model passes the gate", (BASE,)),
    # merge to release
    "release": Command("cauce.ops.release:run", "version the model; promote it if it wins"),
    "rollback": Command("cauce.ops.release:rollback", "put an earlier version back in prod", (TO,)),
    "deploy-target": Command(
        "cauce.ops.deploy:target",
        "print the version, stage and image a deploy is for",
        (
            Option("--ref", "a stage tag, e.g. model#prod#3"),
            Option("--version", "or a version, e.g. v0.2.0 ..."),
            Option("--stage", "... and the stage to deploy it as"),
            Option("--repository", "owner/name, for the image name ghcr.io/owner/name"),
        ),
    ),
    # serving
    "serve": Command("cauce.ops.deploy:serve", "serve a model version over HTTP", SERVE_OPTIONS),
    "package": Command(
        "cauce.ops.deploy:package",
        "fetch a version's model, metrics and card for serving",
        (
            Option("--version", "the version, e.g. v0.2.0", required=True),
            Option("--out", "where to put it (default: %(default)s)", default=str(SERVING_MODEL)),
            Option("--stage", "the stage it is deployed as, for its model card"),
        ),
    ),
    # operate
    "monitor": Command(
        "cauce.ops.deploy:monitor",
        "judge a production batch for drift (exit 3: drift)",
        (
            Option("--batch", "a Parquet or CSV file or URL of production rows"),
            Option("--years", "or years of data.source: e.g. 2018, 2016,2017, or latest"),
            Option("--stage", "the model in this stage (default: prod)"),
            Option("--model-dir", "or this model directory, e.g. models"),
            Option(
                "--out",
                "where to write the report (default: %(default)s)",
                default=str(MONITOR_REPORTS),
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
            Option("--output", "the predictions, a Parquet file", required=True),
            Option("--stage", "the model in this stage (default: prod)"),
            Option("--version", "or this version, e.g. v0.2.0"),
            Option("--model-dir", "or this model directory, e.g. models"),
            Option(
                "--engine",
                "local (record batches) or dask (default: %(default)s)",
                default="local",
            ),
            Option("--scheduler", "with --engine dask: a cluster's scheduler address"),
        ),
    ),
    "notify": Command(
        "cauce.ops.notify:run",
        "send an event to the configured webhooks",
        (
            Option(
                "--event",
                "drift, contract-breach, release, promotion, hold, deploy, rollback or scored",
                required=True,
            ),
            Option("--title", "one line saying what happened", required=True),
            Option(
                "--body-file", "a Markdown file with the details, e.g. reports/monitor/drift.md"
            ),
            Option("--link", "where to read more, e.g. the issue or the workflow run"),
        ),
    ),
    "train-window": Command(
        "cauce.ops.retrain:window",
        "widen data.train_years to newer years",
        (Option("--through", "the last year to train on (default: the newest in data.source)"),),
    ),
    "smoke-test": Command(
        "cauce.serving.smoke:run",
        "check a running API: ready, version, one prediction",
        (
            Option("--url", "the API's address, e.g. http://127.0.0.1:8000", required=True),
            Option("--version", "fail unless it serves this version"),
            Option("--wait", "seconds to wait for /ready (default: %(default)s)", default="60"),
        ),
    ),
}


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
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.summary, description=command.summary)
        for option in command.options:
            sub.add_argument(
                option.flag, required=option.required, default=option.default, help=option.help
            )
    return root


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request is noise
    command = COMMANDS[arguments.command]
    module_name, function_name = command.target.split(":")
    options = {option.name: getattr(arguments, option.name) for option in command.options}
    try:
        params = load_params(arguments.params)
        function = getattr(importlib.import_module(module_name), function_name)
        status = function(params, **options)
    except ConfigError as error:
        print(f"cauce {arguments.command}: configuration error:\n{error}", file=sys.stderr)
        return 2
    except (CauceError, FileNotFoundError) as error:
        print(f"cauce {arguments.command}: {error}", file=sys.stderr)
        return 1
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
