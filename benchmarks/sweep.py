"""`cauce sweep` of the shipped sweep.yaml (8 settings) on the default data, with 1 worker
and with 2, each in its own fresh clone with an empty DVC cache (a sweep run twice in one
cache would take its second run from DVC's run cache). In each clone `dvc repro` builds
this commit first, as a data scientist's checkout has it; the sweep's time is measured
alone. One round each: a sweep is minutes, and the two are run back to back, so the ratio
comes from one run of a noisy machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, commit, markdown, save

WORKERS = (1, 2)


def sweep_seconds(scratch: Path, jobs: int) -> tuple[float, dict]:
    clone = scratch / f"jobs-{jobs}"
    subprocess.run(["git", "clone", "--quiet", ROOT, clone], check=True)
    subprocess.run(["dvc", "repro", "--quiet"], cwd=clone, check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run(
        ["cauce", "sweep", "--jobs", str(jobs), "--no-apply"],
        cwd=clone,
        check=True,
        capture_output=True,
    )
    seconds = time.perf_counter() - started
    record = json.loads((clone / "reports/sweep/sweep.json").read_text(encoding="utf-8"))
    print(f"sweep with {jobs} worker(s): {seconds:.1f} s", file=sys.stderr)
    return seconds, record


def main() -> int:
    os.environ["DVC_NO_ANALYTICS"] = "1"
    with tempfile.TemporaryDirectory(prefix="cauce-bench-sweep-") as folder:
        runs = {jobs: sweep_seconds(Path(folder), jobs) for jobs in WORKERS}
    seconds = {jobs: round(found[0], 1) for jobs, found in runs.items()}
    ranked = {jobs: [t["setting"] for t in found[1]["trials"]] for jobs, found in runs.items()}
    results = {
        "benchmark": "cauce sweep, 1 and 2 workers",
        "settings": len(runs[1][1]["trials"]),
        "seconds": {f"{jobs}_workers": value for jobs, value in seconds.items()},
        "ratios": {"one_over_two_workers": round(seconds[1] / seconds[2], 2)},
        # the same settings, the same figures, the same order, whatever the workers
        "same_ranking": ranked[1] == ranked[2],
        "same_figures": [t["metric"] for t in runs[1][1]["trials"]]
        == [t["metric"] for t in runs[2][1]["trials"]],
        "versions": {"cauce": commit()},
    }
    save("sweep", results, table(results))
    return 0


def table(results: dict) -> str:
    seconds = results["seconds"]
    rows = [
        [f"{jobs} worker{'s' * (jobs > 1)}", f"{seconds[f'{jobs}_workers']:.0f} s"]
        for jobs in WORKERS
    ]
    rows.append(["1 worker / 2 workers", f"{results['ratios']['one_over_two_workers']:.2f}×"])
    same = "yes" if results["same_ranking"] and results["same_figures"] else "**no**"
    return (
        markdown([f"`cauce sweep`, {results['settings']} settings", "wall time"], rows)
        + f"\n\nThe same ranking and the same figures with 1 and 2 workers: {same}."
    )


if __name__ == "__main__":
    sys.exit(main())
