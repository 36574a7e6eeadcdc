"""Hyper-parameter schedules (cosine one-cycle) and the callback that applies them per batch.

>>> f = combined_cos(0.25, 1.0, 10.0, 0.0)
>>> [round(float(f(p)), 3) for p in (0.0, 0.125, 0.25, 0.625, 1.0)]
[1.0, 5.5, 10.0, 5.0, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from rung.callbacks.core import Callback

__all__ = ["sched_cos", "combined_cos", "ParamScheduler"]

Schedule = Callable[[float], "np.ndarray | float"]


def sched_cos(start: np.ndarray | float, end: np.ndarray | float, pct: float) -> np.ndarray | float:
    """Cosine from ``start`` (pct=0) to ``end`` (pct=1)."""
    return start + (1 + math.cos(math.pi * (1 - pct))) * (end - start) / 2


def combined_cos(pct_start: float, start, middle, end) -> Schedule:
    """Cosine ``start -> middle`` over the first ``pct_start`` of training, then ``middle -> end``.

    Values may be arrays (one per parameter group)."""
    start, middle, end = (np.asarray(v, dtype=float) for v in (start, middle, end))

    def schedule(pct: float) -> np.ndarray:
        if pct < pct_start:
            return sched_cos(start, middle, pct / pct_start)
        return sched_cos(middle, end, (pct - pct_start) / max(1e-12, 1 - pct_start))

    return schedule


class ParamScheduler(Callback):
    """Sets each hyper-parameter (``lr``, ``mom``) from its schedule before every training batch."""

    order = 10

    def __init__(self, scheds: dict[str, Schedule]) -> None:
        self.scheds = scheds

    def before_batch(self) -> None:
        if not self.learn.training:
            return
        pct = self.learn.pct_train
        n = len(self.learn.opt.param_groups)
        for name, sched in self.scheds.items():
            self.learn.set_hyper(name, np.broadcast_to(sched(pct), (n,)))
