"""The prediction API's part of the bad-input matrix: one bad request per case against a real
`cauce serve` process. Each is refused with the status docs/api-contract.md documents and a
body that names where the problem is and the rule it breaks; afterwards the server is still
healthy and a valid record scores exactly what it scored before (no state was spoiled)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

_JSON = {"content-type": "application/json"}
Body = bytes | Callable[[], Iterator[bytes]]  # a generator: sent chunked, no Content-Length


@dataclass(frozen=True)
class Bad:
    """One bad request: its body (made from a valid record and the server's limits), the
    Content-Type it declares, and the answer it must get."""

    body: Callable[[dict[str, Any], dict[str, int]], Body]
    status: int
    where: str  # the field or location the answer names
    rule: str  # words of the rule it states
    content_type: str = "application/json"


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _raw(data: bytes) -> Callable[..., bytes]:
    """A body that does not depend on the record or the limits."""
    return lambda _record, _limits: data


def _one(change: dict[str, Any], drop: str | None = None) -> Callable[..., bytes]:
    """A body of one record with `change` applied (and `drop` removed)."""

    def body(record: dict[str, Any], _limits: dict[str, int]) -> bytes:
        bad = record | change
        if drop is not None:
            del bad[drop]
        return _json({"records": [bad]})

    return body


def _padded(record: dict[str, Any], size: int) -> bytes:
    """Valid JSON of one valid record, `size` bytes long: only its size is wrong."""
    head = b'{"records": [' + _json(record) + b"]"
    return head + b" " * (size - len(head) - 1) + b"}"


def _chunked(record: dict[str, Any], limits: dict[str, int]) -> Callable[[], Iterator[bytes]]:
    data = _padded(record, limits["max_body_bytes"] + 1)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 65_536):
            yield data[start : start + 65_536]

    return chunks


NOT_AN_OBJECT = 'expected {"records": [ {...}, ... ]} with at least one record'
EXTRA = "Extra inputs are not permitted"
CASES = {
    "not-json": Bad(_raw(b"this is not json"), 400, "line 1 column 1 ", "body is not JSON"),
    "truncated-json": Bad(_raw(b'{"records": ['), 400, "line 1 column 14 ", "unexpected end"),
    "nan-not-json": Bad(
        _raw(b'{"records": [{"AGEP": NaN}]}'), 400, "line 1 column 23 ", "body is not JSON"
    ),
    "json-list": Bad(lambda r, _: _json([r]), 422, '{"records"', NOT_AN_OBJECT),
    "json-string": Bad(_raw(_json("records")), 422, '{"records"', NOT_AN_OBJECT),
    "records-missing": Bad(lambda r, _: _json({"rows": [r]}), 422, '{"records"', NOT_AN_OBJECT),
    "records-not-list": Bad(lambda r, _: _json({"records": r}), 422, '{"records"', NOT_AN_OBJECT),
    "records-null": Bad(_raw(_json({"records": None})), 422, '{"records"', NOT_AN_OBJECT),
    "records-empty": Bad(_raw(_json({"records": []})), 422, "records", "at least one"),
    "record-null": Bad(
        _raw(_json({"records": [None]})),
        422,
        "records[0]",
        "Input should be a valid dictionary or instance of Record",
    ),
    "missing-column": Bad(
        _one({}, drop="AGEP"), 422, "records[0].AGEP", "required field is missing"
    ),
    "above-max": Bad(
        _one({"AGEP": 130}), 422, "records[0].AGEP", "Input should be less than or equal to 99"
    ),
    "below-min": Bad(
        _one({"SCHL": -1}), 422, "records[0].SCHL", "Input should be greater than or equal to 0"
    ),
    "second-record-bad": Bad(
        lambda r, _: _json({"records": [r, r | {"AGEP": -1}]}),
        422,
        "records[1].AGEP",
        "Input should be greater than or equal to 0",
    ),
    "unknown-code": Bad(_one({"SEX": 3}), 422, "records[0].SEX", "Input should be 1 or 2"),
    "string-for-integer": Bad(
        _one({"AGEP": "40"}), 422, "records[0].AGEP", "Input should be a valid integer"
    ),
    "fraction-for-integer": Bad(
        _one({"AGEP": 40.5}), 422, "records[0].AGEP", "got a number with a fractional part"
    ),
    "fraction-for-code": Bad(_one({"SEX": 1.5}), 422, "records[0].SEX", "Input should be 1 or 2"),
    "boolean-for-integer": Bad(
        _one({"AGEP": True}), 422, "records[0].AGEP", "Input should be a valid integer"
    ),
    "boolean-for-code": Bad(
        _one({"SEX": True}), 422, "records[0].SEX", "Input should be a valid integer"
    ),
    "unknown-record-field": Bad(_one({"AGE": 40}), 422, "records[0].AGE", EXTRA),
    "unknown-top-level-field": Bad(
        lambda r, _: _json({"records": [r], "request_id": "a1"}), 422, "request_id", EXTRA
    ),
    "too-many-records": Bad(
        lambda r, limits: _json({"records": [r] * (limits["max_rows"] + 1)}),
        413,
        "serve.max_rows",
        "records exceed",
    ),
    "body-too-large": Bad(
        lambda r, limits: _padded(r, limits["max_body_bytes"] + 1),
        413,
        "serve.max_body_bytes",
        "the body exceeds",
    ),
    "chunked-too-large": Bad(_chunked, 413, "serve.max_body_bytes", "the body exceeds"),
    "text-plain": Bad(
        lambda r, _: _json({"records": [r]}),
        415,
        "body",
        "must be application/json, not text/plain",
        content_type="text/plain",
    ),
    "form-urlencoded": Bad(
        _raw(b"records=1"),
        415,
        "body",
        "must be application/json, not application/x-www-form-urlencoded",
        content_type="application/x-www-form-urlencoded",
    ),
}


@pytest.fixture(scope="module")
def api(served_url) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def model(api) -> dict[str, Any]:
    return api.get("/v1/model").json()


@pytest.fixture(scope="module")
def record(model) -> dict[str, Any]:
    """A valid record: the middle of each range, the last allowed code."""
    return {
        c["name"]: c["allowed"][-1] if c.get("allowed") else int((c["min"] + c["max"]) // 2)
        for c in model["input_schema"]
    }


@pytest.fixture(scope="module")
def baseline(api, record) -> float:
    """What the valid record scores on the freshly started server."""
    return score(api, record)


def score(api: httpx.Client, record: dict[str, Any]) -> float:
    answer = api.post("/v1/predict", json={"records": [record]})
    assert answer.status_code == 200, answer.text
    (prediction,) = answer.json()["predictions"]
    return prediction["probability"]


def said(detail: str | list[dict[str, Any]], where: str, rule: str) -> bool:
    """Whether the answer names `where` and states `rule`: the one problem of a list (a
    valid record beside a bad one is no problem), or the message when there is no list."""
    if isinstance(detail, str):
        return where in detail and rule in detail
    return [p["field"] for p in detail] == [where] and rule in detail[0]["rule"]


def still_sound(api: httpx.Client, record: dict[str, Any], before: float) -> None:
    assert api.get("/health").json() == {"status": "ok"}
    assert api.get("/ready").status_code == 200
    assert score(api, record) == before


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_bad_request_is_refused_naming_the_problem_and_spoils_nothing(
    api, served_url, model, record, baseline, case
):
    before = score(api, record)
    assert before == baseline
    body = case.body(record, model["limits"])
    content = body() if callable(body) else body
    # Its own connection: a refused body may leave the connection closed after the answer.
    with httpx.Client(base_url=served_url, timeout=30) as client:
        answer = client.post(
            "/v1/predict", content=content, headers={"content-type": case.content_type}
        )
    if callable(body):  # the limit was counted while streaming, with no length to go by
        assert "content-length" not in answer.request.headers
        assert answer.request.headers["transfer-encoding"] == "chunked"
    assert answer.status_code == case.status, answer.text
    assert answer.headers["content-type"] == "application/json"
    detail = answer.json()["detail"]
    assert said(detail, case.where, case.rule), detail
    still_sound(api, record, before)


def test_a_chunked_body_within_the_limit_is_scored(api, served_url, model, record, baseline):
    """The other side of `chunked-too-large`: the same streaming path, a byte under the limit."""
    data = _padded(record, model["limits"]["max_body_bytes"])
    with httpx.Client(base_url=served_url, timeout=30) as client:
        answer = client.post("/v1/predict", content=iter([data[:65_536], data[65_536:]]))
    assert "content-length" not in answer.request.headers
    assert answer.status_code == 200, answer.text
    assert answer.json()["predictions"][0]["probability"] == baseline
    still_sound(api, record, baseline)


def test_null_for_a_nullable_field_is_scored_not_refused(api, model, record, baseline):
    """Every column of the model's input schema is nullable: null is imputed, not a 422."""
    assert all(c["nullable"] for c in model["input_schema"])
    answer = api.post("/v1/predict", json={"records": [record | {"AGEP": None}]})
    assert answer.status_code == 200, answer.text
    assert 0 <= answer.json()["predictions"][0]["probability"] <= 1
    still_sound(api, record, baseline)


def errors_counted(client: httpx.Client, reason: str) -> float:
    """The server's cauce_errors_total for `reason` (0 before the first)."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'cauce_errors_total{{reason="{reason}"}} '):
            return float(line.split()[-1])
    return 0.0


def test_clients_gone_mid_body_are_counted_and_logged_a_line_each(api, served_url, served_log):
    """Five clients that send half a body and hang up: /metrics counts them, the log has
    one line each and no traceback, and the server answers the next request."""
    before, logged = errors_counted(api, "client_disconnected"), served_log.read_text()
    address = httpx.URL(served_url)
    head = (
        b"POST /v1/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n"
    )
    for _ in range(5):
        with socket.create_connection((address.host, address.port)) as connection:
            connection.sendall(head + b'[{"AGEP": 4')
    deadline = time.monotonic() + 10
    while errors_counted(api, "client_disconnected") < before + 5:
        assert time.monotonic() < deadline, "the disconnects were never counted"
        time.sleep(0.05)
    assert errors_counted(api, "client_disconnected") == before + 5
    new = served_log.read_text().removeprefix(logged)
    assert "Traceback" not in new
    lines = [line for line in new.splitlines() if "the client left" in line]
    assert lines == ["/v1/predict: the client left after 11 bytes of its body"] * 5
    assert api.get("/ready").status_code == 200
