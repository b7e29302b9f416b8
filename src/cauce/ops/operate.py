"""The model of a stage (or of a model directory) at work: `cauce serve` serves it over
HTTP, `cauce score` scores a file of rows with it, `cauce monitor` judges a batch of
production rows against it (monitoring/monitor.py). A stage is resolved through the tags
and its version packaged on first use (ops/deploy.py)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cauce import UsageError
from cauce.config import Params
from cauce.files import read_model_json
from cauce.layout import EVALUATE_METRICS, MONITOR_REPORTS, SCORE_PROFILE, SERVING_INFO
from cauce.ops import registry, revisions
from cauce.ops.deploy import packaged, staged
from cauce.profile import FEATURE_PROFILE, FeatureProfile, read_feature_profile

if TYPE_CHECKING:
    import pandas as pd

    from cauce.monitoring.monitor import Judgement, Watched
    from cauce.periods import Years
    from cauce.serving.batch import Summary


def serve(
    params: Params,
    stage: str | None = None,
    model_dir: Path | None = None,
    version: str | None = None,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """`cauce serve`: the version in `stage` (prod by default), or the model in `model_dir`."""
    from cauce.serving import app

    if model_dir is None:
        stage = stage or registry.PRODUCTION
        version, directory = staged(params, stage)
    else:
        directory = model_dir
    app.serve(directory, params.serve, host, port, version, stage)


def score(
    params: Params,
    output: Path,
    input: str | None = None,
    stage: str | None = None,
    version: str | None = None,
    model_dir: Path | None = None,
    engine: str = "local",
    scheduler: str | None = None,
) -> Summary:
    """`cauce score`: a file, directory or glob of rows scored with the model in `stage`
    (prod by default), a `version`, or `model_dir`; on this machine or on Dask. The input
    is data.source unless given."""
    from cauce.serving import batch

    location = input or params.data.source
    batch.refuse_unwritable(output, dask=engine == "dask")
    batch.refuse_overwriting(location, output)
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
        return batch.run_dask(
            directory, location, output, params.data.id_column, name, scheduler, params.data.csv
        )
    return batch.run(directory, location, output, params.data.id_column, name, form=params.data.csv)


def monitor(
    params: Params,
    batch: str | None = None,
    years: Years | None = None,
    stage: str | None = None,
    model_dir: Path | None = None,
    out: Path = MONITOR_REPORTS,
) -> Judgement:
    """`cauce monitor`: a batch (a file or URL, or years of data.source) against the
    model in `stage` (prod by default) or in `model_dir`: its verdict, and the report
    written to `out`."""
    from cauce.monitoring import monitor as watch
    from cauce.pipeline import ingest

    if (batch is None) == (years is None):
        raise UsageError("give --batch FILE_OR_URL or --years YEAR[,YEAR], not both")
    if model_dir is not None and stage is not None:
        raise UsageError("give --stage or --model-dir, not both")
    watched = _watched(params, stage, model_dir)
    if batch is not None:
        frame, name = ingest.read_table(batch, params.data.missing_values, params.data.csv), batch
    elif years is not None:
        frame, found = _years(params, years)
        name = f"{params.data.source} year {', '.join(map(str, found))}"
    return watch.judge(params, watched, frame, name, _breaches(params, frame), out)


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
    source = ingest.read_source(params.data)
    of_row = ingest.years_of(source, params.data, params.data.source)
    found = sorted(int(year) for year in of_row.dropna().unique())
    wanted = list(years.values) or found[-1:]
    chosen = of_row.isin(wanted)
    if not chosen.any():
        raise UsageError(
            f"--years {years.text}: no rows in {params.data.source}; its years are {found}"
        )
    return source[chosen].reset_index(drop=True), sorted(set(wanted) & set(found))
