"""A directory after a good `cauce ingest` and `cauce validate`, for the bad-input matrix."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from cauce import ExitCode
from cauce.layout import CONTRACT, RAW, VALIDATION_REPORT
from tests.conftest import ROOT, SOURCE, tree_digest

GOOD = "data/source/good.parquet"


def params_for(root: Path, source: str) -> Path:
    """A params file like the repository's, reading `source`; its path."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    params["data"]["source"] = source
    path = root / f"params-{Path(source).name}.yaml"
    path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    frame = pd.read_parquet(SOURCE)
    return frame[frame["year"].isin([2015, 2016])].sample(n=3000, random_state=3)


@pytest.fixture
def checkout(tmp_path, sample, cauce) -> Path:
    """A directory after a good `cauce ingest` and `cauce validate`."""
    (tmp_path / "data/source").mkdir(parents=True)
    (tmp_path / CONTRACT).write_bytes((ROOT / CONTRACT).read_bytes())
    sample.to_parquet(tmp_path / GOOD)
    params = str(params_for(tmp_path, GOOD))
    for stage in ("ingest", "validate"):
        assert cauce(tmp_path, "--params", params, stage).code == ExitCode.OK
    return tmp_path


def outputs(root: Path) -> dict[str, str]:
    """What a good ingest and validate left: compared before and after a bad input."""
    return tree_digest(root / RAW.parent) | tree_digest(root / VALIDATION_REPORT.parent)
