"""The facts a writeup reasons from, computed once by the app that made the run and kept in
``config.json`` under ``"facts"``: how validation was made (which kind of split, and how many
items on each side), what the target looks like on each side (class counts, or the spread of
a number), a simple baseline scored on the validation items, and a few sample rows.

Every app calls :func:`run_facts` with its training and validation targets, so the baseline
is the same computation whatever the data: the majority class of the training items, or
their mean, scored on the validation items.

>>> facts = run_facts([0, 0, 1, 0], [1, 0], "classification", split_facts("random", 4, 2, 0.33, 7))
>>> facts["baseline"]["predicts"], facts["baseline"]["accuracy"], facts["target"]["train"]
('0', 0.5, {'counts': {'0': 3, '1': 1}})
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = [
    "FACTS_KEY",
    "SPLIT_KINDS",
    "run_facts",
    "split_facts",
    "baseline_metrics",
    "target_summary",
    "sample_rows",
]

FACTS_KEY = "facts"  # config.json's key
# random: a seeded fraction; folder: train/ and valid/ folders; column: a column (or a flag per
# item) says which items validate; group: whole groups validate; time: the latest items validate
SPLIT_KINDS = ("random", "folder", "column", "group", "time")
_MAX_SAMPLE_ROWS, _MAX_SAMPLE_COLUMNS, _MAX_CELL = 5, 12, 40


def run_facts(
    y_train: Iterable[Any],
    y_valid: Iterable[Any],
    task: str,
    split: dict[str, Any],
    classes: Sequence[Any] | None = None,
    target: str | None = None,
    sample: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``"facts"`` of a run (JSON values only): ``task``, ``split`` (from
    :func:`split_facts`), ``target`` (its name and :func:`target_summary` of each side),
    ``baseline`` (:func:`baseline_metrics`) and ``sample`` (:func:`sample_rows`, or None).

    ``classes``: for targets given as class indices (0, 1, ...), their names.

    >>> run_facts([1.0, 3.0], [2.0], "regression", split_facts("time", 2, 1, 0.3, column="d"),
    ...           target="price")["baseline"]
    {'kind': 'training mean', 'predicts': 2.0, 'n_valid': 1, 'rmse': 0.0, 'mae': 0.0}
    """
    y_train, y_valid = _labels(y_train, task, classes), _labels(y_valid, task, classes)
    return {
        "task": task,
        "split": split,
        "target": {
            "name": target,
            "train": target_summary(y_train, task),
            "valid": target_summary(y_valid, task),
        },
        "baseline": baseline_metrics(y_train, y_valid, task),
        "sample": sample,
    }


def split_facts(
    kind: str,
    n_train: int,
    n_valid: int,
    valid_pct: float | None = None,
    seed: int | None = None,
    column: str | None = None,
    folds: int = 0,
) -> dict[str, Any]:
    """How the validation items were chosen: ``kind`` (one of ``SPLIT_KINDS``), the counts,
    and what the kind needs: the fraction and seed of a random split, the column of a column,
    group or time split; ``folds`` when models were also cross-validated on the training rows.

    >>> split_facts("group", 700, 191, 0.2, 42, column="anchor")["kind"]
    'group'
    >>> split_facts("shuffled", 1, 1)
    Traceback (most recent call last):
    ...
    ValueError: split kind 'shuffled' is not one of ['random', 'folder', 'column', 'group', 'time'].
    """
    if kind not in SPLIT_KINDS:
        raise ValueError(f"split kind {kind!r} is not one of {list(SPLIT_KINDS)}.")
    out: dict[str, Any] = {"kind": kind, "n_train": int(n_train), "n_valid": int(n_valid)}
    details = {"valid_pct": valid_pct, "seed": seed, "column": column, "folds": folds or None}
    out.update({k: v for k, v in details.items() if v is not None})
    return out


def baseline_metrics(y_train: Iterable[Any], y_valid: Iterable[Any], task: str) -> dict[str, Any]:
    """The simplest model, scored on the validation items: for classification the training
    items' most common class (ties: the first in sorted order), its ``accuracy`` and
    ``error_rate``; for regression the training mean, its ``rmse`` and ``mae``.

    >>> baseline_metrics(["cat", "dog", "dog"], ["cat", "dog", "cat", "cat"], "classification")
    {'kind': 'majority class', 'predicts': 'dog', 'n_valid': 4, 'share_of_train': 0.6667, 'accuracy': 0.25, 'error_rate': 0.75}
    >>> baseline_metrics([1, 2, 3], [4, 0], "regression")["rmse"]
    2.0
    """
    train, valid = list(y_train), list(y_valid)
    if not train or not valid:
        raise ValueError(
            f"a baseline needs training and validation items; got {len(train)} and {len(valid)}."
        )
    if task == "classification":
        train, valid = [str(v) for v in train], [str(v) for v in valid]
        counts = Counter(train)
        top = max(sorted(counts), key=lambda c: counts[c])  # sorted first: ties go to the first
        accuracy = sum(v == top for v in valid) / len(valid)
        return {
            "kind": "majority class", "predicts": top, "n_valid": len(valid),
            "share_of_train": round(counts[top] / len(train), 4),
            "accuracy": round(accuracy, 6), "error_rate": round(1 - accuracy, 6),
        }  # fmt: skip
    if task != "regression":
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}.")
    train_f, valid_f = _numbers(train), _numbers(valid)
    mean = statistics.fmean(train_f)
    rmse = math.sqrt(statistics.fmean((v - mean) ** 2 for v in valid_f))
    mae = statistics.fmean(abs(v - mean) for v in valid_f)
    return {
        "kind": "training mean", "predicts": round(mean, 6), "n_valid": len(valid_f),
        "rmse": round(rmse, 6), "mae": round(mae, 6),
    }  # fmt: skip


def target_summary(y: Iterable[Any], task: str) -> dict[str, Any]:
    """Class counts (most common first), or a number's n, mean, std, min, median and max.

    >>> target_summary(["b", "a", "b"], "classification")
    {'counts': {'b': 2, 'a': 1}}
    >>> target_summary([1, 2, 6], "regression")["median"]
    2.0
    """
    values = list(y)
    if task == "classification":
        counts = Counter(str(v) for v in values)
        return {"counts": dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))}
    numbers = _numbers(values)
    if not numbers:
        return {"n": 0}
    return {
        "n": len(numbers),
        "mean": round(statistics.fmean(numbers), 6),
        "std": round(statistics.pstdev(numbers), 6),
        "min": min(numbers),
        "median": float(statistics.median(numbers)),
        "max": max(numbers),
    }


def sample_rows(columns: Sequence[Any], rows: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """A few rows of the data as text, for the writeup: at most 5 rows and 12 columns, long
    cells cut to 40 characters, missing values as empty text.

    >>> sample_rows(["Name", "Age"], [["Braund, Mr. Owen Harris", 22.0], ["Heikkinen", None]])
    {'columns': ['Name', 'Age'], 'rows': [['Braund, Mr. Owen Harris', '22.0'], ['Heikkinen', '']]}
    """
    cols = [str(c) for c in columns][:_MAX_SAMPLE_COLUMNS]
    out = []
    for row in rows:
        if len(out) == _MAX_SAMPLE_ROWS:
            break
        out.append([_cell(v) for v in list(row)[: len(cols)]])
    return {"columns": cols, "rows": out}


def _labels(y: Iterable[Any], task: str, classes: Sequence[Any] | None) -> list[Any]:
    values = [v.item() if hasattr(v, "item") else v for v in y]  # numpy and torch scalars
    if task == "classification" and classes is not None:
        names = [str(c) for c in classes]
        if all(isinstance(v, int) and 0 <= v < len(names) for v in values):
            return [names[v] for v in values]
    return values


def _numbers(values: Iterable[Any]) -> list[float]:
    out = []
    for v in values:
        f = float(v)
        if math.isfinite(f):
            out.append(f)
    return out


def _cell(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return ""
    text = " ".join(str(v).split())
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 3] + "..."
