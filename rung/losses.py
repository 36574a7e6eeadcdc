"""What a loss function says about its task: the activation that turns outputs into
predictions, and the loss of each item.

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

__all__ = ["is_classification", "activation", "per_item_loss"]


def is_classification(loss_func: Callable) -> bool:
    """True for losses whose outputs are class scores (cross-entropy, NLL)."""
    return isinstance(loss_func, (nn.CrossEntropyLoss, nn.NLLLoss))


def activation(loss_func: Callable) -> Callable[[torch.Tensor], torch.Tensor]:
    """Softmax for cross-entropy, sigmoid for BCE-with-logits, identity otherwise."""
    if is_classification(loss_func):
        return partial(torch.softmax, dim=-1)
    if isinstance(loss_func, nn.BCEWithLogitsLoss):
        return torch.sigmoid
    return _identity


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
