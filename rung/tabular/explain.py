"""Which columns matter, and how: importance tables and partial dependence, as CSV and PNG.

- :func:`impurity_importance`: a forest's mean decrease in impurity per column (fast, forests
  only, biased towards columns with many values);
- :func:`permutation_importance`: for any model, how much the validation score drops when one
  column's values are shuffled (the honest one: measured on rows the model didn't train on);
- :func:`partial_dependence`: the average prediction as one column is set to each value of a
  grid, every other column kept as it was;
- :func:`explain`: all of them for a model, written to a folder.

Columns are the processed ones (``TabularData.xs``): categories, ``<col>_na`` flags, numbers;
values in tables and plots are shown as they were in the CSV (category names, raw numbers).

>>> import pandas as pd
>>> from rung.tabular.data import TabularData
>>> from rung.tabular.classic import fit_linear
>>> df = pd.DataFrame({"x": [float(i % 7) for i in range(60)], "c": list("abc") * 20})
>>> df["y"] = (df["x"] > 3).astype(int)
>>> data = TabularData.from_df(df, "y")
>>> fit = fit_linear(data)
>>> table = permutation_importance(fit.module, data, n_repeats=2)
>>> table["feature"].iloc[0]
'x'
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from rung.tabular.data import TabularData
from rung.tabular.fit import score
from rung.tabular.models import as_float64, predict_module

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import nn

__all__ = [
    "impurity_importance",
    "permutation_importance",
    "partial_dependence",
    "plot_importance",
    "plot_partial_dependence",
    "explain",
]


def _main_metric(data: TabularData) -> tuple[str, int]:
    """The metric that ranks models and its direction (+1: higher is better)."""
    if data.task == "classification":
        return "accuracy", 1
    return ("rmsle" if data.target.log else "rmse"), -1


def impurity_importance(estimator: Any, feature_names: Sequence[str]) -> pd.DataFrame:
    """A fitted forest's (or boosting's) ``feature_importances_`` as a table, most important
    first: columns ``feature``, ``importance`` (shares summing to 1)."""
    values = getattr(estimator, "feature_importances_", None)
    if values is None:
        raise TypeError(
            f"a {type(estimator).__name__} has no impurity importance; use "
            "permutation_importance, which works for any model."
        )
    table = pd.DataFrame({"feature": list(feature_names), "importance": np.asarray(values)})
    return table.sort_values("importance", ascending=False, ignore_index=True)


def permutation_importance(
    module: nn.Module,
    data: TabularData,
    which: str = "valid",
    n_repeats: int = 5,
    seed: int = 42,
    max_rows: int | None = 1000,
) -> pd.DataFrame:
    """Shuffle each processed column of ``which`` rows ``n_repeats`` times and measure the
    drop in the main metric (accuracy, or rmse's rise for regression) and the rise in loss.
    Past ``max_rows`` rows, a seeded sample of that many is used (an ensemble of thousands
    of trees predicts a few thousand rows a second; ``None``: every row).

    Returns ``feature``, ``importance`` (mean drop in the metric, so bigger means more
    important for both tasks), ``importance_std`` and ``loss_increase``, most important first.
    """
    module = as_float64(module)  # converted once, not at each of the many predictions
    data = _sampled(data, which, max_rows, seed)
    rows = data.tensors(which)
    metric, sign = _main_metric(data)
    base = score(data, predict_module(module, rows.cats, rows.conts), which)
    rng = np.random.default_rng(seed)
    n_cat = rows.cats.shape[1]
    records = []
    for j, name in enumerate([*data.cat_names, *data.cont_names]):
        drops, losses = [], []
        for _ in range(n_repeats):
            order = torch.from_numpy(rng.permutation(len(rows.y)))
            cats, conts = rows.cats.clone(), rows.conts.clone()
            if j < n_cat:
                cats[:, j] = cats[order, j]
            else:
                conts[:, j - n_cat] = conts[order, j - n_cat]
            shuffled = score(data, predict_module(module, cats, conts), which)
            drops.append(sign * (base[metric] - shuffled[metric]))
            losses.append(shuffled["loss"] - base["loss"])
        records.append((name, float(np.mean(drops)), float(np.std(drops)), float(np.mean(losses))))
    table = pd.DataFrame(
        records, columns=["feature", "importance", "importance_std", "loss_increase"]
    )
    return table.sort_values(["importance", "loss_increase"], ascending=False, ignore_index=True)


def _sampled(data: TabularData, which: str, max_rows: int | None, seed: int) -> TabularData:
    """``data`` with at most ``max_rows`` of its ``which`` rows (a seeded sample)."""
    from rung.data.splitters import Split

    rows = data.split.train if which == "train" else data.split.valid
    if max_rows is None or len(rows) <= max_rows:
        return data
    keep = np.sort(np.random.default_rng(seed).choice(len(rows), max_rows, replace=False))
    sample = copy.copy(data)
    sample.split = (
        Split(data.split.train, rows[keep])
        if which == "valid"
        else Split(rows[keep], data.split.valid)
    )
    return sample


def _grid(data: TabularData, name: str, grid: int) -> tuple[np.ndarray, list[Any]]:
    """Processed values to try for column ``name`` and how they read in the CSV."""
    proc = data.processor
    if name in data.cat_names:
        codes = data.train.cats[:, data.cat_names.index(name)].numpy()
        counts = np.bincount(codes, minlength=len(proc.vocab[name]) + 1)[1:]
        top = np.argsort(-counts, kind="stable")[: max(grid, 2)]  # the most common codes
        top = np.sort(top[counts[top] > 0]) + 1
        return top.astype(np.float64), [proc.vocab[name][c - 1] for c in top]
    x = data.train.conts[:, data.cont_names.index(name)].numpy().astype(np.float64)
    values = np.unique(np.quantile(x, np.linspace(0.05, 0.95, grid)))
    raw = values * proc.std[name] + proc.mean[name]
    if name in proc.log_names:
        raw = np.expm1(raw)
    return values, [float(v) for v in raw]


def partial_dependence(
    module: nn.Module,
    data: TabularData,
    feature: str,
    grid: int = 15,
    which: str = "train",
    max_rows: int = 500,
    seed: int = 42,
) -> pd.DataFrame:
    """Average prediction with column ``feature`` set to each grid value in every row
    (up to ``max_rows`` rows of ``which``). Categories: the most common ones; numbers:
    quantiles 5%..95% of the training values.

    Returns ``value`` (as in the CSV) and the mean prediction: ``P(<class>)`` for the second
    class of a binary task, one column per class for more classes, ``prediction`` for
    regression.
    """
    columns = [*data.cat_names, *data.cont_names]
    if feature not in columns:
        raise KeyError(f"feature {feature!r} is not a model column; columns are: {columns}.")
    module = as_float64(module)
    rows = data.tensors(which)
    if len(rows.y) > max_rows:
        keep = torch.from_numpy(np.random.default_rng(seed).choice(len(rows.y), max_rows, False))
        rows = type(rows)(*(t[keep] for t in rows))
    values, labels = _grid(data, feature, grid)
    means = []
    for v in values:
        cats, conts = rows.cats.clone(), rows.conts.clone()
        if feature in data.cat_names:
            cats[:, data.cat_names.index(feature)] = int(v)
        else:
            conts[:, data.cont_names.index(feature)] = float(v)
        means.append(predict_module(module, cats, conts).mean(axis=0))
    means = np.array(means)
    table = pd.DataFrame({"value": labels})
    if data.task == "regression":
        table["prediction"] = data.target.to_original(means)  # in the target's units
    elif len(data.classes) == 2:
        table[f"P({data.classes[1]})"] = means[:, 1]
    else:
        for i, c in enumerate(data.classes):
            table[f"P({c})"] = means[:, i]
    return table


def plot_importance(
    table: pd.DataFrame, title: str, path: str | Path | None = None, top: int = 20
) -> Figure:
    """A horizontal bar chart of an importance table (``feature``, ``importance`` and,
    if present, ``importance_std`` as error bars); saved to ``path`` when given."""
    from matplotlib.figure import Figure

    shown = table.head(top).iloc[::-1]
    fig = Figure(figsize=(6, 0.3 * len(shown) + 1.2))
    ax = fig.add_subplot()
    xerr = shown["importance_std"] if "importance_std" in shown else None
    ax.barh(shown["feature"].astype(str), shown["importance"], xerr=xerr, color="tab:blue")
    ax.set_title(title)
    ax.set_xlabel("importance")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def plot_partial_dependence(
    tables: dict[str, pd.DataFrame], path: str | Path | None = None
) -> Figure:
    """One panel per column of :func:`partial_dependence` tables (lines for numbers, bars for
    categories); saved to ``path`` when given."""
    from matplotlib.figure import Figure

    n = max(len(tables), 1)
    cols = min(n, 2)
    rows = -(-n // cols)
    fig = Figure(figsize=(5 * cols, 3.2 * rows))
    for i, (name, table) in enumerate(tables.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        ys = [c for c in table.columns if c != "value"]
        numeric = all(isinstance(v, float) for v in table["value"])
        for y in ys:
            if numeric:
                ax.plot(table["value"], table[y], marker=".", label=y)
            else:
                ax.bar([str(v) for v in table["value"]], table[y], alpha=0.7, label=y)
        ax.set_title(name)
        ax.set_ylabel(ys[0] if len(ys) == 1 else "probability")
        if len(ys) > 1:
            ax.legend(fontsize="small")
        ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def explain(
    module: nn.Module,
    data: TabularData,
    out: str | Path,
    forest: Any = None,
    n_features: int = 4,
    n_repeats: int = 5,
    seed: int = 42,
) -> dict[str, str]:
    """Write ``permutation_importance.csv/.png``, ``partial_dependence.csv/.png`` (for the
    ``n_features`` most important columns) and, given a fitted ``forest``,
    ``importance.csv/.png`` (impurity) into ``out``. Returns ``{name: path}``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    module = as_float64(module)
    if forest is not None:
        table = impurity_importance(forest, [*data.cat_names, *data.cont_names])
        table.to_csv(out / "importance.csv", index=False)
        plot_importance(table, "random forest: impurity importance", out / "importance.png")
        paths["importance"] = str(out / "importance.png")
    perm = permutation_importance(module, data, n_repeats=n_repeats, seed=seed)
    perm.to_csv(out / "permutation_importance.csv", index=False)
    metric, _ = _main_metric(data)
    title = f"permutation importance (drop in validation {metric})"
    plot_importance(perm, title, out / "permutation_importance.png")
    paths["permutation_importance"] = str(out / "permutation_importance.png")
    top = perm["feature"].head(n_features).tolist()
    tables = {name: partial_dependence(module, data, name, seed=seed) for name in top}
    long = pd.concat([t.assign(feature=name) for name, t in tables.items()], ignore_index=True)
    long.to_csv(out / "partial_dependence.csv", index=False)
    plot_partial_dependence(tables, out / "partial_dependence.png")
    paths["partial_dependence"] = str(out / "partial_dependence.png")
    return paths
