"""Retraining by pull request: `cauce train-window` widens the training window.

The retrain workflow runs it, then `dvc repro`, and proposes the result as a PR: the
change is the list of years in params.yaml, visible in the PR's params diff like any
experiment.
The list is set as `dvc exp run -S` sets a value (params_file), so params.yaml keeps its
comments and its form.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cauce import UsageError
from cauce.config import Params
from cauce.files import write_text
from cauce.layout import DRIFT_SUMMARY, PARAMS
from cauce.params_file import in_dvc_form
from cauce.pipeline.ingest import read_source, years_of


@dataclass(frozen=True)
class Window:
    """data.train_years before and after `cauce train-window`."""

    before: list[int]
    after: list[int]

    def line(self) -> str:
        if self.before == self.after:
            return f"data.train_years is already {self.after}: nothing to change"
        return f"data.train_years: {self.before} → {self.after}"


def window(params: Params, through: int | None = None) -> Window:
    """Set data.train_years to every year of data.source from the first trained one
    through `through` (default: the newest year in the source)."""
    data = params.data
    if data.year_column is None or data.train_years is None:
        raise UsageError(
            "the data has no time column (data.year_column is null): there is no training "
            "window to move; retrain by changing data.source (new rows) and running dvc repro"
        )
    of_row = years_of(read_source(data), data, data.source)
    years = sorted(int(year) for year in of_row.dropna().unique())
    last = years[-1] if through is None else through
    if last not in years:
        raise UsageError(f"--through {through}: no rows in {data.source}; its years are {years}")
    if last < max(data.train_years):
        raise UsageError(
            f"--through {last}: data.train_years {data.train_years} already reaches "
            f"{max(data.train_years)}; the window only widens (edit params.yaml to narrow it)"
        )
    wanted = [y for y in years if min(data.train_years) <= y <= last]
    if wanted == data.train_years:
        return Window(wanted, wanted)
    listed = ",".join(map(str, wanted))
    text = in_dvc_form(PARAMS.read_text(encoding="utf-8"), [f"data.train_years=[{listed}]"])
    write_text(PARAMS, text)
    return Window(data.train_years, wanted)


TokenKind = Literal["app", "pr", "default"]
# What the token that opens the retraining PR means for its checks (docs/operate.md).
TOKEN_NOTES: dict[TokenKind, str] = {
    "app": "Opened with the cauce GitHub App's token: the checks start by themselves.",
    "pr": "Opened with the CAUCE_PR_TOKEN secret: the checks start by themselves.",
    "default": (
        "**Only the default GITHUB_TOKEN was available**, and GitHub starts no workflow for a "
        "pull request it opens: this PR's checks will not run by themselves. Close and reopen "
        "it to start them, and configure the cauce GitHub App or a CAUCE_PR_TOKEN secret "
        "(docs/operate.md)."
    ),
}


def pull_request_body(
    window: str, base: str, token: TokenKind, monitor_run: str | None, report: Path = DRIFT_SUMMARY
) -> str:
    """The retraining PR's text: the window's change, which token opened it, and the drift
    report that asked for it (its headings moved under this one's), if one did."""
    lines = [
        "## Retraining on newer data",
        "",
        f"`{window}` (see the params diff). The pipeline was reproduced; the checks",
        f"and the gate judge the new model against `{base}` like any experiment.",
        "",
        TOKEN_NOTES[token],
        "",
    ]
    if report.exists():
        found = report.read_text(encoding="utf-8")
        lines += [f"### What the monitor found (run {monitor_run})", ""]
        lines += [re.sub(r"^## ", "#### ", line) for line in found.splitlines()]
    else:
        lines.append("Scheduled retraining: no drift report asked for it.")
    return "\n".join(lines) + "\n"
