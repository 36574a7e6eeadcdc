"""benchmarks/time_to_accuracy.py's pieces that need no training: the --smoke subset, the
hand-written LR sweep and the report. The whole benchmark is run with --smoke by hand."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location(
    "time_to_accuracy", ROOT / "benchmarks" / "time_to_accuracy.py"
)
tta = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tta)


def test_the_smoke_subset_links_a_few_images_per_class_of_each_split(tmp_path: Path) -> None:
    data = tmp_path / "pets"
    for split in ("train", "val"):
        for cls in ("cats", "dogs"):
            (data / split / cls).mkdir(parents=True)
            for i in range(30):
                (data / split / cls / f"{i:02d}.jpg").write_bytes(b"x")
    root = tta.smoke_subset(data, tmp_path / "tmp")
    train = sorted((root / "train" / "cats").iterdir())
    assert len(train) == tta.SMOKE["train"] and train[0].is_symlink()
    assert train[0].resolve() == (data / "train" / "cats" / "00.jpg").resolve()
    assert len(list((root / "val" / "dogs").iterdir())) == tta.SMOKE["valid"]


def test_the_lr_sweep_runs_epoch_after_epoch_and_stops_once_the_loss_passes_4x_its_best() -> None:
    opt = torch.optim.AdamW(nn.Linear(2, 2).parameters())
    lrs = []

    def step(opt, xb, yb):  # the loss falls to 1 by step 30, then explodes
        lrs.append(opt.param_groups[0]["lr"])
        return 3.0 - len(lrs) / 15 if len(lrs) < 30 else 1.0 if len(lrs) < 40 else 1e3

    batches = [(None, None)] * 8  # an 8-batch "epoch"
    sweep = tta.lr_sweep(None, opt, batches, step, start=1e-7, end=10, num_it=100)
    assert sweep["iterations"] == len(lrs) == 40  # one 1e3 lifts the smooth loss past 4x
    assert lrs[0] == 1e-7 and lrs[1] / lrs[0] == pytest.approx(10 ** (8 / 100))
    assert 1e-7 < sweep["min_loss_lr_over_10"] < lrs[-1] / 10
    never = tta.lr_sweep(None, opt, batches, lambda *a: 1.0, start=1e-7, end=10, num_it=100)
    assert never["iterations"] == 100


def test_the_report_says_when_rungs_result_has_no_phases() -> None:
    side = {"n_train": 30, "n_valid": 10, "size": 64, "freeze_epochs": 1, "epochs": 1}
    side |= {"lr": 2e-3, "lr_source": "lr_find", "accuracy": 0.9, "wall_s": 10.0}
    results = {"data": "d", "smoke": True, "seed": 42, "time_ratio": 0.5}
    results |= {"rung": side, "baseline": side | {"wall_s": 20.0, "phases": {"lr_find": 7.0}}}
    text = tta.report(results)
    assert "| rung / baseline | 0.50x | +0.0000 |" in text
    assert "no `phases` entry" in text and "baseline phases (s): lr_find 7.0" in text
    results["rung"] = side | {"phases": {"set-up": 1.0}}
    assert "rung phases (s): set-up 1.0" in tta.report(results)
