"""Lesson 5: a linear model grows into a deep net, each written out in plain torch.

Every model here is a pair of functions, ``init(n_in, generator) -> params`` (a flat list of
tensors with ``requires_grad``) and ``predict(params, x) -> predictions``, plus the learning
rate and number of epochs the course used. One training loop (:func:`train_net`) fits them all:
MAE loss, ``backward``, a manual SGD step (:func:`~rung.scratch.gradient_descent.sgd_step`).

The models, in the course's order:

- ``linear``: ``(x * coeffs).sum(1)``, broadcasting ``(rows, 12) * (12,)``;
- ``logistic``: the same squashed into (0, 1) by a sigmoid;
- ``logistic_matmul``: the same written ``x @ coeffs`` with coeffs ``(12, 1)``: predictions are
  ``(rows, 1)``, so the targets need the trailing unit axis too (``y[:, None]``);
- ``one_hidden``: ``sigmoid(relu(x @ W1) @ W2 + c)`` with 20 hidden units;
- ``deep``: hidden layers of 10 and 10 units.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from rung.scratch.gradient_descent import sgd_step

__all__ = [
    "init_linear",
    "predict_linear",
    "predict_logistic",
    "init_matmul",
    "predict_logistic_matmul",
    "init_one_hidden",
    "predict_one_hidden",
    "init_deep",
    "predict_deep",
    "ScratchNet",
    "COURSE_NETS",
    "mae_loss",
    "accuracy",
    "TrainedNet",
    "train_net",
    "linear_mae_gradient",
]

Params = list[Tensor]


# --- linear and logistic: one coefficient per feature ---------------------------------------
def init_linear(n_in: int, generator: torch.Generator | None = None) -> Params:
    """One random coefficient per feature, uniform in [-0.5, 0.5).

    >>> [p.shape for p in init_linear(12)]
    [torch.Size([12])]
    """
    return [(torch.rand(n_in, generator=generator) - 0.5).requires_grad_()]


def predict_linear(params: Params, x: Tensor) -> Tensor:
    """``(x * coeffs).sum(1)``: each row's features times the coefficients, added up. ``(rows,)``.

    >>> predict_linear([torch.tensor([1.0, 2.0])], torch.tensor([[1.0, 1.0], [0.5, 0.0]]))
    tensor([3.0000, 0.5000])
    """
    (coeffs,) = params
    return (x * coeffs).sum(1)  # (rows, n) * (n,) broadcasts over rows -> sum -> (rows,)


def predict_logistic(params: Params, x: Tensor) -> Tensor:
    """The linear model squashed into (0, 1) by ``sigmoid``: big scores can't overshoot 1.

    >>> predict_logistic([torch.tensor([1.0, 2.0])], torch.tensor([[0.0, 0.0]]))
    tensor([0.5000])
    """
    return torch.sigmoid(predict_linear(params, x))


def init_matmul(n_in: int, generator: torch.Generator | None = None) -> Params:
    """Coefficients as a ``(n_in, 1)`` column, ready for ``x @ coeffs``.

    >>> [p.shape for p in init_matmul(12)]
    [torch.Size([12, 1])]
    """
    return [(torch.rand(n_in, 1, generator=generator) * 0.1).requires_grad_()]


def predict_logistic_matmul(params: Params, x: Tensor) -> Tensor:
    """``sigmoid(x @ coeffs)``: the logistic model as a matrix product. ``(rows, 1)``.

    >>> predict_logistic_matmul([torch.zeros(2, 1)], torch.ones(3, 2)).shape
    torch.Size([3, 1])
    """
    (coeffs,) = params
    return torch.sigmoid(x @ coeffs)  # (rows, n) @ (n, 1) -> (rows, 1)


# --- neural nets: matrix products with a ReLU between them -----------------------------------
def init_one_hidden(
    n_in: int, generator: torch.Generator | None = None, n_hidden: int = 20
) -> Params:
    """``[W1 (n_in, n_hidden), W2 (n_hidden, 1), c ()]``, scaled as the course scales them.

    >>> [tuple(p.shape) for p in init_one_hidden(12)]
    [(12, 20), (20, 1), ()]
    """
    w1 = (torch.rand(n_in, n_hidden, generator=generator) - 0.5) / n_hidden
    w2 = torch.rand(n_hidden, 1, generator=generator) - 0.3
    const = torch.rand(1, generator=generator)[0]
    return [w1.requires_grad_(), w2.requires_grad_(), const.requires_grad_()]


def predict_one_hidden(params: Params, x: Tensor) -> Tensor:
    """``sigmoid(relu(x @ W1) @ W2 + c)``. ``(rows, 1)``.

    >>> predict_one_hidden(init_one_hidden(3), torch.ones(4, 3)).shape
    torch.Size([4, 1])
    """
    w1, w2, const = params
    hidden = F.relu(x @ w1)  # (rows, n_in) @ (n_in, n_hidden) -> (rows, n_hidden)
    return torch.sigmoid(hidden @ w2 + const)  # -> (rows, 1)


def init_deep(
    n_in: int, generator: torch.Generator | None = None, hiddens: Sequence[int] = (10, 10)
) -> Params:
    """``[W1, c1, W2, c2, ..., W_out, c_out]``: one matrix and one scalar constant per layer.

    The course draws all the matrices first, then the constants; so do we, so that the same
    seed gives the same numbers.

    >>> [tuple(p.shape) for p in init_deep(12)]
    [(12, 10), (), (10, 10), (), (10, 1), ()]
    """
    sizes = [n_in, *hiddens, 1]
    layers = [
        (torch.rand(sizes[i], sizes[i + 1], generator=generator) - 0.3) / sizes[i + 1] * 4
        for i in range(len(sizes) - 1)
    ]
    consts = [(torch.rand(1, generator=generator)[0] - 0.5) * 0.1 for _ in layers]
    params = [p for pair in zip(layers, consts) for p in pair]
    return [p.requires_grad_() for p in params]


def predict_deep(params: Params, x: Tensor) -> Tensor:
    """Layer after layer, ``res = res @ W + c``, a ReLU between layers, a sigmoid at the end.

    >>> predict_deep(init_deep(3, hiddens=(4, 4)), torch.ones(5, 3)).shape
    torch.Size([5, 1])
    """
    res = x
    n_layers = len(params) // 2
    for i in range(n_layers):
        weights, const = params[2 * i], params[2 * i + 1]
        res = res @ weights + const  # (rows, n_i) @ (n_i, n_{i+1}) + scalar
        if i < n_layers - 1:
            res = F.relu(res)
    return torch.sigmoid(res)  # (rows, 1)


# --- the models and the training loop ---------------------------------------------------------
@dataclass(frozen=True)
class ScratchNet:
    """A from-scratch model: how to start it, how it predicts, and the course's lr and epochs."""

    name: str
    init: Callable[[int, torch.Generator | None], Params]
    predict: Callable[[Params, Tensor], Tensor]
    lr: float
    epochs: int
    course_accuracy: float  # validation accuracy the course reported on its split


# The course's settings for each model: learning rate, epochs, and the accuracy it reached.
_COURSE = [
    ("linear", init_linear, predict_linear, 0.2, 18, 0.7865),
    ("logistic", init_linear, predict_logistic, 100, 30, 0.8258),
    ("logistic_matmul", init_matmul, predict_logistic_matmul, 100, 30, 0.8258),
    ("one_hidden", init_one_hidden, predict_one_hidden, 20, 30, 0.8258),
    ("deep", init_deep, predict_deep, 4, 30, 0.8258),
]
COURSE_NETS: dict[str, ScratchNet] = {row[0]: ScratchNet(*row) for row in _COURSE}


def _check_same_shape(preds: Tensor, targets: Tensor) -> None:
    if preds.shape != targets.shape:
        hint = (
            " add the trailing unit axis to the targets with targets[:, None]"
            if preds.ndim == 2 and targets.ndim == 1
            else " make their shapes match"
        )
        raise ValueError(
            f"predictions have shape {tuple(preds.shape)} but targets {tuple(targets.shape)}: "
            f"broadcasting would compare every prediction with every target;{hint}."
        )


def mae_loss(preds: Tensor, targets: Tensor) -> Tensor:
    """Mean absolute error, refusing shapes that would silently broadcast.

    ``(rows, 1) - (rows,)`` is a ``(rows, rows)`` matrix: a loss that trains, badly, on nonsense.

    >>> mae_loss(torch.tensor([[0.2], [0.9]]), torch.tensor([[0.0], [1.0]]))
    tensor(0.1500)
    >>> mae_loss(torch.tensor([[0.2], [0.9]]), torch.tensor([0.0, 1.0]))
    Traceback (most recent call last):
    ValueError: predictions have shape (2, 1) but targets (2,): broadcasting would compare every prediction with every target; add the trailing unit axis to the targets with targets[:, None].
    """
    _check_same_shape(preds, targets)
    return (preds - targets).abs().mean()


def accuracy(preds: Tensor, targets: Tensor) -> float:
    """The fraction of rows where ``preds > 0.5`` agrees with the 0/1 target.

    >>> accuracy(torch.tensor([0.9, 0.2, 0.6]), torch.tensor([1.0, 0.0, 0.0]))
    0.6666666865348816
    """
    if preds.ndim == 2 and targets.ndim == 1:
        targets = targets[:, None]
    _check_same_shape(preds, targets)
    return (targets.bool() == (preds > 0.5)).float().mean().item()


@dataclass
class TrainedNet:
    """A trained :class:`ScratchNet`: its parameters and the training loss at every epoch."""

    net: ScratchNet
    params: Params
    losses: list[float]

    def predict(self, x: Tensor) -> Tensor:
        """Predicted probabilities of the positive class, ``(rows,)``."""
        with torch.no_grad():
            return self.net.predict(self.params, x).reshape(len(x))


def train_net(
    net: ScratchNet | str,
    x: Tensor,
    y: Tensor,
    lr: float | None = None,
    epochs: int | None = None,
    seed: int = 442,
    params: Params | None = None,
) -> TrainedNet:
    """Fit ``net`` to ``x (rows, n)`` and 0/1 ``y (rows,)`` with full-batch gradient descent on MAE.

    The parameters start from ``net.init`` with a generator seeded ``seed`` (the course's
    ``torch.manual_seed(442)``), or from ``params`` when given (they are trained in place).
    ``lr`` and ``epochs`` default to the course's.

    >>> x = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.9, 0.1], [0.1, 0.8]])
    >>> y = torch.tensor([0.0, 1.0, 1.0, 0.0])
    >>> trained = train_net("logistic", x, y, epochs=20)
    >>> accuracy(trained.predict(x), y)
    1.0
    """
    if isinstance(net, str):
        if net not in COURSE_NETS:
            raise KeyError(f"no scratch net named {net!r}; choose one of {list(COURSE_NETS)}.")
        net = COURSE_NETS[net]
    lr = net.lr if lr is None else lr
    epochs = net.epochs if epochs is None else epochs
    if params is None:
        params = net.init(x.shape[1], torch.Generator().manual_seed(seed))
    losses = []
    for _ in range(epochs):
        preds = net.predict(params, x)
        targets = y[:, None] if preds.ndim == 2 else y  # (rows, 1) predictions: unit axis
        loss = mae_loss(preds, targets)
        loss.backward()
        sgd_step(params, lr)
        losses.append(loss.item())
    return TrainedNet(net, params, losses)


def linear_mae_gradient(coeffs: Tensor, x: Tensor, y: Tensor) -> Tensor:
    """d(MAE of the linear model)/d(coeffs) by hand: ``mean(sign(x @ coeffs - y) * x, rows)``.

    Each row pulls every coefficient by its own feature value, in the direction of its miss.

    >>> linear_mae_gradient(torch.tensor([1.0, 0.0]), torch.tensor([[2.0, 3.0]]), torch.tensor([0.0]))
    tensor([2., 3.])
    """
    residual = (x * coeffs).sum(1) - y  # (rows,)
    return (residual.sign()[:, None] * x).mean(0)  # (rows, 1) * (rows, n) -> mean -> (n,)
