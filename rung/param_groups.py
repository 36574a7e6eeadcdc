"""Parameter groups: body first, head last; freezing; one learning rate per group.

Fine-tuning trains the new head alone first (the body frozen), then everything with smaller
learning rates for the earlier groups, which already know general features.

>>> import torch
>>> model = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 1))
>>> groups = [list(model[:2].parameters()), list(model[2].parameters())]
>>> freeze_to(model, groups, -1)
>>> [p.requires_grad for p in model.parameters()]
[False, False, True, True, True, True]
>>> lrs_for(slice(1e-4, 1e-2), 3).round(5).tolist()
[0.0001, 0.001, 0.01]
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from torch import nn

__all__ = [
    "NORM_TYPES",
    "LRLike",
    "default_splitter",
    "split_params",
    "lrs_for",
    "set_hyper",
    "freeze_to",
]

LRLike = float | slice | Sequence[float] | np.ndarray

# Normalisation layers stay trainable in a frozen body (fastai's train_bn): their statistics
# must adapt to the new data even when the convolutions don't.
NORM_TYPES = (
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.BatchNorm3d,
    nn.InstanceNorm1d,
    nn.InstanceNorm2d,
    nn.InstanceNorm3d,
    nn.LayerNorm,
    nn.GroupNorm,
)


def default_splitter(model: nn.Module) -> list:
    """``model.param_groups()`` when the model has it (body, head), else one group."""
    if hasattr(model, "param_groups") and callable(model.param_groups):
        return model.param_groups()
    return [list(model.parameters())]


def split_params(
    model: nn.Module, splitter: Callable[[nn.Module], list]
) -> list[list[nn.Parameter]]:
    """The splitter's groups as parameter lists (a module stands for its parameters), empty
    groups left out.

    >>> model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    >>> [len(g) for g in split_params(model, lambda m: [m[0], m[1].parameters(), []])]
    [2, 2]
    """
    groups = [
        list(g.parameters()) if isinstance(g, nn.Module) else list(g) for g in splitter(model)
    ]
    return [g for g in groups if g]


def lrs_for(lr: LRLike, n_groups: int) -> np.ndarray:
    """One learning rate per group from a number, ``slice(hi)``, ``slice(lo, hi)`` or a list.

    ``slice(hi)`` gives ``hi/10`` to every group but the head; ``slice(lo, hi)`` spreads
    geometrically from ``lo`` (first group) to ``hi`` (head): discriminative learning rates.

    >>> lrs_for(slice(1e-2), 3).tolist()
    [0.001, 0.001, 0.01]
    >>> lrs_for(3e-3, 2).tolist()
    [0.003, 0.003]
    """
    if isinstance(lr, slice):
        if lr.start is None:
            return np.array([lr.stop / 10] * (n_groups - 1) + [lr.stop], dtype=float)
        return (
            np.geomspace(lr.start, lr.stop, n_groups)
            if n_groups > 1
            else np.array([lr.stop], dtype=float)
        )
    arr = np.atleast_1d(np.asarray(lr, dtype=float))
    if len(arr) == 1:
        return np.full(n_groups, arr[0])
    if len(arr) != n_groups:
        raise ValueError(
            f"got {len(arr)} learning rates for {n_groups} parameter groups; give 1 or {n_groups}."
        )
    return arr


def set_hyper(param_groups: Sequence[dict], name: str, values: Sequence[float]) -> None:
    """Set ``lr`` (or any optimiser hyper-parameter) or ``mom`` (Adam's beta1, SGD's momentum)
    per optimiser parameter group.

    >>> groups = [{"lr": 0.1, "betas": (0.9, 0.99)}, {"lr": 0.1, "momentum": 0.9}]
    >>> set_hyper(groups, "mom", [0.8, 0.7]); groups
    [{'lr': 0.1, 'betas': (0.8, 0.99)}, {'lr': 0.1, 'momentum': 0.7}]
    """
    for group, v in zip(param_groups, values):
        if name == "mom":
            if "betas" in group:
                group["betas"] = (float(v), group["betas"][1])
            elif "momentum" in group:
                group["momentum"] = float(v)
        else:
            group[name] = float(v)


def freeze_to(
    model: nn.Module, groups: Sequence[Sequence[nn.Parameter]], n: int, train_bn: bool = True
) -> None:
    """Train only ``groups[n:]``; with ``train_bn`` the norm layers' parameters train too.

    A negative ``n`` counts from the head; freezing all but the head needs at least two groups.
    """
    if n < 0 and len(groups) + n < 1:
        raise ValueError(
            f"freezing all but the last {-n} group(s) needs at least {1 - n} parameter groups "
            f"(body and head), got {len(groups)}: give the Learner a splitter, or a model with "
            "a param_groups() method."
        )
    norm_ids = {id(p) for m in model.modules() if isinstance(m, NORM_TYPES) for p in m.parameters()}
    frozen = groups[:n] if n >= 0 else groups[: len(groups) + n]
    frozen_ids = {id(p) for g in frozen for p in g}
    for g in groups:
        for p in g:
            p.requires_grad_(id(p) not in frozen_ids or (train_bn and id(p) in norm_ids))
