"""params.yaml errors name the key, the value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import ROOT

from cauce.config import ConfigError, load_params

GOOD = (ROOT / "params.yaml").read_text(encoding="utf-8")


def load_with(tmp_path: Path, old: str, new: str):
    assert old in GOOD, f"fixture text {old!r} is no longer in params.yaml"
    path = tmp_path / "params.yaml"
    path.write_text(GOOD.replace(old, new, 1), encoding="utf-8")
    return load_params(path)


def test_the_repository_params_load(params):
    assert params.train.model == "hist_gradient_boosting"
    assert params.train.estimator_params()["max_iter"] > 0
    assert "SEX" in params.features.categorical


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "model: hist_gradient_boosting",
            "model: xgboost",
            "train.model = 'xgboost': must be one of "
            "'hist_gradient_boosting', 'logistic_regression', 'ridge'",
        ),
        (
            "  seed: 42",
            "  seed: 42\n  colour: red",
            "data.colour: unknown key; allowed here: source, missing_values, csv, task, "
            "target, positive_label, id_column, year_column, train_years, test_size, seed, "
            "max_rows",
        ),
        ("test_size: 0.2", "test_size: 1.5", "data.test_size = 1.5: input should be less than 1"),
        ("seed: 42", "seed: '42'", "data.seed = '42': input should be a valid integer"),
        (
            "  train_years:               # later years play the part of production data\n  - 2015",
            "  train_years: []",
            "data.train_years = []: list should have at least 1 item",
        ),
        (
            "    C: 1.0",
            "    C: -1",
            "train.logistic_regression.C = -1: input should be greater than 0",
        ),
        (
            "log_loss: {max:",
            "log_loss: {min:",
            "gate.metrics.log_loss.min = 0.5: log_loss is better when lower, so bound it with max",
        ),
        (
            "roc_auc: {min: 0.85,",
            "roc_auc: {min: 0.85, maxx: 1,",
            "gate.metrics.roc_auc.maxx: unknown key; allowed here: min, max, max_regression",
        ),
        (
            "    roc_auc: {",
            "    auc: {",
            "gate.metrics.auc = 'auc': must be one of 'roc_auc', 'average_precision', "
            "'accuracy', 'f1', 'precision', 'recall', 'macro_f1', 'log_loss', 'brier', 'rmse', "
            "'mae', 'r2'",
        ),
        (
            "  - RAC1P\n  permutation_importance:",
            "  - INCOME\n  permutation_importance:",
            "evaluate.slices: INCOME must be feature columns (one of AGEP, SCHL",
        ),
        (
            "  numeric:\n  - AGEP\n",
            "  numeric:\n  - AGEP\n  - SEX\n",
            "features.numeric/ordinal/categorical: listed more than once: SEX",
        ),
        (
            "  numeric:\n  - AGEP\n",
            "  numeric:\n  - AGEP\n  - employed\n",
            "features: employed is an id, target or year column",
        ),
        ("\ntrain:", "\ntraining:", "train: required key is missing"),
    ],
)
def test_a_bad_value_names_key_value_and_rule(tmp_path, old, new, message):
    with pytest.raises(ConfigError) as caught:
        load_with(tmp_path, old, new)
    assert message in str(caught.value)
    assert str(tmp_path / "params.yaml") in str(caught.value)


def test_every_problem_is_reported_at_once(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(GOOD.replace("seed: 42", "seed: x").replace("C: 1.0", "C: 0"), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_params(path)
    assert "data.seed" in str(caught.value)
    assert "train.logistic_regression.C" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("data: [unclosed", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping of sections, found list"),
    ],
)
def test_unreadable_files_are_named(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_params(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"nowhere\.yaml: file not found"):
        load_params(tmp_path / "nowhere.yaml")
