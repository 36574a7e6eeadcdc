"""Which rows of a table train and which validate, for :meth:`TabularData.from_df`: the rows
that have a target value, and the one way of splitting them that was asked for.

>>> import pandas as pd
>>> df = pd.DataFrame({"x": range(10), "y": [0, 1, None, 1, 0, 1, 0, 1, 0, 1]})
>>> rows, labelled, notes = labelled_rows(df, "y")
>>> len(rows), notes
(9, ['y: 1 rows with no target value were dropped'])
>>> len(make_split(rows, labelled, {}, valid_pct=0.25, seed=42).valid)
2
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rung.data.splitters import (
    HOW_TO_SPLIT,
    Split,
    random_split,
    split_by_column,
    split_by_group,
    split_by_time,
)
from rung.tabular.dates import parse_dates
from rung.tabular.roles import find_column

__all__ = ["labelled_rows", "make_split", "time_values"]


def labelled_rows(
    df: pd.DataFrame, target: str, dropna_target: bool = True
) -> tuple[pd.DataFrame, np.ndarray, list[str]]:
    """``(rows with a target value, the mask of them in df, notes)``; rows without one can't be
    learned from or scored, so they are dropped with a note (an error if not
    ``dropna_target``), and a target missing everywhere is an error."""
    n_given = len(df)
    labelled = df[target].notna().to_numpy()
    notes: list[str] = []
    if not labelled.any():
        raise ValueError(
            f"target {target!r} is missing in every row ({n_given} of {n_given}): there is "
            "nothing to learn from. Choose a column that holds the values to predict."
        )
    if not labelled.all():
        n_missing = int((~labelled).sum())
        if not dropna_target:
            raise ValueError(
                f"target {target!r} is missing in {n_missing} of {n_given} rows; drop them "
                f"(df.dropna(subset=[{target!r}])) or pass dropna_target=True."
            )
        df = df[labelled]
        notes.append(f"{target}: {n_missing} rows with no target value were dropped")
    if len(df) < 2:
        raise ValueError(
            f"the table has {len(df)} row(s) with a target value: too few rows for a "
            "validation set. A model needs rows to learn from and other rows to be checked on."
        )
    return df, labelled, notes


def time_values(df: pd.DataFrame, time_col: str) -> np.ndarray:
    """The times of ``df[time_col]`` as values that sort in time order (numbers as they are,
    anything else parsed as dates); a missing time is an error.

    >>> time_values(pd.DataFrame({"t": ["2024-03-01", "2023-12-31"]}), "t").argsort().tolist()
    [1, 0]
    """
    col = df[find_column(df, time_col, what="time_col")]
    if col.isna().any():
        raise ValueError(
            f"time_col {time_col!r} is missing in {int(col.isna().sum())} rows; a time split "
            "needs a time for every row."
        )
    if not pd.api.types.is_numeric_dtype(col.dtype):
        col = parse_dates(col)
    return col.to_numpy()


def make_split(
    df: pd.DataFrame,
    labelled: np.ndarray,
    ways: dict[str, Any],
    valid_pct: float = 0.2,
    seed: int | None = 42,
    valid_value: Any = True,
) -> Split:
    """The split (positions into ``df``, the labelled rows) from whichever one of ``ways`` was
    given: ``split`` (positions into the table before unlabelled rows were dropped, as
    ``labelled`` marks them), ``valid_col``, ``time_col`` or ``group_col``; none: a seeded
    random ``valid_pct``."""
    given = [k for k, v in ways.items() if v is not None]
    if len(given) > 1:
        raise ValueError(f"give one way to split, not {len(given)}: {given}.")
    split, valid_col = ways.get("split"), ways.get("valid_col")
    time_col, group_col = ways.get("time_col"), ways.get("group_col")
    n = len(df)
    if split is not None:
        return _explicit_split(split, labelled)
    if valid_col is None and not 0 < valid_pct < 1:
        raise ValueError(
            f"valid_pct must be in (0, 1), got {valid_pct!r}; pass the fraction of rows to hold "
            "out for validation, e.g. valid_pct=0.2."
        )
    if valid_col is not None:
        return split_by_column(df[valid_col].to_numpy(), valid_value)
    if time_col is not None:
        return split_by_time(time_values(df, time_col), valid_pct=valid_pct)
    if group_col is not None:
        groups = df[find_column(df, group_col, what="group_col")].astype(str).to_numpy()
        return split_by_group(groups, valid_pct=valid_pct, seed=seed)
    if int(valid_pct * n) < 1:
        raise ValueError(
            f"too few rows ({n}) for a validation set: valid_pct={valid_pct} of {n} rows is "
            f"{int(valid_pct * n)} rows. Use more rows or a larger valid_pct."
        )
    return random_split(n, valid_pct=valid_pct, seed=seed)


def _explicit_split(split: Split, labelled: np.ndarray) -> Split:
    """Positions given for the table as passed in, mapped past rows dropped for no target."""
    n_given = len(labelled)
    new_pos = np.full(n_given, -1, dtype=np.int64)
    new_pos[labelled] = np.arange(int(labelled.sum()))
    parts = []
    for name, rows in (("train", split.train), ("valid", split.valid)):
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) and (rows.min() < 0 or rows.max() >= n_given):
            raise ValueError(f"split.{name} has positions outside 0..{n_given - 1}.")
        rows = new_pos[rows]
        parts.append(rows[rows >= 0])
    if len(parts[1]) == 0:
        raise ValueError(f"the split leaves no validation rows; {HOW_TO_SPLIT}.")
    if len(parts[0]) == 0:
        raise ValueError("the split leaves no training rows.")
    return Split(*parts)
