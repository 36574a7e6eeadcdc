"""The lesson pictures: real PNG files, with what each picture promises on it."""

from __future__ import annotations

import pytest
import torch

from rung.scratch.gradient_descent import fit_quadratic, make_quadratic, noisy_quadratic
from rung.scratch.plots import (
    plot_feature_importance,
    plot_losses,
    plot_quadratic_fits,
    plot_relu_fit,
)
from rung.scratch.relu import fit_relu_sum

PNG = b"\x89PNG\r\n\x1a\n"


def saved(fig, path) -> bytes:
    fig.savefig(path)
    return path.read_bytes()


def test_quadratic_fits_at_chosen_steps(tmp_path):
    x, y = noisy_quadratic()
    history = fit_quadratic(x, y, steps=50)
    fig = plot_quadratic_fits(x, y, history, steps=(0, 10, -1), truth=make_quadratic(3, 2, 1))
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels[0] == "true function"
    assert [label.split(":")[0] for label in labels[1:]] == ["step 0", "step 10", "step 50"]
    assert saved(fig, tmp_path / "fit.png").startswith(PNG)
    with pytest.raises(ValueError, match=r"steps \[51\] were not taken"):
        plot_quadratic_fits(x, y, history, steps=(51,))


def test_losses_relu_fit_and_importance(tmp_path):
    fig = plot_losses([3.0, 2.0, 1.0], title="MAE")
    assert fig.axes[0].lines[0].get_ydata().tolist() == [3.0, 2.0, 1.0]
    assert saved(fig, tmp_path / "loss.png").startswith(PNG)

    fit = fit_relu_sum(torch.sin, k=5, steps=20)
    assert saved(plot_relu_fit(fit), tmp_path / "relu.png").startswith(PNG)

    fig = plot_feature_importance(["Sex", "Age", "Pclass"], [0.6, 0.1, 0.3])
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == ["Age", "Pclass", "Sex"]  # barh: the most important on top
    assert saved(fig, tmp_path / "imp.png").startswith(PNG)
