"""One input schema: validate, the API and batch scoring reject the same rows for the same
rule. Validate and batch judge values with the same function (ColumnRule.broken); the API
with the pydantic form of the same rules, so this test is what holds the two together."""

from __future__ import annotations

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from cauce.config import ServeParams
from cauce.pipeline.validate import check, load_contract
from cauce.serving.app import create_app
from cauce.serving.batch import REASON, Model, judge
from cauce.serving.served import ServedModel
from cauce.serving.smoke import wait_until_ready
from tests.conftest import ROOT

# Each row breaks one rule of one column (or none), as the contract words it.
CASES = {
    "good": ({}, None),
    "age-out-of-range": ({"AGEP": 150}, ("AGEP", "range [0, 99]")),
    "age-fractional": ({"AGEP": 33.5}, ("AGEP", "type integer")),
    "schooling-below-range": ({"SCHL": -1}, ("SCHL", "range [0, 24]")),
    "marital-code-unknown": ({"MAR": 9}, ("MAR", "allowed codes [1, 2, 3, 4, 5]")),
    "sex-code-unknown": ({"SEX": 3}, ("SEX", "allowed codes [1, 2]")),
}


def api_rule(message: str) -> str:
    """pydantic's words for a rule, as the contract's kind of rule."""
    if "less than" in message or "greater than" in message:
        return "range"
    if "valid integer" in message or "valid number" in message:
        return "type"
    if message.startswith("Input should be"):
        return "allowed codes"
    raise AssertionError(f"an API rule this test does not know: {message}")


@pytest.fixture(scope="module")
def rows(source_2015) -> pd.DataFrame:
    """One source row per case, each with its defect (floats where a case needs one)."""
    good = source_2015.iloc[[0] * len(CASES)].reset_index(drop=True)
    good = good.astype({"AGEP": "float64"})
    for row, (change, _) in enumerate(CASES.values()):
        for column, value in change.items():
            good.loc[row, column] = value
    return good.assign(id=range(len(CASES)))


@pytest.fixture(scope="module")
def api(packaged_model):
    served = ServedModel.from_directory(packaged_model, "v0.1.0")
    with TestClient(create_app(served, ServeParams(max_rows=10, max_body_bytes=10**6))) as client:
        assert wait_until_ready(client, 60), "the model did not load"
        yield client


def test_validate_the_api_and_batch_reject_the_same_rows_for_the_same_rule(
    rows, api, packaged_model
):
    expected = {row: rule for row, (_, rule) in enumerate(CASES.values()) if rule}

    found = check(rows, load_contract(ROOT / "data/contract.yaml"))
    by_validate = {
        example["row"]: (v["column"], v["rule"]) for v in found for example in v["examples"]
    }
    assert by_validate == expected

    judged = judge(rows, Model.from_directory(packaged_model, "v0.1.0", "id"))
    by_batch = {
        row: tuple(reason.split(": ", 1)) for row, reason in enumerate(judged[REASON]) if reason
    }
    assert by_batch == expected

    features = [c["name"] for c in api.get("/v1/model").json()["input_schema"]]
    by_api = {}
    for row, record in enumerate(rows[features].to_dict("records")):
        answer = api.post("/v1/predict", json={"records": [record]})
        if answer.status_code == 200:
            continue
        assert answer.status_code == 422, answer.text
        (problem,) = answer.json()["detail"]
        by_api[row] = (problem["field"].removeprefix("records[0]."), api_rule(problem["rule"]))
    kinds = {
        row: (column, "type" if rule.startswith("type") else rule.split(" [")[0])
        for row, (column, rule) in expected.items()
    }
    assert by_api == kinds
