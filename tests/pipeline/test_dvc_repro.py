"""`dvc repro` end to end in a clone of the reproduced baseline, with real git and dvc.

A smaller slice of data is selected through params (data.max_rows), as a user would.
The first run is the one that built the session's baseline (tests/built.py: its output
is kept beside every copy); the tests share one clone and run in order: the no-op, a
parameter change, a failure in each stage that must leave every output as it was, then
corrupted sources that must stop at `validate`.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cauce.layout import LOCAL, PIPELINE, RAW, TEST_SPLIT, TRAIN_SPLIT
from cauce.ops.lock import pipeline_outputs
from tests.built import FIRST_REPRO
from tests.conftest import Workspace, stages_run, tree_digest

pytestmark = pytest.mark.slow
SOURCE = "data/source/acs_employment_ma_2015_2018.parquet"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, baseline_clone) -> Workspace:
    return baseline_clone(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def first_run(workspace) -> list[str]:
    """The stages the baseline's first `dvc repro` ran."""
    return stages_run((workspace.path.parent / FIRST_REPRO).read_text(encoding="utf-8"))


def test_first_repro_runs_every_stage(workspace, first_run):
    assert first_run == ["ingest", "validate", "prepare", "train", "evaluate"]
    raw = pd.read_parquet(workspace.path / "data/raw/data.parquet")
    assert len(raw) == 4000
    assert set(raw["year"]) == {2015}
    for output in (
        "models/model.skops",
        "models/model.json",
        "models/reference.json",
        "reports/evaluate/metrics.json",
        "reports/validation.json",
        "reports/evaluate/plots/custom/roc.json",
    ):
        assert (workspace.path / output).stat().st_size > 0, output
    metrics = workspace.run("dvc", "metrics", "show", "--json").stdout
    assert '"roc_auc"' in metrics
    assert "Data and pipelines are up to date." in workspace.run("dvc", "status").stdout


def declared(root: Path) -> set[str]:
    """Every output dvc.yaml declares (outs, metrics, plots)."""
    return pipeline_outputs(yaml.safe_load((root / PIPELINE).read_text(encoding="utf-8")))


def test_every_file_a_stage_writes_is_a_declared_output(workspace):
    """The seed's first `dvc repro` wrote into a tree with no outputs and no reports: each
    file it left (what git now tracks beside dvc.lock, what DVC ignores for git) lies
    under an output of dvc.yaml, so `dvc repro` restoring a run restores all of it."""
    seed = Workspace(workspace.path.parent / "seed", workspace.env)
    tracked = seed.run("git", "diff", "--name-only", "before-first-run", "HEAD").stdout
    ignored = seed.run("git", "ls-files", "--others", "--ignored", "--exclude-standard").stdout
    written = {
        name
        for name in (*tracked.split(), *ignored.split())
        if not name.startswith((".dvc/", f"{LOCAL}/"))  # .cauce/: timings, kept out of git
        and "__pycache__" not in name
        and Path(name).name not in {"dvc.lock", ".gitignore"}
    }
    outputs = declared(seed.path)
    assert {"models/model.skops", "reports/train/params.yaml"} <= written
    undeclared = [
        name for name in written if not any(Path(name).is_relative_to(out) for out in outputs)
    ]
    assert undeclared == [], "written by a stage, not declared in dvc.yaml"


def test_second_repro_runs_nothing(workspace):
    result, ran = workspace.repro()
    assert ran == []
    assert "Data and pipelines are up to date." in result.stdout


def test_a_train_param_reruns_only_train_and_evaluate(workspace):
    workspace.set_params({"train.hist_gradient_boosting.max_iter": 20})
    _, ran = workspace.repro()
    assert ran == ["train", "evaluate"]


def outputs_digest(space: Workspace) -> dict[str, str]:
    """Every declared output's files and their sha256 (absent ones: "absent")."""
    digest = {}
    for name in sorted(declared(space.path)):
        path = space.path / name
        if path.is_dir():
            digest |= {f"{name}/{file}": sha for file, sha in tree_digest(path).items()}
        else:
            digest[name] = (
                hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "absent"
            )
    return digest


def without(digest: dict[str, str], name: str) -> dict[str, str]:
    """`digest` but for the input the test cut (an output of the stage before)."""
    return {path: sha for path, sha in digest.items() if path != name}


# The file each stage reads first, made unreadable to fail that stage.
FIRST_INPUT = {
    "ingest": SOURCE,
    "validate": RAW.as_posix(),
    "prepare": RAW.as_posix(),
    "train": TRAIN_SPLIT.as_posix(),
    "evaluate": TEST_SPLIT.as_posix(),
}


@pytest.mark.parametrize("stage", list(FIRST_INPUT))
def test_a_stage_that_fails_leaves_the_last_good_outputs(workspace, stage):
    """`dvc repro` of a stage whose input is cut in half: a one-line error naming the
    file, and every output of every stage as it was (DVC would delete the stage's
    outputs before running it; they persist, and the stage renames new ones in whole)."""
    path = workspace.path / FIRST_INPUT[stage]
    before = without(outputs_digest(workspace), FIRST_INPUT[stage])
    good = path.read_bytes()
    try:
        path.unlink()  # DVC's own copy may be read-only: a new file, never a write into it
        path.write_bytes(good[: len(good) // 2])
        result = workspace.run("dvc", "repro", "--single-item", stage, check=False)
        assert result.returncode != 0, result.stdout
        assert f"failed to reproduce '{stage}'" in result.stderr
        assert FIRST_INPUT[stage] in result.stderr
        assert "Traceback" not in result.stdout + result.stderr
        assert without(outputs_digest(workspace), FIRST_INPUT[stage]) == before
    finally:
        path.unlink()
        path.write_bytes(good)
    assert "Data and pipelines are up to date." in workspace.run("dvc", "status").stdout


@pytest.mark.parametrize(
    "module",
    ["src/cauce/cli/commands.py", "src/cauce/ops/operate.py", "src/cauce/serving/batch.py"],
)
def test_an_option_added_to_a_command_that_is_not_a_stage_changes_no_stage(workspace, module):
    """What tests/unit/test_layout.py proves from the imports, seen by DVC itself: a new
    `cauce score --dry-run` (the option in the table, the code it reaches) reruns nothing."""
    path = workspace.path / module
    code = path.read_text(encoding="utf-8")
    try:
        path.write_text(
            code + '\nDRY_RUN = Option("--dry-run", "say, do not score")\n', encoding="utf-8"
        )
        status = workspace.run("dvc", "status", "--json").stdout
        assert status.strip() == "{}", status
    finally:
        path.write_text(code, encoding="utf-8")
    # and the check can fail: a stage's own module is a dependency
    stage_module = workspace.path / "src/cauce/pipeline/evaluate.py"
    original = stage_module.read_text(encoding="utf-8")
    try:
        stage_module.write_text(original + "\n# a change\n", encoding="utf-8")
        assert "evaluate" in workspace.run("dvc", "status", "--json").stdout
    finally:
        stage_module.write_text(original, encoding="utf-8")


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (
            # Every 50th person: enough to land in the 4,000-row sample.
            lambda frame: frame.assign(RELP=frame["RELP"].where(frame.index % 50 != 0, 99)),
            "column 'RELP' breaks rule 'allowed codes [0, 1, 2",
        ),
        (lambda frame: frame.drop(columns=["MAR"]), "column 'MAR' breaks rule 'required column'"),
    ],
    ids=["unknown-code", "missing-column"],
)
def test_a_corrupt_source_stops_at_validate(workspace, corrupt, message):
    source = workspace.path / SOURCE
    good = source.read_bytes()
    models_before = workspace.tree_digest("models")
    try:
        frame = pd.read_parquet(source)
        corrupt(frame).to_parquet(source, index=False)
        result, ran = workspace.repro(check=False)
        assert result.returncode != 0
        assert ran == ["ingest", "validate"]
        assert "failed to reproduce 'validate'" in result.stderr
        assert message in result.stderr
        assert workspace.tree_digest("models") == models_before
    finally:
        source.write_bytes(good)
