"""Dates in tables: parse them, and expand each into parts a model can use.

A date column becomes ``<col>_year``, ``<col>_month``, ... ``<col>_elapsed`` (days since
1970-01-01): the categorical parts (month, day of week, month/quarter/year start and end)
let a model learn seasons and calendar effects; the continuous ones (year, week, day, day of
year, elapsed) let it follow trends and extrapolate past the training dates.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

__all__ = ["date_parts", "parse_dates", "DATE_CAT_PARTS", "DATE_CONT_PARTS"]

DATE_CAT_PARTS = (
    "month",
    "dayofweek",
    "is_month_end",
    "is_month_start",
    "is_quarter_end",
    "is_quarter_start",
    "is_year_end",
    "is_year_start",
)
DATE_CONT_PARTS = ("year", "week", "day", "dayofyear", "elapsed")


def parse_dates(s: pd.Series) -> pd.Series:
    """Datetimes (timezone-naive, in UTC) from a column of datetimes or date strings.

    One inferred format is parsed in one vectorised pass; columns mixing formats fall back
    to value-by-value parsing. A value that reads as no date at all is an error naming it.

    >>> parse_dates(pd.Series(["2021-03-04", "05/06/2022"])).dt.month.tolist()
    [3, 5]
    """
    if pd.api.types.is_datetime64_any_dtype(s.dtype):
        dt = s
    else:
        with warnings.catch_warnings():  # "could not infer format": the fallback below handles it
            warnings.simplefilter("ignore", UserWarning)
            dt = pd.to_datetime(s, errors="coerce")  # one format, inferred: vectorised
        bad = s.notna() & dt.isna()
        if bad.any():  # several formats: parse value by value (slower)
            dt = pd.to_datetime(s, errors="coerce", format="mixed")
            bad = s.notna() & dt.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise ValueError(
                f"column {s.name!r} holds values that are not dates, e.g. {s.iloc[row]!r} "
                f"(row {row}); fix them, or pass drop=[{s.name!r}] to leave the column out."
            )
    if getattr(dt.dt, "tz", None) is not None:
        dt = dt.dt.tz_convert(None)
    return dt


def date_parts(s: pd.Series) -> pd.DataFrame:
    """Expand dates into numeric parts named ``<col>_<part>`` (NaN where the date is missing).

    >>> parts = date_parts(pd.Series(["2024-02-29", None], name="sold"))
    >>> parts.loc[0, ["sold_year", "sold_month", "sold_dayofweek", "sold_is_month_end"]].tolist()
    [2024.0, 2.0, 3.0, 1.0]
    >>> bool(parts.loc[1].isna().all())
    True
    """
    dt = parse_dates(s)
    acc = dt.dt
    raw = {
        "month": acc.month,
        "dayofweek": acc.day_of_week,
        "is_month_end": acc.is_month_end,
        "is_month_start": acc.is_month_start,
        "is_quarter_end": acc.is_quarter_end,
        "is_quarter_start": acc.is_quarter_start,
        "is_year_end": acc.is_year_end,
        "is_year_start": acc.is_year_start,
        "year": acc.year,
        "week": acc.isocalendar().week,
        "day": acc.day,
        "dayofyear": acc.day_of_year,
        "elapsed": (dt - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86400.0,  # days
    }
    missing = dt.isna().to_numpy()
    cols = {}
    for part, values in raw.items():
        v = pd.Series(values).to_numpy(dtype=float, na_value=np.nan, copy=True)
        v[missing] = np.nan  # is_* parts read False (not missing) on NaT
        cols[f"{s.name}_{part}"] = v
    return pd.DataFrame(cols, index=s.index)
