"""Fit every kind of tabular model on the same :class:`~rung.tabular.data.TabularData`.

Each ``fit_*`` returns a :class:`FittedModel`: a registered ``nn.Module`` that a model file can
hold (``rung.tabular.models``), its validation predictions and what else the fit learned. All
predictions come from :func:`predict_module`, the code a loaded model file runs too, so a
leaderboard score is exactly what the exported model scores.

- :func:`fit_nn`: the tabular net through the Learner (``lr_find`` picks the LR when none is
  given; ``fit_one_cycle``); :func:`fit_nn_ensemble`: several seeds of it, averaged;
- :func:`blend`: a weighted average of fitted models (e.g. nets + forest);
- :func:`baseline`: the majority class or the mean, the score to beat;
- linear models, random forests and gradient boosting: :mod:`rung.tabular.classic`.

>>> import pandas as pd
>>> from rung.tabular.data import TabularData
>>> df = pd.DataFrame({"x": [float(i % 7) for i in range(40)], "c": list("ab") * 20})
>>> df["y"] = (df["x"] > 3).astype(int)
>>> data = TabularData.from_df(df, "y")
>>> fit = fit_nn(data, epochs=20, lr=0.05)
>>> fit.name, fit.valid_preds.shape, sorted(fit.metrics), fit.extras["lr"]
('nn', (8, 2), ['accuracy', 'loss'], 0.05)
>>> baseline(data).description
'always the majority class (0)'
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rung.models.registry import build_model
from rung.tabular.data import TabularData
from rung.tabular.models import ensemble_of, predict_module

__all__ = [
    "FittedModel",
    "NetSettings",
    "net_settings",
    "score",
    "fit_nn",
    "fit_nn_ensemble",
    "blend",
    "baseline",
    "finish_fit",
]


@dataclass
class FittedModel:
    """A fitted tabular model: ``module`` (registered, exportable), ``valid_preds`` (class
    probabilities (N, C) or values (N,) on the validation rows), ``metrics`` on those rows,
    ``description`` (one line), ``seconds`` of fitting and ``extras`` (e.g. ``learner``,
    ``lr``, ``estimator``, ``oob_score``). A cross-validated model also has ``oof_preds``
    (its out-of-fold predictions of every training row), ``oof_metrics`` (their score) and
    ``fold_scores`` (the main metric of each fold)."""

    name: str
    module: nn.Module | None
    valid_preds: np.ndarray
    metrics: dict[str, float]
    description: str
    seconds: float = 0.0
    extras: dict[str, Any] = field(default_factory=dict)
    oof_preds: np.ndarray | None = None
    oof_metrics: dict[str, float] = field(default_factory=dict)
    fold_scores: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class NetSettings:
    """Hidden layers, epochs and batch size for the tabular net."""

    layers: tuple[int, ...]
    epochs: int
    batch_size: int


def net_settings(n_train: int, min_steps: int = 100) -> NetSettings:
    """Defaults by table size: the course's small net (``[10, 10]``, 16 epochs, batch 64) for
    small tables, fastai's ``[200, 100]`` with fewer epochs and bigger batches as rows grow;
    tiny tables get enough epochs for ``min_steps`` optimiser steps.

    >>> net_settings(713)
    NetSettings(layers=(10, 10), epochs=16, batch_size=64)
    >>> net_settings(50_000)
    NetSettings(layers=(200, 100), epochs=5, batch_size=512)
    >>> net_settings(40).epochs  # one batch per epoch
    100
    """
    if n_train <= 2_000:
        layers, epochs, batch_size = (10, 10), 16, 64
    elif n_train <= 20_000:
        layers, epochs, batch_size = (200, 100), 8, 128
    else:
        layers, epochs, batch_size = (200, 100), 5, 512
    batches = max(1, n_train // batch_size)
    return NetSettings(layers, max(epochs, -(-min_steps // batches)), batch_size)


def score(
    data: TabularData, preds: np.ndarray, which: str = "valid", rows: np.ndarray | None = None
) -> dict[str, float]:
    """Metrics of predictions on ``which`` rows (or the training rows at positions ``rows``,
    e.g. a fold): ``accuracy`` and ``loss`` (log loss) for classification; ``rmse``, ``mae``,
    ``r2`` and ``loss`` (mean squared error) for regression. For a target learned on the log
    scale (``data.target.log``), ``rmse``, ``mae`` and ``r2`` are in the target's units and
    ``rmsle`` (the rmse of the logs) is added; ``loss`` is on the scale the models learn.

    >>> import pandas as pd
    >>> data = TabularData.from_df(pd.DataFrame({"x": range(10), "y": [0, 1] * 5}), "y")
    >>> data.ys("valid").tolist()
    [0, 0]
    >>> score(data, np.array([[0.9, 0.1], [0.2, 0.8]]))
    {'accuracy': 0.5, 'loss': 0.8573992140459633}
    """
    y = data.ys(which) if rows is None else data.ys("train")[rows]
    if data.task == "classification":
        p = np.clip(preds[np.arange(len(y)), y], 1e-15, 1.0)
        loss = float(-np.log(p).mean()) + 0.0  # + 0.0: a perfect score reads 0.0, not -0.0
        return {"accuracy": float((preds.argmax(1) == y).mean()), "loss": loss}
    learned = preds.reshape(-1) - y.astype(np.float64)  # error on the scale the models learn
    y = np.expm1(y.astype(np.float64)) if data.target.log else y.astype(np.float64)  # as given
    preds = data.target.to_original(preds.reshape(-1))  # as the model file gives them
    err = preds - y
    ss_tot = float(((y - y.mean()) ** 2).sum())
    mse = float((err**2).mean())
    r2 = 1 - float((err**2).sum()) / ss_tot if ss_tot > 0 else float("nan")
    out = {"rmse": mse**0.5, "mae": float(np.abs(err).mean()), "r2": r2}
    if data.target.log:  # of the predictions as the model file gives them
        out["rmsle"] = float(np.sqrt(np.mean(_log_errors(data, preds, y) ** 2)))
    return out | {"loss": float((learned**2).mean())}


def _log_errors(data: TabularData, preds: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``log1p(prediction) - log1p(target)`` per row, both in the target's units."""
    return np.log1p(np.clip(preds, 0, None)) - np.log1p(y)


def finish_fit(
    name: str, module: nn.Module, data: TabularData, description: str, start: float, **extras
) -> FittedModel:
    """A :class:`FittedModel` for ``module``: its validation predictions and metrics, and the
    seconds since ``start`` (a ``time.perf_counter()`` reading)."""
    valid = data.valid
    preds = predict_module(module, valid.cats, valid.conts)
    seconds = time.perf_counter() - start
    return FittedModel(name, module, preds, score(data, preds), description, seconds, extras)


def baseline(data: TabularData) -> FittedModel:
    """The model to beat: the training rows' class shares (majority class) or mean."""
    start = time.perf_counter()
    y, n_valid = data.ys("train"), len(data.split.valid)
    if data.task == "classification":
        shares = np.bincount(y, minlength=len(data.classes)) / len(y)
        preds = np.tile(shares, (n_valid, 1))
        what = f"always the majority class ({data.classes[int(shares.argmax())]!r})"
    else:
        preds = np.full(n_valid, float(y.mean()))
        what = f"always the training mean ({float(y.mean()):.4g})"
    seconds = time.perf_counter() - start
    return FittedModel("baseline", None, preds, score(data, preds), what, seconds)


# ----------------------------------------------------------------------------- neural net
def fit_nn(
    data: TabularData,
    *,
    layers: Sequence[int] | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int | None = None,
    ps: float = 0.0,
    embed_p: float = 0.0,
    wd: float = 0.01,
    seed: int = 42,
    progress: bool = False,
    path: str | Path | None = None,
    name: str = "nn",
    seconds_for_epochs: float | None = None,
) -> FittedModel:
    """Train the tabular net (``"tabular"``) with the Learner and ``fit_one_cycle``.

    ``layers``/``epochs``/``batch_size`` default by table size (:func:`net_settings`); ``lr``
    defaults to ``lr_find``'s recommendation (``LRFindResult.recommended``), its plot saved as
    ``path/lr_find.png`` when ``path`` is given. ``seconds_for_epochs`` (a time budget's share):
    the LR finder's seconds per batch say how many of the epochs fit in it
    (:func:`~rung.tabular.budget.epochs_that_fit`; only when ``lr_find`` runs). Codes never
    seen in training (0) get the average embedding of their column, so an unseen category
    reads as a typical one. ``extras``: ``learner``, ``lr``, ``lr_find`` (the finder's result
    or None), ``layers``, ``epochs`` (those trained), ``batch_size``.
    """
    from rung.learner import Learner
    from rung.metrics import accuracy, rmse
    from rung.tabular.budget import epochs_that_fit
    from rung.utils import seed_everything

    start = time.perf_counter()
    defaults = net_settings(len(data.split.train))
    layers = list(defaults.layers if layers is None else layers)
    epochs = defaults.epochs if epochs is None else int(epochs)
    batch_size = defaults.batch_size if batch_size is None else int(batch_size)
    seed_everything(seed)
    y_range = None
    if data.task == "regression":  # a little room past the training range, as fastai advises
        low, high = data.target.fit_range
        span = (high - low) or 1.0
        y_range = [low - 0.05 * span, high + 0.05 * span]
    model = build_model(
        "tabular",
        emb_szs=[list(e) for e in data.embedding_sizes],
        n_cont=len(data.cont_names),
        n_out=data.target.n_out,
        layers=layers,
        ps=ps,
        embed_p=embed_p,
        y_range=y_range,
        task=data.task,
    )
    dls = data.dataloaders(batch_size=batch_size)
    dls.train.generator.manual_seed(seed)  # each seed of an ensemble sees its own batch order
    metric = accuracy if data.task == "classification" else rmse
    learn = Learner(model, dls, metrics=[metric], wd=wd, progress=progress, path=path or ".")
    finder = None
    if lr is None:
        finder = learn.lr_find(plot_path="lr_find.png" if path is not None else None)
        lr = finder.recommended
        if seconds_for_epochs is not None and finder.n_batches:
            per_batch = finder.seconds / finder.n_batches
            epochs = epochs_that_fit(epochs, seconds_for_epochs, per_batch, len(dls.train))
    learn.fit_one_cycle(epochs, lr)
    model = learn.accelerator.unwrap_model(learn.model).cpu().eval()
    _average_unknown_codes(model)
    description = (
        f"neural net: embeddings + layers {layers}, {epochs} epochs of one-cycle at lr {lr:.3g}, "
        f"batch {batch_size}, seed {seed}"
    )
    return finish_fit(
        name, model, data, description, start, learner=learn, lr=lr, lr_find=finder,
        layers=layers, epochs=epochs, batch_size=batch_size, seed=seed,
    )  # fmt: skip


def _average_unknown_codes(model: nn.Module) -> None:
    """Row 0 of each embedding (the 'unknown' code) never trains: set it to the mean of the
    other rows so an unseen category gets a typical embedding, not its random start."""
    with torch.no_grad():
        for emb in getattr(model, "embeds", []):
            if emb.weight.shape[0] > 1:
                emb.weight[0] = emb.weight[1:].mean(0)


def fit_nn_ensemble(
    data: TabularData,
    n_seeds: int = 5,
    *,
    seed: int = 42,
    first: FittedModel | None = None,
    **kwargs: Any,
) -> FittedModel:
    """``n_seeds`` nets (seeds ``seed``, ``seed+1``, ...) averaged; the course's ensemble of 5.

    ``first`` reuses an already trained net as the first member (and its learning rate for all
    others, so ``lr_find`` runs at most once). ``kwargs`` go to :func:`fit_nn`.
    """
    start = time.perf_counter()
    nets = [first] if first is not None else []
    if first is not None and kwargs.get("lr") is None:
        kwargs["lr"] = first.extras["lr"]
    while len(nets) < n_seeds:
        net = fit_nn(data, seed=seed + len(nets), **kwargs)
        kwargs["lr"] = net.extras["lr"]
        kwargs.pop("path", None)  # one lr_find plot is enough
        nets.append(net)
    module = ensemble_of([n.module for n in nets], task=data.task)
    description = f"{n_seeds} neural nets (seeds {seed}..{seed + n_seeds - 1}), averaged"
    fit = finish_fit("nn_ensemble", module, data, description, start, members=nets)
    fit.seconds += sum(n.seconds for n in nets if n is first)
    return fit


# ----------------------------------------------------------------------------- blends
def blend(
    data: TabularData,
    fits: Sequence[FittedModel],
    weights: Sequence[float] | None = None,
    name: str = "blend",
) -> FittedModel:
    """A weighted average (equal by default) of fitted models' probabilities or values, as
    one ``"tabular_ensemble"`` module."""
    start = time.perf_counter()
    weights = [1.0] * len(fits) if weights is None else list(weights)
    module = ensemble_of([f.module for f in fits], weights, task=data.task)
    total = sum(weights)
    parts = ", ".join(f"{f.name} x{w / total:.2f}" for f, w in zip(fits, weights))
    fit = finish_fit(name, module, data, f"blend of {parts}", start, members=list(fits))
    fit.seconds += sum(f.seconds for f in fits)
    return fit
