"""Lesson 6: bagging trees into a random forest.

One deep tree fits its training rows too well: its mistakes are large but *uncorrelated* with
another tree's, if the other tree saw different rows. So grow many trees, each on a random
sample of the rows (drawn with replacement: a "bootstrap"), and average their predictions:
the errors average out. That is bagging. A random forest also lets each split look at only a
random subset of the columns (``max_features``), so the trees differ even more.

Like scikit-learn, a bootstrap sample is given to each tree as row *weights* (how many times
each row was drawn), so ``min_samples_leaf`` counts distinct rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from rung.scratch.trees import DecisionTree, as_matrix

__all__ = ["RandomForest"]


class RandomForest:
    """Bagged :class:`~rung.scratch.trees.DecisionTree` s with scikit-learn's settings and contract.

    ``max_features=None`` gives plain bagging; ``max_samples`` (a fraction of the rows, or a
    count) sets the size of each tree's sample, e.g. the course's 75%.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 3))
    >>> y = (x[:, 0] + 0.1 * x[:, 1] > 0).astype(int)
    >>> forest = RandomForest(n_estimators=20, min_samples_leaf=3, random_state=0).fit(x, y)
    >>> float((forest.predict(x) == y).mean()) > 0.95, int(forest.feature_importances_.argmax())
    (True, 0)
    """

    def __init__(
        self,
        n_estimators: int = 100,
        max_features: int | float | str | None = "sqrt",
        min_samples_leaf: int = 1,
        max_depth: int | None = None,
        max_leaf_nodes: int | None = None,
        bootstrap: bool = True,
        max_samples: int | float | None = None,
        random_state: int | None = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_features = max_features
        self.min_samples_leaf = min_samples_leaf
        self.max_depth = max_depth
        self.max_leaf_nodes = max_leaf_nodes
        self.bootstrap = bootstrap
        self.max_samples = max_samples
        self.random_state = random_state

    def _sample_size(self, n: int) -> int:
        if self.max_samples is None:
            return n
        if not self.bootstrap:
            raise ValueError(
                "`max_samples` cannot be set if `bootstrap=False`. Either switch to "
                "`bootstrap=True` or set `max_samples=None`."
            )
        if isinstance(self.max_samples, float):
            if not 0 < self.max_samples <= 1:
                raise ValueError(
                    f"a fractional max_samples must be in (0, 1], got {self.max_samples}."
                )
            return max(1, round(self.max_samples * n))
        if not 1 <= self.max_samples <= n:
            raise ValueError(f"max_samples={self.max_samples} must be between 1 and the {n} rows.")
        return self.max_samples

    def fit(self, x: Any, y: Any) -> RandomForest:
        """Grow ``n_estimators`` trees, each on its own random sample of the rows; returns ``self``."""
        if self.n_estimators < 1:
            raise ValueError(f"n_estimators must be at least 1, got {self.n_estimators}.")
        matrix = as_matrix(x)
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        if len(codes) != len(matrix):
            raise ValueError(f"x has {len(matrix)} rows but y has {len(codes)} labels.")
        if isinstance(x, pd.DataFrame):
            self.feature_names_in_ = np.array(x.columns, dtype=object)
        n = len(matrix)
        size = self._sample_size(n)
        rng = np.random.default_rng(self.random_state)
        self.estimators_: list[DecisionTree] = []
        for _ in range(self.n_estimators):
            if self.bootstrap:
                weight = np.bincount(rng.integers(0, n, size), minlength=n)  # times each row drawn
            else:
                weight = np.ones(n, dtype=int)
            rows = np.flatnonzero(weight)
            tree = DecisionTree(
                max_depth=self.max_depth,
                max_leaf_nodes=self.max_leaf_nodes,
                min_samples_leaf=self.min_samples_leaf,
                max_features=self.max_features,
                random_state=int(rng.integers(2**32)),
            )
            tree.classes_ = self.classes_  # every tree answers in the forest's classes
            tree.fit_codes(matrix[rows], codes[rows], len(self.classes_), weight[rows])
            self.estimators_.append(tree)
        self.n_features_in_ = matrix.shape[1]
        # The mean of the trees' importances (trees that never split have none to give).
        per_tree = [t.feature_importances_ for t in self.estimators_ if t.n_leaves_ > 1]
        mean = np.mean(per_tree, axis=0) if per_tree else np.zeros(self.n_features_in_)
        self.feature_importances_ = mean / mean.sum() if mean.sum() > 0 else mean
        return self

    def predict_proba(self, x: Any) -> np.ndarray:
        """The trees' class probabilities, averaged: ``(rows, K)``."""
        if not hasattr(self, "estimators_"):
            raise RuntimeError("this RandomForest is not fitted yet: call fit(x, y) first.")
        return np.mean([tree.predict_proba(x) for tree in self.estimators_], axis=0)

    def predict(self, x: Any) -> np.ndarray:
        """The most probable class of each row."""
        probs = self.predict_proba(x)  # checks first that the model is fitted
        return self.classes_[probs.argmax(1)]

    def __repr__(self) -> str:
        return (
            f"RandomForest(n_estimators={self.n_estimators}, max_features={self.max_features!r}, "
            f"min_samples_leaf={self.min_samples_leaf})"
        )
