"""The test suite's own time, as the people waiting on it see it, against its budgets:

- quick (`pytest -m "not slow"`): every save, and `make pr-check`;
- required (`make test-required`: the quick and end-to-end tiers): every pull request's
  `test` job;
- whole (`make test`: every tier, the statistical tests and the rehearsals too): CI, main
  and nightly; a pull request's `statistics` and `rehearsals` jobs run only when it
  changes what they cover (tests/tiers.py).

Three runs in this checkout, one after the other, each on every core as `make test` runs
and each building the shared state it needs (tests/built.py) anew: their wall times are
the figures. The whole run's time per tier (its tests' time summed over the workers) says
where its time goes.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

from tests.conftest import BUDGETS, TIERS

from benchmarks.common import ROOT, commit, markdown, save

SELECTIONS = {  # what each budget's run selects (the whole suite: everything)
    "quick": ["-m", TIERS["quick"]],
    "required": ["-m", "not rehearsal and not statistical"],
    "whole": [],
}


def run(selection: list[str]) -> dict:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *selection],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"pytest {' '.join(selection)} failed:\n{result.stdout[-4000:]}")
    passed = re.search(r"(\d+) passed", result.stdout)
    tiers = {
        name: {"tests": int(count), "seconds": float(total)}
        for name, count, total in re.findall(
            r"^([\w-]+) +(\d+) tests +([\d.]+) s +\(-m ", result.stdout, re.M
        )
        if name in TIERS
    }
    return {
        "seconds": round(seconds, 1),
        "passed": int(passed.group(1)) if passed else 0,
        "tiers": tiers,
    }


def main() -> int:
    runs = {}
    for name, selection in SELECTIONS.items():
        shown = f'pytest -m "{selection[1]}"' if selection else "make test"
        runs[name] = run(selection) | {"selection": shown}
        print(f"{name}: {runs[name]['seconds']:.0f} s", file=sys.stderr)
    results = {
        "benchmark": "the test suite, budget by budget",
        "runs": runs,
        "seconds": {name: found["seconds"] for name, found in runs.items()},
        "targets": {name: limit for name, (_, limit, _) in BUDGETS.items()},
        "versions": {"cauce": commit()},
    }
    save("suite", results, table(results))
    return 0


def table(results: dict) -> str:
    runs, targets = results["runs"], results["targets"]
    figures = [
        [
            f"{name} (`{found['selection']}`)",
            f"{found['passed']}",
            f"{found['seconds']:.0f} s",
            f"< {targets[name]} s",
        ]
        for name, found in runs.items()
    ]
    whole = runs["whole"]["tiers"]
    tiers = [
        [name, str(whole[name]["tests"]), f"{whole[name]['seconds']:.0f} s"]
        for name in TIERS
        if name in whole
    ]
    return (
        markdown(["run", "tests", "wall time", "budget"], figures)
        + "\n\nWhere the whole run's time goes (each tier's tests, summed over both workers):\n\n"
        + markdown(["tier", "tests", "test time"], tiers)
    )


if __name__ == "__main__":
    sys.exit(main())
