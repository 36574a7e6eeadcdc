"""freeze / unfreeze and fine_tune with discriminative learning rates."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from rung.data.core import DataLoaders
from rung.learner import Learner


class BodyHead(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU()
        )
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        return self.head(self.body(x))

    def param_groups(self):
        return [self.body, self.head]


def _learner() -> Learner:
    torch.manual_seed(0)
    x = torch.randn(128, 4)
    y = (x.sum(1) > 0).long()
    dls = DataLoaders.from_tensors(x, y, batch_size=16)
    return Learner(BodyHead(), dls, nn.CrossEntropyLoss(), progress=False)


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.named_parameters()}


def test_freeze_trains_head_and_norm_layers_only():
    learn = _learner()
    learn.freeze()
    before = _snapshot(learn.model)
    learn.fit(1, 1e-2)
    after = _snapshot(learn.model)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"head.weight", "head.bias", "body.1.weight", "body.1.bias"}


def test_fine_tune_head_only_while_frozen_then_all_groups_lower_lr_earlier():
    learn = _learner()
    phases = []

    def snap():
        phases.append(_snapshot(learn.model))

    snap()
    learn.fine_tune(2, base_lr=1e-2, freeze_epochs=1)
    first_fit = [v for v in learn.recorder.history if v["fit"] == 1]
    second_fit = [v for v in learn.recorder.history if v["fit"] == 2]
    assert len(first_fit) == 1 and len(second_fit) == 2
    # in the unfrozen phase every group moved, with lower LRs in earlier groups
    lrs = np.array(learn.recorder.lrs)  # (batches, groups) of the last fit
    assert lrs.shape[1] == 2
    assert (lrs[:, 0] < lrs[:, 1]).all()
    assert np.allclose(lrs[:, 1] / lrs[:, 0], 100)  # lr_mult
    after = _snapshot(learn.model)
    assert not torch.equal(phases[0]["body.0.weight"], after["body.0.weight"])
    assert all(p.requires_grad for p in learn.model.parameters())


def test_fine_tune_frozen_phase_leaves_the_body_weights(monkeypatch):
    learn = _learner()
    before = _snapshot(learn.model)
    calls = []
    real_fit = learn.fit_one_cycle

    def record(*args, **kwargs):
        real_fit(*args, **kwargs)
        calls.append(_snapshot(learn.model))

    monkeypatch.setattr(learn, "fit_one_cycle", record)
    learn.fine_tune(1, base_lr=1e-2)
    frozen = calls[0]
    assert torch.equal(before["body.0.weight"], frozen["body.0.weight"])
    assert torch.equal(before["body.3.weight"], frozen["body.3.weight"])
    assert not torch.equal(before["head.weight"], frozen["head.weight"])
    assert not torch.equal(before["body.0.weight"], calls[1]["body.0.weight"])


def test_freeze_needs_two_groups(regression_learner):
    import pytest

    with pytest.raises(ValueError, match="at least 2 parameter groups"):
        regression_learner().freeze()
