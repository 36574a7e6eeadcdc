"""Lesson 3's ReLUs, checked against torch.nn: one hinge, a sum of hinges, and fitting curves."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rung.scratch.relu import fit_relu_sum, init_relu_sum, rectified_linear, relu_sum


def test_rectified_linear_equals_relu_of_a_line():
    x = torch.linspace(-3, 3, 61)
    for m, b in [(1.0, 0.0), (-2.0, 1.5), (0.5, -1.0)]:
        torch.testing.assert_close(rectified_linear(m, b, x), F.relu(m * x + b))


def test_relu_sum_is_a_one_hidden_layer_torch_net():
    params = init_relu_sum(6, -3, 3, torch.Generator().manual_seed(0))
    m, b, w, c = (p.detach() for p in params)
    net = nn.Sequential(nn.Linear(1, 6), nn.ReLU(), nn.Linear(6, 1))
    with torch.no_grad():
        net[0].weight.copy_(m[:, None])
        net[0].bias.copy_(b)
        net[2].weight.copy_(w[None, :])
        net[2].bias.copy_(c[None])
    x = torch.linspace(-3, 3, 50)
    torch.testing.assert_close(relu_sum(params, x), net(x[:, None]).flatten())


def test_init_spreads_the_bends_over_the_range():
    m, b, _, _ = init_relu_sum(10, -3, 3, torch.Generator().manual_seed(0))
    knots = (-b / m).detach()
    torch.testing.assert_close(knots, torch.linspace(-3, 3, 10))


@pytest.mark.parametrize(
    "f", [torch.sin, torch.cos, lambda x: x**2 / 3, torch.abs], ids=["sin", "cos", "x2", "abs"]
)
def test_a_sum_of_relus_fits_a_curve(f):
    fit = fit_relu_sum(f, low=-3, high=3, k=20, steps=2000)
    assert fit.losses[-1] < 0.002  # the target's variance is about 0.5-0.8
    assert fit.losses[-1] < fit.losses[0] / 100
    x = torch.linspace(-2.9, 2.9, 37)  # between the training points, too
    assert F.mse_loss(fit(x), f(x)).item() < 0.005
