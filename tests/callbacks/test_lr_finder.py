"""lr_find: suggestions near a known good LR, weights restored, a plot on disk."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rung.callbacks.lr_finder import valley
from rung.data.core import DataLoaders
from rung.learner import Learner


def _problem():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 10, generator=g)
    w = torch.randn(10, 1, generator=g)
    y = x @ w + 0.1 * torch.randn(4000, 1, generator=g)
    return DataLoaders.from_tensors(x, y, batch_size=64, seed=0)


def _learner(dls, opt="sgd"):
    torch.manual_seed(0)
    opt_func = torch.optim.SGD
    return Learner(nn.Linear(10, 1), dls, nn.MSELoss(), opt_func=opt_func, wd=0.0, progress=False)


def _best_fixed_lr(dls) -> float:
    """The known good LR: the one among a grid that gives the lowest loss after 60 SGD steps."""
    results = {}
    for lr in np.geomspace(1e-4, 1.0, 13):
        learn = _learner(dls)
        learn.create_opt()
        it = iter(dls.train)
        for _ in range(60):
            try:
                xb, yb = next(it)
            except StopIteration:
                it = iter(dls.train)
                xb, yb = next(it)
            loss = nn.functional.mse_loss(learn.model(xb), yb)
            loss.backward()
            with torch.no_grad():
                for p in learn.model.parameters():
                    p -= lr * p.grad
                    p.grad = None
        with torch.no_grad():
            xv, yv = dls.valid.tensors
            results[lr] = nn.functional.mse_loss(learn.model(xv), yv).item()
    return min((v, k) for k, v in results.items() if math.isfinite(v))[1]


def test_lr_find_suggests_within_10x_of_a_known_good_lr_and_restores_weights(tmp_path):
    dls = _problem()
    good = _best_fixed_lr(dls)
    learn = _learner(dls)
    learn.path = tmp_path
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    result = learn.lr_find(num_it=100)
    assert all(torch.equal(before[k], v) for k, v in learn.model.state_dict().items())
    assert good / 10 <= result.suggested <= good * 10, (good, result.suggestions)
    assert set(result.suggestions) == {"valley", "slide", "minimum", "steep"}
    assert result.plot == tmp_path / "lr_find.png" and result.plot.stat().st_size > 5000
    # it stopped when the loss exploded, well before the sweep's end (10)
    assert result.lrs[-1] < 10
    # the sweep's own batches and time (what a time budget reads), more than the trimmed lrs
    assert len(result.lrs) < result.n_batches <= 100 and result.seconds > 0
    # training afterwards starts from the restored weights and works
    learn.fit(1, result.suggested)
    assert learn.recorder.values[-1]["valid_loss"] < 0.5


def test_valley_on_a_textbook_curve():
    lrs = np.geomspace(1e-6, 1, 61)
    x = np.log10(lrs)
    losses = 1 / (1 + np.exp(3 * (x + 3))) + np.where(x > -1, (x + 1) ** 2 * 20, 0)
    lr = valley(lrs, losses)
    assert 1e-4 < lr < 1e-1


def test_suggestions_are_attributes_and_recommended_is_what_the_apps_use(tmp_path):
    learn = _learner(_problem())
    result = learn.lr_find(num_it=60, plot_path=None)
    for name in ("valley", "slide", "minimum", "steep"):
        assert getattr(result, name) == result.suggestions[name]
    assert result.suggested == result.valley
    assert result.valley <= result.recommended <= 10 * result.valley


def test_a_plot_path_with_a_folder_is_used_as_given_even_when_relative(tmp_path, monkeypatch):
    # The apps write to runs/<run>/lr_find.png with Learner(path=runs/<run>): a relative run
    # folder must not be joined to learn.path a second time.
    monkeypatch.chdir(tmp_path)
    run_dir = Path("runs") / "r1"
    learn = _learner(_problem())
    learn.path = run_dir
    result = learn.lr_find(num_it=30, plot_path=run_dir / "lr_find.png")
    assert result.plot == run_dir / "lr_find.png" and (tmp_path / run_dir / "lr_find.png").is_file()
    assert not (tmp_path / run_dir / "runs").exists()
    # a bare file name still goes under learn.path
    assert learn.lr_find(num_it=30, plot_path="bare.png").plot == run_dir / "bare.png"


def test_lr_find_refuses_a_senseless_sweep():
    learn = _learner(_problem())
    with pytest.raises(ValueError, match=r"end_lr \(1e-08\) must be above start_lr \(1e-07\)"):
        learn.lr_find(end_lr=1e-8)
    with pytest.raises(ValueError, match="num_it must be at least 3, got 1"):
        learn.lr_find(num_it=1)
