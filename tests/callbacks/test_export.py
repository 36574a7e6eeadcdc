"""learn.export without kind=: a tensor model file rung.load reads back, or a clear refusal."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rung
from rung.data.core import DataLoaders, TensorLoader
from rung.learner import Learner
from rung.models.registry import build_model


def _learner(titanic_tensors, loss_func, n_out: int, target=lambda y: y, **info) -> Learner:
    x_tr, y_tr, x_va, y_va = titanic_tensors
    dls = DataLoaders(
        TensorLoader(x_tr, target(y_tr), batch_size=64, shuffle=True, seed=0),
        TensorLoader(x_va, target(y_va), batch_size=64),
        **info,
    )
    torch.manual_seed(0)
    model = build_model("mlp", n_in=6, n_out=n_out, layers=[16])
    learn = Learner(model, dls, loss_func, progress=False)
    learn.fit_one_cycle(3, 3e-2)
    return learn


def test_export_without_kind_writes_a_file_rung_load_predicts_with(titanic_tensors, tmp_path):
    learn = _learner(titanic_tensors, nn.CrossEntropyLoss(), 2, classes=["died", "survived"])
    path = learn.export(tmp_path / "titanic.rung")
    predictor = rung.load(path)
    assert predictor.config["kind"] == "tensor" and predictor.task == "classification"
    assert predictor.config["input_shape"] == [6]
    x_va = titanic_tensors[2]
    result = predictor.predict(x_va)
    expected = learn.get_preds()["preds"]
    assert result.labels == [["died", "survived"][i] for i in expected.argmax(1)]
    assert torch.allclose(torch.as_tensor(result.probs), expected, atol=1e-5)


def test_export_infers_a_single_logit_classifier_and_a_regression(titanic_tensors, tmp_path):
    as_float = lambda y: y.float().unsqueeze(1)  # noqa: E731
    bce = _learner(titanic_tensors, nn.BCEWithLogitsLoss(), 1, target=as_float)
    predictor = rung.load(bce.export(tmp_path / "bce.rung"))
    assert predictor.task == "classification" and predictor.config["classes"] == [0, 1]
    probs = bce.get_preds()["preds"].squeeze(1)
    result = predictor.predict(titanic_tensors[2])
    assert torch.allclose(torch.as_tensor(result.probs[:, 1]), probs, atol=1e-5)
    assert list(result.indices) == (probs > 0.5).long().tolist()

    mse = _learner(titanic_tensors, nn.MSELoss(), 1, target=as_float)
    predictor = rung.load(mse.export(tmp_path / "mse.rung"))
    assert predictor.task == "regression"
    values = torch.as_tensor(predictor.predict(titanic_tensors[2]))
    assert torch.allclose(values, mse.get_preds()["preds"].squeeze(1), atol=1e-5)


def test_export_refuses_what_it_cannot_infer_and_names_kind(titanic_tensors, tmp_path):
    def custom_loss(preds, targets):
        return nn.functional.cross_entropy(preds, targets)

    learn = _learner(titanic_tensors, custom_loss, 2)
    with pytest.raises(ValueError, match=r"task=.*kind="):
        learn.export(tmp_path / "m.rung")
    assert not (tmp_path / "m.rung").exists()
    path = learn.export(tmp_path / "m.rung", task="classification")  # the task is enough
    assert rung.load(path).task == "classification"


def test_export_refuses_to_guess_the_kind_of_non_tensor_data(titanic_tensors, tmp_path):
    x_tr, y_tr, x_va, y_va = titanic_tensors
    pairs = DataLoaders(list(zip(x_tr.split(64), y_tr.split(64))), [(x_va, y_va)])
    learn = Learner(
        build_model("mlp", n_in=6, n_out=2), pairs, nn.CrossEntropyLoss(), progress=False
    )
    with pytest.raises(ValueError, match=r"pass kind="):
        learn.export(tmp_path / "m.rung")
