"""Column roles of a table: which columns are features, and of which kind.

Each column other than the target gets one role, inferred from its values and overridable:

- ``categorical``: strings, booleans, and integers with few distinct values (``max_card``);
- ``continuous``: floats, and integers with many distinct values;
- ``date``: datetimes, or strings that read as dates; expanded into date parts later;
- ``id``: a different value in every row (``PassengerId``); kept for submissions, never a feature;
- ``text``: long or mostly-unique strings (``Name``, ``Ticket``); left out of the features;
- ``dropped``: all missing, constant, or named in ``drop=``.

The task (classification or regression) is inferred from the target the same way.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ColumnRoles",
    "ColumnNotFoundError",
    "infer_roles",
    "column_role",
    "infer_task",
    "find_column",
    "MAX_CARD",
    "MAX_CLASSES",
    "ROLE_ARGS",
]

MAX_CARD = (
    20  # integer columns with at most this many distinct values are categorical (fastai's default)
)
MAX_CLASSES = 20  # an integer target with at most this many distinct values is classification
_UNIQUE_SHARE = 0.5  # strings with more distinct values than this share of rows are ids or text
_ID_NAME = re.compile(r"(^id$|_id$|^id_|Id$|ID$)")
_DATE_LIKE = re.compile(
    r"^\s*(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})([ T]\d{1,2}:\d{2}.*)?\s*$"
)


def find_column(df: pd.DataFrame, name: str, what: str = "column") -> str:
    """Return ``name`` if ``df`` has it, else raise an error listing the columns and the closest.

    >>> df = pd.DataFrame({"Survived": [0, 1], "Sex": ["m", "f"]})
    >>> find_column(df, "Survived")
    'Survived'
    >>> find_column(df, "Survivd")
    Traceback (most recent call last):
    ...
    rung.tabular.roles.ColumnNotFoundError: column 'Survivd' not found; columns are: ['Survived', 'Sex']. Did you mean 'Survived'?
    """
    if name in df.columns:
        return name
    columns = [str(c) for c in df.columns]
    by_case = [c for c in columns if c.lower() == str(name).lower()]
    close = by_case or difflib.get_close_matches(str(name), columns, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ColumnNotFoundError(f"{what} {name!r} not found; columns are: {columns}.{hint}")


class ColumnNotFoundError(KeyError, ValueError):
    """A named column is not in the table (a KeyError whose message reads as plain text)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass
class ColumnRoles:
    """The role of every column of a table, and why it got it.

    >>> roles = infer_roles(pd.DataFrame({"y": [0, 1, 0, 1], "x": [1.5, 2.5, 0.5, 3.0]}), "y")
    >>> roles.cont_names, roles.cat_names
    (['x'], [])
    """

    target: str
    cat_names: list[str] = field(default_factory=list)
    cont_names: list[str] = field(default_factory=list)
    date_names: list[str] = field(default_factory=list)
    id_names: list[str] = field(default_factory=list)
    text_names: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def id_name(self) -> str | None:
        """The id column to write beside predictions (the first id-like column), if any."""
        return self.id_names[0] if self.id_names else None

    @property
    def feature_names(self) -> list[str]:
        """The columns the model reads: categorical, continuous and date columns."""
        return [*self.cat_names, *self.cont_names, *self.date_names]

    def role_of(self, column: str) -> str:
        """``'categorical'``, ``'continuous'``, ``'date'``, ``'id'``, ``'text'``, ``'dropped'``
        or ``'target'``."""
        if column == self.target:
            return "target"
        for role, names in self._by_role().items():
            if column in names:
                return role
        raise ColumnNotFoundError(
            f"column {column!r} has no role; columns are: {list(self.reasons)}."
        )

    def notes(self) -> list[str]:
        """One line per column: its role and why (as shown in a data summary)."""
        return [f"{col}: {self.role_of(col)} - {why}" for col, why in self.reasons.items()]

    def to_config(self) -> dict[str, Any]:
        """Plain JSON-able dict; :meth:`from_config` rebuilds the same roles."""
        return {
            "target": self.target,
            **{name: list(cols) for name, cols in self._lists().items()},
            "reasons": dict(self.reasons),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ColumnRoles:
        """Rebuild roles from :meth:`to_config` output."""
        return cls(**{k: (dict(v) if k == "reasons" else v) for k, v in config.items()})

    def _lists(self) -> dict[str, list[str]]:
        return {
            "cat_names": self.cat_names,
            "cont_names": self.cont_names,
            "date_names": self.date_names,
            "id_names": self.id_names,
            "text_names": self.text_names,
            "dropped": self.dropped,
        }

    def _by_role(self) -> dict[str, list[str]]:
        names = ("categorical", "continuous", "date", "id", "text", "dropped")
        return dict(zip(names, self._lists().values()))


def _integral(values: pd.Series) -> bool:
    v = values.to_numpy(dtype=float, na_value=np.nan)
    return bool(np.all(np.isfinite(v)) and np.all(v == np.floor(v)))


def _looks_like_dates(strings: pd.Series) -> bool:
    sample = strings.iloc[:1000]
    if sample.str.match(_DATE_LIKE).mean() < 0.95:
        return False
    return pd.to_datetime(sample, errors="coerce", format="mixed").notna().mean() >= 0.95


def column_role(s: pd.Series, n_rows: int, max_card: int = MAX_CARD) -> tuple[str, str]:
    """``(role, reason)`` for one column from its values (the rules of the module docstring).

    >>> column_role(pd.Series([3, 1, 2], name="PassengerId"), 3)
    ('id', 'a different integer in every row, named like an id')
    """
    values = s.dropna()
    if len(values) == 0:
        return "dropped", "all values missing"
    n_unique = values.nunique()
    if n_unique == 1:
        return "dropped", f"constant: always {values.iloc[0]!r}"
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "categorical", "true/false values"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "date", "datetimes"
    if isinstance(dtype, pd.CategoricalDtype):
        return "categorical", f"a pandas category with {n_unique} values"
    if pd.api.types.is_numeric_dtype(dtype):
        if not _integral(values):
            return "continuous", "numbers with fractions"
        if n_unique == n_rows:
            if _ID_NAME.search(str(s.name)):
                return "id", "a different integer in every row, named like an id"
            if values.max() - values.min() + 1 == n_rows:
                return "id", "a different integer in every row, counting up like a row number"
        if n_unique <= max_card:
            return (
                "categorical",
                f"integers with {n_unique} distinct values, at most max_card={max_card}",
            )
        return (
            "continuous",
            f"integers with {n_unique} distinct values, more than max_card={max_card}",
        )
    strings = values.astype(str)
    if _looks_like_dates(strings):
        return "date", "strings that read as dates"
    if n_unique > max_card and n_unique > _UNIQUE_SHARE * n_rows:
        has_space = strings.str.contains(r"\s").mean() > 0.5
        if n_unique == n_rows and not has_space:
            return "id", "a different string in every row"
        return "text", (
            f"free text, {n_unique} distinct strings in {n_rows} rows; left out of the features "
            "(pass cat_names= to use it as a category)"
        )
    return "categorical", f"strings with {n_unique} distinct values"


def _checked_names(df: pd.DataFrame, names: Iterable[str] | None, arg: str) -> list[str]:
    if names is None:
        return []
    if isinstance(names, str):
        names = [names]
    return [find_column(df, n, what=f"column {arg}=") for n in names]


# the arguments that name columns (``TabularData.from_df``'s) -> the role they give
ROLE_ARGS = {
    "cat_names": "categorical",
    "cont_names": "continuous",
    "date_names": "date",
    "text_names": "text",
    "id_name": "id",
    "drop": "dropped",
}


def infer_roles(
    df: pd.DataFrame,
    target: str,
    given: Mapping[str, str | Sequence[str] | None] | None = None,
    *,
    max_card: int = MAX_CARD,
) -> ColumnRoles:
    """Give every column of ``df`` except ``target`` a role (see the module docstring).

    ``given`` forces roles by the arguments of ``TabularData.from_df`` (keys of
    :data:`ROLE_ARGS`: ``cat_names``, ``cont_names``, ``date_names``, ``text_names``,
    ``id_name``, ``drop``), each a column name or a list of them; every other column is
    inferred.

    >>> df = pd.DataFrame({"id": [1, 2, 3, 4], "y": [0, 1, 1, 0], "color": list("rgrb"),
    ...                    "size": [1.5, 2.0, 0.3, 4.1], "empty": [None] * 4})
    >>> r = infer_roles(df, "y")
    >>> r.id_name, r.cat_names, r.cont_names, r.dropped
    ('id', ['color'], ['size'], ['empty'])
    >>> infer_roles(df, "y", {"cont_names": ["id"], "drop": ["color"]}).cont_names
    ['id', 'size']
    """
    target = find_column(df, target, what="target column")
    given = {k: v for k, v in (given or {}).items() if v is not None}
    unknown = [k for k in given if k not in ROLE_ARGS]
    if unknown:
        raise ValueError(f"unknown role arguments {unknown}; they are {list(ROLE_ARGS)}.")
    forced: dict[str, tuple[str, str]] = {}
    for arg, names in given.items():
        role = ROLE_ARGS[arg]
        for name in _checked_names(df, names, arg):
            if name == target:
                raise ValueError(f"{name!r} is the target; it can't also be a {role} column.")
            if name in forced and forced[name][0] != role:
                raise ValueError(
                    f"column {name!r} was given two roles, {forced[name][0]} and {role}; "
                    "name it in one argument only."
                )
            forced[name] = (role, "dropped by drop=" if role == "dropped" else "given by argument")

    roles = ColumnRoles(target=target)
    lists = roles._by_role()
    for col in df.columns:
        if col == target:
            continue
        role, why = forced.get(col) or column_role(df[col], len(df), max_card)
        lists[role].append(col)
        roles.reasons[col] = why
    id_name = given.get("id_name")
    if id_name is not None:  # the id column named by the user comes first
        roles.id_names.remove(id_name)
        roles.id_names.insert(0, id_name)
    return roles


def infer_task(y: pd.Series, max_classes: int = MAX_CLASSES) -> tuple[str, str]:
    """``('classification' | 'regression', why)`` from the target's values.

    Strings, booleans and integers with at most ``max_classes`` distinct values are
    classification; numbers with fractions and integers with many values are regression.

    >>> infer_task(pd.Series([0, 1, 1, 0]))[0]
    'classification'
    >>> infer_task(pd.Series([0.25, 0.5, 1.0]))[0]
    'regression'
    """
    values = y.dropna()
    n_unique = values.nunique()
    dtype = y.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "classification", "the target holds true/false values"
    if not pd.api.types.is_numeric_dtype(dtype):
        return "classification", f"the target holds {n_unique} distinct labels"
    if not _integral(values):
        return "regression", "the target holds numbers with fractions"
    if n_unique <= max_classes:
        return "classification", (
            f"the target holds {n_unique} distinct integers, at most {max_classes}; "
            "pass task='regression' (--task regression) to predict them as numbers"
        )
    return "regression", f"the target holds {n_unique} distinct integers, more than {max_classes}"
