"""What the benchmarks share: the peers' own virtual environments, medians of interleaved
rounds, the results file with versions and machine, and the tables in docs/performance.md.

Peers (MLflow, Evidently) are not in uv.lock: each gets a virtual environment under
`.cache/bench/<peer>`, made with the project's uv from the pinned requirements below and
remade when they change. The machine is shared and noisy, so every benchmark interleaves
its contestants round by round and reports medians, and ratios come from one run.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

from cauce.files import write_json, write_text

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks/results"
PAGE = ROOT / "docs/performance.md"
PEER_ENVIRONMENTS = ROOT / ".cache/bench"
UV = ROOT / ".tools/bin/uv"
# Pinned peers (their own dependencies resolve when the environment is made). MLflow loads
# the same skops file, so it gets our scikit-learn and skops; Evidently 0.7 needs pandas
# below 3.1.
PEERS = {
    "mlflow": [
        "mlflow==3.17.2",
        f"scikit-learn=={version('scikit-learn')}",
        f"skops=={version('skops')}",
    ],
    "evidently": ["evidently==0.7.23", "pandas==3.0.6", "pyarrow"],
}


def peer_python(peer: str) -> Path:
    """The Python of the peer's own environment, made (or remade) from its pins."""
    environment = PEER_ENVIRONMENTS / peer
    python = environment / "bin/python"
    pins = "\n".join(PEERS[peer]) + "\n"
    stamp = environment / "requirements.txt"
    if python.exists() and stamp.exists() and stamp.read_text() == pins:
        return python
    print(f"bench: making the {peer} environment ({', '.join(PEERS[peer])})", file=sys.stderr)
    subprocess.run(
        [UV, "venv", "--quiet", "--clear", "--python", sys.executable, environment], check=True
    )
    subprocess.run([UV, "pip", "install", "--quiet", "--python", python, *PEERS[peer]], check=True)
    stamp.write_text(pins)
    return python


def peer_versions(peer: str) -> dict[str, str]:
    return dict(pin.split("==") for pin in PEERS[peer] if "==" in pin)


def medians(rounds: list[dict[str, float]]) -> dict[str, float]:
    return {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def machine() -> dict[str, Any]:
    memory = next(
        line.split()[1]
        for line in Path("/proc/meminfo").read_text().splitlines()
        if "MemTotal" in line
    )
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(int(memory) / 2**20, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_end": os.getloadavg(),
    }


def commit() -> str:
    """The commit measured, marked -dirty when the checkout has changes other than the
    benchmarks' own results."""

    def git(*arguments: str) -> str:
        return subprocess.run(
            ["git", "-C", ROOT, *arguments], capture_output=True, text=True, check=False
        ).stdout.strip()

    results = [f":(exclude){path.relative_to(ROOT)}" for path in (RESULTS, PAGE)]
    changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", *results)
    return git("rev-parse", "--short", "HEAD") + ("-dirty" if changed else "")


def save(name: str, results: dict[str, Any], table: str) -> None:
    """benchmarks/results/<name>.json, and the table between the page's markers for it."""
    path = write_json(RESULTS / f"{name}.json", results | {"machine": machine()})
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    page = PAGE.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(page):
        raise SystemExit(f"{PAGE}: no {begin} … {end} section for the {name} table")
    stamp = f"*`make bench` at {results['versions']['cauce']}, {os.cpu_count()} cores.*"
    replaced = pattern.sub(lambda _: f"{begin}\n{stamp}\n\n{table}\n{end}", page)
    write_text(PAGE, replaced)
    print(f"{table}\n\nwritten to {path.relative_to(ROOT)} and {PAGE.relative_to(ROOT)}")


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
