"""The report's metric table on literal inputs."""

from __future__ import annotations

from cauce.ops.gate import Evidence
from cauce.ops.report import metrics_table


def test_a_multiclass_table_shows_each_classs_recall_against_base_and_production():
    def metrics(accuracy: float, recalls: dict) -> dict:
        return {"accuracy": accuracy, "macro_f1": accuracy, "recall_per_class": recalls}

    found = Evidence(
        base="main",
        metrics=metrics(0.9, {"barolo": 1.0, "barbera": 0.75, "grignolino": None}),
        groups={},
        base_metrics=metrics(0.9, {"barolo": 1.0, "barbera": 0.875}),
        champion="model@v0.1.0",
        champion_metrics=metrics(0.9, {"barolo": 0.9, "barbera": 0.75}),
    )
    lines = metrics_table(found).splitlines()
    assert {
        "| Recall of barolo ↑ | 1.0000 | **1.0000** | ⚪ 0.0000 | 0.9000 | 🟢 ▲ +0.1000 |",
        "| Recall of barbera ↑ | 0.8750 | **0.7500** | 🔴 ▼ -0.1250 | 0.7500 | ⚪ 0.0000 |",
        "| Recall of grignolino ↑ | – | **–** | – | – | – |",
    } <= set(lines)
    assert [line.split(" |")[0] for line in lines[2:4]] == ["| Accuracy ↑", "| Macro F1 ↑"]


def test_a_group_without_an_interval_shows_its_change_without_a_colour(params):
    from cauce.intervals import Interval
    from cauce.ops.report import groups_section

    def group(rows: int, roc_auc: float) -> dict:
        return {"rows": rows, "positive_share": 0.5, "roc_auc": roc_auc}

    found = Evidence(
        base="main",
        metrics={"roc_auc": 0.9},
        groups={"SEX": {"1": group(5000, 0.85), "2": group(13, 0.95), "3": group(900, 0.7)}},
        base_metrics={"roc_auc": 0.9},
        base_groups={"SEX": {"1": group(5000, 0.90), "2": group(13, 0.80), "3": group(900, 0.6)}},
        deltas={"base": {"roc_auc SEX=1": Interval(-0.05, -0.07, -0.03, 0.95)}},
        confidence=0.95,
    )
    lines = groups_section(found, params).splitlines()
    assert "| 1 ⚠️ | 5,000 | 0.9000 | 0.8500 | 🔴 −0.0500 (−0.0700 … −0.0300) worse |" in lines
    assert "| 2 | 13 | 0.8000 | 0.9500 | +0.1500 (too few rows to judge) |" in lines
    # Gated, but its change undefined in too many resamples: no interval, no colour.
    assert "| 3 | 900 | 0.6000 | 0.7000 | +0.1000 (too few rows of one class to judge) |" in lines


def test_a_family_of_intervals_says_the_level_each_one_is_at():
    from cauce.intervals import Interval
    from cauce.ops.report import family_note

    groups = {f"roc_auc SEX={g}": Interval(0.0, -0.01, 0.01, 1 - 0.05 / 7) for g in range(7)}
    found = Evidence("main", {}, {}, None, None, deltas={"base": groups}, confidence=0.95)
    assert family_note(found, "roc_auc ", "groups' intervals") == (
        " The 7 groups' intervals hold 95% together (each at 99.3%, Bonferroni), so that one "
        "of many does not read worse by chance."
    )
    single = {"roc_auc": Interval(0.0, -0.01, 0.01, 0.95)}
    alone = Evidence("main", {}, {}, None, None, deltas={"base": single}, confidence=0.95)
    assert family_note(alone, "roc_auc", "metrics") == ""


def test_per_group_says_why_there_is_no_table_and_a_regression_has_no_classes(params):
    from cauce.ops.report import groups_section

    alone = Evidence("main", {"roc_auc": 0.9}, {}, None, None)
    assert groups_section(alone, params) == (
        "No groups: `evaluate.slices` in params.yaml names no column (list categorical "
        "features there to see the metrics of each group, and the gate to hold them)."
    )
    regression = params.model_copy(
        update={
            "data": params.data.model_copy(update={"task": "regression", "positive_label": None})
        }
    )
    groups = {"SEX": {"1": {"rows": 300, "roc_auc": 0.8}}}
    text = groups_section(Evidence("main", {}, groups, None, None), regression)
    assert text.startswith("ROC AUC per group; – where it is undefined (too few rows).")


def test_the_plots_say_whose_they_are_and_a_base_of_another_task_is_not_drawn(monkeypatch):
    """Across a task change the base's curves, labels and features would be drawn on this
    model's axes: its plots are left out (`dvc plots show`, this PR's alone) and said so."""
    from cauce import tools
    from cauce.ops import plots
    from cauce.ops.report import plots_section

    images = {"ROC curve": {"file": "roc-curve.png", "revisions": ["this PR"]}}
    assert plots_section(images, "main").startswith("Each plot shows `main` and this PR together")
    apart = "the task changed from binary (employed) to multiclass (cultivar)"
    assert plots_section(images, "main", apart).startswith(
        f"Each plot shows this PR alone: `main` is not comparable ({apart})."
    )
    called = []
    monkeypatch.setattr(tools, "run", lambda *command, **_: called.append(command) or Done())
    plots.plot_specs(None)
    plots.plot_specs("main")
    assert called == [
        ("dvc", "plots", "show", "--json"),
        ("dvc", "plots", "diff", "main", "--json"),
    ]


class Done:
    stdout = '{"data": {}}'
