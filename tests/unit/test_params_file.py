"""params.yaml is kept in the form `dvc exp run -S` writes, so that an experiment that sets
one value changes one line of the PR's params diff (DVC's own code does the writing)."""

from __future__ import annotations

import pytest
from tests.conftest import ROOT

from cauce.config import ConfigError
from cauce.params_file import in_dvc_form

TEXT = (ROOT / "params.yaml").read_text(encoding="utf-8")


def test_params_yaml_is_in_the_form_dvc_writes():
    assert in_dvc_form(TEXT) == TEXT


@pytest.mark.parametrize(
    "override",
    [
        "train.hist_gradient_boosting.max_leaf_nodes=63",
        "train.model=logistic_regression",
        "data.max_rows=5000",
        "evaluate.threshold=0.4",
    ],
)
def test_setting_one_value_changes_one_line(override):
    before, after = TEXT.splitlines(), in_dvc_form(TEXT, [override]).splitlines()
    assert len(before) == len(after)
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    key, value = override.split("=")
    assert len(changed) == 1, changed
    assert changed[0][1].split("#")[0].strip() == f"{key.rsplit('.', 1)[1]}: {value}"


def test_a_key_params_yaml_lacks_is_refused_with_its_name():
    with pytest.raises(ConfigError, match=r"params\.yaml: cannot set train\.depth=3"):
        in_dvc_form(TEXT, ["train.depth=3"])
