"""Tree ensembles (random forests, gradient boosting) as tensors, so a model file needs no pickle.

scikit-learn fits the trees; :func:`from_sklearn` copies every tree's arrays (children, split
feature, threshold, leaf values) into the buffers of one :class:`TreeEnsemble`, all trees' nodes
concatenated. Prediction walks every tree at once, one level per step, with tensor gathers:
the same comparisons scikit-learn makes (``x[feature] <= threshold`` in float64), so a loaded
forest predicts what the fitted one did, in a fresh process, without scikit-learn.

>>> import numpy as np, torch
>>> from sklearn.ensemble import RandomForestClassifier
>>> X = np.random.default_rng(0).normal(size=(60, 3)); y = (X[:, 0] > 0).astype(int)
>>> rf = RandomForestClassifier(10, random_state=0).fit(X, y)
>>> trees = from_sklearn(rf, n_out=2)
>>> probs = trees(torch.zeros(60, 0, dtype=torch.long), torch.from_numpy(X))
>>> bool(np.allclose(probs.numpy(), rf.predict_proba(X)))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from rung.models.registry import build_model, register_model

__all__ = ["TreeEnsemble", "from_sklearn", "from_arrays", "tree_sizes", "COMBINES"]

COMBINES = ("mean", "sum")  # forests average their trees; boosting adds them to a baseline


@register_model("tabular_trees")
class TreeEnsemble(nn.Module):
    """Decision trees held as flat arrays (buffers), predicted by tensor traversal. Built empty
    with the given sizes, to be filled from a model file or :func:`from_sklearn`.

    Buffers (all trees' nodes concatenated, indices global): ``left``/``right`` (n_nodes,) child
    indices, -1 at leaves; ``feature`` (n_nodes,) the input column split on; ``threshold``
    (n_nodes,) float64, go left when ``x <= threshold``; ``value`` (n_nodes, n_out) float64 leaf
    outputs; ``roots`` (n_trees,) each tree's first node; ``baseline`` (n_out,) added at the end.

    Inputs are ``cats`` (B, n_cat) codes and ``conts`` (B, n_cont), read as one (B, n_features)
    float64 matrix, categorical columns first (the column order of ``TabularData.xs``).
    ``combine`` is ``"mean"`` (forests) or ``"sum"`` (boosting); ``output`` says what the result
    is: ``"probs"`` (forest classifier), ``"logits"`` (boosting classifier) or ``"values"``.

    >>> TreeEnsemble(n_nodes=3, n_trees=1, n_features=2, n_out=1, max_depth=1,
    ...              output="values").left.shape
    torch.Size([3])
    """

    def __init__(
        self,
        n_nodes: int,
        n_trees: int,
        n_features: int,
        n_out: int,
        max_depth: int,
        combine: str = "mean",
        output: str = "probs",
    ) -> None:
        super().__init__()
        if combine not in COMBINES:
            raise ValueError(f"combine must be one of {list(COMBINES)}, got {combine!r}.")
        if output not in ("probs", "logits", "values"):
            raise ValueError(f"output must be 'probs', 'logits' or 'values', got {output!r}.")
        self.n_features, self.max_depth = int(n_features), int(max_depth)
        self.combine, self.output = combine, output
        self.register_buffer("left", torch.full((n_nodes,), -1, dtype=torch.int64))
        self.register_buffer("right", torch.full((n_nodes,), -1, dtype=torch.int64))
        self.register_buffer("feature", torch.zeros(n_nodes, dtype=torch.int64))
        self.register_buffer("threshold", torch.zeros(n_nodes, dtype=torch.float64))
        self.register_buffer("value", torch.zeros(n_nodes, n_out, dtype=torch.float64))
        self.register_buffer("roots", torch.zeros(n_trees, dtype=torch.int64))
        self.register_buffer("baseline", torch.zeros(n_out, dtype=torch.float64))

    def leaves(self, x: torch.Tensor) -> torch.Tensor:
        """The leaf each row lands in, per tree: (B, n_trees) global node indices.

        ``x`` is (B, n_features) float64."""
        n_rows, n_trees = len(x), len(self.roots)
        node = self.roots.repeat(n_rows)  # (B * T,): row b's node in tree t at b * T + t
        row = torch.arange(n_rows, device=x.device).repeat_interleave(n_trees)
        walking = torch.arange(n_rows * n_trees, device=x.device)  # pairs not at a leaf yet
        for _ in range(self.max_depth):
            at = node[walking]
            left = self.left[at]
            split = left >= 0  # most pairs reach a leaf long before the deepest tree ends
            walking, at, left = walking[split], at[split], left[split]
            if len(walking) == 0:
                break
            x_at = x[row[walking], self.feature[at]]  # each pair's value at its split
            node[walking] = torch.where(x_at <= self.threshold[at], left, self.right[at])
        return node.view(n_rows, n_trees)

    def forward(self, cats: torch.Tensor, conts: torch.Tensor) -> torch.Tensor:
        x = torch.cat([cats.double(), conts.double()], dim=1)  # (B, n_features)
        if x.shape[1] != self.n_features:
            raise ValueError(
                f"these trees split {self.n_features} features, got {x.shape[1]} "
                f"({cats.shape[1]} categorical + {conts.shape[1]} continuous)."
            )
        out = self.value[self.leaves(x)].sum(dim=1)  # (B, T, n_out) -> (B, n_out)
        if self.combine == "mean":
            out = out / len(self.roots)
        return out + self.baseline


def _forest_trees(est: Any, n_out: int) -> tuple[list[dict[str, np.ndarray]], np.ndarray, str]:
    """Per-tree arrays of a fitted RandomForest/ExtraTrees/DecisionTree (classifier or regressor)."""
    estimators = getattr(est, "estimators_", None)
    trees = [est] if estimators is None else list(estimators)
    classes = getattr(est, "classes_", None)
    out = []
    for tree in trees:
        t = tree.tree_
        if t.n_outputs != 1:
            raise ValueError("only single-output trees can be exported.")
        value = t.value[:, 0, :].astype(np.float64)  # (n_nodes, n_classes) or (n_nodes, 1)
        if classes is not None:  # leaf class fractions, columns placed at their class codes
            value = value / value.sum(axis=1, keepdims=True)
            full = np.zeros((len(value), n_out))
            full[:, np.asarray(classes, dtype=np.int64)] = value
            value = full
        out.append(
            {
                "left": t.children_left,
                "right": t.children_right,
                "feature": t.feature,
                "threshold": t.threshold,
                "value": value,
                "depth": t.max_depth,
            }
        )
    return out, np.zeros(n_out), "probs" if classes is not None else "values"


def _boosting_trees(est: Any, n_out: int) -> tuple[list[dict[str, np.ndarray]], np.ndarray, str]:
    """Per-tree arrays of a fitted HistGradientBoosting classifier or regressor."""
    classes = getattr(est, "classes_", None)
    baseline_raw = np.asarray(est._baseline_prediction, dtype=np.float64).reshape(-1)
    if classes is None:
        columns = [0]
    elif len(classes) == 2:  # one tree per iteration: the logit of the second class
        columns = [int(classes[1])]
    else:
        columns = [int(c) for c in classes]
    baseline = np.zeros(n_out)
    if classes is not None:
        # classes never seen in training get a very low logit (probability ~0)
        baseline[:] = -1e4
        baseline[np.asarray(classes, dtype=np.int64)] = 0.0
    baseline[columns] = baseline_raw
    out = []
    for iteration in est._predictors:
        for k, predictor in enumerate(iteration):
            nodes = predictor.nodes
            if nodes["is_categorical"].any():
                raise ValueError("boosting with categorical splits can't be exported as arrays.")
            leaf = nodes["is_leaf"].astype(bool)
            value = np.zeros((len(nodes), n_out))
            value[:, columns[k]] = np.where(leaf, nodes["value"], 0.0)
            out.append(
                {
                    "left": np.where(leaf, -1, nodes["left"].astype(np.int64)),
                    "right": np.where(leaf, -1, nodes["right"].astype(np.int64)),
                    "feature": nodes["feature_idx"].astype(np.int64),
                    "threshold": nodes["num_threshold"].astype(np.float64),
                    "value": value,
                    "depth": int(nodes["depth"].max()),
                }
            )
    return out, baseline, "logits" if classes is not None else "values"


def from_sklearn(est: Any, n_out: int, n_features: int | None = None) -> TreeEnsemble:
    """A :class:`TreeEnsemble` (built through the registry as ``"tabular_trees"``) holding a
    fitted scikit-learn forest, tree, or HistGradientBoosting model.

    Classifiers must be fitted on class codes ``0..n_out-1`` (``TabularData.ys``); a class the
    training rows lacked gets probability 0. Forests give ``"probs"``, boosting ``"logits"``
    (softmax gives scikit-learn's ``predict_proba``), regressors ``"values"``.
    """
    name = type(est).__name__
    if hasattr(est, "_predictors"):
        trees, baseline, output = _boosting_trees(est, n_out)
        combine = "sum"
    elif hasattr(est, "tree_") or hasattr(est, "estimators_"):
        trees, baseline, output = _forest_trees(est, n_out)
        combine = "mean"
    else:
        raise TypeError(
            f"can't export a {name} as trees; give a fitted RandomForest, ExtraTrees, "
            "DecisionTree or HistGradientBoosting classifier or regressor."
        )
    n_features = int(est.n_features_in_ if n_features is None else n_features)
    return from_arrays(trees, baseline, n_features, n_out, combine=combine, output=output)


def from_arrays(
    trees: Sequence[dict[str, Any]],
    baseline: np.ndarray,
    n_features: int,
    n_out: int,
    combine: str = "sum",
    output: str = "values",
) -> TreeEnsemble:
    """A :class:`TreeEnsemble` from per-tree arrays (each a dict of ``left``, ``right`` (local
    child indices, -1 at leaves), ``feature``, ``threshold`` (go left when ``x <= threshold``),
    ``value`` (n_nodes, n_out) and ``depth``), as any tree library's export can give them.

    >>> tree = {"left": [1, -1, -1], "right": [2, -1, -1], "feature": [0, 0, 0],
    ...         "threshold": [0.5, 0, 0], "value": [[0.0], [1.0], [2.0]], "depth": 1}
    >>> m = from_arrays([tree], np.zeros(1), n_features=1, n_out=1)
    >>> m(torch.zeros(2, 0, dtype=torch.long), torch.tensor([[0.0], [1.0]])).tolist()
    [[1.0], [2.0]]
    """
    sizes = [len(t["left"]) for t in trees]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    model = build_model(
        "tabular_trees",
        n_nodes=int(sum(sizes)),
        n_trees=len(trees),
        n_features=int(n_features),
        n_out=n_out,
        max_depth=max(int(t["depth"]) for t in trees),
        combine=combine,
        output=output,
    )

    def joined(key: str, dtype: Any, shift: bool = False) -> torch.Tensor:
        parts = []
        for t, offset in zip(trees, offsets):
            a = np.asarray(t[key], dtype=dtype)
            if shift:  # local child index -> global; leaves stay -1
                a = np.where(a >= 0, a + offset, -1)
            parts.append(a)
        return torch.from_numpy(np.concatenate(parts))

    with torch.no_grad():
        model.left.copy_(joined("left", np.int64, shift=True))
        model.right.copy_(joined("right", np.int64, shift=True))
        model.feature.copy_(joined("feature", np.int64).clamp_min(0))  # leaves: any column
        model.threshold.copy_(joined("threshold", np.float64))
        model.value.copy_(joined("value", np.float64))
        model.roots.copy_(torch.from_numpy(offsets))
        model.baseline.copy_(torch.from_numpy(np.asarray(baseline, dtype=np.float64)))
    return model.eval()


def tree_sizes(model: TreeEnsemble) -> Sequence[int]:
    """Nodes per tree of a :class:`TreeEnsemble`.

    >>> m = TreeEnsemble(n_nodes=5, n_trees=2, n_features=1, n_out=1, max_depth=1)
    >>> m.roots[1] = 3
    >>> list(tree_sizes(m))
    [3, 2]
    """
    ends = [*model.roots.tolist()[1:], len(model.left)]
    return [end - start for start, end in zip(model.roots.tolist(), ends)]
