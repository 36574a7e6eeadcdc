"""The library side of lesson 5: the scratch nets rebuilt from ``torch.nn``, trained by ``torch.optim``.

:func:`torch_module` copies a scratch model's parameters into ``nn.Linear`` layers (which
store their weight transposed: ``(out, in)``) so that the module computes the very same
function; :func:`train_torch` trains it with ``torch.optim.SGD`` and ``F.l1_loss``. Started
from the same numbers with the same learning rate, the two must stay together step by step:
that is the check that our hand-written loop is plain SGD and nothing else.

One detail the course's nets differ in: each layer adds *one* constant to all its units,
where ``nn.Linear`` has a bias per unit. :class:`ScalarBias` is that one constant.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rung.scratch.nets import COURSE_NETS, Params

__all__ = ["ScalarBias", "torch_module", "train_torch"]


class ScalarBias(nn.Module):
    """Adds one learnable number to every output (the course's ``+ const``).

    >>> ScalarBias(torch.tensor(0.5))(torch.zeros(2, 3)).tolist()
    [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]
    """

    def __init__(self, value: Tensor | float = 0.0) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.as_tensor(value, dtype=torch.float32).detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        return x + self.bias


def _linear(weights: Tensor) -> nn.Linear:
    """An ``nn.Linear`` without bias computing ``x @ weights`` for ``weights (in, out)``."""
    layer = nn.Linear(weights.shape[0], weights.shape[1], bias=False)
    with torch.no_grad():
        layer.weight.copy_(weights.T)  # nn.Linear keeps (out, in) and computes x @ weight.T
    return layer


def torch_module(name: str, params: Params) -> nn.Sequential:
    """The ``torch.nn`` version of the scratch net ``name`` holding a copy of ``params``.

    >>> from rung.scratch.nets import init_one_hidden, predict_one_hidden
    >>> params = init_one_hidden(3, torch.Generator().manual_seed(0))
    >>> x = torch.rand(4, 3)
    >>> torch.allclose(torch_module("one_hidden", params)(x), predict_one_hidden(params, x))
    True
    """
    p = [t.detach() for t in params]
    if name in ("linear", "logistic"):
        # (rows, n) @ (n, 1) -> (rows, 1) -> (rows,), like (x * coeffs).sum(1)
        layers = [_linear(p[0][:, None]), nn.Flatten(0)]
        return nn.Sequential(*layers, *([nn.Sigmoid()] if name == "logistic" else []))
    if name == "logistic_matmul":
        return nn.Sequential(_linear(p[0]), nn.Sigmoid())
    if name == "one_hidden":
        w1, w2, const = p
        return nn.Sequential(_linear(w1), nn.ReLU(), _linear(w2), ScalarBias(const), nn.Sigmoid())
    if name == "deep":
        layers: list[nn.Module] = []
        for i in range(0, len(p), 2):
            layers += [_linear(p[i]), ScalarBias(p[i + 1]), nn.ReLU()]
        layers[-1] = nn.Sigmoid()  # no ReLU after the last layer: the sigmoid instead
        return nn.Sequential(*layers)
    raise KeyError(
        f"no torch mirror for a scratch net named {name!r}; choose one of {list(COURSE_NETS)}."
    )


def train_torch(module: nn.Module, x: Tensor, y: Tensor, lr: float, epochs: int) -> list[float]:
    """Train ``module`` on ``x``, ``y`` with ``torch.optim.SGD`` and L1 loss; the loss per epoch.

    >>> module = nn.Sequential(nn.Linear(2, 1), nn.Flatten(0), nn.Sigmoid())
    >>> losses = train_torch(module, torch.eye(2), torch.tensor([1.0, 0.0]), lr=1.0, epochs=5)
    >>> losses[-1] < losses[0]
    True
    """
    optimizer = torch.optim.SGD(module.parameters(), lr=lr)
    losses = []
    for _ in range(epochs):
        preds = module(x)
        loss = F.l1_loss(preds, y.reshape(preds.shape))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    return losses
