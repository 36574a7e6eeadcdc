"""Resume after an interrupt continues the same schedule; best-model and early stopping."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from rung.callbacks.checkpoint import CheckpointEveryEpoch, EarlyStopping, SaveBest, load_checkpoint
from rung.callbacks.core import Callback


class InterruptAt(Callback):
    """Simulates Ctrl-C in the middle of an epoch."""

    def __init__(self, epoch: int, batch: int = 2) -> None:
        self.epoch, self.batch = epoch, batch

    def after_batch(self):
        if self.learn.training and self.learn.epoch == self.epoch and self.learn.iter == self.batch:
            raise KeyboardInterrupt


def test_resume_after_an_interrupt_continues_the_same_schedule(regression_learner, tmp_path):
    straight = regression_learner(seed=3)
    straight.fit_one_cycle(4, 0.1)

    first = regression_learner(seed=3)
    first.path = tmp_path
    with pytest.raises(KeyboardInterrupt):
        first.fit_one_cycle(4, 0.1, cbs=[CheckpointEveryEpoch(), InterruptAt(epoch=2)])
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    assert ckpt.is_file()
    assert sorted(zipfile.ZipFile(ckpt).namelist()) == [
        "model.safetensors", "optimizer.safetensors", "rng.safetensors", "state.json"]  # fmt: skip
    assert not list(ckpt.parent.glob("*.tmp"))

    resumed = regression_learner(seed=99)  # different init: everything must come from the file
    resumed.fit_one_cycle(4, 0.1, resume=ckpt)
    assert [v["epoch"] for v in resumed.recorder.values] == [0, 1, 2, 3]
    assert np.allclose(np.array(resumed.recorder.lrs), np.array(straight.recorder.lrs))
    assert np.allclose(resumed.recorder.moms, straight.recorder.moms)
    for a, b in zip(resumed.model.parameters(), straight.model.parameters()):
        assert torch.allclose(a, b, atol=1e-6)
    assert resumed.recorder.values[-1]["valid_loss"] == pytest.approx(
        straight.recorder.values[-1]["valid_loss"], rel=1e-5
    )


def test_a_damaged_checkpoint_is_a_clear_error(regression_learner, tmp_path):
    bad = tmp_path / "last.ckpt"
    bad.write_bytes(b"not a zip")
    learn = regression_learner()
    learn.create_opt()
    with pytest.raises(ValueError, match="not a rung checkpoint"):
        load_checkpoint(learn, bad)
    with pytest.raises(FileNotFoundError, match="CheckpointEveryEpoch"):
        load_checkpoint(learn, tmp_path / "missing.ckpt")


def test_early_stopping_stops_when_the_metric_stalls(regression_learner):
    learn = regression_learner()
    stop = EarlyStopping(monitor="valid_loss", patience=2)
    # lr 0: the loss never improves after the first epoch
    learn.fit(10, lr=0.0, cbs=[stop])
    assert len(learn.recorder.values) == 3
    assert stop.stopped_epoch == 2


def test_save_best_puts_back_the_best_epoch(regression_learner, tmp_path):
    learn = regression_learner()
    best = SaveBest(monitor="valid_loss")
    learn.fit(4, lr=0.05, cbs=[best])
    learn.fit(1, lr=5.0)  # a ruinous extra epoch, without SaveBest
    ruined = learn.get_preds()
    ruined_loss = torch.nn.functional.mse_loss(ruined["preds"], ruined["targets"]).item()
    learn.model.load_state_dict(best.state)
    out = learn.get_preds()
    best_loss = torch.nn.functional.mse_loss(out["preds"], out["targets"]).item()
    assert best_loss == pytest.approx(
        min(v["valid_loss"] for v in learn.recorder.history[:4]), rel=1e-4
    )
    assert best_loss < ruined_loss
    path = best.save(tmp_path / "best.safetensors")
    assert path.stat().st_size > 0


def test_a_checkpoint_path_with_a_folder_is_used_as_given_even_when_relative(
    regression_learner, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    run_dir = Path("runs") / "r1"
    learn = regression_learner(path=run_dir)
    learn.fit(1, 0.1, cbs=[CheckpointEveryEpoch(run_dir / "last.ckpt")])
    assert (tmp_path / run_dir / "last.ckpt").is_file()
    assert not (tmp_path / run_dir / "runs").exists()
    learn.fit(1, 0.1, cbs=[CheckpointEveryEpoch("bare.ckpt")])  # a bare name: under learn.path
    assert (tmp_path / run_dir / "bare.ckpt").is_file()
