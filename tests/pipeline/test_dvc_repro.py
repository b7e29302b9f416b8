"""`dvc repro` end to end in a clone of the reproduced baseline, with real git and dvc.

A smaller slice of data is selected through params (data.max_rows), as a user would.
The first run is the one that built the session's baseline (tests/built.py: its output
is kept beside every copy); the tests share one clone and run in order: the no-op, a
parameter change, then corrupted sources that must stop at `validate` and leave
`models/` as it was.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.built import FIRST_REPRO
from tests.conftest import Workspace, stages_run

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


def test_second_repro_runs_nothing(workspace):
    result, ran = workspace.repro()
    assert ran == []
    assert "Data and pipelines are up to date." in result.stdout


def test_a_train_param_reruns_only_train_and_evaluate(workspace):
    workspace.set_params({"train.hist_gradient_boosting.max_iter": 20})
    _, ran = workspace.repro()
    assert ran == ["train", "evaluate"]


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
