"""`cauce train-window`: the retraining's params change, the list of years alone."""

from __future__ import annotations

import pytest
import yaml
from tests.conftest import ROOT, SOURCE

from cauce import ExitCode
from cauce.cli import main


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """params.yaml and the embedded source, as in a checkout."""
    (tmp_path / "params.yaml").write_text((ROOT / "params.yaml").read_text(encoding="utf-8"))
    source = tmp_path / SOURCE.relative_to(ROOT)
    source.parent.mkdir(parents=True)
    source.symlink_to(SOURCE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def train_years(checkout) -> list[int]:
    return yaml.safe_load((checkout / "params.yaml").read_text())["data"]["train_years"]


def test_the_window_grows_and_nothing_else_changes(checkout, capsys):
    before = (checkout / "params.yaml").read_text()
    assert main(["train-window", "--through", "2017"]) == 0
    assert capsys.readouterr().out == "data.train_years: [2015] → [2015, 2016, 2017]\n"
    after = (checkout / "params.yaml").read_text()
    assert after == before.replace("  - 2015\n", "  - 2015\n  - 2016\n  - 2017\n", 1)


def test_a_block_list_is_widened_to_the_newest_year(checkout, capsys):
    params = yaml.safe_load((checkout / "params.yaml").read_text())
    (checkout / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert main(["train-window"]) == 0
    assert train_years(checkout) == [2015, 2016, 2017, 2018]
    assert main(["train-window"]) == 0
    assert "already [2015, 2016, 2017, 2018]: nothing to change" in capsys.readouterr().out


def test_a_year_the_source_lacks_is_refused(checkout, capsys):
    assert main(["train-window", "--through", "2031"]) == ExitCode.USAGE
    error = capsys.readouterr().err
    assert "--through 2031: no rows in data/source/" in error
    assert "its years are [2015, 2016, 2017, 2018]" in error
    assert train_years(checkout) == [2015]


def test_the_window_never_narrows(checkout, capsys):
    assert main(["train-window", "--through", "2017"]) == 0
    assert main(["train-window", "--through", "2016"]) == ExitCode.USAGE
    assert "the window only widens" in capsys.readouterr().err
    assert train_years(checkout) == [2015, 2016, 2017]


def test_the_pull_requests_text_carries_the_window_the_token_and_the_drift_report(tmp_path):
    from cauce.ops.retrain import pull_request_body

    report = tmp_path / "drift.md"
    report.write_text("## Drift report: batch\n\n| AGEP | numeric |\n", encoding="utf-8")
    window = "data.train_years: [2015] → [2015, 2016]"
    text = pull_request_body(window, "main", "default", "4242", report)
    assert text.startswith(f"## Retraining on newer data\n\n`{window}` (see the params diff).")
    assert "against `main` like any experiment." in text
    assert "**Only the default GITHUB_TOKEN was available**" in text
    assert "### What the monitor found (run 4242)\n\n#### Drift report: batch\n" in text
    scheduled = pull_request_body(window, "main", "app", None, tmp_path / "absent.md")
    assert "Opened with the cauce GitHub App's token" in scheduled
    assert scheduled.endswith("Scheduled retraining: no drift report asked for it.\n")
