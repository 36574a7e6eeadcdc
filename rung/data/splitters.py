"""Splitters: honest validation sets.

Every splitter returns a :class:`Split` of integer row indices, ``train`` and ``valid``, and
refuses to return an empty side. Pick the one that matches how the model will be used:

- :func:`random_split` for independent rows (a seeded random fraction, as the course does);
- :func:`split_by_column` when the data already says which rows are validation;
- :func:`split_by_folder` for image folders laid out as ``train/`` and ``valid/``;
- :func:`split_by_time` when the model will predict the future (never split time randomly);
- :func:`split_by_group` when rows come in groups (a patient, a photographer) that must not
  straddle the split.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "Split",
    "random_split",
    "split_by_column",
    "split_by_folder",
    "split_by_time",
    "split_by_group",
    "HOW_TO_SPLIT",
]

HOW_TO_SPLIT = (
    "give a valid_pct (a seeded random fraction, e.g. valid_pct=0.2), a valid folder "
    "(train/ and valid/), a column that marks validation rows, or a time or group split"
)


class Split(NamedTuple):
    """Row indices of the training and validation sets."""

    train: np.ndarray
    valid: np.ndarray


def _checked(train: np.ndarray, valid: np.ndarray, what: str) -> Split:
    train, valid = np.asarray(train, dtype=np.int64), np.asarray(valid, dtype=np.int64)
    if len(valid) == 0:
        raise ValueError(f"{what} left no validation rows; {HOW_TO_SPLIT}.")
    if len(train) == 0:
        raise ValueError(f"{what} left no training rows; use a smaller validation fraction.")
    return Split(train, valid)


def _check_pct(valid_pct: float) -> None:
    if not 0 < valid_pct < 1:
        raise ValueError(f"valid_pct must be between 0 and 1 (exclusive), got {valid_pct!r}.")


def _seed_or_draw(seed: int | None) -> int:
    """``seed``, or (for ``None``) one number drawn from torch's global generator: drawn, not
    reseeded, so a run seeded with ``seed_everything`` gets the same split every time."""
    import torch

    return int(seed) if seed is not None else int(torch.randint(0, 2**62, ()).item())


def random_split(n: int, valid_pct: float = 0.2, seed: int | None = 42) -> Split:
    """A seeded random fraction of ``n`` rows for validation.

    The permutation is ``torch.randperm(n)`` after seeding a private generator with ``seed``,
    and the first ``int(valid_pct * n)`` indices are validation: exactly the course's Titanic
    split. With ``seed=None`` the seed is drawn from torch's global generator (so
    ``seed_everything`` decides it); the global generator is never reseeded.

    >>> s = random_split(10, valid_pct=0.2, seed=42)
    >>> len(s.train), len(s.valid)
    (8, 2)
    >>> sorted(set(s.train) | set(s.valid)) == list(range(10))
    True
    """
    import torch

    _check_pct(valid_pct)
    gen = torch.Generator()
    gen.manual_seed(_seed_or_draw(seed))
    perm = torch.randperm(n, generator=gen).numpy()
    cut = int(valid_pct * n)
    return _checked(perm[cut:], perm[:cut], f"random_split(n={n}, valid_pct={valid_pct})")


def split_by_column(values: Sequence[Any], valid_value: Any = True) -> Split:
    """Rows whose value equals ``valid_value`` are validation (e.g. an ``is_valid`` column).

    >>> split_by_column([False, True, False, True]).valid.tolist()
    [1, 3]
    >>> split_by_column(["train", "valid", "train"], valid_value="valid").train.tolist()
    [0, 2]
    """
    arr = np.asarray(values)
    mask = arr == valid_value
    if not mask.any():
        seen = sorted({str(v) for v in arr.tolist()})[:10]
        raise ValueError(
            f"no row has the validation value {valid_value!r} (values seen: {seen}); "
            "pass valid_value= with the value that marks validation rows."
        )
    return _checked(np.flatnonzero(~mask), np.flatnonzero(mask), "split_by_column")


def split_by_folder(
    paths: Sequence[str | Path],
    train_name: str = "train",
    valid_names: Sequence[str] = ("valid", "val", "validation"),
) -> Split:
    """Split files by a folder in their path: ``.../train/...`` or ``.../valid/...``.

    Files under neither folder are ignored (not silently put in training).

    >>> split_by_folder(["d/train/cat/1.jpg", "d/valid/cat/2.jpg", "d/train/dog/3.jpg"]).valid.tolist()
    [1]
    """
    train, valid = [], []
    for i, p in enumerate(paths):
        parts = Path(p).parts
        if any(part in valid_names for part in parts):
            valid.append(i)
        elif train_name in parts:
            train.append(i)
    if not valid:
        raise ValueError(
            f"no file is under a validation folder named one of {list(valid_names)}; {HOW_TO_SPLIT}."
        )
    return _checked(np.array(train), np.array(valid), "split_by_folder")


def split_by_time(times: Sequence[Any], valid_pct: float = 0.2) -> Split:
    """The latest rows (by ``times``), about ``valid_pct`` of them, are validation: predict the
    future.

    The cut falls between two distinct times, never inside one: rows that share a timestamp
    all land on the same side (otherwise the model would train on the very moment it is
    checked on). Of the possible cuts, the one nearest ``valid_pct`` of the rows is taken
    (on a tie, the one with more validation rows).

    >>> split_by_time([5, 1, 4, 2, 3], valid_pct=0.4).valid.tolist()
    [2, 0]
    >>> split_by_time([1, 1, 2, 2, 2, 3], valid_pct=0.2).valid.tolist()  # not inside time 2
    [5]
    """
    _check_pct(valid_pct)
    times = np.asarray(times)
    order = np.argsort(times, kind="stable")
    ordered = times[order]
    # positions (in time order) where a new time starts: the only places a cut may go
    starts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    if len(starts) == 0:
        raise ValueError(
            f"split_by_time: every row has the same time ({ordered[0]!r}), so no row is later "
            f"than another; {HOW_TO_SPLIT}."
        )
    want = len(order) - int(round(valid_pct * len(order)))  # the cut by row count
    distance = np.abs(starts - want)
    cut = int(starts[np.flatnonzero(distance == distance.min())[0]])  # first: more validation
    return _checked(order[:cut], order[cut:], "split_by_time")


def split_by_group(groups: Sequence[Any], valid_pct: float = 0.2, seed: int | None = 42) -> Split:
    """Whole groups go to validation, so no group straddles the split.

    About ``valid_pct`` of the groups (seeded) are validation. With ``seed=None`` the seed is
    drawn from torch's global generator, as :func:`random_split` does.

    >>> s = split_by_group(["a", "a", "b", "b", "c", "c"], valid_pct=0.34, seed=0)
    >>> len(s.valid), len(s.train)
    (2, 4)
    """
    _check_pct(valid_pct)
    arr = np.asarray(groups)
    uniq = np.unique(arr)
    if len(uniq) < 2:
        raise ValueError(
            f"split_by_group needs at least 2 groups, got {len(uniq)}: {uniq.tolist()}."
        )
    rng = np.random.default_rng(_seed_or_draw(seed))
    n_valid = max(1, int(round(valid_pct * len(uniq))))
    valid_groups = rng.permutation(uniq)[:n_valid]
    mask = np.isin(arr, valid_groups)
    return _checked(np.flatnonzero(~mask), np.flatnonzero(mask), "split_by_group")
