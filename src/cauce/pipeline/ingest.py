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

import re
from collections.abc import Sequence

import pandas as pd

from cauce import ConfigError, DataError
from cauce.artifact import as_dates
from cauce.config import SEPARATORS, CsvFormat, DataParams, Params
from cauce.files import stage_log, write_parquet
from cauce.layout import RAW

DEFAULT_CSV = CsvFormat()


def is_csv(location: str) -> bool:
    return location.lower().endswith((".csv", ".csv.gz"))


def read_table(
    location: str, missing_values: Sequence[str] = (), form: CsvFormat = DEFAULT_CSV
) -> pd.DataFrame:
    """Read a Parquet or CSV file (written as `form` says) from a path or URL, with an
    error that names it and the cause; the text of `missing_values` is read as a missing
    value (in a Parquet file's text columns)."""
    csv = is_csv(location)
    try:
        if csv:
            frame = pd.read_csv(
                location,
                na_values=list(missing_values) or None,
                sep=form.sep,
                decimal=form.decimal,
                encoding=form.encoding,
            )
        else:
            frame = pd.read_parquet(location)
    except FileNotFoundError:
        raise DataError(f"{location}: not found") from None
    except pd.errors.EmptyDataError:
        raise DataError(f"{location}: the file is empty") from None
    except UnicodeDecodeError as error:
        raise DataError(
            f"{location}: not {form.encoding} text (it holds byte "
            f"{error.object[error.start]:#04x}): set data.csv.encoding to the file's encoding "
            "(latin-1 for Western European text from older tools; cauce init detects it)"
        ) from None
    except LookupError:
        raise DataError(f"data.csv.encoding = {form.encoding!r}: no such encoding") from None
    except (OSError, ValueError) as error:
        kind = "CSV" if csv else "Parquet (name a .csv file for CSV)"
        raise DataError(f"{location}: cannot be read as {kind}: {error}") from None
    if frame.empty:
        raise DataError(f"{location}: the file has no rows")
    if csv and len(frame.columns) == 1:
        _one_column(location, str(frame.columns[0]), form)
    names = set(map(str, frame.columns))
    if csv and any(re.fullmatch(r"(.+)\.\d+", n) and n.rsplit(".", 1)[0] in names for n in names):
        _names_once(location, form)  # renamed by pandas (x1.1 beside x1)? read the header
    if missing_values and not csv:
        text = frame.select_dtypes(include=["object", "string"]).columns
        frame[text] = frame[text].where(~frame[text].isin(list(missing_values)))
    # Rows are known by their place in the file (a stored pandas index is not the file's).
    return frame.reset_index(drop=True)


def _names_once(location: str, form: CsvFormat) -> None:
    """pandas renames a repeated column name (x1, x1.1): the file would then not be read
    the same by every reader (cauce score's keeps the name), so it is refused."""
    header = pd.read_csv(
        location,
        sep=form.sep,
        encoding=form.encoding,
        header=None,
        nrows=1,
        dtype=str,
        keep_default_na=False,
    )
    names = list(header.iloc[0])  # as written: "01" is not "1", "NA" not "null"
    repeated = {name: [i for i, n in enumerate(names) if n == name] for name in names if name}
    twice = {name: places for name, places in repeated.items() if len(places) > 1}
    if twice:
        said = "; ".join(
            f"{name!r} (columns {' and '.join(str(i + 1) for i in places)})"
            for name, places in twice.items()
        )
        raise DataError(f"{location}: column names repeated: {said}: name each column once")


def _one_column(location: str, header: str, form: CsvFormat) -> None:
    """A CSV read as one column whose name holds another separator was split wrongly."""
    others = [sep for sep in SEPARATORS if sep != form.sep and sep in header]
    if others:
        decimal = " and data.csv.decimal: ',' if its numbers read 1,5" * (others[0] == ";")
        raise DataError(
            f"{location}: read as one column ({header[:60]!r}): its fields are separated by "
            f"{others[0]!r}, not {form.sep!r}: set data.csv.sep: {others[0]!r}{decimal} "
            "(cauce init detects both)"
        )


def sniff(location: str) -> tuple[CsvFormat, list[str]]:
    """The format of the CSV at `location` from its first 64 KiB, and what was found, in
    words: its encoding (UTF-8, or Latin-1 when it is not), the separator its header uses
    most, and a decimal comma when the fields are separated otherwise and numbers read
    1,5. A file that cannot be opened gets the default (reading it says why)."""
    import fsspec

    try:
        with fsspec.open(location, "rb", compression="infer") as stream:
            head = stream.read(1 << 16)
    except (OSError, ValueError):
        return DEFAULT_CSV, []
    found = []
    try:
        text, encoding = head.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as error:
        whole = len(head) < 1 << 16  # the whole file: no character was cut at its end
        if whole or error.start < len(head) - 4:
            text, encoding = head.decode("latin-1"), "latin-1"
            found.append(
                f"not UTF-8 (byte {head[error.start]:#04x} at offset {error.start:,}): read as "
                "latin-1 (Western European); check the accents in the contract's codes"
            )
        else:
            text, encoding = head[: error.start].decode("utf-8"), "utf-8"
    lines = text.splitlines()
    header = lines[0] if lines else ""
    sep = max(SEPARATORS, key=header.count) if header else ","
    sep = sep if header.count(sep) else ","
    decimal = "."
    if sep != "," and any(re.search(r"(^|\D)\d+,\d+(\D|$)", line) for line in lines[1:50]):
        decimal = ","
    if sep != ",":
        found.append(f"fields separated by {sep!r}")
    if decimal != ".":
        found.append("numbers written with a decimal comma (1,5)")
    form = CsvFormat(sep=sep, decimal=decimal, encoding=encoding)  # type: ignore[arg-type]
    return form, found


def read_source(data: DataParams) -> pd.DataFrame:
    """`data.source`; its problems are data errors that say where the path was set."""
    try:
        return read_table(data.source, data.missing_values, data.csv)
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
