"""Shared fixtures: the repository's own params and a sample of the embedded data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd
import pytest

from cauce.config import Params, load_params

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "data/source/acs_employment_ma_2015_2018.parquet"


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="session")
def source_2015() -> pd.DataFrame:
    frame = pd.read_parquet(SOURCE)
    return frame[frame["year"] == 2015].reset_index(drop=True)


def tool_environment(home: Path) -> dict[str, str]:
    """Environment for real git/dvc/cauce processes: this venv first, a throwaway identity."""
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "cauce tests",
        "GIT_AUTHOR_EMAIL": "tests@cauce.invalid",
        "GIT_COMMITTER_NAME": "cauce tests",
        "GIT_COMMITTER_EMAIL": "tests@cauce.invalid",
        "GIT_CONFIG_GLOBAL": str(home / "gitconfig"),
        "DVC_NO_ANALYTICS": "1",
    }


@pytest.fixture
def tool_env(tmp_path: Path) -> dict[str, str]:
    return tool_environment(tmp_path)
