"""Callbacks that change how a step is taken: gradient accumulation, clipping, a dev run; and
:func:`restored`, which puts a Learner back as it was after a run that is not training
(``fast_dev_run``, ``lr_find``)."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rung.callbacks.core import (
    Callback,
    CancelBatchException,
    CancelTrainException,
    CancelValidateException,
)

if TYPE_CHECKING:
    from rung.learner import Learner

__all__ = ["GradientAccumulation", "GradientClip", "FastDevRun", "fast_dev_run", "restored"]

# the Learner's own counters and results that a fit moves on
_LEARNER_STATE = ("epoch", "iter", "train_iter", "n_epoch", "start_epoch", "valid_results")


@contextlib.contextmanager
def restored(learn: Learner) -> Iterator[Learner]:
    """Within the block, ``learn`` may fit; after it (even on an error) everything a fit
    changes is put back: the weights, the optimiser (an optimiser is made first when there is
    none: its state, Adam's step counts and moments, and hyper-parameters such as the learning
    rates), the Recorder's history, the fp16 loss scale and the Learner's counters.
    """
    if learn.opt is None:
        learn.create_opt()
    model_state = copy.deepcopy(learn.model.state_dict())
    opt_state = copy.deepcopy(learn.opt.state_dict())
    recorder = {k: copy.copy(v) for k, v in vars(learn.recorder).items() if k != "learn"}
    scaler = learn.scaler.state_dict() if learn.scaler is not None else None
    counters = {k: copy.copy(getattr(learn, k)) for k in _LEARNER_STATE if hasattr(learn, k)}
    try:
        yield learn
    finally:
        learn.model.load_state_dict(model_state)
        learn.opt.load_state_dict(opt_state)
        vars(learn.recorder).update(recorder)
        if scaler is not None:
            learn.scaler.load_state_dict(scaler)
        for k, v in counters.items():
            setattr(learn, k, v)


def fast_dev_run(learn: Learner) -> dict[str, float]:
    """One training batch and one validation batch through every callback, then ``learn`` is
    put back as it was (:func:`restored`): a smoke test for your own data and model. Returns
    ``{"train_loss", "valid_loss"}`` of those two batches."""
    cb = FastDevRun()
    with restored(learn):
        learn.fit(1, cbs=[cb])
    return cb.losses


class GradientAccumulation(Callback):
    """Step the optimiser every ``n_batches`` batches, as if the batch were that much bigger.

    Each batch's loss is divided by ``n_batches`` so the summed gradients are an average; the
    last batch of an epoch always steps, so no gradient leaks into the next epoch.
    """

    order = 20

    def __init__(self, n_batches: int = 4) -> None:
        if n_batches < 1:
            raise ValueError(f"n_batches must be at least 1, got {n_batches}.")
        self.n_batches = n_batches

    def before_train(self) -> None:
        self.count = 0

    def after_loss(self) -> None:
        if self.learn.training:
            self.learn.loss_grad = self.learn.loss_grad / self.n_batches

    def before_step(self) -> None:
        self.count += 1
        last = self.learn.iter == self.learn.n_iter - 1
        if self.count % self.n_batches and not last:
            raise CancelBatchException()  # skips step and zero_grad: gradients keep adding up


class GradientClip(Callback):
    """Clip the gradients' global norm to ``max_norm`` just before each optimiser step (after
    gradient accumulation has summed them, and unscaled under fp16)."""

    order = 25  # after GradientAccumulation, which cancels the steps it skips

    def __init__(self, max_norm: float = 1.0) -> None:
        self.max_norm = max_norm

    def before_step(self) -> None:
        import torch

        if self.learn.scaler is not None:  # clip the true gradients, not the scaled ones
            self.learn.scaler.unscale_(self.learn.opt)
        torch.nn.utils.clip_grad_norm_(self.learn.model.parameters(), self.max_norm)


class FastDevRun(Callback):
    """One training batch and one validation batch, then stop: see ``Learner.fast_dev_run``."""

    order = 90

    def before_fit(self) -> None:
        self.losses: dict[str, float] = {}

    def after_batch(self) -> None:
        phase = "train" if self.learn.training else "valid"
        self.losses[f"{phase}_loss"] = self.learn.loss.item()
        raise CancelTrainException() if self.learn.training else CancelValidateException()
