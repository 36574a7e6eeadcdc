"""Lesson 3: how a neural net really works, from scratch, side by side with torch.

Fits a quadratic to noisy points by gradient descent (the course's MAE, lr 0.01), checks every
step against torch.optim.SGD and the MSE fit against least squares, then fits a sum of ReLUs
to sin(x). Saves the pictures as PNGs.

    python examples/lesson3_gradient_descent.py --out runs/lesson3
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from rung.scratch import (
    fit_quadratic,
    fit_relu_sum,
    make_quadratic,
    mse,
    noisy_quadratic,
    plot_losses,
    plot_quadratic_fits,
    plot_relu_fit,
    quadratic,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path("runs/lesson3"), help="folder for the PNGs"
    )
    parser.add_argument("--steps", type=int, default=300, help="gradient-descent steps")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    # 1. Noisy samples of f(x) = 3x^2 + 2x + 1, fitted from a = b = c = 1.1 by gradient descent.
    x, y = noisy_quadratic(3, 2, 1)
    history = fit_quadratic(x, y, lr=0.01, steps=args.steps)  # MAE loss, as in the course
    for step in (0, 1, 2, 3, 4, args.steps - 1):
        a, b, c = history.params[step].tolist()
        print(f"step={step:<4d} MAE={history.losses[step]:.3f}  a={a:.3f} b={b:.3f} c={c:.3f}")

    # 2. The library way: torch.optim.SGD from the same start must take the same steps.
    abc = torch.tensor([1.1, 1.1, 1.1], requires_grad=True)
    optimizer = torch.optim.SGD([abc], lr=0.01)
    for _ in range(args.steps):
        (quadratic(*abc, x) - y).abs().mean().backward()
        optimizer.step()
        optimizer.zero_grad()
    gap = (abc.detach() - history.final).abs().max().item()
    print(f"scratch vs torch.optim.SGD after {args.steps} steps: largest difference {gap:.2e}")

    # 3. With MSE, gradient descent ends where least squares (torch.linalg.lstsq) is.
    mse_history = fit_quadratic(x, y, lr=0.05, steps=2000, loss=mse)
    design = torch.cat([x**2, x, torch.ones_like(x)], dim=1)
    best = torch.linalg.lstsq(design, y).solution.flatten()
    print(
        f"MSE descent: {[round(v, 3) for v in mse_history.final.tolist()]}; "
        f"least squares: {[round(v, 3) for v in best.tolist()]}"
    )

    steps = (0, min(20, args.steps), args.steps)
    plot_quadratic_fits(x, y, history, steps=steps, truth=make_quadratic(3, 2, 1)).savefig(
        args.out / "quadratic_fit.png"
    )
    plot_losses(history.losses, title="MAE while fitting the quadratic", ylabel="MAE").savefig(
        args.out / "quadratic_loss.png"
    )

    # 4. Sums of ReLUs bend into any curve: fit sin(x) on [-3, 3].
    fit = fit_relu_sum(torch.sin, low=-3, high=3, k=20, steps=2000)
    print(f"sum of 20 ReLUs fitted to sin(x): MSE {fit.losses[0]:.3f} -> {fit.losses[-1]:.5f}")
    plot_relu_fit(fit, title="20 ReLUs fitted to sin(x)").savefig(args.out / "relu_sin.png")
    plot_losses(fit.losses, title="MSE of the sum of ReLUs", ylabel="MSE").savefig(
        args.out / "relu_loss.png"
    )
    print(f"pictures in {args.out}/")


if __name__ == "__main__":
    main()
