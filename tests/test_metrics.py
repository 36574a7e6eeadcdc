"""Metrics against scikit-learn / SciPy, and aggregation over the whole validation set."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats
from sklearn import metrics as skm

from rung import metrics as M
from rung.data.core import DataLoaders, TensorLoader
from rung.learner import Learner

g = torch.Generator().manual_seed(0)
LOGITS = torch.randn(200, 3, generator=g)
LABELS = torch.randint(0, 3, (200,), generator=g)
BIN_LOGITS = torch.randn(200, 2, generator=g)
BIN_LABELS = torch.randint(0, 2, (200,), generator=g)
PRED = torch.randn(200, generator=g)
TARG = PRED + 0.5 * torch.randn(200, generator=g)


def test_classification_metrics_match_sklearn():
    y_hat = LOGITS.argmax(1).numpy()
    assert M.accuracy(LOGITS, LABELS) == pytest.approx(skm.accuracy_score(LABELS, y_hat))
    assert M.error_rate(LOGITS, LABELS) == pytest.approx(1 - skm.accuracy_score(LABELS, y_hat))
    assert M.f1(LOGITS, LABELS) == pytest.approx(skm.f1_score(LABELS, y_hat, average="macro"))
    b_hat = BIN_LOGITS.argmax(1).numpy()
    assert M.f1(BIN_LOGITS, BIN_LABELS) == pytest.approx(skm.f1_score(BIN_LABELS, b_hat))


def test_regression_metrics_match_sklearn_and_scipy():
    p, t = PRED.numpy(), TARG.numpy()
    assert M.mae(PRED, TARG) == pytest.approx(skm.mean_absolute_error(t, p))
    assert M.rmse(PRED, TARG) == pytest.approx(np.sqrt(skm.mean_squared_error(t, p)))
    assert M.r2(PRED, TARG) == pytest.approx(skm.r2_score(t, p))
    assert M.pearson(PRED, TARG) == pytest.approx(stats.pearsonr(p, t)[0])
    tied = torch.tensor([1.0, 2, 2, 3, 3, 3, 4])
    other = torch.tensor([2.0, 1, 3, 3, 5, 4, 7])
    assert M.spearman(tied, other) == pytest.approx(stats.spearmanr(tied, other)[0])


def test_metrics_are_computed_over_the_whole_set_not_averaged_per_batch():
    # Pearson per batch averaged is not Pearson of the set: the Learner must gather first.
    x = PRED.unsqueeze(1)
    y = TARG.unsqueeze(1)
    dls = DataLoaders(TensorLoader(x, y, batch_size=16), TensorLoader(x, y, batch_size=7))
    identity = torch.nn.Linear(1, 1)
    with torch.no_grad():
        identity.weight.fill_(1.0)
        identity.bias.zero_()
    learn = Learner(identity, dls, torch.nn.MSELoss(), metrics=[M.pearson, M.r2], progress=False)
    learn.fit(1, lr=0.0)  # the model stays the identity: predictions are PRED
    record = learn.recorder.values[-1]
    assert record["pearson"] == pytest.approx(
        stats.pearsonr(PRED.numpy(), TARG.numpy())[0], rel=1e-6
    )
    assert record["r2"] == pytest.approx(skm.r2_score(TARG.numpy(), PRED.numpy()), rel=1e-6)
    assert record["valid_loss"] == pytest.approx(
        torch.nn.functional.mse_loss(x, y).item(), rel=1e-6
    )
    assert learn.metrics_callback.n_valid == 200
