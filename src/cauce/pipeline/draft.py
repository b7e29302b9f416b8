"""`cauce init`: a first data contract, params and plots for the user's own data.

Not a stage: it drafts what the stages read (`data/contract.yaml`; params.yaml's `data`,
`features`, `evaluate.slices`, the gate's and the monitor's metrics; dvc.yaml's `plots:`)
from one look at the file, says every decision and why, and writes nothing until every
check has passed. It reads the file as ingest does: exact duplicate rows dropped.

The rules (docs/bring-your-own-data.md has them with their reasons):

- type: integer for an integer dtype, or floats that are all whole and have missing values
  (pandas widens integers with a missing value to floats); number for other numbers;
  date for datetimes and for text that is all ISO 8601 dates (2018-03-31); string for
  other text. Booleans are the contract's type for a target's labels only. A date column is
  a time column (--time), never a feature.
- the contract: `allowed` codes for integer and string columns of at most `MAX_CODES`
  values, `min: 0` for other numeric columns with no negative value (the observed extremes
  are not rules: later data beyond them is drift, not a breach), `nullable` where values
  are missing; `max_null_share` the next step of `NULL_STEP` above the largest missing share.
- the features: integer columns of at most `MAX_CODES` values and text of at most
  `MAX_CATEGORIES` are categorical, other numbers numeric; none is ordinal (whether codes
  are ordered is not in the data: move a column to `ordinal` by hand, text with its codes'
  order, `- cut: [Fair, Good, Ideal]`). Excluded: the id,
  target and time columns, dates and booleans, a column of one value, text of more values
  (names, free text),
  an integer or text column with a different value in every row (an id), and a text
  column of numbers but for a few values (`NUMBERS_BUT_FOR`): those are listed, and
  `--missing TEXT` (data.missing_values) reads them as missing if that is what they mean.
- the task, when not given: a numeric target of non-whole values or more than `MAX_CODES`
  values is a regression; else two labels are binary, more are multiclass.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass
from fractions import Fraction
from io import StringIO
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from cauce import CauceError, ConfigError, DataError, UsageError
from cauce.artifact import (
    ColumnRule,
    FeatureKind,
    as_dates,
    describe_target,
    plain_label,
)
from cauce.config import CsvFormat, DataParams, Label, load_params
from cauce.files import atomic_path
from cauce.layout import CONTRACT, PARAMS, PIPELINE
from cauce.metrics import METRICS, PRIMARY, Task, of_task
from cauce.params_file import in_dvc_form
from cauce.pipeline.evaluate import dvc_plots
from cauce.pipeline.ingest import is_csv, read_table, sniff
from cauce.pipeline.prepare import check_sizes
from cauce.pipeline.validate import Contract, load_contract

ValueType = Literal["boolean", "integer", "number", "string", "date"]
Kind = FeatureKind
KINDS: tuple[Kind, ...] = ("numeric", "ordinal", "categorical")

# Up to 20 values, a column is a set of codes: listed in the contract (a code never seen
# is a breach) and a categorical feature. The census's longest code list has 18 (RELP);
# beyond 20 a list drawn from one file likely misses rare valid codes, and an integer
# column is more often a quantity (age, a count) than codes.
MAX_CODES = 20
# Text of more values is rarely a category: names, addresses, free text. Trees and one-hot
# encoding learn little from codes seen a few times each; a true category of more values
# (a country, a ZIP code) can be listed by hand, up to 255 (the boosted trees' limit).
MAX_CATEGORIES = 50
# A text column whose values are numbers but for at most 5% of them is a numeric column
# with a few bad values (a "?", a decimal comma, a typo), not text: init names them and asks.
NUMBERS_BUT_FOR = 0.05
# max_null_share is the next multiple of 5 points above the largest missing share: a later
# batch a little worse than this file passes, a clearly worse one is flagged.
NULL_STEP = Fraction(1, 20)
EARLIEST_YEAR, LATEST_YEAR = 1000, 9999

# How much worse than the base branch and than production a metric may get (gate.metrics'
# max_regression), in its own units: a point for the scores between 0 and 1 (half of one for
# ROC AUC, the steadiest), as the census gate has it. No min/max: what is good enough
# depends on the data.
MAX_REGRESSION = {"roc_auc": 0.005}
DEFAULT_MAX_REGRESSION = 0.01
# A group's (gate.groups) and a production batch's (monitor.performance) primary metric:
# two points, as for the census: fewer rows, more noise.
LOOSER_MAX_REGRESSION = 0.02
# The errors in the target's units take these as shares of the target's standard deviation
# (the RMSE of always predicting the mean): 0.01 of it, not 0.01 of a dollar or a year.
IN_TARGET_UNITS = ("rmse", "mae")
# A threshold trades precision for recall: a model may move along that trade-off without
# being worse, so they are reported, not gated.
UNGATED = ("precision", "recall")


@dataclass(frozen=True)
class Draft:
    """What `cauce init` decided for one data file, and why (one line per decision)."""

    data: DataParams
    features: dict[Kind, list[str]]
    contract: Contract
    rows: int
    max_regression: dict[str, float]  # gate.metrics, the task's primary metric first
    group_max_regression: float  # gate.groups, on the primary metric
    max_drop: float  # monitor.performance, on the primary metric
    notes: dict[str, str]  # a comment for a column of the contract
    decisions: list[str]

    @property
    def primary(self) -> str:
        return PRIMARY[self.data.task]

    @property
    def intended_use(self) -> str:
        data = self.data
        return (
            f"Predicts {data.target} ({data.task}) from the columns of {data.source}. "
            "Say here what it is for, who uses it, and what it must not be used for."
        )


@dataclass(frozen=True)
class _Column:
    """One column as init sees it: its type (None: one the contract cannot describe)."""

    name: str
    values: pd.Series  # without the missing ones
    missing: int
    type: ValueType | None

    @classmethod
    def of(cls, series: pd.Series) -> _Column:
        present = series.dropna()
        return cls(str(series.name), present, len(series) - len(present), _value_type(series))

    @property
    def distinct(self) -> int:
        return int(self.values.nunique())

    @property
    def codes(self) -> list[Any]:
        return sorted({plain_label(v) for v in self.values.unique()})

    def missing_note(self, rows: int) -> str:
        return f", {self.missing / rows:.1%} missing" if self.missing else ""


def _value_type(series: pd.Series) -> ValueType | None:
    """The contract's type of `series`, as validate checks it (validate._type_check)."""
    present = series.dropna()
    if pd.api.types.is_bool_dtype(series) or (
        not present.empty and present.map(lambda v: isinstance(v, bool | np.bool_)).all()
    ):
        return "boolean"
    if pd.api.types.is_numeric_dtype(series):
        if pd.api.types.is_integer_dtype(series):
            return "integer"
        whole = bool((present % 1 == 0).all())
        return "integer" if whole and len(present) < len(series) else "number"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "date"
    if present.map(lambda value: isinstance(value, str)).all():
        return "date" if not present.empty and as_dates(present).notna().all() else "string"
    return None


def _listed(values: list[Any], most: int = 10) -> str:
    shown = ", ".join(repr(v) for v in values[:most])
    return shown + (f", … ({len(values)} in all)" if len(values) > most else "")


def _column(frame: pd.DataFrame, name: str, option: str, source: str) -> _Column:
    if name not in frame.columns:
        raise DataError(
            f"{source}: no column {name!r} ({option}); its columns are "
            f"{', '.join(map(str, frame.columns))}"
        )
    return _Column.of(frame[name])


def draft(
    frame: pd.DataFrame,
    source: str,
    target: str,
    task: Task | None = None,
    positive_label: str | None = None,
    id_column: str | None = None,
    year_column: str | None = None,
    missing_values: list[str] | None = None,
    csv: CsvFormat | None = None,
) -> Draft:
    """Decide the contract, the task, the features and the metric rules for `frame`, read
    from `source`; a DataError (the data) or UsageError (the options) for what cannot be."""
    named = [("--target", target), ("--id", id_column), ("--time", year_column)]
    for index, (option, name) in enumerate(named):
        for other, same in named[index + 1 :]:
            if name is not None and name == same:
                raise UsageError(f"{option} and {other} both name column {name!r}")
    frame = frame.drop_duplicates()  # as ingest does: a re-delivered row is not a breach
    decisions: list[str] = []
    rules: dict[str, ColumnRule] = {}
    notes: dict[str, str] = {}

    label = _column(frame, target, "--target", source)
    data = _target(label, task, positive_label, source, decisions)
    rules[target] = _rule(label)
    notes[target] = "the target: rows without it are dropped"

    found = None if id_column else _found_id(frame, [target, year_column])
    id_column = id_column or found
    identifier = _column(frame, id_column, "--id", source) if id_column else None
    if identifier is None:
        decisions.append(
            "id column: none (--id COLUMN names one): cauce score numbers the rows instead"
        )
    else:
        rules[identifier.name] = _id_rule(identifier, source)
        notes[identifier.name] = "the id column"
        how = "found" if found else "--id"
        decisions.append(
            f"id column: {identifier.name!r} ({how}): unique, never missing; not a feature"
            + ("; --id names another" if found else "")
        )

    time = _column(frame, year_column, "--time", source) if year_column else None
    train_years = None
    if time is None:
        decisions.append(
            "time column: none: every row is split into train and test "
            "(--time COLUMN names a column of years or dates)"
        )
    else:
        years = _years(time, source)
        train_years = years[:-1] or years
        if time.type == "date":
            rules[time.name] = ColumnRule(type="date", nullable=False)
            notes[time.name] = "the time column: each row's period is the year of its date"
            dates = as_dates(time.values)
            held = f"dates from {dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d}, years"
        else:
            rules[time.name] = ColumnRule(type="integer", nullable=False, min=years[0])
            notes[time.name] = "the time column: no max, later years are the data to come"
            held = "years"
        production = (
            f"the newest, {years[-1]}, plays production"
            if len(years) > 1
            else "the only year: none is left to play production"
        )
        decisions.append(
            f"time column: {time.name!r} (--time), {held} {_span(years)}; not a feature"
        )
        decisions.append(f"training years: {_span(train_years)}: {production}")

    data = data.model_copy(
        update={
            "id_column": id_column,
            "year_column": year_column,
            "train_years": train_years,
            "missing_values": missing_values or [],
            "csv": csv or CsvFormat(),
        }
    )
    # What prepare will split: the labelled rows of the training years (all rows without
    # a time column), so that init refuses what prepare would.
    trained = label.values
    if time is not None and train_years is not None:
        of_row = as_dates(frame[time.name]).dt.year if time.type == "date" else frame[time.name]
        trained = frame.loc[of_row.isin(train_years), target].dropna()
    where = f"{source}: column {target!r} (--target)"
    for warning in check_sizes(trained, data.task != "regression", float(data.test_size), where):
        decisions.append(f"warning: {warning}")
    if missing_values:
        decisions.append(
            f"missing values: {_listed(missing_values)} read as missing (--missing), "
            "as ingest will (data.missing_values)"
        )

    features: dict[Kind, list[str]] = {kind: [] for kind in KINDS}
    for name in map(str, frame.columns):
        if name in data.special_columns:
            continue
        column = _Column.of(frame[name])
        kind, reason = _feature(column, len(frame))
        if kind is None:
            decisions.append(f"excluded {name!r}: {reason}")
            continue
        features[kind].append(name)
        rules[name] = _rule(column)
        decisions.append(f"feature {name!r}: {kind}: {reason}")
    if not any(features.values()):
        raise DataError(f"{source}: no column is left to be a feature: " + "; ".join(decisions))

    share, most = _max_null_share(frame, rules)
    step = f"{float(NULL_STEP):g}"
    decisions.append(
        f"max_null_share: {share:g}: "
        + (
            f"the most missing is {frame[most].isna().mean():.1%} in {most!r}, rounded up "
            f"to the next {step}"
            if most
            else f"no value is missing; {step}, the first step"
        )
    )

    primary = PRIMARY[data.task]
    scale = float(frame[target].std()) if data.task == "regression" else 1.0
    gated = [primary, *(m for m in of_task(data.task) if m not in (primary, *UNGATED))]
    max_regression = {
        metric: _in_units(metric, MAX_REGRESSION.get(metric, DEFAULT_MAX_REGRESSION), scale)
        for metric in gated
    }
    looser = _in_units(primary, LOOSER_MAX_REGRESSION, scale)
    decisions.append(
        "gate: "
        + ", ".join(f"{m} may {_worse(m)} by {t:g}" for m, t in max_regression.items())
        + " at most; no min or max: what is good enough depends on your data"
    )
    decisions.append(
        f"monitor: {primary}, the {data.task} task's primary metric, may {_worse(primary)} "
        f"by {looser:g}"
    )
    return Draft(
        data=data,
        features=features,
        contract=Contract(
            max_null_share=share,
            columns={name: rules[name] for name in map(str, frame.columns) if name in rules},
        ),
        rows=len(frame),
        max_regression=max_regression,
        group_max_regression=looser,
        max_drop=looser,
        notes=notes,
        decisions=decisions,
    )


def _target(
    label: _Column, task: Task | None, positive_label: str | None, source: str, decisions: list[str]
) -> DataParams:
    """The data section's task and labels, checked as the pipeline will (describe_target)."""
    where = f"{source}: column {label.name!r} (--target)"
    if label.values.empty:
        raise DataError(f"{where} has no values")
    if label.type is None:
        raise DataError(f"{where} holds {_foreign(label)}: store the labels as 0/1 or words")
    infinite = _infinite(label)
    if not infinite.empty:
        raise DataError(
            f"{where} holds {len(infinite):,} infinite values ({_rows(infinite)}): a target "
            "must be a finite number: fix those rows or drop them"
        )
    task, why = (task, "--task") if task is not None else _infer_task(label)
    decisions.append(f"task: {task}: {why}")
    data = DataParams(
        source=source,
        task=task,
        target=label.name,
        positive_label=_positive_label(label, task, positive_label, where),
        test_size=0.2,
        seed=42,
    )
    # The threshold is evaluate's; the labels' check does not depend on it.
    described = describe_target(label.values, data, source, threshold=0.5)
    if described.positive is not None:
        negative, positive = described.classes or []
        how = (
            "--positive-label"
            if positive_label is not None
            else "of labels false and true, true"
            if label.type == "boolean"
            else "of labels 0 and 1, the 1"
        )
        decisions.append(f"positive label: {positive!r} ({how}); the other is {negative!r}")
    return data


def _infer_task(label: _Column) -> tuple[Task, str]:
    distinct = label.distinct
    if label.type in ("integer", "number"):
        if not bool((label.values % 1 == 0).all()):
            return "regression", f"column {label.name!r} holds numbers that are not whole"
        if distinct > MAX_CODES:
            return "regression", (
                f"column {label.name!r} holds {distinct:,} whole numbers, more than "
                f"{MAX_CODES}: a quantity, not labels"
            )
    kind: Task = "binary" if distinct <= 2 else "multiclass"  # one label: describe_target says so
    return kind, f"column {label.name!r} has {distinct} labels: {_listed(label.codes)}"


def _positive_label(label: _Column, task: Task, text: str | None, where: str) -> Label | None:
    """--positive-label as the target holds it (text or a whole number), the 1 of labels 0
    and 1, or None: not binary, or not two labels (describe_target then says why)."""
    if task != "binary":
        if text is not None:
            raise UsageError(f"--positive-label {text!r}: only a binary task has one, not {task}")
        return None
    codes = label.codes
    if text is None:
        if codes == [0, 1]:  # or [False, True]
            return codes[1]
        if len(codes) == 2:
            raise UsageError(
                f"{where} has labels {_listed(codes)}: pass --positive-label with the one "
                "the model's probability is for"
            )
        return None
    if label.type == "string":
        return text
    if label.type == "boolean":
        if text.lower() not in ("true", "false"):
            raise UsageError(f"--positive-label {text!r}: {where} holds true and false")
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        raise UsageError(
            f"--positive-label {text!r}: {where} holds numbers; its labels are {_listed(codes)}"
        ) from None


def _found_id(frame: pd.DataFrame, special: list[str | None]) -> str | None:
    """The first column that names its rows as an id does (whole numbers or text, a
    different value in every row, never missing), when --id named none."""
    for name in map(str, frame.columns):
        if name in special:
            continue
        column = _Column.of(frame[name])
        if (
            column.type in ("integer", "string")
            and column.missing == 0
            and column.distinct == len(frame) > MAX_CODES
        ):
            return name
    return None


def _id_rule(column: _Column, source: str) -> ColumnRule:
    where = f"{source}: column {column.name!r} (--id)"
    if column.type not in ("integer", "string"):
        raise DataError(
            f"{where} holds {column.type or _foreign(column)}: an id is a whole number or text"
        )
    if column.missing:
        raise DataError(f"{where} is missing in {column.missing:,} rows: every row needs an id")
    repeated = column.values[column.values.duplicated()].unique().tolist()
    if repeated:
        raise DataError(
            f"{where} is not unique: {len(repeated):,} ids name more than one row, e.g. "
            f"{_listed([plain_label(v) for v in repeated], 5)} (exact duplicate rows are "
            "dropped first, as ingest does)"
        )
    return ColumnRule(type=column.type, nullable=False, unique=True)


def _years(column: _Column, source: str) -> list[int]:
    """The years of a time column: its whole numbers, or the years of its dates."""
    where = f"{source}: column {column.name!r} (--time)"
    if column.type not in ("integer", "date"):
        # The values that are neither, not the first ones: those may be good dates.
        values = column.values
        bad = values[as_dates(values).isna()] if column.type == "string" else values
        examples = ", ".join(f"row {row}: {value!r}" for row, value in bad.head(3).items())
        more = f" ({len(bad):,} in all)" if len(bad) > 3 else ""
        raise DataError(
            f"{where} holds {examples}{more}: a time column holds whole years like 2018 or "
            "ISO 8601 dates like 2018-03-31"
        )
    if column.missing:
        raise DataError(f"{where} is missing in {column.missing:,} rows: every row needs a time")
    if column.type == "date":
        return sorted(int(year) for year in as_dates(column.values).dt.year.unique())
    years = [int(year) for year in column.codes]
    odd = [year for year in years if not EARLIEST_YEAR <= year <= LATEST_YEAR]
    if odd:
        raise DataError(f"{where} holds {_listed(odd, 3)}: years have four digits, like 2018")
    return years


def _span(years: list[int]) -> str:
    return ", ".join(map(str, years)) if len(years) <= 4 else f"{years[0]}–{years[-1]}"


def _foreign(column: _Column) -> str:
    """What a column holds that the contract cannot describe, e.g. boolean values."""
    inferred = pd.api.types.infer_dtype(column.values)
    return (
        f"{inferred} values, which the contract's types (boolean, integer, number, string, "
        "date) cannot describe"
    )


def _feature(column: _Column, rows: int) -> tuple[Kind | None, str]:
    """The kind of feature `column` is, or None; and why."""
    distinct = column.distinct
    if column.values.empty:
        return None, "every value is missing"
    if column.type == "boolean":
        return None, "true and false: as a feature, store it as 0/1 to use it"
    if column.type == "date":
        return None, (
            "dates: not a feature (a model would learn days that never come again); name it "
            "with --time to train on earlier years, or add its parts (month, weekday) as columns"
        )
    if column.type is None:
        return None, _foreign(column)
    odd = _not_numbers(column)
    if odd is not None:
        return None, _numbers_but_for(odd)
    infinite = _infinite(column)
    if not infinite.empty:
        return None, (
            f"numbers but for {len(infinite):,} infinite values ({_rows(infinite)}): the "
            "contract takes finite numbers only (validate would stop on them); fix them in "
            "the file, or in a CSV read them as missing with --missing inf"
        )
    if distinct == 1:
        return None, f"a single value ({column.codes[0]!r}): it tells no row from another"
    if column.type != "number" and distinct == len(column.values) and distinct > MAX_CODES:
        return None, (
            f"a different value in every row, like an id (--id {column.name} declares it; "
            f"list it under features to use it)"
        )
    if column.type == "string" and distinct > MAX_CATEGORIES:
        return None, (
            f"text of {distinct:,} values, more than {MAX_CATEGORIES}: names or free text "
            "(list it under features.categorical to use it: past 255 codes, the 254 most "
            "frequent keep their own and the rest share one)"
        )
    missing = column.missing_note(rows)
    words = {"integer": "whole numbers", "number": "numbers", "string": "text values"}
    values = f"{distinct:,} distinct {words[column.type]}"
    if distinct <= MAX_CODES and column.type != "number":
        return "categorical", f"{values}, codes: {_listed(column.codes)}{missing}"
    if column.type == "string":
        return "categorical", f"{values} (over {MAX_CODES}: none listed){missing}"
    low, high = column.values.min(), column.values.max()  # to 6 digits: the contract has them all
    return "numeric", f"{values} from {low:.6g} to {high:.6g}{missing}"


def _infinite(column: _Column) -> pd.Series:
    """The values of a numeric column that are inf or -inf."""
    if column.type not in ("integer", "number"):
        return column.values.iloc[:0]
    return column.values[np.isinf(column.values.astype("float64"))]


def _rows(values: pd.Series, most: int = 3) -> str:
    """Where `values` are: "row 4, 17, 80" (and how many more)."""
    rows = ", ".join(map(str, values.index[:most]))
    return f"row {rows}" + (f" and {len(values) - most:,} more" if len(values) > most else "")


def _not_numbers(column: _Column) -> pd.Series | None:
    """The values that keep a text column from being numbers, when they are few (at most
    NUMBERS_BUT_FOR of its values): a typo, a decimal comma, a marker of a missing value."""
    if column.type != "string":
        return None
    numbers = pd.to_numeric(column.values, errors="coerce")
    odd = column.values[numbers.isna()]
    if odd.empty or len(odd) > NUMBERS_BUT_FOR * len(column.values):
        return None
    return odd


def _numbers_but_for(odd: pd.Series) -> str:
    """Why a column of numbers but for the `odd` values is left out, and the two ways on."""
    counts = odd.value_counts(sort=True)
    found = ", ".join(
        f"{value!r} ×{count} (row {', '.join(map(str, odd.index[odd == value][:3]))}"
        + ("…" * (count > 3))
        + ")"
        for value, count in counts.head(5).items()
    )
    more = f" and {len(counts) - 5} more" if len(counts) > 5 else ""
    comma = [value for value in counts.index if re.fullmatch(r"[+-]?\d+,\d+", str(value))]
    hint = f"; {comma[0]!r} looks like a decimal comma" if comma else ""
    markers = " ".join(f"--missing {shlex.quote(str(value))}" for value in counts.index[:5])
    return (
        f"numbers but for {len(odd):,} values: {found}{more}{hint}. Either they mean "
        f"missing: rerun with {markers} (kept as data.missing_values, ingest reads them so), "
        "or fix them in the file; left out until then"
    )


def _rule(column: _Column) -> ColumnRule:
    """The contract's rule for a feature or target column, from what the file holds (a
    column of a type the contract has: _feature and _target leave out the others)."""
    nullable = column.missing > 0
    kind = column.type
    if kind is None:
        raise DataError(f"column {column.name!r}: {_foreign(column)}")
    if kind == "boolean":
        return ColumnRule(type="boolean", nullable=nullable)
    if kind != "number" and column.distinct <= MAX_CODES:
        return ColumnRule(type=kind, nullable=nullable, allowed=column.codes)
    if kind == "string":
        return ColumnRule(type="string", nullable=nullable)
    # Observed extremes are not rules: a later batch beyond them is drift for the monitor
    # to weigh, not a breach. Never negative, when no value is, is one (counts, measures).
    return ColumnRule(type=kind, nullable=nullable, min=0 if column.values.min() >= 0 else None)


def _max_null_share(frame: pd.DataFrame, rules: dict[str, ColumnRule]) -> tuple[float, str | None]:
    """The contract's bound on missing values and the column with the most (None: none)."""
    counts = {name: int(frame[name].isna().sum()) for name, rule in rules.items() if rule.nullable}
    widest = max(counts, key=counts.__getitem__, default=None)
    share = Fraction(counts[widest], len(frame)) if widest else Fraction(0)
    steps = math.floor(share / NULL_STEP) + 1
    return float(min(steps * NULL_STEP, Fraction(1))), widest


def _in_units(metric: str, allowed: float, scale: float) -> float:
    """`allowed` in `metric`'s units: times `scale` (the target's) for an error in them."""
    return float(f"{allowed * scale:.2g}") if metric in IN_TARGET_UNITS else allowed


def _worse(metric: str) -> str:
    return "fall" if METRICS[metric].higher_is_better else "rise"


# --- the files --------------------------------------------------------------------------


def contract_text(draft: Draft) -> str:
    """data/contract.yaml for `draft`: the rules' reasons in its header, a rule a line."""
    contract = draft.contract
    keys = {name: _flow([name])[1:-1] + ":" for name in contract.columns}
    width = max(map(len, keys.values()))
    lines = []
    for name, rule in contract.columns.items():
        line = f"  {keys[name].ljust(width)} {_flow(_fields(rule))}"
        note = draft.notes.get(name)
        lines.append(f"{line}  # {note}" if note else line)
    header = f"""\
# The data contract: what `cauce validate` (the validate stage) enforces on data/raw
# before anything is trained. Drafted by `cauce init` from {draft.data.source}
# ({draft.rows:,} rows): read it, tighten it, and change it with the source in params.yaml.
#
# Per column: type (integer | number | string), nullable, unique, min / max (inclusive
# range) or allowed (the only codes permitted). max_null_share bounds the share of missing
# values in every nullable column. Columns not listed are not checked.
#
# How it was drafted (docs/bring-your-own-data.md): nullable where the file has missing
# values; allowed: the codes of integer and text columns with at most {MAX_CODES} of them;
# min / max: the range the file holds, so widen them to what is valid, or newer data
# beyond them will break the contract; max_null_share: the largest missing share rounded
# up to the next {float(NULL_STEP):g}. Columns init left out of the features are not listed.

max_null_share: {contract.max_null_share:g}

columns:
"""
    return header + "\n".join(lines) + "\n"


def _fields(rule: ColumnRule) -> dict[str, Any]:
    fields = rule.model_dump(exclude_none=True, exclude_defaults=True)
    fields = {"type": rule.type, "nullable": rule.nullable, **fields}
    if rule.type == "integer":  # the bounds of integers read as integers
        fields |= {key: int(fields[key]) for key in ("min", "max") if key in fields}
    return fields


def _flow(value: Any) -> str:
    """`value` as one line of YAML, quoted where plain YAML would read it otherwise."""
    return yaml.safe_dump(
        value, default_flow_style=True, sort_keys=False, width=math.inf, allow_unicode=True
    ).strip()


def _round_trip() -> YAML:
    """A YAML that writes back what it read as it was: comments, order, styles."""
    rt = YAML()
    rt.width = 4096  # never re-wrap a line
    rt.indent(mapping=2, sequence=4, offset=2)  # dvc.yaml's block lists
    rt.preserve_quotes = True
    return rt


def _dumped(document: Any) -> str:
    out = StringIO()
    _round_trip().dump(document, out)
    return out.getvalue()


def _sections(text: str, path: Path, *names: str) -> tuple[CommentedMap, list[CommentedMap]]:
    document = _round_trip().load(text)
    if not isinstance(document, CommentedMap):
        raise ConfigError(f"{path}: expected a mapping of sections")
    missing = [name for name in names if not isinstance(document.get(name), CommentedMap)]
    if missing:
        raise ConfigError(f"{path}: no {', '.join(missing)} section; cauce init edits its own")
    return document, [document[name] for name in names]


def params_text(text: str, draft: Draft) -> str:
    """params.yaml's `text` with the draft's data, features and metric rules; every other
    key, and every comment, as it was."""
    document, (data, features, evaluate, gate, monitor, card) = _sections(
        text, PARAMS, "data", "features", "evaluate", "gate", "monitor", "card"
    )
    for index, (key, value) in enumerate(draft.data.model_dump().items()):
        value = _list(value) if isinstance(value, list) else value
        if key in data:
            _replace(data, key, value)
        else:
            data.insert(index, key, value)
    for kind, columns in draft.features.items():
        _replace(features, kind, _list(columns))
    _replace(evaluate, "slices", _list([]))
    rules = CommentedMap()
    for metric, allowed in draft.max_regression.items():
        rules[metric] = CommentedMap(max_regression=allowed)
        rules[metric].fa.set_flow_style()
    _replace(gate, "metrics", rules)
    gate.yaml_add_eol_comment(
        "# max_regression only: a min or max depends on your data",
        "metrics",
        column=_comment_column(gate, but="metrics"),
    )
    groups, performance = gate.get("groups"), monitor.get("performance")
    if not (isinstance(groups, CommentedMap) and isinstance(performance, CommentedMap)):
        raise ConfigError(f"{PARAMS}: no gate.groups or monitor.performance section")
    groups["metric"] = performance["metric"] = draft.primary
    groups["max_regression"] = draft.group_max_regression
    performance["max_drop"] = draft.max_drop
    # The model card's words were the census's: a placeholder that says what to write.
    card["intended_use"] = draft.intended_use
    _replace(card, "limitations", _list([]))
    return in_dvc_form(_dumped(document))


def pipeline_text(text: str, task: Task) -> str:
    """dvc.yaml's `text` with the plots of a `task` model; the rest as it was."""
    document = _round_trip().load(text)
    if not isinstance(document, CommentedMap):
        raise ConfigError(f"{PIPELINE}: expected a mapping of sections")
    _replace(document, "plots", _commented(dvc_plots(task)))
    return _dumped(document)


def _list(items: list[Any]) -> CommentedSeq:
    """A list for params.yaml, on one line: ruamel keeps the key's comment beside it only
    so; in_dvc_form then writes it as DVC does (one item a line)."""
    listed = CommentedSeq(items)
    listed.fa.set_flow_style()
    return listed


def _commented(value: Any) -> Any:
    """Plain dicts and lists as ruamel's, which can carry comments."""
    if isinstance(value, dict):
        return CommentedMap((key, _commented(item)) for key, item in value.items())
    if isinstance(value, list):
        return CommentedSeq(_commented(item) for item in value)
    return value


def _replace(mapping: CommentedMap, key: str, value: Any) -> None:
    """`mapping[key] = value`, keeping the comment and blank lines after the old value:
    ruamel keeps them on a block's last entry, which would go with it."""
    before = mapping.get(key)
    old, new = _last_entry(before), _last_entry(value)
    slot = mapping.ca.items.get(key)
    mapping[key] = value
    if slot is not None and isinstance(before, CommentedSeq) and not before.fa.flow_style():
        # The key of a block list holds its line's comment in a form that a one-line value
        # would run into the next key: keep the comment only.
        mapping.ca.items[key] = [None, None, slot[2], None]
    if old is None or new is None:
        return
    slot = old[0].ca.items.get(old[1])
    comment = None if slot is None else slot[2 if isinstance(old[0], CommentedMap) else 0]
    if comment is not None:
        container, last = new
        container.ca.items[last] = (
            [None, None, comment, None] if isinstance(container, CommentedMap) else [comment, None]
        )


def _comment_column(mapping: CommentedMap, but: str) -> int | None:
    """Where the end-of-line comments of `mapping` (but key `but`'s) start, to align with."""
    for key, slot in mapping.ca.items.items():
        if key != but and len(slot) > 2 and slot[2] is not None and slot[2].value.startswith("#"):
            return slot[2].column
    return None


def _last_entry(node: Any) -> tuple[Any, Any] | None:
    """The innermost block mapping or list holding the last line of `node`, and its key."""
    entry = None
    while isinstance(node, CommentedMap | CommentedSeq) and node and not node.fa.flow_style():
        key = next(reversed(node)) if isinstance(node, CommentedMap) else len(node) - 1
        entry, node = (node, key), node[key]
    return entry


# --- the command ------------------------------------------------------------------------


@dataclass(frozen=True)
class Initialized:
    """What `cauce init` decided, and why, and what it wrote."""

    decisions: list[str]  # one line per decision, with its reason
    columns: int  # in the contract
    task: Task

    def lines(self) -> list[str]:
        return [
            *self.decisions,
            f"wrote {CONTRACT}: {self.columns} columns",
            f"wrote {PARAMS}: data, features, evaluate.slices, gate, monitor.performance, card",
            f"wrote {PIPELINE}: the plots of a {self.task} model",
            f"next: read {CONTRACT} and {PARAMS}, then `make run` (or `dvc repro`)",
        ]


def run(
    source: str,
    target: str,
    task: Task | None = None,
    positive_label: str | None = None,
    id: str | None = None,  # the option's name, --id
    time: str | None = None,
    force: bool = False,
    missing: list[str] | None = None,
    sep: str | None = None,
    decimal: str | None = None,
    encoding: str | None = None,
) -> Initialized:
    """`cauce init`: draft, check, then write the contract, params.yaml and dvc.yaml."""
    if CONTRACT.exists() and not force:
        raise CauceError(
            f"{CONTRACT} exists: cauce init would replace it; pass --force to draft it anew "
            "(git diff shows what changed)"
        )
    texts = {}
    for path in (PARAMS, PIPELINE):
        if not path.exists():
            raise ConfigError(f"{path}: not found; run cauce init in the repository's root")
        texts[path] = path.read_text(encoding="utf-8")
    form, found = sniff(source) if is_csv(source) else (CsvFormat(), [])
    given = {"sep": sep, "decimal": decimal, "encoding": encoding}
    try:
        form = CsvFormat.model_validate(
            form.model_dump() | {k: v for k, v in given.items() if v is not None}
        )
    except ValueError as error:
        raise UsageError(f"--sep/--decimal/--encoding: {error}") from None
    frame = read_table(source, missing or (), form)
    drafted = draft(frame, source, target, task, positive_label, id, time, missing, form)
    if found:
        drafted.decisions.insert(
            0, f"CSV: {'; '.join(found)} (data.csv; --sep, --decimal, --encoding to override)"
        )
    files = {
        CONTRACT: contract_text(drafted),
        PARAMS: params_text(texts[PARAMS], drafted),
        PIPELINE: pipeline_text(texts[PIPELINE], drafted.data.task),
    }
    # Each file is written beside its target and checked there; all are renamed into place
    # at the end of the block, one after the other, or none is when a check fails.
    with (
        atomic_path(CONTRACT) as contract_file,
        atomic_path(PARAMS) as params_file,
        atomic_path(PIPELINE) as pipeline_file,
    ):
        for path, written in zip(files, (contract_file, params_file, pipeline_file), strict=True):
            written.write_text(files[path], encoding="utf-8")
        try:
            params = load_params(params_file)
            load_contract(contract_file).require(params)
        except ConfigError as error:  # name the file it will be, not its temporary
            message = str(error).replace(str(params_file), str(PARAMS))
            raise ConfigError(message.replace(str(contract_file), str(CONTRACT))) from None
    return Initialized(drafted.decisions, len(drafted.contract.columns), drafted.data.task)
