"""`cauce smoke-test --url URL`: is a running API serving what it should?

Waits for /ready, reads /v1/model, scores one record built from the model's own input
schema, and checks that a malformed record is refused: what deploy.yml runs against a
freshly started image before it publishes anything.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import httpx

from cauce import CauceError, ExternalError


class SmokeTestError(CauceError):
    """The API is not serving what it should."""


def valid_record(schema: list[dict[str, Any]]) -> dict[str, Any]:
    """A record every rule of the schema accepts: the first allowed code, or mid-range."""
    record: dict[str, Any] = {}
    for column in schema:
        if column.get("allowed"):
            record[column["name"]] = column["allowed"][0]
        elif column["type"] == "string":
            record[column["name"]] = "a"  # free text: any string is allowed
        else:
            low = column.get("min", 0)
            middle = (low + column.get("max", low + 2)) / 2
            record[column["name"]] = int(middle) if column["type"] == "integer" else middle
    return record


def wait_until_ready(
    client: httpx.Client, wait: float, alive: Callable[[], bool] = lambda: True
) -> bool:
    """Ask `client`'s /ready until it answers 200 (True), or until `wait` seconds passed or
    `alive()` says the server is gone (False). The one wait for the API: the smoke test's,
    the tests', a deploy's."""
    deadline = time.monotonic() + wait
    while alive():
        try:
            if client.get("/ready").status_code == 200:
                return True
        except httpx.TransportError:  # not listening yet
            pass
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return False


def run(url: str, version: str | None = None, wait: float = 60) -> str:
    """`cauce smoke-test`: check the API at `url`; what it found, in one line."""
    client = httpx.Client(base_url=url.rstrip("/"), timeout=10)
    if not wait_until_ready(client, wait):
        raise SmokeTestError(f"{url}/ready did not answer 200 within {wait:g} s")
    try:
        return _check(client, url, version)
    except httpx.TransportError as error:  # it was ready, then went away
        raise ExternalError(f"{url}: {type(error).__name__}: {error}") from None
    # An answer outside the contract: a missing key, a wrong type, an empty list.
    except (ValueError, KeyError, IndexError, TypeError) as error:
        raise SmokeTestError(f"{url} answered outside its contract: {error!r}") from None


def _check(client: httpx.Client, url: str, version: str | None) -> str:
    model = client.get("/v1/model").json()
    if not isinstance(model, dict):
        raise SmokeTestError(
            f"{url}/v1/model answered a JSON {type(model).__name__}, not an object"
        )
    if version is not None and model.get("version") != version:
        raise SmokeTestError(f"{url} serves version {model.get('version')!r}, not {version!r}")
    record = valid_record(model["input_schema"])
    answer = client.post("/v1/predict", json={"records": [record]})
    if answer.status_code != 200:
        raise SmokeTestError(f"/v1/predict answered {answer.status_code}: {answer.text[:300]}")
    said = _answer(answer.json()["predictions"][0], model.get("task", "binary"))
    refused = client.post("/v1/predict", json={"records": [{"not a feature": 1}]})
    if refused.status_code != 422:
        raise SmokeTestError(f"a malformed record got {refused.status_code}, not 422")
    return (
        f"{url}: ready, serving {model.get('version')} (model sha256 "
        f"{str(model.get('model_sha256'))[:12]}…), one prediction ({said}), "
        "a malformed record refused with 422"
    )


def _answer(prediction: dict[str, Any], task: str) -> str:
    """One prediction checked against its task's contract, as a few words."""
    if task == "regression":
        value = float(prediction["value"])
        if not math.isfinite(value):
            raise SmokeTestError(f"/v1/predict returned value {value}")
        return f"{value:.4g}"
    shares = (
        list(prediction["probabilities"].values())
        if task == "multiclass"
        else [prediction["probability"]]
    )
    if not all(0 <= share <= 1 for share in shares) or (
        task == "multiclass" and abs(sum(shares) - 1) > 1e-6
    ):
        raise SmokeTestError(f"/v1/predict returned probabilities {shares}")
    return f"{max(shares):.3f}, label {prediction['label']!r}"
