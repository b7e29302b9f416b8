"""The pull-request loop with real git, dvc, gto and cauce: a bare `origin`, a clone with
the baseline on main, and PR branches that make the model worse or leave it alone."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from cauce import ExitCode
from tests.conftest import Workspace

pytestmark = pytest.mark.slow
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# A failed regression check: the metric, its change with the interval, and why it fails.
WORSE_BEYOND_NOISE = (
    r"{} −0\.\d{{4}} \(−0\.\d{{4}} … −0\.\d{{4}}\) vs {}: worse beyond noise, "
    r"and by more than the allowed 0\.01 \(0\.\d{{4}} → 0\.\d{{4}}\)"
)


@pytest.fixture(scope="module")
def clone(tmp_path_factory, baseline_clone) -> Workspace:
    return baseline_clone(tmp_path_factory.mktemp("gitops"))


def branch(clone: Workspace, name: str) -> None:
    clone.run("git", "switch", "-q", "-C", name, "main")
    clone.run("dvc", "checkout", "-q")


def commit_all(clone: Workspace, message: str) -> None:
    clone.run("git", "add", "-A")
    clone.run("git", "commit", "-q", "-m", message)


def test_a_worse_model_fails_the_gate_naming_the_metric_its_change_and_interval(clone):
    branch(clone, "fewer-iterations")
    clone.run("dvc", "exp", "run", "-S", "train.hist_gradient_boosting.max_iter=3")
    # DVC rewrote params.yaml; in the form it writes, only the value set changed
    assert clone.run("git", "diff", "--numstat", "params.yaml").stdout == "1\t1\tparams.yaml\n"
    early = clone.run("cauce", "reproduce", check=False)  # before the commit it proves
    assert early.returncode == ExitCode.USAGE
    assert "the pipeline here has uncommitted changes (dvc.lock, params.yaml)" in early.stderr
    commit_all(clone, "try 3 boosting iterations")

    report = clone.run("cauce", "report", "--base", "main")
    assert report.stdout.strip() == "reports/pr/report.md"
    text = (clone.path / "reports/pr/report.md").read_text(encoding="utf-8")
    assert text.startswith("## Model report: this PR vs `main`\n\n❌ **Gate failed (")
    verdict_line = text.splitlines()[2]
    assert re.search(WORSE_BEYOND_NOISE.format("average_precision", "main"), verdict_line)
    rows = {line.split(" |")[0]: line for line in text.splitlines() if line.startswith("| ")}
    assert re.search(
        r"\| 🔴 −0\.\d{4} \(−0\.\d{4} … −0\.\d{4}\) worse \|$", rows["| Average precision ↑"]
    )
    # On the sampled test split (800 rows), ROC AUC fell past its allowance of 0.005, but
    # its interval holds zero: noise, which the gate does not fail.
    assert rows["| ROC AUC ↑"].endswith(") within noise |")
    assert "roc_auc −0." not in verdict_line
    assert "| `train.hist_gradient_boosting.max_iter` | `40` | `3` |" in text
    assert "![The gated changes, with their intervals](deltas.png)" in text
    assert (clone.path / "reports/pr/deltas.png").read_bytes()[:8] == PNG_MAGIC

    gate = clone.run("cauce", "gate", "--base", "main", check=False)
    assert gate.returncode == 1
    assert gate.stdout.startswith("Gate failed (")
    assert re.search("\n  - " + WORSE_BEYOND_NOISE.format("average_precision", "main"), gate.stdout)
    verdict = json.loads((clone.path / "reports/pr/gate.json").read_text(encoding="utf-8"))
    assert verdict["passed"] is False
    assert any(f.startswith("average_precision −0.") for f in verdict["failures"])


def test_the_report_and_the_gate_are_the_same_bytes_again_at_another_thread_count(clone):
    """On the worse PR the first test left checked out: the intervals are seeded and summed
    without threads, so a run with one OpenMP thread and a run with two write the same
    verdict, the same picture and the same report but for its two timings (training and
    latency)."""
    folder = clone.path / "reports/pr"

    def written(threads: str) -> dict[str, bytes]:
        env = clone.env.copy()
        clone.env["OMP_NUM_THREADS"] = threads
        try:
            clone.run("cauce", "report", "--base", "main")
            clone.run("cauce", "gate", "--base", "main", check=False)
        finally:
            clone.env = env
        return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}

    def without_timings(report: bytes) -> list[str]:
        timed = ("- **Training time**", "- **Prediction latency**")
        return [line for line in report.decode().splitlines() if not line.startswith(timed)]

    first, again = written("1"), written("2")
    assert set(first) == set(again)
    for name in first.keys() - {"report.md"}:
        assert first[name] == again[name], name
    assert without_timings(first["report.md"]) == without_timings(again["report.md"])


def test_the_report_images_are_real_pngs_of_both_revisions(clone):
    folder = clone.path / "reports/pr"
    manifest = json.loads((folder / "plots.json").read_text(encoding="utf-8"))
    assert set(manifest) == {
        "ROC curve",
        "Precision-recall curve",
        "Calibration",
        "Confusion matrix",
        "Permutation feature importance",
    }
    for title, entry in manifest.items():
        image = (folder / entry["file"]).read_bytes()
        assert image.startswith(PNG_MAGIC), title
        assert 10_000 < len(image) < 2_000_000, (title, len(image))
        assert f"![{title}]({entry['file']})" in (folder / "report.md").read_text(encoding="utf-8")
    assert sorted(manifest["ROC curve"]["revisions"]) == ["main", "this PR"]


def test_a_neutral_change_passes(clone):
    branch(clone, "more-importance-repeats")
    clone.set_params({"evaluate.permutation_importance.n_repeats": 3})
    clone.run("dvc", "repro")
    commit_all(clone, "more permutation repeats")
    gate = clone.run("cauce", "gate", "--base", "main", check=False)
    assert gate.returncode == 0, gate.stdout
    assert gate.stdout.startswith("Gate passed: all ")
    text_of = clone.run("cauce", "report", "--base", "main")
    assert text_of.returncode == 0
    text = (clone.path / "reports/pr/report.md").read_text(encoding="utf-8")
    assert "✅ **Gate passed" in text
    assert "⚪ 0.0000 unchanged" in next(
        line for line in text.splitlines() if line.startswith("| ROC AUC")
    )
    assert gate.stdout.startswith("Gate passed: all ")
    assert "; no gated change is worse beyond noise." in gate.stdout


def test_a_neutral_retraining_reads_within_noise_on_every_gated_metric(clone, params):
    """A learning rate 0.5% lower retrains the model: every gated change is small, and its
    interval says so, where a coloured point would have called it better or worse."""
    branch(clone, "learning-rate-a-hair-lower")
    clone.run("dvc", "exp", "run", "-S", "train.hist_gradient_boosting.learning_rate=0.0995")
    commit_all(clone, "learning rate 0.0995")
    gate = clone.run("cauce", "gate", "--base", "main", check=False)
    passed = r"Gate passed: all \d+ checks hold; no gated change is worse beyond noise\.\n"
    assert re.fullmatch(passed, gate.stdout), gate.stdout
    clone.run("cauce", "report", "--base", "main")
    text = (clone.path / "reports/pr/report.md").read_text(encoding="utf-8")
    rows = {line.split(" |")[0].removeprefix("| "): line for line in text.splitlines()}
    labels = {"roc_auc": "ROC AUC ↑", "average_precision": "Average precision ↑"}
    labels |= {"accuracy": "Accuracy ↑", "log_loss": "Log loss ↓"}
    assert set(labels) == set(params.gate.metrics)
    for label in labels.values():
        assert rows[label].endswith(") within noise |"), rows[label]
        assert "unchanged" not in rows[label]  # the model did change


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (
            "data.test_size=0.25",
            "its test split is not this PR's (the data or the split changed), and its "
            "model may have trained on some of these rows.",
        ),
        (
            "data.positive_label=0",
            "its model predicts 'employed' (binary, [0, 1]), this checkout's 'employed' "
            "(binary, [1, 0]).",
        ),
    ],
)
def test_a_base_that_cannot_be_paired_is_compared_by_its_points(clone, change, why):
    """Another test split (the base may have trained on these rows) or another target
    (its scores mean something else): the note says why, and the changes are points."""
    branch(clone, f"unpaired-{change}")
    clone.run("dvc", "exp", "run", "-S", change)
    commit_all(clone, change)
    clone.run("cauce", "report", "--base", "main")
    text = (clone.path / "reports/pr/report.md").read_text(encoding="utf-8")
    assert f"> The changes against main are point estimates, without intervals: {why}" in text
    roc_row = next(line for line in text.splitlines() if line.startswith("| ROC AUC"))
    assert "(" not in roc_row.split(" | ")[3]  # a point's change, no interval
    assert "![The gated changes, with their intervals]" not in text


def test_a_base_without_metrics_reports_this_prs_numbers(clone):
    branch(clone, "first-pr")
    stale = clone.path / "reports/pr/an-earlier-plot.png"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"an earlier run's picture")
    clone.run("cauce", "report", "--base", "before-first-run")
    assert not stale.exists()  # the report folder holds this run's pictures only
    text = (clone.path / "reports/pr/report.md").read_text(encoding="utf-8")
    assert "> before-first-run has no reports/evaluate/metrics.json (a first pull request?)" in text
    roc_row = next(line for line in text.splitlines() if line.startswith("| ROC AUC"))
    assert roc_row.startswith("| ROC AUC ↑ | – | **0.")
    gate = clone.run("cauce", "gate", "--base", "before-first-run", check=False)
    assert gate.returncode == 0, gate.stdout


def test_the_production_model_is_the_champion(clone):
    """With main's model in prod, a worse PR is compared with it on the PR's own test set."""
    clone.run("gto", "register", "model", "main", "--version", "v0.1.0")
    clone.run("gto", "assign", "model", "--version", "v0.1.0", "--stage", "prod")
    branch(clone, "fewer-iterations-again")
    clone.run("dvc", "exp", "run", "-S", "train.hist_gradient_boosting.max_iter=3")
    commit_all(clone, "3 iterations, with a champion in prod")
    clone.run("cauce", "report", "--base", "main")
    text = (clone.path / "reports/pr/report.md").read_text(encoding="utf-8")
    assert "| production `model@v0.1.0` ¹ | vs production |" in text
    assert "¹ the production model, scored on the same test split as this PR." in text
    gate = clone.run("cauce", "gate", "--base", "main", check=False)
    assert gate.returncode == 1
    assert re.search(
        WORSE_BEYOND_NOISE.format("average_precision", "production model@v0\\.1\\.0"), gate.stdout
    )


def test_a_new_split_still_meets_production_on_its_rows_with_a_warning(clone):
    """With model@v0.1.0 in prod (the test before): a PR that splits the data otherwise is
    compared with production on its own test rows, as a release compares them, and the
    report warns that some of them may be in production's training data."""
    branch(clone, "another-split-with-a-champion")
    clone.run("dvc", "exp", "run", "-S", "data.seed=7")
    commit_all(clone, "another split")
    clone.run("cauce", "report", "--base", "main")
    text = (clone.path / "reports/pr/report.md").read_text(encoding="utf-8")
    assert (
        "> The production model model@v0.1.0 was trained on another split of the data than "
        "this one's: some of these test rows may be in its training data, which would "
        "flatter it against this model."
    ) in text
    assert "> The changes against main are point estimates, without intervals: its test " in text
    roc_row = next(line for line in text.splitlines() if line.startswith("| ROC AUC"))
    assert roc_row.endswith((") within noise |", ") worse |", ") better |"))  # vs production


def test_an_unknown_base_is_named(clone):
    result = clone.run("cauce", "gate", "--base", "no-such-branch", check=False)
    assert result.returncode == ExitCode.USAGE
    assert "revision 'no-such-branch' not found" in result.stderr


def test_check_lock_names_what_changed_since_dvc_lock(clone):
    branch(clone, "forgot-to-repro")
    clone.set_params({"train.hist_gradient_boosting.learning_rate": 0.05})
    (clone.path / "src/cauce/pipeline/prepare.py").open("a").write("# a comment\n")
    commit_all(clone, "changed params and code, no dvc repro")
    result = clone.run("cauce", "check-lock", check=False)
    assert result.returncode == 1
    assert "dvc.lock is stale: run dvc repro and commit dvc.lock" in result.stderr
    assert "  - train: params.yaml (train modified)" in result.stderr
    assert "  - prepare: src/cauce/pipeline/prepare.py modified" in result.stderr


def test_check_lock_ignores_outputs_ci_has_not_pulled(clone):
    branch(clone, "fresh-checkout")
    for output in ("data/raw", "data/prepared", "models"):
        shutil.rmtree(clone.path / output)
    result = clone.run("cauce", "check-lock")
    assert result.stdout.strip() == "dvc.lock matches the code, params and data."
