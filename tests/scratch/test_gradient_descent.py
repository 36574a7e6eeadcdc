"""Lesson 3 by hand, checked against torch: losses, SGD steps, gradients, least squares."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rung.scratch.gradient_descent import (
    fit_quadratic,
    gradient_descent,
    mae,
    make_quadratic,
    mse,
    noisy_quadratic,
    quadratic,
    quadratic_mae_gradient,
    quadratic_mse_gradient,
    sgd_step,
)


def test_noisy_quadratic_equals_the_course_and_leaves_numpy_global_state_alone():
    # The course: np.random.seed(42); x = linspace(-2, 2, 20)[:, None]; y = add_noise(f(x), .15, 1.5)
    state = np.random.get_state()
    try:
        np.random.seed(42)
        x = torch.linspace(-2, 2, steps=20)[:, None]
        f = make_quadratic(3, 2, 1)
        fx = f(x).numpy()
        expected = fx * (1 + np.random.normal(scale=0.15, size=fx.shape)) + np.random.normal(
            scale=1.5, size=fx.shape
        )
        after_course = np.random.random()
        np.random.seed(42)
        np.random.normal(size=40)
        ours_x, ours_y = noisy_quadratic()
        assert np.random.random() == after_course  # our call drew nothing from the global stream
    finally:
        np.random.set_state(state)
    assert torch.equal(ours_x, x)
    np.testing.assert_allclose(ours_y.numpy(), expected, rtol=1e-6)
    assert ours_y.shape == (20, 1)


def test_losses_equal_torch_losses():
    gen = torch.Generator().manual_seed(0)
    preds, targets = torch.randn(50, generator=gen), torch.randn(50, generator=gen)
    assert torch.allclose(mae(preds, targets), F.l1_loss(preds, targets))
    assert torch.allclose(mse(preds, targets), F.mse_loss(preds, targets))


@pytest.mark.parametrize("loss", [mae, mse])
def test_manual_steps_equal_torch_optim_sgd(loss):
    x, y = noisy_quadratic()
    history = fit_quadratic(x, y, lr=0.01, steps=25, loss=loss)

    params = torch.tensor([1.1, 1.1, 1.1], requires_grad=True)
    optimizer = torch.optim.SGD([params], lr=0.01)
    for step in range(25):
        value = loss(quadratic(*params, x), y)
        assert value.item() == pytest.approx(history.losses[step], rel=1e-6)
        value.backward()
        optimizer.step()
        optimizer.zero_grad()
        torch.testing.assert_close(params.detach(), history.params[step + 1])


def test_sgd_step_zeroes_gradients_and_explains_a_missing_one():
    p = torch.tensor([1.0, -2.0], requires_grad=True)
    (p**2).sum().backward()
    sgd_step([p], lr=0.5)
    assert p.detach().tolist() == [0.0, 0.0]
    assert p.grad.tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="call loss.backward"):
        sgd_step([torch.zeros(2, requires_grad=True)], lr=0.1)


@pytest.mark.parametrize(
    ("hand", "loss"), [(quadratic_mse_gradient, mse), (quadratic_mae_gradient, mae)]
)
def test_hand_written_gradients_match_autograd(hand, loss):
    x, y = noisy_quadratic()
    gen = torch.Generator().manual_seed(1)
    for _ in range(5):
        abc = torch.randn(3, generator=gen).requires_grad_()
        loss(quadratic(*abc, x), y).backward()
        torch.testing.assert_close(hand(abc.detach(), x, y), abc.grad)


def test_mse_descent_reaches_the_least_squares_fit():
    x, y = noisy_quadratic()
    history = fit_quadratic(x, y, lr=0.05, steps=2000, loss=mse)
    design = torch.cat([x**2, x, torch.ones_like(x)], dim=1)  # (20, 3)
    best = torch.linalg.lstsq(design, y).solution.flatten()
    torch.testing.assert_close(history.final, best, atol=1e-3, rtol=1e-3)
    assert history.losses[-1] == pytest.approx(mse(design @ best, y.flatten()).item(), rel=1e-4)


def test_mae_descent_goes_down_towards_the_true_quadratic():
    x, y = noisy_quadratic()
    history = fit_quadratic(x, y, steps=300)  # the course's setting: MAE, lr 0.01
    assert history.losses[-1] < 0.5 * history.losses[0]
    # mostly downhill: MAE steps can overshoot a little, never climb for long
    assert sum(b > a for a, b in zip(history.losses, history.losses[1:])) < 30
    a, b, c = history.final.tolist()
    assert abs(a - 3) < abs(1.1 - 3)  # closer to the true a = 3 than where it started


def test_gradient_descent_does_not_change_its_start():
    start = torch.tensor([0.0, 0.0])
    history = gradient_descent(lambda p: ((p - 1) ** 2).sum(), start, lr=0.1, steps=3)
    assert start.tolist() == [0.0, 0.0]
    assert len(history.params) == 4 and len(history.losses) == 3
    assert history.losses == sorted(history.losses, reverse=True)
