"""Stage `validate`: hold `data/raw/` to the declared data contract (`data/contract.yaml`).

Rows are named by their number in the user's file (`data.source`), which ingest keeps.

The contract is enforced with pandera. Every broken rule is reported with the column,
the rule and a few offending rows, the summary is written to `reports/validation.json`,
and the stage exits non-zero so that nothing downstream runs on bad data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors
from pydantic import BaseModel, ConfigDict, Field

from cauce import ConfigError, DataError
from cauce.artifact import ColumnRule, plain_label
from cauce.config import Params, parse_yaml
from cauce.files import read_parquet, stage_log, write_json
from cauce.layout import CONTRACT, RAW, VALIDATION_REPORT

EXAMPLES_PER_RULE = 5


class ContractError(DataError):
    """The data broke the contract; the message lists every broken rule."""


class Contract(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_null_share: Annotated[float, Field(ge=0, le=1)]
    columns: dict[str, ColumnRule] = Field(min_length=1)

    def require(self, params: Params) -> None:
        """Every column params.yaml uses must be declared in the contract."""
        used = [*params.data.special_columns, *params.features.columns]
        missing = [c for c in used if c not in self.columns]
        if missing:
            raise ConfigError(
                f"{CONTRACT}: columns used in params.yaml are not declared: {', '.join(missing)}"
            )
        unusable = [
            f"{c} ({self.columns[c].type})"
            for c in params.features.columns
            if self.columns[c].type in ("boolean", "date")
        ]
        if unusable:
            raise ConfigError(
                f"{CONTRACT}: features {', '.join(unusable)}: a feature is a number or text; "
                "store true/false as 0/1, and make a date a time column (data.year_column) "
                "or add its parts (month, weekday) as columns"
            )
        for name in params.features.ordinal_columns:
            self._require_order(name, params.features.orders.get(name))

    def _require_order(self, name: str, order: list[Any] | None) -> None:
        """An ordinal column of text comes with its codes' order, and that order ranks
        exactly the codes the contract allows."""
        rule = self.columns[name]
        if order is None:
            if rule.type != "string":
                return  # numbers are their own order
            codes = ", ".join(map(str, rule.allowed)) if rule.allowed else "…"
            raise ConfigError(
                f"params.yaml: features.ordinal: {name!r} holds text ({CONTRACT}: type "
                f"string), which has no order of its own: write it as `- {name}: [{codes}]`, "
                "its codes from lowest to highest (listed here as the contract has them: "
                "put them in their order)"
            )
        if rule.allowed is None:
            return
        unknown = [code for code in order if code not in rule.allowed]
        absent = [code for code in rule.allowed if code not in order]
        if unknown or absent:
            found = [
                f"{words} {', '.join(map(repr, codes))}"
                for words, codes in (("ranks", unknown), ("leaves out", absent))
                if codes
            ]
            raise ConfigError(
                f"params.yaml: features.ordinal.{name}: the order {' and '.join(found)}: "
                f"it must rank exactly the codes {CONTRACT} allows for {name!r} "
                f"({', '.join(map(repr, rule.allowed))})"
            )


def load_contract(path: Path = CONTRACT) -> Contract:
    return parse_yaml(Contract, path)


# pandera's name for its built-in rule, in the words of the contract
_BUILT_IN_RULES = {"field_uniqueness": "unique values"}


def _value_check(rule: ColumnRule, words: str) -> pa.Check:
    """One of the column's value rules (ColumnRule.broken: the rules batch scoring
    applies too), as a pandera check that names the values breaking it."""

    def holds(series: pd.Series) -> pd.Series:
        return pd.Series(~dict(rule.broken(series))[words], index=series.index)

    return pa.Check(holds, error=words, ignore_na=False)


def schema(contract: Contract) -> pa.DataFrameSchema:
    """The pandera schema that enforces `contract`."""
    share = contract.max_null_share
    columns = {}
    for name, rule in contract.columns.items():
        names = [words for words, _ in rule.broken(pd.Series([], dtype=object))]
        checks = [_value_check(rule, words) for words in names]
        if rule.nullable:
            checks.append(
                pa.Check(
                    lambda s: s.isna().mean() <= share,
                    error=f"null share at most {share:.0%}",
                    ignore_na=False,
                )
            )
        columns[name] = pa.Column(checks=checks, nullable=True, unique=rule.unique)
    return pa.DataFrameSchema(columns)


def check(frame: pd.DataFrame, contract: Contract) -> list[dict]:
    """One entry per broken rule: column, rule, how many rows, a few examples, a message."""
    try:
        schema(contract).validate(frame, lazy=True)
    except SchemaErrors as errors:
        cases = errors.failure_cases
        absent = cases["check"] == "column_in_dataframe"
        rule = "required column"
        missing = [
            _entry(
                str(c), rule, None, [], f"column {str(c)!r} breaks rule '{rule}': not in the data"
            )
            for c in cases.loc[absent, "failure_case"]
        ]
        return missing + [
            _violation(frame, str(column), _BUILT_IN_RULES.get(str(rule), str(rule)), group)
            for (column, rule), group in cases[~absent].groupby(["column", "check"], sort=False)
        ]
    return []


def _violation(frame: pd.DataFrame, column: str, rule: str, cases: pd.DataFrame) -> dict:
    if rule.startswith("null share"):
        missing = frame[column].isna()
        message = (
            f"column {column!r} breaks rule '{rule}': {missing.mean():.1%} of values are missing"
        )
        return _entry(column, rule, int(missing.sum()), [], message)
    whole_column = cases["index"].isna()
    if whole_column.all():  # the check could not run, e.g. a range on text
        reason = cases["failure_case"].iloc[0]
        message = f"column {column!r} breaks rule '{rule}': cannot be checked: {reason}"
        return _entry(column, rule, None, [], message)
    examples = [
        {"row": int(row), "value": None if pd.isna(value) else plain_label(value)}
        for row, value in zip(
            cases.loc[~whole_column, "index"], cases.loc[~whole_column, "failure_case"], strict=True
        )
    ]
    shown = ", ".join(f"row {e['row']}: {e['value']!r}" for e in examples[:EXAMPLES_PER_RULE])
    rows = len(examples)
    message = (
        f"column {column!r} breaks rule '{rule}' in {rows:,} row{'s' * (rows != 1)}, e.g. {shown}"
    )
    return _entry(column, rule, rows, examples[:EXAMPLES_PER_RULE], message)


def _entry(column: str, rule: str, rows: int | None, examples: list, message: str) -> dict:
    return {"column": column, "rule": rule, "rows": rows, "examples": examples, "message": message}


def run(params: Params) -> None:
    with stage_log("validate") as log:
        contract = load_contract()
        contract.require(params)
        frame = read_parquet(RAW)
        log.reads(RAW, len(frame))
        log.reads(CONTRACT)
        violations = check(frame, contract)
        write_json(VALIDATION_REPORT, report(frame, violations))
        log.writes(VALIDATION_REPORT)
    if violations:
        # The rows are the source's: ingest keeps each row's number as the index.
        raise ContractError(
            f"{params.data.source} breaks the data contract {CONTRACT} (rows counted from 0 "
            "in that file, the header not counted):\n"
            + "\n".join(f"  - {v['message']}" for v in violations)
        )


def report(frame: pd.DataFrame, violations: list[dict]) -> dict:
    return {
        "status": "failed" if violations else "passed",
        "rows": len(frame),
        "columns": len(frame.columns),
        "contract": str(CONTRACT),
        "violations": violations,
        "null_share": {c: round(float(frame[c].isna().mean()), 6) for c in frame.columns},
    }
