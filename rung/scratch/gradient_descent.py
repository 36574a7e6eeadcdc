"""Lesson 3: fit a quadratic to noisy points by gradient descent, by hand.

The whole of "how a neural net learns" in four lines, repeated:

1. compute a loss from the parameters (``requires_grad_`` makes torch record how);
2. ``loss.backward()`` fills ``params.grad`` with d(loss)/d(params);
3. step downhill, ``params -= lr * params.grad``, under ``torch.no_grad()`` so that the
   update itself is not recorded as part of the next loss;
4. zero the gradients, because ``backward`` *adds* to ``.grad`` (the course's notebook forgot
   this step; its steps were then pushed by every earlier gradient too).

:func:`sgd_step` is steps 3 and 4; the tests check it against ``torch.optim.SGD``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "quadratic",
    "make_quadratic",
    "noisy_quadratic",
    "mae",
    "mse",
    "sgd_step",
    "DescentHistory",
    "gradient_descent",
    "fit_quadratic",
    "quadratic_mse_gradient",
    "quadratic_mae_gradient",
]


def quadratic(a: float | Tensor, b: float | Tensor, c: float | Tensor, x: Tensor) -> Tensor:
    """``a * x**2 + b * x + c``, elementwise.

    >>> quadratic(3.0, 2.0, 1.0, torch.tensor([0.0, 1.0, 2.0]))
    tensor([ 1.,  6., 17.])
    """
    return a * x**2 + b * x + c


def make_quadratic(a: float, b: float, c: float) -> Callable[[Tensor], Tensor]:
    """The function ``x -> a x^2 + b x + c`` (the course's ``mk_quad``).

    >>> f = make_quadratic(3, 2, 1)
    >>> float(f(torch.tensor(1.0)))
    6.0
    """

    def f(x: Tensor) -> Tensor:
        return quadratic(a, b, c, x)

    return f


def noisy_quadratic(
    a: float = 3.0,
    b: float = 2.0,
    c: float = 1.0,
    n: int = 20,
    low: float = -2.0,
    high: float = 2.0,
    mult: float = 0.15,
    add: float = 1.5,
    seed: int = 42,
) -> tuple[Tensor, Tensor]:
    """``n`` noisy samples of a quadratic, as the course makes them.

    ``y = f(x) * (1 + N(0, mult)) + N(0, add)`` at ``n`` evenly spaced ``x``: noise that grows
    with the value plus noise that does not. The numbers equal the course's
    ``np.random.seed(42)`` version, without touching numpy's global random state.

    Returns ``x`` and ``y``, each of shape ``(n, 1)`` (one column: one input feature).

    >>> x, y = noisy_quadratic(n=5)
    >>> x.shape, y.shape
    (torch.Size([5, 1]), torch.Size([5, 1]))
    """
    rng = np.random.RandomState(seed)  # same stream as np.random.seed(seed)
    x = torch.linspace(low, high, steps=n)[:, None]  # (n, 1)
    clean = quadratic(a, b, c, x).numpy()
    noisy = clean * (1 + rng.normal(scale=mult, size=clean.shape)) + rng.normal(
        scale=add, size=clean.shape
    )
    return x, torch.tensor(noisy, dtype=torch.float32)


def mae(preds: Tensor, targets: Tensor) -> Tensor:
    """Mean absolute error: the average distance from prediction to truth.

    >>> mae(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 0.0]))
    tensor(1.5000)
    """
    return (preds - targets).abs().mean()


def mse(preds: Tensor, targets: Tensor) -> Tensor:
    """Mean squared error: punishes big misses more than :func:`mae`, and its gradient is smooth.

    >>> mse(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 0.0]))
    tensor(2.5000)
    """
    return ((preds - targets) ** 2).mean()


@torch.no_grad()  # the update must not become part of the next step's graph
def sgd_step(params: Sequence[Tensor], lr: float) -> None:
    """One plain gradient-descent step, in place: ``p -= lr * p.grad``, then zero ``p.grad``.

    >>> p = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> (p**2).sum().backward()  # gradient 2p = [2, 4]
    >>> sgd_step([p], lr=0.1)
    >>> p.detach(), p.grad
    (tensor([0.8000, 1.6000]), tensor([0., 0.]))
    """
    for p in params:
        if p.grad is None:
            raise ValueError(
                f"a parameter of shape {tuple(p.shape)} has no gradient: call loss.backward() "
                "before sgd_step, and make sure the parameter was created with requires_grad_()."
            )
        p.sub_(p.grad * lr)
        p.grad.zero_()


@dataclass
class DescentHistory:
    """What :func:`gradient_descent` did: ``losses[i]`` was measured at ``params[i]``.

    ``params`` has one more entry than ``losses``: the last is where the descent ended.
    """

    losses: list[float] = field(default_factory=list)
    params: list[Tensor] = field(default_factory=list)

    @property
    def final(self) -> Tensor:
        """The parameters after the last step."""
        return self.params[-1]


def gradient_descent(
    loss_fn: Callable[[Tensor], Tensor],
    init: Sequence[float] | Tensor,
    lr: float = 0.01,
    steps: int = 10,
) -> DescentHistory:
    """Minimise ``loss_fn(params)`` by ``steps`` plain gradient-descent steps from ``init``.

    >>> h = gradient_descent(lambda p: ((p - 3) ** 2).sum(), init=[0.0], lr=0.1, steps=50)
    >>> round(float(h.final[0]), 3), h.losses[0] > h.losses[-1]
    (3.0, True)
    """
    params = torch.as_tensor(init, dtype=torch.float32).detach().clone().requires_grad_()
    history = DescentHistory(params=[params.detach().clone()])
    for _ in range(steps):
        loss = loss_fn(params)
        loss.backward()
        sgd_step([params], lr)
        history.losses.append(loss.item())
        history.params.append(params.detach().clone())
    return history


def fit_quadratic(
    x: Tensor,
    y: Tensor,
    init: Sequence[float] = (1.1, 1.1, 1.1),
    lr: float = 0.01,
    steps: int = 100,
    loss: Callable[[Tensor, Tensor], Tensor] = mae,
) -> DescentHistory:
    """Find ``a, b, c`` of a quadratic through the points ``(x, y)`` by gradient descent.

    >>> x, y = noisy_quadratic()
    >>> h = fit_quadratic(x, y, steps=20)
    >>> h.losses[-1] < h.losses[0]
    True
    """
    return gradient_descent(lambda abc: loss(quadratic(*abc, x), y), init, lr=lr, steps=steps)


def quadratic_mse_gradient(abc: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """d(MSE)/d(a, b, c) worked out by hand: ``2 * mean(residual * [x^2, x, 1])``.

    The tests check it equals what autograd computes.

    >>> quadratic_mse_gradient(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([2.0]), torch.tensor([0.0]))
    tensor([32., 16.,  8.])
    """
    residual = quadratic(*abc, x) - y  # (n, ...) same shape as y
    features = torch.stack([x**2, x, torch.ones_like(x)])  # (3, n, ...)
    return 2 * (residual * features).flatten(1).mean(1)


def quadratic_mae_gradient(abc: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """d(MAE)/d(a, b, c) by hand: ``mean(sign(residual) * [x^2, x, 1])``.

    MAE's gradient only knows the *direction* of each miss, not its size: that is why MSE is
    the smoother loss to descend.

    >>> quadratic_mae_gradient(torch.tensor([1.0, 0.0, 0.0]), torch.tensor([2.0]), torch.tensor([0.0]))
    tensor([4., 2., 1.])
    """
    residual = quadratic(*abc, x) - y
    features = torch.stack([x**2, x, torch.ones_like(x)])
    return (residual.sign() * features).flatten(1).mean(1)
