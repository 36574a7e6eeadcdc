"""Metrics: plain functions ``metric(preds, targets) -> float`` over a whole validation set.

The Learner gathers every prediction first and calls each metric once, so a metric is the
metric of the whole set, not a mean of per-batch values (which is wrong for F1, Pearson, R2...).
``preds`` are what the Learner hands over: the model's outputs through the loss's activation
(:func:`rung.losses.activation`): probabilities for classification (softmax for cross-entropy,
sigmoid for BCE-with-logits), values for regression. Called by hand, class scores with a class
axis may be logits or probabilities (the argmax is the same), but a single column must hold
probabilities (a row is class 1 above 0.5), and 1-d integer ``preds`` are classes already.

>>> import torch
>>> logits = torch.tensor([[2.0, 0.1], [0.2, 1.0], [3.0, 0.0]]); y = torch.tensor([0, 1, 1])
>>> round(accuracy(logits, y), 4), round(error_rate(logits, y), 4)
(0.6667, 0.3333)
>>> round(rmse(torch.tensor([1.0, 2.0]), torch.tensor([1.0, 4.0])), 4)
1.4142
"""

from __future__ import annotations

import torch

__all__ = [
    "accuracy", "error_rate", "f1", "accuracy_multi", "f1_multi_micro", "f1_multi_macro", "mae",
    "rmse", "pearson", "spearman", "r2", "METRICS", "MULTI_LABEL_THRESHOLD",
]  # fmt: skip
MULTI_LABEL_THRESHOLD = 0.5  # a label is predicted when its probability is above this


def _classes(preds: torch.Tensor, metric: str) -> torch.Tensor:
    """Predicted class per row: argmax over the class axis, the classes themselves for 1-d
    integers, or a 0.5 threshold on one column of probabilities."""
    if preds.dim() > 1 and preds.shape[-1] > 1:
        return preds.argmax(-1)
    if not preds.is_floating_point():
        return preds.reshape(len(preds)).long()
    probs = preds.reshape(len(preds))
    if len(probs) and (probs.min() < 0 or probs.max() > 1):
        raise ValueError(
            f"{metric} got one column of scores outside [0, 1] (from {probs.min().item():.3g} to "
            f"{probs.max().item():.3g}): logits, not probabilities. Pass torch.sigmoid(preds); "
            "the Learner does it for you when loss_func is nn.BCEWithLogitsLoss()."
        )
    return (probs > 0.5).long()


def _targets(targets: torch.Tensor, n_rows: int, metric: str) -> torch.Tensor:
    """One class index per row, from (N,) or (N, 1) targets."""
    if targets.numel() != n_rows:
        raise ValueError(
            f"{metric} needs one class per row, got targets of shape {tuple(targets.shape)} for "
            f"{n_rows} rows (several labels per row need a per-label metric)."
        )
    return targets.reshape(n_rows).long()


def accuracy(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """Fraction of rows whose predicted class equals the target."""
    pred = _classes(preds, "accuracy")
    return (pred == _targets(targets, len(pred), "accuracy")).float().mean().item()


def error_rate(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """1 - accuracy."""
    return 1.0 - accuracy(preds, targets)


def f1(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """F1: for two classes (two columns, or one of probabilities), of class 1 (the positive
    class); for more, the macro average over the classes that occur in the targets or the
    predictions, as scikit-learn's ``f1_score(average="macro")`` computes it.

    How many classes there are comes from the model's outputs (their class axis), never from
    which classes a validation set happens to hold.

    >>> round(f1(torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.3, 0.7]]), torch.tensor([0, 1, 0])), 4)
    0.6667
    """
    pred = _classes(preds, "f1")
    targ = _targets(targets, len(pred), "f1")
    if preds.dim() > 1 and preds.shape[-1] > 1:
        n_outputs = preds.shape[-1]
    elif preds.is_floating_point():
        n_outputs = 2  # one column of probabilities
    else:  # classes already: how many there are is only known from what occurs
        n_outputs = max(2, int(torch.cat([pred, targ]).max().item()) + 1) if len(pred) else 2
    if len(targ) and (targ.min() < 0 or targ.max() >= n_outputs):
        raise ValueError(
            f"f1 got a target of class {targ.max().item()} (or below 0) but the model gives "
            f"{n_outputs} outputs (classes 0..{n_outputs - 1}); check the labels and n_out."
        )
    if n_outputs == 2:
        classes = [1]
    else:
        classes = torch.unique(torch.cat([pred, targ])).tolist()
    scores = []
    for c in classes:
        tp = ((pred == c) & (targ == c)).sum().item()
        fp = ((pred == c) & (targ != c)).sum().item()
        fn = ((pred != c) & (targ == c)).sum().item()
        scores.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
    return float(sum(scores) / len(scores)) if scores else 0.0


def _multi(preds: torch.Tensor, targets: torch.Tensor, metric: str) -> tuple[torch.Tensor, ...]:
    """Multi-label: ``(predicted, actual)`` as (N, L) bools, the predictions thresholded."""
    if preds.dim() != 2 or preds.shape != targets.shape:
        raise ValueError(
            f"{metric} needs (N, labels) probabilities and 0/1 targets of the same shape, got "
            f"{tuple(preds.shape)} and {tuple(targets.shape)}; for one class per row use "
            "accuracy or f1."
        )
    if len(preds) and (preds.min() < 0 or preds.max() > 1):
        raise ValueError(
            f"{metric} got scores outside [0, 1]: logits, not probabilities. Pass "
            "torch.sigmoid(preds); the Learner does it when loss_func is nn.BCEWithLogitsLoss()."
        )
    return preds > MULTI_LABEL_THRESHOLD, targets > 0.5


def accuracy_multi(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """Multi-label: the fraction of (row, label) pairs where "above 0.5" matches the target.

    >>> accuracy_multi(torch.tensor([[0.9, 0.2], [0.6, 0.7]]), torch.tensor([[1.0, 0], [0, 1]]))
    0.75
    """
    pred, targ = _multi(preds, targets, "accuracy_multi")
    return (pred == targ).float().mean().item()


def _f1_counts(pred: torch.Tensor, targ: torch.Tensor, dim: int | None) -> torch.Tensor:
    tp = (pred & targ).sum(dim) if dim is not None else (pred & targ).sum()
    wrong = (pred ^ targ).sum(dim) if dim is not None else (pred ^ targ).sum()
    return 2 * tp / (2 * tp + wrong).clamp_min(1)


def f1_multi_micro(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """Multi-label F1 over all (row, label) pairs pooled (scikit-learn's ``average="micro"``):
    frequent labels weigh more.

    >>> round(f1_multi_micro(torch.tensor([[0.9, 0.2], [0.6, 0.7]]),
    ...                      torch.tensor([[1.0, 0], [0, 1]])), 4)
    0.8
    """
    pred, targ = _multi(preds, targets, "f1_multi_micro")
    return _f1_counts(pred, targ, None).item()


def f1_multi_macro(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """Multi-label F1 of each label, averaged over the labels that occur in the targets or the
    predictions (scikit-learn's ``average="macro"`` with ``zero_division=0`` over those):
    every label weighs the same, so rare labels count.

    >>> round(f1_multi_macro(torch.tensor([[0.9, 0.2], [0.6, 0.7]]),
    ...                      torch.tensor([[1.0, 0], [0, 1]])), 4)
    0.8333
    """
    pred, targ = _multi(preds, targets, "f1_multi_macro")
    occurs = (pred | targ).any(0)
    if not occurs.any():
        return 0.0
    return _f1_counts(pred, targ, 0)[occurs].float().mean().item()


def _flat(
    preds: torch.Tensor, targets: torch.Tensor, metric: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both as flat float64 vectors; they must hold as many values."""
    if preds.numel() != targets.numel():
        raise ValueError(
            f"{metric} compares values one to one, got preds of shape {tuple(preds.shape)} and "
            f"targets of shape {tuple(targets.shape)}; for classes use accuracy or f1."
        )
    return preds.reshape(-1).double(), targets.reshape(-1).double()


def mae(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean absolute error."""
    p, t = _flat(preds, targets, "mae")
    return (p - t).abs().mean().item()


def rmse(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """Root mean squared error."""
    p, t = _flat(preds, targets, "rmse")
    return (p - t).pow(2).mean().sqrt().item()


def pearson(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """Pearson correlation coefficient (the patents competition's metric).

    >>> pearson(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 4.0, 6.5])) > 0.99
    True
    """
    p, t = _flat(preds, targets, "pearson")
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
    p, t = _flat(preds, targets, "spearman")
    return pearson(_ranks(p), _ranks(t))


def r2(preds: torch.Tensor, targets: torch.Tensor) -> float:
    """Coefficient of determination, 1 - SS_res / SS_tot."""
    p, t = _flat(preds, targets, "r2")
    return (1 - (t - p).pow(2).sum() / (t - t.mean()).pow(2).sum().clamp_min(1e-12)).item()


METRICS = {
    f.__name__: f
    for f in (accuracy, error_rate, f1, accuracy_multi, f1_multi_micro, f1_multi_macro, mae, rmse,
              pearson, spearman, r2)
}  # fmt: skip
