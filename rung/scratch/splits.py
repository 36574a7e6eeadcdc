"""Lesson 6: one binary split, chosen by a score ("OneR"), and the Gini impurity.

A binary split sends each row left (``col <= t``) or right. A good split makes each side
*homogeneous*: the survivors together, the others together. The course scores a split by the
spread of the target on each side, ``std(y) * count``, added over both sides: the lower, the
better. Trying every value of every column and keeping the lowest score is the "OneR"
(one-rule) model; on Titanic it finds ``Sex``.

Gini impurity is the other common measure (scikit-learn's trees use it by default): the chance
that two rows drawn at random from a group have different labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "side_score",
    "split_score",
    "best_split_for_column",
    "one_r",
    "best_binary_split",
    "OneRule",
    "gini",
]


def side_score(side: np.ndarray, y: np.ndarray) -> float:
    """``std(y) * count`` of the rows where ``side`` is True (0 for one row or none).

    ``std`` is the sample standard deviation (``ddof=1``), as pandas computes it in the course.

    >>> side_score(np.array([True, True, False]), np.array([1.0, 1.0, 0.0]))  # all the same
    0.0
    >>> round(side_score(np.array([True, True, True]), np.array([1.0, 1.0, 0.0])), 4)
    1.7321
    """
    side = np.asarray(side, dtype=bool)
    count = side.sum()
    if count <= 1:
        return 0.0
    return float(np.asarray(y, dtype=float)[side].std(ddof=1) * count)


def split_score(col: Sequence[float], y: Sequence[float], split: float) -> float:
    """The course's score of the split ``col <= split``: both sides' :func:`side_score`, per row.

    >>> split_score([0, 0, 1, 1], [1, 1, 0, 0], split=0)  # a perfect split
    0.0
    >>> round(split_score([0, 1, 0, 1], [1, 1, 0, 0], split=0), 4)  # a useless one
    0.7071
    """
    col, y = np.asarray(col, dtype=float), np.asarray(y, dtype=float)
    lhs = col <= split
    return (side_score(lhs, y) + side_score(~lhs, y)) / len(y)


def best_split_for_column(col: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Try every value of ``col`` as the split point; return ``(split, score)`` of the best.

    The values are tried in order of first appearance and the first of equal scores wins, as
    in the course's ``min_col``.

    >>> best_split_for_column([5, 1, 3, 7], [1, 0, 0, 1])
    (3.0, 0.0)
    """
    col = np.asarray(col, dtype=float)
    values = pd.unique(col[~np.isnan(col)])
    scores = np.array([split_score(col, y, v) for v in values])
    best = int(scores.argmin())
    return float(values[best]), float(scores[best])


def one_r(xs: pd.DataFrame, y: Sequence[float]) -> dict[str, tuple[float, float]]:
    """The best split of every column: ``{column: (split, score)}``.

    >>> xs = pd.DataFrame({"a": [0, 1, 0, 1], "b": [5, 6, 7, 8]})
    >>> one_r(xs, [0, 1, 0, 1])
    {'a': (0.0, 0.0), 'b': (5.0, 0.4330127018922194)}
    """
    return {name: best_split_for_column(xs[name].to_numpy(), y) for name in xs.columns}


def best_binary_split(xs: pd.DataFrame, y: Sequence[float]) -> tuple[str, float, float]:
    """The single best rule over all columns: ``(column, split, score)``. OneR.

    >>> xs = pd.DataFrame({"a": [0, 1, 0, 1], "b": [5, 6, 7, 8]})
    >>> best_binary_split(xs, [0, 1, 0, 1])
    ('a', 0.0, 0.0)
    """
    rules = one_r(xs, y)
    name = min(rules, key=lambda n: rules[n][1])
    return name, *rules[name]


def _most_common(y: np.ndarray) -> Any:
    values, counts = np.unique(y, return_counts=True)
    return values[counts.argmax()]


@dataclass(frozen=True)
class OneRule:
    """A one-rule model: ``column <= split`` predicts ``left``, otherwise ``right``.

    >>> xs = pd.DataFrame({"Sex": [0, 0, 1, 1, 1], "Age": [30, 4, 40, 22, 3]})
    >>> rule = OneRule.fit(xs, [1, 1, 0, 0, 1])
    >>> rule.column, rule.left, rule.right, rule.predict(xs).tolist()
    ('Sex', 1, 0, [1, 1, 0, 0, 0])
    """

    column: str
    split: float
    score: float
    left: Any
    right: Any

    @classmethod
    def fit(cls, xs: pd.DataFrame, y: Sequence[Any]) -> OneRule:
        """Find the best rule (:func:`best_binary_split`); each side predicts its commonest label."""
        column, split, score = best_binary_split(xs, y)
        y = np.asarray(y)
        lhs = xs[column].to_numpy() <= split
        # A side with no rows (the split is the column's largest value) predicts the commonest label.
        left, right = (_most_common(y[side] if side.any() else y).item() for side in (lhs, ~lhs))
        return cls(column, split, score, left, right)

    def predict(self, xs: pd.DataFrame) -> np.ndarray:
        """The rule's label for every row of ``xs``."""
        if self.column not in xs:
            raise KeyError(f"the rule needs column {self.column!r}; xs has {list(xs.columns)}.")
        return np.where(xs[self.column].to_numpy() <= self.split, self.left, self.right)


def gini(y: Sequence[Any]) -> float:
    """Gini impurity: ``1 - sum_k p_k^2``, the chance two random rows disagree on the label.

    0 for a pure group; 0.5 for a 50/50 split of two classes.

    >>> gini([1, 1, 1, 1]), gini([0, 1, 0, 1]), round(gini([0, 1, 2]), 4)
    (0.0, 0.5, 0.6667)
    """
    _, counts = np.unique(np.asarray(y), return_counts=True)
    p = counts / counts.sum()
    return float(1.0 - (p**2).sum())
