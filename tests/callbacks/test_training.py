"""Gradient accumulation equals a bigger batch; clipping bounds the gradient norm."""

from __future__ import annotations

import torch
from torch import nn

from rung.callbacks.core import Callback
from rung.callbacks.training import GradientAccumulation, GradientClip
from rung.data.core import DataLoaders, TensorLoader
from rung.learner import Learner


def _learner(bs: int, cbs=()) -> Learner:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(64, 5, generator=g), torch.randn(64, 1, generator=g)
    dls = DataLoaders(TensorLoader(x, y, batch_size=bs), TensorLoader(x[:8], y[:8], batch_size=8))
    return Learner(
        nn.Linear(5, 1),
        dls,
        nn.MSELoss(),
        opt_func=torch.optim.SGD,
        wd=0.0,
        cbs=cbs,
        progress=False,
    )


def test_accumulating_4_batches_of_4_equals_batches_of_16():
    big = _learner(16)
    big.fit(2, lr=0.1)
    acc = _learner(4, cbs=[GradientAccumulation(4)])
    acc.fit(2, lr=0.1)
    for a, b in zip(acc.model.parameters(), big.model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


class GradNorm(Callback):
    order = 30  # after the clip (order 25)

    def __init__(self):
        self.norms = []

    def before_step(self):
        grads = [p.grad for p in self.learn.model.parameters() if p.grad is not None]
        self.norms.append(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item())


def test_gradient_clip_bounds_the_norm():
    norms_free, norms_clipped = GradNorm(), GradNorm()
    _learner(8, cbs=[norms_free]).fit(1, lr=0.1)
    _learner(8, cbs=[GradientClip(0.05), norms_clipped]).fit(1, lr=0.1)
    assert max(norms_free.norms) > 0.05
    assert max(norms_clipped.norms) <= 0.05 + 1e-6


def test_accumulation_and_clipping_together_clip_the_summed_gradient():
    norms = GradNorm()
    learn = _learner(4, cbs=[GradientAccumulation(4), GradientClip(0.05), norms])
    learn.fit(1, lr=0.1)
    assert len(norms.norms) == 4  # 16 batches of 4, one step every 4
    assert max(norms.norms) <= 0.05 + 1e-6
