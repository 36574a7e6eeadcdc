"""LightGBM gradient boosting, early-stopped on an inner split, exported as arrays of trees.

:func:`fit_lightgbm` fits LightGBM on the processed table (category codes and normalised
numbers, ``TabularData.xs``: numeric splits only, no NaN ever reaches it), holding out
``inner_pct`` of the training rows to stop adding trees once their loss stops improving.
:func:`from_lightgbm` converts the booster's JSON dump (``dump_model``) into rung's
``"tabular_trees"`` arrays (:func:`rung.tabular.trees.from_arrays`), so the model file holds no
pickle and predicts without LightGBM; its predictions equal LightGBM's own (float64 sums of
the same leaves).

Why these defaults (measured on Titanic and California housing, see
``benchmarks/tabular_leaderboard.py``): a smaller learning rate than LightGBM's 0.1 with early
stopping, row and column subsampling, and leaves of at least 20 rows do better than the
library defaults on both, at a few seconds per fit.

>>> import pandas as pd
>>> from rung.tabular.data import TabularData
>>> df = pd.DataFrame({"x": [float(i % 7) for i in range(200)], "c": list("ab") * 100})
>>> df["y"] = (df["x"] > 3).astype(int)
>>> fit = fit_lightgbm(TabularData.from_df(df, "y"))
>>> fit.name, fit.metrics["accuracy"], fit.module.output
('lgbm', 1.0, 'logits')
"""

from __future__ import annotations

import inspect
import time
from typing import Any

import numpy as np

from rung.tabular.data import TabularData
from rung.tabular.fit import FittedModel, finish_fit
from rung.tabular.trees import TreeEnsemble, from_arrays

__all__ = ["fit_lightgbm", "from_lightgbm", "LGBM_DEFAULTS"]

LGBM_DEFAULTS: dict[str, Any] = {
    "n_estimators": 3000,  # an upper bound: early stopping picks the number
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_child_samples": 20,
    "subsample": 0.8,
    "subsample_freq": 1,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
}


def _inner_split(n: int, y: np.ndarray, pct: float, seed: int, classify: bool) -> tuple:
    """Positions ``(fit, stop)``: ``pct`` of the rows to early-stop on (at least one),
    stratified by class.

    >>> [len(part) for part in _inner_split(8, np.array([0, 1] * 4), 0.1, 0, True)]
    [7, 1]
    """
    rng = np.random.default_rng(seed)
    if not classify:
        order = rng.permutation(n)
        n_stop = max(1, int(round(pct * n)))
        return np.sort(order[n_stop:]), np.sort(order[:n_stop])
    stop = []
    for c in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == c))
        stop.append(rows[: int(round(pct * len(rows)))])
    stop = np.concatenate(stop)
    if len(stop) == 0:  # classes too small to share out: one row to stop on all the same
        stop = rng.choice(n, 1)
    stop = np.sort(stop)
    return np.setdiff1d(np.arange(n), stop), stop


def fit_lightgbm(
    data: TabularData,
    *,
    seed: int = 42,
    inner_pct: float = 0.1,
    patience: int = 100,
    n_jobs: int = 1,
    **params: Any,
) -> FittedModel:
    """LightGBM on the processed training rows, ``inner_pct`` of them held out to early-stop
    (``patience`` rounds without a better loss on them), exported as ``"tabular_trees"``.
    ``params`` override :data:`LGBM_DEFAULTS` (LightGBM's scikit-learn names)."""
    import lightgbm as lgb

    start = time.perf_counter()
    x = data.xs("train").to_numpy(np.float64)
    y = data.ys("train")
    classify = data.task == "classification"
    fit_rows, stop_rows = _inner_split(len(y), y, inner_pct, seed, classify)
    kind = lgb.LGBMClassifier if classify else lgb.LGBMRegressor
    settings = {**LGBM_DEFAULTS, **params}
    est = kind(**settings, random_state=seed, n_jobs=n_jobs, verbose=-1)
    held_out = {"eval_X": (x[stop_rows],), "eval_y": (y[stop_rows],)}  # LightGBM >= 4.6
    if "eval_X" not in inspect.signature(kind.fit).parameters:
        held_out = {"eval_set": [(x[stop_rows], y[stop_rows])]}
    stopping = lgb.early_stopping(patience, first_metric_only=True, verbose=False)
    est.fit(x[fit_rows], y[fit_rows], callbacks=[stopping], **held_out)
    n_trees = int(est.best_iteration_ or est.n_estimators)
    classes = [int(c) for c in est.classes_] if classify else None
    module = from_lightgbm(est.booster_.dump_model(num_iteration=n_trees), data.target.n_out,
                           classes=classes)  # fmt: skip
    what = (
        f"LightGBM: {n_trees} trees (early-stopped on {len(stop_rows)} held-out training "
        f"rows), learning rate {settings['learning_rate']}, num_leaves={settings['num_leaves']}"
    )
    return finish_fit("lgbm", module, data, what, start, estimator=est, n_trees=n_trees)


# ----------------------------------------------------------------------------- export
def _tree_arrays(root: dict[str, Any], column: int, n_out: int) -> dict[str, Any]:
    """One LightGBM tree (``tree_structure`` of its JSON dump) as flat arrays, nodes in
    depth-first order, its leaf values in output ``column``."""
    left, right, feature, threshold, values = [], [], [], [], []
    stack = [(root, -1, False, 0)]  # (node, parent index, is right child, depth)
    depth = 0
    while stack:
        node, parent, is_right, level = stack.pop()
        i = len(left)
        if parent >= 0:
            (right if is_right else left)[parent] = i
        depth = max(depth, level)
        left.append(-1)
        right.append(-1)
        value = np.zeros(n_out)
        if "leaf_value" in node:
            feature.append(0)
            threshold.append(0.0)
            value[column] = float(node["leaf_value"])
        else:
            if node.get("decision_type") != "<=" or node.get("missing_type") == "Zero":
                raise ValueError(
                    f"can't export a LightGBM split of type {node.get('decision_type')!r} "
                    f"with missing_type {node.get('missing_type')!r}; rung exports numeric "
                    "'<=' splits (fit without categorical_feature and zero_as_missing)."
                )
            feature.append(int(node["split_feature"]))
            threshold.append(float(node["threshold"]))
            stack.append((node["right_child"], i, True, level + 1))
            stack.append((node["left_child"], i, False, level + 1))
        values.append(value)
    return {"left": left, "right": right, "feature": feature, "threshold": threshold,
            "value": np.array(values), "depth": depth}  # fmt: skip


def from_lightgbm(
    dump: dict[str, Any], n_out: int, classes: list[int] | None = None
) -> TreeEnsemble:
    """A ``"tabular_trees"`` module from a LightGBM booster's ``dump_model()`` JSON.

    Regression (``classes=None``): the sum of the trees' leaves (``"values"``). Classification:
    ``classes`` are the class codes the booster was fitted on (``est.classes_``): one tree per
    class per iteration (a binary model has one, the logit of its second class), other
    classes get logit -1e4 (probability ~0), so softmax gives LightGBM's ``predict_proba``.
    Inputs must hold no NaN (rung's processed rows never do): LightGBM sends NaN by a
    learned default direction that these arrays don't record.

    >>> import lightgbm as lgb, torch
    >>> X = np.random.default_rng(0).normal(size=(300, 3)); y = X[:, 0] * 2 + X[:, 1]
    >>> est = lgb.LGBMRegressor(n_estimators=20, verbose=-1).fit(X, y)
    >>> trees = from_lightgbm(est.booster_.dump_model(), n_out=1)
    >>> out = trees(torch.zeros(300, 0, dtype=torch.long), torch.from_numpy(X))[:, 0]
    >>> bool(np.allclose(out.numpy(), est.predict(X), atol=1e-9))
    True
    """
    per_iteration = int(dump.get("num_tree_per_iteration", 1))
    if classes is None:
        columns, output = [0], "values"
    else:
        columns = [int(classes[1])] if len(classes) == 2 else [int(c) for c in classes]
        output = "logits"
    if len(columns) != per_iteration:
        raise ValueError(
            f"the booster has {per_iteration} trees per iteration for {len(columns)} outputs; "
            "give the classes it was fitted on (est.classes_)."
        )
    baseline = np.zeros(n_out)
    if classes is not None:
        baseline[:] = -1e4  # a class the training rows lacked: probability ~0
        baseline[np.asarray(classes, dtype=np.int64)] = 0.0
    trees = [
        _tree_arrays(info["tree_structure"], columns[k % per_iteration], n_out)
        for k, info in enumerate(dump["tree_info"])
    ]
    if not trees:
        raise ValueError("the booster has no trees to export.")
    n_features = int(dump["max_feature_idx"]) + 1
    return from_arrays(trees, baseline, n_features, n_out, combine="sum", output=output)
