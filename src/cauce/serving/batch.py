"""Batch scoring (`cauce score`): a model version applied to files larger than memory.

The input (a Parquet file, a directory or glob of them, or a CSV file) is read in record
batches with pyarrow, so memory follows the batch size, not the file. Each batch is
checked against the model's input schema (from the data contract, carried in
model.json): rows that break it go to a quarantine file with the column and the rule,
the rest are scored with the one scoring function evaluate and the API use. Outputs are
written beside their final names and renamed into place only when complete, so a crash
leaves the previous output as it was.
"""

from __future__ import annotations

import glob
import logging
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cauce import DataError
from cauce.files import atomic_path, write_json
from cauce.model import score
from cauce.serving.app import ServedModel

log = logging.getLogger("cauce")

BATCH_ROWS = 65_536
REASON = "quarantine_reason"


@dataclass(frozen=True)
class Summary:
    input: str
    output: str
    quarantine: str
    model_version: str
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


def dataset(location: str) -> Any:
    """A pyarrow dataset over a file, a directory or a glob of Parquet files, or a CSV."""
    import pyarrow.dataset as ds

    sources: str | list[str] = location
    if any(char in location for char in "*?[") and "://" not in location:
        sources = sorted(glob.glob(location))  # noqa: PTH207 - absolute patterns too
        if not sources:
            raise DataError(f"--input {location}: no file matches")
    csv = location.lower().endswith((".csv", ".csv.gz"))
    try:
        return ds.dataset(sources, format="csv" if csv else "parquet")
    except (OSError, ValueError) as error:
        raise DataError(f"--input {location}: cannot be read: {error}") from None


def problems(frame: pd.DataFrame, schema: list[dict[str, Any]]) -> pd.Series:
    """Per row, every rule of the input schema it breaks ("AGEP: range [0, 99]; …"), or ""."""
    reasons = pd.Series("", index=frame.index, dtype=object)

    def add(broken: pd.Series, reason: str) -> None:
        broken = broken.fillna(False).astype(bool)
        reasons[broken] = reasons[broken] + np.where(reasons[broken] == "", "", "; ") + reason

    for column in schema:
        name = column["name"]
        raw = frame[name]
        missing = raw.isna()
        values = pd.to_numeric(raw, errors="coerce") if column["type"] != "string" else raw
        if not column.get("nullable", True):
            add(missing, f"{name}: no missing values")
        if column["type"] != "string":
            add(values.isna() & ~missing, f"{name}: type {column['type']}")
            if column["type"] == "integer":
                add(values.notna() & (values % 1 != 0), f"{name}: type integer")
        if column.get("allowed") is not None:
            add(values.notna() & ~values.isin(column["allowed"]), f"{name}: allowed codes")
        low, high = column.get("min"), column.get("max")
        if low is not None or high is not None:
            outside = (values < (-np.inf if low is None else low)) | (
                values > (np.inf if high is None else high)
            )
            add(values.notna() & outside, f"{name}: range [{low}, {high}]")
    return reasons


def run(
    directory: Path,
    location: str,
    output: Path,
    id_column: str,
    version: str,
    batch_rows: int = BATCH_ROWS,
) -> Summary:
    """Score `location` with the model in `directory`; write predictions and quarantine."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    served = ServedModel.from_directory(directory, version)
    served.verify()
    pipeline = served.load()
    schema = served.card["input_schema"]
    source = dataset(location)
    needed = [id_column, *(column["name"] for column in schema)]
    absent = [name for name in needed if name not in source.schema.names]
    if absent:
        raise DataError(f"--input {location}: columns the model needs are missing: {absent}")
    started = time.perf_counter()
    quarantine, summary_file = outputs(output)
    read = scored = set_aside = 0
    progress = _progress(source.count_rows())
    with atomic_path(output) as staged:
        staged_quarantine = staged.with_name(f"{staged.name}.quarantine")
        predictions = quarantined = None
        try:
            for batch in source.to_batches(columns=needed, batch_size=batch_rows):
                frame = batch.to_pandas()
                reasons = problems(frame, schema)
                good = frame[reasons == ""]
                probability = score(pipeline, good) if len(good) else np.empty(0)
                result = pa.table(
                    {
                        id_column: good[id_column].to_numpy(),
                        "probability": probability,
                        "label": (probability >= served.threshold).astype("int8"),
                        "model_version": pa.array([version] * len(good), pa.string()),
                    }
                )
                predictions = predictions or pq.ParquetWriter(staged, result.schema)
                predictions.write_table(result)
                bad = frame[reasons != ""].assign(**{REASON: reasons[reasons != ""]})
                if len(bad):
                    table = pa.Table.from_pandas(bad, preserve_index=False)
                    quarantined = quarantined or pq.ParquetWriter(staged_quarantine, table.schema)
                    quarantined.write_table(table.cast(quarantined.schema))
                read += len(frame)
                scored += len(good)
                set_aside += len(bad)
                progress(len(frame))
        except BaseException:
            staged_quarantine.unlink(missing_ok=True)
            raise
        finally:
            for writer in (predictions, quarantined):
                if writer is not None:
                    writer.close()
        if predictions is None:
            raise DataError(f"--input {location}: no rows")
        if quarantined is not None:
            staged_quarantine.replace(quarantine)
    if quarantined is None:
        quarantine.unlink(missing_ok=True)  # an earlier run's quarantine is not this run's
    seconds = time.perf_counter() - started
    summary = Summary(
        location,
        str(output),
        str(quarantine) if set_aside else "",
        version,
        read,
        scored,
        set_aside,
        round(seconds, 3),
        round(read / seconds, 1) if seconds else 0.0,
    )
    write_json(summary_file, asdict(summary))
    return summary


def _progress(total: int):
    """A progress bar on a terminal; nothing otherwise (the summary line says it all)."""
    if not sys.stderr.isatty():
        return lambda _rows: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="rows", unit_scale=True, file=sys.stderr, leave=False)
    return bar.update


def describe(summary: Summary) -> str:
    """The one summary line."""
    aside = f", {summary.quarantined:,} quarantined ({summary.quarantine})" * bool(
        summary.quarantined
    )
    return (
        f"score: {summary.rows_read:,} rows read, {summary.scored:,} scored with "
        f"model {summary.model_version}{aside} in {summary.seconds:.1f} s "
        f"({summary.rows_per_second:,.0f} rows/s); wrote {summary.output}"
    )
