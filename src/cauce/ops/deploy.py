"""Deploying a version: what deploy.yml deploys, the model directory it packages, and
`cauce serve` of a stage.

- `cauce deploy-target` prints `key=value` lines for $GITHUB_OUTPUT: the version, the
  stage, the image name, and whether it is a deploy or a rollback, from a stage tag or
  from a dispatch's inputs.
- `cauce package --version v0.2.0` fetches the version's model directory (from the DVC
  cache or remote, or rebuilt from its commit when neither has it), and writes beside it
  its metrics, its model card and the text of its GitHub Release. Everything comes from
  the version itself (its model.json and committed metrics), never from its params.yaml,
  so an old version packages with today's code and schema.
- `cauce serve` serves a stage (resolved through the tags) or a model directory.
- `cauce monitor` judges a batch of production rows against the same model: a stage's
  or a directory's (monitoring/monitor.py).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cauce import ExitCode, UsageError, tools
from cauce.artifact import ModelInfo
from cauce.config import Params
from cauce.files import file_sha256, read_model_json, write_json, write_text
from cauce.layout import (
    EVALUATE_METRICS,
    FAST_MODEL,
    GROUP_METRICS,
    MODEL_CARD,
    MODEL_CARD_PAGE,
    MONITOR_REPORTS,
    RELEASE_BODY,
    SCORE_PROFILE,
    SERVED_MODELS,
    SERVING_INFO,
    SERVING_MODEL,
)
from cauce.ops import registry, revisions
from cauce.profile import FEATURE_PROFILE, FeatureProfile, read_feature_profile

if TYPE_CHECKING:
    import pandas as pd

    from cauce.monitoring.monitor import Watched
    from cauce.periods import Years


class DeployTargetError(UsageError):
    """The tag or the inputs do not name a registered version and a stage."""


def target(
    ref: str | None = None,
    version: str | None = None,
    stage: str | None = None,
    repository: str | None = None,
) -> int:
    """`cauce deploy-target`: the version and stage a deploy is for."""
    if ref:
        assigned = registry.check_ref(ref)
        if assigned is None:
            raise DeployTargetError(f"{ref} is not a stage assignment of {registry.MODEL}")
        version, stage = assigned
    elif not (version and stage):
        raise DeployTargetError("give --ref TAG, or both --version and --stage")
    known = [v.name for v in registry.versions()]
    if version not in known:
        # A tag like model#prod (no number) assigns the commit it tags, which GTO names by sha.
        named = f"{ref} names {version}, which" if ref else version
        listed = ", ".join(known) or "none yet"
        raise DeployTargetError(f"{named} is not a registered version; known: {listed}")
    # A version older than the one that held production before is a rollback.
    before = next((v for v in registry.stage_history(stage) if v != version), None)
    rollback = (
        stage == registry.PRODUCTION
        and before in known
        and known.index(version) < known.index(before)
    )
    print(f"version={version}")
    print(f"stage={stage}")
    print(f"event={'rollback' if rollback else 'deploy'}")
    if repository:
        print(f"image=ghcr.io/{repository.lower()}")
        print(f"version_tag={image_tag(version)}")
        print(f"stage_tag={image_tag(stage)}")
    return 0


def image_tag(name: str) -> str:
    """`name` as an image tag: GTO allows v1.0.0+build and eu/canary, Docker allows neither
    + nor /, so each character outside [A-Za-z0-9_.-] becomes '-'."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", name)[:128]


def package(
    params: Params, version: str, out: Path = SERVING_MODEL, stage: str | None = None
) -> int:
    """`cauce package`: a version's model directory for serving, its card and release text."""
    # Imported here: `cauce serve --model-dir` (the image) needs none of the reporting.
    from cauce import fastpath
    from cauce.ops.gate import Evidence
    from cauce.ops.model_card import model_card

    name = registry.version_of(version)
    ref = f"{registry.MODEL}@{name}"
    directory = registry.fetch(name, out)
    # The version's own metrics, as committed with it.
    metrics = revisions.read_json(EVALUATE_METRICS, ref) or {}
    groups = revisions.read_json(GROUP_METRICS, ref) or {}
    fast = fastpath.write_beside(directory)
    serving: dict[str, Any] = {"version": name, "metrics": metrics}
    if fast is not None:
        serving["fast_model_sha256"] = file_sha256(directory / FAST_MODEL)
    write_json(directory / SERVING_INFO, serving)
    # The version's scores on its test split: what prediction drift compares with.
    scores = revisions.read_json(SCORE_PROFILE, ref)
    if scores is not None:
        write_json(directory / SCORE_PROFILE.name, scores)
    info = ModelInfo.read(directory / MODEL_CARD.name)
    page = model_card(info, name, stage or "registered", Evidence("", metrics, groups), params)
    write_text(directory.parent / MODEL_CARD_PAGE, page)
    message = tools.run("git", "tag", "--list", "--format=%(contents)", ref).stdout.strip()
    write_text(directory.parent / RELEASE_BODY, f"## {ref}\n\n{message}\n\n{page}")
    print(f"{ref} → {directory}")
    return 0


def serve(
    params: Params,
    stage: str | None = None,
    model_dir: Path | None = None,
    version: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> int:
    """`cauce serve`: the version in `stage` (prod by default), or the model in `model_dir`."""
    from cauce.serving import app

    if model_dir is None:
        stage = stage or registry.PRODUCTION
        version, directory = staged(params, stage)
    else:
        directory = model_dir
    app.serve(directory, params.serve, host, port, version, stage)
    return 0


def score(
    params: Params,
    output: Path,
    input: str | None = None,
    stage: str | None = None,
    version: str | None = None,
    model_dir: Path | None = None,
    engine: str = "local",
    scheduler: str | None = None,
) -> int:
    """`cauce score`: a file, directory or glob of rows scored with the model in `stage`
    (prod by default), a `version`, or `model_dir`; on this machine or on Dask. The input
    is data.source unless given."""
    from cauce.serving import batch

    location = input or params.data.source
    if params.data.id_column is None:
        raise UsageError(
            "cauce score writes each prediction beside its row's id, and data.id_column is "
            "null: set it to a column that names each row (unique), so the predictions can "
            "be joined back"
        )
    if scheduler is not None and engine != "dask":
        raise UsageError("--scheduler is for --engine dask")
    if sum(option is not None for option in (stage, version, model_dir)) > 1:
        raise UsageError("give one of --stage, --version or --model-dir")
    if model_dir is not None:
        directory, name = model_dir, f"{model_dir} (this checkout)"
    elif version is not None:
        name = registry.version_of(version)
        directory = packaged(params, name)
    else:
        name, directory = staged(params, stage or registry.PRODUCTION)
    if engine == "dask":
        summary = batch.run_dask(
            directory, location, output, params.data.id_column, name, scheduler
        )
    else:
        summary = batch.run(directory, location, output, params.data.id_column, name)
    print(batch.describe(summary))
    return 0


def staged(params: Params, stage: str) -> tuple[str, Path]:
    """The version in `stage` and its packaged directory (packaged on first use)."""
    ref = registry.production_version(stage)
    if ref is None:
        raise UsageError(f"no version is in stage {stage!r}: run cauce release first")
    version = registry.version_of(ref)
    return version, packaged(params, version, stage)


def packaged(params: Params, version: str, stage: str | None = None) -> Path:
    """The version's packaged directory under .cauce/models (packaged on first use)."""
    directory = SERVED_MODELS / version
    if not (directory / SERVING_INFO).exists():
        package(params, version, directory, stage)
    return directory


def monitor(
    params: Params,
    batch: str | None = None,
    years: Years | None = None,
    stage: str | None = None,
    model_dir: Path | None = None,
    out: Path = MONITOR_REPORTS,
    outcome: Path | None = None,
) -> int:
    """`cauce monitor`: a batch (a file or URL, or years of data.source) against the
    model in `stage` (prod by default) or in `model_dir`; exit 0, 3 (drift) or 4. With
    `outcome` (a workflow's $GITHUB_OUTPUT), the verdict is appended to it as
    `verdict=none|drift|contract-breach` and every verdict exits 0: the workflow branches
    on the verdict, and fails only when the monitor could not judge."""
    from cauce.monitoring import monitor as watch
    from cauce.pipeline import ingest

    if (batch is None) == (years is None):
        raise UsageError("give --batch FILE_OR_URL or --years YEAR[,YEAR], not both")
    if model_dir is not None and stage is not None:
        raise UsageError("give --stage or --model-dir, not both")
    watched = _watched(params, stage, model_dir)
    if batch is not None:
        frame, name = ingest.read_table(batch), batch
    elif years is not None:
        frame, found = _years(params, years)
        name = f"{params.data.source} year {', '.join(map(str, found))}"
    code = watch.run(params, watched, frame, name, _breaches(params, frame), out)
    if outcome is None:
        return code
    with outcome.open("a", encoding="utf-8") as lines:
        lines.write(f"verdict={watch.VERDICTS[ExitCode(code)]}\n")
    return ExitCode.OK


def _breaches(params: Params, frame: pd.DataFrame) -> list[dict]:
    """The contract's rules for the model's features (all required) and, when the batch
    has it, for the target on its labelled rows: labels arrive late, so a target that is
    mostly missing is normal in production."""
    from cauce.pipeline import validate

    contract = validate.load_contract()
    features = {c: contract.columns[c] for c in params.features.columns}
    violations = validate.check(frame, contract.model_copy(update={"columns": features}))
    target = params.data.target
    if target in frame.columns:
        labelled = frame[[target]].dropna()
        rule = {target: contract.columns[target]}
        violations += validate.check(labelled, contract.model_copy(update={"columns": rule}))
    return violations


def _watched(params: Params, stage: str | None, model_dir: Path | None) -> Watched:
    from cauce.monitoring.monitor import Watched

    if model_dir is None:
        stage = stage or registry.PRODUCTION
        version, directory = staged(params, stage)
        info = read_model_json(directory / SERVING_INFO)
        scores = directory / SCORE_PROFILE.name
        return Watched(
            directory,
            f"{registry.MODEL}@{version} ({stage})",
            read_feature_profile(scores) if scores.exists() else None,
            info.get("metrics"),
        )
    # A directory of this checkout (models/): its reports are the working tree's.
    return Watched(
        model_dir,
        f"{model_dir} (this checkout)",
        _scores(revisions.read_json(SCORE_PROFILE)),
        revisions.read_json(EVALUATE_METRICS),
    )


def _scores(profile: dict | None) -> FeatureProfile | None:
    """The working tree's score profile, typed (none before the first evaluate)."""
    return None if profile is None else FEATURE_PROFILE.validate_python(profile)


def _years(params: Params, years: Years) -> tuple[pd.DataFrame, list[int]]:
    """The rows of data.source in `years` (the newest year when none is named), and the
    years they are of."""
    from cauce.pipeline import ingest

    if params.data.year_column is None:
        raise UsageError(
            f"--years {years.text}: the data has no time column (data.year_column is null), "
            "so there are no years to pick: give the batch as a file with --batch FILE_OR_URL "
            "(the scheduled monitor.yml reads it from the repository variable "
            "CAUCE_PRODUCTION_BATCH)"
        )
    source = ingest.read_source(params.data.source)
    of_row = ingest.years_of(source, params.data, params.data.source)
    found = sorted(int(year) for year in of_row.dropna().unique())
    wanted = list(years.values) or found[-1:]
    chosen = of_row.isin(wanted)
    if not chosen.any():
        raise UsageError(
            f"--years {years.text}: no rows in {params.data.source}; its years are {found}"
        )
    return source[chosen].reset_index(drop=True), sorted(set(wanted) & set(found))
