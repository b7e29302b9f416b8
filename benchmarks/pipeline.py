"""The pipeline and the PR loop measured on this machine:

- the full pipeline: `dvc repro --force` in a fresh clone with an empty DVC cache (every
  stage runs: without --force, stages whose outputs are in git are skipped);
- nothing to do: `dvc repro` when nothing changed, against `dvc status` (rounds
  interleaved), in that clone;
- the whole PR check: `make pr-check` in this checkout (lint, quick tests, lock check,
  reproduce, report, gate), as a contributor runs it before pushing. It runs last: its
  `cauce reproduce` rewrites the outputs (to the same bytes).

The clone's stages run this checkout's installed `cauce`, so run it on a clean checkout
(`make bench` on a fresh clone) for the figures of one commit.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, commit, markdown, medians, save

ROUNDS = 5
STEP = "⏱"  # how make pr-check marks a step's time


def timed(command: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> int:
    os.environ["DVC_NO_ANALYTICS"] = "1"
    with tempfile.TemporaryDirectory(prefix="cauce-bench-pipeline-") as scratch:
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "--quiet", ROOT, clone], check=True)
        full = timed(["dvc", "repro", "--force"], clone)
        print(f"full pipeline: {full:.1f} s", file=sys.stderr)
        rounds = [
            {"repro": timed(["dvc", "repro"], clone), "status": timed(["dvc", "status"], clone)}
            for _ in range(ROUNDS)
        ]
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=clone, capture_output=True, text=True, check=True
        ).stdout
    nothing = medians(rounds)
    started = time.perf_counter()
    check = subprocess.run(["make", "pr-check"], cwd=ROOT, capture_output=True, text=True)
    pr_check = time.perf_counter() - started
    if check.returncode != 0:
        raise SystemExit(f"make pr-check failed:\n{check.stdout[-3000:]}{check.stderr[-3000:]}")
    steps = [
        line.removeprefix(STEP).strip()
        for line in check.stdout.splitlines()
        if line.startswith(STEP)
    ]
    results = {
        "benchmark": "pipeline and PR check",
        "rounds": ROUNDS,
        "seconds": {
            "full_pipeline_fresh_clone": round(full, 2),
            "repro_nothing_to_do": round(nothing["repro"], 2),
            "dvc_status": round(nothing["status"], 2),
            "make_pr_check": round(pr_check, 1),
        },
        "pr_check_steps": steps,
        "clone_clean_after_repro": dirty == "",
        "ratios": {
            "repro_nothing_to_do_over_status": round(nothing["repro"] / nothing["status"], 2)
        },
        "targets": {
            "full_pipeline_seconds": 60,
            "repro_nothing_to_do_over_status": 1.5,
            "make_pr_check_seconds": 300,
        },
        "versions": {"cauce": commit()},
    }
    save("pipeline", results, table(results))
    return 0


def table(results: dict) -> str:
    seconds, ratio = results["seconds"], results["ratios"]["repro_nothing_to_do_over_status"]
    rows = [
        [
            "full pipeline (`dvc repro --force`, fresh clone, empty cache)",
            f"{seconds['full_pipeline_fresh_clone']:.1f} s",
            "< 60 s",
        ],
        [
            "`dvc repro` with nothing to do / `dvc status`",
            f"{seconds['repro_nothing_to_do']:.2f} s / {seconds['dvc_status']:.2f} s"
            f" = {ratio:.2f}×",
            "≤ 1.5×",
        ],
        ["`make pr-check` (the whole PR check)", f"{seconds['make_pr_check']:.0f} s", "< 300 s"],
    ]
    steps = "\n".join(f"- {step}" for step in results["pr_check_steps"])
    figures = markdown(["figure", "measured", "target"], rows)
    return f"{figures}\n\n`make pr-check`, step by step:\n\n{steps}"


if __name__ == "__main__":
    sys.exit(main())
