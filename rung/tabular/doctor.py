"""The doctor's checks of a table before training: what would make a model look better (or
worse) than it is, found from the columns alone.

:func:`diagnose_table` reads the CSV as training does (:func:`rung.tabular.csvfile.read_csv`),
gives the columns their roles as training does (:func:`rung.tabular.roles.infer_roles`) and runs
each of :data:`TABLE_CHECKS`: id-like columns, a column that alone predicts the target
(leakage), heavy missingness, a date column with a random split, constant columns, the test
file drifting from the training file, an imbalanced target, a skewed positive target.

>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"x": rng.normal(size=200), "y": rng.integers(0, 2, 200)})
>>> df["y_copy"] = df["y"].map({0: "no", 1: "yes"})  # a column that is the answer
>>> print(diagnose_table(df, "y").format())  # doctest: +ELLIPSIS
table (table): 1 finding from 8 checks
  error    y_copy alone predicts y: a one-column tree scores accuracy 1.000 on the validation rows (the majority class: 0.5...)
           next: drop y_copy (drop=['y_copy']) unless it is known before the target is: ...
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rung.report.doctor import ERROR, INFO, WARNING, Diagnosis, Finding, diagnose, named
from rung.tabular.csvfile import read_csv
from rung.tabular.dates import parse_dates
from rung.tabular.roles import ColumnRoles, column_role, find_column, infer_roles, infer_task
from rung.tabular.target import log_rule

__all__ = ["diagnose_table", "TableFacts", "TABLE_CHECKS"]

LEAK_SCORE = 0.98  # one column alone reaching this validation accuracy (or R^2) is leakage
MAX_LEAK_ROWS = 20_000  # rows the one-column trees are fitted on (a seeded sample beyond)
MISSING = 0.5  # a column missing in more than this share of rows
MINORITY = 0.10  # a class under this share of the labelled rows
DRIFT_KS = 0.15  # per numeric column: the largest gap between the train and test CDFs
DRIFT_TV = 0.15  # per categorical column: total variation distance of the value shares
RARE_VALUE = 10  # category values seen fewer times in both files together are pooled as rare
ROW_ORDER = 0.99  # a near-unique integer column this correlated with the row order is a row id


@dataclass
class TableFacts:
    """What the checks look at: the table, its roles, the task, the split, the test table."""

    df: pd.DataFrame
    target: str | None
    roles: ColumnRoles  # as training gives them (target '' when there is none)
    task: str | None
    split: str | None
    test: pd.DataFrame | None
    seed: int


def diagnose_table(
    csv_or_frame: str | os.PathLike | pd.DataFrame,
    target: str | None = None,
    *,
    test: str | os.PathLike | pd.DataFrame | None = None,
    split: str | None = None,
    seed: int = 42,
    encoding: str | None = None,
    sep: str | None = None,
) -> Diagnosis:
    """Run :data:`TABLE_CHECKS` on a table (a CSV path or a DataFrame, never written).

    Args:
        target: the column to predict (without it the target checks are skipped).
        test: the test CSV (or frame) predictions will be made on, for the drift check.
        split: how training will split: ``None`` or ``"random"`` (the tables app's default,
            ``valid_pct``), ``"time:COL"``, ``"group:COL"`` or ``"column:COL"``.
        seed: the seed of the random split the leakage check scores on.
        encoding, sep: how to read the CSVs (as ``rung train table --encoding/--sep``).
    """
    df = _read(csv_or_frame, encoding, sep)
    test_df = None if test is None else _read(test, encoding, sep)
    subject = "table" if isinstance(csv_or_frame, pd.DataFrame) else Path(csv_or_frame).name
    if target is not None:
        target = find_column(df, target, what="target column")
        roles = infer_roles(df, target)
        task = infer_task(df[target])[0]
    else:
        roles, task = _roles_without_target(df), None
    if split not in (None, "random") and split.split(":")[0] not in ("time", "group", "column"):
        raise ValueError(
            f"split {split!r} is not one of 'random', 'time:COL', 'group:COL', 'column:COL'."
        )
    facts = {"rows": len(df), "columns": df.shape[1], "target": target, "task": task}
    if test_df is not None:
        facts["test_rows"] = len(test_df)
    table = TableFacts(df, target, roles, task, split, test_df, seed)
    return diagnose(subject, "table", TABLE_CHECKS, table, facts=facts)


def _read(source: str | os.PathLike | pd.DataFrame, encoding, sep) -> pd.DataFrame:
    if isinstance(source, pd.DataFrame):
        return source
    return read_csv(source, encoding=encoding, sep=sep)


def _roles_without_target(df: pd.DataFrame) -> ColumnRoles:
    """Each column's role as :func:`infer_roles` gives it, when no column is the target."""
    lists: dict[str, list[str]] = {arg: [] for arg in _ROLE_LISTS.values()}
    reasons = {}
    for col in df.columns:
        role, reasons[col] = column_role(df[col], len(df))
        lists[_ROLE_LISTS[role]].append(col)
    return ColumnRoles.from_config({"target": "", **lists, "reasons": reasons})


_ROLE_LISTS = {"categorical": "cat_names", "continuous": "cont_names", "date": "date_names",
               "id": "id_names", "text": "text_names", "dropped": "dropped"}  # fmt: skip


# ------------------------------------------------------------------------------- the checks


@named("table.id_like")
def id_like(t: TableFacts) -> list[Finding]:
    """Columns that identify rows: kept as ids (never features), or, when a near-unique
    integer counts up with the row order yet reads as a number, a feature that learns the
    order the rows were saved in."""
    found = []
    if t.roles.id_names:
        found.append(Finding(
            "table.id_like", INFO,
            f"{', '.join(t.roles.id_names)}: a different value in every row, kept as the id "
            "(written beside predictions), never a feature",
            "nothing to do, unless it is not an id: then name its role (cont_names=[...])",
            evidence={"columns": list(t.roles.id_names)},
        ))  # fmt: skip
    n = len(t.df)
    for col in t.roles.cont_names:
        s = t.df[col]
        if not pd.api.types.is_numeric_dtype(s) or s.isna().any() or n < 20:
            continue
        if s.nunique() < 0.95 * n:
            continue
        r = float(np.corrcoef(s.to_numpy(dtype=float), np.arange(n))[0, 1])
        if abs(r) >= ROW_ORDER:
            found.append(Finding(
                "table.id_like", WARNING,
                f"{col} is nearly unique ({s.nunique()} values in {n} rows) and follows the row "
                f"order (correlation {r:.3f}): it is a row number used as a feature",
                f"drop {col} (drop=[{col!r}]): a model would learn the order the rows were "
                "saved in, which test rows don't share",
                evidence={"column": col, "unique": int(s.nunique()), "row_correlation": r},
            ))  # fmt: skip
    return found


@named("table.leakage")
def leakage(t: TableFacts) -> list[Finding]:
    """A feature that alone predicts the target on validation rows: a shallow tree on that one
    column, fitted on a seeded random 80% and scored on the rest (accuracy, or R^2)."""
    if t.target is None:
        return []
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    df = t.df[t.df[t.target].notna()]
    if len(df) > MAX_LEAK_ROWS:
        df = df.sample(MAX_LEAK_ROWS, random_state=t.seed)
    if len(df) < 20:
        return []
    rng = np.random.default_rng(t.seed)
    order = rng.permutation(len(df))
    valid, train = order[: len(df) // 5], order[len(df) // 5 :]
    y = df[t.target]
    classify = t.task == "classification"
    y = y.astype(str).to_numpy() if classify else y.to_numpy(dtype=float)
    base = pd.Series(y[train]).value_counts().index[0] if classify else float(y[train].mean())
    base_score = _score(y[valid], np.full(len(valid), base, dtype=object if classify else float))
    found = []
    for col in [*t.roles.cat_names, *t.roles.cont_names, *t.roles.date_names]:
        x = _as_number(df[col], is_date=col in t.roles.date_names)
        tree = (DecisionTreeClassifier if classify else DecisionTreeRegressor)(
            max_depth=6, min_samples_leaf=5, random_state=t.seed
        )
        tree.fit(x[train, None], y[train])
        score = _score(y[valid], tree.predict(x[valid, None]))
        if score >= LEAK_SCORE and score > base_score + 0.05:
            what = "accuracy" if classify else "R^2"
            found.append(Finding(
                "table.leakage", ERROR,
                f"{col} alone predicts {t.target}: a one-column tree scores {what} {score:.3f} "
                f"on the validation rows (the {'majority class' if classify else 'mean'}: "
                f"{base_score:.3f})",
                f"drop {col} (drop=[{col!r}]) unless it is known before the target is: a "
                "column recorded after the outcome won't be there when the model is used",
                evidence={"column": col, "score": score, "metric": what, "baseline": base_score},
            ))  # fmt: skip
    return found


@named("table.missing")
def heavy_missingness(t: TableFacts) -> list[Finding]:
    """Columns missing in more than half of the rows (an all-missing one is dropped anyway)."""
    found = []
    for col in t.df.columns:
        share = float(t.df[col].isna().mean())
        if col == t.target or share <= MISSING or share == 1.0:
            continue
        found.append(Finding(
            "table.missing", WARNING,
            f"{col} is missing in {share:.0%} of the rows ({int(t.df[col].isna().sum())} of "
            f"{len(t.df)})",
            f"the app fills it (median, or a 'missing' category) and adds {col}_na; keep that "
            f"if missingness means something (e.g. a cabin not recorded), else drop {col}",
            evidence={"column": col, "missing_share": share},
        ))  # fmt: skip
    if t.target is not None and t.df[t.target].isna().any():
        n = int(t.df[t.target].isna().sum())
        found.append(Finding(
            "table.missing", INFO, f"{n} rows have no {t.target}: training leaves them out",
            "nothing to do, unless they are the rows to predict: then keep them in a test CSV",
            evidence={"column": t.target, "missing": n},
        ))  # fmt: skip
    return found


@named("table.date_random_split")
def date_with_random_split(t: TableFacts) -> list[Finding]:
    """A date column while the split is random: validation rows then sit between training
    dates, so the score hides how the model does on the future it will be used on."""
    if not t.roles.date_names or t.split not in (None, "random"):
        return []
    col = t.roles.date_names[0]
    dates = parse_dates(t.df[col]).dropna()
    span = f" ({dates.min():%Y-%m-%d} to {dates.max():%Y-%m-%d})" if len(dates) else ""
    return [
        Finding(
            "table.date_random_split", WARNING,
            f"{col} holds dates{span} but the split is random: validation rows are mixed in "
            "time with training rows",
            f"if the model will predict later rows, validate on the latest ones: "
            f"train_table(..., data_options={{'time_col': {col!r}}}) (split by time)",
            evidence={"date_columns": list(t.roles.date_names)},
        )
    ]  # fmt: skip


@named("table.constant")
def constant_columns(t: TableFacts) -> list[Finding]:
    """Columns with one value (dropped by the app), or one value in all but a handful of rows."""
    found = []
    constant = [c for c in t.roles.dropped if t.roles.reasons.get(c, "").startswith("constant")]
    if constant:
        found.append(Finding(
            "table.constant", INFO,
            f"{', '.join(constant)}: the same value in every row, so training drops "
            f"{'it' if len(constant) == 1 else 'them'}",
            "nothing to do; check the export if the column was meant to vary",
            evidence={"columns": constant},
        ))  # fmt: skip
    return found


@named("table.drift")
def train_test_drift(t: TableFacts) -> list[Finding]:
    """Per feature column, how far the test file's values are from the training file's: the
    Kolmogorov-Smirnov statistic for numbers (the largest gap between the two CDFs: no bins to
    choose, in [0, 1]), total variation for categories (half the summed gaps between value
    shares, values seen under 10 times pooled). Per column, so the finding names the columns
    that moved; above the sampling noise of the two sizes (KS's critical value at p = 0.01)."""
    if t.test is None:
        return []
    from scipy.stats import ks_2samp

    shifted: dict[str, float] = {}
    missing = [c for c in t.roles.feature_names if c not in t.test.columns]
    for col in t.roles.feature_names:
        if col in missing:
            continue
        a, b = t.df[col].dropna(), t.test[col].dropna()
        if len(a) < 5 or len(b) < 5:
            continue
        noise = 1.63 * np.sqrt((len(a) + len(b)) / (len(a) * len(b)))  # KS at p = 0.01
        if col in t.roles.cont_names and pd.api.types.is_numeric_dtype(b):
            stat, limit = float(ks_2samp(a.to_numpy(float), b.to_numpy(float)).statistic), DRIFT_KS
        else:
            a, b = a.astype(str), b.astype(str)
            counts = pd.concat([a, b]).value_counts()
            rare = set(counts.index[counts < RARE_VALUE])  # sampling noise, not drift
            pa = a.where(~a.isin(rare), "(rare)").value_counts(normalize=True)
            pb = b.where(~b.isin(rare), "(rare)").value_counts(normalize=True)
            stat = 0.5 * float(pa.sub(pb, fill_value=0).abs().sum())
            limit = DRIFT_TV
        if stat > max(limit, noise):
            shifted[col] = round(stat, 3)
    found = []
    if shifted:
        worst = sorted(shifted, key=shifted.get, reverse=True)
        shown = ", ".join(f"{c} {shifted[c]:.2f}" for c in worst[:5])
        found.append(Finding(
            "table.drift", WARNING,
            f"the test file differs from the training file in {len(shifted)} column"
            f"{'s' * (len(shifted) != 1)} ({shown}; KS for numbers, total variation for "
            "categories, 0 = same)",
            f"look at {worst[0]} in both files (units, a new source, a later period); validate "
            "on rows like the test rows (a time split), or drop a column that moved for no "
            "reason the model can use",
            evidence={"shift": shifted},
        ))  # fmt: skip
    if missing:
        found.append(Finding(
            "table.drift", ERROR,
            f"the test file lacks {len(missing)} feature column{'s' * (len(missing) != 1)}: "
            + ", ".join(missing[:10]),
            "add those columns to the test file, or drop them from training (drop=[...])",
            evidence={"missing_in_test": missing},
        ))  # fmt: skip
    return found


@named("table.imbalance")
def target_imbalance(t: TableFacts) -> list[Finding]:
    """A class under a tenth of the labelled rows: accuracy then rewards ignoring it."""
    if t.task != "classification":
        return []
    counts = t.df[t.target].dropna().astype(str).value_counts()
    shares = counts / counts.sum()
    rare = shares[shares < MINORITY]
    if rare.empty:
        return []
    shown = ", ".join(f"{c!r} {s:.1%} ({counts[c]})" for c, s in rare.items())
    return [
        Finding(
            "table.imbalance", WARNING,
            f"{t.target} is imbalanced: {shown} of {int(counts.sum())} rows; always answering "
            f"{counts.index[0]!r} is {shares.iloc[0]:.1%} accurate",
            "judge the model beside the baseline row and by per-class recall (the confusion "
            "matrix), not accuracy alone; collect more of the rare class if you can",
            evidence={"shares": {str(k): float(v) for k, v in shares.items()}},
        )
    ]  # fmt: skip


@named("table.target_skew")
def target_skew(t: TableFacts) -> list[Finding]:
    """A regression target with a long right tail: the tables app already learns log1p of a
    positive one (rung.tabular.target.log_rule), so this says so."""
    if t.task != "regression":
        return []
    y = t.df[t.target].dropna().to_numpy(dtype=float)
    skew = float(pd.Series(y).skew()) if len(y) > 2 else 0.0
    use_log, why = log_rule(y)
    if use_log:
        return [Finding(
            "table.target_skew", INFO, f"{t.target} is skewed (skew {skew:.2f}, all > 0)",
            "nothing to do: the tables app trains on log1p(target) and scores rmsle; "
            "to compare by hand, do the same",
            evidence={"skew": skew, "log1p": True},
        )]  # fmt: skip
    if skew > 2 * 0.75:
        return [Finding(
            "table.target_skew", WARNING,
            f"{t.target} is skewed (skew {skew:.2f}) but not every value is > 0, so it is "
            "learned as it is",
            "a few huge values will dominate the squared error: shift it (y - min + 1) and "
            "learn the log, or judge by a metric less hurt by outliers (MAE)",
            evidence={"skew": skew, "log1p": False, "why": why},
        )]  # fmt: skip
    return []


TABLE_CHECKS = (
    id_like,
    leakage,
    heavy_missingness,
    date_with_random_split,
    constant_columns,
    train_test_drift,
    target_imbalance,
    target_skew,
)


# ------------------------------------------------------------------------------- helpers


def _as_number(s: pd.Series, is_date: bool = False) -> np.ndarray:
    """One column as floats for a tree: numbers as they are, dates as days, categories as
    codes; missing as -1e12 (its own branch)."""
    if pd.api.types.is_bool_dtype(s) or pd.api.types.is_numeric_dtype(s):
        x = s.to_numpy(dtype=float)
    elif is_date:
        x = (parse_dates(s) - pd.Timestamp("1970-01-01")).dt.days.to_numpy(dtype=float)
    else:
        x = pd.Categorical(s.astype("string")).codes.astype(float)
        x[s.isna().to_numpy()] = np.nan
    return np.where(np.isnan(x), -1e12, x)


def _score(y: np.ndarray, pred: np.ndarray) -> float:
    if y.dtype.kind in "fc" and pred.dtype.kind in "fc":
        ss = float(((y - y.mean()) ** 2).sum())
        return 1.0 - float(((y - pred) ** 2).sum()) / ss if ss > 0 else 0.0
    return float((y == pred).mean())
