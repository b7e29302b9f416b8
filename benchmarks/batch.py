"""Batch scoring measured: `cauce score` against in-process `predict_proba` of the same
model on the whole embedded source, and its peak memory at 1× and 10× that input.

Rounds are interleaved (in-process, then each `cauce score` run) so that a noisy moment of
a shared machine lands on all of them; the medians are reported. The figures, the ratios,
the versions and the machine go to benchmarks/results/batch.json and docs/performance.md.
Run it with `make bench` (it needs the pipeline's model: `make run` first, which it does).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from benchmarks.common import ROOT, commit, save
from cauce.config import load_params
from cauce.layout import MODEL_DIR, MODEL_FILE
from cauce.model import load_model, score
from cauce.serving.batch import BATCH_ROWS

ROUNDS = 3
CAUCE = Path(sys.executable).parent / "cauce"
# Runs `cauce score` as a child and prints the child's peak resident set size in KiB.
PEAK_RSS = (
    "import resource, subprocess, sys;"
    "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL);"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def cauce_score(source: Path, output: Path, *options: str) -> dict[str, float]:
    """One `cauce score` process: its own summary, its wall time and its peak RSS."""
    command = [
        CAUCE,
        "score",
        "--input",
        source,
        "--output",
        output,
        "--model-dir",
        ROOT / MODEL_DIR,
    ]
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, *map(str, command), *options],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - started
    summary = json.loads(output.with_name(output.stem + ".summary.json").read_text())
    return {
        "rows": summary["rows_read"],
        "seconds": summary["seconds"],
        "wall_seconds": wall,
        "peak_rss_mib": int(result.stdout) / 1024,
    }


def main() -> int:
    params = load_params()
    source = ROOT / params.data.source
    pipeline = load_model(ROOT / MODEL_FILE)
    frame = pd.read_parquet(source)
    runs: dict[str, list[dict[str, float]]] = {
        "in_process": [],
        "local_1x": [],
        "local_10x": [],
        "dask_1x": [],
        "dask_10x": [],
    }
    with tempfile.TemporaryDirectory(prefix="cauce-bench-") as scratch:
        tenfold = Path(scratch) / "tenfold"
        tenfold.mkdir()
        for part in range(10):
            frame.to_parquet(tenfold / f"part-{part}.parquet")
        out = Path(scratch) / "out"
        out.mkdir()
        for round_number in range(1, ROUNDS + 1):
            started = time.perf_counter()
            score(pipeline, frame)
            runs["in_process"].append(
                {"rows": len(frame), "seconds": time.perf_counter() - started}
            )
            runs["local_1x"].append(cauce_score(source, out / "local.parquet"))
            runs["local_10x"].append(cauce_score(tenfold, out / "local10.parquet"))
            runs["dask_1x"].append(cauce_score(source, out / "dask.parquet", "--engine", "dask"))
            runs["dask_10x"].append(
                cauce_score(tenfold, out / "dask10.parquet", "--engine", "dask")
            )
            print(f"round {round_number}/{ROUNDS} done", file=sys.stderr)

    figures = {
        name: {
            key: round(statistics.median(run[key] for run in measured), 3) for key in measured[0]
        }
        for name, measured in runs.items()
    }
    for figure in figures.values():
        figure["rows_per_second"] = round(figure["rows"] / figure["seconds"])
    in_process = figures["in_process"]["rows_per_second"]
    ratios = {
        "local_vs_in_process": round(figures["local_1x"]["rows_per_second"] / in_process, 3),
        "dask_10x_vs_in_process": round(figures["dask_10x"]["rows_per_second"] / in_process, 3),
        "peak_rss_10x_vs_1x": round(
            figures["local_10x"]["peak_rss_mib"] / figures["local_1x"]["peak_rss_mib"], 3
        ),
    }
    results = {
        "benchmark": "batch scoring",
        "source": params.data.source,
        "batch_rows": BATCH_ROWS,
        "rounds": ROUNDS,
        "figures": figures,
        "ratios": ratios,
        "targets": {"local_vs_in_process": 0.8, "peak_rss_10x_vs_1x": 1.2},
        "versions": {
            "cauce": commit(),
            **{name: version(name) for name in ("scikit-learn", "pandas", "pyarrow", "dask")},
        },
    }
    save("batch", results, table(figures, ratios))
    return 0


def table(figures: dict[str, dict[str, float]], ratios: dict[str, float]) -> str:
    rows = [
        "| run | rows | seconds (in the job) | rows/s | process wall s | peak RSS MiB |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, figure in figures.items():
        wall, rss = figure.get("wall_seconds"), figure.get("peak_rss_mib")
        rows.append(
            f"| {name} | {figure['rows']:,.0f} | {figure['seconds']:.2f} | "
            f"{figure['rows_per_second']:,} | {'' if wall is None else f'{wall:.1f}'} | "
            f"{'' if rss is None else f'{rss:.0f}'} |"
        )
    rows += ["", "| ratio | measured | target |", "| --- | ---: | ---: |"]
    for label, key, target in (
        ("cauce score (local) / in-process predict_proba, rows/s", "local_vs_in_process", "≥ 0.8×"),
        ("cauce score --engine dask on 10× / in-process, rows/s", "dask_10x_vs_in_process", ""),
        ("peak RSS of cauce score at 10× / at 1×", "peak_rss_10x_vs_1x", "≤ 1.2×"),
    ):
        rows.append(f"| {label} | {ratios[key]:.2f}× | {target} |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
