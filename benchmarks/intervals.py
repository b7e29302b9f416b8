"""What the gate's intervals cost on the default data.

In a fresh clone, `dvc repro` builds this commit as main, registers it as the production
model (`model@v0.1.0`), and a pull request branch cuts the boosting iterations from 200
to 20 (`dvc exp run`, committed): the report's example. Then, in interleaved rounds:

- `cauce gate --base main` and `cauce report --base main`, whole processes, as the PR's
  experiment job runs them (the base's and production's models are in the clone's DVC
  cache, as on a runner that restored it);
- the intervals alone, in process: `add_intervals` for this PR against main's model and
  the production model, on every metric and every gated group (the predictions scored
  beforehand, as `cauce gate` has them).

The share of the intervals in each command is what they add to it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, commit, markdown, medians, save

ROUNDS = 3
IDENTITY = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
# Run in the clone: the seconds add_intervals takes there, and what it measured.
INTERVALS_ALONE = """
import json, time
from cauce.config import load_params
from cauce.ops import registry, revisions
from cauce.ops.gate import BASE, PRODUCTION, Evidence, ScoredRows, add_intervals
from cauce.ops.gate import scores_at, scores_of_version

params = load_params()
rows = ScoredRows.read()
others = {
    BASE: scores_at(revisions.resolve("main"), rows)[0],
    PRODUCTION: scores_of_version(registry.production_version(), rows),
}
evidence = Evidence("main", *rows.measure(rows.scores, params))
started = time.perf_counter()
add_intervals(evidence, params, rows, others)
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "rows": len(rows.y_true),
                  "deltas": sum(len(found) for found in evidence.deltas.values())}))
"""


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=False, capture_output=True)
    return time.perf_counter() - started


def built_pull_request(clone: Path) -> None:
    """A clone with main built and in production, and a worse PR branch committed."""

    subprocess.run(["git", "clone", "--quiet", ROOT, clone], check=True)

    def run(*command: str) -> None:
        subprocess.run(command, cwd=clone, check=True, capture_output=True)

    run("dvc", "repro", "--quiet")
    run("gto", "register", "model", "HEAD", "--version", "v0.1.0")
    run("gto", "assign", "model", "--version", "v0.1.0", "--stage", "prod")
    run("git", "switch", "--quiet", "-c", "fewer-iterations")
    run("dvc", "exp", "run", "--quiet", "-S", "train.hist_gradient_boosting.max_iter=20")
    run("git", "add", "-A")
    run("git", "commit", "--quiet", "-m", "20 boosting iterations")


def main() -> int:
    os.environ.update({"DVC_NO_ANALYTICS": "1", **IDENTITY})
    with tempfile.TemporaryDirectory(prefix="cauce-bench-intervals-") as scratch:
        clone = Path(scratch) / "clone"
        built_pull_request(clone)
        rounds, measured = [], {}
        for _ in range(ROUNDS):
            alone = subprocess.run(
                [sys.executable, "-c", INTERVALS_ALONE],
                cwd=clone,
                check=True,
                capture_output=True,
                text=True,
            )
            measured = json.loads(alone.stdout)
            rounds.append(
                {
                    "intervals": measured["seconds"],
                    "gate": timed(["cauce", "gate", "--base", "main"], clone),
                    "report": timed(["cauce", "report", "--base", "main"], clone),
                }
            )
    seconds = medians(rounds)
    results = {
        "benchmark": "the gate's intervals on the default data",
        "rounds": ROUNDS,
        "test_rows": measured["rows"],
        "deltas": measured["deltas"],
        "resamples": 1000,
        "seconds": {name: round(value, 2) for name, value in seconds.items()},
        "ratios": {
            "intervals_over_gate": round(seconds["intervals"] / seconds["gate"], 2),
            "intervals_over_report": round(seconds["intervals"] / seconds["report"], 2),
        },
        "versions": {"cauce": commit()},
    }
    save("intervals", results, table(results))
    return 0


def table(results: dict) -> str:
    seconds, ratios = results["seconds"], results["ratios"]
    rows = [
        [
            f"the intervals alone: {results['deltas']} deltas × {results['resamples']:,} "
            f"resamples of {results['test_rows']:,} rows",
            f"{seconds['intervals']:.2f} s",
            "",
        ],
        [
            "`cauce gate --base main`, whole process",
            f"{seconds['gate']:.2f} s",
            f"{ratios['intervals_over_gate']:.0%}",
        ],
        [
            "`cauce report --base main`, whole process",
            f"{seconds['report']:.2f} s",
            f"{ratios['intervals_over_report']:.0%}",
        ],
    ]
    return markdown(["what", "median", "of which the intervals"], rows)


if __name__ == "__main__":
    sys.exit(main())
