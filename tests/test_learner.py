"""The training loop: event order, cancellation, refusal without validation data, training."""

from __future__ import annotations

import copy
import random

import numpy as np
import pytest
import torch
from conftest import make_regression_dls
from torch import nn

from rung.callbacks.core import (
    CANCEL_EXCEPTIONS,
    Callback,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelTrainException,
    CancelValidateException,
)
from rung.data.core import DataLoaders, NoValidationError, TensorLoader
from rung.learner import Learner

TRAIN_BATCH = ["before_batch", "after_pred", "after_loss", "before_backward", "after_backward",
               "before_step", "after_step", "after_batch"]  # fmt: skip
VALID_BATCH = ["before_batch", "after_pred", "after_loss", "after_batch"]


class Log(Callback):
    """Records every event it sees."""

    def __init__(self) -> None:
        self.events: list[str] = []


for _event in __import__("rung.callbacks.core", fromlist=["EVENTS"]).EVENTS:
    setattr(Log, _event, lambda self, _e=_event: self.events.append(_e))


def tiny_dls(n_train: int = 4, n_valid: int = 2, bs: int = 2) -> DataLoaders:
    x, y = torch.randn(n_train + n_valid, 3), torch.randn(n_train + n_valid, 1)
    train = TensorLoader(x[:n_train], y[:n_train], batch_size=bs)
    valid = TensorLoader(x[n_train:], y[n_train:], batch_size=bs)
    return DataLoaders(train, valid)


def tiny_learner(*cbs: Callback) -> Learner:
    return Learner(nn.Linear(3, 1), tiny_dls(), nn.MSELoss(), cbs=cbs, progress=False)


def test_exact_event_order_of_a_tiny_fit():
    log = Log()
    tiny_learner(log).fit(1)
    epoch = ["before_epoch", "before_train", *TRAIN_BATCH * 2, "after_train",
             "before_validate", *VALID_BATCH, "after_validate", "after_epoch"]  # fmt: skip
    assert log.events == ["before_fit", *epoch, "after_fit", "cleanup_fit"]


class Raise(Callback):
    """Raises ``exc`` at the first time ``event`` happens (during training, for batch events)."""

    def __init__(self, event: str, exc: type[Exception]) -> None:
        self.exc, self.done = exc, False
        setattr(self, event, self._raise)

    def _raise(self) -> None:
        if not self.done:
            self.done = True
            raise self.exc()


def _fit_events(event: str, exc: type[Exception]) -> list[str]:
    log, raiser = Log(), Raise(event, exc)
    learn = tiny_learner(log)
    learn.add_cb(raiser)
    learn._index_handlers()
    learn.fit(1)
    return log.events


@pytest.mark.parametrize(
    "event,exc,expected",
    [
        ("after_loss", CancelBatchException,
         ["before_fit", "before_epoch", "before_train", "before_batch", "after_pred", "after_loss",
          "after_cancel_batch", "after_batch", *TRAIN_BATCH, "after_train", "before_validate",
          *VALID_BATCH, "after_validate", "after_epoch", "after_fit", "cleanup_fit"]),
        ("after_step", CancelTrainException,
         ["before_fit", "before_epoch", "before_train", *TRAIN_BATCH[:-1], "after_cancel_train",
          "after_train", "before_validate", *VALID_BATCH, "after_validate", "after_epoch",
          "after_fit", "cleanup_fit"]),
        ("before_validate", CancelValidateException,
         ["before_fit", "before_epoch", "before_train", *TRAIN_BATCH * 2, "after_train",
          "before_validate", "after_cancel_validate", "after_validate", "after_epoch", "after_fit",
          "cleanup_fit"]),
        ("after_train", CancelEpochException,
         ["before_fit", "before_epoch", "before_train", *TRAIN_BATCH * 2, "after_train",
          "after_cancel_epoch", "after_epoch", "after_fit", "cleanup_fit"]),
        ("before_epoch", CancelFitException,
         ["before_fit", "before_epoch", "after_cancel_fit", "after_fit", "cleanup_fit"]),
    ],
)  # fmt: skip
def test_event_order_under_each_cancel_exception(event, exc, expected):
    # the raiser is added after the log, so the log sees the event that raises first
    assert _fit_events(event, exc) == expected


def test_every_stage_has_its_cancel_exception():
    assert set(CANCEL_EXCEPTIONS) == {"batch", "train", "validate", "epoch", "fit"}


def test_cleanup_runs_even_on_an_error():
    class Boom(Callback):
        def after_pred(self):
            raise RuntimeError("boom")

    log = Log()
    learn = tiny_learner(log, Boom())
    with pytest.raises(RuntimeError, match="boom"):
        learn.fit(1)
    assert log.events[-1] == "cleanup_fit"
    assert "after_fit" not in log.events


def test_misspelt_event_is_rejected_with_the_closest_name():
    with pytest.raises(TypeError, match="after_bach is not an event; did you mean 'after_batch'"):

        class Typo(Callback):
            def after_bach(self):
                pass

    with pytest.raises(TypeError, match="befor_fit.*'before_fit'"):

        class Typo2(Callback):
            def befor_fit(self):
                pass


def test_passing_a_callback_class_instead_of_an_instance_is_an_error():
    with pytest.raises(TypeError, match=r"pass an instance, e.g. Log\(\)"):
        tiny_learner().add_cb(Log)


def test_no_validation_set_no_training():
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    with pytest.raises(NoValidationError, match="valid_pct"):
        DataLoaders(TensorLoader(x, y), None)
    learn = tiny_learner()
    learn.dls.valid = TensorLoader(x[:0], y[:0])  # emptied after the fact
    with pytest.raises(NoValidationError, match="rung does not train without it"):
        learn.fit(1)


def test_loss_falls_on_a_synthetic_regression(regression_learner):
    learn = regression_learner()
    before = learn.get_preds()
    start = nn.functional.mse_loss(before["preds"], before["targets"]).item()
    learn.fit_one_cycle(15, 0.5)
    losses = [v["valid_loss"] for v in learn.recorder.values]
    assert losses[-1] < 0.01 < start
    assert losses[-1] < losses[0]
    w = learn.model.weight.detach().squeeze()
    assert torch.allclose(w, torch.tensor([1.0, 2.0, 3.0]), atol=0.05)


def test_get_preds_with_loss_and_decoded():
    torch.manual_seed(0)
    x = torch.randn(60, 4)
    y = (x[:, 0] > 0).long()
    dls = DataLoaders.from_tensors(x, y, valid_pct=0.5, batch_size=8)
    learn = Learner(nn.Linear(4, 2), dls, nn.CrossEntropyLoss(), progress=False)
    out = learn.get_preds(with_loss=True, with_decoded=True)
    assert out["preds"].shape == (30, 2) and torch.allclose(out["preds"].sum(1), torch.ones(30))
    assert out["losses"].shape == (30,)
    manual = nn.functional.cross_entropy(learn.model(dls.valid.tensors[0]), dls.valid.tensors[1])
    assert out["losses"].mean().item() == pytest.approx(manual.item(), rel=1e-5)
    assert torch.equal(out["decoded"], out["preds"].argmax(1))


def test_fast_dev_run_runs_one_batch_each_and_restores_weights(regression_learner):
    learn = regression_learner()
    log = Log()
    learn.add_cb(log)
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    losses = learn.fast_dev_run()
    assert set(losses) == {"train_loss", "valid_loss"}
    assert log.events.count("before_batch") == 2
    assert all(torch.equal(before[k], v) for k, v in learn.model.state_dict().items())


def test_fast_dev_run_puts_the_optimizer_and_history_back(regression_learner):
    # A smoke test must leave no trace: Adam's step counts and moments, the learning rates and
    # the Recorder's history are as they were, so the next fit is the one it would have been.
    learn = regression_learner()
    learn.fit(1, 0.05)
    opt_before = copy.deepcopy(learn.opt.state_dict())
    values, history = copy.deepcopy(learn.recorder.values), copy.deepcopy(learn.recorder.history)
    learn.fast_dev_run()
    opt_after = learn.opt.state_dict()
    assert opt_after["param_groups"] == opt_before["param_groups"]
    for pid, state in opt_before["state"].items():
        for k, v in state.items():
            assert torch.equal(torch.as_tensor(opt_after["state"][pid][k]), torch.as_tensor(v)), k
    assert learn.recorder.values == values and learn.recorder.history == history


def test_show_training_loop_lists_callbacks(regression_learner, capsys):
    learn = regression_learner(progress=True)
    learn.show_training_loop()
    out = capsys.readouterr().out
    assert "before_fit: Recorder, ProgressCallback" in out
    assert "after_loss: MetricsCallback" in out


def test_progress_prints_a_table_per_epoch(regression_learner, capsys):
    from rung.metrics import mae

    learn = regression_learner(progress=True, metrics=[mae])
    learn.progress_callback.bars = False
    learn.fit(2, 0.05)
    lines = [ln.split() for ln in capsys.readouterr().out.strip().splitlines()]
    assert lines[0] == ["epoch", "train_loss", "valid_loss", "mae", "time"]
    assert [ln[0] for ln in lines[1:]] == ["0", "1"]


def _seeded_run(dls, seed, disturb: int) -> torch.Tensor:
    """Weights after 2 epochs of a net with dropout, built from the same initial weights; the
    global generators are used ``disturb`` times between building the Learner and fitting."""
    torch.manual_seed(0)  # the same initial weights: seed= does not cover them
    model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 1))
    learn = Learner(model, dls, nn.MSELoss(), seed=seed, progress=False)
    torch.rand(disturb), random.random(), np.random.rand(disturb)
    learn.fit(2, 0.01)
    return torch.cat([p.detach().flatten() for p in learn.model.parameters()])


def test_seeded_learners_train_identically():
    # One DataLoaders object for every run: its shuffling generator moves on after each fit, so
    # only a seed applied when fit starts (to it and the global generators) repeats the run.
    dls = make_regression_dls(n=128, batch_size=16)
    a = _seeded_run(dls, seed=7, disturb=1)
    b = _seeded_run(dls, seed=7, disturb=5)
    assert torch.equal(a, b)
    assert not torch.equal(a, _seeded_run(dls, seed=8, disturb=1))
    # without a seed the same two runs differ: the assertion above can fail
    assert not torch.equal(_seeded_run(dls, None, 1), _seeded_run(dls, None, 5))


def test_a_seeded_learner_seeds_each_fit_afresh_but_not_alike(regression_learner):
    # fine_tune runs two fits: each repeats exactly, and the second does not replay the first
    def orders(seed: int) -> list[torch.Tensor]:
        learn = regression_learner(seed=seed)
        seen = []

        class Batches(Callback):
            def before_batch(self):
                if self.learn.training and self.learn.iter == 0:
                    seen.append(self.learn.yb.clone())

        learn.add_cb(Batches())
        learn.fit(1, 0.01)
        learn.fit(1, 0.01)
        return seen

    first, again = orders(3), orders(3)
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not torch.equal(first[0], first[1])


def test_bf16_mixed_precision_runs_the_forward_in_bf16(regression_learner):
    class Dtypes(Callback):
        def before_fit(self):
            self.seen = set()

        def after_pred(self):
            # Accelerate hands back fp32 outputs; the forward itself ran under bf16 autocast
            self.seen.add((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))

    dtypes = Dtypes()
    learn = regression_learner(mixed_precision="bf16", cbs=[dtypes])
    learn.fit_one_cycle(15, 0.5)
    assert dtypes.seen == {(True, torch.bfloat16)}
    assert learn.recorder.values[-1]["valid_loss"] < 0.01
    assert learn.get_preds()["preds"].dtype == torch.float32


def test_unknown_mixed_precision_is_a_clear_error():
    with pytest.raises(
        ValueError, match="mixed_precision must be 'auto', 'no', 'bf16' or 'fp16', got 'fp8'"
    ):
        Learner(nn.Linear(3, 1), tiny_dls(), nn.MSELoss(), mixed_precision="fp8")


# ---------------------------------------------------------------- fastai users' traps
def test_fastai_argument_order_is_caught_in_one_line():
    with pytest.raises(TypeError, match=r"model first.*Learner\(model, dls"):
        Learner(tiny_dls(), nn.Linear(3, 1), nn.MSELoss())


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"dls": torch.utils.data.DataLoader(torch.arange(4))}, r"dls must be a DataLoaders"),
        ({"metrics": ["accuracy"]}, r"metrics\[0\] must be a function"),
        ({"lr": -1e-3}, r"lr must be a finite number >= 0, got -0.001"),
        ({"wd": -0.1}, r"wd must be a finite number >= 0, got -0.1"),
    ],
)
def test_senseless_learner_arguments_fail_at_the_edge(kwargs, match):
    args = {"model": nn.Linear(3, 1), "dls": tiny_dls(), "loss_func": nn.MSELoss(), **kwargs}
    with pytest.raises((TypeError, ValueError), match=match):
        Learner(**args)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda learn: learn.fit(0), r"n_epoch must be a whole number >= 1, got 0"),
        (lambda learn: learn.fit(2.5), r"n_epoch must be a whole number >= 1, got 2.5"),
        (lambda learn: learn.fit(1, lr=-0.1), r"lr must be a finite number >= 0, got -0.1"),
        (lambda learn: learn.fit(1, lr=float("nan")), r"lr must be a finite number >= 0"),
        (lambda learn: learn.fit_one_cycle(0, 1e-3), r"n_epoch must be a whole number >= 1"),
        (lambda learn: learn.fit_one_cycle(1, -1e-3), r"lr must be a finite number >= 0"),
        (lambda learn: learn.fit(1, wd=-1.0), r"wd must be a finite number >= 0"),
        (lambda learn: learn.fit_one_cycle(1, 1e-3, pct_start=1.5), r"pct_start .* got 1.5"),
        (lambda learn: learn.fine_tune(0, freeze_epochs=0), r"epochs must be a whole number >= 1"),
    ],
)
def test_senseless_fit_arguments_fail_before_training(call, match):
    learn = tiny_learner()
    before = copy.deepcopy(learn.model.state_dict())
    with pytest.raises(ValueError, match=match):
        call(learn)
    assert all(torch.equal(before[k], v) for k, v in learn.model.state_dict().items())


def test_a_single_metric_function_is_accepted(titanic_tensors):
    from rung.metrics import accuracy

    x_tr, y_tr, x_va, y_va = titanic_tensors
    dls = DataLoaders(TensorLoader(x_tr, y_tr, batch_size=64), TensorLoader(x_va, y_va))
    learn = Learner(nn.Linear(6, 2), dls, nn.CrossEntropyLoss(), metrics=accuracy, progress=False)
    learn.fit(1, 0.05)
    assert 0.5 < learn.recorder.values[-1]["accuracy"] <= 1.0


def _titanic_learner(titanic_tensors, **kwargs) -> Learner:
    from rung.models.registry import build_model

    x_tr, y_tr, x_va, y_va = titanic_tensors
    dls = DataLoaders(
        TensorLoader(x_tr, y_tr, batch_size=64, shuffle=True, seed=0),
        TensorLoader(x_va, y_va, batch_size=64),
        classes=["died", "survived"],
    )
    torch.manual_seed(0)
    model = build_model("mlp", n_in=6, n_out=2, layers=[16])
    return Learner(model, dls, nn.CrossEntropyLoss(), progress=False, **kwargs)


def test_get_preds_unpacks_to_values_and_reads_by_name(titanic_tensors):
    learn = _titanic_learner(titanic_tensors)
    learn.fit_one_cycle(2, 3e-2)
    preds, targets = learn.get_preds()
    assert preds.shape == (178, 2) and torch.equal(targets, titanic_tensors[3])
    out = learn.get_preds(with_loss=True, with_decoded=True)
    preds, targets, decoded, losses = out  # fastai's order
    assert out["preds"] is preds and out["targets"] is targets and out["losses"] is losses
    assert list(out.keys()) == ["preds", "targets", "decoded", "losses"]
    assert torch.equal(decoded, preds.argmax(1)) and losses.shape == (178,)


def test_get_preds_decodes_a_single_logit_to_classes(titanic_tensors):
    # BCEWithLogitsLoss with one output: decoded is 0/1 (probability above 0.5), not the
    # probabilities themselves
    x_tr, y_tr, x_va, y_va = titanic_tensors
    as_float = lambda y: y.float().unsqueeze(1)  # noqa: E731
    dls = DataLoaders(TensorLoader(x_tr, as_float(y_tr)), TensorLoader(x_va, as_float(y_va)))
    torch.manual_seed(0)
    model = nn.Linear(6, 1)
    learn = Learner(model, dls, nn.BCEWithLogitsLoss(), progress=False)
    learn.fit(2, 0.1)
    out = learn.get_preds(with_decoded=True)
    with torch.no_grad():
        logits = model(x_va)
    assert torch.equal(out["decoded"], (logits > 0).long())
    assert 0 < out["decoded"].sum() < len(x_va)
    assert torch.allclose(out["preds"], torch.sigmoid(logits))


def test_validate_gives_the_last_epochs_loss_and_metrics_without_training(titanic_tensors):
    from rung.metrics import accuracy

    learn = _titanic_learner(titanic_tensors, metrics=[accuracy])
    learn.fit_one_cycle(2, 3e-2)
    weights = copy.deepcopy(learn.model.state_dict())
    results = learn.validate()
    record = learn.recorder.values[-1]
    assert set(results) == {"valid_loss", "accuracy"}
    assert results["valid_loss"] == pytest.approx(record["valid_loss"], rel=1e-6)
    assert results["accuracy"] == pytest.approx(record["accuracy"])
    assert all(torch.equal(weights[k], v) for k, v in learn.model.state_dict().items())


def test_predict_one_item_gives_the_label_index_and_probabilities(titanic_tensors):
    learn = _titanic_learner(titanic_tensors)
    learn.fit_one_cycle(3, 3e-2)
    x_va = titanic_tensors[2]
    preds = learn.get_preds()["preds"]
    for i in (0, 1, 2):
        result = learn.predict(x_va[i].tolist())  # a plain list of numbers works too
        assert result.index == int(preds[i].argmax())
        assert result.label == ["died", "survived"][result.index]
        assert result.probs["survived"] == pytest.approx(float(preds[i, 1]), abs=1e-6)
    # women in first class survive in this data; a man in third class mostly doesn't
    woman_first = x_va[(x_va[:, 0] == 1 / 3) & (x_va[:, 1] == 1)][0]
    assert learn.predict(woman_first).label == "survived"


def test_show_results_prints_targets_against_predictions(titanic_tensors, capsys):
    learn = _titanic_learner(titanic_tensors)
    learn.fit_one_cycle(2, 3e-2)
    rows = learn.show_results(n=4)
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["target", "prediction", "probability"] and len(out) == 5
    assert [r["target"] for r in rows] == [
        ["died", "survived"][int(t)] for t in titanic_tensors[3][:4]
    ]
