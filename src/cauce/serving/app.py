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
import os
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.requests import ClientDisconnect

from cauce.artifact import Target
from cauce.config import ServeParams
from cauce.fastpath import FastModel
from cauce.layout import FAST_MODEL
from cauce.serving.scoring import RefusedError, Scorer
from cauce.serving.served import ServedModel

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

log = logging.getLogger(__name__)


def create_app(served: ServedModel, limits: ServeParams) -> FastAPI:
    registry = CollectorRegistry()
    requests = Counter("cauce_requests", "HTTP requests", ["path", "status"], registry=registry)
    latency = Histogram("cauce_request_seconds", "request latency", ["path"], registry=registry)
    rows_scored = Counter("cauce_rows_scored", "rows scored by /v1/predict", registry=registry)
    errors = Counter("cauce_errors", "rejected requests", ["reason"], registry=registry)
    served.verify()  # before anything listens: a bad file stops the server at once
    info, target = served.info, served.info.target
    scorer = Scorer.of(served, limits.max_rows)
    state: dict[str, Any] = {}  # "model" once loaded: /ready answers 503 until then
    name = info.name
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

    @app.post(
        "/v1/predict",
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": scorer.request_schema()}},
            }
        },
        responses=_predict_responses(target),
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
        try:
            async for chunk in request.stream():  # a chunked body is counted as it arrives
                size += len(chunk)
                if size > limits.max_body_bytes:
                    errors.labels("body_too_large").inc()
                    return _reject(413, too_large)
                chunks.append(chunk)
        except ClientDisconnect:
            # A client gone before its whole body arrived (a timeout, a crash): nobody is
            # left to answer, so it is counted and told in one line, not a traceback.
            errors.labels("client_disconnected").inc()
            log.warning("/v1/predict: the client left after %s bytes of its body", f"{size:,}")
            return Response(status_code=499)  # "client closed request", as nginx logs it
        try:
            scored = scorer.answer(state["model"], b"".join(chunks))
        except RefusedError as refused:
            errors.labels(refused.reason).inc()
            return JSONResponse({"detail": refused.detail}, status_code=refused.status)
        rows_scored.inc(scored.rows)
        return Response(scored.body, media_type=_JSON)

    @app.get("/metrics", response_class=_PrometheusText)
    def metrics() -> _PrometheusText:
        return _PrometheusText(generate_latest(registry))

    return app


_JSON = "application/json"


def _predict_responses(target: Target) -> dict[int | str, dict[str, Any]]:
    """What /v1/predict answers, status by status, for the OpenAPI document."""
    answers = _predictions(target)
    return {
        200: _json(f"the {target.task} model's answer per record, in order", answers),
        400: _json("the body is not JSON (or holds a number beyond float64)", _DETAIL),
        413: _json("more than serve.max_rows records, or a body too large", _DETAIL),
        415: _json("a Content-Type other than application/json", _DETAIL),
        422: _json("the body breaks the schema: each problem names the field", _PROBLEMS),
        503: _json("the model is still loading", _DETAIL),
    }


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
