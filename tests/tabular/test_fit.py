"""fit_nn seeds before it builds the net: its initial weights, and so the trained net, depend on
its seed alone, not on what ran before it."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from rung.tabular.data import TabularData
from rung.tabular.fit import fit_nn


@pytest.fixture(scope="module")
def data(titanic_dir) -> TabularData:
    return TabularData.from_df(pd.read_csv(titanic_dir / "train.csv"), "Survived")


def _weights(fit) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in fit.module.state_dict().items()}


def test_same_seed_same_net_whatever_ran_before(data):
    torch.manual_seed(1)
    torch.rand(100)
    first = _weights(fit_nn(data, epochs=1, lr=0.01, seed=3))
    torch.manual_seed(2)  # another global state: must not matter
    second = _weights(fit_nn(data, epochs=1, lr=0.01, seed=3))
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    other = _weights(fit_nn(data, epochs=1, lr=0.01, seed=4))
    assert not torch.equal(first["layers.0.weight"], other["layers.0.weight"])
