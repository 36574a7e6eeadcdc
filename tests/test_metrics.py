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


def test_single_output_sigmoid_classifier_accuracy_is_on_probabilities(titanic_tensors):
    # One logit per row and BCEWithLogitsLoss: a row is class 1 when its logit is > 0. The
    # Learner must judge the sigmoid of the logits (threshold 0.5), not the logits themselves.
    x_tr, y_tr, x_va, y_va = titanic_tensors
    dls = DataLoaders(
        TensorLoader(x_tr, y_tr.float().unsqueeze(1), batch_size=64, shuffle=True, seed=0),
        TensorLoader(x_va, y_va.float().unsqueeze(1), batch_size=256),
    )
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    learn = Learner(
        model, dls, torch.nn.BCEWithLogitsLoss(), metrics=[M.accuracy, M.f1], progress=False
    )
    learn.fit_one_cycle(4, 3e-2)
    with torch.no_grad():
        logits = model(x_va).squeeze(1)
    predicted = (logits > 0).long().numpy()
    record = learn.recorder.values[-1]
    assert record["accuracy"] == pytest.approx(skm.accuracy_score(y_va, predicted))
    assert record["f1"] == pytest.approx(skm.f1_score(y_va, predicted))
    assert record["accuracy"] > 0.75  # the course's models reach 0.79-0.83 on this split


def test_accuracy_refuses_a_single_column_of_logits():
    logits = torch.tensor([[-2.0], [0.3], [1.5]])
    with pytest.raises(ValueError, match=r"outside \[0, 1\].*sigmoid"):
        M.accuracy(logits, torch.tensor([0, 1, 1]))
    probs = torch.sigmoid(logits)
    assert M.accuracy(probs, torch.tensor([0, 1, 1])) == 1.0
    assert M.accuracy(torch.tensor([0, 2, 1]), torch.tensor([0, 2, 2])) == pytest.approx(2 / 3)


@pytest.mark.parametrize("present", [(0, 1), (1, 2)])
def test_f1_of_a_3_class_model_stays_macro_when_validation_lacks_a_class(present):
    # The model has 3 outputs; the validation rows and predictions hold only two of the
    # classes. F1 is still the macro average (over the classes that occur, as scikit-learn's
    # f1_score(average="macro") does), never the binary F1 of class 1.
    gen = torch.Generator().manual_seed(0)
    targets = torch.tensor(present)[torch.randint(0, 2, (60,), generator=gen)]
    logits = torch.randn(60, 3, generator=gen)
    absent = ({0, 1, 2} - set(present)).pop()
    logits[:, absent] = -10.0  # never predicted
    logits[:40, :] += 3 * torch.nn.functional.one_hot(targets[:40], 3)  # mostly right
    y_hat = logits.argmax(1).numpy()
    assert set(y_hat) <= set(present)
    expected = skm.f1_score(targets.numpy(), y_hat, average="macro")
    assert M.f1(logits, targets) == pytest.approx(expected)


def test_f1_refuses_targets_beyond_the_model_outputs():
    with pytest.raises(ValueError, match="class 3.*3 outputs"):
        M.f1(torch.randn(4, 3), torch.tensor([0, 1, 2, 3]))


def test_regression_metrics_refuse_mismatched_shapes():
    with pytest.raises(ValueError, match=r"mae compares.*\(4, 3\).*\(4,\)"):
        M.mae(torch.randn(4, 3), torch.tensor([0, 1, 2, 1]))


def test_metrics_see_the_loss_activation_so_bce_regression_is_judged_in_target_units():
    # A [0, 1] target fit with BCEWithLogitsLoss (as for the patents scores): metrics compare
    # sigmoid(outputs) with the targets, not the raw logits.
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200, 1, generator=gen)
    y = torch.sigmoid(2 * x)
    identity = torch.nn.Linear(1, 1)
    with torch.no_grad():
        identity.weight.fill_(2.0)
        identity.bias.zero_()
    dls = DataLoaders(TensorLoader(x, y, batch_size=50), TensorLoader(x, y, batch_size=50))
    learn = Learner(
        identity, dls, torch.nn.BCEWithLogitsLoss(), metrics=[M.mae, M.pearson], progress=False
    )
    learn.fit(1, lr=0.0)
    record = learn.recorder.values[-1]
    assert record["mae"] == pytest.approx(0.0, abs=1e-6)
    assert record["pearson"] == pytest.approx(1.0, abs=1e-6)


def test_multi_label_metrics_match_scikit_learn():
    from sklearn.metrics import f1_score

    from rung.metrics import accuracy_multi, f1_multi_macro, f1_multi_micro

    g = torch.Generator().manual_seed(0)
    probs = torch.rand(60, 5, generator=g)
    targets = (torch.rand(60, 5, generator=g) > 0.6).float()
    targets[:, 4] = 0  # a label absent from the targets
    probs[:, 4] = 0.1  # and never predicted: left out of the macro average, as sklearn does
    pred, y = (probs > 0.5).numpy(), targets.numpy()
    assert accuracy_multi(probs, targets) == pytest.approx((pred == y).mean())
    assert f1_multi_micro(probs, targets) == pytest.approx(f1_score(y, pred, average="micro"))
    macro = f1_score(y[:, :4], pred[:, :4], average="macro")
    assert f1_multi_macro(probs, targets) == pytest.approx(macro)
    with pytest.raises(ValueError, match="logits, not probabilities"):
        f1_multi_micro(probs * 4 - 2, targets)
    with pytest.raises(ValueError, match="same shape"):
        accuracy_multi(probs, targets[:, :3])
