"""The bad-input matrix for the two configuration files a data scientist edits: a broken
`params.yaml` stops `cauce ingest`, a broken `data/contract.yaml` stops `cauce validate`,
both before anything is written. Each case: exit 2, a message naming the file, the key and
the rule, and the outputs of the last good run intact. docs/reliability.md lists them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from cauce import ExitCode
from cauce.layout import CONTRACT
from tests.pipeline.conftest import GOOD, outputs


def edited(change: Callable[[dict], object]) -> Callable[[str], bytes]:
    """The YAML text with `change` applied to its parsed form (which it edits in place)."""

    def apply(text: str) -> bytes:
        document = yaml.safe_load(text)
        change(document)
        return yaml.safe_dump(document, sort_keys=False).encode()

    return apply


def raw(content: bytes | None) -> Callable[[str], bytes | None]:
    """The file's new bytes whatever it held; None: the file is deleted."""
    return lambda _: content


def remove(section: dict, key: str) -> None:
    del section[key]


# (how params.yaml is changed, words the message must hold after "params-bad.yaml: ")
PARAMS: dict[str, tuple[Callable[[str], bytes | None], str]] = {
    "not-yaml": (raw(b"data: [source\n"), "not valid YAML"),
    "not-a-mapping": (raw(b"- data\n- train\n"), "expected a mapping of sections, found list"),
    "not-utf8": (raw(b"data:\n  source: \xff\xfe\n"), "not UTF-8 text"),
    "empty-file": (raw(b""), "the file is empty; expected a mapping of sections"),
    "unknown-key": (
        edited(lambda p: p["data"].update(sorce="x.parquet")),
        "data.sorce: unknown key; allowed here:",
    ),
    "missing-key": (
        edited(lambda p: remove(p["data"], "target")),
        "data.target: required key is missing",
    ),
    "text-for-a-number": (
        edited(lambda p: p["data"].update(max_rows="many")),
        "data.max_rows = 'many': input should be a valid integer",
    ),
    "unknown-model": (
        edited(lambda p: p["train"].update(model="xgboost")),
        "train.model = 'xgboost': must be one of",
    ),
    "test-size-above-one": (
        edited(lambda p: p["data"].update(test_size=1.5)),
        "data.test_size = 1.5: input should be less than 1",
    ),
    "negative-threshold": (
        edited(lambda p: p["evaluate"].update(threshold=-0.1)),
        "evaluate.threshold = -0.1: input should be greater than 0",
    ),
    "feature-in-two-kinds": (
        edited(lambda p: p["features"].update(numeric=["AGEP", "SCHL"])),
        "features.numeric/ordinal/categorical: listed more than once: SCHL",
    ),
}


@pytest.mark.parametrize("case", PARAMS.values(), ids=PARAMS.keys())
def test_a_params_file_that_breaks_a_rule(checkout, cauce, case):
    change, words = case
    bad = checkout / "params-bad.yaml"
    bad.write_bytes(change((checkout / f"params-{Path(GOOD).name}.yaml").read_text()))
    before = outputs(checkout)
    result = cauce(checkout, "--params", str(bad), "ingest")
    assert result.code == ExitCode.USAGE, result.err
    assert "cauce ingest: configuration error:" in result.err
    assert f"{bad}: " in result.err
    assert words in result.err
    assert outputs(checkout) == before


def test_a_params_file_that_is_not_there(checkout, cauce):
    result = cauce(checkout, "--params", "absent.yaml", "ingest")
    assert result.code == ExitCode.USAGE
    assert "absent.yaml: file not found" in result.err


# (how data/contract.yaml is changed, words the message must hold after its name)
CONTRACTS: dict[str, tuple[Callable[[str], bytes | None], str]] = {
    "not-yaml": (raw(b"columns: {AGEP: [\n"), "not valid YAML"),
    "unknown-rule": (
        edited(lambda c: c["columns"]["AGEP"].update(maximum=3)),
        "columns.AGEP.maximum: unknown key",
    ),
    "unknown-type": (
        edited(lambda c: c["columns"]["AGEP"].update(type="text")),
        "columns.AGEP.type = 'text': must be one of",
    ),
    "range-and-codes": (
        edited(lambda c: c["columns"]["MAR"].update(min=1)),
        "allowed: give either allowed codes or a min/max range, not both",
    ),
    "null-share-above-one": (
        edited(lambda c: c.update(max_null_share=1.5)),
        "max_null_share = 1.5: input should be less than or equal to 1",
    ),
    "no-columns": (
        edited(lambda c: c.update(columns={})),
        "columns = {}: dictionary should have at least 1 item",
    ),
    "used-column-undeclared": (
        edited(lambda c: remove(c["columns"], "SCHL")),
        "columns used in params.yaml are not declared: SCHL",
    ),
    "empty-file": (raw(b""), "the file is empty; expected a mapping of sections"),
    "missing-file": (raw(None), "file not found"),
}


@pytest.mark.parametrize("case", CONTRACTS.values(), ids=CONTRACTS.keys())
def test_a_contract_that_breaks_a_rule(checkout, cauce, case):
    change, words = case
    contract = checkout / CONTRACT
    text = change(contract.read_text())
    if text is None:
        contract.unlink()
    else:
        contract.write_bytes(text)
    before = outputs(checkout)
    params = f"params-{Path(GOOD).name}.yaml"
    result = cauce(checkout, "--params", params, "validate")
    assert result.code == ExitCode.USAGE, result.err
    assert f"{CONTRACT}: " in result.err
    assert words in result.err
    assert outputs(checkout) == before
