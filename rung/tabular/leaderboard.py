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
    "scored_on",
    "held_out_row",
    "cv_note",
    "N_BOOT",
]

N_BOOT = 1000  # bootstrap resamples of the validation rows
_CLEAR = 0.95  # the winner beats the runner-up in at least this share of resamples: a clear margin


def main_metric(task: str, log: bool = False) -> tuple[str, bool]:
    """The metric that ranks models, and whether higher is better: accuracy, or rmse (rmsle
    for a target learned on the log scale, ``log``: the error the models were fitted for).

    >>> main_metric("classification"), main_metric("regression"), main_metric("regression", True)
    (('accuracy', True), ('rmse', False), ('rmsle', False))
    """
    if task == "classification":
        return "accuracy", True
    return ("rmsle" if log else "rmse"), False


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


def _rows(data: TabularData, fits: dict[str, FittedModel], on: str) -> tuple[np.ndarray, dict]:
    """The targets of the rows scored ``on`` (``"valid"``: the validation rows; ``"cv"``: the
    training rows, by their out-of-fold predictions) and each model's predictions of them."""
    if on == "valid":
        return data.ys("valid"), {name: fit.valid_preds for name, fit in fits.items()}
    if on == "cv":
        missing = [name for name, fit in fits.items() if fit.oof_preds is None]
        if missing:
            raise ValueError(f"{missing} have no out-of-fold predictions to score on='cv'.")
        return data.ys("train"), {name: fit.oof_preds for name, fit in fits.items()}
    raise ValueError(f"on must be 'valid' or 'cv', got {on!r}.")


def _per_row(data: TabularData, y: np.ndarray, preds: np.ndarray) -> np.ndarray:
    """Per row: 1/0 for a right/wrong class, or the squared error (so its mean's root is the
    rmse; for a log-scale target, of the logs of the predictions in the target's units: the
    rmsle)."""
    if data.task == "classification":
        return (preds.argmax(axis=1) == y).astype(np.float64)
    if data.target.log:
        original = np.clip(data.target.to_original(preds.reshape(-1)), 0, None)
        return (np.log1p(original) - y.astype(np.float64)) ** 2
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
    data: TabularData,
    fits: dict[str, FittedModel],
    n_boot: int = N_BOOT,
    seed: int = 0,
    on: str = "valid",
) -> dict[str, np.ndarray]:
    """Each model's main metric on ``n_boot`` resamples (with replacement) of the rows scored
    ``on`` (see :func:`leaderboard`), the same resamples for every model so they can be
    compared pairwise: ``{name: (resamples,) scores}`` (:func:`resamples`: fewer for very
    large tables)."""
    y, preds = _rows(data, fits, on)
    rows = {name: _per_row(data, y, p) for name, p in preds.items()}
    n = len(y)
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


def scored_on(data: TabularData, on: str, n_folds: int | None = None) -> str:
    """What the ``scored_on`` column says for scores ``on`` the validation rows or ``"cv"``.

    >>> import pandas as pd
    >>> from rung.tabular.data import TabularData
    >>> data = TabularData.from_df(pd.DataFrame({"x": range(10), "y": [0, 1] * 5}), "y")
    >>> scored_on(data, "valid"), scored_on(data, "cv", 5)
    ('valid: 2 rows', 'cv: out-of-fold, 5 folds of 8 training rows')
    """
    if on == "valid":
        return f"valid: {len(data.split.valid)} rows"
    return f"cv: out-of-fold, {n_folds} folds of {len(data.split.train)} training rows"


def leaderboard(
    fits: dict[str, FittedModel],
    data: TabularData,
    n_boot: int = N_BOOT,
    seed: int = 0,
    on: str = "valid",
) -> Leaderboard:
    """One row per model, best first (accuracy then loss; or rmse / rmsle): its metrics,
    ``ci_low`` and ``ci_high`` (the 5th and 95th percentiles of the main metric over ``n_boot``
    bootstrap resamples of the scored rows), the out-of-bag score where there is one,
    ``seconds``, ``scored_on`` (which rows the scores come from) and ``description``.

    ``on="valid"`` scores every model on the validation rows; ``on="cv"`` on the training rows
    by their out-of-fold predictions (``FittedModel.oof_preds``), with ``cv_std``, the spread
    of the main metric from fold to fold."""
    boot = bootstrap_scores(data, fits, n_boot=n_boot, seed=seed, on=on)
    y, _ = _rows(data, fits, on)
    folds = {len(f.fold_scores) for f in fits.values() if f.fold_scores}
    where = scored_on(data, on, max(folds, default=None))
    rows = []
    for name, fit in fits.items():
        low, high = np.percentile(boot[name], [5, 95])
        metrics = fit.metrics if on == "valid" else fit.oof_metrics
        row = {"model": name, **metrics}
        if on == "cv":
            row["cv_std"] = float(np.std(fit.fold_scores)) if fit.fold_scores else float("nan")
        row |= {"ci_low": float(low), "ci_high": float(high)}
        if "oob_score" in fit.extras:
            row["oob_score"] = fit.extras["oob_score"]
        row["seconds"] = round(fit.seconds, 2)
        row["scored_on"] = where
        row["description"] = fit.description
        rows.append(row)
    table = Leaderboard(rows)
    last = ["seconds", "scored_on", "description"]  # the oob score (forests only) before these
    table = table[[c for c in table.columns if c not in last] + last]
    metric, higher = main_metric(data.task, data.target.log)
    if data.task == "classification":
        return table.sort_values(["accuracy", "loss"], ascending=[False, True], ignore_index=True)
    return table.sort_values([metric], ascending=not higher, ignore_index=True)


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
    metric, higher = main_metric(data.task, data.target.log)
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
    if data.task == "regression":
        lines.append(_target_words(data, fits[chosen]))
    return " ".join(lines)


def held_out_row(
    board: pd.DataFrame, fit: FittedModel, data: TabularData, n_boot: int = N_BOOT, seed: int = 0
) -> Leaderboard:
    """``board`` (scored on out-of-fold predictions) with one more row at the end: the chosen
    model ``fit`` scored once on the validation rows, which took no part in any choice, its
    bootstrap interval, and ``cv_std``, its cross-validated spread, beside it."""
    low, high = np.percentile(bootstrap_scores(data, {"x": fit}, n_boot, seed)["x"], [5, 95])
    row = {
        "model": f"{fit.name} (held out)",
        **fit.metrics,
        "cv_std": float(np.std(fit.fold_scores)) if fit.fold_scores else float("nan"),
        "ci_low": float(low),
        "ci_high": float(high),
        "seconds": round(fit.seconds, 2),
        "scored_on": f"valid: {len(data.split.valid)} rows, held out, scored once after the choice",
        "description": fit.description,
    }
    table = pd.concat([board, pd.DataFrame([row])], ignore_index=True)
    return Leaderboard(table[list(board.columns)])


def cv_note(
    board: pd.DataFrame, fits: dict[str, FittedModel], data: TabularData, chosen: str
) -> str:
    """What a cross-validated run's scores mean: the rows that chose, the chosen ensemble's
    held-out score (once) with its cross-validated spread, and the best single model."""
    metric, higher = main_metric(data.task, data.target.log)
    fit = fits[chosen]
    held = board.set_index("model").loc[f"{chosen} (held out)"]
    n_folds, n_train = len(fit.fold_scores), len(data.split.train)
    singles = board[~board["model"].isin([chosen, "baseline", f"{chosen} (held out)"])]
    lines = [
        f"Every model was scored, and the ensemble chosen and weighted, on out-of-fold "
        f"predictions of the {n_train} training rows ({n_folds} folds); the "
        f"{len(data.split.valid)} validation rows took no part in any choice.",
        f"{chosen} ({fit.description.split(': ', 1)[-1]}): held-out {metric} "
        f"{fit.metrics[metric]:.4f} on the validation rows, scored once (90% bootstrap "
        f"interval {held['ci_low']:.4f} to {held['ci_high']:.4f}); cross-validated "
        f"{metric} {fit.oof_metrics[metric]:.4f}, +/- {np.std(fit.fold_scores):.4f} from fold "
        "to fold.",
    ]
    if len(singles):
        best = singles.iloc[0]
        lines.append(
            f"Best single model out of fold: {best['model']} ({metric} {best[metric]:.4f})."
        )
    if data.task == "regression":
        lines.append(_target_words(data, fit))
    return " ".join(lines)


def _target_words(data: TabularData, fit: FittedModel) -> str:
    """How a regression target was learned and what its errors mean."""
    m = fit.metrics
    if data.target.log:
        factor = data.target.log_factor
        back = (
            "expm1(output) (medians: the smearing factor needs out-of-fold predictions)"
            if factor == 1.0
            else f"exp(output) x {factor:.4f} - 1 (Duan's smearing factor, from the out-of-fold "
            "predictions: a mean rather than a median)"
        )
        return (
            f"The target was learned as log1p({data.target.name}) ({data.target.log_reason}); "
            f"predictions are {back}; rmse {m['rmse']:.4g} and "
            f"mae {m['mae']:.4g} are in the target's units, rmsle {m['rmsle']:.4f} is the rmse "
            f"of the logs (about a {m['rmsle']:.0%} typical error)."
        )
    return f"The target was learned as it is ({data.target.log_reason})."
