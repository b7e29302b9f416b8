"""The time column's periods: whole years, or the years of dates (text or datetimes)."""

from __future__ import annotations

import pandas as pd
import pytest

from cauce import DataError
from cauce.config import ConfigError, DataParams
from cauce.pipeline.ingest import read_table, sniff, training_rows, years_of

DATA = DataParams(
    source="s.csv", task="binary", target="y", year_column="when", train_years=[2016],
    test_size=0.2, seed=1,
)  # fmt: skip


# Local times around new year, in winter and summer time: in UTC, the second is in 2015.
WALL_CLOCK = [
    "2015-12-31 23:30:00+01:00",
    "2016-01-01 00:30:00+01:00",
    "2016-07-04 00:30:00+02:00",
    "2017-01-01 00:00:00+01:00",
]


@pytest.mark.parametrize(
    "when",
    [
        [2015, 2016, 2016, 2017],
        ["2015-12-31", "2016-01-01", "2016-07-04T09:30:00", "2017-01-01"],
        pd.to_datetime(["2015-12-31", "2016-01-01", "2016-07-04", "2017-01-01"]),
        pd.to_datetime(["2015-12-31", "2016-01-01", "2016-07-04", "2017-01-01"]).tz_localize(
            "Europe/Madrid"
        ),
        WALL_CLOCK,
    ],
    ids=["years", "iso-text", "datetimes", "with-time-zone", "text-with-offsets"],
)
def test_a_rows_period_is_its_year(when):
    frame = pd.DataFrame({"when": when, "y": [0, 1, 0, 1]})
    assert years_of(frame, DATA, "s.csv").tolist() == [2015, 2016, 2016, 2017]
    kept, _ = training_rows(frame, DATA, "s.csv")
    assert kept.index.tolist() == [1, 2]  # the rows of 2016, by their place in the file


def test_a_csv_and_a_parquet_file_of_the_same_times_put_each_row_in_the_same_year(tmp_path):
    """A row's year is its local date's, whether the file is text or typed."""
    frame = pd.DataFrame({"when": WALL_CLOCK, "y": [0, 1, 0, 1]})
    frame.to_csv(tmp_path / "s.csv", index=False)
    typed = frame.assign(
        when=pd.to_datetime(frame["when"], utc=True).dt.tz_convert("Europe/Madrid")
    )
    typed.to_parquet(tmp_path / "s.parquet")
    for name in ("s.csv", "s.parquet"):
        read = read_table(str(tmp_path / name))
        assert years_of(read, DATA, name).tolist() == [2015, 2016, 2016, 2017], name


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


def test_headers_are_compared_as_written_and_blank_ones_are_no_repeat(tmp_path):
    """'01' and '1', 'NA' and 'null', and two blank headers are different names (pandas
    names blanks 'Unnamed: N'); only one name written twice is a repeat."""
    path = tmp_path / "s.csv"
    path.write_text("01,1,NA,null,,,y\n1,2,3,4,5,6,0\n", encoding="utf-8")
    assert len(read_table(str(path)).columns) == 7
    path.write_text("a,b,a,y\n1,2,3,0\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"column names repeated: 'a' \(columns 1 and 3\)"):
        read_table(str(path))


def test_a_small_latin_1_file_whose_only_accent_ends_it_is_read_as_latin_1(tmp_path):
    path = tmp_path / "s.csv"
    path.write_bytes("city,y\nLima,0\nBogotá,1\n".encode("latin-1")[:-1])  # no newline at the end
    form, found = sniff(str(path))
    assert form.encoding == "latin-1", found
    assert read_table(str(path), form=form)["city"].tolist() == ["Lima", "Bogotá"]
