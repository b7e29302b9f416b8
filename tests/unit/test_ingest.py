"""The time column's periods: whole years, or the years of dates (text or datetimes)."""

from __future__ import annotations

import pandas as pd
import pytest

from cauce import DataError
from cauce.config import ConfigError, DataParams
from cauce.pipeline.ingest import training_rows, years_of

DATA = DataParams(
    source="s.csv", task="binary", target="y", year_column="when", train_years=[2016],
    test_size=0.2, seed=1,
)  # fmt: skip


@pytest.mark.parametrize(
    "when",
    [
        [2015, 2016, 2016, 2017],
        ["2015-12-31", "2016-01-01", "2016-07-04T09:30:00", "2017-01-01"],
        pd.to_datetime(["2015-12-31", "2016-01-01", "2016-07-04", "2017-01-01"]),
        pd.to_datetime(["2015-12-31", "2016-01-01", "2016-07-04", "2017-01-01"]).tz_localize(
            "Europe/Madrid"
        ),
    ],
    ids=["years", "iso-text", "datetimes", "with-time-zone"],
)
def test_a_rows_period_is_its_year(when):
    frame = pd.DataFrame({"when": when, "y": [0, 1, 0, 1]})
    assert years_of(frame, DATA, "s.csv").tolist() == [2015, 2016, 2016, 2017]
    kept, _ = training_rows(frame, DATA, "s.csv")
    assert kept.index.tolist() == [1, 2]  # the rows of 2016, by their place in the file


def test_a_time_value_that_is_neither_a_year_nor_a_date_names_its_row():
    frame = pd.DataFrame({"when": ["2016-01-01", "soon", "2016-02-30"], "y": [0, 1, 0]})
    with pytest.raises(DataError) as caught:
        years_of(frame, DATA, "s.csv")
    assert str(caught.value) == (
        "s.csv: column 'when' (data.year_column) holds values that are neither whole years "
        "(2018) nor ISO 8601 dates (2018-03-31), e.g. row 1: 'soon', row 2: '2016-02-30'"
    )


def test_a_missing_time_column_says_how_to_do_without():
    with pytest.raises(ConfigError, match=r"set data\.year_column and data\.train_years to null"):
        years_of(pd.DataFrame({"y": [0]}), DATA, "s.csv")
