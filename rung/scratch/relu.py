"""Lesson 3: rectified linear units, and how adding them up bends a line into any curve.

``rectified_linear(m, b, x)`` is a line that is clipped at zero: flat, then rising. One of
them is a hinge; a weighted sum of many hinges, each bending at its own place, is a curve made of
straight pieces, and with enough pieces it follows any 1-D function as closely as you like. That
is a neural net with one hidden layer, and gradient descent finds its pieces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from rung.scratch.gradient_descent import mse, sgd_step

__all__ = ["rectified_linear", "relu_sum", "init_relu_sum", "ReluFit", "fit_relu_sum"]


def rectified_linear(m: float | Tensor, b: float | Tensor, x: Tensor) -> Tensor:
    """``max(m * x + b, 0)``: a line with everything below zero clipped to zero.

    >>> rectified_linear(1.0, -1.0, torch.tensor([0.0, 1.0, 3.0]))
    tensor([0., 0., 2.])
    """
    return torch.clip(m * x + b, 0.0)


def relu_sum(params: list[Tensor], x: Tensor) -> Tensor:
    """``c + sum_i w_i * rectified_linear(m_i, b_i, x)`` for every ``x``.

    ``params`` is ``[m, b, w, c]`` with ``m, b, w`` of shape ``(k,)`` and ``c`` a scalar. The
    weights ``w`` may be negative: a sum of plain ReLUs is convex (it can only bend upwards), so
    it could never follow a curve that bends down, like ``sin``.

    >>> m, b, w, c = torch.tensor([1.0, 1.0]), torch.tensor([0.0, -1.0]), torch.tensor([1.0, -2.0]), torch.tensor(0.0)
    >>> relu_sum([m, b, w, c], torch.tensor([0.0, 1.0, 2.0]))  # up with slope 1, then down
    tensor([0., 1., 0.])
    """
    m, b, w, c = params
    hinges = rectified_linear(m, b, x[:, None])  # (n, 1) * (k,) -> (n, k): every hinge at every x
    return hinges @ w + c  # (n, k) @ (k,) -> (n,)


def init_relu_sum(
    k: int, low: float, high: float, generator: torch.Generator | None = None
) -> list[Tensor]:
    """Starting parameters for :func:`relu_sum`: ``k`` hinges with bends spread over ``[low, high]``.

    Each hinge faces left or right at random and bends at its own place, so from the first step
    every part of the range has a hinge that can move it; the weights start small.

    >>> [p.shape for p in init_relu_sum(4, -1, 1, torch.Generator().manual_seed(0))]
    [torch.Size([4]), torch.Size([4]), torch.Size([4]), torch.Size([])]
    """
    knots = torch.linspace(low, high, k)  # where each hinge bends: m*x + b = 0 at x = knot
    m = torch.where(torch.rand(k, generator=generator) < 0.5, -1.0, 1.0)
    b = -m * knots
    w = (torch.rand(k, generator=generator) - 0.5) * 0.1
    c = torch.zeros(())
    return [p.requires_grad_() for p in (m, b, w, c)]


@dataclass
class ReluFit:
    """A fitted sum of ReLUs: its parameters, the points it was fitted to, the loss per step."""

    params: list[Tensor]
    x: Tensor
    y: Tensor
    losses: list[float]

    def __call__(self, x: Tensor) -> Tensor:
        """Predictions of the fitted curve at ``x`` (shape ``(n,)``)."""
        with torch.no_grad():
            return relu_sum(self.params, x)


def fit_relu_sum(
    f: Callable[[Tensor], Tensor],
    low: float = -3.0,
    high: float = 3.0,
    k: int = 20,
    n_points: int = 100,
    lr: float = 0.02,
    steps: int = 2000,
    seed: int = 0,
) -> ReluFit:
    """Fit a sum of ``k`` ReLUs to ``f`` on ``[low, high]`` by plain gradient descent on MSE.

    >>> fit = fit_relu_sum(torch.sin, k=8, steps=300)
    >>> fit.losses[-1] < fit.losses[0]
    True
    """
    x = torch.linspace(low, high, n_points)  # (n,)
    y = f(x)
    params = init_relu_sum(k, low, high, torch.Generator().manual_seed(seed))
    losses = []
    for _ in range(steps):
        loss = mse(relu_sum(params, x), y)
        loss.backward()
        sgd_step(params, lr)
        losses.append(loss.item())
    return ReluFit(params=params, x=x, y=y, losses=losses)
