"""The prediction API: a model directory behind FastAPI, served by uvicorn (`cauce serve`).

The request schema is the model's own input schema (model.json), so a wrong type, an
unknown code, a missing or unexpected field is answered 422 naming the field and the
rule; too many rows or too large a body is 413, a body declared as other than JSON 415.
The OpenAPI document says exactly that (docs/api-contract.md): every status, body and
content type a route answers with. The model file is refused at start when
its hash differs from the one its metadata records. Everything served comes from the
directory itself (schema, threshold, metrics), so any version serves with today's code;
this module needs nothing from the pipeline's tools (no git, DVC or GTO).

Requests take the lean path: orjson parses the body, pydantic checks the records as
plain dicts, and the fast model (fastpath.py) scores them as one array. A packaged
directory carries that fast model as arrays, so the server is ready without importing
pandas or scikit-learn; without it, the pipeline is loaded and the fast form derived.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
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
from cauce.config import ServeParams
from cauce.fastpath import FastModel
from cauce.layout import FAST_MODEL
from cauce.serving.served import ServedModel

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)


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


def create_app(served: ServedModel, limits: ServeParams) -> FastAPI:
    registry = CollectorRegistry()
    requests = Counter("cauce_requests", "HTTP requests", ["path", "status"], registry=registry)
    latency = Histogram("cauce_request_seconds", "request latency", ["path"], registry=registry)
    rows_scored = Counter("cauce_rows_scored", "rows scored by /v1/predict", registry=registry)
    errors = Counter("cauce_errors", "rejected requests", ["reason"], registry=registry)
    served.verify()  # before anything listens: a bad file stops the server at once
    info, target = served.info, served.info.target
    record = record_type(info.input_schema)
    adapter = TypeAdapter(list[record])  # type: ignore[valid-type]
    state: dict[str, Any] = {}  # "model" once loaded: /ready answers 503 until then
    name = info.name
    answers = _predictions(target)
    too_large = f"the body exceeds serve.max_body_bytes = {limits.max_body_bytes:,}"

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        async def load() -> None:
            try:
                model = await asyncio.to_thread(served.load, packaged_fast_model=True)
            except Exception:
                log.exception("the model did not load: /ready stays 503")
                raise
            state["model"] = model
            log.info("scoring with %s", _describe(model))

        task = asyncio.create_task(load())
        yield
        task.cancel()

    app = FastAPI(
        title="cauce prediction API",
        version=served.version or "unversioned",
        lifespan=lifespan,
        description="Scores records with the served model version. See /v1/model.",
    )

    @app.middleware("http")
    async def observe(request: Request, call_next):
        started = time.perf_counter()
        response = await call_next(request)
        # Labelled by the route's template, never the raw path: each path a scanner tries
        # would otherwise be a new series, and the registry would grow without bound. The
        # router leaves the route it matched in the scope (also for a 405 on a known path).
        route = request.scope.get("route")
        path = getattr(route, "path", None) or "unmatched"  # a 404 no route matched
        latency.labels(path).observe(time.perf_counter() - started)
        requests.labels(path, str(response.status_code)).inc()
        return response

    @app.get("/health", response_model=None, responses={200: _json("the process runs", _OK)})
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/ready",
        responses={
            200: _json("the model is loaded", _READY),
            503: _json("the model is still loading", _LOADING),
        },
    )
    def ready() -> JSONResponse:
        if "model" not in state:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse({"status": "ready", "version": served.version})

    @app.get("/v1/model", response_model=None, responses={200: _json("the version", _MODEL)})
    def model_info() -> dict[str, Any]:
        return {
            "name": name,
            "version": served.version,
            "stage": served.stage,
            "input_schema": info.model_dump(mode="json", exclude_none=True)["input_schema"],
            "task": target.task,
            "classes": target.classes,
            "threshold": target.threshold,
            "model_sha256": info.model_sha256,
            "metrics": served.metrics,
            "limits": limits.model_dump(),
        }

    request_schema = {
        "type": "object",
        "required": ["records"],
        "properties": {
            "records": {
                "type": "array",
                "minItems": 1,
                "maxItems": limits.max_rows,
                "items": TypeAdapter(record).json_schema(),
            }
        },
        "additionalProperties": False,
    }

    @app.post(
        "/v1/predict",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": request_schema}},
            }
        },
        responses={
            200: _json(f"the {target.task} model's answer per record, in order", answers),
            400: _json("the body is not JSON (or holds a number beyond float64)", _DETAIL),
            413: _json("more than serve.max_rows records, or a body too large", _DETAIL),
            415: _json("a Content-Type other than application/json", _DETAIL),
            422: _json("the body breaks the schema: each problem names the field", _PROBLEMS),
            503: _json("the model is still loading", _DETAIL),
        },
    )
    async def predict(request: Request) -> Response:
        if "model" not in state:
            return _reject(503, "the model is still loading")
        media_type = request.headers.get("content-type")
        # No Content-Type is read as JSON; a declared other one is refused, not guessed at.
        if media_type is not None and media_type.partition(";")[0].strip().lower() != _JSON:
            errors.labels("unsupported_media_type").inc()
            return _reject(415, f"the body must be {_JSON}, not {media_type}")
        # The declared length first: a body too large is refused before it is read.
        if int(request.headers.get("content-length") or 0) > limits.max_body_bytes:
            errors.labels("body_too_large").inc()
            return _reject(413, too_large)
        chunks, size = [], 0
        async for chunk in request.stream():  # a chunked body is counted as it arrives
            size += len(chunk)
            if size > limits.max_body_bytes:
                errors.labels("body_too_large").inc()
                return _reject(413, too_large)
            chunks.append(chunk)
        body = b"".join(chunks)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            errors.labels("not_json").inc()
            return _reject(400, f"the body is not JSON: {error}")
        records = payload.get("records") if isinstance(payload, dict) else None
        if not isinstance(records, list) or not records:
            errors.labels("invalid").inc()
            return _reject(422, 'expected {"records": [ {...}, ... ]} with at least one record')
        if len(payload) > 1:  # an unknown key is refused like an unknown field in a record
            errors.labels("invalid").inc()
            problems = [
                {"field": key, "rule": "Extra inputs are not permitted", "value": value}
                for key, value in payload.items()
                if key != "records"
            ]
            return JSONResponse({"detail": problems}, status_code=422)
        if len(records) > limits.max_rows:
            errors.labels("too_many_rows").inc()
            return _reject(
                413, f"{len(records):,} records exceed serve.max_rows = {limits.max_rows:,}"
            )
        try:
            valid = adapter.validate_python(records)
        except ValidationError as error:
            errors.labels("invalid").inc()
            problems = [_problem(e) for e in error.errors(include_url=False)]
            return JSONResponse({"detail": problems}, status_code=422)
        predictions = target.answers(_predict(state["model"], valid))
        rows_scored.inc(len(valid))
        return Response(
            orjson.dumps({"model": name, "version": served.version, "predictions": predictions}),
            media_type=_JSON,
        )

    @app.get("/metrics", response_class=_PrometheusText)
    def metrics() -> _PrometheusText:
        return _PrometheusText(generate_latest(registry))

    return app


_JSON = "application/json"


class _PrometheusText(PlainTextResponse):
    """/metrics: Prometheus's text format, under the content type it is served with."""

    media_type = CONTENT_TYPE_LATEST


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    """A documented JSON answer: what the route really returns with that status."""
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _answer(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": list(properties), "properties": properties}


_NULLABLE_TEXT = {"type": ["string", "null"]}
_OK = _answer({"status": {"const": "ok"}})
_READY = _answer({"status": {"const": "ready"}, "version": _NULLABLE_TEXT})
_LOADING = _answer({"status": {"const": "loading"}})
_DETAIL = _answer({"detail": {"type": "string"}})
_PROBLEM = {
    "type": "object",
    "required": ["field", "rule"],
    "properties": {"field": {"type": "string"}, "rule": {"type": "string"}, "value": {}},
}
_PROBLEMS = _answer(
    {"detail": {"anyOf": [{"type": "string"}, {"type": "array", "items": _PROBLEM}]}}
)
_MODEL = _answer(
    {
        "name": {"type": "string"},
        "version": _NULLABLE_TEXT,
        "stage": _NULLABLE_TEXT,
        "input_schema": {"type": "array", "items": {"type": "object"}},
        "task": {"enum": ["binary", "multiclass", "regression"]},
        "classes": {"type": ["array", "null"]},
        "threshold": {"type": ["number", "null"]},
        "model_sha256": _NULLABLE_TEXT,
        "metrics": {"type": "object"},
        "limits": _answer({"max_rows": {"type": "integer"}, "max_body_bytes": {"type": "integer"}}),
    }
)


def _predictions(target: Target) -> dict[str, Any]:
    return _answer(
        {
            "model": {"type": "string"},
            "version": _NULLABLE_TEXT,
            "predictions": {"type": "array", "items": target.answer_schema()},
        }
    )


def _describe(model: FastModel | Pipeline) -> str:
    if not isinstance(model, FastModel):
        return "scikit-learn's pipeline"
    if model.pipeline is None:
        return f"the packaged fast model ({FAST_MODEL}): scikit-learn not loaded"
    return "the fast model derived from the pipeline"


def _predict(model: FastModel | Pipeline, records: list[dict[str, Any]]) -> Any:
    if isinstance(model, FastModel):
        return model.predict(model.matrix_of_records(records))
    import pandas as pd

    from cauce.model import score

    return score(model, pd.DataFrame(records))


def _reject(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def serve(
    directory: Path,
    limits: ServeParams,
    host: str,
    port: int,
    version: str | None = None,
    stage: str | None = None,
) -> None:
    """Serve the model in `directory` until stopped. Its stage label comes from `stage` or
    CAUCE_MODEL_STAGE (set in the image)."""
    import uvicorn

    served = ServedModel.from_directory(
        directory, version, stage or os.environ.get("CAUCE_MODEL_STAGE") or None
    )
    uvicorn.run(create_app(served, limits), host=host, port=port, log_level="info")
