"""Which test tiers a pull request needs: `make tiers BASE=origin/main` (pr.yml's `changes`
job), printed as `rehearsals=true|false` for $GITHUB_OUTPUT, the reason on stderr.

Every pull request runs the quick and end-to-end tests (`make test-required`). The
rehearsals (`make test-rehearsals`: the workflows under act, the image, load and fault
tests) exercise the template's own machinery: a pull request that changes only what an
experiment changes (EXPERIMENT: params, the sweep's settings, data, the pipeline's code,
its recorded outputs, docs) leaves that machinery as it was and skips them. Any other
file, or a change that cannot be listed, runs them. main and the nightly schedule run
every tier (suite.yml).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterable
from fnmatch import fnmatchcase

# What an experiment changes: files at the top level (a glob here never crosses a `/`),
# and everything under the folders ending in `/`. The pipeline's code, the data and its
# contract are run end to end by the required tier, and judged by the experiment job;
# what a rehearsal adds is the wiring of the workflows around them, which they leave as
# it was.
EXPERIMENT = (
    "params.yaml",
    "sweep.yaml",  # the settings a `sweep`-labelled pull request tries
    "dvc.lock",
    "*.md",
    "reports/",
    "data/",
    "src/cauce/pipeline/",
    "docs/",
)


def is_experiments(name: str) -> bool:
    for pattern in EXPERIMENT:
        if pattern.endswith("/"):
            if name.startswith(pattern):
                return True
        elif "/" not in name and fnmatchcase(name, pattern):
            return True
    return False


def machinery(files: Iterable[str]) -> list[str]:
    """The files, of `files`, that are not an experiment's: what the rehearsals cover."""
    return [name for name in files if not is_experiments(name)]


def changed_files(base: str) -> list[str]:
    """What HEAD changes since it left `base` (the pull request's diff, three dots)."""
    result = subprocess.run(
        ["git", "diff", "--name-only", "--no-renames", f"{base}...HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise OSError(result.stderr.strip() or f"git diff {base}...HEAD failed")
    return result.stdout.splitlines()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make tiers", description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the branch the pull request merges into")
    base = parser.parse_args(argv).base
    try:
        files = changed_files(base)
    except OSError as error:  # git failed, or is not there: run them
        print(
            f"rehearsals: needed: the change since {base} cannot be listed ({error})",
            file=sys.stderr,
        )
        print("rehearsals=true")
        return 0
    covered = machinery(files)
    if covered:
        shown = ", ".join(covered[:5]) + (
            f" and {len(covered) - 5} more" if len(covered) > 5 else ""
        )
        print(f"rehearsals: needed: {shown} changed (not an experiment's files)", file=sys.stderr)
    else:
        print(
            f"rehearsals: skipped: {len(files)} changed files, all an experiment's "
            f"({', '.join(EXPERIMENT)})",
            file=sys.stderr,
        )
    print(f"rehearsals={'true' if covered else 'false'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
