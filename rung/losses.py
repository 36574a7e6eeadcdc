"""What a loss function says about its task: the activation that turns outputs into
predictions, how predictions decode to classes or values, the task, and the loss of each item.

A loss may carry its own ``activation`` and ``decodes`` methods, as fastai's losses do; they
win over what rung knows about torch's losses.

>>> import torch
>>> activation(torch.nn.CrossEntropyLoss())(torch.tensor([[0.0, 0.0]])).tolist()
[[0.5, 0.5]]
>>> per_item_loss(torch.nn.MSELoss(), torch.tensor([[1.0], [3.0]]), torch.tensor([[1.0], [1.0]])).tolist()
[0.0, 4.0]
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

__all__ = ["is_classification", "task_of", "activation", "decodes", "per_item_loss"]

_REGRESSION_LOSSES = (nn.MSELoss, nn.L1Loss, nn.SmoothL1Loss, nn.HuberLoss)
_BINARY_LOSSES = (nn.BCEWithLogitsLoss, nn.BCELoss)


def is_classification(loss_func: Callable) -> bool:
    """True for losses whose outputs are class scores (cross-entropy, NLL)."""
    return isinstance(loss_func, (nn.CrossEntropyLoss, nn.NLLLoss))


def task_of(loss_func: Callable) -> str | None:
    """``"classification"`` for cross-entropy, NLL and the BCE losses, ``"regression"`` for MSE,
    L1, smooth L1 and Huber; None for a loss rung doesn't know.

    >>> task_of(nn.BCEWithLogitsLoss()), task_of(nn.L1Loss()), task_of(lambda p, t: p)
    ('classification', 'regression', None)
    """
    if is_classification(loss_func) or isinstance(loss_func, _BINARY_LOSSES):
        return "classification"
    if isinstance(loss_func, _REGRESSION_LOSSES):
        return "regression"
    return None


def activation(loss_func: Callable) -> Callable[[torch.Tensor], torch.Tensor]:
    """The loss's own ``activation``, else softmax for cross-entropy, sigmoid for
    BCE-with-logits, identity otherwise."""
    own = getattr(loss_func, "activation", None)
    if callable(own):
        return own
    if is_classification(loss_func):
        return partial(torch.softmax, dim=-1)
    if isinstance(loss_func, nn.BCEWithLogitsLoss):
        return torch.sigmoid
    return _identity


def decodes(loss_func: Callable) -> Callable[[torch.Tensor], torch.Tensor]:
    """Activated predictions -> what they predict: the loss's own ``decodes``, else the class
    index (argmax) for cross-entropy, 0/1 above 0.5 for the BCE losses, the values otherwise.

    >>> decodes(nn.BCEWithLogitsLoss())(torch.tensor([[0.2], [0.7]])).tolist()
    [[0], [1]]
    """
    own = getattr(loss_func, "decodes", None)
    if callable(own):
        return own
    if is_classification(loss_func):
        return partial(torch.argmax, dim=-1)
    if isinstance(loss_func, _BINARY_LOSSES):
        return _above_half
    return _identity


def _above_half(probs: torch.Tensor) -> torch.Tensor:
    return (probs > 0.5).long()


def _identity(t: torch.Tensor) -> torch.Tensor:
    return t


def per_item_loss(loss_func: Callable, preds: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The loss of each item, shape (N,): top losses are the items the model got most wrong."""
    if isinstance(loss_func, nn.Module) and hasattr(loss_func, "reduction"):
        old = loss_func.reduction
        loss_func.reduction = "none"
        try:
            losses = loss_func(preds, targets)
        finally:
            loss_func.reduction = old
        return losses.reshape(len(preds), -1).mean(1) if losses.dim() > 1 else losses
    return torch.stack([loss_func(p[None], t[None]) for p, t in zip(preds, targets)])
