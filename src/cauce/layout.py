"""Every path the project reads or writes, named once, relative to the repository root.

dvc.yaml spells the pipeline's paths too; tests/unit/test_layout.py checks that the two
agree, so a path is renamed here and there together or not at all.
"""

from pathlib import Path

# What the team edits and git keeps
PARAMS = Path("params.yaml")
PIPELINE = Path("dvc.yaml")
LOCK = Path("dvc.lock")
UV_LOCK = Path("uv.lock")
CONTRACT = Path("data/contract.yaml")
SOURCE_DIR = Path("data/source")  # the embedded data; `data.source` in params.yaml names the file

# Pipeline outputs in the DVC cache (stage by stage)
RAW = Path("data/raw/data.parquet")
TRAIN_SPLIT = Path("data/prepared/train.parquet")
TEST_SPLIT = Path("data/prepared/test.parquet")
MODEL_DIR = Path("models")
MODEL_FILE = MODEL_DIR / "model.skops"  # the whole scikit-learn Pipeline
MODEL_CARD = MODEL_DIR / "model.json"  # what serving needs: schema, threshold, facts
REFERENCE_PROFILE = MODEL_DIR / "reference.json"  # what the drift monitor compares against

# Pipeline outputs kept in git, so that a pull request can diff them
KEPT_REPORTS = Path("reports")
VALIDATION_REPORT = KEPT_REPORTS / "validation.json"
TRAIN_REPORTS = Path("reports/train")
TRAIN_METRICS = TRAIN_REPORTS / "metrics.json"
TRAIN_PARAMS = TRAIN_REPORTS / "params.yaml"  # DVCLive's record of the estimator's settings
EVALUATE_REPORTS = Path("reports/evaluate")
EVALUATE_METRICS = EVALUATE_REPORTS / "metrics.json"
GROUP_METRICS = EVALUATE_REPORTS / "groups.json"
SCORE_PROFILE = EVALUATE_REPORTS / "scores.json"  # the model's scores on the test split
PLOTS = EVALUATE_REPORTS / "plots"
PLOT_DATA = PLOTS / "custom"  # DVCLive's folder for the points of each plot

# What the jobs write (git-ignored): the PR report, the release, the package for deploy
PR_REPORTS = Path("reports/pr")
PR_REPORT = PR_REPORTS / "report.md"
GATE_VERDICT = PR_REPORTS / "gate.json"
PLOT_IMAGES = PR_REPORTS / "plots.json"  # beside the PNGs: which plot is which file
RELEASE_REPORTS = Path("reports/release")
RELEASE_RECORD = RELEASE_REPORTS / "release.json"
RELEASE_OUTCOME = RELEASE_REPORTS / "outcome.env"  # key=value lines for $GITHUB_OUTPUT
RELEASE_NOTES = RELEASE_REPORTS / "release-notes.md"
MONITOR_REPORTS = Path("reports/monitor")
DRIFT_RECORD = MONITOR_REPORTS / "drift.json"  # every figure, the decision and why
DRIFT_SUMMARY = MONITOR_REPORTS / "drift.md"  # the text of the issue or comment
DRIFT_PAGE = MONITOR_REPORTS / "drift.html"  # self-contained, pictures inlined
DRIFT_PLOTS = MONITOR_REPORTS / "plots"  # a PNG per feature, most drifted first
NOTIFICATIONS = Path("reports/notify")  # every event, written before it is sent
SWEEP_SPEC = Path("sweep.yaml")  # the settings `cauce sweep` tries
MACHINES = Path("machines.yaml")  # the machines train.yml can start for one job
SWEEP_REPORTS = Path("reports/sweep")
SWEEP_TABLE = SWEEP_REPORTS / "sweep.md"  # every setting ranked, with the gate's verdict
SWEEP_PICTURE = SWEEP_REPORTS / "sweep.png"  # the ranking metric per setting
SWEEP_RECORD = SWEEP_REPORTS / "sweep.json"  # every figure
SCORED = Path("scored/predictions.parquet")  # cauce score's default output (git-ignored)
SERVING = Path("serving")
SERVING_MODEL = SERVING / "model"  # the image's model directory (`cauce package`)
SERVING_INFO = "serving.json"  # beside a packaged model: its version and test metrics
FAST_MODEL = "model.fast.npz"  # beside a packaged model: its fast form, numpy only
RELEASE_BODY = "release.md"  # beside the packaged model directory: the GitHub Release text
MODEL_CARD_PAGE = "model-card.md"  # beside it (and in RELEASE_REPORTS): the model card

# Local state of this checkout (git-ignored)
LOCAL = Path(".cauce")
SERVED_MODELS = LOCAL / "models"  # versions fetched for `cauce serve --stage`
TIMINGS = LOCAL / "timings.json"  # how long each stage took last: wall-clock stays out of git
REPRODUCTION = LOCAL / "reproduction.json"  # what `cauce reproduce` found, for the report
REBUILDS = LOCAL / "rebuild"  # worktrees where an old version is rebuilt from its commit
