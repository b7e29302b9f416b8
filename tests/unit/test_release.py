"""The release's policy on literal inputs: what a change is (major, minor, patch), the
next version number, and the reason printed when a version is held back."""

from __future__ import annotations

import pytest

from cauce.ops import release
from cauce.ops.registry import bump
from cauce.ops.release import Inputs, classify

SCHEMA = {
    "AGEP": {"kind": "numeric", "rule": {"type": "integer", "min": 0, "max": 99}},
    "SEX": {"kind": "categorical", "rule": {"type": "integer", "allowed": [1, 2]}},
}
BEFORE = Inputs(
    files={"src/cauce/pipeline/train.py": "a" * 32, "data/source/acs.parquet": "b" * 32},
    params={"train.max_iter": 200, "data.max_rows": None, "features.numeric": ["AGEP"]},
    commands={"ingest": "cauce ingest", "train": "cauce train"},
    schema=SCHEMA,
    model="c" * 32 + ".dir",
)


def changed(**fields) -> Inputs:
    return Inputs(**{**BEFORE.__dict__, "model": "d" * 32 + ".dir", **fields})


def test_nothing_changed_is_no_release():
    change = classify(BEFORE, BEFORE)
    assert change.level is None
    assert change.reasons == []


def test_a_data_parameter_or_the_source_is_a_patch():
    change = classify(BEFORE, changed(params={**BEFORE.params, "data.max_rows": 4000}))
    assert (change.level, change.reasons) == ("patch", ["params: data.max_rows None → 4000"])
    source = {**BEFORE.files, "data/source/acs.parquet": "e" * 32}
    change = classify(BEFORE, changed(files=source))
    assert (change.level, change.reasons) == ("patch", ["data: data/source/acs.parquet content"])


def test_code_a_training_parameter_or_a_command_is_a_minor():
    code = {**BEFORE.files, "src/cauce/pipeline/train.py": "f" * 32}
    assert classify(BEFORE, changed(files=code)).reasons == ["code: src/cauce/pipeline/train.py"]
    params = {**BEFORE.params, "train.max_iter": 40}
    change = classify(BEFORE, changed(params=params))
    assert (change.level, change.reasons) == ("minor", ["params: train.max_iter 200 → 40"])
    commands = {**BEFORE.commands, "train": "cauce train --fast"}
    change = classify(BEFORE, changed(commands=commands))
    assert (change.level, change.reasons) == ("minor", ["command of train: cauce train --fast"])


def test_a_schema_change_is_a_major_whatever_else_changed():
    schema = {"AGEP": SCHEMA["AGEP"]}
    params = {**BEFORE.params, "train.max_iter": 40}
    change = classify(BEFORE, changed(schema=schema, params=params))
    assert change.level == "major"
    assert change.reasons == ["input schema: SEX removed", "params: train.max_iter 200 → 40"]
    tighter = {**SCHEMA, "AGEP": {"kind": "numeric", "rule": {"type": "integer", "max": 90}}}
    assert classify(BEFORE, changed(schema=tighter)).reasons == ["input schema: AGEP changed"]
    wider = {**SCHEMA, "MAR": {"kind": "categorical", "rule": None}}
    assert classify(BEFORE, changed(schema=wider)).reasons == ["input schema: MAR added"]


def test_feature_lists_count_as_schema_not_as_parameters():
    params = {**BEFORE.params, "features.numeric": ["AGEP", "WKHP"]}
    assert classify(BEFORE, changed(params=params, model=BEFORE.model)).reasons == []


def test_other_bytes_from_the_same_inputs_is_a_patch_that_says_so():
    change = classify(BEFORE, changed())
    assert (change.level, change.reasons) == ("patch", ["model: other bytes from the same inputs"])


@pytest.mark.parametrize(
    ("previous", "level", "expected"),
    [
        (None, "minor", "v0.1.0"),
        ("v0.2.3", "major", "v1.0.0"),
        ("v0.2.3", "minor", "v0.3.0"),
        ("v0.2.3", "patch", "v0.2.4"),
        ("v1.9.0", "minor", "v1.10.0"),
    ],
)
def test_bump(previous, level, expected):
    assert bump(previous, level) == expected


def test_a_held_back_version_names_the_first_failure_as_the_report_orders_them(params, monkeypatch):
    """roc_auc regresses against production and accuracy breaks its floor: the policy
    lists the regression first, the report (and so the release) the broken bound."""
    mine = {"roc_auc": 0.90, "average_precision": 0.88, "accuracy": 0.70, "log_loss": 0.37}
    champion = {**mine, "roc_auc": 0.95, "accuracy": 0.70}
    files = {"reports/evaluate/metrics.json": mine, "reports/evaluate/groups.json": {}}
    monkeypatch.setattr(release.revisions, "read_json", lambda path, *_: files[str(path)])

    def scored(evidence, _params, version):
        evidence.champion, evidence.champion_metrics, evidence.champion_groups = (
            version,
            champion,
            {},
        )

    monkeypatch.setattr(release, "against_production", scored)
    decision = release.judge(params, "v0.2.0", "model@v0.1.0")
    assert not decision.promote
    assert decision.reason == "v0.2.0 stays in staging: accuracy 0.7000 is below the floor 0.78"


def test_a_version_that_cannot_be_compared_with_production_stays_in_staging(params, monkeypatch):
    """Another target (a flipped positive label, say): production's scores would not mean
    what the new model's mean, so the release does not decide on them."""
    from cauce.ops.gate import UnpairedError

    mine = {"roc_auc": 0.90, "average_precision": 0.88, "accuracy": 0.83, "log_loss": 0.37}
    files = {"reports/evaluate/metrics.json": mine, "reports/evaluate/groups.json": {}}
    monkeypatch.setattr(release.revisions, "read_json", lambda path, *_: files[str(path)])

    def unpaired(*_):
        raise UnpairedError("its model predicts 'employed' (binary, [0, 1]), this checkout's …")

    monkeypatch.setattr(release, "against_production", unpaired)
    decision = release.judge(params, "v0.2.0", "model@v0.1.0")
    assert not decision.promote
    assert decision.reason == (
        "v0.2.0 stays in staging: model@v0.1.0 cannot be compared with it (its model predicts "
        "'employed' (binary, [0, 1]), this checkout's …); review both, then promote by hand "
        "(gto assign model --version v0.2.0 --stage prod)"
    )
