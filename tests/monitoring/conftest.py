"""A directory laid out like a checkout after `dvc repro`, and `cauce monitor` run in it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from cauce.files import write_json
from cauce.layout import CONTRACT, DRIFT_RECORD, EVALUATE_METRICS, PARAMS, SCORE_PROFILE
from cauce.metrics import compute_all
from cauce.model import score
from cauce.pipeline.prepare import split
from cauce.profile import numeric_profile
from tests.conftest import ROOT, small_model, tool_environment


@pytest.fixture(scope="module")
def checkout(tmp_path_factory, params, source_2015) -> Path:
    """A directory laid out like a checkout after `dvc repro`, on 6,000 rows of 2015."""
    root = tmp_path_factory.mktemp("checkout")
    for path in (PARAMS, CONTRACT):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, root / path)
    train, test = split(source_2015.sample(n=6000, random_state=0), params)
    model = small_model(root, params, train)
    probability = score(model, test)
    write_json(root / SCORE_PROFILE, numeric_profile(probability))
    y = test[params.data.target].to_numpy()
    write_json(
        root / EVALUATE_METRICS,
        compute_all("binary", y, probability, params.evaluate.threshold),
    )
    test.to_parquet(root / "test.parquet")
    return root


def monitor(checkout: Path, batch: pd.DataFrame | str, name: str = "batch.parquet"):
    """Run `cauce monitor` on `batch` (a frame written to `name`, or raw file text)."""
    file = checkout / name
    if isinstance(batch, str):
        file.write_text(batch)
    elif name.endswith(".csv"):
        batch.to_csv(file, index=False)
    else:
        batch.to_parquet(file)
    command = ["cauce", "monitor", "--batch", name, "--model-dir", "models"]
    env = tool_environment(checkout)  # a warm process (tests/warm.py)
    return subprocess.run(
        command, cwd=checkout, env=env, capture_output=True, text=True, check=False
    )


def record(checkout: Path) -> dict:
    return json.loads((checkout / DRIFT_RECORD).read_text())
