"""sweep.yaml read and checked, and the settings it names (the sweep itself runs in
tests/gitops/test_sweep.py)."""

from __future__ import annotations

import pytest
from tests.conftest import ROOT

from cauce import ConfigError
from cauce.ops.sweep import RandomSearch, SweepSpec, Swept, Trial, load_spec, settings

LEAVES = "train.hist_gradient_boosting.max_leaf_nodes"
RATE = "train.hist_gradient_boosting.learning_rate"


def test_the_shipped_sweep_yaml_names_eight_settings_of_real_parameters(params, monkeypatch):
    monkeypatch.chdir(ROOT)
    spec = load_spec(ROOT / "sweep.yaml", params)
    assert len(settings(spec)) == 8
    assert spec.jobs == 2


def test_a_grid_is_every_combination_in_order():
    spec = SweepSpec(grid={LEAVES: [15, 31], RATE: [0.05, 0.1, 0.2]})
    found = settings(spec)
    assert len(found) == 6
    assert found[0] == {LEAVES: 15, RATE: 0.05}
    assert found[-1] == {LEAVES: 31, RATE: 0.2}


def test_a_random_search_is_a_seeded_sample_without_repeats():
    grid = {LEAVES: [7, 15, 31, 63, 127], RATE: [0.02, 0.05, 0.1, 0.2]}
    first = settings(SweepSpec(grid=grid, random=RandomSearch(samples=6, seed=3)))
    again = settings(SweepSpec(grid=grid, random=RandomSearch(samples=6, seed=3)))
    other = settings(SweepSpec(grid=grid, random=RandomSearch(samples=6, seed=4)))
    assert first == again != other
    assert len(first) == 6
    assert len({tuple(s.items()) for s in first}) == 6
    everything = settings(SweepSpec(grid=grid, random=RandomSearch(samples=99)))
    assert len(everything) == 20


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "grid: {train.no_such_key: [1, 2]}\n",
            "grid.train.no_such_key: not a parameter of params.yaml",
        ),
        ("grid: {}\n", "grid = {}: dictionary should have at least 1 item"),
        (f"grid: {{{LEAVES}: []}}\n", f"grid.{LEAVES} = []: list should have at least 1 item"),
        (
            f"grid: {{{LEAVES}: [15]}}\nmetric: rmse\n",
            "metric = 'rmse': not a metric of a binary model",
        ),
        (
            f"grid: {{{LEAVES}: [15]}}\nworkers: 2\n",
            "workers: unknown key; allowed here: grid, random",
        ),
        (f"grid: {{{LEAVES}: [15]}}\njobs: 0\n", "jobs = 0: input should be greater than 0"),
    ],
    ids=[
        "unknown-parameter",
        "empty-grid",
        "no-values",
        "metric-of-another-task",
        "unknown-key",
        "no-jobs",
    ],
)
def test_a_wrong_sweep_yaml_is_refused_naming_the_file_and_field(
    params, tmp_path, monkeypatch, text, said
):
    monkeypatch.chdir(ROOT)  # params.yaml, whose keys the grid must name
    path = tmp_path / "sweep.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_spec(path, params)
    assert f"{path}: " in str(refused.value)
    assert said in str(refused.value)


def test_a_sweep_where_no_setting_passes_the_gate_applies_nothing_and_says_so():
    failed = Trial("sweep-abc-01", "0" * 40, {LEAVES: 7}, 0.88, False, ["log_loss got worse"])
    said = Swept("1" * 40, "roc_auc", 0.89, [failed], applied=None).lines()
    assert said == [
        "sweep: 1 settings ranked by roc_auc; table reports/sweep/sweep.md",
        "no setting was applied: none passed the gate (see the table)",
    ]
