"""docs/reliability.md's bad-input matrix is the tests: every row names a collected test,
every case of the matrix tests has its row, and every entry point has at least ten."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT

DOC = ROOT / "docs/reliability.md"
# The matrix: every test_bad_*.py module, and the options' cases in test_cli.py.
OPTIONS = "tests/unit/test_cli.py::test_an_option_of_the_wrong_type_exits_2_naming_it"


def documented() -> tuple[list[str], set[str], dict[str, int]]:
    """The matrix's rows as node ids, the other tests the page names, rows per section."""
    page = DOC.read_text(encoding="utf-8")
    text = page.split("## The bad-input matrix", 1)[1].split("\n## ", 1)[0]
    rows: list[str] = []
    per_test: dict[str, int] = {}
    for section in re.split(r"^### ", text, flags=re.MULTILINE)[1:]:
        found = re.search(r"^Test: `([^`]+)`$", section, flags=re.MULTILINE)
        assert found, f"{DOC}: the section '{section.splitlines()[0]}' names no Test:"
        cells = re.findall(r"^\| ([a-z0-9-]+) \|", section, flags=re.MULTILINE)
        cases = [cell for cell in cells if cell != "case" and set(cell) != {"-"}]
        rows += [f"{found.group(1)}[{case}]" for case in cases]
        per_test[found.group(1)] = len(cases)
    named = set(re.findall(r"`(tests/[\w/]+\.py::\w+)`", page)) - set(per_test)
    return rows, named, per_test


def collected(named: set[str]) -> set[str]:
    """The matrix modules' tests, and those of the modules the page names."""
    matrix = {str(path.relative_to(ROOT)) for path in ROOT.glob("tests/**/test_bad_*.py")}
    modules = sorted(matrix | {test.split("::")[0] for test in named})
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            "0",  # collecting needs no workers
            *modules,
            OPTIONS,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return {line for line in result.stdout.splitlines() if "::" in line}


def test_every_row_is_a_test_and_every_case_has_a_row():
    rows, named, _ = documented()
    tests = collected(named)
    assert len(rows) == len(set(rows)), "a row is listed twice"
    assert sorted(set(rows) - tests) == [], "rows that name no collected test"
    matrix_modules = ("/test_bad_", OPTIONS)
    cases = {test for test in tests if "[" in test and any(m in test for m in matrix_modules)}
    assert sorted(cases - set(rows)) == [], "cases without a row in docs/reliability.md"
    parametrized = {test.split("[")[0] for test in tests}  # named whole, without a case
    assert sorted(named - tests - parametrized) == [], "tests the page names that do not exist"


def test_each_entry_point_has_at_least_ten_cases():
    """An entry point is a module of the matrix (the source's covers ingest and validate)."""
    _, _, per_test = documented()
    per_module: dict[str, int] = {}
    for test, count in per_test.items():
        module = test.split("::")[0]
        per_module[module] = per_module.get(module, 0) + count
    assert len(per_module) >= 7, per_module
    assert {module: n for module, n in per_module.items() if n < 10} == {}
