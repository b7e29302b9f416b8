"""The test suite's own time, tier by tier, as the people waiting on it see it:

- quick (`pytest -m "not slow"`): every save, and `make pr-check`;
- end-to-end (`-m "slow and not rehearsal"`): with the quick tier, every pull request's
  required `test` job (`make test-required`);
- rehearsals (`-m rehearsal`): the workflows under act, the image, load and fault tests,
  on a pull request only when the files they cover change (tests/tiers.py), always on
  main and nightly.

Three runs in this checkout, one after the other, each on every core as `make test`
runs: the quick tier alone, a pull request's tests (`make test-required`: quick and
end-to-end) and the rehearsals (`make test-rehearsals`). The last two together are the
whole suite that CI runs in one go (`make test`); each run builds the shared state it
needs (tests/built.py) anew, so their sum is a little above one `make test`.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time

from tests.conftest import TIERS

from benchmarks.common import ROOT, commit, markdown, save

TARGETS = {"quick": 90, "required": 300, "whole": 900}  # seconds


def run_tier(selection: str) -> dict:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", selection],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"pytest -m '{selection}' failed:\n{result.stdout[-4000:]}")
    passed = re.search(r"(\d+) passed", result.stdout)
    return {"seconds": round(seconds, 1), "passed": int(passed.group(1)) if passed else 0}


RUNS = {
    "quick": TIERS["quick"],
    "required (quick + end-to-end)": "not rehearsal",
    "rehearsals": TIERS["rehearsals"],
}


def main() -> int:
    runs = {}
    for name, selection in RUNS.items():
        runs[name] = run_tier(selection) | {"selection": selection}
        print(f"{name}: {runs[name]['seconds']:.0f} s", file=sys.stderr)
    required = runs["required (quick + end-to-end)"]["seconds"]
    whole = round(required + runs["rehearsals"]["seconds"], 1)
    results = {
        "benchmark": "the test suite, tier by tier",
        "tiers": runs,
        "seconds": {"quick": runs["quick"]["seconds"], "required": required, "whole": whole},
        "targets": TARGETS,
        "versions": {"cauce": commit()},
    }
    save("suite", results, table(results))
    return 0


def table(results: dict) -> str:
    rows = [
        [f'{name} (`-m "{tier["selection"]}"`)', str(tier["passed"]), f"{tier['seconds']:.0f} s"]
        for name, tier in results["tiers"].items()
    ]
    seconds, targets = results["seconds"], results["targets"]
    figures = [
        ["the quick tier", f"{seconds['quick']:.0f} s", f"< {targets['quick']} s"],
        [
            "a pull request's tests (quick + end-to-end)",
            f"{seconds['required']:.0f} s",
            f"< {targets['required']} s",
        ],
        [
            "the whole suite (the last two runs)",
            f"{seconds['whole']:.0f} s",
            f"< {targets['whole']} s",
        ],
    ]
    return (
        markdown(["tier", "tests", "wall time"], rows)
        + "\n\n"
        + markdown(["figure", "measured", "target"], figures)
    )


if __name__ == "__main__":
    sys.exit(main())
