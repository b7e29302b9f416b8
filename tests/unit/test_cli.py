"""The `cauce` command: help for every subcommand, clear errors, no tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cauce import ExitCode, tools
from cauce.cli import COMMANDS, main, parser
from cauce.tools import ToolError


def test_help_lists_every_subcommand_with_a_description():
    result = subprocess.run(
        [sys.executable, "-m", "cauce.cli", "--help"], capture_output=True, text=True, check=True
    )
    for name, command in COMMANDS.items():
        summary = command.summary
        assert any(
            line.split()[:1] == [name] and summary in line for line in result.stdout.splitlines()
        ), f"{name} missing from:\n{result.stdout}"


def test_a_configuration_error_exits_2_without_a_traceback(tmp_path, capsys):
    bad = tmp_path / "params.yaml"
    bad.write_text("data: {}\n", encoding="utf-8")
    assert main(["--params", str(bad), "ingest"]) == 2
    error = capsys.readouterr().err
    assert "cauce ingest: configuration error:" in error
    assert f"{bad}: data.source: required key is missing" in error
    assert "Traceback" not in error


def test_a_missing_input_exits_5_naming_the_file(tmp_path, monkeypatch, capsys):
    from tests.conftest import ROOT

    monkeypatch.chdir(tmp_path)
    assert main(["--params", str(ROOT / "params.yaml"), "prepare"]) == ExitCode.DATA
    assert "data/raw/data.parquet" in capsys.readouterr().err


# The bad-input matrix for options (docs/reliability.md): argparse refuses each one.
WRONG_OPTIONS: dict[str, tuple[list[str], str]] = {
    "port-out-of-range": (
        ["serve", "--port", "99999"],
        "argument --port: '99999' is not a port: a whole number",
    ),
    "port-not-a-number": (["serve", "--port", "http"], "argument --port: 'http' is not a port"),
    "version-a-word": (["serve", "--version", "latest"], "'latest' is not a version like v0.2.0"),
    "version-of-another-artifact": (
        ["score", "--output", "o.parquet", "--version", "data@v1.0.0"],
        "'data@v1.0.0' is not a version like v0.2.0",
    ),
    "stage-with-symbols": (["serve", "--stage", "Prod!"], "'Prod!' is not a stage name like prod"),
    "url-without-scheme": (["smoke-test", "--url", "127.0.0.1:8000"], "is not an http(s) address"),
    "negative-seconds": (
        ["smoke-test", "--url", "http://x", "--wait", "-1"],
        "'-1' is not a number of seconds",
    ),
    "nan-seconds": (
        ["smoke-test", "--url", "http://x", "--wait", "nan"],
        "'nan' is not a number of seconds",
    ),
    "years-with-a-word": (
        ["monitor", "--years", "2018,soon"],
        "'2018,soon': give years like 2018, 2016,2017",
    ),
    "year-of-two-digits": (["train-window", "--through", "18"], "'18' is not a year like 2018"),
    "unknown-engine": (
        ["score", "--output", "o.parquet", "--engine", "spark"],
        "invalid choice: 'spark'",
    ),
    "repository-without-owner": (
        ["deploy-target", "--repository", "just-a-name"],
        "is not a repository like owner/name",
    ),
    "required-option-missing": (["package"], "the following arguments are required: --version"),
}


@pytest.mark.parametrize(("arguments", "message"), WRONG_OPTIONS.values(), ids=WRONG_OPTIONS.keys())
def test_an_option_of_the_wrong_type_exits_2_naming_it(arguments, message, capsys):
    with pytest.raises(SystemExit) as exited:
        main(arguments)
    assert exited.value.code == ExitCode.USAGE
    error = capsys.readouterr().err
    assert message in error
    assert f"cauce {arguments[0]}: error:" in error


def test_options_arrive_typed():
    arguments = parser().parse_args(
        ["serve", "--port", "8123", "--model-dir", "models", "--version", "model@v0.2.0"]
    )
    assert (arguments.port, arguments.model_dir, arguments.version) == (
        8123,
        Path("models"),
        "v0.2.0",
    )
    years = parser().parse_args(["monitor", "--years", "2016, 2017"]).years
    assert years.values == (2016, 2017)
    # GTO's own names: stages with capitals and slashes, versions with a pre-release
    staged = parser().parse_args(["serve", "--stage", "eu/Canary", "--version", "v1.0.0-rc.1"])
    assert (staged.stage, staged.version) == ("eu/Canary", "v1.0.0-rc.1")
    assert parser().parse_args(["monitor", "--years", "latest"]).years.values == ()


def test_a_command_that_needs_no_params_never_reads_them(tmp_path, capsys):
    absent = str(tmp_path / "absent.yaml")
    status = main(
        ["--params", absent, "smoke-test", "--url", "http://127.0.0.1:9", "--wait", "0.1"]
    )
    assert status == ExitCode.FAILED
    assert "http://127.0.0.1:9/ready did not answer 200 within 0.1 s" in capsys.readouterr().err
    assert main(["--params", absent, "ingest"]) == ExitCode.USAGE
    assert f"{absent}: file not found" in capsys.readouterr().err


def test_every_exit_code_is_distinct_and_in_the_help():
    assert len({code.value for code in ExitCode}) == len(ExitCode)
    help_text = parser().format_help()
    for code in ExitCode:
        assert f"{code.value} {code.name.lower().replace('_', ' ')}" in " ".join(help_text.split())


def test_a_program_that_is_not_installed_is_an_external_error():
    with pytest.raises(ToolError, match="cauce-no-such-tool: not installed") as raised:
        tools.run("cauce-no-such-tool", "--version")
    assert raised.value.exit_code == ExitCode.EXTERNAL


def test_every_version_and_stage_gto_accepts_makes_an_image_tag():
    from cauce.ops.deploy import image_tag

    assert image_tag("v1.0.0+build.5") == "v1.0.0-build.5"
    assert image_tag("eu/Canary") == "eu-Canary"
    assert image_tag("v0.2.0") == "v0.2.0"
