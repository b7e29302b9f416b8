"""Stage `ingest`: read the source, keep the training years (every row when the data has
no time column), write `data/raw/`.

The time column holds whole years (2018) or dates (2018-03-31, or datetimes in a Parquet
file): a row's period is its year either way, so `data.train_years` and `cauce monitor
--years` speak of years whatever the column holds.

Exact duplicate records (a re-delivered row) are dropped here, before the contract
checks that ids are unique: two *different* records with one id are a contract breach.
Each kept row keeps its row number in the source as the frame's index (stored in the
Parquet file), so that validate names the rows of the user's own file.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from cauce import ConfigError, DataError
from cauce.artifact import as_dates
from cauce.config import DataParams, Params
from cauce.files import stage_log, write_parquet
from cauce.layout import RAW


def read_table(location: str, missing_values: Sequence[str] = ()) -> pd.DataFrame:
    """Read a Parquet or CSV file from a path or URL, with an error that names it; the
    text of `missing_values` is read as a missing value (in a Parquet file's text columns)."""
    csv = location.lower().endswith((".csv", ".csv.gz"))
    try:
        if csv:
            frame = pd.read_csv(location, na_values=list(missing_values) or None)
        else:
            frame = pd.read_parquet(location)
    except FileNotFoundError:
        raise DataError(f"{location}: not found") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{location}: the file is empty") from None
    except (OSError, ValueError) as error:
        kind = "CSV" if csv else "Parquet (name a .csv file for CSV)"
        raise DataError(f"{location}: cannot be read as {kind}: {error}") from None
    if frame.empty:
        raise DataError(f"{location}: the file has no rows")
    if missing_values and not csv:
        text = frame.select_dtypes(include=["object", "string"]).columns
        frame[text] = frame[text].where(~frame[text].isin(list(missing_values)))
    # Rows are known by their place in the file (a stored pandas index is not the file's).
    return frame.reset_index(drop=True)


def read_source(data: DataParams) -> pd.DataFrame:
    """`data.source`; its problems are data errors that say where the path was set."""
    try:
        return read_table(data.source, data.missing_values)
    except DataError as error:
        raise DataError(f"data.source: {error}") from None


def years_of(frame: pd.DataFrame, data: DataParams, source: str) -> pd.Series:
    """The year of each row of `frame` (read from `source`): the time column's whole
    numbers, or the calendar year of its dates."""
    column = data.year_column
    if column not in frame.columns:
        raise ConfigError(
            f"{source}: column {column!r} (data.year_column) is missing; "
            f"columns are {', '.join(map(str, frame.columns))}; set data.year_column "
            "and data.train_years to null if the data has no time column"
        )
    values = frame[column]
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        years = values
    else:
        years = as_dates(values).dt.year
    odd = values[values.notna() & (years.isna() | (years % 1 != 0))]
    if not odd.empty:
        shown = ", ".join(f"row {row}: {value!r}" for row, value in odd.head(3).items())
        raise DataError(
            f"{source}: column {column!r} (data.year_column) holds values that are neither "
            f"whole years (2018) nor ISO 8601 dates (2018-03-31), e.g. {shown}"
        )
    return years


def training_rows(frame: pd.DataFrame, data: DataParams, source: str) -> tuple[pd.DataFrame, int]:
    """The rows of the training years (all rows without a time column), exact duplicates
    dropped (and how many), sampled down to `data.max_rows` when set; indexed by their
    row number in the source."""
    kept = frame
    if data.year_column is not None:
        years = years_of(frame, data, source)
        kept = frame[years.isin(data.train_years or [])]
        if kept.empty:
            found = sorted(int(year) for year in years.dropna().unique())
            raise ConfigError(
                f"data.train_years = {data.train_years}: no rows in {source}; its years are {found}"
            )
    duplicates = int(kept.duplicated().sum())
    kept = kept.drop_duplicates()
    if data.max_rows is not None and len(kept) > data.max_rows:
        kept = kept.sample(n=data.max_rows, random_state=data.seed).sort_index()
    return kept, duplicates


def run(params: Params) -> None:
    data = params.data
    with stage_log("ingest") as log:
        frame = read_source(data)
        log.reads(data.source, len(frame))
        kept, duplicates = training_rows(frame, data, data.source)
        if duplicates:
            log.note(f"dropped {duplicates:,} exact duplicate rows")
        write_parquet(RAW, kept, index=True)
        log.writes(RAW, len(kept))
