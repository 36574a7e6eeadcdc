"""The target column of a table: the task, the classes or the range, encoding and decoding."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from rung.tabular.procs import category_keys
from rung.tabular.roles import MAX_CARD, MAX_CLASSES, column_role, infer_task
from rung.utils import plain_value

__all__ = ["TabularTarget", "TASKS", "TARGET_SKEW", "log_rule"]

TASKS = ("classification", "regression")
# A regression target with every training value > 0 and skew above this is learned as log1p(y):
# prices, counts and durations, whose errors matter relative to their size.
TARGET_SKEW = 0.75
CLASS_PER_ROW_SHARE = 0.5  # more classes than this share of rows (and > MAX_CARD): not learnable


@dataclass
class TabularTarget:
    """What the model predicts: a class among ``classes``, or a number in ``[y_min, y_max]``.

    Classification targets encode to int64 codes (``classes[code]`` is the label); regression
    targets to float32. ``y_min``/``y_max`` come from the training rows, in the target's units.
    ``log``: the models learn ``log1p(y)`` (:func:`log_rule`: skewed positive targets);
    :meth:`to_original` turns their outputs back into the target's units, times
    ``log_factor`` (Duan's smearing: ``exp`` of a mean of logs is a median, and the factor
    makes it a mean; 1.0 until :meth:`smear` estimates it).

    >>> t = TabularTarget.fit(pd.Series(["cat", "dog", "cat"], name="animal"))
    >>> t.task, t.classes, t.encode(pd.Series(["dog", "cat"])).tolist()
    ('classification', ['cat', 'dog'], [1, 0])
    >>> t.decode([1, 1])
    ['dog', 'dog']
    >>> TabularTarget.fit(pd.Series([1.5, 3.0, 2.0], name="price")).y_range
    (1.5, 3.0)
    >>> price = TabularTarget.fit(pd.Series([1.5, 2.5, 3.5, 5.5, 99.0], name="price"))
    >>> price.log, round(float(price.encode(pd.Series([99.0]))[0]), 3), price.to_original([np.log1p(99)])
    (True, 4.605, array([99.]))
    """

    name: str
    task: str
    classes: list[Any] | None = None
    y_min: float | None = None
    y_max: float | None = None
    reason: str = ""
    log: bool = False
    log_reason: str = ""
    log_factor: float = 1.0

    @classmethod
    def fit(
        cls,
        y: pd.Series,
        train_rows: Sequence[int] | np.ndarray | None = None,
        task: str | None = None,
        max_classes: int = MAX_CLASSES,
        log: bool | None = None,
    ) -> TabularTarget:
        """Infer (or check) the task from ``y``; classes from all rows, range from ``train_rows``.

        Every labelled row's class goes in ``classes`` so validation rows always encode; the
        range and the log rule use only training rows (positions into ``y``; all rows if
        ``None``). ``log``: learn ``log1p(y)`` (regression; ``None``: by :func:`log_rule`).
        """
        if y.isna().any():
            raise ValueError(
                f"target {y.name!r} has {int(y.isna().sum())} missing values; drop those rows "
                f"first (df.dropna(subset=[{y.name!r}]))."
            )
        values = y.unique()
        if len(values) < 2:
            raise ValueError(
                f"target {y.name!r} has a single value, {plain_value(values[0])!r}, in all "
                f"{len(y)} rows: there is nothing to predict. Check that it is the right column "
                "and that the rows were not filtered to one outcome, or choose another target."
            )
        if task is None:
            _refuse_id(y)
            task, reason = infer_task(y, max_classes=max_classes)
        elif task not in TASKS:
            raise ValueError(f"task must be one of {list(TASKS)}, got {task!r}.")
        else:
            reason = "given by task="
        if task == "classification":
            _refuse_class_per_row(y, len(values))
            classes = _sorted_classes(y, values)
            if train_rows is not None:
                _refuse_one_training_class(y, train_rows)
            return cls(str(y.name), task, classes, reason=reason)
        numbers = _target_numbers(y)
        infinite = np.flatnonzero(np.isinf(numbers))
        if len(infinite):
            raise ValueError(
                f"target {y.name!r} has {len(infinite)} infinite values (rows "
                f"{y.index[infinite[:10]].tolist()}); a model can't learn or be scored on them. Drop those "
                f"rows or replace the values."
            )
        train = numbers if train_rows is None else numbers[np.asarray(train_rows)]
        use_log, why = log_rule(train) if log is None else (bool(log), "given by log_target=")
        if use_log and train.min() <= -1:
            raise ValueError(
                f"log_target=True needs target values > -1 to take log1p; {y.name!r} has "
                f"{train.min():g}. Pass log_target=False (--log-target no)."
            )
        low, high = float(train.min()), float(train.max())
        return cls(str(y.name), task, None, low, high, reason, use_log, why)

    @property
    def n_out(self) -> int:
        """Outputs a model needs: one per class, or one number."""
        return len(self.classes) if self.classes is not None else 1

    @property
    def y_range(self) -> tuple[float, float] | None:
        """``(min, max)`` of the training targets for regression, else ``None``."""
        return None if self.task == "classification" else (self.y_min, self.y_max)

    @property
    def fit_range(self) -> tuple[float, float] | None:
        """:attr:`y_range` on the scale the models learn (``log1p`` of it when :attr:`log`)."""
        if self.task == "classification":
            return None
        if self.log:
            return float(np.log1p(self.y_min)), float(np.log1p(self.y_max))
        return self.y_min, self.y_max

    def to_original(self, values: Sequence[float] | np.ndarray) -> np.ndarray:
        """Model outputs (regression) back in the target's units, float64: when :attr:`log`,
        ``exp(v) * log_factor - 1`` (``expm1`` with the factor 1); as they are otherwise."""
        values = np.asarray(values, dtype=np.float64)
        if not self.log:
            return values
        return np.expm1(values) if self.log_factor == 1.0 else np.exp(values) * self.log_factor - 1

    def smear(self, y: np.ndarray, preds: np.ndarray) -> float:
        """Estimate :attr:`log_factor` from targets ``y`` and predictions ``preds`` on the
        log scale of rows the model did not fit (out-of-fold): Duan's (1983) smearing factor,
        the mean of ``exp(residual)``, so predictions estimate the mean in the target's
        units rather than the median (rmse wants the mean). Returns it.

        >>> t = TabularTarget("price", "regression", y_min=1.0, y_max=9.0, log=True)
        >>> round(t.smear(np.log1p([4.0, 9.0]), np.log1p([4.0, 9.0]) - [0.1, -0.1]), 4)
        1.005
        """
        residual = np.asarray(y, dtype=np.float64) - np.asarray(preds, dtype=np.float64)
        self.log_factor = float(np.mean(np.exp(residual))) if self.log else 1.0
        return self.log_factor

    def encode(self, y: pd.Series) -> np.ndarray:
        """Classification: int64 codes (N,); regression: float32 (N,), ``log1p`` when
        :attr:`log`."""
        if self.task == "regression":
            numbers = _target_numbers(y)
            return (np.log1p(numbers) if self.log else numbers).astype(np.float32)
        keys = category_keys(y.reset_index(drop=True))
        codes = pd.Index(category_keys(pd.Series(self.classes, dtype=object))).get_indexer(keys)
        if (codes < 0).any():
            unknown = sorted({str(v) for v in y.to_numpy()[codes < 0]})[:10]
            raise ValueError(
                f"target {self.name!r} has values that are not among the classes "
                f"{self.classes}: {unknown}."
            )
        return codes.astype(np.int64)

    def decode(self, codes: Sequence[int] | np.ndarray) -> list[Any]:
        """Class labels for codes (classification), or the numbers themselves (regression)."""
        if self.classes is None:
            return [float(v) for v in np.asarray(codes).reshape(-1)]
        return [self.classes[int(c)] for c in np.asarray(codes).reshape(-1)]

    def to_config(self) -> dict[str, Any]:
        """Plain JSON-able dict; :meth:`from_config` rebuilds the same target."""
        return {
            "name": self.name,
            "task": self.task,
            "classes": None if self.classes is None else list(self.classes),
            "y_min": self.y_min,
            "y_max": self.y_max,
            "reason": self.reason,
            "log": self.log,
            "log_reason": self.log_reason,
            "log_factor": self.log_factor,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TabularTarget:
        """Rebuild from :meth:`to_config` output."""
        return cls(**config)


def log_rule(y: np.ndarray, threshold: float = TARGET_SKEW) -> tuple[bool, str]:
    """Whether a regression target should be learned as ``log1p(y)``, and why: every value
    > 0 and skew above ``threshold`` (a long right tail, as prices, counts and durations
    have). On that scale a model fits relative errors and a few huge values don't dominate
    the squared error; predictions come back with ``expm1``.

    >>> log_rule(np.array([1.0, 2.0, 3.0, 5.0, 100.0]))[0], log_rule(np.array([-1.0, 2, 3]))[0]
    (True, False)
    """
    y = np.asarray(y, dtype=np.float64)
    if len(y) < 3 or y.min() <= 0:
        return False, "not every training value is > 0, so the target is learned as it is"
    skew = float(pd.Series(y).skew())
    if skew > threshold:
        return True, (
            f"every training value is > 0 and the skew is {skew:.2f} > {threshold}: models "
            "learn log1p(target) (relative errors), predictions are turned back with expm1"
        )
    return False, f"skew {skew:.2f} <= {threshold}, so the target is learned as it is"


def _sorted_classes(y: pd.Series, values: np.ndarray) -> list[Any]:
    """Class labels in order: numbers by value, anything else by its text."""
    keys = category_keys(pd.Series(values))
    order = np.argsort(keys.to_numpy(dtype=str), kind="stable")
    if pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype):
        order = np.argsort(values.astype(float), kind="stable")
    return [plain_value(values[i]) for i in order]


def _refuse_id(y: pd.Series) -> None:
    """A target the roles would call an id (a different integer or string in every row, named
    or counting like one) is a row label, not something to predict."""
    role, why = column_role(y, len(y))
    if role == "id":
        raise ValueError(
            f"target {y.name!r} looks like an id ({why}): it labels rows, there is nothing to "
            f"learn from it. Choose another target column; if {y.name!r} really is a number to "
            "predict, pass task='regression' (--task regression)."
        )


def _refuse_class_per_row(y: pd.Series, n_classes: int) -> None:
    """Classes that are nearly one per row (names, tickets, ids) can't be learned: most
    validation rows would hold a class never seen in training."""
    n = len(y)
    if n_classes > MAX_CARD and n_classes > CLASS_PER_ROW_SHARE * n:
        raise ValueError(
            f"target {y.name!r} has {n_classes} distinct values in {n} rows, nearly a class per "
            "row, like an id or free text: a classifier can't learn a class from one row. "
            "Predict a column with a few values repeated across rows (choose another target)"
            + (
                ", or pass task='regression' (--task regression) if it is a number."
                if _numeric(y)
                else "."
            )
        )


def _refuse_one_training_class(y: pd.Series, train_rows: Sequence[int] | np.ndarray) -> None:
    train = y.iloc[np.asarray(train_rows)]
    if len(train) and train.nunique() < 2:
        raise ValueError(
            f"the training rows hold one class ({plain_value(train.iloc[0])!r}) of target "
            f"{y.name!r}; a classifier needs at least two to learn from. Change the split so "
            "both sides hold every class (a random valid_pct, or other valid rows)."
        )


def _numeric(y: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(y.dtype) and not pd.api.types.is_bool_dtype(y.dtype)


def _target_numbers(y: pd.Series) -> np.ndarray:
    x = pd.to_numeric(y, errors="coerce")
    bad = y.notna().to_numpy() & x.isna().to_numpy()
    if bad.any():
        raise ValueError(
            f"target {y.name!r} holds values that are not numbers, e.g. "
            f"{y[bad].iloc[0]!r}; task='regression' needs numbers (use task='classification')."
        )
    return x.to_numpy(dtype=float)
