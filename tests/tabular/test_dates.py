"""Dates: parsing (one format or several), parts, and dates inside a fitted processor."""

from __future__ import annotations

import pandas as pd
import pytest

from rung.tabular.dates import DATE_CAT_PARTS, DATE_CONT_PARTS, date_parts, parse_dates
from rung.tabular.procs import TabularProcessor


def test_parts_of_a_leap_year_end():
    parts = date_parts(pd.Series(["2024-12-31", None], name="d"))
    assert list(parts.columns) == [f"d_{p}" for p in (*DATE_CAT_PARTS, *DATE_CONT_PARTS)]
    row = parts.loc[0]
    assert row["d_is_year_end"] == 1 and row["d_is_month_start"] == 0
    assert row["d_dayofyear"] == 366 and row["d_dayofweek"] == 1  # a Tuesday
    assert row["d_elapsed"] == (pd.Timestamp("2024-12-31") - pd.Timestamp("1970-01-01")).days
    assert parts.loc[1].isna().all()  # a missing date has no parts (not False)


def test_parse_mixed_formats_and_timezones():
    dt = parse_dates(pd.Series(["2020-01-05", "05/03/2021", None]))
    assert dt.dt.year.tolist()[:2] == [2020, 2021] and pd.isna(dt.iloc[2])
    aware = pd.Series(pd.date_range("2020-01-01", periods=2, freq="D", tz="Europe/Paris"))
    assert parse_dates(aware).dt.tz is None
    with pytest.raises(ValueError, match="not dates, e.g. 'later'"):
        parse_dates(pd.Series(["2020-01-05", "later"], name="when"))


def test_dates_expand_into_parts():
    train = pd.DataFrame({"sold": ["2020-01-31", "2020-06-15", None, "2021-12-31"]})
    proc = TabularProcessor(date_names=["sold"]).fit(train)
    assert "sold_month" in proc.cat_columns and "sold_na" in proc.cat_columns
    assert proc.cont_columns == [
        "sold_year",
        "sold_week",
        "sold_day",
        "sold_dayofyear",
        "sold_elapsed",
    ]
    frame = proc.transform_frame(pd.DataFrame({"sold": ["2022-03-31"]}))
    # 2022 is unseen (a continuous part, so it extrapolates); March is an unseen month: code 0
    assert frame.loc[0, "sold_month"] == 0
    assert frame.loc[0, "sold_year"] > proc.transform_frame(train)["sold_year"].max()
    with pytest.raises(ValueError, match="not dates, e.g. 'soon'"):
        proc.transform(pd.DataFrame({"sold": ["soon"]}))
