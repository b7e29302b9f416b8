"""Shared fixtures: the repository's own params, a sample of the embedded data, workspaces
for real git/dvc/gto processes; and the tiers the tests fall in (docs/testing.md)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from cauce.config import Params, load_params
from cauce.params_file import in_dvc_form
from tests import warm as warm_processes

# Each pytest-xdist worker's OpenMP (scikit-learn's trees, in this process and the ones
# it starts) on one thread: with a worker per core, two threads each would spin waiting
# on each other, a fit up to 20 times slower. Tests of thread counts set their own, and
# their threads wait asleep rather than spinning against the other worker.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "data/source/acs_employment_ma_2015_2018.parquet"
# params for end-to-end runs: a seeded 4,000-row slice and a quick model
SMALL = {
    "data.max_rows": 4000,
    "train.hist_gradient_boosting.max_iter": 40,
    "evaluate.permutation_importance.n_repeats": 2,
}


# The tiers, by who waits for them: the quick tests on every save, the end-to-end tests
# (slow) on every pull request too; the statistical tests and the rehearsals of the
# template's own machinery on a pull request only when it changes what they cover
# (tests/tiers.py), always on main and nightly.
TIERS = {
    "quick": "not slow",
    "end-to-end": "slow and not rehearsal and not statistical",
    "statistics": "statistical",
    "rehearsals": "rehearsal",
}
# What each budget (docs/testing.md) counts, in tiers, and its limit on 2 cores.
BUDGETS = {
    "quick": (("quick",), 90, "every save"),
    "required": (("quick", "end-to-end"), 300, "every pull request: make test-required"),
    "whole": (tuple(TIERS), 900, "CI, main and nightly: make test"),
}
STARTED = pytest.StashKey[float]()


def tier(keywords) -> str:
    for name in ("rehearsals", "statistics"):
        if TIERS[name] in keywords:
            return name
    return "end-to-end" if "slow" in keywords else "quick"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Rehearsals and statistical tests are slow too: `-m "not slow"` leaves them out.
    Modules with rehearsals first, then the statistical ones, then those with end-to-end
    tests, then the quick ones, each module whole and in its own order (pyproject.toml
    turns off xdist's reordering by test count): each worker starts on a long module, and
    the quick tests fill in at the end instead of a long module running alone."""
    for item in items:
        marked = item.get_closest_marker("rehearsal") or item.get_closest_marker("statistical")
        if marked and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
    order = list(TIERS)[::-1]
    heaviest: dict[Path, int] = {}
    first: dict[Path, int] = {}
    for index, item in enumerate(items):
        rank = order.index(tier(item.keywords))
        heaviest[item.path] = min(heaviest.get(item.path, rank), rank)
        first.setdefault(item.path, index)
    position = {id(item): index for index, item in enumerate(items)}

    def key(item: pytest.Item) -> tuple[int, int, int]:
        return heaviest[item.path], first[item.path], position[id(item)]

    items.sort(key=key)


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[STARTED] = time.monotonic()


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    """After the slowest tests: the time of each tier (its tests' setup, call and teardown,
    summed over the workers), and each budget's figure as this run measured it, so that a
    change that costs the budget shows it in the run that adds it: the run's wall time
    for the budget whose tiers are the run's, else the time of the tiers it counts divided
    by the workers (a little below their wall time: no start, no worker waiting)."""
    seconds: dict[str, float] = dict.fromkeys(TIERS, 0.0)
    tests: dict[str, set[str]] = {name: set() for name in TIERS}
    for reports in terminalreporter.stats.values():
        for report in reports:
            if isinstance(report, pytest.TestReport):
                name = tier(report.keywords)
                seconds[name] += report.duration
                tests[name].add(report.nodeid)
    if not any(tests.values()):
        return
    wall = time.monotonic() - config.stash.get(STARTED, time.monotonic())
    workers = getattr(config.option, "numprocesses", None) or 1
    terminalreporter.write_sep("=", f"time per tier ({wall:.0f} s wall, {workers} workers)")
    for name, selection in TIERS.items():
        terminalreporter.write_line(
            f'{name:<11} {len(tests[name]):>4} tests {seconds[name]:>7.1f} s   (-m "{selection}")'
        )
    terminalreporter.write_sep("=", f"the budgets, as this run measured them on {workers} workers")
    ran = {name for name in TIERS if tests[name]}
    for name, (counted, limit, who) in BUDGETS.items():
        if not ran >= set(counted):
            continue  # this run left out a tier the budget counts
        if ran == set(counted):
            figure, how = wall, "this run's wall time"
        else:
            figure, how = sum(seconds[t] for t in counted) / workers, f"÷ {workers} workers"
        count = sum(len(tests[t]) for t in counted)
        terminalreporter.write_line(
            f"{name:<9} {count:>4} tests {figure:>4.0f} s ({how}): "
            f"{'within' if figure < limit else 'OVER'} its {limit} s ({who})"
        )


@pytest.fixture(scope="session")
def params() -> Params:
    return load_params(ROOT / "params.yaml")


@pytest.fixture(scope="session")
def whole_data_params(params: Params) -> Params:
    """params.yaml with every row of the data (`data.max_rows` empty): the statistical
    tests measure their claims on all of it, whatever sample params.yaml takes for quick
    runs (as a rehearsal's workspace does)."""
    return params.model_copy(update={"data": params.data.model_copy(update={"max_rows": None})})


@pytest.fixture(scope="session")
def cluster() -> Iterator[str]:
    """A Dask cluster of two workers in a process of its own, for the worker's whole run
    (a team's cluster, to `cauce score --engine dask --scheduler`); its scheduler's address."""
    start = (
        "import sys; from distributed import LocalCluster;"
        "cluster = LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=':0');"
        "print(cluster.scheduler_address, flush=True); sys.stdin.read(); cluster.close()"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", start], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        address = process.stdout.readline().strip()
        assert address.startswith("tcp://"), address
        yield address
    finally:
        process.stdin.close()  # the cluster closes and the process ends
        process.wait(timeout=60)


@pytest.fixture(scope="session")
def source_2015() -> pd.DataFrame:
    frame = pd.read_parquet(SOURCE)
    return frame[frame["year"] == 2015].reset_index(drop=True)


def small_model(root: Path, params: Params, train: pd.DataFrame):
    """Fit the configured pipeline on `train` and write models/ under `root` as the train
    stage does (model, card with its schema and hash, reference profile); the pipeline."""
    from cauce.artifact import describe_target
    from cauce.files import file_sha256, write_json
    from cauce.layout import MODEL_CARD, MODEL_FILE, REFERENCE_PROFILE
    from cauce.model import save_model
    from cauce.pipeline.train import build_pipeline, model_info
    from cauce.pipeline.validate import load_contract
    from cauce.profile import reference_profile

    columns = params.features.columns
    labels = train[params.data.target]
    target = describe_target(labels, params.data, "train", params.evaluate.threshold)
    y = target.encode(labels, "train")
    model = build_pipeline(params).fit(train[columns], y)
    save_model(model, root / MODEL_FILE)
    contract = load_contract(ROOT / "data/contract.yaml")
    info = model_info(params, contract, model, target, y, "0" * 64)
    info = info.model_copy(update={"model_sha256": file_sha256(root / MODEL_FILE)})
    write_json(root / MODEL_CARD, info)
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
    """Environment for real git/dvc/cauce processes: this venv first, a throwaway identity.
    They write the bytecode of the workspace's own code, so that only the first process in
    a workspace compiles it, whatever PYTHONDONTWRITEBYTECODE says here. Their cauce, dvc
    and gto processes are forked from a warm interpreter (tests/warm.py; `cold(env)` for
    one that must not be)."""
    env = {
        **{name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"},
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "cauce tests",
        "GIT_AUTHOR_EMAIL": "tests@cauce.invalid",
        "GIT_COMMITTER_NAME": "cauce tests",
        "GIT_COMMITTER_EMAIL": "tests@cauce.invalid",
        "GIT_CONFIG_GLOBAL": str(home / "gitconfig"),
        "DVC_NO_ANALYTICS": "1",
    }
    return warm_processes.environment(env)


def stages_run(printed: str) -> list[str]:
    """The stages a `dvc repro` ran, in order, from what it printed: these tests watch
    DVC from outside, as a user at a terminal does (cauce itself asks DVC's plan_repro)."""
    return [
        line.split("'")[1] for line in printed.splitlines() if line.startswith("Running stage '")
    ]


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
        return result, stages_run(result.stdout)

    def set_params(self, changes: dict[str, object]) -> None:
        """Set dotted keys of params.yaml as `dvc exp run -S key=value` does."""
        path = self.path / "params.yaml"
        overrides = [f"{key}={json.dumps(value)}" for key, value in changes.items()]
        path.write_text(in_dvc_form(path.read_text(encoding="utf-8"), overrides), encoding="utf-8")

    def merge(self, message: str, **changes: object) -> None:
        """What a merged PR leaves on main: changed params, dvc repro, a commit, a push."""
        self.set_params(changes)
        self.run("dvc", "repro")
        self.run("git", "add", "-A")
        self.run("git", "commit", "-q", "-m", message)
        self.run("git", "push", "-q", "origin", "main")

    def tree_digest(self, folder: str) -> dict[str, str]:
        return tree_digest(self.path / folder)


@pytest.fixture(scope="session")
def baseline_clone(tmp_path_factory) -> Callable[..., Workspace]:
    """`baseline_clone(root, remote=True, reproduced=False)`: in `root`, a bare `origin`
    whose main holds a reproduced baseline (small params), and a clone of it.

    `before-first-run` tags the commit before any `dvc repro`: no dvc.lock, no reports.
    With `remote`, a local directory is the DVC remote and the clone shares the seed's
    DVC cache; without, the clone is what a fork has on day one: no remote, no outputs,
    an empty cache, unless `reproduced`: then it has run `cauce reproduce`. Built once per
    test run (tests/built.py), copied for each caller.
    """
    from tests import built

    shared = built.shared_directory(tmp_path_factory)

    def copy(root: Path, remote: bool = True, reproduced: bool = False) -> Workspace:
        seed = built.built_once(shared / "reproduced", built.build_reproduced_seed)
        build = built.built_once(
            shared / ("baseline" if remote else "fork"),
            lambda folder: built.build_baseline(folder, seed, remote),
        )
        if reproduced:
            assert not remote, "with a remote, the clone has the outputs already"
            fork = build
            build = built.built_once(
                shared / "reproduced-fork",
                lambda folder: built.build_reproduced_fork(folder, fork),
            )
        return built.copy_of_baseline(build, root)

    return copy
