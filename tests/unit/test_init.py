"""`cauce init`: a contract, params and plots drafted from real data of each task, that the
pipeline's own checks accept; every refusal names the file, the column and the rule, and
leaves the repository's files as they were."""

from __future__ import annotations

import difflib
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris, load_wine
from tests import datasets
from tests.conftest import ROOT, Workspace, tool_environment, tree_digest

from cauce import ConfigError, DataError, ExitCode
from cauce.config import Params, load_params
from cauce.layout import CONTRACT, EVALUATE_METRICS, PARAMS, PIPELINE, VALIDATION_REPORT
from cauce.metrics import PRIMARY, TASKS, of_task
from cauce.pipeline.draft import contract_text, draft
from cauce.pipeline.evaluate import PLOTS, dvc_plots
from cauce.pipeline.ingest import read_table
from cauce.pipeline.train import build_pipeline
from cauce.pipeline.validate import check, load_contract


def sklearn_frame(load, target: str) -> pd.DataFrame:
    frame = load(as_frame=True).frame
    return frame.rename(columns={"target": target})


@pytest.fixture(scope="module")
def cancer() -> pd.DataFrame:
    """Binary with two words for labels."""
    frame = sklearn_frame(load_breast_cancer, "diagnosis")
    frame["diagnosis"] = frame["diagnosis"].map({0: "malignant", 1: "benign"})
    return frame


@pytest.fixture(scope="module")
def survey() -> pd.DataFrame:
    """Text codes with about 10% missing, integer codes, counts, free text, no time column."""
    rng = np.random.default_rng(7)
    rows = 600
    frame = pd.DataFrame(
        {
            "income": rng.normal(50_000, 12_000, rows).round(2),
            "level": rng.choice(["low", "mid", "high"], rows),
            "region": rng.integers(1, 6, rows),
            "visits": rng.integers(0, 60, rows),
            "note": [f"called on day {i}" for i in rng.integers(0, 400, rows)],
            "country": "ES",
            "member": rng.choice([True, False], rows),
            "bought": rng.integers(0, 2, rows),
        }
    )
    frame.loc[rng.random(rows) < 0.1, "level"] = None
    frame.loc[rng.random(rows) < 0.03, "visits"] = None  # integers widened to floats
    return frame


@pytest.fixture
def repository(tmp_path):
    """The files cauce init edits, as in a checkout: params.yaml, dvc.yaml, data/."""
    for name in (PARAMS, PIPELINE):
        shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / "data").mkdir()
    return tmp_path


def init(cauce, repository, frame: pd.DataFrame, file: str, *options: str):
    path = repository / file
    if file.endswith(".csv"):
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
    return cauce(repository, "init", "--source", file, *options)


def params_of(repository) -> dict:
    return yaml.safe_load((repository / PARAMS).read_text(encoding="utf-8"))


def assert_the_pipeline_accepts_it(repository, file: str, task: str) -> None:
    """What the stages check: params.yaml loads, the contract loads, declares every column
    params uses and holds on the very file; dvc.yaml shows the task's plots."""
    params = load_params(repository / PARAMS)
    assert params.data.task == task
    contract = load_contract(repository / CONTRACT)
    contract.require(params)
    read = read_table(str(repository / file), params.data.missing_values, params.data.csv)
    assert check(read, contract) == []
    pipeline = yaml.safe_load((repository / PIPELINE).read_text(encoding="utf-8"))
    assert pipeline["plots"] == dvc_plots(task)
    assert next(iter(params.gate.metrics)) == PRIMARY[task]
    assert set(params.gate.metrics) <= set(of_task(task))
    assert all(r.min is None and r.max is None for r in params.gate.metrics.values())
    assert params.gate.groups.metric == params.monitor.performance.metric == PRIMARY[task]


def test_binary_with_word_labels_from_a_csv(repository, cauce, cancer):
    options = ["--target", "diagnosis", "--positive-label", "malignant"]
    done = init(cauce, repository, cancer, "cancer.csv", *options)
    assert done.code == ExitCode.OK, done.err
    assert "task: binary: column 'diagnosis' has 2 labels: 'benign', 'malignant'" in done.out
    assert "positive label: 'malignant' (--positive-label); the other is 'benign'" in done.out
    assert "next: read data/contract.yaml and params.yaml, then `make run`" in done.out
    data = params_of(repository)["data"]
    assert (data["task"], data["target"], data["positive_label"]) == (
        "binary",
        "diagnosis",
        "malignant",
    )
    assert (data["year_column"], data["train_years"], data["id_column"]) == (None, None, None)
    features = params_of(repository)["features"]
    assert features["numeric"] == [c for c in cancer.columns if c != "diagnosis"]
    assert features["ordinal"] == features["categorical"] == []
    assert_the_pipeline_accepts_it(repository, "cancer.csv", "binary")
    # The same task's plots: dvc.yaml is byte for byte as it was.
    assert (repository / PIPELINE).read_bytes() == (ROOT / PIPELINE).read_bytes()


def test_word_labels_need_the_positive_one(repository, cauce, cancer):
    cancer.to_csv(repository / "cancer.csv", index=False)
    before = tree_digest(repository)
    done = cauce(repository, "init", "--source", "cancer.csv", "--target", "diagnosis")
    assert done.code == ExitCode.USAGE
    assert (
        "cauce init: cancer.csv: column 'diagnosis' (--target) has labels 'benign', "
        "'malignant': pass --positive-label with the one the model's probability is for"
    ) in done.err
    assert tree_digest(repository) == before


def test_integer_labels_take_a_positive_label_as_a_number(repository, cauce):
    iris = sklearn_frame(load_iris, "species")
    iris = iris[iris["species"] > 0].assign(species=lambda f: f["species"].astype("int64"))
    done = init(
        cauce, repository, iris, "iris.parquet", "--target", "species", "--positive-label", "2"
    )
    assert done.code == ExitCode.OK, done.err
    assert params_of(repository)["data"]["positive_label"] == 2
    assert_the_pipeline_accepts_it(repository, "iris.parquet", "binary")
    contract = yaml.safe_load((repository / CONTRACT).read_text(encoding="utf-8"))
    species = {"type": "integer", "nullable": False, "allowed": [1, 2]}
    assert contract["columns"]["species"] == species

    options = ["--target", "species", "--positive-label", "two", "--force"]
    done = init(cauce, repository, iris, "iris.parquet", *options)
    assert done.code == ExitCode.USAGE
    assert (
        "--positive-label 'two': iris.parquet: column 'species' (--target) holds numbers; "
        "its labels are 1, 2"
    ) in done.err


def test_zero_one_labels_need_no_positive_label(repository, cauce, survey):
    done = init(cauce, repository, survey, "survey.csv", "--target", "bought")
    assert done.code == ExitCode.OK, done.err
    assert "positive label: 1 (of labels 0 and 1, the 1); the other is 0" in done.out
    assert params_of(repository)["data"]["positive_label"] == 1


def test_multiclass_is_inferred_from_a_few_integer_labels(repository, cauce):
    wine = sklearn_frame(load_wine, "cultivar")
    done = init(cauce, repository, wine, "wine.csv", "--target", "cultivar")
    assert done.code == ExitCode.OK, done.err
    assert "task: multiclass: column 'cultivar' has 3 labels: 0, 1, 2" in done.out
    assert params_of(repository)["data"]["positive_label"] is None
    assert_the_pipeline_accepts_it(repository, "wine.csv", "multiclass")
    assert set(params_of(repository)["gate"]["metrics"]) == {"log_loss", "accuracy", "macro_f1"}


def test_regression_is_inferred_from_many_numbers_and_its_tolerances_from_their_spread(
    repository, cauce
):
    diabetes = sklearn_frame(load_diabetes, "progression")
    done = init(cauce, repository, diabetes, "diabetes.parquet", "--target", "progression")
    assert done.code == ExitCode.OK, done.err
    assert (
        "task: regression: column 'progression' holds 214 whole numbers, more than 20: "
        "a quantity, not labels"
    ) in done.out
    assert_the_pipeline_accepts_it(repository, "diabetes.parquet", "regression")
    params = params_of(repository)
    spread = diabetes["progression"].std()
    assert params["gate"]["metrics"]["rmse"] == {"max_regression": float(f"{0.01 * spread:.2g}")}
    assert params["gate"]["metrics"]["r2"] == {"max_regression": 0.01}
    assert params["monitor"]["performance"]["max_drop"] == float(f"{0.02 * spread:.2g}")
    # Lines outside the plots are as they were.
    before, after = ((p / PIPELINE).read_text(encoding="utf-8") for p in (ROOT, repository))
    assert after.split("\nplots:")[0] == before.split("\nplots:")[0]
    assert after.split("\nartifacts:")[1] == before.split("\nartifacts:")[1]
    assert "\n\nartifacts:" in after


def test_each_column_gets_a_kind_or_a_reason(repository, cauce, survey):
    done = init(cauce, repository, survey, "survey.csv", "--target", "bought")
    assert done.code == ExitCode.OK, done.err
    features = params_of(repository)["features"]
    assert features["numeric"] == ["income", "visits"]
    assert features["categorical"] == ["level", "region"]
    assert features["ordinal"] == []
    lines = done.out.splitlines()
    assert (
        "feature 'level': categorical: 3 distinct text values, codes: 'high', 'low', 'mid', "
        "10.3% missing"
    ) in lines
    assert "feature 'region': categorical: 5 distinct whole numbers, codes: 1, 2, 3, 4, 5" in lines
    assert (
        "feature 'visits': numeric: 60 distinct whole numbers from 0 to 59, 3.3% missing"
    ) in lines
    assert any(line.startswith("excluded 'note': text of ") for line in lines)
    assert "excluded 'country': a single value ('ES'): it tells no row from another" in lines
    assert "excluded 'member': true and false: as a feature, store it as 0/1 to use it" in lines
    assert "time column: none: every row is split into train and test" in done.out
    assert "max_null_share: 0.15: the most missing is 10.3% in 'level'" in done.out
    contract = yaml.safe_load((repository / CONTRACT).read_text(encoding="utf-8"))
    assert contract["max_null_share"] == 0.15
    assert contract["columns"]["level"] == {
        "type": "string",
        "nullable": True,
        "allowed": ["high", "low", "mid"],
    }
    visits = {"type": "integer", "nullable": True, "min": 0}  # never negative; no max
    assert contract["columns"]["visits"] == visits
    assert set(contract["columns"]) == {"income", "level", "region", "visits", "bought"}
    assert_the_pipeline_accepts_it(repository, "survey.csv", "binary")


def test_numbers_with_a_few_bad_values_are_named_and_the_user_chooses(repository, cauce, survey):
    """A numeric column with three "?" and one with a decimal comma: left out, saying what
    was found and where, not "like an id" or "text of 600 values"; with `--missing ?`, the
    "?" are missing values, here and in ingest (data.missing_values)."""
    messy = survey.assign(income=survey["income"].astype(str), visits=survey["visits"].astype(str))
    messy.loc[[4, 17, 80], "income"] = "?"
    messy.loc[9, "visits"] = "1,5"
    done = init(cauce, repository, messy, "messy.csv", "--target", "bought")
    assert done.code == ExitCode.OK, done.err
    lines = done.out.splitlines()
    assert (
        "excluded 'income': numbers but for 3 values: '?' ×3 (row 4, 17, 80). Either they "
        "mean missing: rerun with --missing '?' (kept as data.missing_values, ingest reads "
        "them so), or fix them in the file; left out until then"
    ) in lines
    (visits,) = [line for line in lines if line.startswith("excluded 'visits'")]
    assert "numbers but for 1 values: '1,5' ×1 (row 9); '1,5' looks like a decimal comma" in visits
    assert "income" not in params_of(repository)["features"]["numeric"]

    done = init(
        cauce, repository, messy, "messy.csv", "--target", "bought", "--missing", "?", "--force"
    )
    assert done.code == ExitCode.OK, done.err
    assert "missing values: '?' read as missing (--missing), as ingest will" in done.out
    assert "feature 'income': numeric:" in done.out
    assert params_of(repository)["data"]["missing_values"] == ["?"]
    assert_the_pipeline_accepts_it(repository, "messy.csv", "binary")


def test_a_text_ordinal_takes_its_order_in_params(repository, cauce):
    """Text codes moved to features.ordinal as the guide says: without their order, one
    line naming the column and the list to write (validate runs this check, and init
    after drafting); with it, the model ranks them; an order that is not the contract's
    codes is named."""
    wines = datasets.wines_described()
    done = init(cauce, repository, wines.frame, "wines.csv", *wines.init_arguments)
    assert done.code == ExitCode.OK, done.err
    contract = load_contract(repository / CONTRACT)

    def with_ordinal(entry) -> Params:
        params = load_params(repository / PARAMS)
        features = params.features.model_copy(
            update={
                "categorical": [c for c in params.features.categorical if c != "colour"],
                "ordinal": [entry],
            }
        )
        return params.model_copy(update={"features": features})

    with pytest.raises(ConfigError) as caught:
        contract.require(with_ordinal("colour"))
    assert str(caught.value) == (
        "params.yaml: features.ordinal: 'colour' holds text (data/contract.yaml: type string), "
        "which has no order of its own: write it as `- colour: [deep, pale, ruby]`, its codes "
        "from lowest to highest (listed here as the contract has them: put them in their order)"
    )
    with pytest.raises(ConfigError) as caught:
        contract.require(with_ordinal({"colour": ["pale", "ruby", "dark"]}))
    assert "features.ordinal.colour: the order ranks 'dark' and leaves out 'deep'" in str(
        caught.value
    )
    ranked = with_ordinal({"colour": ["pale", "ruby", "deep"]})
    contract.require(ranked)
    pipeline = build_pipeline(ranked).fit(
        wines.frame[ranked.features.columns], wines.frame["cultivar"]
    )
    encoded = pipeline[0].transform(wines.frame[ranked.features.columns])["colour"]
    colours = wines.frame["colour"]
    for rank, colour in enumerate(["pale", "ruby", "deep"]):
        assert set(encoded[colours == colour]) == {rank}


def test_a_feature_with_infinite_values_is_left_out_naming_them(repository, cauce, survey):
    infinite = survey.assign(income=survey["income"].where(~survey.index.isin([3, 8]), np.inf))
    done = init(cauce, repository, infinite, "inf.parquet", "--target", "bought")
    assert done.code == ExitCode.OK, done.err
    assert (
        "excluded 'income': numbers but for 2 infinite values (row 3, 8): the contract takes "
        "finite numbers only (validate would stop on them); fix them in the file, or in a CSV "
        "read them as missing with --missing inf"
    ) in done.out.splitlines()


def test_a_unique_never_missing_column_is_declared_the_id_saying_so(repository, cauce):
    wines = datasets.wines_described()
    done = init(cauce, repository, wines.frame, "wines.csv", "--target", "cultivar")
    assert done.code == ExitCode.OK, done.err
    assert (
        "id column: 'id' (found): unique, never missing; not a feature; --id names another"
    ) in done.out.splitlines()
    assert params_of(repository)["data"]["id_column"] == "id"
    assert load_contract(repository / CONTRACT).columns["id"].unique


def test_a_european_csv_is_detected_and_its_format_kept_for_ingest(repository, cauce):
    """Real wines written as a European spreadsheet saves them: ';' between fields, a
    decimal comma, Latin-1 text with accents. init says what it found and keeps it in
    data.csv; read as plain CSV, the file's cause is named, not 'no column y'."""
    wines = datasets.wines_described()
    frame = wines.frame.assign(colour=wines.frame["colour"].replace({"pale": "pâle"}))
    path = repository / "vins.csv"
    frame.to_csv(path, sep=";", decimal=",", encoding="latin-1", index=False)
    done = cauce(repository, "init", "--source", "vins.csv", *wines.init_arguments)
    assert done.code == ExitCode.OK, done.err
    first = done.out.splitlines()[0]
    assert first.startswith("CSV: not UTF-8 (byte 0xe2 at offset ")
    assert first.endswith(
        "read as latin-1 (Western European); check the accents in the contract's codes; "
        "fields separated by ';'; numbers written with a decimal comma (1,5) (data.csv; "
        "--sep, --decimal, --encoding to override)"
    )
    assert params_of(repository)["data"]["csv"] == {
        "sep": ";",
        "decimal": ",",
        "encoding": "latin-1",
    }
    assert load_contract(repository / CONTRACT).columns["colour"].allowed == [
        "deep",
        "pâle",
        "ruby",
    ]
    assert_the_pipeline_accepts_it(repository, "vins.csv", "multiclass")
    with pytest.raises(DataError, match=r"vins.csv: not utf-8 text \(it holds byte 0xe2\)"):
        read_table(str(path))
    frame.to_csv(path, sep=";", decimal=",", index=False)  # UTF-8 this time
    with pytest.raises(DataError, match=r"its fields are separated by ';', not ','"):
        read_table(str(path))


def test_a_label_the_test_split_would_hold_few_of_is_a_warning(repository, cauce, survey):
    rare = pd.concat([survey[survey["region"] != 5], survey[survey["region"] == 5].head(30)])
    done = init(cauce, repository, rare, "rare.csv", "--target", "region")
    assert done.code == ExitCode.OK, done.err
    assert (
        "warning: label 5: 30 rows, about 6 in the test split: its recall, and the metrics "
        "averaged over labels, are noisy"
    ) in done.out.splitlines()


def test_a_boolean_target_is_binary_with_true_positive(repository, cauce, survey):
    survey.to_csv(repository / "survey.csv", index=False)
    done = cauce(repository, "init", "--source", "survey.csv", "--target", "member", "--force")
    assert done.code == ExitCode.OK, done.err
    assert "positive label: True (of labels false and true, true); the other is False" in done.out
    assert params_of(repository)["data"]["positive_label"] is True
    contract = yaml.safe_load((repository / CONTRACT).read_text(encoding="utf-8"))
    assert contract["columns"]["member"] == {"type": "boolean", "nullable": False}
    assert_the_pipeline_accepts_it(repository, "survey.csv", "binary")


def test_a_time_column_trains_on_every_year_but_the_newest(repository, cauce, survey):
    years = survey.assign(year=np.repeat([2019, 2020, 2021, 2022], 150), id=range(600))
    options = ["--target", "bought", "--time", "year", "--id", "id"]
    done = init(cauce, repository, years, "years.parquet", *options)
    assert done.code == ExitCode.OK, done.err
    assert "training years: 2019, 2020, 2021: the newest, 2022, plays production" in done.out
    data = params_of(repository)["data"]
    assert (data["year_column"], data["train_years"], data["id_column"]) == (
        "year",
        [2019, 2020, 2021],
        "id",
    )
    contract = yaml.safe_load((repository / CONTRACT).read_text(encoding="utf-8"))
    assert contract["columns"]["id"] == {"type": "integer", "nullable": False, "unique": True}
    assert contract["columns"]["year"] == {"type": "integer", "nullable": False, "min": 2019}
    assert "year" not in load_params(repository / PARAMS).features.columns
    assert_the_pipeline_accepts_it(repository, "years.parquet", "binary")


@pytest.mark.parametrize("stored", ["text", "datetimes"])
def test_a_date_column_is_a_time_column_of_its_years(repository, cauce, survey, stored):
    days = pd.Timestamp("2019-01-01") + pd.to_timedelta(np.arange(600) * 2, unit="D")
    dates = days.strftime("%Y-%m-%d") if stored == "text" else days
    options = ["--target", "bought", "--time", "surveyed", "--id", "id"]
    done = init(
        cauce, repository, survey.assign(surveyed=dates, id=range(600)), "d.parquet", *options
    )
    assert done.code == ExitCode.OK, done.err
    assert (
        "time column: 'surveyed' (--time), dates from 2019-01-01 to 2022-04-13, "
        "years 2019, 2020, 2021, 2022; not a feature" in done.out
    )
    assert "training years: 2019, 2020, 2021: the newest, 2022, plays production" in done.out
    contract = yaml.safe_load((repository / CONTRACT).read_text(encoding="utf-8"))
    assert contract["columns"]["surveyed"] == {"type": "date", "nullable": False}
    assert params_of(repository)["data"]["train_years"] == [2019, 2020, 2021]
    assert_the_pipeline_accepts_it(repository, "d.parquet", "binary")


def test_a_date_that_is_not_the_time_column_is_no_feature(repository, cauce, survey):
    dated = survey.assign(joined=pd.date_range("2020-01-01", periods=600, freq="D"))
    done = init(cauce, repository, dated, "d.parquet", "--target", "bought")
    assert done.code == ExitCode.OK, done.err
    assert "excluded 'joined': dates: not a feature" in done.out
    assert "joined" not in load_params(repository / PARAMS).features.columns


def test_every_comment_and_other_key_of_params_yaml_stays(repository, cauce, survey):
    before = (repository / PARAMS).read_text(encoding="utf-8")
    assert init(cauce, repository, survey, "survey.csv", "--target", "bought").code == 0
    after = (repository / PARAMS).read_text(encoding="utf-8")
    comments = re.compile(r"#.*")
    assert comments.findall(before) == [
        c for c in comments.findall(after) if "a min or max depends on your data" not in c
    ]
    old, new = yaml.safe_load(before), yaml.safe_load(after)
    for section in ("train", "notify", "serve"):
        assert new[section] == old[section]
    assert new["features"]["impute"] == old["features"]["impute"]
    assert {k: v for k, v in new["monitor"].items() if k != "performance"} == {
        k: v for k, v in old["monitor"].items() if k != "performance"
    }
    # Again, on what it wrote: the same bytes.
    assert init(cauce, repository, survey, "survey.csv", "--target", "bought", "--force").code == 0
    assert (repository / PARAMS).read_text(encoding="utf-8") == after


def test_the_written_contract_reads_back_as_drafted(survey):
    odd = survey.assign(answer=np.where(survey["bought"] == 1, "yes", "no"))
    drafted = draft(odd.rename(columns={"level": "level: #1"}), "odd.csv", "bought")
    loaded = yaml.safe_load(contract_text(drafted))
    assert loaded["columns"]["answer"]["allowed"] == ["no", "yes"]  # not YAML 1.1's booleans
    assert "level: #1" in loaded["columns"]
    assert drafted.contract.model_validate(loaded) == drafted.contract


def test_an_existing_contract_is_kept_without_force(repository, cauce, survey):
    (repository / CONTRACT).write_text("max_null_share: 0.05\n", encoding="utf-8")
    survey.to_csv(repository / "survey.csv", index=False)
    before = tree_digest(repository)
    options = ["--source", "survey.csv", "--target", "bought"]
    done = cauce(repository, "init", *options)
    assert done.code == ExitCode.FAILED
    assert (
        "cauce init: data/contract.yaml exists: cauce init would replace it; pass --force"
    ) in done.err
    assert tree_digest(repository) == before
    assert cauce(repository, "init", *options, "--force").code == ExitCode.OK
    assert load_contract(repository / CONTRACT).max_null_share == 0.15


def with_duplicate_id(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(id=range(len(frame)))
    frame.loc[5, "id"] = 3
    return frame


def logistic_regression(repository) -> None:
    path = repository / PARAMS
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("model: hist_gradient_boosting", "model: logistic_regression"))


# Each refusal: the options, what to do to the data or the repository first, the exit code
# and the message. Nothing is written.
REFUSALS = {
    "target-missing": (
        ["--target", "label"],
        None,
        ExitCode.DATA,
        "cauce init: bad.csv: no column 'label' (--target); its columns are income, level",
    ),
    "id-not-unique": (
        ["--target", "bought", "--id", "id"],
        with_duplicate_id,
        ExitCode.DATA,
        "bad.csv: column 'id' (--id) is not unique: 1 ids name more than one row, e.g. 3",
    ),
    "id-missing": (
        ["--target", "bought", "--id", "level"],
        None,
        ExitCode.DATA,
        "bad.csv: column 'level' (--id) is missing in 62 rows: every row needs an id",
    ),
    "a-bad-date-among-good-ones": (
        ["--target", "bought", "--time", "when"],
        lambda frame: frame.assign(
            when=["31/12/2016" if row == 7 else f"2016-0{row % 9 + 1}-01" for row in frame.index]
        ),
        ExitCode.DATA,
        "bad.csv: column 'when' (--time) holds row 7: '31/12/2016': a time column holds whole "
        "years like 2018 or ISO 8601 dates",
    ),
    "a-column-name-twice": (
        ["--target", "bought"],
        lambda frame: frame.rename(columns={"visits": "income"}),
        ExitCode.DATA,
        "bad.csv: column names repeated: 'income' (columns 1 and 4): name each column once",
    ),
    "time-not-years": (
        ["--target", "bought", "--time", "level"],
        None,
        ExitCode.DATA,
        "bad.csv: column 'level' (--time) holds ",
    ),
    "time-not-four-digits": (
        ["--target", "bought", "--time", "region"],
        None,
        ExitCode.DATA,
        "bad.csv: column 'region' (--time) holds 1, 2, 3, … (5 in all): years have four digits",
    ),
    "task-against-the-labels": (
        ["--target", "bought", "--task", "multiclass"],
        None,
        ExitCode.DATA,
        "bad.csv: column 'bought' (data.target) has 2 labels (0, 1); task multiclass needs 3 "
        "or more: set data.task: binary",
    ),
    "regression-on-words": (
        ["--target", "level", "--task", "regression"],
        None,
        ExitCode.DATA,
        "task regression needs numbers: set data.task: binary or multiclass",
    ),
    "positive-label-not-binary": (
        ["--target", "region", "--positive-label", "1"],
        None,
        ExitCode.USAGE,
        "--positive-label '1': only a binary task has one, not multiclass",
    ),
    "positive-label-not-a-label": (
        ["--target", "bought", "--positive-label", "7"],
        None,
        ExitCode.DATA,
        "data.positive_label = 7 is not a label of column 'bought'; its labels are 0, 1",
    ),
    "one-column-twice": (
        ["--target", "bought", "--id", "bought"],
        None,
        ExitCode.USAGE,
        "--target and --id both name column 'bought'",
    ),
    "unknown-task": (
        ["--target", "bought", "--task", "ranking"],
        None,
        ExitCode.USAGE,
        "argument --task: invalid choice: 'ranking'",
    ),
    "infinite-target": (
        ["--target", "income"],
        lambda frame: frame.assign(income=frame["income"].where(frame.index != 3, np.inf)),
        ExitCode.DATA,
        "bad.csv: column 'income' (--target) holds 1 infinite values (row 3): a target must be "
        "a finite number: fix those rows or drop them",
    ),
    "a-label-of-two-rows": (
        ["--target", "region"],
        lambda frame: pd.concat([frame[frame["region"] != 5], frame[frame["region"] == 5].head(2)]),
        ExitCode.DATA,
        "bad.csv: column 'region' (--target): labels with too few rows to be measured: 5 (2); "
        "with data.test_size 0.2 each label needs at least 5 rows",
    ),
    "a-label-of-one-row": (
        ["--target", "region"],
        lambda frame: pd.concat([frame[frame["region"] != 5], frame[frame["region"] == 5].head(1)]),
        ExitCode.DATA,
        "bad.csv: column 'region' (--target): labels with too few rows to be measured: 5 (1)",
    ),
    "four-rows-once-duplicates-go": (
        ["--target", "bought"],
        lambda frame: pd.concat([frame.sort_values("bought").iloc[[0, 1, -2, -1]]] * 25),
        ExitCode.DATA,
        "bad.csv: column 'bought' (--target): 4 labelled rows (after exact duplicates are "
        "dropped): with data.test_size 0.2 a split holds fewer than 10",
    ),
    "no-feature-left": (
        ["--target", "bought"],
        lambda frame: frame[["bought", "note", "country"]],
        ExitCode.DATA,
        "bad.csv: no column is left to be a feature: ",
    ),
    "params-against-the-task": (
        ["--target", "income"],
        logistic_regression,
        ExitCode.USAGE,
        "cauce init: configuration error:\nparams.yaml: train.model = 'logistic_regression': "
        "a classifier, and data.task is regression; use hist_gradient_boosting",
    ),
}


@pytest.mark.parametrize(("options", "prepare", "code", "message"), REFUSALS.values(), ids=REFUSALS)
def test_a_refusal_names_the_file_column_and_rule_and_writes_nothing(
    repository, cauce, survey, options, prepare, code, message
):
    frame = survey
    if prepare is logistic_regression:
        prepare(repository)
    elif prepare is not None:
        frame = prepare(survey)
    frame.to_csv(repository / "bad.csv", index=False)
    before = tree_digest(repository)
    done = cauce(repository, "init", "--source", "bad.csv", *options)
    assert done.code == code
    assert message in done.err
    assert tree_digest(repository) == before


def test_a_source_that_cannot_be_read_exits_5(repository, cauce):
    (repository / "broken.parquet").write_bytes(b"not parquet")
    done = cauce(repository, "init", "--source", "broken.parquet", "--target", "y")
    assert done.code == ExitCode.DATA
    assert "cauce init: broken.parquet: cannot be read as Parquet" in done.err
    assert not (repository / CONTRACT).exists()


@pytest.mark.slow
def test_dvc_repro_runs_on_what_init_drafted(tmp_path):
    """The whole pipeline on a drafted repository: a copy of this one, the census swapped
    for a small multiclass file."""
    space = Workspace.copy_of_repository(tmp_path / "repo", tool_environment(tmp_path))
    wine = sklearn_frame(load_wine, "cultivar")
    wine.to_csv(space.path / "data/source/wine.csv", index=False)
    space.run("git", "init", "-q", "-b", "main")
    space.run("git", "add", "-A")
    space.run("git", "commit", "-q", "-m", "cauce")
    options = ["--source", "data/source/wine.csv", "--target", "cultivar", "--force"]
    space.run("cauce", "init", *options)
    result, stages = space.repro()
    assert stages == ["ingest", "validate", "prepare", "train", "evaluate"], result.stdout
    validation = json.loads((space.path / VALIDATION_REPORT).read_text(encoding="utf-8"))
    assert (validation["status"], validation["rows"]) == ("passed", len(wine))
    metrics = json.loads((space.path / EVALUATE_METRICS).read_text(encoding="utf-8"))
    assert set(metrics) >= {"log_loss", "accuracy", "macro_f1"}


GUIDE = ROOT / "docs/bring-your-own-data.md"


def test_the_guide_shows_what_init_prints_today(repository, cauce):
    command = "$ cauce init --source data/source/diabetes.csv --target progression --force\n"
    shown = GUIDE.read_text(encoding="utf-8").split(command, 1)[1].split("```", 1)[0]
    (repository / "data/source").mkdir()
    diabetes = sklearn_frame(load_diabetes, "progression")
    diabetes.to_csv(repository / "data/source/diabetes.csv", index=False)
    (repository / CONTRACT).write_bytes((ROOT / CONTRACT).read_bytes())
    done = cauce(repository, *command.split()[2:])
    assert done.code == ExitCode.OK, done.err
    assert done.out == shown
    # and the params.yaml diff it shows, its hunks' headers as "..."
    before = (ROOT / PARAMS).read_text(encoding="utf-8").splitlines()
    after = (repository / PARAMS).read_text(encoding="utf-8").splitlines()
    hunks = list(difflib.unified_diff(before, after, n=1, lineterm=""))[2:]
    real = [" ..." if line.startswith("@@") else line for line in hunks][1:]
    guide = GUIDE.read_text(encoding="utf-8").split("```diff\n", 1)[1].split("```", 1)[0]
    assert guide.splitlines() == real


def test_the_guide_lists_each_tasks_metrics_and_plots_as_the_code_has_them():
    rows = [
        line for line in GUIDE.read_text(encoding="utf-8").splitlines() if line.startswith("| `")
    ]
    for task in TASKS:
        row = next(line for line in rows if line.startswith(f"| `{task}` |"))
        metrics = [PRIMARY[task], *(name for name in of_task(task) if name != PRIMARY[task])]
        assert ", ".join(f"`{name}`" for name in metrics) in row
        assert all(plot.title.lower() in row.lower() for plot in PLOTS[task]), row


def test_the_rows_init_measures_are_those_prepare_will_split(repository, cauce, survey):
    """With a time column, prepare splits the training years only (the newest plays
    production): 15 rows of 2018 and 585 of 2019 are too few to train on, and init says so
    as prepare would."""
    dated = survey.assign(year=[2018] * 15 + [2019] * (len(survey) - 15))
    done = init(cauce, repository, dated, "dated.csv", "--target", "bought", "--time", "year")
    assert done.code == ExitCode.DATA
    assert "dated.csv: column 'bought' (--target): 15 labelled rows" in done.err
