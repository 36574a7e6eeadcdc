"""Pictures for the from-scratch lessons: fits at chosen steps, losses going down, importances.

Every function returns a ``matplotlib.figure.Figure`` made directly (no pyplot, no global
backend), so it works in scripts, tests and servers alike; save it with ``fig.savefig(path)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from torch import Tensor

    from rung.scratch.gradient_descent import DescentHistory
    from rung.scratch.relu import ReluFit

__all__ = ["plot_quadratic_fits", "plot_losses", "plot_relu_fit", "plot_feature_importance"]


def _figure(width: float = 6.0, height: float = 4.0) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def plot_quadratic_fits(
    x: Tensor,
    y: Tensor,
    history: DescentHistory,
    steps: Sequence[int] = (0, 10, 100),
    truth: Callable[[Tensor], Tensor] | None = None,
) -> Figure:
    """The points, and the quadratic that gradient descent had reached at each of ``steps``.

    >>> from rung.scratch.gradient_descent import fit_quadratic, noisy_quadratic
    >>> x, y = noisy_quadratic()
    >>> fig = plot_quadratic_fits(x, y, fit_quadratic(x, y, steps=10), steps=(0, 10))
    >>> len(fig.axes[0].lines)  # one curve per chosen step
    2
    """
    import torch

    from rung.scratch.gradient_descent import quadratic

    last = len(history.params) - 1
    bad = [s for s in steps if not -last - 1 <= s <= last]
    if bad:
        raise ValueError(f"steps {bad} were not taken: the history has steps 0..{last}.")
    fig = _figure()
    ax = fig.add_subplot()
    ax.scatter(x.flatten().numpy(), y.flatten().numpy(), color="black", s=15, label="data")
    grid = torch.linspace(float(x.min()), float(x.max()), 100)
    if truth is not None:
        ax.plot(grid.numpy(), truth(grid).numpy(), "k--", lw=1, label="true function")
    for step in steps:
        a, b, c = history.params[step].tolist()
        label = f"step {step % (last + 1)}: {a:.2f}x² {b:+.2f}x {c:+.2f}"
        ax.plot(grid.numpy(), quadratic(a, b, c, grid).numpy(), label=label)
    ax.set(xlabel="x", ylabel="y", title="Fitting a quadratic by gradient descent")
    ax.legend(fontsize="small")
    return fig


def plot_losses(losses: Sequence[float], title: str = "Loss", ylabel: str = "loss") -> Figure:
    """The loss at every step: it should go down.

    >>> fig = plot_losses([3.0, 2.0, 1.5])
    >>> fig.axes[0].get_ylabel()
    'loss'
    """
    fig = _figure(6.0, 3.5)
    ax = fig.add_subplot()
    ax.plot(np.arange(len(losses)), losses)
    ax.set(xlabel="step", ylabel=ylabel, title=title)
    return fig


def plot_relu_fit(fit: ReluFit, title: str = "A sum of ReLUs") -> Figure:
    """The target function, the fitted sum of ReLUs, and where each ReLU bends.

    >>> import torch
    >>> from rung.scratch.relu import fit_relu_sum
    >>> fig = plot_relu_fit(fit_relu_sum(torch.sin, k=4, steps=5))
    >>> len(fig.axes)
    1
    """
    fig = _figure()
    ax = fig.add_subplot()
    x = fit.x.numpy()
    ax.plot(x, fit.y.numpy(), "k--", lw=1, label="target")
    ax.plot(x, fit(fit.x).numpy(), label=f"{len(fit.params[0])} ReLUs")
    m, b = (p.detach() for p in fit.params[:2])
    knots = (-b / m).numpy()  # m*x + b = 0: where each hinge bends
    knots = knots[(knots >= x.min()) & (knots <= x.max())]
    ax.vlines(knots, *ax.get_ylim(), colors="grey", alpha=0.3, lw=0.8, label="bends")
    ax.set(xlabel="x", ylabel="y", title=f"{title} (MSE {fit.losses[-1]:.4f})")
    ax.legend(fontsize="small")
    return fig


def plot_feature_importance(
    names: Sequence[str], importances: Sequence[float], title: str = "Feature importance"
) -> Figure:
    """Horizontal bars, most important at the top (the course's ``plot('cols', 'imp', 'barh')``).

    >>> fig = plot_feature_importance(["Sex", "Age"], [0.7, 0.3])
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
    ['Age', 'Sex']
    """
    order = np.argsort(importances)  # barh draws bottom-up: least important first
    fig = _figure(6.0, 0.4 * len(names) + 1.2)
    ax = fig.add_subplot()
    ax.barh([names[i] for i in order], [importances[i] for i in order])
    ax.set(xlabel="importance (share of the impurity drop)", title=title)
    return fig
