"""The docs' runnable examples, run: every ```` ```console runnable ```` block of README.md and
docs/*.md is executed in a released copy of the baseline repository, and what it prints
must have the shape the page shows, so a page cannot drift from the code unnoticed.

How a block reads: a `$ ` line is a command (continued while its quotes are open or it
ends in a backslash); the lines under it are what it prints, stdout and stderr together.
Shape: measured numbers (with a decimal point or a thousands comma, or of four digits or
more) match any number, `…` inside a line matches any text, and a line of `…` alone any
run of lines. A command the page shows no output for must only succeed; `$ echo $?` shows
the exit code of the command before it. A command ending in `&` runs in the background
until the block ends. The baseline is small (tests/conftest.py SMALL), so counts of rows
and seconds differ from the pages'; the port the pages show, 8000, is a free one here.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from dataclasses import dataclass, field

import pytest

from tests.conftest import ROOT, Workspace
from tests.serving.conftest import free_port

pytestmark = pytest.mark.slow

FENCE = "```console runnable"
# Every journey's page has at least one runnable block (the journeys of README.md).
JOURNEYS = (
    "docs/propose-an-experiment.md",
    "docs/read-the-report.md",
    "docs/merge-to-release.md",
    "docs/deploy-and-rollback.md",
    "docs/operate.md",
    "docs/batch-scoring.md",
    "docs/bring-your-own-data.md",
)
MEASURED = re.compile(r"(?<![\w.])-?(?:\d[\d,]*\.\d+(?:e[-+]?\d+)?|\d{1,3}(?:,\d{3})+|\d{4,})")
DOCUMENTED_PORT = "8000"
TRAILING_COMMENT = re.compile(r"\s+#[^'\"\n]*$")  # `$ cmd   # why`: the shell drops it too


@dataclass
class Command:
    text: str
    shown: list[str] = field(default_factory=list)  # the output lines the page shows


def blocks(page: str) -> list[list[Command]]:
    """The runnable blocks of `page`, each a list of commands with what they print."""
    found, current, command = [], None, None
    for line in (ROOT / page).read_text(encoding="utf-8").splitlines():
        if current is None:
            if line.strip() == FENCE:
                current = []
            continue
        if line.startswith("```"):
            found.append(current)
            current = None
        elif command is not None and not _complete(command.text):
            command.text += "\n" + line
        elif line.startswith("$ "):
            command = Command(line[2:])
            current.append(command)
        else:
            assert command is not None, f"{page}: output before any command: {line!r}"
            command.shown.append(line)
    return found


def _complete(text: str) -> bool:
    if text.endswith("\\"):
        return False
    try:
        shlex.split(text, comments=True)
    except ValueError:  # an open quote: the command goes on
        return False
    return True


def _measured(line: str) -> str:
    return MEASURED.sub("N", line)


def shape(shown: list[str]) -> re.Pattern[str]:
    """A pattern of the printed text for the lines a page shows."""
    parts = []
    for line in shown:
        if line.strip() == "…":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            pieces = [re.escape(piece) for piece in _measured(line).split("…")]
            parts.append("[^\n]*".join(pieces) + r"[ \t]*\n")
    return re.compile("".join(parts))


def run_block(space: Workspace, block: list[Command], port: str) -> None:
    background: list[subprocess.Popen] = []
    env = space.env | {"PYTHONUNBUFFERED": "1"}
    last = 0
    try:
        for index, command in enumerate(block):
            text = TRAILING_COMMENT.sub("", command.text).strip().replace(DOCUMENTED_PORT, port)
            shown = [line.replace(DOCUMENTED_PORT, port) for line in command.shown]
            if text == "echo $?":
                assert shown == [str(last)], f"exit code {last}; the page says {shown}"
                continue
            if text.endswith("&"):
                quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
                background.append(
                    subprocess.Popen(
                        ["bash", "-c", f"exec {text[:-1]}"], cwd=space.path, env=env, **quiet
                    )
                )
                continue
            done = subprocess.run(
                ["bash", "-c", text], cwd=space.path, env=env, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, timeout=600, check=False,
            )  # fmt: skip
            last = done.returncode
            checked_next = index + 1 < len(block) and block[index + 1].text.strip() == "echo $?"
            assert last == 0 or checked_next, f"$ {text}\nexited {last}:\n{done.stdout}"
            printed = "".join(_measured(line) + "\n" for line in done.stdout.splitlines())
            assert not shown or shape(shown).fullmatch(printed), (
                f"$ {text}\nprinted:\n{done.stdout}\nthe page shows:\n" + "\n".join(shown)
            )
    finally:
        for process in background:
            process.terminate()
            process.wait(timeout=10)


# Pages whose blocks change the repository (a branch, params, the contract) get a copy of
# their own; the others share one, released once.
CHANGES_THE_REPOSITORY = {
    "docs/propose-an-experiment.md",
    "docs/operate.md",
    "docs/bring-your-own-data.md",
}


def release_of(space: Workspace) -> Workspace:
    """The baseline after its first release (v0.1.0 in prod), as the pages assume."""
    space.run("cauce", "release")
    return space


@pytest.fixture(scope="module")
def shared(tmp_path_factory, baseline_clone) -> Workspace:
    return release_of(baseline_clone(tmp_path_factory.mktemp("docs")))


def test_every_journey_page_has_a_runnable_block():
    assert [page for page in JOURNEYS if not blocks(page)] == []


RUNNABLE = [
    page
    for page in ["README.md", *(str(p.relative_to(ROOT)) for p in sorted(ROOT.glob("docs/*.md")))]
    if FENCE in (ROOT / page).read_text(encoding="utf-8")
]


@pytest.mark.parametrize("page", RUNNABLE)
def test_the_runnable_blocks_of_a_page_print_what_it_shows(page, request, tmp_path):
    if page in CHANGES_THE_REPOSITORY:
        space = release_of(request.getfixturevalue("baseline_clone")(tmp_path))
    else:
        space = request.getfixturevalue("shared")
    port = str(free_port())
    for block in blocks(page):
        run_block(space, block, port)


def test_a_page_that_drifted_from_the_code_is_caught():
    shown = ["Reproduced: rebuilt …; all 9 outputs are byte for byte what dvc.lock records."]
    printed = "Reproduced: rebuilt train; all 10 outputs are byte for byte what dvc.lock records.\n"
    assert shape(shown).fullmatch(printed) is None
    measured = _measured("score: 4,000 rows read in 0.2 s") + "\n"
    assert shape(["score: 277,677 rows read in 3.7 s"]).fullmatch(measured)
    assert shape(["score: 277,677 rows read in 3.7 s"]).fullmatch("score: rows read\n") is None
