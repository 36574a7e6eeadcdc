"""Lesson 6: a decision tree from scratch, grown the way scikit-learn grows its trees.

A tree is the one-rule idea applied again and again: split the rows by the best binary rule,
then split each side by *its* best rule, and so on, until a stopping rule says enough. A leaf
predicts the share of each class among its training rows.

"Best" here is the largest drop in Gini impurity (scikit-learn's default), and the settings
are scikit-learn's, so the two can be compared side by side:

- ``max_depth``: at most this many questions from the root to a leaf;
- ``max_leaf_nodes``: grow best-first (always split the leaf whose split helps most) and stop
  at this many leaves;
- ``min_samples_leaf``: never make a leaf with fewer training rows than this;
- ``max_features``: consider only a random subset of the columns at each split (forests use it
  to make their trees differ).

Each split's drop in impurity, weighted by its rows, is credited to its column: added up and
normalised, that is the tree's impurity-based feature importance.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["DecisionTree", "best_gini_split", "resolve_max_features", "as_matrix"]

_DEFAULTS = {
    "max_depth": None,
    "max_leaf_nodes": None,
    "min_samples_leaf": 1,
    "max_features": None,
    "random_state": None,
}
# Impurity below this counts as pure (scikit-learn's EPSILON): no split can help.
_PURE = float(np.finfo(np.float64).eps)


@dataclass
class _Split:
    feature: int
    threshold: float
    gain: float  # weight * impurity - (left weight * left impurity + right weight * right impurity)
    left_rows: np.ndarray
    right_rows: np.ndarray


def _gini_of_counts(counts: np.ndarray) -> np.ndarray:
    """Gini impurity of rows of (weighted) class counts: ``(..., K) -> (...)``."""
    total = counts.sum(-1, keepdims=True)
    return 1.0 - ((counts / total) ** 2).sum(-1)


def best_gini_split(
    x: np.ndarray,
    class_weights: np.ndarray,
    rows: np.ndarray,
    features: list[int],
    min_samples_leaf: int = 1,
    max_features: int | None = None,
) -> _Split | None:
    """The split of ``rows`` that lowers the weighted Gini impurity most, or None if none is allowed.

    ``x`` is ``(n, F)``; ``class_weights`` is ``(n, K)``: each row's weight in the column of its
    class (one-hot times sample weight). ``features`` are tried in order; with ``max_features``
    the search stops after trying that many columns or, if all of those were constant on these
    rows, at the first one that is not (as scikit-learn does). Split points are midway between
    neighbouring distinct values.

    >>> x = np.array([[1.0], [2.0], [3.0], [4.0]])
    >>> onehot = np.eye(2)[[0, 0, 1, 1]]
    >>> s = best_gini_split(x, onehot, np.arange(4), [0])
    >>> s.feature, s.threshold, s.gain, s.left_rows.tolist()
    (0, 2.5, 2.0, [0, 1])
    """
    node_counts = class_weights[rows].sum(0)  # (K,)
    node_weight = node_counts.sum()
    n = len(rows)
    best, best_child = None, math.inf
    visited, varied = 0, 0
    for f in features:
        if max_features is not None and visited >= max_features and varied > 0:
            break
        visited += 1
        values = x[rows, f]
        order = np.argsort(values, kind="stable")
        values = values[order]
        if values[0] == values[-1]:  # constant here: nothing to split
            continue
        varied += 1
        left = np.cumsum(class_weights[rows[order]], axis=0)[:-1]  # (n-1, K): first i+1 rows
        right = node_counts - left
        n_left = np.arange(1, n)
        allowed = (
            (values[1:] > values[:-1])  # split only between different values
            & (n_left >= min_samples_leaf)
            & (n - n_left >= min_samples_leaf)
        )
        if allowed.any():
            # weighted impurity of the two children: w_left * gini_left + w_right * gini_right
            with np.errstate(invalid="ignore", divide="ignore"):
                child = left.sum(1) * _gini_of_counts(left) + right.sum(1) * _gini_of_counts(right)
            child = np.where(allowed, child, math.inf)
            i = int(child.argmin())
            if child[i] < best_child:
                best_child = child[i]
                threshold = values[i] / 2.0 + values[i + 1] / 2.0
                if threshold == values[i + 1]:  # rounding: keep the larger value on the right
                    threshold = values[i]
                best = (f, float(threshold), order[: i + 1], order[i + 1 :])
    if best is None:
        return None
    f, threshold, left_idx, right_idx = best
    gain = max(0.0, float(node_weight * _gini_of_counts(node_counts) - best_child))
    return _Split(f, threshold, gain, rows[np.sort(left_idx)], rows[np.sort(right_idx)])


def resolve_max_features(max_features: int | float | str | None, n_features: int) -> int:
    """How many columns each split may look at, from scikit-learn style settings.

    >>> [resolve_max_features(m, 7) for m in (None, "sqrt", "log2", 3, 0.5)]
    [7, 2, 2, 3, 3]
    """
    if max_features is None:
        return n_features
    if max_features == "sqrt":
        return max(1, int(math.sqrt(n_features)))
    if max_features == "log2":
        return max(1, int(math.log2(n_features)))
    if isinstance(max_features, bool) or not isinstance(max_features, int | float):
        raise ValueError(
            f"max_features={max_features!r} is not understood; use None (all), 'sqrt', 'log2', "
            "a number of columns, or a fraction between 0 and 1."
        )
    if isinstance(max_features, float):
        if not 0 < max_features <= 1:
            raise ValueError(f"a fractional max_features must be in (0, 1], got {max_features}.")
        return max(1, int(max_features * n_features))
    if not 1 <= max_features <= n_features:
        raise ValueError(f"max_features={max_features} must be between 1 and {n_features}.")
    return max_features


def as_matrix(x: Any) -> np.ndarray:
    """Features as a float ``(rows, columns)`` array, refusing missing values.

    >>> as_matrix(pd.DataFrame({"a": [1, 2], "b": [0.5, 1.5]})).tolist()
    [[1.0, 0.5], [2.0, 1.5]]
    """
    arr = np.asarray(x.to_numpy() if isinstance(x, pd.DataFrame) else x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"features must be a 2-D table (rows, columns), got shape {arr.shape}.")
    if np.isnan(arr).any():
        raise ValueError(
            "features contain missing values (NaN); fill them first, e.g. with each column's "
            "mode as rung.scratch.titanic_prep.lesson6_table does."
        )
    return arr


class DecisionTree:
    """A classification tree on Gini impurity, with scikit-learn's settings and estimator contract.

    >>> x = [[0, 22.0], [0, 38.0], [1, 26.0], [1, 35.0], [1, 54.0], [0, 2.0]]
    >>> y = [1, 1, 0, 0, 0, 1]
    >>> tree = DecisionTree(max_depth=1).fit(x, y)
    >>> tree.predict([[0, 30.0], [1, 30.0]]).tolist(), tree.feature_importances_.tolist()
    ([1, 0], [1.0, 0.0])
    """

    def __init__(
        self,
        max_depth: int | None = None,
        max_leaf_nodes: int | None = None,
        min_samples_leaf: int = 1,
        max_features: int | float | str | None = None,
        random_state: int | None = None,
    ) -> None:
        self.max_depth = max_depth
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state

    def fit(self, x: Any, y: Any, sample_weight: np.ndarray | None = None) -> DecisionTree:
        """Grow the tree on ``x (rows, columns)`` and labels ``y``; returns ``self``."""
        matrix = as_matrix(x)
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        if len(codes) != len(matrix):
            raise ValueError(f"x has {len(matrix)} rows but y has {len(codes)} labels.")
        if isinstance(x, pd.DataFrame):
            self.feature_names_in_ = np.array(x.columns, dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        return self.fit_codes(matrix, codes, len(self.classes_), sample_weight)

    def fit_codes(
        self,
        x: np.ndarray,
        codes: np.ndarray,
        n_classes: int,
        sample_weight: np.ndarray | None = None,
    ) -> DecisionTree:
        """Grow on class codes ``0..n_classes-1`` (a forest uses this so all its trees share classes)."""
        if self.min_samples_leaf < 1:
            raise ValueError(f"min_samples_leaf must be at least 1, got {self.min_samples_leaf}.")
        if self.max_leaf_nodes is not None and self.max_leaf_nodes < 2:
            raise ValueError(f"max_leaf_nodes must be at least 2, got {self.max_leaf_nodes}.")
        if not hasattr(self, "classes_"):
            self.classes_ = np.arange(n_classes)
        n, n_features = x.shape
        weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        class_weights = np.eye(n_classes)[codes] * weight[:, None]  # (n, K)
        k = resolve_max_features(self.max_features, n_features)
        rng = np.random.default_rng(self.random_state)
        self.n_features_in_ = n_features

        # Nodes live in parallel lists; a leaf has feature -1 and no children.
        feature, threshold, left, right, value, depth = [], [], [], [], [], []
        importance = np.zeros(n_features)

        def new_node(rows: np.ndarray, node_depth: int) -> int:
            counts = class_weights[rows].sum(0)
            for column, item in ((feature, -1), (threshold, np.nan), (left, -1), (right, -1)):
                column.append(item)
            value.append(counts / counts.sum())
            depth.append(node_depth)
            return len(value) - 1

        frontier: list[tuple[float, int, _Split]] = []  # a heap: the biggest gain pops first

        def consider(node: int, rows: np.ndarray) -> None:
            if (
                (self.max_depth is not None and depth[node] >= self.max_depth)
                or len(rows) < max(2, 2 * self.min_samples_leaf)
                or _gini_of_counts(class_weights[rows].sum(0)) <= _PURE
            ):
                return
            order = list(range(n_features)) if k == n_features else rng.permutation(n_features)
            split = best_gini_split(
                x,
                class_weights,
                rows,
                list(order),
                self.min_samples_leaf,
                None if k == n_features else k,
            )
            if split is not None:
                heapq.heappush(frontier, (-split.gain, node, split))

        consider(new_node(np.arange(n), 0), np.arange(n))
        n_leaves = 1
        while frontier and (self.max_leaf_nodes is None or n_leaves < self.max_leaf_nodes):
            _, node, split = heapq.heappop(frontier)
            feature[node], threshold[node] = split.feature, split.threshold
            importance[split.feature] += split.gain
            left[node] = new_node(split.left_rows, depth[node] + 1)
            right[node] = new_node(split.right_rows, depth[node] + 1)
            n_leaves += 1
            consider(left[node], split.left_rows)
            consider(right[node], split.right_rows)

        self.feature_ = np.array(feature)
        self.threshold_ = np.array(threshold)
        self.children_left_ = np.array(left)
        self.children_right_ = np.array(right)
        self.value_ = np.array(value)  # (nodes, K): class shares of each node's training rows
        self.n_leaves_ = n_leaves
        self.depth_ = max(depth)
        total = importance.sum()
        self.feature_importances_ = importance / total if total > 0 else importance
        return self

    def _check_fitted(self, x: Any) -> np.ndarray:
        if not hasattr(self, "value_"):
            raise RuntimeError("this DecisionTree is not fitted yet: call fit(x, y) first.")
        matrix = as_matrix(x)
        if matrix.shape[1] != self.n_features_in_:
            raise ValueError(
                f"x has {matrix.shape[1]} columns but the tree was fitted on {self.n_features_in_}."
            )
        return matrix

    def apply(self, x: Any) -> np.ndarray:
        """The leaf each row lands in, ``(rows,)``: follow ``x[feature] <= threshold`` down."""
        matrix = self._check_fitted(x)
        node = np.zeros(len(matrix), dtype=int)
        rows = np.arange(len(matrix))
        while True:
            inner = self.feature_[node] >= 0  # rows not yet at a leaf
            if not inner.any():
                return node
            at = node[inner]
            go_left = matrix[rows[inner], self.feature_[at]] <= self.threshold_[at]
            node[inner] = np.where(go_left, self.children_left_[at], self.children_right_[at])

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities ``(rows, K)``: the class shares of each row's leaf."""
        leaves = self.apply(x)  # checks first that the tree is fitted
        return self.value_[leaves]

    def predict(self, x: Any) -> np.ndarray:
        """The most probable class of each row."""
        probs = self.predict_proba(x)  # checks first that the model is fitted
        return self.classes_[probs.argmax(1)]

    def to_text(self, feature_names: list[str] | None = None, decimals: int = 2) -> str:
        """The tree as indented rules, one line per node (like scikit-learn's ``export_text``)."""
        self._check_fitted(np.zeros((0, self.n_features_in_)))
        names = feature_names or list(
            getattr(self, "feature_names_in_", [f"x{i}" for i in range(self.n_features_in_)])
        )
        lines: list[str] = []

        def walk(node: int, indent: int) -> None:
            pad = "|   " * indent
            if self.feature_[node] < 0:
                label = self.classes_[self.value_[node].argmax()]
                lines.append(f"{pad}class: {label} (p={self.value_[node].max():.{decimals}f})")
                return
            name, t = names[self.feature_[node]], self.threshold_[node]
            lines.append(f"{pad}{name} <= {t:.{decimals}f}")
            walk(self.children_left_[node], indent + 1)
            lines.append(f"{pad}{name} >  {t:.{decimals}f}")
            walk(self.children_right_[node], indent + 1)

        walk(0, 0)
        return "\n".join(lines)

    def __repr__(self) -> str:
        changed = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name, default in _DEFAULTS.items()
            if getattr(self, name) != default
        )
        return f"DecisionTree({changed})"
