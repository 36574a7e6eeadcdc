"""Cross-validated models and an ensemble chosen on their out-of-fold predictions.

Choosing a model on the rows that then report its score flatters it. Here every choice is made
on the training rows alone:

- :func:`kfold`: the training rows cut into ``k`` folds (stratified by class);
- :func:`fit_cv`: a model fitted ``k`` times, each time on ``k-1`` folds, predicting the
  fold it didn't see: its out-of-fold predictions cover every training row once. The ``k``
  fitted models, averaged, are the model (a "bag", as AutoGluon does); a random forest
  needs no folds, its out-of-bag predictions are out-of-fold already (:func:`forest_cv`);
- :func:`greedy_ensemble`: Caruana et al.'s ensemble selection (2004), with replacement:
  start from nothing, add the model whose addition most lowers the out-of-fold loss, again
  and again; the weights are how often each model was added;
- :func:`smear`: for a target learned on the log scale, the factor that turns predictions
  back into means in the target's units is estimated on the ensemble's out-of-fold
  predictions too;
- the validation rows score the chosen ensemble once, at the end.

>>> import pandas as pd
>>> from rung.tabular.data import TabularData
>>> from rung.tabular.classic import fit_linear
>>> df = pd.DataFrame({"x": [float(i % 7) for i in range(100)], "c": list("ab") * 50})
>>> df["y"] = (df["x"] > 3).astype(int)
>>> data = TabularData.from_df(df, "y")
>>> folds = kfold(data, k=4)
>>> fit = fit_cv("linear", lambda fold: fit_linear(fold), data, folds)
>>> fit.oof_preds.shape, len(fit.fold_scores), fit.oof_metrics["accuracy"]
((80, 2), 4, 1.0)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from rung.tabular.data import TabularData
from rung.tabular.fit import FittedModel, finish_fit, score
from rung.tabular.leaderboard import main_metric
from rung.tabular.models import ensemble_of

__all__ = [
    "kfold",
    "fit_cv",
    "forest_cv",
    "cv_baseline",
    "greedy_ensemble",
    "fit_weighted_ensemble",
    "smear",
    "Folds",
]

Folds = list[tuple[np.ndarray, np.ndarray]]  # (fit positions, held-out positions) per fold


def kfold(data: TabularData, k: int = 5, seed: int = 42) -> Folds:
    """``k`` folds of the training rows: ``[(fit, held_out), ...]``, positions into the
    training rows (``data.split.train``); each row is held out once. Classification folds
    are stratified: each holds about the same share of every class. A table split by groups
    (``group_col``, ``data.groups``) is folded by groups too: a group's rows are held out
    together, as the validation rows were. A table split by time (``time_col``,
    ``data.times``) is folded into ``k`` blocks of consecutive times (rows sharing a time stay
    in one block), so no moment is on both sides of a fold; every training row still gets an
    out-of-fold prediction (the ensemble needs them), so an early block is predicted by models
    that saw later ones, while the validation rows stay the latest of all.

    >>> import pandas as pd
    >>> data = TabularData.from_df(pd.DataFrame({"x": range(50), "y": [0, 1] * 25}), "y")
    >>> [len(held) for _, held in kfold(data, k=4)]
    [10, 10, 10, 10]
    """
    n = len(data.split.train)
    if not 2 <= k <= n:
        raise ValueError(f"folds must be between 2 and the {n} training rows, got {k}.")
    rng = np.random.default_rng(seed)
    fold_of = np.empty(n, dtype=np.int64)
    if data.times is not None:
        times = data.times[data.split.train]
        first = np.searchsorted(np.sort(times, kind="stable"), times, side="left")
        fold_of = first * k // n  # the block of the first row (in time order) at its time
        if len(np.unique(fold_of)) < k:
            raise ValueError(
                f"folds={k} needs {k} blocks of distinct times in the training rows, and rows "
                "sharing times fill fewer; pass fewer folds."
            )
    elif data.groups is not None:
        names, group = np.unique(data.groups[data.split.train], return_inverse=True)
        if len(names) < k:
            raise ValueError(
                f"folds={k} needs at least {k} groups in the training rows, got {len(names)}; "
                "pass fewer folds."
            )
        fold_of = (rng.permutation(len(names)) % k)[group]  # whole groups, shuffled round
    elif data.task == "classification":
        y = data.ys("train")
        start = 0
        for c in np.unique(y):  # deal each class's shuffled rows round the folds
            rows = rng.permutation(np.flatnonzero(y == c))
            fold_of[rows] = (start + np.arange(len(rows))) % k
            start += len(rows)
    else:
        fold_of[rng.permutation(n)] = np.arange(n) % k
    return [(np.flatnonzero(fold_of != i), np.flatnonzero(fold_of == i)) for i in range(k)]


def _fold_scores(data: TabularData, oof: np.ndarray, folds: Folds) -> list[float]:
    """The main metric of the out-of-fold predictions, fold by fold (their spread is the
    cross-validated spread)."""
    metric, _ = main_metric(data.task, data.target.log)
    return [score(data, oof[held], rows=held)[metric] for _, held in folds]


def _with_oof(fit: FittedModel, data: TabularData, oof: np.ndarray, folds: Folds) -> FittedModel:
    everyone = np.arange(len(data.split.train))
    fit.oof_preds, fit.oof_metrics = oof, score(data, oof, rows=everyone)
    fit.fold_scores = _fold_scores(data, oof, folds)
    return fit


def fit_cv(
    name: str,
    fitter: Callable[[TabularData], FittedModel],
    data: TabularData,
    folds: Folds,
    keep: Callable[[float, int], bool] | None = None,
) -> FittedModel | None:
    """``fitter`` on each fold (``TabularData.refold``: it fits on the other folds and predicts
    the held-out one), the ``k`` models averaged into one ``"tabular_ensemble"`` module and
    scored on the validation rows; ``oof_preds`` gathers each fold's predictions.
    ``extras["members"]`` holds the fold fits. ``keep(first fold's seconds, folds left)``,
    asked after the first fold (a time budget's :meth:`~rung.tabular.budget.TableBudget.keeps`):
    False stops there and returns None."""
    start = time.perf_counter()
    n_train = len(data.split.train)
    oof = np.zeros((n_train, data.target.n_out)) if data.task == "classification" else None
    oof = np.zeros(n_train) if oof is None else oof
    members = []
    for fit_rows, held in folds:
        member = fitter(data.refold(fit_rows, held))
        oof[held] = member.valid_preds
        members.append(member)
        if len(members) == 1 and keep is not None:
            if not keep(time.perf_counter() - start, len(folds) - 1):
                return None
    module = ensemble_of([m.module for m in members], task=data.task)
    what = f"{members[0].description}; {len(folds)} fold models averaged"
    fit = finish_fit(name, module, data, what, start, members=members)
    fit.extras.update({k: v for k, v in members[0].extras.items() if k in ("learner", "lr")})
    return _with_oof(fit, data, oof, folds)


def forest_cv(fit: FittedModel, data: TabularData, folds: Folds) -> FittedModel:
    """A random forest fitted on all training rows, with its out-of-bag predictions as its
    out-of-fold ones (each row predicted by the trees whose bootstrap sample left it out).
    A row no tree left out (rare) gets the forest's own prediction."""
    est = fit.extras["estimator"]
    if data.task == "classification":
        oob = np.zeros((len(data.split.train), data.target.n_out))
        oob[:, np.asarray(est.classes_, dtype=np.int64)] = est.oob_decision_function_
        own = fit.module(*data.train[:2]).double().numpy()
        bad = ~np.isfinite(oob).all(axis=1) | (oob.sum(axis=1) == 0)
    else:
        oob = np.asarray(est.oob_prediction_, dtype=np.float64).reshape(-1)
        own = fit.module(*data.train[:2]).double().numpy().reshape(-1)
        bad = ~np.isfinite(oob)
    oob[bad] = own[bad]
    return _with_oof(fit, data, oob, folds)


def cv_baseline(fit: FittedModel, data: TabularData, folds: Folds) -> FittedModel:
    """The baseline's out-of-fold predictions: each fold's majority shares, or mean, of the
    rows it was fitted on."""
    y = data.ys("train")
    if data.task == "classification":
        oof = np.zeros((len(y), data.target.n_out))
        for fit_rows, held in folds:
            oof[held] = np.bincount(y[fit_rows], minlength=data.target.n_out) / len(fit_rows)
    else:
        oof = np.zeros(len(y))
        for fit_rows, held in folds:
            oof[held] = float(y[fit_rows].mean())
    return _with_oof(fit, data, oof, folds)


def _loss(data: TabularData, y: np.ndarray, preds: np.ndarray) -> float:
    """Log loss (classification) or mean squared error on the learned scale."""
    if data.task == "classification":
        return float(-np.log(np.clip(preds[np.arange(len(y)), y], 1e-15, 1.0)).mean())
    return float(((preds - y) ** 2).mean())


def greedy_ensemble(
    oof: dict[str, np.ndarray], data: TabularData, rounds: int = 25
) -> dict[str, int]:
    """Caruana's ensemble selection with replacement on out-of-fold predictions: ``rounds``
    times, add the model (again, if it is still the best addition) whose addition most lowers
    the loss of the running average (log loss, or squared error on the learned scale; smooth
    where accuracy moves in steps of one row). Returns how often each model was added: the
    ensemble's weights (models never added are left out). Ties go to the first model.

    >>> import pandas as pd
    >>> data = TabularData.from_df(pd.DataFrame({"x": range(10), "y": [0, 1] * 5}), "y")
    >>> y = data.ys("train")
    >>> good, bad = np.eye(2)[y] * 0.8 + 0.1, np.full((8, 2), 0.5)
    >>> greedy_ensemble({"bad": bad, "good": good}, data)
    {'good': 25}
    """
    y = data.ys("train")
    names = list(oof)
    counts = dict.fromkeys(names, 0)
    total = None
    for r in range(rounds):
        losses = [
            _loss(data, y, (oof[n] if total is None else total + oof[n]) / (r + 1)) for n in names
        ]
        best = names[int(np.argmin(losses))]
        counts[best] += 1
        total = oof[best].copy() if total is None else total + oof[best]
    return {n: c for n, c in counts.items() if c}


def fit_weighted_ensemble(
    fits: dict[str, FittedModel], data: TabularData, folds: Folds, rounds: int = 25
) -> FittedModel:
    """The weighted ensemble of the cross-validated ``fits`` chosen by :func:`greedy_ensemble`
    on their out-of-fold predictions, as one ``"tabular_ensemble"`` module scored on the
    validation rows (once; they took no part in the choice)."""
    start = time.perf_counter()
    weights = greedy_ensemble({n: f.oof_preds for n, f in fits.items()}, data, rounds)
    chosen: Sequence[FittedModel] = [fits[n] for n in weights]
    module = ensemble_of([f.module for f in chosen], list(weights.values()), task=data.task)
    parts = ", ".join(f"{n} x{w / rounds:.2f}" for n, w in weights.items())
    what = f"greedy ensemble selection ({rounds} rounds) on out-of-fold predictions: {parts}"
    fit = finish_fit("weighted_ensemble", module, data, what, start, members=list(chosen))
    fit.extras["weights"] = {n: w / rounds for n, w in weights.items()}
    oof = sum(w * fits[n].oof_preds for n, w in weights.items()) / rounds
    fit.seconds += sum(f.seconds for f in chosen)
    return _with_oof(fit, data, oof, folds)


def smear(fits: dict[str, FittedModel], data: TabularData, folds: Folds, chosen: str) -> float:
    """For a target learned as ``log1p`` (``data.target.log``): estimate Duan's smearing
    factor on the out-of-fold predictions of ``fits[chosen]``
    (:meth:`~rung.tabular.target.TabularTarget.smear`: ``exp`` of a mean of logs is a median;
    the factor makes predictions means in the target's units), then score every fit again
    with it. Returns the factor (1.0 for a target learned as it is)."""
    if not data.target.log:
        return 1.0
    factor = data.target.smear(data.ys("train"), fits[chosen].oof_preds)
    for fit in fits.values():
        fit.metrics = score(data, fit.valid_preds)
        _with_oof(fit, data, fit.oof_preds, folds)
    return factor
