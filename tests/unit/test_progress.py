"""A long command's phases: one line each with its time; shown as it starts on a terminal,
logged when it ends elsewhere (CI logs, pipes); bars on a terminal only."""

from __future__ import annotations

import io
import logging
import re

import pytest

from cauce import progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_off_a_terminal_a_phase_is_one_logged_line_with_its_detail_and_time(caplog):
    with caplog.at_level(logging.INFO, logger="cauce"), progress.phase("report", "plots") as now:
        now.detail = "5 rendered"
    assert re.fullmatch(r"report: plots \(5 rendered\): \d+\.\d s", caplog.messages[-1])


def test_on_a_terminal_the_line_shows_as_the_phase_starts_and_is_completed_in_place(
    monkeypatch, caplog
):
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.delenv("CI", raising=False)
    with caplog.at_level(logging.INFO, logger="cauce"), progress.phase("train", "fitted"):
        assert terminal.getvalue() == "train: fitted …"
    assert re.fullmatch(r"train: fitted …\r\x1b\[Ktrain: fitted: \d+\.\d s\n", terminal.getvalue())
    assert caplog.messages == []  # said once, on the terminal


@pytest.mark.parametrize(
    ("tty", "ci", "drawn"), [(True, "", True), (True, "true", False), (False, "", False)]
)
def test_a_bar_draws_on_a_terminal_outside_ci_only(monkeypatch, tty, ci, drawn):
    stream = Terminal() if tty else io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setenv("CI", ci)
    bar = progress.bar(10, "rows")
    bar.update(10)
    bar.close()
    assert (stream.getvalue() != "") is drawn
