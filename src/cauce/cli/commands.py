"""Each subcommand of `cauce`: its options, and the handler that calls its room, prints
what the room returns and gives the exit code. The rooms return typed results or raise
the one error tree (`cauce.CauceError`); only this package prints results and decides
exit codes. A room is imported inside its handler, so that `cauce --help` and the light
commands start without pandas, scikit-learn or DVC.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cauce import ExitCode
from cauce.cli import options
from cauce.cli.options import Command, Option
from cauce.config import DECIMAL_MARKS, SEPARATORS, Params
from cauce.events import ALERTS, EVENTS, Verdict
from cauce.layout import MONITOR_REPORTS, SCORED, SERVING_MODEL, SWEEP_SPEC
from cauce.metrics import TASKS, Task

if TYPE_CHECKING:
    from cauce.ops.retrain import TokenKind
    from cauce.periods import Years

# The exit code of each verdict of `cauce monitor` (monitor.yml branches on the verdict).
VERDICT_EXIT: dict[Verdict, ExitCode] = {
    "none": ExitCode.OK,
    "drift": ExitCode.DRIFT,
    "contract-breach": ExitCode.CONTRACT_BREACH,
}


def say(lines: list[str]) -> None:
    for line in lines:
        print(line)


def init(
    source: str,
    target: str,
    task: Task | None,
    positive_label: str | None,
    id: str | None,  # the option's name, --id
    time: str | None,
    force: bool,
    missing: list[str] | None,
    sep: str | None,
    decimal: str | None,
    encoding: str | None,
) -> None:
    from cauce.pipeline import draft

    lines = draft.run(
        source, target, task, positive_label, id, time, force, missing, sep, decimal, encoding
    ).lines()
    say(lines)


def stage_of(name: str) -> Callable[[Params], None]:
    """The handler of pipeline stage `name`: what `python -m cauce.pipeline name` runs."""

    def run(params: Params) -> None:
        importlib.import_module(f"cauce.pipeline.{name}").run(params)

    return run


def check_lock() -> None:
    from cauce.ops import lock

    lock.require_current()
    print("dvc.lock matches the code, params and data.")


def git_hook(hook: str) -> None:
    """Always exit 0: a hook that fails would report git's own, successful, work as failed."""
    from cauce.ops import workspace

    say([f"cauce ({hook}): {line}" for line in workspace.hook(hook)])


def reproduce() -> None:
    from cauce.ops import lock

    print(lock.reproduce().line())


def sweep(params: Params, file: Path, jobs: int | None, no_apply: bool) -> None:
    from cauce.ops import sweep

    say(sweep.run(params, file, jobs, apply=not no_apply).lines())


def report(params: Params, base: str) -> None:
    from cauce.ops import report

    print(report.run(params, base))


def gate(params: Params, base: str) -> ExitCode:
    from cauce.ops import gate

    judged = gate.run(params, base)
    say(judged.lines())
    return ExitCode.FAILED if judged.failed else ExitCode.OK


def release(params: Params) -> None:
    from cauce.ops import release

    say(release.run(params).lines())


def rollback(to: str | None) -> None:
    from cauce.ops import release

    print(release.rollback(to).line())


def deploy_target(
    ref: str | None, version: str | None, stage: str | None, repository: str | None
) -> None:
    """`key=value` lines, for $GITHUB_OUTPUT."""
    from cauce.ops import deploy

    found = deploy.target(ref, version, stage, repository)
    say([f"{key}={value}" for key, value in found.outputs().items()])


def release_page(version: str, stage: str) -> None:
    from cauce.ops import github

    print(github.publish_release(version, stage).line())


def serve(
    params: Params,
    stage: str | None,
    model_dir: Path | None,
    version: str | None,
    host: str,
    port: int,
) -> None:
    from cauce.ops import operate

    operate.serve(params, stage, model_dir, version, host, port)


def package(params: Params, version: str, out: Path, stage: str | None) -> None:
    from cauce.ops import deploy

    packaged = deploy.package(params, version, out, stage)
    print(f"{packaged.ref} → {packaged.directory}")


def monitor(
    params: Params,
    batch: str | None,
    years: Years | None,
    stage: str | None,
    model_dir: Path | None,
    out: Path,
    outcome: Path | None,
) -> ExitCode:
    """The verdict's exit code; with `outcome` (a workflow's $GITHUB_OUTPUT), the verdict
    appended to it as `verdict=…` and exit 0 for every verdict: the workflow branches on
    the verdict, and fails only when the monitor could not judge."""
    from cauce.ops import operate

    judged = operate.monitor(params, batch, years, stage, model_dir, out)
    say(judged.lines)
    if outcome is None:
        return VERDICT_EXIT[judged.verdict]
    with outcome.open("a", encoding="utf-8") as lines:
        lines.write(f"verdict={judged.verdict}\n")
    return ExitCode.OK


def alert_issue(verdict: str, repository_url: str, outcome: Path | None) -> None:
    """With `outcome` (a workflow's $GITHUB_OUTPUT), the issue's address appended as url=…."""
    from cauce.ops import github

    alerted = github.alert_issue(verdict, repository_url)
    print(alerted.line())
    if outcome is not None:
        with outcome.open("a", encoding="utf-8") as lines:
            lines.write(f"url={alerted.url}\n")


def launch_runner(machine: str, run: str, outcome: Path | None) -> None:
    """With `outcome` ($GITHUB_OUTPUT), label=… is appended before the machine is started,
    so that the teardown finds its runner even when the launch fails half-way."""
    from cauce.ops import runner

    if outcome is not None:
        with outcome.open("a", encoding="utf-8") as lines:
            lines.write(f"label={runner.label_of(machine, run)}\n")
    print(runner.launch(machine, run).line())


def stop_runner(label: str) -> None:
    from cauce.ops import runner

    print(runner.stop(label).line())


def score(
    params: Params,
    input: str | None,  # the option's name, --input
    output: Path,
    stage: str | None,
    version: str | None,
    model_dir: Path | None,
    engine: str,
    scheduler: str | None,
) -> None:
    from cauce.ops import operate
    from cauce.serving import batch

    summary = operate.score(params, output, input, stage, version, model_dir, engine, scheduler)
    print(batch.describe(summary))


def notify(
    params: Params, event: str, title: str, body_file: Path | None, link: str | None
) -> None:
    from cauce.ops import notify

    print(notify.run(params, event, title, body_file, link).line())


def retrain_body(window: str, base: str, token: TokenKind, monitor_run: str | None) -> None:
    from cauce.ops import retrain

    print(retrain.pull_request_body(window, base, token, monitor_run), end="")


def train_window(params: Params, through: int | None) -> None:
    from cauce.ops import retrain

    print(retrain.window(params, through).line())


def smoke_test(url: str, version: str | None, wait: float) -> None:
    from cauce.serving import smoke

    print(smoke.run(url, version, wait))


BASE = Option("--base", "git revision to compare with, e.g. main or origin/main", required=True)
TO = Option(
    "--to",
    "the version to put in production, e.g. v0.2.0 (default: the previous one)",
    type=options.version,
)
STAGE_OPTION = Option("--stage", "the model in this stage (default: prod)", type=options.stage)
MODEL_DIR = Option("--model-dir", "or this model directory, e.g. models", type=Path)
SERVE_OPTIONS = (
    Option("--stage", "serve the version in this stage (default: prod)", type=options.stage),
    Option("--model-dir", "serve this model directory instead, e.g. models", type=Path),
    Option(
        "--version",
        "with --model-dir: the version to report, if it has no serving.json",
        type=options.version,
    ),
    Option("--host", "interface to listen on (default: %(default)s)", default="127.0.0.1"),
    Option("--port", "port to listen on (default: %(default)s)", default=8000, type=options.port),
)

COMMANDS = {
    # before the first run: the contract and params for your own data
    "init": Command(
        init,
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
            Option(
                "--missing",
                "text that means a value is missing, e.g. '?' (again for more)",
                repeated=True,
            ),
            Option("--sep", "a CSV's field separator (default: detected)", choices=SEPARATORS),
            Option("--decimal", "a CSV's decimal mark (default: detected)", choices=DECIMAL_MARKS),
            Option("--encoding", "a CSV's text encoding, e.g. latin-1 (default: detected)"),
        ),
        needs_params=False,
    ),
    # the pipeline's stages, as dvc.yaml runs them
    "ingest": Command(stage_of("ingest"), "read the source data, keep the training years"),
    "validate": Command(stage_of("validate"), "check raw data against data/contract.yaml"),
    "prepare": Command(stage_of("prepare"), "drop unlabelled rows; stratified split"),
    "train": Command(stage_of("train"), "fit the model pipeline and write models/"),
    "evaluate": Command(stage_of("evaluate"), "score the test split: metrics, plots"),
    # the pull request
    "check-lock": Command(
        check_lock, "fail if dvc.lock is stale for code/params/data", needs_params=False
    ),
    "git-hook": Command(
        git_hook,
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
        reproduce,
        "rerun every stage; fail unless it matches dvc.lock",
        needs_params=False,
    ),
    "sweep": Command(
        sweep,
        "try many settings as DVC experiments; rank; apply the best",
        (
            Option(
                "--file",
                "the settings to try (default: %(default)s)",
                default=SWEEP_SPEC,
                type=Path,
            ),
            Option(
                "--jobs", "experiments at once (default: sweep.yaml's jobs)", type=options.count
            ),
            Option("--no-apply", "rank only: leave the workspace as it is", switch=True),
        ),
    ),
    "report": Command(report, "write the PR report against --base", (BASE,)),
    "gate": Command(gate, "exit 1 unless the model passes the gate", (BASE,)),
    # merge to release
    "release": Command(release, "version the model; promote it if it wins"),
    "rollback": Command(
        rollback,
        "put an earlier version back in prod",
        (TO,),
        needs_params=False,
    ),
    "deploy-target": Command(
        deploy_target,
        "print the version, stage and image a deploy is for",
        (
            Option("--ref", "a stage tag, e.g. model#prod#3"),
            Option("--version", "or a version, e.g. v0.2.0 ...", type=options.version),
            Option("--stage", "... and the stage to deploy it as", type=options.stage),
            Option(
                "--repository",
                "owner/name, for the image name ghcr.io/owner/name",
                type=options.repository,
            ),
        ),
        needs_params=False,
    ),
    "release-page": Command(
        release_page,
        "create or update a deployed version's GitHub Release",
        (
            Option("--version", "the version, e.g. v0.2.0", required=True, type=options.version),
            Option("--stage", "the stage it is deployed as", required=True, type=options.stage),
        ),
        needs_params=False,
    ),
    # serving
    "serve": Command(serve, "serve a model version over HTTP", SERVE_OPTIONS),
    "package": Command(
        package,
        "fetch a version's model, metrics and card for serving",
        (
            Option("--version", "the version, e.g. v0.2.0", required=True, type=options.version),
            Option(
                "--out",
                "where to put it (default: %(default)s)",
                default=SERVING_MODEL,
                type=Path,
            ),
            Option(
                "--stage", "the stage it is deployed as, for its model card", type=options.stage
            ),
        ),
    ),
    # operate
    "monitor": Command(
        monitor,
        "judge a production batch (exit 3: drift, 4: breach)",
        (
            Option("--batch", "a Parquet or CSV file or URL of production rows"),
            Option(
                "--years",
                "or years of data.source: e.g. 2018, 2016,2017, or latest",
                type=options.years,
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
    "alert-issue": Command(
        alert_issue,
        "open a verdict's issue, or comment on the open one",
        (
            Option(
                "--verdict",
                "what cauce monitor found",
                required=True,
                choices=ALERTS,
            ),
            Option(
                "--repository-url",
                "the repository's address, e.g. https://github.com/owner/name",
                required=True,
                type=options.url,
            ),
            Option(
                "--outcome",
                "append url=<the issue's address> to this file (e.g. $GITHUB_OUTPUT)",
                type=Path,
            ),
        ),
        needs_params=False,
    ),
    "launch-runner": Command(
        launch_runner,
        "start a machine of machines.yaml for one job",
        (
            Option("--machine", "its name in machines.yaml", required=True),
            Option("--run", "the run it serves: $GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT", required=True),
            Option("--outcome", "append label=<its runner's label> to this file", type=Path),
        ),
        needs_params=False,
    ),
    "stop-runner": Command(
        stop_runner,
        "remove the runners with this label",
        (Option("--label", "the label launch-runner gave", required=True),),
        needs_params=False,
    ),
    "score": Command(
        score,
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
            Option("--version", "or this version, e.g. v0.2.0", type=options.version),
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
        notify,
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
        retrain_body,
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
        train_window,
        "widen data.train_years to newer years",
        (
            Option(
                "--through",
                "the last year to train on (default: the newest in data.source)",
                type=options.year,
            ),
        ),
    ),
    "smoke-test": Command(
        smoke_test,
        "check a running API: ready, version, one prediction",
        (
            Option(
                "--url",
                "the API's address, e.g. http://127.0.0.1:8000",
                required=True,
                type=options.url,
            ),
            Option("--version", "fail unless it serves this version", type=options.version),
            Option(
                "--wait",
                "seconds to wait for /ready (default: %(default)s)",
                default=60.0,
                type=options.seconds,
            ),
        ),
        needs_params=False,
    ),
}
