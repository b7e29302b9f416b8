"""Every rule of the data contract fails on a crafted bad frame, with a message that names
the column, the rule and offending rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tests.conftest import ROOT

from cauce.artifact import ColumnRule, SchemaColumn
from cauce.config import ConfigError
from cauce.pipeline import validate
from cauce.pipeline.validate import Contract, ContractError, check, load_contract
from cauce.serving.batch import problems


@pytest.fixture(scope="module")
def contract():
    return load_contract(ROOT / "data/contract.yaml")


@pytest.fixture
def good(source_2015) -> pd.DataFrame:
    return source_2015.head(2000).copy()


def only_message(frame, contract) -> str:
    violations = check(frame, contract)
    assert len(violations) == 1, [v["message"] for v in violations]
    return violations[0]["message"]


def test_the_embedded_data_meets_its_contract(source_2015, contract):
    assert check(source_2015, contract) == []


def test_a_missing_column(good, contract):
    message = only_message(good.drop(columns=["MAR"]), contract)
    assert message == "column 'MAR' breaks rule 'required column': not in the data"


def test_two_missing_columns_are_both_named(good, contract):
    messages = [v["message"] for v in check(good.drop(columns=["MAR", "SEX"]), contract)]
    assert any("'MAR'" in m for m in messages)
    assert any("'SEX'" in m for m in messages)


def test_an_unknown_code(good, contract):
    good.loc[[3, 7], "RELP"] = 99
    message = only_message(good, contract)
    assert message.startswith("column 'RELP' breaks rule 'allowed codes [0, 1, 2,")
    assert message.endswith("in 2 rows, e.g. row 3: 99, row 7: 99")


def test_an_out_of_range_value(good, contract):
    good.loc[11, "AGEP"] = 130
    assert only_message(good, contract) == (
        "column 'AGEP' breaks rule 'range [0, 99]' in 1 row, e.g. row 11: 130"
    )


def test_a_wrong_type(good, contract):
    good["AGEP"] = good["AGEP"].astype(float)
    good.loc[5, "AGEP"] = 33.5
    assert only_message(good, contract) == (
        "column 'AGEP' breaks rule 'type integer' in 1 row, e.g. row 5: 33.5"
    )


def test_an_infinite_number_breaks_the_contract():
    """inf is a float but no number a model can learn from: validate stops on it (train
    would crash), as batch scoring quarantines its row."""
    contract = Contract(max_null_share=0.1, columns={"x": ColumnRule(type="number")})
    frame = pd.DataFrame({"x": [1.5, np.inf, 2.0, -np.inf]})
    assert only_message(frame, contract) == (
        "column 'x' breaks rule 'finite (no inf or -inf)' in 2 rows, e.g. row 1: inf, row 3: -inf"
    )
    schema = [SchemaColumn(name="x", kind="numeric", type="number")]
    reasons = problems(frame, schema).tolist()
    assert reasons == ["", "x: finite (no inf or -inf)", "", "x: finite (no inf or -inf)"]


def test_text_where_numbers_belong(good, contract):
    good["DIS"] = good["DIS"].astype(str)
    messages = [v["message"] for v in check(good, contract)]
    assert any(
        m.startswith("column 'DIS' breaks rule 'type integer' in 2,000 rows") for m in messages
    )


def test_a_date_column_takes_iso_dates_and_names_the_rows_that_are_not(good, contract):
    dated = good.assign(year=pd.to_datetime(good["year"].astype(str)).dt.strftime("%Y-%m-%d"))
    dated.loc[[6, 8], "year"] = ["2015-02-30", "last spring"]
    rules = contract.columns | {"year": contract.columns["year"].model_copy(
        update={"type": "date", "min": None, "max": None})}  # fmt: skip
    assert only_message(dated, contract.model_copy(update={"columns": rules})) == (
        "column 'year' breaks rule 'type date' in 2 rows, e.g. row 6: '2015-02-30', "
        "row 8: 'last spring'"
    )


def test_a_date_or_boolean_feature_is_refused(params, contract):
    rules = contract.columns | {"AGEP": contract.columns["year"].model_copy(
        update={"type": "date", "min": None, "max": None})}  # fmt: skip
    with pytest.raises(ConfigError, match=r"features AGEP \(date\): a feature is a number or text"):
        contract.model_copy(update={"columns": rules}).require(params)


def test_duplicate_ids(good, contract):
    good.loc[4, "id"] = good.loc[9, "id"]
    message = only_message(good, contract)
    assert message.startswith("column 'id' breaks rule 'unique values' in 2 rows, e.g. row 4:")


def test_a_missing_id(good, contract):
    good["id"] = good["id"].astype(float)
    good.loc[8, "id"] = np.nan
    assert only_message(good, contract) == (
        "column 'id' breaks rule 'no missing values' in 1 row, e.g. row 8: None"
    )


def test_a_non_binary_target(good, contract):
    good.loc[0, "employed"] = 2
    assert only_message(good, contract) == (
        "column 'employed' breaks rule 'allowed codes [0, 1]' in 1 row, e.g. row 0: 2"
    )


def test_too_many_missing_values(good, contract):
    good["SCHL"] = good["SCHL"].astype(float)
    good.loc[: len(good) // 10 - 1, "SCHL"] = np.nan
    assert only_message(good, contract) == (
        "column 'SCHL' breaks rule 'null share at most 5%': 10.0% of values are missing"
    )


def test_a_few_missing_values_are_allowed(good, contract):
    """Nulls within the share pass: the model's imputer handles them."""
    good["SCHL"] = good["SCHL"].astype(float)
    good.loc[:9, "SCHL"] = np.nan
    assert check(good, contract) == []


def test_examples_are_capped(good, contract):
    good["RELP"] = 40
    violation = check(good, contract)[0]
    assert violation["rows"] == len(good)
    assert len(violation["examples"]) == validate.EXAMPLES_PER_RULE


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "max_null_share: 2\ncolumns: {a: {type: integer}}",
            "max_null_share = 2: input should be less than or equal to 1",
        ),
        (
            "max_null_share: 0\ncolumns: {a: {type: int}}",
            "columns.a.type = 'int': must be one of 'boolean', 'integer', 'number', 'string', "
            "'date'",
        ),
        (
            "max_null_share: 0\ncolumns: {a: {type: date, min: 2015}}",
            "columns.a.type: a date takes no allowed codes and no min/max",
        ),
        (
            "max_null_share: 0\ncolumns: {a: {type: integer, allowed: [1], min: 0}}",
            "columns.a.allowed: give either allowed codes or a min/max range, not both",
        ),
        (
            "max_null_share: 0\ncolumns: {a: {type: integer, choices: [1]}}",
            "columns.a.choices: unknown key; "
            "allowed here: type, nullable, min, max, allowed, unique",
        ),
    ],
)
def test_a_bad_contract_file_is_explained(tmp_path, text, message):
    path = tmp_path / "contract.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_contract(path)
    assert f"{path}: {message}" in str(caught.value)


def test_params_columns_must_be_in_the_contract(params, tmp_path):
    path = tmp_path / "contract.yaml"
    path.write_text("max_null_share: 0\ncolumns: {id: {type: integer}}", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"columns used in params\.yaml are not declared: employed, year, AGEP"
    ):
        load_contract(path).require(params)


def test_the_stage_reports_and_stops(tmp_path, monkeypatch, params, good):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/raw").mkdir(parents=True)
    (tmp_path / "data/contract.yaml").write_text(
        (ROOT / "data/contract.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    good.loc[2, "MIG"] = 7
    good.to_parquet(tmp_path / "data/raw/data.parquet")
    with pytest.raises(ContractError) as caught:
        validate.run(params)
    assert f"{params.data.source} breaks the data contract data/contract.yaml" in str(caught.value)
    assert "column 'MIG' breaks rule 'allowed codes [0, 1, 2, 3]' in 1 row, e.g. row 2: 7" in str(
        caught.value
    )
    report = json.loads((tmp_path / "reports/validation.json").read_text(encoding="utf-8"))
    assert report["status"] == "failed"
    assert report["violations"][0]["column"] == "MIG"
    assert report["rows"] == len(good)
