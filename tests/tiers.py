"""Which test tiers a pull request needs: `make tiers BASE=origin/main` (pr.yml's `changes`
job), printed as `rehearsals=true|false` and `statistics=true|false` for $GITHUB_OUTPUT,
the reasons on stderr.

Every pull request runs the quick and end-to-end tests (`make test-required`). Two tiers
run only on a pull request that changes what they cover; main and the nightly schedule
run every tier (suite.yml), and so does `make test`:

- the rehearsals (`make test-rehearsals`: the workflows under act, the image, load and
  fault tests) exercise the template's own machinery: a pull request that changes only
  what an experiment changes (EXPERIMENT: params, the sweep's settings, data, the
  pipeline's code, its recorded outputs, docs) leaves that machinery as it was and skips
  them. Any other file, or a change that cannot be listed, runs them.
- the statistical tests (`make test-statistics`, STATISTICAL: the gate's and the
  monitor's error rates and powers) measure a claim on the whole embedded data, minutes
  each, and their figures stand in the docs. They cover the modules they import, of cauce
  and of the tests (the closure of their imports, read from the code), and what every
  measurement stands on (MEASURED: params, the data, the libraries' lock): a pull request
  that changes none of these cannot change their figures and skips them.
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import sys
from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What an experiment changes: files at the top level (a glob here never crosses a `/`),
# and everything under the folders ending in `/`. The pipeline's code, the data and its
# contract are run end to end by the required tier, and judged by the experiment job;
# what a rehearsal adds is the wiring of the workflows around them, which they leave as
# it was, and the journey of other teams' data (tests/pipeline/test_your_data.py), which a
# change of this repository's model does not reach.
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


# Each statistical test module (the `statistical` marker), by the claim it measures.
STATISTICAL = {
    "tests/gitops/test_gate_rates.py": "the gate's false-fail rate and power",
    "tests/monitoring/test_rates.py": "the monitor's false-alarm rate and detection power",
    "tests/pipeline/test_awkward_frames.py": "that every file init accepts runs through the "
    "pipeline (200 generated frames)",
}
# What every measurement stands on besides the code it imports: the params it reads, the
# data it measures on, the libraries that compute it, and how its tier is chosen and run.
MEASURED = (
    "params.yaml",
    "data/",
    "uv.lock",
    "pyproject.toml",
    "Makefile",
    "tests/tiers.py",
    ".github/workflows/pr.yml",
)


def module_file(name: str) -> Path | None:
    """The file of module `name` (cauce's, under src/, or the tests'), or None when it is
    neither: a library's."""
    top = ROOT / "src" if name.split(".")[0] == "cauce" else ROOT
    if name.split(".")[0] not in {"cauce", "tests"}:
        return None
    base = top / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.exists():
            return candidate
    return None


def imported_modules(file: Path) -> set[str]:
    """The modules of cauce and of the tests that `file` imports: a cauce module's imports
    anywhere (at the top, or inside the functions that need them), a test module's at its
    top (a fixture's own imports serve the tests that ask for that fixture)."""
    tree = ast.parse(file.read_text(encoding="utf-8"))
    nodes = ast.walk(tree) if file.is_relative_to(ROOT / "src") else iter(tree.body)
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            # `from cauce import tools` imports a module, not a name
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if module_file(name)}


def closure(*roots: str) -> set[str]:
    """Every file of cauce and of the tests that importing `roots` runs, packages'
    __init__ included, relative to the repository."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            parent = ".".join(parts[:depth])
            file = module_file(parent)
            if parent not in seen and file is not None:
                seen.add(parent)
                pending += sorted(imported_modules(file))
    return {module.relative_to(ROOT).as_posix() for module in map(module_file, seen) if module}


def measured_by(test: str) -> set[str]:
    """The files whose change may change what the statistical module `test` measures: its
    imports' closure, and that of each conftest.py pytest loads for it."""
    folders = Path(test).parents
    conftests = [
        f"{folder.as_posix()}/conftest.py".replace("/", ".").removesuffix(".py")
        for folder in folders
        if (ROOT / folder / "conftest.py").exists()
    ]
    return closure(test.removesuffix(".py").replace("/", "."), *conftests)


def statistics(files: Iterable[str]) -> dict[str, list[str]]:
    """For each statistical test module, the files of `files` that it measures."""
    files = list(files)
    found = {}
    for test in STATISTICAL:
        covered = measured_by(test)
        hits = [
            name
            for name in files
            if name in covered
            or any(name == m or (m.endswith("/") and name.startswith(m)) for m in MEASURED)
        ]
        if hits:
            found[test] = hits
    return found


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
        why = f"the change since {base} cannot be listed ({error})"
        print(f"rehearsals: needed: {why}", file=sys.stderr)
        print(f"statistics: needed: {why}", file=sys.stderr)
        print("rehearsals=true\nstatistics=true")
        return 0
    covered = machinery(files)
    if covered:
        print(
            f"rehearsals: needed: {shown(covered)} changed (not an experiment's files)",
            file=sys.stderr,
        )
    else:
        print(
            f"rehearsals: skipped: {len(files)} changed files, all an experiment's "
            f"({', '.join(EXPERIMENT)})",
            file=sys.stderr,
        )
    measured = statistics(files)
    for test, hits in measured.items():
        print(
            f"statistics: needed: {shown(hits)} changed ({STATISTICAL[test]}, {test})",
            file=sys.stderr,
        )
    if not measured:
        print(
            f"statistics: skipped: none of {len(files)} changed files is measured by "
            f"{', '.join(STATISTICAL)}",
            file=sys.stderr,
        )
    print(f"rehearsals={'true' if covered else 'false'}")
    print(f"statistics={'true' if measured else 'false'}")
    return 0


def shown(files: list[str]) -> str:
    more = len(files) - 5
    return ", ".join(files[:5]) + (f" and {more} more" if more > 0 else "")


if __name__ == "__main__":
    raise SystemExit(main())
