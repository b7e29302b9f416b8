"""The `cauce` command: help for every subcommand, clear errors, no tracebacks."""

from __future__ import annotations

import subprocess
import sys

from cauce.cli import COMMANDS, main


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


def test_a_missing_input_exits_1_naming_the_file(tmp_path, monkeypatch, capsys):
    from tests.conftest import ROOT

    monkeypatch.chdir(tmp_path)
    assert main(["--params", str(ROOT / "params.yaml"), "prepare"]) == 1
    assert "data/raw/data.parquet" in capsys.readouterr().err
