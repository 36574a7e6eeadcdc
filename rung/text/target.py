"""What a text model predicts: a class (single-label classification), a set of labels
(multi-label: a target like ``"A;related"``, split on ``label_delim``) or a score (regression).

The task comes from the target column unless given: text labels, bools and a few whole
numbers are classes; fractional numbers (the patents' scores 0, 0.25, ... 1) or many
distinct numbers are a score. The training rows' range is kept so predictions are clipped
to it, as the course does.

>>> import pandas as pd
>>> t = TextTarget.fit(pd.Series([0.0, 0.25, 0.5, 1.0], name="score"))
>>> t.task, t.y_range, t.reason
('regression', (0.0, 1.0), 'numbers with fractions')
>>> t = TextTarget.fit(pd.Series(["neg", "pos", "pos"], name="label"))
>>> t.task, t.classes, t.encode(pd.Series(["pos", "neg"])).tolist()
('classification', ['neg', 'pos'], [1, 0])
>>> t = TextTarget.fit(pd.Series(["A;related", "B", "A"], name="labels"), label_delim=";")
>>> t.task, t.classes, t.encode(pd.Series(["B;A", "related"])).tolist()
('multilabel', ['A', 'B', 'related'], [[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rung.utils import plain_value

__all__ = ["TextTarget", "TASKS", "MAX_WHOLE_CLASSES", "LABEL_DELIM"]

TASKS = ("classification", "multilabel", "regression")
LABEL_DELIM = ";"  # multi-label targets split on this unless label_delim says otherwise
MAX_WHOLE_CLASSES = 10  # whole numbers with at most this many values are read as classes


def _class_order(label: Any) -> tuple[int, float, str]:
    """Numbers by value first, then anything else by its text."""
    if isinstance(label, (int, float)) and not isinstance(label, bool):
        return 0, float(label), ""
    return 1, 0.0, str(label)


def infer_task(y: pd.Series) -> tuple[str, str]:
    """``(task, reason)`` for a target column with no missing values.

    >>> infer_task(pd.Series([1, 2, 3, 2]))
    ('classification', '3 whole-number values')
    >>> infer_task(pd.Series(range(100)))
    ('regression', '100 distinct numbers')
    """
    if pd.api.types.is_bool_dtype(y.dtype) or not pd.api.types.is_numeric_dtype(y.dtype):
        return "classification", "labels"
    values = y.unique()
    if not np.all(np.mod(values.astype(float), 1) == 0):
        return "regression", "numbers with fractions"
    if len(values) <= MAX_WHOLE_CLASSES:
        return "classification", f"{len(values)} whole-number values"
    return "regression", f"{len(values)} distinct numbers"


@dataclass
class TextTarget:
    """The target column: its ``name``, ``task``, ``classes`` (classification) or the training
    range ``y_min``..``y_max`` (regression), and why the task was chosen (``reason``)."""

    name: str
    task: str
    classes: list[Any] | None = None
    y_min: float | None = None
    y_max: float | None = None
    reason: str = ""
    label_delim: str | None = None  # multi-label: what separates a row's labels

    @classmethod
    def fit(
        cls,
        y: pd.Series,
        task: str | None = None,
        train_rows: np.ndarray | None = None,
        label_delim: str | None = None,
    ) -> TextTarget:
        """The target of ``y`` (no missing values): task inferred unless given; classes from
        every row; the range from ``train_rows`` (all rows when None). A ``label_delim``, or
        ``task="multilabel"`` (``label_delim`` then ";"), makes it multi-label."""
        if y.isna().any():
            raise ValueError(f"target {y.name!r} has missing values; drop those rows first.")
        if task == "multilabel" or (task is None and label_delim is not None):
            return cls._fit_multilabel(y, label_delim or LABEL_DELIM, task)
        values = y.unique()
        if len(values) < 2:
            raise ValueError(
                f"target {y.name!r} has a single value, {plain_value(values[0])!r}, in all {len(y)} "
                "labelled rows: there is nothing to learn. Check the --target column, or add "
                "rows of the other classes."
            )
        if task is None:
            task, reason = infer_task(y)
        elif task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}, got {task!r}.")
        else:
            reason = "given"
        if task == "classification":
            classes = sorted((plain_value(v) for v in values), key=_class_order)
            return cls(str(y.name), task, classes, reason=reason)
        numbers = pd.to_numeric(y, errors="coerce")
        if numbers.isna().any():
            bad = y[numbers.isna()].iloc[0]
            raise ValueError(
                f"target {y.name!r} has the value {bad!r}, which is not a number; regression "
                "needs numbers (or pass --task classification)."
            )
        train = (
            numbers.to_numpy(float) if train_rows is None else numbers.to_numpy(float)[train_rows]
        )
        return cls(str(y.name), task, None, float(train.min()), float(train.max()), reason)

    @classmethod
    def _fit_multilabel(cls, y: pd.Series, delim: str, task: str | None) -> TextTarget:
        if not isinstance(delim, str) or not delim:
            raise ValueError(f"label_delim must be a non-empty string, got {delim!r}.")
        sets = _label_sets(y, delim)
        classes = sorted({label for labels in sets for label in labels})
        if len(classes) < 2:
            raise ValueError(
                f"target {y.name!r} has a single label, {classes[:1]}, over all {len(y)} rows "
                f"split on {delim!r}: there is nothing to learn. Check --label-delim (the "
                "character between a row's labels) or the --target column."
            )
        reason = "given" if task else f"labels joined by {delim!r}"
        return cls(str(y.name), "multilabel", classes, reason=reason, label_delim=delim)

    @property
    def n_out(self) -> int:
        """The model's outputs: one per class, or one score."""
        return len(self.classes) if self.classes is not None else 1

    @property
    def y_range(self) -> tuple[float, float] | None:
        """``(min, max)`` of the training targets for regression, else None."""
        return (self.y_min, self.y_max) if self.task == "regression" else None

    def encode(self, y: pd.Series) -> np.ndarray:
        """Classification: int64 class indices (N,); multi-label: float32 0/1 (N, labels);
        regression: float32 values (N, 1)."""
        if self.task == "regression":
            return pd.to_numeric(y).to_numpy(np.float32).reshape(-1, 1)
        index = {c: i for i, c in enumerate(self.classes)}
        if self.task == "multilabel":
            out = np.zeros((len(y), len(self.classes)), dtype=np.float32)
            unknown: set[str] = set()
            for row, labels in enumerate(_label_sets(y, self.label_delim)):
                for label in labels:
                    if label in index:
                        out[row, index[label]] = 1.0
                    else:
                        unknown.add(label)
            if unknown:
                raise ValueError(
                    f"target {self.name!r} has labels the model wasn't trained on: "
                    f"{sorted(unknown)[:10]}; it knows {self.classes}."
                )
            return out
        codes = [index.get(plain_value(v), -1) for v in y.to_numpy()]
        unknown = sorted({str(v) for v, c in zip(y.to_numpy(), codes) if c < 0})
        if unknown:
            raise ValueError(
                f"target {self.name!r} has values that are not among the classes "
                f"{self.classes}: {unknown[:10]}."
            )
        return np.asarray(codes, dtype=np.int64)

    def to_config(self) -> dict[str, Any]:
        """JSON-able; :meth:`from_config` rebuilds it."""
        return {
            "name": self.name, "task": self.task, "classes": self.classes,
            "y_min": self.y_min, "y_max": self.y_max, "reason": self.reason,
            "label_delim": self.label_delim,
        }  # fmt: skip

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TextTarget:
        return cls(**config)


def _label_sets(y: pd.Series, delim: str) -> list[list[str]]:
    """Each row's labels: the text split on ``delim``, stripped, empty pieces dropped."""
    return [[p.strip() for p in str(v).split(delim) if p.strip()] for v in y.to_numpy()]
