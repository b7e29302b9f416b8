"""Shared fixtures: the repository's own params and a sample of the embedded data."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cauce.config import Params, load_params

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "data/source/acs_employment_ma_2015_2018.parquet"
# params for end-to-end runs: a seeded 4,000-row slice and a quick model
SMALL = {
    "data.max_rows": 4000,
    "train.hist_gradient_boosting.max_iter": 40,
    "evaluate.permutation_importance.n_repeats": 2,
}


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="session")
def source_2015() -> pd.DataFrame:
    frame = pd.read_parquet(SOURCE)
    return frame[frame["year"] == 2015].reset_index(drop=True)


def small_model(root: Path, params: Params, train: pd.DataFrame):
    """Fit the configured pipeline on `train` and write models/ under `root` as the train
    stage does (model, card with its schema and hash, reference profile); the pipeline."""
    from cauce.files import file_sha256, write_json
    from cauce.layout import MODEL_CARD, MODEL_FILE, REFERENCE_PROFILE
    from cauce.model import save_model
    from cauce.pipeline.train import build_pipeline, input_schema
    from cauce.pipeline.validate import load_contract
    from cauce.profile import reference_profile

    columns = params.features.columns
    model = build_pipeline(params).fit(train[columns], train[params.data.target])
    save_model(model, root / MODEL_FILE)
    card = {
        "threshold": params.evaluate.threshold,
        "input_schema": input_schema(params, load_contract(ROOT / "data/contract.yaml")),
        "model_sha256": file_sha256(root / MODEL_FILE),
    }
    write_json(root / MODEL_CARD, card)
    write_json(
        root / REFERENCE_PROFILE, reference_profile(train[columns], params.features.categorical)
    )
    return model


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under `root` and its sha256: compared before and after, "nothing lost"."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@dataclass(frozen=True)
class Outcome:
    code: int
    out: str
    err: str


@pytest.fixture
def cauce(monkeypatch, capsys) -> Callable[..., Outcome]:
    """`cauce ARGS` run in process in a directory: its exit code and what it printed.
    The bad-input matrix runs hundreds of cases; a process each would take minutes."""
    from cauce.cli import main

    def run(root: Path, *argv: str) -> Outcome:
        monkeypatch.chdir(root)
        try:
            code = main(list(argv))
        except SystemExit as stop:  # argparse refuses an option
            code = stop.code
        printed = capsys.readouterr()
        assert "Traceback" not in printed.err
        return Outcome(int(code), printed.out, printed.err)

    return run


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


class Workspace:
    """A directory where tests drive real git, dvc, gto and cauce processes."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.path = path
        # The workspace's own code runs (as in a real checkout), not this repository's.
        self.env = {**env, "PYTHONPATH": str(path / "src")}

    @classmethod
    def copy_of_repository(cls, path: Path, env: dict[str, str]) -> Workspace:
        """The files git tracks in this repository, copied to `path`."""
        tracked = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split("\0")
        for name in filter(None, tracked):
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, path / name)
        return cls(path, env)

    def run(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            command, cwd=self.path, env=self.env, capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def repro(self, check: bool = True) -> tuple[subprocess.CompletedProcess, list[str]]:
        result = self.run("dvc", "repro", check=check)
        ran = [
            line.split("'")[1]
            for line in result.stdout.splitlines()
            if line.startswith("Running stage '")
        ]
        return result, ran

    def set_params(self, changes: dict[str, object]) -> None:
        path = self.path / "params.yaml"
        params = yaml.safe_load(path.read_text(encoding="utf-8"))
        for dotted, value in changes.items():
            *parents, leaf = dotted.split(".")
            section = params
            for key in parents:
                section = section[key]
            section[leaf] = value
        path.write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")

    def merge(self, message: str, **changes: object) -> None:
        """What a merged PR leaves on main: changed params, dvc repro, a commit, a push."""
        self.set_params(changes)
        self.run("dvc", "repro")
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)
        self.run("git", "push", "-q", "origin", "main")

    def tree_digest(self, folder: str) -> dict[str, str]:
        return tree_digest(self.path / folder)


def baseline_clone(root: Path, remote: bool = True) -> Workspace:
    """A bare `origin` whose main holds a reproduced baseline (small params), and a clone.

    `before-first-run` tags the commit before any `dvc repro`: no dvc.lock, no reports.
    With `remote`, a local directory is the DVC remote and the clone shares the seed's
    DVC cache; without, the clone is what a fork has on day one: no remote, no outputs,
    an empty cache.
    """
    env = tool_environment(root)
    origin = root / "origin.git"
    seed = Workspace.copy_of_repository(root / "seed", env)
    seed.run("git", "init", "-q", "--bare", "-b", "main", str(origin))
    shutil.rmtree(seed.path / "reports")
    (seed.path / "dvc.lock").unlink()
    seed.set_params(SMALL)
    seed.run("git", "init", "-q", "-b", "main")
    seed.run("git", "add", "-A")
    seed.run("git", "commit", "-q", "-m", "cauce, before its first run")
    seed.run("git", "tag", "before-first-run")
    seed.run("dvc", "repro")
    if remote:
        # A local directory is the team's DVC remote, committed as a real one would be.
        seed.run("dvc", "remote", "add", "--default", "storage", str(root / "dvc-remote"))
        seed.run("dvc", "push", "--quiet")
    seed.run("git", "add", "-A")
    seed.run("git", "commit", "-q", "-m", "baseline model")
    seed.run("git", "remote", "add", "origin", str(origin))
    seed.run("git", "push", "-q", "origin", "main", "before-first-run")
    clone = Workspace(root / "clone", env)
    seed.run("git", "clone", "-q", str(origin), str(clone.path))
    if remote:
        clone.run("dvc", "cache", "dir", "--local", str(seed.path / ".dvc/cache"))
        clone.run("dvc", "checkout", "-q")
    return clone
