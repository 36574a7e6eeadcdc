"""Small helpers every rung may use: seeding and closest-name suggestions."""

from __future__ import annotations

import difflib
import os
import random
from collections.abc import Iterable

__all__ = ["seed_everything", "closest"]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and every GPU) for a reproducible run.

    >>> seed_everything(42)
    >>> import torch; a = torch.rand(1); seed_everything(42); bool(torch.rand(1) == a)
    True
    """
    import numpy as np
    import torch

    random.seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def closest(name: str, choices: Iterable[str]) -> str:
    """A ``"; did you mean 'x'?"`` hint for an unknown ``name``, or ``""`` when nothing is close.

    >>> closest("Survivd", ["PassengerId", "Survived", "Sex"])
    "; did you mean 'Survived'?"
    >>> closest("zzz", ["a", "b"])
    ''
    """
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""
