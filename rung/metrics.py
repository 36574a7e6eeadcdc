"""Metrics: plain functions ``metric(preds, targets) -> float`` over a whole validation set.

The Learner gathers every prediction first and calls each metric once, so a metric is the
metric of the whole set, not a mean of per-batch values (which is wrong for F1, Pearson, R2...).
``preds`` are what the model returns (logits or probabilities with a class axis for
classification; values for regression).

>>> import torch
>>> logits = torch.tensor([[2.0, 0.1], [0.2, 1.0], [3.0, 0.0]]); y = torch.tensor([0, 1, 1])
>>> round(accuracy(logits, y), 4), round(error_rate(logits, y), 4)
(0.6667, 0.3333)
>>> round(rmse(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0])), 4)
1.4142
"""

from __future__ import annotations

import torch

__all__ = ["accuracy", "error_rate", "f1", "mae", "rmse", "pearson", "spearman", "r2", "METRICS"]


def _classes(preds: torch.Tensor) -> torch.Tensor:
    """Predicted class per row: argmax over the class axis, or a 0.5 threshold for one column."""
    if preds.dim() > 1 and preds.shape[-1] > 1:
        return preds.argmax(-1)
    return (preds.reshape(len(preds)) > 0.5).long()


def accuracy(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows whose predicted class equals the target."""
    return (_classes(preds) == targets.reshape(len(targets))).float().mean().item()


def error_rate(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """1 - accuracy."""
    return 1.0 - accuracy(preds, targets)


def f1(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """F1: for two classes, of class 1 (the positive class); for more, the macro average.

    >>> round(f1(torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]]), torch.tensor([0, 1, 0])), 4)
    0.6667
    """
    pred, targ = _classes(preds), targets.reshape(len(targets)).long()
    n_classes = int(max(pred.max().item(), targ.max().item()) + 1)
    classes = [1] if n_classes <= 2 else range(n_classes)
    scores = []
    for c in classes:
        tp = ((pred == c) & (targ == c)).sum().item()
        fp = ((pred == c) & (targ != c)).sum().item()
        fn = ((pred != c) & (targ == c)).sum().item()
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(sum(scores) / len(scores))


def _flat(preds: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return preds.reshape(-1).double(), targets.reshape(-1).double()


def mae(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean absolute error."""
    p, t = _flat(preds, targets)
    return (p - t).abs().mean().item()


def rmse(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """Root mean squared error."""
    p, t = _flat(preds, targets)
    return (p - t).pow(2).mean().sqrt().item()


def pearson(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """Pearson correlation coefficient (the patents competition's metric).

    >>> pearson(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 4.0, 6.5])) > 0.99
    True
    """
    p, t = _flat(preds, targets)
    p, t = p - p.mean(), t - t.mean()
    return (p @ t / (p.norm() * t.norm()).clamp_min(1e-12)).item()


def _ranks(x: torch.Tensor) -> torch.Tensor:
    # average ranks for ties, as scipy.stats.rankdata does
    order = x.argsort()
    ranks = torch.empty_like(x)
    ranks[order] = torch.arange(1, len(x) + 1, dtype=x.dtype)
    uniq, inverse = torch.unique(x, return_inverse=True)
    sums = torch.zeros(len(uniq), dtype=x.dtype).index_add_(0, inverse, ranks)
    counts = torch.zeros(len(uniq), dtype=x.dtype).index_add_(0, inverse, torch.ones_like(x))
    return (sums / counts)[inverse]


def spearman(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """Spearman rank correlation (Pearson of the ranks, ties averaged)."""
    p, t = _flat(preds, targets)
    return pearson(_ranks(p), _ranks(t))


def r2(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """Coefficient of determination, 1 - SS_res / SS_tot."""
    p, t = _flat(preds, targets)
    return (1 - (t - p).pow(2).sum() / (t - t.mean()).pow(2).sum().clamp_min(1e-12)).item()


METRICS = {f.__name__: f for f in (accuracy, error_rate, f1, mae, rmse, pearson, spearman, r2)}
