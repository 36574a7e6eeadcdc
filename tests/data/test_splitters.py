"""Splitters: a time split never puts one timestamp on both sides; an unseeded random split
draws from torch's global generator without reseeding it (so seed_everything still holds)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from rung.data.splitters import random_split, split_by_group, split_by_time
from rung.utils import seed_everything


# ----------------------------------------------------------------------------- time
def test_time_split_cuts_between_timestamps_not_inside_one():
    # 10 rows, 4 days; 20% by row count would cut inside day 3's four rows
    days = [1, 1, 2, 2, 3, 3, 3, 3, 4, 4]
    split = split_by_time(days, valid_pct=0.3)
    train_days = {days[i] for i in split.train}
    valid_days = {days[i] for i in split.valid}
    assert not train_days & valid_days, (train_days, valid_days)
    assert max(train_days) < min(valid_days)
    assert sorted([*split.train, *split.valid]) == list(range(10))


def test_time_split_on_real_dates_with_ties():
    dates = pd.to_datetime(["2024-01-01"] * 5 + ["2024-01-02"] * 5 + ["2024-01-03"] * 5)
    for pct in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6):
        split = split_by_time(dates.to_numpy(), valid_pct=pct)
        assert dates[split.train].max() < dates[split.valid].min(), pct


def test_time_split_picks_the_boundary_nearest_the_fraction():
    times = [1, 2, 3, 4, 5, 6, 7, 8, 8, 9]
    # 20% by count would cut between the two rows at time 8: both go to validation
    assert sorted(split_by_time(times, valid_pct=0.2).valid.tolist()) == [7, 8, 9]
    assert sorted(split_by_time(times, valid_pct=0.1).valid.tolist()) == [9]
    times = [1] * 9 + [2]  # the only boundary leaves one validation row
    assert split_by_time(times, valid_pct=0.5).valid.tolist() == [9]


def test_time_split_with_a_single_time_is_a_clear_error():
    with pytest.raises(ValueError, match="every row has the same time"):
        split_by_time([3, 3, 3, 3], valid_pct=0.25)


# ----------------------------------------------------------------------------- random
def test_unseeded_random_split_follows_seed_everything():
    seed_everything(1)
    first = random_split(100, valid_pct=0.2, seed=None)
    after_first = torch.rand(3)
    seed_everything(1)
    second = random_split(100, valid_pct=0.2, seed=None)
    after_second = torch.rand(3)
    assert (first.valid == second.valid).all()
    assert torch.equal(after_first, after_second)  # the global generator was not reseeded


def test_unseeded_random_split_draws_from_the_global_generator():
    seed_everything(0)
    torch.randint(0, 2**62, ())  # what the split draws
    expected = torch.rand(2)
    seed_everything(0)
    random_split(50, seed=None)
    assert torch.equal(torch.rand(2), expected)
    seed_everything(0)
    a = random_split(50, seed=None)
    b = random_split(50, seed=None)  # two draws in a row differ
    assert not (a.valid == b.valid).all()


def test_seeded_random_split_is_the_course_split_and_leaves_the_global_generator():
    seed_everything(3)
    expected = torch.rand(2)
    seed_everything(3)
    split = random_split(891, valid_pct=0.2, seed=42)
    torch.manual_seed(42)
    assert (split.valid == torch.randperm(891)[:178].numpy()).all()
    seed_everything(3)
    random_split(891, valid_pct=0.2, seed=42)
    assert torch.equal(torch.rand(2), expected)


def test_unseeded_group_split_follows_seed_everything():
    groups = np.repeat(np.arange(20), 3)
    seed_everything(5)
    a = split_by_group(groups, valid_pct=0.25, seed=None)
    seed_everything(5)
    b = split_by_group(groups, valid_pct=0.25, seed=None)
    assert (a.valid == b.valid).all()
