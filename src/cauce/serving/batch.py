"""Batch scoring (`cauce score`): a model version applied to files larger than memory.

The input (a Parquet file, a directory or glob of them, or a CSV file) is read in record
batches with pyarrow, so memory follows the batch size, not the file; or, with the Dask
engine, as partitions on a cluster's workers. Both engines run one function per batch,
`judge`: each row is checked against the model's input schema (from the data contract,
carried in model.json); rows that break it go to a quarantine with the column and the
rule, the rest are scored with the one scoring function evaluate and the API use.
Outputs are written beside their final names and renamed into place only when complete,
so a crash leaves the previous output as it was.
"""

from __future__ import annotations

import glob
import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from cauce import CauceError, DataError, ExternalError, UsageError
from cauce.artifact import SchemaColumn, Target
from cauce.config import CsvFormat
from cauce.files import atomic_directory, atomic_path, write_json
from cauce.model import score
from cauce.progress import bar, interactive

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

    from cauce.fastpath import FastModel

DEFAULT_CSV = CsvFormat()
BATCH_ROWS = 65_536
REASON = "quarantine_reason"
# Without data.id_column, a prediction is joined back by its row's number in the input
# (from 0, files in their natural order), written in this column.
ROW = "row"


@dataclass(frozen=True)
class Summary:
    input: str
    output: str
    quarantine: str
    model_version: str
    id_column: str  # ROW: the rows were numbered, the data having no id column
    rows_read: int
    scored: int
    quarantined: int
    seconds: float
    rows_per_second: float


def outputs(output: Path) -> tuple[Path, Path]:
    """The quarantine file and the summary beside `output` (predictions.parquet →
    predictions.quarantine.parquet, predictions.summary.json)."""
    stem = output.name.removesuffix(".parquet")
    return output.with_name(f"{stem}.quarantine.parquet"), output.with_name(f"{stem}.summary.json")


def is_csv(location: str) -> bool:
    return location.lower().endswith((".csv", ".csv.gz"))


def dataset(location: str, model: Model) -> Any:
    """A pyarrow dataset over a file, a directory or a glob of Parquet files, or a CSV; a
    local path or a URL fsspec reads (s3://, gs://, https://, …). Both engines read the
    files it finds, in its order, and neither starts unless the columns are there.

    A CSV's features are read as text: a reader that guessed a type from the first rows
    would fail on a later bad value instead of quarantining its row.
    """
    import fsspec
    import pyarrow as pa
    import pyarrow.csv as csv
    import pyarrow.dataset as ds

    filesystem, path = (None, location)
    if "://" in location:
        filesystem, path = fsspec.core.url_to_fs(location)
    sources: str | list[str] = path
    if any(char in path for char in "*?["):
        sources = sorted(filesystem.glob(path) if filesystem else glob.glob(path))  # noqa: PTH207
        if not sources:
            raise DataError(f"--input {location}: no file matches")
    file_format: Any = "parquet"
    if is_csv(location):
        textual = {column.name: pa.string() for column in model.schema}
        options = csv.ConvertOptions(column_types=textual, strings_can_be_null=True)
        file_format = ds.CsvFileFormat(
            convert_options=options,
            parse_options=csv.ParseOptions(delimiter=model.form.sep),
            read_options=csv.ReadOptions(encoding=model.form.encoding),
        )
    try:
        found = ds.dataset(sources, format=file_format, filesystem=filesystem)
        # part-2 before part-10, as Dask orders them: both engines read the same order.
        files = sorted(found.files, key=_natural)
        source = ds.dataset(files, format=file_format, filesystem=found.filesystem)
    except FileNotFoundError:
        raise DataError(f"--input {location}: not found") from None
    except (OSError, ValueError, pa.ArrowException) as error:
        raise DataError(f"--input {location}: cannot be read: {error}") from None
    if not files:
        raise DataError(f"--input {location}: no file matches")
    absent = [name for name in model.columns if name not in source.schema.names]
    if absent:
        raise DataError(f"--input {location}: columns the model needs are missing: {absent}")
    return source


def refuse_unwritable(output: Path, dask: bool) -> None:
    """An --output the engine would write in another format than its name says (Parquet
    bytes in o.csv), or that is a directory the local engine cannot replace with a file."""
    suffix = output.suffix.lower()
    if suffix not in ("", ".parquet", ".pq"):
        raise UsageError(
            f"--output {output}: cauce score writes Parquet, not {suffix}: name it "
            f"{output.with_suffix('.parquet')}" + " (a directory of parts)" * dask
        )
    if not dask and output.is_dir() and not any(output.glob("part-*.parquet")):
        kind = "a directory" if any(output.iterdir()) else "an empty directory"
        raise UsageError(
            f"--output {output}: {kind}; the local engine writes one file: give its name, "
            f"e.g. {output / 'predictions.parquet'}"
        )


def refuse_overwriting(location: str, output: Path) -> None:
    """Refuse an output that would replace the input, before anything is read: the same
    file under another spelling (`./F`, a symlink, a hard link), a directory holding the
    input (Dask replaces a directory whole), or a file inside an input directory (the
    next run would read the predictions as input)."""
    if "://" in location:
        return
    sources = glob.glob(location) if any(char in location for char in "*?[") else [location]  # noqa: PTH207
    for path in (output, *outputs(output)):
        written = path.resolve()
        for source in map(Path, sources):
            read = source.resolve()
            same = written == read or (path.exists() and source.exists() and path.samefile(source))
            if same or read.is_relative_to(written) or written.is_relative_to(read):
                relation = "is" if same else "holds" if read.is_relative_to(written) else "is in"
                raise UsageError(
                    f"--output {output}: {path} {relation} the input {source}: writing it "
                    "would replace the data being scored; write the predictions elsewhere"
                )


def _natural(name: str) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def problems(
    frame: pd.DataFrame, schema: list[SchemaColumn], required: tuple[str, ...] = ()
) -> pd.Series:
    """Per row, every rule of the input schema it breaks ("AGEP: range [0, 99]; …"), or "",
    and a missing value in a `required` column (the id: a score nobody can join is lost).

    The checks are whole-column operations; text is built only for the rows that break a
    rule, which are few, so a clean batch costs a handful of vector comparisons.
    """
    reasons = np.full(len(frame), "", dtype=object)

    def add(broken: Any, reason: str) -> None:
        for row in np.flatnonzero(np.asarray(broken, dtype=bool)):
            reasons[row] = f"{reasons[row]}; {reason}" if reasons[row] else reason

    for name in required:
        add(frame[name].isna().to_numpy(), f"{name}: no missing values")
    for column in schema:
        for rule, broken in column.broken(frame[column.name], text_as_numbers=True):
            add(broken, f"{column.name}: {rule}")
    return pd.Series(reasons, index=frame.index, dtype="str")


@dataclass(frozen=True)
class Model:
    """What scoring a batch needs; on Dask, sent once to each worker."""

    scorer: FastModel | Pipeline  # the fast form when the pipeline has one
    schema: list[SchemaColumn]
    target: Target
    version: str
    id_column: str  # ROW when numbered
    sha256: str  # the model file's, from model.json: names it on a shared Dask scheduler
    numbered: bool = False  # no id column in the data: each row's number is its id
    form: CsvFormat = DEFAULT_CSV  # how a CSV input is written (data.csv)

    @classmethod
    def from_directory(
        cls, directory: Path, version: str, id_column: str | None, form: CsvFormat = DEFAULT_CSV
    ) -> Model:
        from cauce.serving.served import ServedModel

        served = ServedModel.from_directory(directory, version)
        served.verify()
        info = served.info
        return cls(
            served.load(),
            info.input_schema,
            info.target,
            version,
            id_column or ROW,
            str(info.model_sha256),
            numbered=id_column is None,
            form=form,
        )

    @property
    def columns(self) -> list[str]:
        """The input columns scoring reads: the id (unless numbered), then the features."""
        return [*([] if self.numbered else [self.id_column]), *self.features]

    @property
    def features(self) -> list[str]:
        return [column.name for column in self.schema]

    def unscored(self, rows: int) -> np.ndarray:
        """A prediction of `rows` missing values, shaped as the model's task answers."""
        classes = len(self.target.classes or [])
        return np.full((rows, classes) if self.target.task == "multiclass" else rows, np.nan)

    @property
    def answers(self) -> list[str]:
        """The columns of the model's answer (Target.columns)."""
        return list(self.target.columns(self.unscored(0)))


def judge(frame: pd.DataFrame, model: Model) -> pd.DataFrame:
    """`frame` with each row's answer (Target.columns: probability and label, a probability
    per class and label, or the predicted value) and version, or the rules it breaks.

    The one per-batch function of both engines. A row with a `quarantine_reason` is not
    scored (its answer is missing). Features read as text (CSV) are made numbers once
    their rows pass the checks, and text features get one kind of missing value (Dask's
    Arrow strings hold pd.NA, which scikit-learn cannot compare), so the scores do not
    depend on how a reader typed them.
    """
    if model.form.decimal != ".":  # numbers read as text from a CSV written 1,5
        numbers = [c.name for c in model.schema if c.type != "string"]
        written = [name for name in numbers if not pd.api.types.is_numeric_dtype(frame[name])]
        frame = frame.assign(
            **{name: frame[name].str.replace(model.form.decimal, ".") for name in written}
        )
    ids = frame[model.id_column]
    if pd.api.types.is_float_dtype(ids) and (ids.dropna() % 1 == 0).all():
        # Integer ids with a gap arrive as floats: keep them integers (the gap is quarantined).
        frame = frame.assign(**{model.id_column: ids.astype("Int64")})
    reasons = problems(frame, model.schema, required=(model.id_column,))
    passed = (reasons == "").to_numpy()
    good = frame[passed]
    numeric = [c.name for c in model.schema if c.type != "string"]
    textual = [name for name in numeric if not pd.api.types.is_numeric_dtype(good[name])]
    text = [c.name for c in model.schema if c.type == "string"]
    good = good.assign(
        **{name: pd.to_numeric(good[name]) for name in textual},
        **{name: good[name].astype(object).where(good[name].notna(), np.nan) for name in text},
    )
    prediction = model.unscored(len(frame))
    if passed.any():
        prediction[passed] = score(model.scorer, good)
    # A quarantined row's answer is dropped by `split`: its label is any, its dtype the same.
    answers = model.target.columns(prediction)
    return frame.assign(
        **answers,
        model_version=pd.Series(model.version, index=frame.index, dtype="str"),
        **{REASON: reasons},
    )


def split(judged: Any, model: Model) -> tuple[Any, Any]:
    """The predictions and the quarantined rows of a judged pandas or Dask frame."""
    scored = judged[REASON] == ""
    predictions = judged[scored][[model.id_column, *model.answers, "model_version"]]
    return predictions, judged[~scored][[model.id_column, *model.features, REASON]]


def run(
    directory: Path,
    location: str,
    output: Path,
    id_column: str | None,
    version: str,
    batch_rows: int = BATCH_ROWS,
    form: CsvFormat = DEFAULT_CSV,
) -> Summary:
    """Score `location` with the model in `directory` on this machine, batch by batch;
    without `id_column`, each row's number in the input is its id (ROW)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    model = Model.from_directory(directory, version, id_column, form)
    source = dataset(location, model)
    if model.numbered and ROW in source.schema.names:
        raise UsageError(
            f"--input {location} has a column {ROW!r}, where cauce score would number the "
            "rows (data.id_column is null): set data.id_column to the column that names them"
        )
    started = time.perf_counter()
    quarantine, _ = outputs(output)
    _refuse_other_kind(directory=False, paths=(output, quarantine))
    read = set_aside = 0
    progress = _progress(source)
    with atomic_path(output) as staged:
        staged_quarantine = staged.with_name(f"{staged.name}.quarantine")
        writers: dict[Path, Any] = {}

        def write(frame: pd.DataFrame, path: Path) -> None:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if path not in writers:
                writers[path] = pq.ParquetWriter(path, table.schema)
            writers[path].write_table(table.cast(writers[path].schema))

        try:
            # Read on demand, no read-ahead: a threaded scanner decodes files faster than
            # they are scored and buffers them, so memory would grow with the input.
            batches = source.to_batches(
                columns=model.columns,
                batch_size=batch_rows,
                batch_readahead=0,
                fragment_readahead=0,
                use_threads=False,
            )
            for batch in batches:
                frame = batch.to_pandas()
                if model.numbered:
                    frame.insert(0, ROW, np.arange(read, read + len(frame)))
                predictions, bad = split(judge(frame, model), model)
                write(predictions, staged)
                if len(bad):
                    write(bad, staged_quarantine)
                read += batch.num_rows
                set_aside += len(bad)
                progress(batch.num_rows)
        except BaseException as error:
            staged_quarantine.unlink(missing_ok=True)
            _unreadable(location, error)
            raise
        finally:
            for writer in writers.values():
                writer.close()
        if not read:
            raise DataError(f"--input {location}: no rows")
        if set_aside:
            staged_quarantine.replace(quarantine)
    if not set_aside:
        quarantine.unlink(missing_ok=True)  # an earlier run's quarantine is not this run's
    return _summarise(location, output, model, read, set_aside, time.perf_counter() - started)


def run_dask(
    directory: Path,
    location: str,
    output: Path,
    id_column: str | None,
    version: str,
    scheduler: str | None = None,
    form: CsvFormat = DEFAULT_CSV,
) -> Summary:
    """The same job on Dask: one task per input partition (a file or a row group), the
    model sent once to each worker, predictions and quarantine as partitioned Parquet
    directories. `scheduler` is an existing cluster's address; a LocalCluster otherwise."""
    try:
        import dask
    except ImportError:
        raise UsageError("--engine dask needs the dask extra: uv sync --extra dask") from None

    if id_column is None:
        raise UsageError(
            "--engine dask joins each prediction back by data.id_column, which is null (its "
            "partitions have no row numbers): set data.id_column, or use the local engine, "
            "which numbers the rows"
        )
    model = Model.from_directory(directory, version, id_column, form)
    quarantine, _ = outputs(output)
    _refuse_other_kind(directory=True, paths=(output, quarantine))
    frame = _dask_frame(location, dataset(location, model), model)
    with _client(scheduler) as client:
        started = time.perf_counter()
        # A named Delayed is one task in the graph (named by the model file's hash, so the
        # pipeline is not hashed): each worker fetches the model once, not per partition.
        shared = dask.delayed(model, name=f"cauce-model-{model.sha256[:16]}")
        judged = frame.map_partitions(judge, shared, meta=judge(frame._meta, model))
        predictions, bad = split(judged, model)
        parts = {"name_function": "part-{:05d}.parquet".format, "write_index": False}
        with atomic_directory(output) as staged, atomic_directory(quarantine) as aside:
            work = client.compute(
                [
                    predictions.to_parquet(staged, compute=False, **parts),
                    bad.to_parquet(aside, compute=False, **parts),
                    judged.map_partitions(len).sum(),
                    (~judged[REASON].eq("")).sum(),
                ]
            )
            if interactive():
                from distributed import progress

                progress(work)
            try:
                _, _, read, set_aside = client.gather(work)
            except Exception as error:
                _unreadable(location, error)
                raise
            if not read:
                raise DataError(f"--input {location}: no rows")
            _drop_empty_parts(aside)
        seconds = time.perf_counter() - started
    if not set_aside:
        shutil.rmtree(quarantine)  # an earlier run's quarantine is not this run's
    return _summarise(location, output, model, int(read), int(set_aside), seconds)


def _dask_frame(location: str, source: Any, model: Model) -> Any:
    """The files `source` found, in its order, as a Dask DataFrame of the columns scoring
    reads; a CSV read as the local engine reads it (features as text, pyarrow's markers
    of a missing value, an integer id as an integer that may be missing)."""
    import dask.dataframe as dd
    import fsspec
    import pyarrow as pa
    import pyarrow.csv as csv

    files = list(source.files)
    if "://" in location:
        filesystem = fsspec.core.url_to_fs(location)[0]
        files = [filesystem.unstrip_protocol(name) for name in files]
    try:
        if not is_csv(location):
            return dd.read_parquet(files, columns=model.columns)
        dtype = {column.name: "str" for column in model.schema}
        if pa.types.is_integer(source.schema.field(model.id_column).type):
            dtype[model.id_column] = "Int64"
        return dd.read_csv(
            files,
            sep=model.form.sep,
            encoding=model.form.encoding,
            usecols=model.columns,
            dtype=dtype,
            na_values=csv.ConvertOptions().null_values,
            keep_default_na=False,
            blocksize=None if location.lower().endswith(".gz") else "default",
        )[model.columns]
    except (OSError, ValueError) as error:
        raise DataError(f"--input {location}: cannot be read: {error}") from None


def _unreadable(location: str, error: BaseException) -> None:
    """A reader's complaint about the data (a value its type cannot hold, files whose
    types differ) as a DataError naming the input; anything else is left as it is."""
    import pyarrow as pa

    if isinstance(error, pa.ArrowException | ValueError) and not isinstance(error, CauceError):
        raise DataError(f"--input {location}: cannot be read: {error}") from None


def _refuse_other_kind(directory: bool, paths: tuple[Path, ...]) -> None:
    """The local engine writes files and Dask directories: neither replaces the other's."""
    for path in paths:
        if path.exists() and path.is_dir() != directory:
            kind, engine = ("a directory", "dask") if path.is_dir() else ("a file", "local")
            raise UsageError(
                f"--output: {path} is {kind} the {engine} engine wrote: remove it or "
                "write elsewhere"
            )


@contextmanager
def _client(scheduler: str | None) -> Iterator[Any]:
    """A client of the cluster at `scheduler`, or of a LocalCluster of two workers."""
    import dask

    dask.config.set({"logging.distributed": "warning"})  # not a line per worker event
    from distributed import Client, LocalCluster

    if scheduler is None:
        with (
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                dashboard_address=":0",  # a free port: never "8787 is already in use"
            ) as cluster,
            Client(cluster, set_as_default=False) as client,
        ):
            yield client
        return
    try:
        client = Client(scheduler, timeout="20s", set_as_default=False)
    except OSError as error:
        message = f"--scheduler {scheduler}: cannot reach a Dask scheduler: {error}"
        raise ExternalError(message) from None
    with client:
        yield client


def _drop_empty_parts(directory: Path) -> None:
    """Quarantine parts with no rows say nothing: most partitions have none."""
    import pyarrow.parquet as pq

    for part in directory.glob("part-*.parquet"):
        if pq.read_metadata(part).num_rows == 0:
            part.unlink()


def _summarise(
    location: str, output: Path, model: Model, read: int, set_aside: int, seconds: float
) -> Summary:
    """The run's summary, also written beside the output."""
    quarantine, summary_file = outputs(output)
    summary = Summary(
        location,
        str(output),
        str(quarantine) if set_aside else "",
        model.version,
        model.id_column,
        read,
        read - set_aside,
        set_aside,
        round(seconds, 3),
        round(read / seconds, 1) if seconds else 0.0,
    )
    write_json(summary_file, asdict(summary))
    return summary


def _progress(source: Any):
    """A progress bar of the rows on a terminal; nothing otherwise (the summary line says
    it all, and counting a CSV's rows would read it once more)."""
    if not interactive():
        return lambda _rows: None
    return bar(source.count_rows(), "rows").update


def describe(summary: Summary) -> str:
    """The one summary line."""
    aside = f", {summary.quarantined:,} quarantined ({summary.quarantine})" * bool(
        summary.quarantined
    )
    numbered = (
        f"; no id column (data.id_column is null): {ROW!r} is each row's number in the input, "
        "from 0"
    ) * (summary.id_column == ROW)
    return (
        f"score: {summary.rows_read:,} rows read, {summary.scored:,} scored with "
        f"model {summary.model_version}{aside} in {summary.seconds:.1f} s "
        f"({summary.rows_per_second:,.0f} rows/s); wrote {summary.output}{numbered}"
    )
