"""`cauce train-window`: the retraining's one-line params change, edited in place."""

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


def test_the_window_grows_and_the_comments_stay(checkout, capsys):
    before = (checkout / "params.yaml").read_text().splitlines()
    assert main(["train-window", "--through", "2017"]) == 0
    assert capsys.readouterr().out == "data.train_years: [2015] → [2015, 2016, 2017]\n"
    after = (checkout / "params.yaml").read_text().splitlines()
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    comment = "        # later years play the part of production data"
    assert changed == [
        (f"  train_years: [2015]{comment}", f"  train_years: [2015, 2016, 2017]{comment}")
    ]


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
