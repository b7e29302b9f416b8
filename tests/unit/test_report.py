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
