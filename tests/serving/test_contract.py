"""The API's contract is exact: the OpenAPI document `cauce serve` publishes says what the
server really accepts and answers (docs/api-contract.md). A spec-driven fuzzer runs every
one of its checks against a real server; quick tests pin each decision the document makes."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import jsonschema
import pytest

from cauce.config import ServeParams
from cauce.serving.app import create_app
from cauce.serving.served import ServedModel

ROUTES = {
    ("/health", "get"): {"200"},
    ("/ready", "get"): {"200", "503"},
    ("/v1/model", "get"): {"200"},
    ("/v1/predict", "post"): {"200", "400", "413", "415", "422", "503"},
    ("/metrics", "get"): {"200"},
}
MAX_EXAMPLES = 150  # per operation and phase: about 10 s on 2 cores
# The fuzzer's rejection statuses: 413 is this API's answer to more than max_rows records,
# which the document states as maxItems (the fuzzer expects 400/422 by default).
FUZZER_CONFIG = """
[checks.negative_data_rejection]
expected-statuses = ["400", "413", "415", "422"]
"""


@pytest.fixture(scope="module")
def api(served_url):
    with httpx.Client(base_url=served_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def document(api) -> dict:
    return api.get("/openapi.json").json()


@pytest.fixture(scope="module")
def record(api) -> dict:
    """A valid record: the middle of each range, the first allowed code."""
    return {
        c["name"]: c["allowed"][0] if c.get("allowed") else int((c["min"] + c["max"]) // 2)
        for c in api.get("/v1/model").json()["input_schema"]
    }


def request_schema(document: dict) -> dict:
    body = document["paths"]["/v1/predict"]["post"]["requestBody"]
    return body["content"]["application/json"]["schema"]


def documented_body(document: dict, path: str, method: str, status: int) -> dict:
    answer = document["paths"][path][method]["responses"][str(status)]
    return answer["content"]["application/json"]["schema"]


def requests_by_status(api) -> dict[str, float]:
    """The server's own count of the requests it answered, by status."""
    counts: dict[str, float] = {}
    for status, number in re.findall(
        r'cauce_requests_total\{path="[^"]*",status="(\d+)"\} ([0-9.e+]+)', api.get("/metrics").text
    ):
        counts[status] = counts.get(status, 0.0) + float(number)
    return counts


def test_the_fuzzer_finds_no_mismatch_and_no_server_error(api, served_url, tmp_path):
    # Counted from here: the server answered /ready 503 while its model loaded (the
    # readiness wait), and other tests of this package share the server.
    before = requests_by_status(api)
    config = tmp_path / "schemathesis.toml"
    config.write_text(FUZZER_CONFIG, encoding="utf-8")
    report = tmp_path / "run.json"
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        *("--config-file", str(config)),
        *("run", f"{served_url}/openapi.json"),
        *("--checks", "all", "--mode", "all"),  # positive and negative data
        *(
            "--max-examples",
            str(MAX_EXAMPLES),
            "--generation-deterministic",
        ),  # repeatable: no seed drift
        *("--workers", "1", "--no-color"),
        *("--report", "json", "--report-json-path", str(report)),
    ]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
    summary = json.loads(report.read_text(encoding="utf-8"))
    assert summary["failures"] == []
    assert summary["errors"] == []
    assert summary["operations"]["tested"] == len(ROUTES)
    # /v1/predict alone had a full run of each mode: it did fuzz
    assert summary["test_cases"]["generated"] >= 2 * MAX_EXAMPLES
    assert not any(summary["warnings"].values()), summary["warnings"]
    # The server's own count: every request was answered, none of them 5xx.
    after = requests_by_status(api)
    during = {status: after[status] - before.get(status, 0.0) for status in after}
    assert sum(during.values()) >= summary["test_cases"]["generated"]
    assert {status: n for status, n in during.items() if status.startswith("5") and n} == {}


def test_each_route_documents_exactly_the_statuses_it_answers(document):
    documented = {
        (path, method): set(operation["responses"])
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert documented == ROUTES


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (None, "application/json", 200),
        (None, "application/json; charset=utf-8", 200),
        (None, None, 200),  # no Content-Type: read as JSON
        (b'{"records": [', "application/json", 400),
        (b'{"records": [{"AGEP": 1e400}]}', "application/json", 400),  # beyond float64
        (b" " * 2_000_001, "application/json", 413),
        (None, "text/plain", 415),
        (None, "application/x-www-form-urlencoded", 415),  # curl -d without -H
        (b'{"records": []}', "application/json", 422),
    ],
    ids=[
        "json",
        "charset",
        "no-type",
        "bad-json",
        "huge-number",
        "too-large",
        "text",
        "form",
        "empty",
    ],
)
def test_each_predict_status_has_the_documented_body(
    api, document, record, content, content_type, status
):
    body = content if content is not None else json.dumps({"records": [record]}).encode()
    headers = {"content-type": content_type} if content_type else {}
    answer = api.post("/v1/predict", content=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/json"
    jsonschema.validate(answer.json(), documented_body(document, "/v1/predict", "post", status))


def test_while_loading_ready_and_predict_answer_the_documented_503(packaged_model, record):
    limits = ServeParams(max_rows=10, max_body_bytes=10_000)
    app = create_app(ServedModel.from_directory(packaged_model), limits)

    async def ask() -> tuple[httpx.Response, httpx.Response]:
        # In process, without the lifespan that loads the model: it stays loading.
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cauce") as client:
            ready = await client.get("/ready")
            return ready, await client.post("/v1/predict", json={"records": [record]})

    ready, predict = asyncio.run(ask())
    assert (ready.status_code, predict.status_code) == (503, 503)
    document = app.openapi()
    jsonschema.validate(ready.json(), documented_body(document, "/ready", "get", 503))
    jsonschema.validate(predict.json(), documented_body(document, "/v1/predict", "post", 503))


def test_metrics_are_documented_under_the_content_type_they_are_served_with(api, document):
    documented = document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    served = api.get("/metrics").headers["content-type"]
    assert list(documented) == [served]
    assert served.startswith("text/plain; version=")  # Prometheus's text format, not JSON


def test_integer_fields_are_documented_as_integers(document):
    fields = request_schema(document)["properties"]["records"]["items"]["properties"]
    assert [a["type"] for a in fields["AGEP"]["anyOf"]] == ["integer", "null"]
    assert fields["AGEP"]["anyOf"][0] | {"minimum": 0, "maximum": 99} == fields["AGEP"]["anyOf"][0]
    assert fields["SEX"]["anyOf"][0] == {"type": "integer", "enum": [1, 2]}


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        ("AGEP", 40, True),
        ("AGEP", 40.0, True),  # JSON Schema's integer includes 40.0
        ("AGEP", 99.0, True),
        ("AGEP", 40.5, False),
        ("AGEP", 100.0, False),
        ("AGEP", True, False),  # a boolean is not a number in JSON
        ("AGEP", "40", False),
        ("AGEP", None, True),  # missing: the imputer fills it
        ("SEX", 1.0, True),
        ("SEX", 1.5, False),
        ("SEX", 3.0, False),
        ("SEX", True, False),
        ("SEX", "1", False),
    ],
)
def test_a_value_for_an_integer_field_is_judged_as_the_schema_judges_it(
    api, document, record, field, value, accepted
):
    body = {"records": [record | {field: value}]}
    assert jsonschema.Draft202012Validator(request_schema(document)).is_valid(body) is accepted
    answer = api.post("/v1/predict", json=body)
    assert answer.status_code == (200 if accepted else 422), answer.text


def test_predictions_for_a_whole_float_equal_those_for_the_integer(api, record):
    as_floats = {k: float(v) for k, v in record.items()}
    answers = [api.post("/v1/predict", json={"records": [r]}).json() for r in (record, as_floats)]
    assert answers[0]["predictions"] == answers[1]["predictions"]


@pytest.mark.parametrize("where", ["top level", "record"])
def test_an_unknown_field_is_refused_as_additional_properties_false_says(
    api, document, record, where
):
    schema = request_schema(document)
    assert schema["additionalProperties"] is False
    assert schema["properties"]["records"]["items"]["additionalProperties"] is False
    if where == "top level":
        body, field = {"records": [record], "request_id": "a1"}, "request_id"
    else:
        body, field = {"records": [record | {"request_id": "a1"}]}, "records[0].request_id"
    assert not jsonschema.Draft202012Validator(schema).is_valid(body)
    answer = api.post("/v1/predict", json=body)
    assert answer.status_code == 422
    assert answer.json()["detail"] == [
        {"field": field, "rule": "Extra inputs are not permitted", "value": "a1"}
    ]
