"""Scoring a request's body: the function under `/v1/predict`, with no HTTP in it (as
MLflow's scoring server has one under its routes), so every refusal and every answer can
be tested without a server and the route keeps only what is HTTP's own (the content
type, the body's size as it streams in, the model still loading).

The records are checked against the model's input schema as plain dicts (a TypedDict
made from model.json, checked in pydantic-core), then scored as one array.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from pydantic import (
    ConfigDict,
    Field,
    GetPydanticSchema,
    StrictBool,
    StrictFloat,
    StrictStr,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import ErrorDetails, core_schema
from typing_extensions import TypedDict  # pydantic needs this one on Python 3.11

from cauce.artifact import SchemaColumn, Target
from cauce.fastpath import FastModel
from cauce.serving.served import ServedModel

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline


class RefusedError(Exception):
    """A body the model does not score: its HTTP status, the detail the client gets (a
    sentence, or one problem per field), and the reason it is counted under."""

    def __init__(self, status: int, detail: str | list[dict[str, Any]], reason: str) -> None:
        super().__init__(detail)
        self.status, self.detail, self.reason = status, detail, reason


@dataclass(frozen=True)
class Scored:
    body: bytes  # the JSON answer
    rows: int


@dataclass(frozen=True)
class Scorer:
    """The answer to a body of records, for one served model."""

    record: type  # one record's TypedDict
    records: TypeAdapter[list[Any]]
    target: Target
    max_rows: int
    name: str
    version: str | None

    @classmethod
    def of(cls, served: ServedModel, max_rows: int) -> Scorer:
        record = record_type(served.info.input_schema)
        records: TypeAdapter[list[Any]] = TypeAdapter(list[record])  # type: ignore[valid-type]
        return cls(record, records, served.info.target, max_rows, served.info.name, served.version)

    def request_schema(self) -> dict[str, Any]:
        """The body `answer` takes, as JSON Schema, for the OpenAPI document."""
        records = {
            "type": "array",
            "minItems": 1,
            "maxItems": self.max_rows,
            "items": TypeAdapter(self.record).json_schema(),
        }
        return {
            "type": "object",
            "required": ["records"],
            "properties": {"records": records},
            "additionalProperties": False,
        }

    def answer(self, model: FastModel | Pipeline, body: bytes) -> Scored:
        """The model's answer to `body`, or RefusedError saying why it is not scored."""
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise RefusedError(400, f"the body is not JSON: {error}", "not_json") from None
        records = payload.get("records") if isinstance(payload, dict) else None
        if not isinstance(records, list) or not records:
            raise RefusedError(
                422, 'expected {"records": [ {...}, ... ]} with at least one record', "invalid"
            )
        if len(payload) > 1:  # an unknown key is refused like an unknown field in a record
            problems = [
                {"field": key, "rule": "Extra inputs are not permitted", "value": value}
                for key, value in payload.items()
                if key != "records"
            ]
            raise RefusedError(422, problems, "invalid")
        if len(records) > self.max_rows:
            said = f"{len(records):,} records exceed serve.max_rows = {self.max_rows:,}"
            raise RefusedError(413, said, "too_many_rows")
        try:
            valid = self.records.validate_python(records)
        except ValidationError as error:
            problems = [_problem(e) for e in error.errors(include_url=False)]
            raise RefusedError(422, problems, "invalid") from None
        predictions = self.target.answers(_predict(model, valid))
        answer = {"model": self.name, "version": self.version, "predictions": predictions}
        return Scored(orjson.dumps(answer), len(valid))


# A JSON integer is a number too; booleans are a target's labels, and a feature only by hand.
_TYPES = {"boolean": StrictBool, "number": StrictFloat, "string": StrictStr}

# A JSON number, never a boolean or a string: the first step of an integer column. JSON has
# one number type and JSON Schema counts 5.0 as an integer, so 5.0 is read as 5 (5.5 is not).
_A_NUMBER = core_schema.union_schema(
    [core_schema.int_schema(strict=True), core_schema.float_schema(strict=True)],
    custom_error_type="int_type",
)


def _integer(column: SchemaColumn) -> Any:
    """An integer column, checked in pydantic-core alone (no Python call per value): a
    number, then an integer within the bounds or one of the allowed codes."""
    allowed = column.allowed
    rule: core_schema.CoreSchema
    documented: dict[str, Any]
    if allowed is not None:
        rule = core_schema.literal_schema(list(allowed))
        documented = {"type": "integer", "enum": list(allowed)}
    else:
        # The whole numbers within the bounds (a bound of 0.5 admits 1 and up).
        low = None if column.min is None else math.ceil(column.min)
        high = None if column.max is None else math.floor(column.max)
        rule = core_schema.int_schema(ge=low, le=high)
        bounds = {"minimum": low, "maximum": high}
        documented = {"type": "integer"} | {k: v for k, v in bounds.items() if v is not None}
    checked = core_schema.chain_schema([_A_NUMBER, rule])
    return Annotated[
        int, GetPydanticSchema(lambda _type, _handler: checked), WithJsonSchema(documented)
    ]


def record_type(schema: list[SchemaColumn]) -> type:
    """One input record as a TypedDict, from the model's input schema: validated records
    stay the dicts they arrived as (no object per record)."""
    fields: dict[str, Any] = {}
    for column in schema:
        if column.type == "integer":
            kind: Any = _integer(column)
        elif column.allowed is not None:
            kind = Literal[tuple(column.allowed)]
        else:
            kind = Annotated[_TYPES[column.type], Field(ge=column.min, le=column.max)]
        if column.nullable:
            kind = kind | None
        fields[column.name] = kind
    # Made at run time from the model's schema: no type checker can know its fields.
    record = TypedDict("Record", fields)  # type: ignore[misc]
    record.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]
    return record


# The words pydantic used when records were models, kept so that clients see the same rule.
_NOT_A_RECORD = "Input should be a valid dictionary or instance of Record"


def _problem(error: ErrorDetails) -> dict[str, Any]:
    location = error["loc"]
    where = "records" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in location)
    if error["type"] == "missing":
        return {"field": where, "rule": "required field is missing"}
    rule = _NOT_A_RECORD if error["type"] == "dict_type" else error["msg"]
    return {"field": where, "rule": rule, "value": error.get("input")}


def _predict(model: FastModel | Pipeline, records: list[dict[str, Any]]) -> Any:
    if isinstance(model, FastModel):
        return model.predict(model.matrix_of_records(records))
    import pandas as pd

    from cauce.model import score

    return score(model, pd.DataFrame(records))
