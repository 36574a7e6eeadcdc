"""Gathers validation predictions and computes the loss and every metric over the whole set."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from rung.callbacks.core import Callback
from rung.losses import activation

__all__ = ["MetricsCallback"]


def metric_name(fn: Callable) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


class MetricsCallback(Callback):
    """Collects (and, across processes, gathers) validation predictions and targets, then
    sets ``learn.valid_results``: ``{"valid_loss": ..., <metric name>: ...}``.

    The loss is computed on the raw outputs; the metrics see them through the loss's activation
    (:func:`rung.losses.activation`): probabilities for a classifier, sigmoid included for one
    output under ``BCEWithLogitsLoss``, so a 0.5 threshold means a logit of 0.

    Each validation row is counted exactly once, also with several processes (Accelerate's
    ``gather_for_metrics`` drops the rows it repeated to even out the shards).

    ``last_outputs``: the last validation pass's raw outputs and targets (gathered), so what
    comes after a fit (interpretation, top losses) can reuse them instead of predicting the
    validation set again.
    """

    order = 40

    def __init__(self, metrics: Sequence[Callable] = ()) -> None:
        self.metrics = list(metrics)
        self.names = [metric_name(m) for m in self.metrics]
        self.preds: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []
        self.last_outputs: tuple[torch.Tensor, torch.Tensor] | None = None

    def before_validate(self) -> None:
        self.preds, self.targets = [], []

    def after_loss(self) -> None:
        if self.learn.training:
            return
        pred, targ = self.learn.pred.detach().float(), self.learn.yb.detach()
        if self.learn.accelerator.num_processes > 1:
            pred, targ = self.learn.accelerator.gather_for_metrics((pred, targ))
        self.preds.append(pred)
        self.targets.append(targ)

    def after_validate(self) -> None:
        if not self.preds:
            self.learn.valid_results = {}
            return
        preds, targets = torch.cat(self.preds), torch.cat(self.targets)
        self.n_valid = len(targets)
        self.last_outputs = (preds, targets)
        with torch.no_grad():
            results = {"valid_loss": float(self.learn.loss_func(preds, targets))}
            if self.metrics:
                preds = activation(self.learn.loss_func)(preds).cpu()
        for name, fn in zip(self.names, self.metrics):
            results[name] = float(fn(preds, targets.cpu()))
        self.learn.valid_results = results
        self.preds, self.targets = [], []
