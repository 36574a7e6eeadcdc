"""Callbacks that change how a step is taken: gradient accumulation, clipping, a dev run."""

from __future__ import annotations

from rung.callbacks.core import (
    Callback,
    CancelBatchException,
    CancelTrainException,
    CancelValidateException,
)

__all__ = ["GradientAccumulation", "GradientClip", "FastDevRun"]


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
