"""Hyper-parameter schedules (cosine one-cycle) and the callback that applies them per batch.

>>> f = combined_cos(0.25, 1.0, 10.0, 0.0)
>>> [round(float(f(p)), 3) for p in (0.0, 0.125, 0.25, 0.625, 1.0)]
[1.0, 5.5, 10.0, 5.0, 0.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from rung.callbacks.core import Callback

if TYPE_CHECKING:
    from rung.learner import Learner

__all__ = ["sched_cos", "combined_cos", "ParamScheduler", "one_cycle", "fine_tune"]

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


def one_cycle(
    lr_max: np.ndarray,
    div: float = 25.0,
    div_final: float = 1e5,
    pct_start: float = 0.25,
    moms: tuple[float, float, float] = (0.95, 0.85, 0.95),
) -> ParamScheduler:
    """The one-cycle policy as a scheduler: LR warms up (cosine) from ``lr_max/div`` to
    ``lr_max`` over ``pct_start`` of the steps, then anneals to ``lr_max/div_final``, while
    momentum (Adam's beta1) moves the opposite way through ``moms``. ``lr_max`` has one LR per
    parameter group.

    >>> sched = one_cycle(np.array([1.0]), div=10, pct_start=0.5).scheds["lr"]
    >>> [round(float(sched(p)[0]), 3) for p in (0.0, 0.5)]
    [0.1, 1.0]
    """
    if not 0 <= pct_start <= 1:
        raise ValueError(f"pct_start is a fraction of the steps in [0, 1], got {pct_start}.")
    if div <= 0 or div_final <= 0:
        raise ValueError(f"div and div_final must be > 0, got {div} and {div_final}.")
    return ParamScheduler(
        {
            "lr": combined_cos(pct_start, lr_max / div, lr_max, lr_max / div_final),
            "mom": combined_cos(pct_start, *moms),
        }
    )


def fine_tune(
    learn: Learner,
    epochs: int,
    base_lr: float = 2e-3,
    freeze_epochs: int = 1,
    lr_mult: float = 100,
    pct_start: float = 0.3,
    div: float = 5.0,
    cbs: Sequence[Callback] = (),
) -> None:
    """Fine-tune ``learn``'s pretrained model, as fastai does: ``freeze_epochs`` of one-cycle
    on the head alone, then ``epochs`` on everything with discriminative LRs from
    ``base_lr/2/lr_mult`` (body) to ``base_lr/2`` (head). A phase of 0 epochs is skipped."""
    from rung.callbacks.setup import check_epochs, check_rate

    check_epochs(freeze_epochs, "freeze_epochs", allow_zero=True)
    check_epochs(epochs, "epochs", allow_zero=freeze_epochs > 0)
    check_rate("base_lr", base_lr)
    learn.freeze()
    if freeze_epochs:
        learn.fit_one_cycle(freeze_epochs, slice(base_lr), pct_start=0.99, cbs=cbs)
    base_lr /= 2
    learn.unfreeze()
    if epochs:
        learn.fit_one_cycle(
            epochs, slice(base_lr / lr_mult, base_lr), pct_start=pct_start, div=div, cbs=cbs
        )
