"""Retraining by pull request: `cauce train-window` widens the training window.

The retrain workflow runs it, then `dvc repro`, and proposes the result as a PR: the
change is the list of years in params.yaml, visible in the PR's params diff like any
experiment.
The list is set as `dvc exp run -S` sets a value (params_file), so params.yaml keeps its
comments and its form.
"""

from __future__ import annotations

from cauce import UsageError
from cauce.config import Params
from cauce.files import write_text
from cauce.layout import PARAMS
from cauce.params_file import in_dvc_form
from cauce.pipeline.ingest import read_source, years_of


def window(params: Params, through: int | None = None) -> int:
    """Set data.train_years to every year of data.source from the first trained one
    through `through` (default: the newest year in the source)."""
    data = params.data
    if data.year_column is None or data.train_years is None:
        raise UsageError(
            "the data has no time column (data.year_column is null): there is no training "
            "window to move; retrain by changing data.source (new rows) and running dvc repro"
        )
    of_row = years_of(read_source(data.source), data, data.source)
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
        print(f"data.train_years is already {wanted}: nothing to change")
        return 0
    listed = ",".join(map(str, wanted))
    text = in_dvc_form(PARAMS.read_text(encoding="utf-8"), [f"data.train_years=[{listed}]"])
    write_text(PARAMS, text)
    print(f"data.train_years: {data.train_years} → {wanted}")
    return 0
