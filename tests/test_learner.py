"""The training loop: event order, cancellation, refusal without validation data, training."""

from __future__ import annotations

import pytest
import torch
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


def test_seeded_learners_train_identically():
    def run():
        dls = DataLoaders.from_tensors(torch.randn(64, 3), torch.randn(64, 1), batch_size=8)
        learn = Learner(nn.Linear(3, 1), dls, nn.MSELoss(), seed=7, progress=False)
        learn.fit(2, 0.01)
        return learn.model.weight.detach().clone()

    torch.manual_seed(1)
    a = run()
    torch.manual_seed(1)
    b = run()
    assert torch.equal(a, b)


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
