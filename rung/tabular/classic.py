"""Classic models on the processed table, fitted by scikit-learn, exported as tensors.

- :func:`fit_linear`: logistic regression (classification) or ridge (regression) on one-hot
  categories and the normalised numbers; its coefficients go into a ``"tabular_linear"``
  module;
- :func:`fit_forest`: a random forest (100 trees, ``min_samples_leaf=5`` as in the course,
  with its out-of-bag score); :func:`fit_boosting`: ``HistGradientBoosting``; both exported
  as arrays (``"tabular_trees"``, :mod:`rung.tabular.trees`), so the model file holds
  no pickle and predicts without scikit-learn.

Each returns a :class:`~rung.tabular.fit.FittedModel` scored on the validation rows.

>>> import pandas as pd
>>> from rung.tabular.data import TabularData
>>> df = pd.DataFrame({"x": [float(i % 7) for i in range(40)], "c": list("ab") * 20})
>>> df["y"] = (df["x"] > 3).astype(int)
>>> data = TabularData.from_df(df, "y")
>>> fit = fit_linear(data)
>>> fit.name, fit.valid_preds.shape, fit.metrics["accuracy"]
('linear', (8, 2), 1.0)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from rung.models.registry import build_model
from rung.tabular.data import TabularData
from rung.tabular.fit import FittedModel, finish_fit
from rung.tabular.trees import from_sklearn

__all__ = ["fit_linear", "fit_forest", "fit_boosting"]


# ----------------------------------------------------------------------------- linear
def _one_hot(cats: np.ndarray, cardinalities: Sequence[int]) -> Any:
    """Sparse one-hot (N, sum(cardinalities)) of category codes."""
    from scipy import sparse

    n = len(cats)
    offsets = np.concatenate([[0], np.cumsum(cardinalities)[:-1]]).astype(np.int64)
    cols = (cats + offsets).reshape(-1)
    rows = np.repeat(np.arange(n), cats.shape[1])
    shape = (n, int(sum(cardinalities)))
    return sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=shape)


def fit_linear(data: TabularData, *, C: float = 1.0, alpha: float = 1.0) -> FittedModel:
    """A linear model: scikit-learn ``LogisticRegression(C=C)`` (classification) or
    ``Ridge(alpha=alpha)`` (regression) on one-hot categories and normalised numbers, its
    coefficients copied into a ``"tabular_linear"`` module."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression, Ridge

    start = time.perf_counter()
    cards = data.processor.cardinalities
    train = data.train
    x = sparse.hstack([_one_hot(train.cats.numpy(), cards), train.conts.numpy()]).tocsr()
    y = data.ys("train")
    n_out, n_onehot = data.target.n_out, int(sum(cards))
    weight, bias = np.zeros((n_out, x.shape[1])), np.zeros(n_out)
    if data.task == "classification":
        est = LogisticRegression(C=C, max_iter=2000).fit(x, y)
        bias[:] = -1e4  # a class never seen in training: probability ~0
        bias[est.classes_] = 0.0
        if len(est.classes_) == 2:  # one row of coefficients: the logit of the second class
            weight[est.classes_[1]], bias[est.classes_[1]] = est.coef_[0], est.intercept_[0]
        else:
            weight[est.classes_], bias[est.classes_] = est.coef_, est.intercept_
        what = f"logistic regression (C={C}) on one-hot categories and normalised numbers"
    else:
        est = Ridge(alpha=alpha).fit(x, y)
        weight[0], bias[0] = est.coef_, est.intercept_
        what = f"ridge regression (alpha={alpha}) on one-hot categories and normalised numbers"
    module = build_model(
        "tabular_linear",
        cardinalities=cards,
        n_cont=len(data.cont_names),
        n_out=n_out,
        task=data.task,
    )
    with torch.no_grad():
        w = torch.from_numpy(weight).float()  # (n_out, n_onehot + n_cont)
        for emb, lo, n in zip(module.cat_weights, np.cumsum([0, *cards[:-1]]), cards):
            emb.weight.copy_(w[:, lo : lo + n].T)  # (n_codes, n_out)
        if module.cont_weights is not None:
            module.cont_weights.weight.copy_(w[:, n_onehot:])
        module.bias.copy_(torch.from_numpy(bias).float())
    return finish_fit("linear", module.eval(), data, what, start, estimator=est)


# ----------------------------------------------------------------------------- trees
def _fit_trees(
    name: str,
    data: TabularData,
    kinds: tuple[type, type],
    seed: int,
    params: dict[str, Any],
    describe: Callable[[Any], str],
) -> FittedModel:
    """Fit scikit-learn's tree model for the task (``kinds``: classifier, regressor) with
    ``params`` and ``random_state=seed`` on the processed training rows (codes and numbers,
    ``TabularData.xs``), export it as arrays and score it; ``describe(estimator)`` is the
    one-line description."""
    start = time.perf_counter()
    kind = kinds[0] if data.task == "classification" else kinds[1]
    est = kind(**params, random_state=seed).fit(data.xs("train"), data.ys("train"))
    module = from_sklearn(est, n_out=data.target.n_out)
    return finish_fit(name, module, data, describe(est), start, estimator=est)


def fit_forest(
    data: TabularData,
    *,
    n_estimators: int = 100,
    min_samples_leaf: int = 5,
    max_features: str | float | None = None,
    seed: int = 42,
    n_jobs: int | None = -1,
) -> FittedModel:
    """scikit-learn's random forest on the processed features (codes and numbers), with its
    out-of-bag score (``extras["oob_score"]``: accuracy or R2 on the rows each tree didn't
    see). The trees are exported as arrays (``"tabular_trees"``).

    ``max_features`` (columns tried per split) defaults by task: ``"sqrt"`` for
    classification, 0.5 for regression (on California housing, log target: rmsle 0.233 with
    0.5, 0.234 with 1.0 at 1.7x the time, 0.241 with ``"sqrt"``)."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    if max_features is None:
        max_features = "sqrt" if data.task == "classification" else 0.5
    params = {
        "n_estimators": n_estimators,
        "min_samples_leaf": min_samples_leaf,
        "max_features": max_features,
        "oob_score": True,
        "n_jobs": n_jobs,
    }
    fit = _fit_trees(
        "rf", data, (RandomForestClassifier, RandomForestRegressor), seed, params,
        lambda est: f"random forest: {n_estimators} trees, min_samples_leaf={min_samples_leaf}, "
        f"max_features={max_features}, out-of-bag score {est.oob_score_:.4f}",
    )  # fmt: skip
    fit.extras["oob_score"] = float(fit.extras["estimator"].oob_score_)
    return fit


def fit_boosting(
    data: TabularData,
    *,
    max_iter: int = 100,
    learning_rate: float = 0.1,
    max_leaf_nodes: int = 31,
    min_samples_leaf: int = 20,
    seed: int = 42,
) -> FittedModel:
    """scikit-learn's ``HistGradientBoosting`` on the processed features, exported as arrays
    (``"tabular_trees"``, summed on top of the fitted baseline)."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    params = {
        "max_iter": max_iter,
        "learning_rate": learning_rate,
        "max_leaf_nodes": max_leaf_nodes,
        "min_samples_leaf": min_samples_leaf,
    }
    kinds = (HistGradientBoostingClassifier, HistGradientBoostingRegressor)
    return _fit_trees(
        "gbm", data, kinds, seed, params,
        lambda est: f"gradient boosting (HistGradientBoosting): {est.n_iter_} iterations, "
        f"learning rate {learning_rate}, max_leaf_nodes={max_leaf_nodes}",
    )  # fmt: skip
