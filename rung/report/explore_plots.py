"""Which plot fits a column, and the seaborn call that draws it.

:func:`choose_plot` is a handful of rules, tried in order, that look at a column's type and
shape (and the target's, when there is one) and name a plot with the reason:

1. nothing to plot: every value missing, one value only, or nearly every value different
   (an id or free text, e.g. Titanic's Name or Ticket) -> ``skip``;
2. a category (text, a boolean, or a whole number with at most 10 values, like Pclass) ->
   ``count`` (bars per value, split by a categorical target); against a numeric target, a
   ``boxen`` plot of the target per category;
3. a number against a categorical target -> ``boxen`` (the number's spread per class);
4. any other number -> ``hist``; ``log_hist`` when it is positive and skewed (skew above 1,
   like Fare): most values crowd near zero on a linear axis, a log axis spreads them out.

:func:`plot_code` writes the call as code a learner can run on their own ``df`` (with
``import seaborn as sns`` and an ``ax`` from ``fig, ax = plt.subplots()``), and
:func:`draw` runs exactly that code, so the plot in the report is the one the code draws.

>>> import pandas as pd
>>> choose_plot(pd.Series([7.25, 71.3, 8.05, 512.3, 7.9, 13.0, 8.1, 7.8], name="Fare")).kind
'log_hist'
>>> choose_plot(pd.Series([3, 1, 3, 2, 3], name="Pclass")).kind
'count'
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

__all__ = [
    "KINDS",
    "PlotChoice",
    "ColumnFacts",
    "choose_plot",
    "column_facts",
    "plot_code",
    "scatter_code",
    "missing_code",
    "draw",
    "is_categorical_target",
]

# Every kind a column can get, with what it is (the quiz offers these as choices).
KINDS = {
    "hist": "histogram",
    "log_hist": "histogram on a log x-axis",
    "count": "count plot (bars per value)",
    "boxen": "boxen plot against the target",
    "skip": "no plot (nothing to learn from one)",
}
MAX_CLASSES = 10  # a target with at most this many values is categorical (count plots split by it)
MAX_INT_LEVELS = 10  # whole numbers with at most this many values are categories (Pclass, SibSp)
MAX_BARS = 20  # a count plot shows the most common values, at most this many
SKEW_FOR_LOG = 1.0  # a positive column skewed more than this gets a log axis
SCATTER_SAMPLE = 2000  # scatter plots of bigger tables draw a random sample of this many rows


class PlotChoice(NamedTuple):
    """A column's plot: its ``kind`` (one of :data:`KINDS`), why, and whether its numbers go on
    a log axis (``log``)."""

    kind: str
    reason: str
    log: bool = False


class ColumnFacts(NamedTuple):
    """What a learner looks at to pick a plot: dtype, distinct values, a few values, the skew
    (numbers only) and the missing count."""

    column: str
    dtype: str
    n_unique: int
    examples: list[str]
    skew: float | None
    missing: int
    n_rows: int

    def describe(self) -> str:
        """One line a person reads.

        >>> import pandas as pd
        >>> column_facts(pd.Series(["S", "C", None, "S"], name="Embarked")).describe()
        "Embarked: str, 2 distinct values (e.g. 'S', 'C'), 1 of 4 missing"
        """
        skew = "" if self.skew is None else f", skew {self.skew:.2f}"
        examples = ", ".join(self.examples)
        return (
            f"{self.column}: {self.dtype}, {self.n_unique:,} distinct values (e.g. {examples})"
            f"{skew}, {self.missing:,} of {self.n_rows:,} missing"
        )


def column_facts(series: pd.Series, n_examples: int = 3) -> ColumnFacts:
    """The structure of one column (see :class:`ColumnFacts`).

    >>> import pandas as pd
    >>> column_facts(pd.Series([1.0, 2.0, None], name="Age")).n_unique
    2
    """
    values = series.dropna()
    examples = [_short(repr(_plain(v))) for v in values.drop_duplicates().head(n_examples)]
    skew = _skew(series) if _is_number(series) else None
    dtype = "str" if _is_text(series) else str(series.dtype)
    return ColumnFacts(
        str(series.name), dtype, int(values.nunique()), examples, skew,
        int(series.isna().sum()), len(series),
    )  # fmt: skip


def is_categorical_target(target: pd.Series | None) -> bool:
    """A target to split plots by: text, or at most :data:`MAX_CLASSES` values.

    >>> import pandas as pd
    >>> is_categorical_target(pd.Series([0, 1, 1])), is_categorical_target(None)
    (True, False)
    """
    if target is None:
        return False
    return not _is_number(target) or target.nunique() <= MAX_CLASSES


def choose_plot(series: pd.Series, target: pd.Series | None = None) -> PlotChoice:
    """The plot for ``series`` (a column), given the ``target`` column or None (see the
    module's rules). The target itself is plotted as a plain column.

    >>> import pandas as pd
    >>> survived = pd.Series([0, 1, 1, 0, 0, 1], name="Survived")
    >>> fare = pd.Series([7.25, 71.3, 8.05, 512.3, 7.9, 13.0], name="Fare")
    >>> choose_plot(fare, survived).kind, choose_plot(fare, survived).log
    ('boxen', True)
    >>> choose_plot(pd.Series([f"Passenger {i}" for i in range(30)], name="Name")).kind
    'skip'
    """
    if target is not None and target.name == series.name:
        target = None
    values = series.dropna()
    n_unique = int(values.nunique())
    if values.empty:
        return PlotChoice("skip", "every value is missing: the missing-value map shows it")
    if n_unique == 1:
        return PlotChoice("skip", f"one value only ({_plain(values.iloc[0])!r}): a constant")
    is_number = _is_number(series)
    whole = is_number and _is_whole(values)
    if is_number and not (whole and n_unique <= MAX_INT_LEVELS):
        if (
            whole
            and n_unique == len(values)
            and (values.is_monotonic_increasing or values.is_monotonic_decreasing)
        ):
            return PlotChoice("skip", "a different, ordered whole number in every row: an id")
        return _number_plot(series, target)
    # a category: text, a boolean, or a whole number with few values
    kind_of = "whole numbers with few values" if is_number else "categories"
    if not is_number and n_unique > MAX_BARS and n_unique > 0.5 * len(values):
        return PlotChoice(
            "skip",
            f"{n_unique:,} distinct values in {len(values):,} rows: an id or free text, "
            "no count plot shows it (make features from it instead)",
        )
    if target is not None and not is_categorical_target(target):
        return PlotChoice(
            "boxen",
            f"{kind_of} ({n_unique} values) against a numeric target: a boxen plot shows "
            f"how {target.name} spreads in each",
        )
    top = f"; the {MAX_BARS} most common shown" if n_unique > MAX_BARS else ""
    split = f", split by {target.name}" if target is not None else ""
    return PlotChoice("count", f"{kind_of} ({n_unique} values): bars count each{split}{top}")


def _number_plot(series: pd.Series, target: pd.Series | None) -> PlotChoice:
    skew = _skew(series)
    low = float(series.min())
    log = low >= 0 and skew > SKEW_FOR_LOG
    zeros = int((series == 0).sum()) if log else 0
    shape = f"skew {skew:.2f}"
    if log:
        shape += ", positive: a log axis spreads out the values crowded near zero"
        if zeros:
            shape += f"; {zeros} zeros left out, as log(0) is undefined"
    if target is not None and is_categorical_target(target):
        return PlotChoice(
            "boxen", f"a number against a categorical target: its spread per class ({shape})", log
        )
    if log:
        return PlotChoice("log_hist", f"a number, {shape}", True)
    return PlotChoice("hist", f"a number, {shape}: a histogram shows its shape")


def plot_code(df: pd.DataFrame, column: Any, choice: PlotChoice, target: Any | None = None) -> str:
    """The seaborn call that draws ``choice`` for ``column`` of ``df`` (``df``, ``sns`` and
    ``ax`` are the names it uses); empty for ``skip``.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"Fare": [0.0, 7.25, 71.3, 512.3], "Survived": [0, 1, 1, 0]})
    >>> plot_code(df, "Fare", PlotChoice("log_hist", "", True))
    'sns.histplot(data=df[df["Fare"] > 0], x="Fare", log_scale=True, ax=ax)'
    >>> plot_code(df, "Survived", PlotChoice("count", ""), target="Survived")
    'sns.countplot(data=df, x="Survived", ax=ax)'
    """
    col = _literal(column)
    if target is not None and target == column:
        target = None
    tgt = _literal(target) if target is not None else None
    data = "df"
    if choice.log and (df[column] == 0).any():
        data = f"df[df[{col}] > 0]"
    if choice.kind in ("hist", "log_hist"):
        log = ", log_scale=True" if choice.log else ""
        return f"sns.histplot(data={data}, x={col}{log}, ax=ax)"
    if choice.kind == "boxen":
        if tgt is not None and is_categorical_target(df[target]):  # a number per class
            log = ", log_scale=True" if choice.log else ""
            return f"sns.boxenplot(data={data}, x={tgt}, y={col}{log}, ax=ax)"
        return f"sns.boxenplot(data=df, x={tgt}, y={col}, order={_order(df, column, col)}, ax=ax)"
    if choice.kind == "count":
        hue = f", hue={tgt}" if tgt is not None else ""
        if df[column].nunique() > MAX_BARS:
            return f"sns.countplot(data=df, y={col}{hue}, order={_order(df, column, col)}, ax=ax)"
        return f"sns.countplot(data=df, x={col}{hue}, ax=ax)"
    if choice.kind == "skip":
        return ""
    raise ValueError(f"unknown plot kind {choice.kind!r}; use one of {', '.join(KINDS)}")


def scatter_code(df: pd.DataFrame, x: Any, y: Any) -> str:
    """A scatter plot of two number columns, with alpha (and a sample of bigger tables).

    >>> import pandas as pd
    >>> scatter_code(pd.DataFrame({"a": [1, 2], "b": [2, 4]}), "a", "b")
    'sns.scatterplot(data=df, x="a", y="b", alpha=0.5, ax=ax)'
    """
    if len(df) > SCATTER_SAMPLE:
        data, alpha = f"df.sample({SCATTER_SAMPLE}, random_state=0)", 0.3
    else:
        data, alpha = "df", 0.5
    return f"sns.scatterplot(data={data}, x={_literal(x)}, y={_literal(y)}, alpha={alpha}, ax=ax)"


def missing_code(columns: list[Any] | None = None) -> str:
    """A map of the missing values: one row per table row, dark where a value is missing.

    >>> missing_code(), missing_code(["Age", "Cabin"])
    ('sns.heatmap(df.isna(), cbar=False, yticklabels=False, ax=ax)', 'sns.heatmap(df[["Age", "Cabin"]].isna(), cbar=False, yticklabels=False, ax=ax)')
    """
    data = "df" if columns is None else f"df[[{', '.join(_literal(c) for c in columns)}]]"
    return f"sns.heatmap({data}.isna(), cbar=False, yticklabels=False, ax=ax)"


def draw(df: pd.DataFrame, code: str, figsize: tuple[float, float] = (6.4, 4.0)) -> Figure:
    """Run ``code`` (from :func:`plot_code` and friends) on ``df`` and return its figure: the
    plot the report shows is the one the code draws. The code is rung's own (column names go in
    as Python string literals), never text from the data.

    >>> import pandas as pd
    >>> fig = draw(pd.DataFrame({"x": [1.0, 2.0, 2.5]}), 'sns.histplot(data=df, x="x", ax=ax)')
    >>> len(fig.axes[0].patches) > 0
    True
    """
    import numpy as np
    from matplotlib.figure import Figure

    sns = _seaborn()
    fig = Figure(figsize=figsize)
    ax = fig.subplots()
    exec(code, {"df": df, "sns": sns, "np": np, "ax": ax})  # noqa: S102 (rung's own code)
    fig.tight_layout()
    return fig


def _seaborn() -> Any:
    try:
        import seaborn
    except ImportError as e:
        raise ImportError(
            "rung explore draws with seaborn, which is not installed; "
            "install it with: pip install 'rung[plots]'"
        ) from e
    return seaborn


def _order(df: pd.DataFrame, column: Any, col: str) -> str:
    return f"df[{col}].value_counts().index[:{MAX_BARS}]"


def _literal(name: Any) -> str:
    """A column name as Python source: a string literal in double quotes, or a number."""
    if isinstance(name, str):
        text = repr(name)
        if text.startswith("'") and '"' not in name:
            text = '"' + text[1:-1].replace("\\'", "'") + '"'
        return text
    if isinstance(name, (int, float)) and not isinstance(name, bool):
        return repr(name)
    raise TypeError(f"column name {name!r} is not a string or a number; rename it")


def _is_number(series: pd.Series) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _is_text(series: pd.Series) -> bool:
    import pandas as pd

    return pd.api.types.is_string_dtype(series) or series.dtype == object


def _is_whole(values: pd.Series) -> bool:
    import numpy as np

    arr = values.to_numpy(dtype=float)
    return bool(np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)))


def _skew(series: pd.Series) -> float:
    s = series.dropna().astype(float).skew()
    return 0.0 if s is None or not math.isfinite(s) else float(s)


def _short(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v
