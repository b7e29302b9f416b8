"""The prediction API for real: uvicorn on 127.0.0.1 serving the prod model, resolved from
the GTO tags of a repository, answering real HTTP requests."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import httpx
import numpy as np
import pandas as pd
import pytest

from cauce import ExitCode
from cauce.model import load_model
from cauce.serving.served import ModelIntegrityError, ServedModel
from cauce.serving.smoke import wait_until_ready
from tests.conftest import ROOT
from tests.serving.conftest import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def api(repository):
    port = free_port()
    server = subprocess.Popen(
        ["cauce", "serve", "--stage", "prod", "--port", str(port)],
        cwd=repository.path,
        env=repository.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30)
    if not wait_until_ready(client, 90, alive=lambda: server.poll() is None):
        server.kill()
        pytest.fail(f"the API did not become ready:\n{server.stdout.read()}")
    yield client
    server.terminate()
    server.wait(timeout=10)


@pytest.fixture(scope="module")
def test_rows(repository) -> pd.DataFrame:
    """The test split, repeated to 2,000 rows (the small slice has 800)."""
    split = pd.read_parquet(repository.path / "data/prepared/test.parquet")
    return pd.concat([split] * 3, ignore_index=True).head(2000)


def records(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    return json.loads(frame[columns].to_json(orient="records"))


def feature_columns(api) -> list[str]:
    return [c["name"] for c in api.get("/v1/model").json()["input_schema"]]


def test_health_and_the_served_version(api):
    assert api.get("/health").json() == {"status": "ok"}
    model = api.get("/v1/model").json()
    assert model["version"] == "v0.1.0"
    assert model["stage"] == "prod"
    assert 0.8 < model["metrics"]["roc_auc"] < 1
    assert model["limits"] == {"max_rows": 1000, "max_body_bytes": 2000000}
    assert api.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]["requestBody"]


def test_predictions_equal_the_in_process_pipeline_on_1000_rows(api, repository, test_rows):
    columns = feature_columns(api)
    rows = test_rows.head(1000)
    answer = api.post("/v1/predict", json={"records": records(rows, columns)})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["version"] == "v0.1.0"
    served = np.array([p["probability"] for p in body["predictions"]])
    pipeline = load_model(repository.path / ".cauce/models/v0.1.0/model.skops")
    np.testing.assert_allclose(
        served, pipeline.predict_proba(rows[columns])[:, 1], rtol=0, atol=1e-12
    )
    assert [p["label"] for p in body["predictions"]] == [int(p >= 0.5) for p in served]


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"AGEP": "30"}, "records[0].AGEP", "Input should be a valid integer"),
        ({"SEX": 3}, "records[0].SEX", "Input should be 1 or 2"),
        ({"AGEP": 130}, "records[0].AGEP", "Input should be less than or equal to 99"),
        ({"HOBBY": "chess"}, "records[0].HOBBY", "Extra inputs are not permitted"),
        ({"MAR": None, "RAC1P": "drop"}, "records[0].RAC1P", "required field is missing"),
    ],
    ids=["wrong-type", "unknown-code", "out-of-range", "unknown-field", "missing-field"],
)
def test_a_bad_record_gets_422_naming_the_field(api, test_rows, change, field, rule):
    record = records(test_rows.head(1), feature_columns(api))[0] | change
    if record.get("RAC1P") == "drop":
        del record["RAC1P"]
    answer = api.post("/v1/predict", json={"records": [record]})
    assert answer.status_code == 422, answer.text
    problems = answer.json()["detail"]
    assert {"field": field, "rule": rule} in [
        {"field": p["field"], "rule": p["rule"]} for p in problems
    ], problems


def test_a_record_that_is_not_an_object_gets_the_same_422_as_before(api):
    answer = api.post("/v1/predict", json={"records": [1]})
    assert answer.status_code == 422
    rule = "Input should be a valid dictionary or instance of Record"
    assert answer.json()["detail"] == [{"field": "records[0]", "rule": rule, "value": 1}]


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b'{"records": []}', 422, "at least one record"),
        (b"this is not json", 400, "the body is not JSON"),
        (b'{"rows": [1]}', 422, 'expected {"records"'),
    ],
    ids=["empty-list", "not-json", "wrong-shape"],
)
def test_malformed_bodies(api, body, status, message):
    answer = api.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == status
    assert message in answer.json()["detail"]


def test_too_many_rows_gets_413(api, test_rows):
    many = records(test_rows.head(1001), feature_columns(api))
    answer = api.post("/v1/predict", json={"records": many})
    assert answer.status_code == 413
    assert answer.json()["detail"] == "1,001 records exceed serve.max_rows = 1,000"


def test_an_oversized_body_gets_413(api):
    answer = api.post(
        "/v1/predict", content=b" " * 2_000_001, headers={"content-type": "application/json"}
    )
    assert answer.status_code == 413
    assert "serve.max_body_bytes = 2,000,000" in answer.json()["detail"]


def test_metrics_count_requests_rows_and_errors(api, test_rows):
    api.post("/v1/predict", json={"records": records(test_rows.head(7), feature_columns(api))})
    api.post("/v1/predict", content=b"nope", headers={"content-type": "application/json"})
    text = api.get("/metrics").text

    def value(pattern: str) -> float:
        match = re.search(pattern + r" ([0-9.e+]+)", text)
        assert match, f"{pattern} not in /metrics:\n{text}"
        return float(match.group(1))

    assert value(r"cauce_rows_scored_total") >= 1007
    assert value(r'cauce_errors_total\{reason="not_json"\}') >= 1
    assert value(r'cauce_requests_total\{path="/v1/predict",status="200"\}') >= 2
    assert value(r'cauce_request_seconds_count\{path="/v1/predict"\}') >= 3


def test_unknown_paths_share_one_metrics_series(api):
    """A scanner's every path is labelled "unmatched": /metrics does not grow with them."""

    def path_labels() -> set[str]:
        return set(
            re.findall(r'^cauce_requests_total\{path="([^"]*)"', api.get("/metrics").text, re.M)
        )

    path_labels()  # a request is counted once answered: /metrics's own series exists after it
    before = path_labels()
    for number in range(50):
        assert api.get(f"/scan/{number}/wp-login.php").status_code == 404
    after = path_labels()
    assert after - before <= {"unmatched"}, after - before
    text = api.get("/metrics").text
    assert "/scan/" not in text
    unmatched = re.search(r'cauce_requests_total\{path="unmatched",status="404"\} (\S+)', text)
    assert unmatched, text
    assert float(unmatched.group(1)) >= 50
    # A known path with the wrong method keeps its route's label.
    assert api.get("/v1/predict").status_code == 405
    assert 'cauce_requests_total{path="/v1/predict",status="405"}' in api.get("/metrics").text


@pytest.mark.rehearsal
def test_the_load_benchmark_runs_and_its_checks_pass(packaged_model, tmp_path):
    """`python -m benchmarks.load`, briefly: a real `cauce serve`, every kind of request."""
    out = tmp_path / "load.json"
    command = [sys.executable, "-m", "benchmarks.load", "--clients", "4", "--duration", "3"]
    options = ["--rounds", "1", "--workers", "1", "--model-dir", str(packaged_model)]
    result = subprocess.run(
        [*command, *options, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    results = json.loads(out.read_text())
    assert results["passed"]
    assert results["versions"]["cauce"]
    assert results["machine"]["cpus"]
    run = results["runs"]["cauce serve"]
    assert all(run["checks"].values()), run["checks"]
    assert set(run["kinds"]) == set(results["mix"])
    assert run["kinds"]["one_record"]["requests"] > 0
    assert {"p50_ms", "p95_ms", "p99_ms", "statuses"} <= set(run["kinds"]["one_record"])
    assert set(run["rss_mib"]) == {"start", "peak", "end", "second_half_growth"}
    assert run["requests_per_second"] > 0
    assert run["server_5xx"] == 0


def test_a_tampered_model_file_is_refused(repository, tmp_path):
    directory = tmp_path / "model"
    shutil.copytree(repository.path / ".cauce/models/v0.1.0", directory)
    with (directory / "model.skops").open("ab") as model_file:
        model_file.write(b"\0")
    with pytest.raises(ModelIntegrityError, match=r"differs from the .* recorded in model\.json"):
        ServedModel.from_directory(directory).verify()
    result = repository.run(
        "cauce", "serve", "--model-dir", str(directory), "--port", "1", check=False
    )
    assert result.returncode == ExitCode.MODEL_FILE
    assert "refusing to serve it" in result.stderr
