"""dvc.yaml agrees with the code: every path it names is one `cauce.layout` names, and each
stage depends on every module of cauce its command imports, so that a change to any of
them reruns the stage (and makes a new model version)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from tests.conftest import ROOT
from tests.tiers import closure

from cauce import layout

SRC = ROOT / "src"
PIPELINE = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
STAGES = PIPELINE["stages"]


def command_modules(stage: dict) -> set[str]:
    """The modules behind a stage's `python -m cauce.pipeline <stage>`: the entry point and
    the stage's own module (which it imports by name)."""
    words = stage["cmd"].split()
    assert words[:3] == ["python", "-m", "cauce.pipeline"], stage["cmd"]
    return closure("cauce.pipeline.__main__", f"cauce.pipeline.{words[3]}")


@pytest.mark.parametrize("name", list(STAGES))
def test_no_stage_depends_on_the_cli_or_an_upper_room(name):
    """So an option added to a command that is not a stage (say, `cauce score`) changes no
    stage's hash in dvc.lock, and reruns nothing."""
    upper = sorted(
        path
        for path in command_modules(STAGES[name])
        if path.split("/")[2] in ("cli", "ops", "serving", "monitoring")
    )
    assert upper == []


@pytest.mark.parametrize("name", list(STAGES))
def test_each_stage_depends_on_every_module_its_command_imports(name):
    stage = STAGES[name]
    declared = {d for d in stage["deps"] if d.startswith("src/")}
    needed = command_modules(stage)
    assert sorted(needed - declared) == [], f"dvc.yaml: {name} lacks these deps"
    assert sorted(declared - needed) == [], f"dvc.yaml: {name} depends on what it never imports"


def layout_paths() -> set[str]:
    return {value.as_posix() for value in vars(layout).values() if isinstance(value, Path)}


def stage_paths(stage: dict) -> set[str]:
    paths = {d for d in stage.get("deps", []) if not d.startswith(("src/", "${"))}
    for section in ("outs", "metrics", "plots"):
        paths |= {next(iter(e)) if isinstance(e, dict) else e for e in stage.get(section, [])}
    return paths


@pytest.mark.parametrize("name", list(STAGES))
def test_every_path_of_a_stage_is_named_in_layout(name):
    assert sorted(stage_paths(STAGES[name]) - layout_paths()) == []


def test_the_model_artifact_is_the_layouts_model_directory():
    assert PIPELINE["artifacts"]["model"]["path"] == layout.MODEL_DIR.as_posix()
    outputs = {p for stage in STAGES.values() for p in stage_paths(stage)}
    for path in (
        layout.RAW,
        layout.TRAIN_SPLIT,
        layout.TEST_SPLIT,
        layout.MODEL_DIR,
        layout.VALIDATION_REPORT,
        layout.TRAIN_METRICS,
        layout.EVALUATE_METRICS,
        layout.GROUP_METRICS,
        layout.PLOTS,
    ):
        assert path.as_posix() in outputs, f"{path} is written by no stage of dvc.yaml"


def test_dvc_yaml_shows_the_plots_evaluate_writes_for_the_params_task(params):
    from cauce.pipeline.evaluate import dvc_plots

    assert PIPELINE["plots"] == dvc_plots(params.data.task)


def test_the_committed_dvc_lock_is_current_for_this_code():
    """What the PR's check-lock job runs: a change to any stage's module needs a dvc repro."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cauce"), "check-lock"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("room", "must_not_reach"),
    [
        ("cauce.pipeline", ("cli", "ops", "serving", "monitoring")),
        ("cauce.serving", ("cli", "ops", "pipeline", "monitoring")),
        ("cauce.monitoring", ("cli", "ops", "pipeline", "serving")),
        ("cauce.ops", ("cli",)),
    ],
)
def test_a_room_imports_the_core_and_not_a_sibling_room(room, must_not_reach):
    """Only ops/ drives the other rooms, and no room reaches the CLI above them all; the
    HTTP app runs without git, DVC or GTO."""
    package = SRC / Path(*room.split("."))
    modules = [f"{room}.{file.stem}" for file in package.glob("*.py") if file.stem != "__init__"]
    for module in modules:
        reached = closure(module)
        crossing = sorted(f for f in reached if f.split("/")[2] in must_not_reach)
        assert crossing == [], f"{module} imports {crossing}"


ROOMS = ("pipeline", "ops", "serving", "monitoring")
# The stages' own door, which DVC runs: like the CLI, it prints errors and gives exit codes.
DOORS = {"src/cauce/pipeline/__main__.py"}


def terminal_uses(file: Path) -> list[tuple[int, str]]:
    """Where `file` prints, writes to stdout, exits, or names an exit code: (line, what)."""
    found = []
    for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
        said = None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            said = "print()" if node.func.id == "print" else None
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id == "sys" and node.attr in ("stdout", "exit"):
                said = f"sys.{node.attr}"
        elif isinstance(node, ast.Name | ast.alias):
            name = node.id if isinstance(node, ast.Name) else node.name
            said = "ExitCode" if name == "ExitCode" else None
        if said:
            found.append((getattr(node, "lineno", 0), said))
    return found


@pytest.mark.parametrize("room", ROOMS)
def test_no_room_prints_or_decides_an_exit_code(room):
    """A room returns typed results or raises the one error tree; the CLI alone prints
    them and maps them to exit codes (progress and notes go to the log, on stderr)."""
    files = sorted((SRC / "cauce" / room).glob("*.py"))
    assert files
    found = [
        f"{file.relative_to(ROOT)}:{line}: {said}"
        for file in files
        if file.relative_to(ROOT).as_posix() not in DOORS
        for line, said in terminal_uses(file)
    ]
    assert found == []


def test_the_check_of_terminal_uses_finds_each_kind(tmp_path):
    """So that the test above can fail."""
    module = tmp_path / "room.py"
    module.write_text(
        "import sys\nfrom cauce import ExitCode\nprint(1)\nsys.stdout.write('x')\n"
        "sys.exit(ExitCode.OK)\n",
        encoding="utf-8",
    )
    kinds = {said for _, said in terminal_uses(module)}
    assert sorted(kinds) == ["ExitCode", "print()", "sys.exit", "sys.stdout"]


def test_what_score_and_monitor_write_by_default_is_ignored_by_git():
    from cauce.layout import DRIFT_PLOTS, DRIFT_RECORD, SCORED
    from cauce.serving.batch import outputs

    written = [SCORED, *outputs(SCORED), DRIFT_RECORD, DRIFT_PLOTS / "AGEP.png"]
    for path in written:
        ignored = subprocess.run(["git", "check-ignore", "-q", str(path)], cwd=ROOT, check=False)
        assert ignored.returncode == 0, f"{path} would be staged by git add -A"
