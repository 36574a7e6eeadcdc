"""Lesson 5's nets reach the course's numbers; their hand-written parts agree with torch."""

from __future__ import annotations

import pytest
import torch
from sklearn.metrics import accuracy_score

from rung.scratch.nets import (
    COURSE_NETS,
    accuracy,
    init_deep,
    init_linear,
    init_one_hidden,
    linear_mae_gradient,
    mae_loss,
    predict_linear,
    train_net,
)


@pytest.mark.parametrize("name", list(COURSE_NETS))
def test_each_net_reaches_the_courses_validation_accuracy(lesson5, name):
    trained = train_net(name, lesson5.train_x, lesson5.train_y)
    acc = accuracy(trained.predict(lesson5.valid_x), lesson5.valid_y)
    if name == "linear":
        assert acc == pytest.approx(0.79, abs=0.01)
    else:
        assert acc >= 0.82
    # Same seed, same order of random draws, same steps: the course's very numbers.
    assert acc == pytest.approx(COURSE_NETS[name].course_accuracy, abs=1e-4)
    assert trained.losses[-1] < trained.losses[0]


def test_a_private_generator_draws_what_the_courses_global_seed_draws():
    for init in (init_linear, init_one_hidden, init_deep):
        with torch.random.fork_rng():
            torch.manual_seed(442)
            course = init(12)
        ours = init(12, torch.Generator().manual_seed(442))
        for a, b in zip(course, ours):
            assert torch.equal(a, b)


def test_accuracy_equals_sklearn_at_a_half_threshold(lesson5):
    trained = train_net("one_hidden", lesson5.train_x, lesson5.train_y)
    probs = trained.predict(lesson5.valid_x)
    expected = accuracy_score(lesson5.valid_y.numpy(), (probs > 0.5).numpy())
    assert accuracy(probs, lesson5.valid_y) == pytest.approx(expected)
    assert accuracy(probs[:, None], lesson5.valid_y) == pytest.approx(expected)  # (rows, 1) too


def test_mae_loss_refuses_shapes_that_would_broadcast():
    with pytest.raises(ValueError, match=r"targets\[:, None\]"):
        mae_loss(torch.zeros(5, 1), torch.zeros(5))
    assert mae_loss(torch.zeros(5, 1), torch.ones(5, 1)).item() == 1.0


def test_hand_written_linear_gradient_matches_autograd(lesson5):
    (coeffs,) = init_linear(12, torch.Generator().manual_seed(0))
    mae_loss(predict_linear([coeffs], lesson5.train_x), lesson5.train_y).backward()
    hand = linear_mae_gradient(coeffs.detach(), lesson5.train_x, lesson5.train_y)
    torch.testing.assert_close(hand, coeffs.grad)


def test_train_net_names_the_nets_it_knows(lesson5):
    with pytest.raises(KeyError, match="choose one of .*'deep'"):
        train_net("deeep", lesson5.train_x, lesson5.train_y)
