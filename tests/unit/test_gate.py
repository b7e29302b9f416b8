"""The gate's policy on literal inputs: floors, ceilings, regressions against the base
branch and production, per-group rules, and the order failures are reported in."""

from __future__ import annotations

import pytest

from cauce.config import GateParams
from cauce.intervals import Scores
from cauce.ops.gate import Evidence, decide, failures, task_change, verdict, worsening

POLICY = GateParams.model_validate(
    {
        "metrics": {
            "roc_auc": {"min": 0.85, "max_regression": 0.005},
            "accuracy": {"min": 0.78, "max_regression": 0.01},
            "log_loss": {"max": 0.5, "max_regression": 0.01},
        },
        "groups": {"metric": "roc_auc", "max_regression": 0.02, "min_rows": 200},
    }
)
GOOD = {"roc_auc": 0.90, "accuracy": 0.83, "log_loss": 0.37}


def group(rows: int, roc_auc: float | None) -> dict:
    return {"rows": rows, "positive_share": 0.5, "roc_auc": roc_auc}


def evidence(
    metrics=GOOD, groups=None, base=None, base_groups=None, champion=None, champion_groups=None
) -> Evidence:
    return Evidence(
        base="main",
        metrics=metrics,
        groups=groups or {},
        base_metrics=base,
        base_groups=base_groups,
        champion="model@v0.1.0" if champion else None,
        champion_metrics=champion,
        champion_groups=champion_groups,
    )


def failed_messages(found: Evidence) -> list[str]:
    return [c.message for c in failures(decide(POLICY, found))]


def test_a_model_within_every_bound_and_no_reference_passes_the_bounds_only():
    checks = decide(POLICY, evidence())
    assert [(c.rule, c.metric) for c in checks] == [
        ("min", "roc_auc"),
        ("min", "accuracy"),
        ("max", "log_loss"),
    ]
    assert all(c.passed for c in checks)
    assert verdict(checks) == "Gate passed: all 3 checks hold."


def test_a_floor_and_a_ceiling_name_the_value_and_the_bound():
    found = evidence(metrics={"roc_auc": 0.84, "accuracy": 0.83, "log_loss": 0.52})
    assert failed_messages(found) == [
        "roc_auc 0.8400 is below the floor 0.85",
        "log_loss 0.5200 is above the ceiling 0.5",
    ]


def test_a_missing_metric_fails_as_absent():
    found = evidence(metrics={"roc_auc": 0.9, "accuracy": 0.83})
    assert failed_messages(found) == ["log_loss is missing from reports/evaluate/metrics.json"]


def test_regressions_count_in_each_metrics_own_direction():
    assert worsening("roc_auc", 0.90, 0.89) == pytest.approx(0.01)
    assert worsening("log_loss", 0.37, 0.39) == pytest.approx(0.02)
    assert worsening("log_loss", 0.37, 0.35) == pytest.approx(-0.02)


def test_a_regression_against_the_base_beyond_its_allowance_fails():
    base = {"roc_auc": 0.905, "accuracy": 0.84, "log_loss": 0.36}
    # Exactly the allowance worse is allowed, whatever float arithmetic makes of 0.905 - 0.9.
    assert failed_messages(evidence(base=base)) == []
    worse = {"roc_auc": 0.9051, "accuracy": 0.83, "log_loss": 0.37}
    assert failed_messages(evidence(base=worse)) == [
        "roc_auc got worse by 0.0051 vs main (0.9051 → 0.9000, allowed 0.005)"
    ]


def test_production_is_compared_too_and_named():
    champion = {"roc_auc": 0.92, "accuracy": 0.83, "log_loss": 0.37}
    found = evidence(champion=champion)
    assert failed_messages(found) == [
        "roc_auc got worse by 0.0200 vs production model@v0.1.0 (0.9200 → 0.9000, allowed 0.005)"
    ]


def test_groups_regress_against_their_own_group_and_small_groups_are_not_gated():
    mine = {"SEX": {"1": group(5000, 0.88), "2": group(5000, 0.90)}, "RAC1P": {"7": group(12, 0.5)}}
    base = {"SEX": {"1": group(5000, 0.91), "2": group(5000, 0.90)}, "RAC1P": {"7": group(12, 0.9)}}
    checks = decide(POLICY, evidence(groups=mine, base=GOOD, base_groups=base))
    group_checks = [c for c in checks if c.rule.startswith("group")]
    assert [c.metric for c in group_checks] == ["roc_auc SEX=1", "roc_auc SEX=2"]
    assert [c.message for c in failures(checks)] == [
        "roc_auc for SEX=1 got worse by 0.0300 vs main (0.9100 → 0.8800, allowed 0.02)"
    ]


def test_a_group_with_an_undefined_metric_is_skipped():
    mine = {"SEX": {"1": group(5000, None)}}
    base = {"SEX": {"1": group(5000, 0.9)}}
    checks = decide(POLICY, evidence(groups=mine, base_groups=base))
    assert not any(c.rule.startswith("group") for c in checks)


def test_failures_list_broken_bounds_before_regressions():
    champion = {"roc_auc": 0.95, "accuracy": 0.70, "log_loss": 0.37}
    found = evidence(
        metrics={"roc_auc": 0.90, "accuracy": 0.70, "log_loss": 0.37}, champion=champion
    )
    checks = decide(POLICY, found)
    in_policy_order = [c.rule for c in checks if not c.passed]
    assert in_policy_order == ["regression vs production model@v0.1.0", "min"]
    assert [c.rule for c in failures(checks)] == ["min", "regression vs production model@v0.1.0"]
    assert verdict(checks).startswith(
        "Gate failed (2 of 6 checks): accuracy 0.7000 is below the floor 0.78; roc_auc got worse"
    )


def test_the_verdict_names_at_most_three_failures():
    bad = {"roc_auc": 0.5, "accuracy": 0.5, "log_loss": 0.9}
    base = {"roc_auc": 0.9, "accuracy": 0.83, "log_loss": 0.37}
    text = verdict(decide(POLICY, evidence(metrics=bad, base=base)))
    assert text.startswith("Gate failed (6 of 6 checks): roc_auc 0.5000 is below the floor 0.85;")
    assert text.endswith("; and 3 more.")


def test_a_pipeline_that_did_not_reproduce_fails_first():
    champion = {"roc_auc": 0.95, "accuracy": 0.83, "log_loss": 0.37}
    found = evidence(champion=champion)
    found.reproduction = {
        "reproduced": False,
        "differences": [{"stage": "train", "path": "models"}],
    }
    messages = failed_messages(found)
    assert messages[0] == "the pipeline is not reproducible: train's models differ from dvc.lock"
    assert messages[1].startswith("roc_auc got worse by 0.0500 vs production")
    found.reproduction = {"reproduced": True, "differences": []}
    first = decide(POLICY, found)[0]
    assert (first.rule, first.passed) == ("reproduced", True)
    assert first.message == "the pipeline reproduced what dvc.lock records"
    assert len(failed_messages(found)) == 1


def paired(deltas: dict, **kwargs) -> Evidence:
    found = evidence(**kwargs)
    found.deltas, found.confidence = {"base": deltas}, 0.95
    return found


def test_with_an_interval_a_regression_fails_when_beyond_its_allowance_and_beyond_noise():
    from cauce.intervals import Interval

    base = {"roc_auc": 0.907, "accuracy": 0.83, "log_loss": 0.37}
    # ROC AUC −0.007, beyond the allowed 0.005, but its interval reaches 0: noise, passes.
    noisy = Interval(-0.007, -0.015, 0.001, 0.95)
    # Accuracy −0.004: surely worse (the interval is below 0), but within 0.01: passes.
    allowed = Interval(-0.004, -0.006, -0.002, 0.95)
    # Log loss +0.02 (lower is better): beyond 0.01, and the interval is above 0: fails.
    worse = Interval(0.02, 0.012, 0.028, 0.95)
    metrics = {"roc_auc": 0.90, "accuracy": 0.826, "log_loss": 0.39}
    deltas = {"roc_auc": noisy, "accuracy": allowed, "log_loss": worse}
    found = paired(deltas, metrics=metrics, base=base)
    checks = {c.metric: c for c in decide(POLICY, found) if c.rule == "regression vs main"}
    assert checks["roc_auc"].passed
    assert checks["roc_auc"].interval == noisy
    assert checks["accuracy"].passed
    assert not checks["log_loss"].passed
    assert failed_messages(found) == [
        "log_loss +0.0200 (+0.0120 … +0.0280) vs main: worse beyond noise, and by more than "
        "the allowed 0.01 (0.3700 → 0.3900)"
    ]


def test_without_an_interval_the_point_decides():
    base = {"roc_auc": 0.907, "accuracy": 0.83, "log_loss": 0.37}
    found = evidence(metrics={"roc_auc": 0.90, "accuracy": 0.83, "log_loss": 0.37}, base=base)
    assert failed_messages(found) == [
        "roc_auc got worse by 0.0070 vs main (0.9070 → 0.9000, allowed 0.005)"
    ]


def test_an_interval_reads_better_worse_or_within_noise_in_the_metrics_direction():
    from cauce.intervals import Interval
    from cauce.ops.gate import reading, shown

    assert reading("roc_auc", Interval(0.001, -0.001, 0.003, 0.95)) == "within noise"
    assert reading("roc_auc", Interval(0.004, 0.001, 0.007, 0.95)) == "better"
    assert reading("log_loss", Interval(0.004, 0.001, 0.007, 0.95)) == "worse"
    assert reading("log_loss", Interval(-0.004, -0.007, -0.001, 0.95)) == "better"
    assert shown(Interval(0.0012, -0.0008, 0.0031, 0.95)) == "+0.0012 (−0.0008 … +0.0031)"


def test_a_group_regression_with_an_interval_names_the_group_the_delta_and_the_interval():
    from cauce.intervals import Interval

    mine, base = {"SEX": {"1": group(5000, 0.85)}}, {"SEX": {"1": group(5000, 0.90)}}
    found = paired(
        {"roc_auc SEX=1": Interval(-0.05, -0.07, -0.03, 0.95)}, groups=mine, base_groups=base
    )
    assert failed_messages(found) == [
        "roc_auc for SEX=1 −0.0500 (−0.0700 … −0.0300) vs main: worse beyond noise, and by "
        "more than the allowed 0.02 (0.9000 → 0.8500)"
    ]


def test_a_passing_verdict_names_what_it_let_through():
    from cauce.intervals import Interval

    base = {"roc_auc": 0.907, "accuracy": 0.83, "log_loss": 0.37}
    metrics = {"roc_auc": 0.90, "accuracy": 0.826, "log_loss": 0.37}
    noise = Interval(0.0, -0.002, 0.002, 0.95)
    quiet = paired(dict.fromkeys(GOOD, noise), metrics=GOOD, base=GOOD)
    assert verdict(decide(POLICY, quiet)) == (
        "Gate passed: all 6 checks hold; no gated change is worse beyond noise."
    )
    deltas = {
        "roc_auc": Interval(-0.007, -0.015, 0.001, 0.95),  # past 0.005, but within noise
        "accuracy": Interval(-0.004, -0.006, -0.002, 0.95),  # surely worse, but within 0.01
        "log_loss": Interval(0.0, -0.001, 0.001, 0.95),
    }
    loud = paired(deltas, metrics=metrics, base=base)
    assert verdict(decide(POLICY, loud)) == (
        "Gate passed: all 6 checks hold; worse beyond noise, within the allowance: "
        "accuracy −0.0040 (−0.0060 … −0.0020) vs main; past the allowance, within noise: "
        "roc_auc −0.0070 (−0.0150 … +0.0010) vs main."
    )


def test_a_multiclass_models_recall_of_each_class_gets_its_interval():
    """The recall of a class is the accuracy on that class's rows: paired like any metric."""
    import numpy as np
    import pandas as pd

    from cauce.artifact import Target
    from cauce.intervals import paired as intervals
    from cauce.metrics import recall_per_class
    from cauce.ops.gate import ScoredRows, recall_key, subsets

    rng = np.random.default_rng(7)
    y = rng.integers(0, 3, 600)
    new = rng.dirichlet(np.ones(3), 600) + np.eye(3)[y] * 0.6
    old = rng.dirichlet(np.ones(3), 600) + np.eye(3)[y] * 0.3
    target = Target(column="grape", task="multiclass", classes=["barolo", "barbera", "dolcetto"])
    rows = ScoredRows(pd.DataFrame({"grape": y}), target, y, Scores(new, None))
    recalls = dict(zip(target.classes, recall_per_class(y, new), strict=True))
    metrics = {"accuracy": 0.8, "recall_per_class": recalls}
    measured = subsets(POLICY, rows, metrics, [])
    assert [s.key for s in measured] == ["accuracy", *map(recall_key, target.classes)]
    assert [s.family for s in measured] == [1, 3, 3, 3]  # the classes: one family of three
    others = {"base": Scores(old, None)}
    found = intervals("multiclass", y, Scores(new, None), others, measured, 0.95, 200, 0)
    for code, label in enumerate(target.classes):
        expected = recall_per_class(y, new)[code] - recall_per_class(y, old)[code]
        assert found["base"][recall_key(label)].delta == pytest.approx(expected)
        assert found["base"][recall_key(label)].low > 0  # the sharper model finds more


def test_the_gated_groups_are_one_family_of_intervals_and_small_groups_get_none():
    import numpy as np
    import pandas as pd

    from cauce.artifact import Target
    from cauce.ops.gate import ScoredRows, subsets

    sex = np.array(["1"] * 300 + ["2"] * 250 + ["3"] * 50)
    race = np.array(["a", "b"] * 300)
    y = np.arange(600) % 2
    target = Target(column="employed", task="binary", classes=[0, 1], threshold=0.5)
    frame = pd.DataFrame({"SEX": sex, "RAC1P": race})
    rows = ScoredRows(frame, target, y, Scores(y * 0.8 + 0.1, 0.5))
    measured = subsets(POLICY, rows, {"roc_auc": 0.9}, ["SEX", "RAC1P"])
    assert [(s.key, s.family) for s in measured] == [
        ("roc_auc", 1),
        ("roc_auc SEX=1", 4),
        ("roc_auc SEX=2", 4),
        ("roc_auc RAC1P=a", 4),
        ("roc_auc RAC1P=b", 4),
    ]


def test_a_test_split_too_small_for_an_allowance_is_named_in_a_note(params):
    """On 120 rows, ROC AUC's interval is far wider than its allowance of 0.005."""
    import numpy as np
    import pandas as pd

    from cauce.artifact import Target
    from cauce.metrics import compute_all
    from cauce.ops.gate import BASE, ScoredRows, add_intervals

    rng = np.random.default_rng(9)
    y = (rng.random(120) < 0.5).astype(int)
    new, old = (np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.3, 120), 0, 1) for _ in "ab")
    target = Target(column="employed", task="binary", classes=[0, 1], threshold=0.5)
    rows = ScoredRows(pd.DataFrame({"employed": y}), target, y, Scores(new, 0.5))
    found = evidence(metrics=compute_all("binary", y, new, 0.5))
    add_intervals(found, params, rows, {BASE: Scores(old, 0.5)})
    (note,) = found.notes
    assert note.startswith(
        "The test split (120 rows) is too small to judge these metrics against their "
        "allowances, each interval being wider: roc_auc ±0."
    )
    assert " against 0.005, " in note  # roc_auc's allowance in the module's params


def test_a_paired_change_without_an_interval_is_not_judged_on_its_point():
    """A group whose change is undefined in too many resamples (one class in many) has no
    interval: the gate does not fall back to its noisy point."""
    mine, base = {"SEX": {"1": group(400, 0.80)}}, {"SEX": {"1": group(400, 0.90)}}
    found = paired({}, groups=mine, base_groups=base)
    (check,) = [c for c in decide(POLICY, found) if c.rule == "group regression vs main"]
    assert check.passed
    assert check.message == (
        "roc_auc for SEX=1 vs main not judged: its change is undefined in too many resamples "
        "(too few rows of one class)"
    )


def test_a_fetch_error_names_no_temporary_path_and_keeps_its_type():
    from cauce.ops.gate import TEMPORARY, _fetch_folder
    from cauce.tools import ToolError

    with pytest.raises(ToolError) as raised, _fetch_folder() as folder:
        raise ToolError(f"dvc get failed: {folder}/models is missing")
    assert str(raised.value) == f"dvc get failed: {TEMPORARY}/models is missing"
    with pytest.raises(FileNotFoundError) as missing, _fetch_folder() as folder:
        (folder / "model" / "model.json").read_text()
    assert str(missing.value).endswith(f"'{TEMPORARY}/model/model.json'")


def test_a_passing_verdict_names_a_check_it_could_not_judge():
    mine, base = {"SEX": {"1": group(400, 0.80)}}, {"SEX": {"1": group(400, 0.90)}}
    found = paired({}, groups=mine, base_groups=base)
    assert verdict(decide(POLICY, found)) == (
        "Gate passed: all 4 checks hold; not judged (too few rows of one class): "
        "roc_auc SEX=1 vs main."
    )


def test_a_base_of_another_task_is_not_compared_and_asks_a_reviewer():
    """A multiclass fork against the census main: no number is compared (log loss 0.37 →
    2.30 would fail, a regression's zero checks would pass); the gate fails until a
    reviewer accepts the change in params.yaml, and then says it was accepted."""
    found = evidence(metrics={"log_loss": 2.3})
    found.incomparable = {"base": "the task changed from binary (employed) to multiclass (y)"}
    found.task = "multiclass y"
    checks = decide(POLICY, found)
    assert next((c.rule, c.passed) for c in failures(checks)) == ("comparable", False)
    assert failures(checks)[0].message == (
        "not comparable with main: the task changed from binary (employed) to multiclass (y), "
        "so its numbers say nothing of this model: a reviewer who accepts the change sets "
        "gate.accept_task_change: multiclass y in params.yaml"
    )
    accepted = POLICY.model_copy(update={"accept_task_change": "multiclass y"})
    checks = decide(accepted, found)
    comparable = [c for c in checks if c.rule == "comparable"]
    assert [c.passed for c in comparable] == [True]
    elsewhere = POLICY.model_copy(update={"accept_task_change": "regression z"})
    assert not next(c for c in decide(elsewhere, found) if c.rule == "comparable").passed


def test_a_gate_that_checked_nothing_does_not_pass():
    policy = GateParams.model_validate(
        {
            "metrics": {"rmse": {"max_regression": 0.5}},
            "groups": {"metric": "rmse", "max_regression": 1.0, "min_rows": 200},
        }
    )
    found = evidence(metrics={"rmse": 3.1}, base={"roc_auc": 0.9})
    found.primary, found.constant_metrics = "rmse", {"rmse": None}  # nothing to beat either
    checks = decide(policy, found)
    assert verdict(checks) == (
        "Gate failed (1 of 1 checks): no check ran: none of gate.metrics (rmse) has a min or "
        "max, or a base or production model reporting it to compare with; give one a floor "
        "or ceiling."
    )


def test_the_task_change_is_read_from_the_bases_params(params):
    census = {"data": {"task": "binary", "target": "employed"}}
    assert task_change(census, params) is None
    wines = params.model_copy(
        update={
            "data": params.data.model_copy(
                update={"task": "multiclass", "target": "cultivar", "positive_label": None}
            )
        }
    )
    assert task_change(census, wines) == (
        "the task changed from binary (employed) to multiclass (cultivar)"
    )
    assert task_change(None, wines) is None  # a base without params.yaml: nothing to tell


def test_a_model_that_does_not_beat_a_constant_beyond_noise_fails():
    """The small multiclass data: a log loss of 2.30 against 1.24 for always answering
    the class shares fails; better but within noise fails too; better beyond noise holds."""
    from cauce.intervals import Interval

    def against_constant(log_loss: float, interval: Interval | None) -> Evidence:
        found = evidence(metrics={"log_loss": log_loss})
        found.primary, found.constant = "log_loss", "the training class shares"
        found.constant_metrics = {"log_loss": 1.24}
        found.deltas = {"constant": {"log_loss": interval}} if interval else {}
        return found

    worse = against_constant(2.30, Interval(1.06, 0.8, 1.3, 0.95))
    (check,) = [c for c in decide(POLICY, worse) if c.rule == "constant"]
    assert not check.passed
    assert check.message == (
        "log_loss 2.3000 does not beat a constant model's 1.2400 (+1.0600 (+0.8000 … +1.3000)) "
        "beyond noise (always the training class shares): the model learned nothing it can "
        "show on these rows"
    )
    noise = against_constant(1.20, Interval(-0.04, -0.1, 0.02, 0.95))
    assert not next(c for c in decide(POLICY, noise) if c.rule == "constant").passed
    better = against_constant(0.37, Interval(-0.87, -0.95, -0.8, 0.95))
    assert next(c for c in decide(POLICY, better) if c.rule == "constant").passed
    assert next(
        c for c in decide(POLICY, against_constant(0.37, None)) if c.rule == "constant"
    ).passed
