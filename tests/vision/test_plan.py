"""The training plan: progressive sizes, the cost model, cutting to a budget, parsing budgets."""

from __future__ import annotations

import pytest

from rung.utils import parse_budget
from rung.vision.plan import (
    REPORT_SECONDS,
    estimate_seconds,
    plan_training,
    progressive_sizes,
)

CATS_DOGS = dict(n_train=400, n_valid=200, size=224, seconds_per_image=0.005, probe_size=128)


def test_progressive_sizes_grow_to_the_final_size_in_16_px_steps():
    assert progressive_sizes(224, 3) == [128, 176, 224]
    assert progressive_sizes(224, 4) == [128, 160, 192, 224]
    assert progressive_sizes(160, 2) == [96, 160]
    assert progressive_sizes(224, 1) == [224]
    assert progressive_sizes(48, 3) == [48, 48, 48]  # never below 64, never above the size


def test_the_estimate_counts_forward_passes_frozen_and_training_steps_after():
    per_image = 0.01
    frozen_only = estimate_seconds(100, 0, 1, 128, [], 128, per_image, 128)
    assert frozen_only == pytest.approx(100 * per_image)  # a forward pass per image
    one_epoch = estimate_seconds(100, 0, 0, 128, [256], 256, per_image, 128)
    assert one_epoch == pytest.approx(100 * 4.0 * per_image * 4)  # 4 passes, 4x the pixels
    validation = estimate_seconds(0, 50, 1, 128, [128], 128, per_image, 128)
    assert validation == pytest.approx(2 * 50 * per_image)  # after each of the 2 epochs


def test_the_recipe_is_kept_when_it_fits_the_budget():
    plan = plan_training(**CATS_DOGS, budget=180, spent=10)
    assert (plan.freeze_size, plan.sizes, plan.size) == (128, [128, 176, 224], 224)
    assert plan.estimate < 180 - 10 - REPORT_SECONDS
    assert "lesson 1's recipe" in plan.reasons[0] and "within the 180 s budget" in plan.reasons[0]
    full = plan_training(**CATS_DOGS, budget=180, progressive=False)
    assert full.sizes == [224] * 3 and full.freeze_size == 224 and full.estimate > plan.estimate


def test_a_tight_budget_gives_up_size_first_then_epochs():
    recipe = plan_training(**CATS_DOGS, budget=None)
    smaller = plan_training(**CATS_DOGS, budget=recipe.estimate + REPORT_SECONDS - 1)
    assert smaller.size == 160 and smaller.epochs == 3
    assert "cut from 3 epochs at 224 px to fit" in smaller.reasons[0]
    tiny = plan_training(**CATS_DOGS, budget=REPORT_SECONDS + 12)
    assert tiny.epochs < 3 and tiny.estimate <= 12
    hopeless = plan_training(**CATS_DOGS, budget=REPORT_SECONDS + 1)
    assert (hopeless.size, hopeless.epochs) == (128, 1) and "over the" in hopeless.reasons[0]


def test_what_the_user_gave_is_kept_whatever_the_budget():
    plan = plan_training(**CATS_DOGS, budget=20, epochs=5, size_given=True)
    assert plan.size == 224 and plan.epochs == 5 and "over the 20 s budget" in plan.reasons[0]


def test_a_large_dataset_on_a_slow_machine_gets_a_plan_that_fits():
    plan = plan_training(
        n_train=5000, n_valid=1000, size=224, seconds_per_image=0.005, probe_size=128,
        budget=180, spent=10,
    )  # fmt: skip
    assert plan.estimate <= 180 - 10 - REPORT_SECONDS
    assert plan.size < 224 or plan.epochs < 3


@pytest.mark.parametrize(
    "text, seconds",
    [("3m", 180.0), ("90s", 90.0), ("90", 90.0), ("1h", 3600.0), ("2m30s", 150.0), ("1.5m", 90.0),
     (45, 45.0), ("none", None), (None, None)],
)  # fmt: skip
def test_budgets_read_as_people_write_them(text, seconds):
    assert parse_budget(text) == seconds


@pytest.mark.parametrize("text", ["soon", "3 minutes", "-5", "0s", "m"])
def test_a_budget_that_is_not_a_duration_is_refused_with_an_example(text):
    with pytest.raises(ValueError, match=r"budget .*e\.g\. --budget 3m"):
        parse_budget(text)
