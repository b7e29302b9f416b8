"""The bad-input matrix for model files: a model directory whose skops file, model card or
serving record is missing, damaged, tampered with or of a foreign kind. `cauce score`,
`cauce serve` and `cauce monitor` refuse it with exit 6 and a message naming the file and
the rule, before they load anything or write anything: the last good predictions stay.
docs/reliability.md lists every case."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import skops.io as sio
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from cauce import ExitCode
from cauce.files import file_sha256
from cauce.layout import CONTRACT, MODEL_CARD, MODEL_FILE, REFERENCE_PROFILE, SERVING_INFO
from tests.conftest import ROOT, tool_environment, tree_digest
from tests.serving.conftest import MODEL, OUTPUT, free_port

CARD, SKOPS = MODEL_CARD.name, MODEL_FILE.name


def recorded(content: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    """model.skops replaced by `content` of it, and model.json updated to match: a file
    damaged or swapped by someone who also rewrote the record, so that only loading it
    can tell."""

    def change(model: Path) -> None:
        (model / SKOPS).write_bytes(content((model / SKOPS).read_bytes()))
        card = json.loads((model / CARD).read_text())
        card["model_sha256"] = file_sha256(model / SKOPS)
        (model / CARD).write_text(json.dumps(card))

    return change


def zip_of(names: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in names.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def written(name: str, content: bytes | None) -> Callable[[Path], None]:
    """`name` in the model directory given `content`; None deletes it."""

    def change(model: Path) -> None:
        if content is None:
            (model / name).unlink()
        else:
            (model / name).write_bytes(content)

    return change


def card_without(key: str) -> Callable[[Path], None]:
    def change(model: Path) -> None:
        card = json.loads((model / CARD).read_text())
        del card[key]
        (model / CARD).write_text(json.dumps(card))

    return change


def appended(model: Path) -> None:
    with (model / SKOPS).open("ab") as file:
        file.write(b"\0")


A_SHELL = Pipeline([("run", FunctionTransformer(os.system))])  # what an attacker would ship

# (how the model directory is damaged, words the message must hold besides the file name)
MODEL_FILES: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "skops-missing": (written(SKOPS, None), SKOPS, "not found"),
    "skops-tampered": (appended, SKOPS, f"differs from the .* recorded in {CARD}"),
    "skops-empty": (recorded(lambda _: b""), SKOPS, "not a readable skops model file"),
    "skops-truncated": (
        recorded(lambda data: data[: len(data) // 2]),
        SKOPS,
        "not a readable skops model file",
    ),
    "skops-text": (recorded(lambda _: b"not a model\n"), SKOPS, "not a readable skops"),
    "zip-not-skops": (
        recorded(lambda _: zip_of({"notes.txt": b"hello"})),
        SKOPS,
        "not a readable skops model file",
    ),
    "foreign-type": (
        recorded(lambda _: sio.dumps({"weights": [1, 2]})),
        SKOPS,
        "holds a dict, not a scikit-learn Pipeline",
    ),
    "untrusted-type": (
        recorded(lambda _: sio.dumps(A_SHELL)),
        SKOPS,
        "refusing to load a model that needs untrusted types: .*system",
    ),
    "card-missing": (written(CARD, None), CARD, "not found"),
    "card-not-json": (written(CARD, b"{threshold: 0.5"), CARD, "not JSON"),
    "card-not-utf8": (written(CARD, b"\xff\xfe{}"), CARD, "not JSON"),
    "card-a-list": (written(CARD, b"[0.5]"), CARD, "holds a JSON list, not an object"),
    "card-without-schema": (
        card_without("input_schema"),
        CARD,
        "not a cauce model.json: input_schema",
    ),
    "serving-record-not-json": (written(SERVING_INFO, b"version: v1"), SERVING_INFO, "not JSON"),
}


@pytest.mark.parametrize("case", MODEL_FILES.values(), ids=MODEL_FILES.keys())
def test_score_refuses_a_bad_model_directory(scored_checkout, cauce, case):
    damage, name, words = case
    damage(scored_checkout / "model")
    before = tree_digest(scored_checkout / "out")
    command = ("score", "--input", "good.parquet", "--output", OUTPUT, *MODEL)
    result = cauce(scored_checkout, *command)
    assert result.code == ExitCode.MODEL_FILE, result.err
    assert f"model/{name}: " in result.err
    assert re.search(words, result.err), result.err
    assert tree_digest(scored_checkout / "out") == before


SERVED = ("skops-tampered", "card-not-json", "card-without-schema", "serving-record-not-json")


@pytest.mark.parametrize("case", [MODEL_FILES[name] for name in SERVED], ids=SERVED)
def test_serve_refuses_a_bad_model_directory_before_it_listens(scored_checkout, case):
    damage, name, words = case
    damage(scored_checkout / "model")
    port = str(free_port())
    result = subprocess.run(
        ["cauce", "serve", *MODEL, "--port", port],
        cwd=scored_checkout,
        env=tool_environment(scored_checkout),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == ExitCode.MODEL_FILE, result.stderr
    assert f"model/{name}: " in result.stderr
    assert re.search(words, result.stderr), result.stderr
    assert "Traceback" not in result.stderr


def test_monitor_refuses_a_model_directory_without_its_reference(scored_checkout, cauce):
    (scored_checkout / CONTRACT).parent.mkdir(parents=True)
    shutil.copy(ROOT / CONTRACT, scored_checkout / CONTRACT)
    (scored_checkout / "model" / REFERENCE_PROFILE.name).unlink()
    result = cauce(scored_checkout, "monitor", "--batch", "good.parquet", *MODEL)
    assert result.code == ExitCode.MODEL_FILE, result.err
    assert f"model/{REFERENCE_PROFILE.name}: not found" in result.err
