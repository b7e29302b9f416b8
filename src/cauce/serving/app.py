"""The prediction API: a model directory behind FastAPI, served by uvicorn (`cauce serve`).

The request schema is the model's own input schema (model.json), so a wrong type, an
unknown code, a missing or unexpected field is answered 422 naming the field and the
rule; too many rows or too large a body is 413. The model file is refused at start when
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
import json
import logging
import os
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
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
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
)
from typing_extensions import TypedDict  # pydantic needs this one on Python 3.11

from cauce import CauceError
from cauce.config import ServeParams
from cauce.fastpath import FastModel, FastModelFileError
from cauce.files import file_sha256
from cauce.layout import FAST_MODEL, MODEL_CARD, MODEL_FILE, SERVING_INFO

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)


class ModelIntegrityError(CauceError):
    """The model file is not the one its metadata describes."""


@dataclass
class ServedModel:
    """What the API serves: the directory, and what is known about the version."""

    directory: Path
    version: str | None = None
    stage: str | None = None
    card: dict[str, Any] = field(default_factory=dict)  # model.json
    metrics: dict[str, Any] = field(default_factory=dict)  # test metrics, from serving.json
    fast_model_sha256: str | None = None  # from serving.json: the fast form cauce package wrote

    @classmethod
    def from_directory(
        cls, directory: Path, version: str | None = None, stage: str | None = None
    ) -> ServedModel:
        """The model in `directory`, with the version and metrics `cauce package` put beside."""
        card_file = directory / MODEL_CARD.name
        try:
            card = json.loads(card_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise CauceError(f"{card_file}: not found: is {directory} a model directory?") from None
        if "threshold" not in card or "input_schema" not in card:
            raise CauceError(f"{card_file}: no threshold or input_schema: not a cauce model card")
        info_file = directory / SERVING_INFO
        info = json.loads(info_file.read_text(encoding="utf-8")) if info_file.exists() else {}
        return cls(
            directory,
            version or info.get("version"),
            stage,
            card,
            info.get("metrics", {}),
            info.get("fast_model_sha256"),
        )

    @property
    def threshold(self) -> float:
        return float(self.card["threshold"])

    def verify(self) -> None:
        """Refuse a model file whose hash is not the one model.json records."""
        expected = str(self.card.get("model_sha256"))
        model_file = self.directory / MODEL_FILE.name
        actual = file_sha256(model_file)
        if actual != expected:
            raise ModelIntegrityError(
                f"{model_file}: sha256 {actual[:12]}… differs from the {expected[:12]}… "
                f"recorded in {MODEL_CARD.name}: refusing to serve it"
            )

    def load(self, packaged_fast_model: bool = False) -> FastModel | Pipeline:
        """What scores: the fast form derived from the pipeline, else the pipeline itself.
        With `packaged_fast_model`, the fast form `cauce package` wrote when there is one:
        numpy alone reads it, so the API is ready in a second."""
        sha256 = str(self.card.get("model_sha256"))
        packaged = self.directory / FAST_MODEL
        if packaged_fast_model and packaged.exists():
            try:
                if file_sha256(packaged) != self.fast_model_sha256:
                    raise FastModelFileError(
                        f"{packaged}: its sha256 is not the one {SERVING_INFO} records"
                    )
                return FastModel.load(packaged, sha256)
            except FastModelFileError as error:
                log.warning("%s: deriving the fast form from the pipeline instead", error)
        from cauce.model import load_model  # scikit-learn: seconds to import

        pipeline = load_model(self.directory / MODEL_FILE.name)
        return FastModel.derive(pipeline, sha256) or pipeline


_TYPES = {"integer": StrictInt, "number": StrictFloat | StrictInt, "string": StrictStr}


def record_type(schema: list[dict[str, Any]]) -> type:
    """One input record as a TypedDict, from the model's input schema: validated records
    stay the dicts they arrived as (no object per record)."""
    fields: dict[str, Any] = {}
    for column in schema:
        kind: Any = _TYPES[column["type"]]
        if column.get("allowed") is not None:
            kind = Literal[tuple(column["allowed"])]
        if column.get("nullable", True):
            kind = kind | None
        fields[column["name"]] = Annotated[kind, Field(ge=column.get("min"), le=column.get("max"))]
    record = TypedDict("Record", fields)  # type: ignore[operator]
    record.__pydantic_config__ = ConfigDict(extra="forbid")  # type: ignore[attr-defined]
    return record


# The words pydantic used when records were models, kept so that clients see the same rule.
_NOT_A_RECORD = "Input should be a valid dictionary or instance of Record"


def _problem(error: dict[str, Any]) -> dict[str, Any]:
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
    card = served.card
    record = record_type(card["input_schema"])
    adapter = TypeAdapter(list[record])
    state: dict[str, Any] = {}  # "model" once loaded: /ready answers 503 until then
    name = card.get("name", "model")
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
        declared = int(request.headers.get("content-length") or 0)
        started = time.perf_counter()
        if declared > limits.max_body_bytes:
            response: Any = _reject(413, too_large)
            errors.labels("body_too_large").inc()
        else:
            response = await call_next(request)
        latency.labels(request.url.path).observe(time.perf_counter() - started)
        requests.labels(request.url.path, str(response.status_code)).inc()
        return response

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    def ready() -> JSONResponse:
        if "model" not in state:
            return JSONResponse({"status": "loading"}, status_code=503)
        return JSONResponse({"status": "ready", "version": served.version})

    @app.get("/v1/model")
    def model_info() -> dict[str, Any]:
        return {
            "name": name,
            "version": served.version,
            "stage": served.stage,
            "input_schema": card["input_schema"],
            "threshold": served.threshold,
            "model_sha256": card.get("model_sha256"),
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
            400: {"description": "the body is not JSON"},
            413: {"description": "more than serve.max_rows records, or a body too large"},
            422: {"description": "a record breaks the schema: each problem names the field"},
            503: {"description": "the model is still loading"},
        },
    )
    async def predict(request: Request) -> Response:
        if "model" not in state:
            return _reject(503, "the model is still loading")
        body = await request.body()
        if len(body) > limits.max_body_bytes:
            errors.labels("body_too_large").inc()
            return _reject(413, too_large)
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            errors.labels("not_json").inc()
            return _reject(400, f"the body is not JSON: {error}")
        records = payload.get("records") if isinstance(payload, dict) else None
        if not isinstance(records, list) or not records:
            errors.labels("invalid").inc()
            return _reject(422, 'expected {"records": [ {...}, ... ]} with at least one record')
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
        probability = _probabilities(state["model"], valid)
        rows_scored.inc(len(valid))
        labels = (probability >= served.threshold).tolist()
        predictions = [
            {"probability": p, "label": int(label)}
            for p, label in zip(probability.tolist(), labels, strict=True)
        ]
        return Response(
            orjson.dumps({"model": name, "version": served.version, "predictions": predictions}),
            media_type="application/json",
        )

    @app.get("/metrics")
    def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def _describe(model: FastModel | Pipeline) -> str:
    if not isinstance(model, FastModel):
        return "scikit-learn's pipeline"
    if model.pipeline is None:
        return f"the packaged fast model ({FAST_MODEL}): scikit-learn not loaded"
    return "the fast model derived from the pipeline"


def _probabilities(model: FastModel | Pipeline, records: list[dict[str, Any]]) -> Any:
    if isinstance(model, FastModel):
        return model.probabilities(model.matrix_of_records(records))
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
