"""`cauce sweep` end to end, with real DVC experiments: a grid of four settings queued and
run two at a time in a clone of the baseline, ranked, judged by the gate, drawn, the best
applied; then committed, it reproduces byte for byte."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Workspace

pytestmark = pytest.mark.slow
ITERATIONS = "train.hist_gradient_boosting.max_iter"
RATE = "train.hist_gradient_boosting.learning_rate"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def swept(tmp_path_factory, baseline_clone) -> tuple[Workspace, str]:
    """The clone after `cauce sweep --jobs 2`, and what it printed. The grid holds the
    baseline's own setting (40 iterations at 0.1), which the gate passes."""
    clone = baseline_clone(tmp_path_factory.mktemp("sweep"))
    clone.run("git", "switch", "-q", "-c", "sweep")
    clone.run("dvc", "checkout", "-q")
    (clone.path / "sweep.yaml").write_text(
        f"grid:\n  {ITERATIONS}: [40, 120]\n  {RATE}: [0.1, 0.3]\njobs: 2\n", encoding="utf-8"
    )
    clone.run("git", "add", "sweep.yaml")
    clone.run("git", "commit", "-q", "-m", "a grid of four")
    result = clone.run("cauce", "sweep", "--jobs", "2")
    return clone, result.stdout + result.stderr


def record(clone: Workspace) -> dict:
    return json.loads((clone.path / "reports/sweep/sweep.json").read_text(encoding="utf-8"))


def test_every_setting_ran_as_an_experiment_ranked_by_its_own_metrics(swept):
    clone, printed = swept
    assert "sweep: experiments run (2 at once, 1 thread each)" in printed
    found = record(clone)
    assert found["metric"] == "roc_auc"
    trials = found["trials"]
    assert sorted((t["setting"][ITERATIONS], t["setting"][RATE]) for t in trials) == [
        (40, 0.1), (40, 0.3), (120, 0.1), (120, 0.3),
    ]  # fmt: skip
    # (40, 0.1) is the baseline's own setting: the same model, so the gate passes it
    same = next(t for t in trials if t["setting"] == {ITERATIONS: 40, RATE: 0.1})
    assert same["passed"]
    assert same["metric"] == found["baseline"]
    figures = [t["metric"] for t in trials]
    assert figures == sorted(figures, reverse=True)
    for trial in trials:  # each figure is its experiment's own, as committed under refs/exps
        shown = clone.run("git", "show", f"{trial['rev']}:reports/evaluate/metrics.json").stdout
        assert json.loads(shown)["roc_auc"] == trial["metric"]
        params = clone.run("git", "show", f"{trial['rev']}:params.yaml").stdout
        assert f"max_iter: {trial['setting'][ITERATIONS]}" in params
    listed = clone.run("dvc", "exp", "list", "--name-only").stdout.split()
    assert sorted(listed) == sorted(t["name"] for t in trials)


def test_the_table_and_picture_say_what_the_record_says(swept):
    clone, _ = swept
    trials = record(clone)["trials"]
    table = (clone.path / "reports/sweep/sweep.md").read_text(encoding="utf-8")
    assert table.startswith("## Sweep: 4 settings, ranked by ROC AUC")
    rows = [line for line in table.splitlines() if line.startswith("| ") and "`sweep-" in line]
    assert [row.split("`")[1] for row in rows] == [t["name"] for t in trials]
    assert (clone.path / "reports/sweep/sweep.png").read_bytes()[:8] == PNG_MAGIC


def test_the_best_that_passes_the_gate_is_applied_and_reproduces_once_committed(swept):
    clone, printed = swept
    found = record(clone)
    best = next(t for t in found["trials"] if t["passed"])
    assert found["applied"] == best["name"]
    assert f"applied {best['name']}" in printed
    params = (clone.path / "params.yaml").read_text(encoding="utf-8")
    assert f"max_iter: {best['setting'][ITERATIONS]}" in params
    assert "Data and pipelines are up to date." in clone.run("dvc", "status").stdout
    clone.run("git", "add", "-A")
    clone.run("git", "commit", "-q", "-m", f"the sweep's best: {best['name']}")
    reproduced = clone.run("cauce", "reproduce")
    assert "outputs are byte for byte what dvc.lock records" in reproduced.stdout
