"""The leaderboard: every fitted model scored on the same validation rows, best first, with the
spread of each score and a plain word on whether the winner's margin is more than noise.

The validation rows both score the models and choose the best one, so the top score is
optimistic: with 178 rows one row is 0.6% of accuracy, and models a row or two apart are not
told apart by these rows. Each score therefore comes with a bootstrap interval (the same
resamples of the validation rows for every model), and :func:`selection_note` says how often
the chosen model beats the runner-up across those resamples.

>>> import pandas as pd
>>> from rung.tabular.data import TabularData
>>> from rung.tabular.fit import baseline
>>> from rung.tabular.classic import fit_linear
>>> df = pd.DataFrame({"x": [float(i % 7) for i in range(60)], "c": list("abc") * 20})
>>> df["y"] = (df["x"] > 3).astype(int)
>>> data = TabularData.from_df(df, "y")
>>> fits = {"baseline": baseline(data), "linear": fit_linear(data)}
>>> board = leaderboard(fits, data)
>>> board[["model", "accuracy", "ci_low", "ci_high", "scored_on"]].values.tolist()[0]
['linear', 1.0, 1.0, 1.0, 'valid: 12 rows']
>>> print(selection_note(board, fits, data, "linear"))  # doctest: +ELLIPSIS
Every score is measured on the same 12 validation rows, ... on 100% of the resamples: a clear margin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from rung.tabular.data import TabularData
    from rung.tabular.fit import FittedModel

__all__ = [
    "Leaderboard",
    "leaderboard",
    "bootstrap_scores",
    "selection_note",
    "main_metric",
    "resamples",
    "N_BOOT",
]

N_BOOT = 1000  # bootstrap resamples of the validation rows
_CLEAR = 0.95  # the winner beats the runner-up in at least this share of resamples: a clear margin


def main_metric(task: str) -> tuple[str, bool]:
    """The metric that ranks models, and whether higher is better.

    >>> main_metric("classification"), main_metric("regression")
    (('accuracy', True), ('rmse', False))
    """
    return ("accuracy", True) if task == "classification" else ("rmse", False)


class Leaderboard(pd.DataFrame):
    """A DataFrame that prints whole: every column, every row, no cell cut short (a plain
    DataFrame elides columns and cuts descriptions at 50 characters).

    >>> board = Leaderboard({"model": ["nn"], "description": ["x" * 80]})
    >>> "x" * 80 in str(board) and "x" * 80 in repr(board)
    True
    """

    @property
    def _constructor(self) -> type:
        return Leaderboard

    def _whole(self, method: str) -> str:
        with pd.option_context(
            "display.max_columns", None, "display.max_rows", None,
            "display.max_colwidth", None, "display.width", None,
            "display.expand_frame_repr", False,
        ):  # fmt: skip
            return getattr(super(), method)()

    def __repr__(self) -> str:
        return self._whole("__repr__")

    def __str__(self) -> str:
        return self._whole("__repr__")

    def _repr_html_(self) -> str | None:
        return self._whole("_repr_html_")


def _per_row(data: TabularData, preds: np.ndarray) -> np.ndarray:
    """Per validation row: 1/0 for a right/wrong class, or the squared error."""
    y = data.ys("valid")
    if data.task == "classification":
        return (preds.argmax(axis=1) == y).astype(np.float64)
    return (preds.reshape(-1) - y.astype(np.float64)) ** 2


def resamples(n_rows: int, n_boot: int = N_BOOT) -> int:
    """Bootstrap resamples for ``n_rows`` validation rows: ``n_boot``, fewer (at least 100)
    past 50,000 rows, so a large table's spread costs seconds, not minutes (with that many
    rows the spread is narrow and 100 resamples measure it well).

    >>> resamples(178), resamples(5_000_000)
    (1000, 100)
    """
    return min(n_boot, max(100, 50_000_000 // max(n_rows, 1)))


def bootstrap_scores(
    data: TabularData, fits: dict[str, FittedModel], n_boot: int = N_BOOT, seed: int = 0
) -> dict[str, np.ndarray]:
    """Each model's main metric on ``n_boot`` resamples (with replacement) of the validation
    rows, the same resamples for every model so they can be compared pairwise: ``{name:
    (resamples,) scores}`` (:func:`resamples`: fewer for very large validation sets)."""
    rows = {name: _per_row(data, fit.valid_preds) for name, fit in fits.items()}
    n = len(data.split.valid)
    n_boot = resamples(n, n_boot)
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // n)  # resamples per step: at most ~2M indices in memory
    sums = {name: [] for name in rows}
    for start in range(0, n_boot, chunk):
        idx = rng.integers(0, n, size=(min(chunk, n_boot - start), n))  # (chunk, n)
        for name, values in rows.items():
            sums[name].append(values[idx].mean(axis=1))
    out = {name: np.concatenate(parts) for name, parts in sums.items()}
    if data.task == "regression":
        out = {name: np.sqrt(v) for name, v in out.items()}  # mean squared error -> rmse
    return out


def leaderboard(
    fits: dict[str, FittedModel], data: TabularData, n_boot: int = N_BOOT, seed: int = 0
) -> Leaderboard:
    """One row per model, best first (accuracy then loss; or rmse): its metrics, ``ci_low``
    and ``ci_high`` (the 5th and 95th percentiles of the main metric over ``n_boot``
    bootstrap resamples of the validation rows), the out-of-bag score where there is one,
    ``seconds``, ``scored_on`` (which rows the scores come from) and ``description``."""
    boot = bootstrap_scores(data, fits, n_boot=n_boot, seed=seed)
    scored_on = f"valid: {len(data.split.valid)} rows"
    rows = []
    for name, fit in fits.items():
        low, high = np.percentile(boot[name], [5, 95])
        row = {"model": name, **fit.metrics, "ci_low": float(low), "ci_high": float(high)}
        if "oob_score" in fit.extras:
            row["oob_score"] = fit.extras["oob_score"]
        row["seconds"] = round(fit.seconds, 2)
        row["scored_on"] = scored_on
        row["description"] = fit.description
        rows.append(row)
    table = Leaderboard(rows)
    last = ["seconds", "scored_on", "description"]  # the oob score (forests only) before these
    table = table[[c for c in table.columns if c not in last] + last]
    if data.task == "classification":
        table = table.sort_values(["accuracy", "loss"], ascending=[False, True], ignore_index=True)
    else:
        table = table.sort_values(["rmse"], ignore_index=True)
    return table


def selection_note(
    board: pd.DataFrame,
    fits: dict[str, FittedModel],
    data: TabularData,
    chosen: str,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> str:
    """What the chosen model's score means: the rows it was measured on (the same rows that
    chose it), its bootstrap interval, and how often it beats the runner-up on the same
    resamples :func:`leaderboard` used (a tie counts half; under 95% the margin is called
    within noise)."""
    metric, higher = main_metric(data.task)
    n_valid = len(data.split.valid)
    boot = bootstrap_scores(data, fits, n_boot=n_boot, seed=seed)
    by_name = board.set_index("model")
    score = by_name.loc[chosen, metric]
    low, high = by_name.loc[chosen, "ci_low"], by_name.loc[chosen, "ci_high"]
    lines = [
        f"Every score is measured on the same {n_valid} validation rows, and those rows also "
        f"chose the best model, so the top score is optimistic: expect a little less on new "
        f"data.",
        f"{chosen}: {metric} {score:.4f}, 90% bootstrap interval {low:.4f} to {high:.4f} "
        f"({resamples(n_valid, n_boot)} resamples of the validation rows).",
    ]
    others = [m for m in board["model"] if m != chosen]
    trained = [m for m in others if m != "baseline"] or others
    if trained:
        rival = trained[0]  # the next best, the leaderboard being sorted best first
        mine, theirs = boot[chosen], boot[rival]
        wins = (mine > theirs) if higher else (mine < theirs)
        share = float(wins.mean() + 0.5 * (mine == theirs).mean())
        verdict = "a clear margin" if share >= _CLEAR else "the margin is within noise"
        lines.append(
            f"It beats the next best, {rival} ({metric} {by_name.loc[rival, metric]:.4f}), on "
            f"{share:.0%} of the resamples: {verdict}."
        )
    return " ".join(lines)
