"""An image run's folder: written at the end of training, read back by interpret and clean.

:func:`write_run` is the last step of :func:`rung.vision.train.train_images`: the model file,
metrics, plots, ``config.json``, ``result.json``, the writeup and the runs index.
``rung interpret RUN`` and ``rung clean RUN`` start from what it wrote: the run folder holds
``model.rung`` and ``config.json`` (the data folder, how it was labelled and split, the
preprocessing).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rung.learner import Learner

__all__ = [
    "ImageTrainResult",
    "write_run",
    "export_image_model",
    "RunImages",
    "run_paths",
    "run_image_data",
    "interpret_run",
]


@dataclass
class ImageTrainResult:
    """What :func:`~rung.vision.train.train_images` did: where the run is, the model file, the
    final metrics."""

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
    phases: dict[str, float] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)

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

    def _repr_html_(self) -> str:
        from rung.report.notebook import result_html

        return result_html("Image run", self.metrics, self.summary(), self.files.values())

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (paths as strings), e.g. for ``rung train images --json``."""
        from rung.models.registry import json_ready

        return json_ready(
            {k: getattr(self, k) for k in self.__dataclass_fields__}, "ImageTrainResult"
        )


def export_image_model(learn: Learner, path: str | os.PathLike) -> Path:
    """Write the model file of an image Learner: weights, architecture, classes and the
    preprocessing prediction repeats (with the flips training used, for TTA)."""
    from rung.models.registry import model_spec

    dls, model = learn.dls, learn.model
    return learn.export(
        path, kind="image", task="classification", classes=dls.classes,
        preprocessing={**dls.preprocessing, "interpolation": "bilinear"},
        arch=model_spec(model)["kwargs"]["arch"], weights=model.weights,
        weights_data_config=model.data_config,
    )  # fmt: skip


def write_run(
    learn: Learner,
    run_dir: str | os.PathLike,
    settings: dict[str, Any],
    plots: bool = True,
    say: Callable[[str], Any] | None = None,
) -> ImageTrainResult:
    """Finish a run folder after training: ``metrics.csv``, ``model.rung``, ``config.json``,
    ``result.json``, and (``plots``) the loss curve, interpretation plots and the writeup; then
    add the run to the runs index. The interpretation reuses the last validation pass (call
    this right after the fit).

    ``settings``: how it was trained, for the config: ``lr``, ``lr_source``, ``epochs``, and
    optionally ``freeze_epochs``, ``train_seconds``, ``started`` (a ``time.perf_counter()``),
    ``label``, ``split``, ``pretrained``, ``lr_mult``, ``plan`` and ``lr_find`` (dicts), ``phases`` (a
    :class:`~rung.report.phases.Phases`: the interpretation, export and report are timed into
    it, and config.json and result.json get its seconds). ``say``: progress messages.
    """
    from rung.interpret import ClassificationInterpretation
    from rung.report import record_run, save_json, write_writeup
    from rung.report.phases import Phases, epoch_phases

    say = say or (lambda message: None)
    run_dir = Path(run_dir)
    phases = settings.get("phases") or Phases(settings.get("started"))
    files = {
        p.stem: p for p in (run_dir / "show_batch.png", run_dir / "lr_find.png") if p.is_file()
    }
    files["metrics"] = learn.recorder.to_csv(run_dir / "metrics.csv")
    if plots:
        say("interpretation: confusion matrix and top losses, from the last validation pass")
        with phases("interpretation"):
            files["loss"] = learn.recorder.plot_loss(run_dir / "loss.png")
            interp = ClassificationInterpretation.from_last_validation(learn)
            files.update(interp.save(run_dir, k=9, with_images=interp.items is not None))
    say("export: model.rung (weights as safetensors, settings as JSON)")
    with phases("export"):
        files["model"] = export_image_model(learn, run_dir / "model.rung")
    config = _run_config(learn, settings)
    frozen = settings.get("freeze_epochs", 0)
    epochs = epoch_phases(learn.recorder.history, 1 if frozen else 0, _epoch_sizes(settings))
    config["phases"] = _phase_table(phases, epochs)
    started = phases.started
    dls, metrics = learn.dls, config["metrics"]
    result = ImageTrainResult(
        run_dir=run_dir, model_path=files["model"], metrics=metrics, classes=list(dls.classes),
        arch=config["arch"], weights=learn.model.weights, lr=settings["lr"],
        lr_source=settings["lr_source"], size=dls.size, epochs=settings["epochs"],
        freeze_epochs=settings.get("freeze_epochs", 0), n_train=config["data"]["n_train"],
        n_valid=config["data"]["n_valid"], seconds=time.perf_counter() - started, files=files,
        history=learn.recorder.history, plan=settings.get("plan") or {},
    )  # fmt: skip
    config["duration_s"] = result.seconds
    files["config"] = save_json(run_dir / "config.json", config)
    files["result"] = run_dir / "result.json"
    if plots:
        say("report: writeup (report.html, report.md)")
        with phases("report"):
            title = f"{Path(dls.info['source']).name}: image classifier"
            written = write_writeup(run_dir, title=title)
        files.update({f"report_{k}": v for k, v in written.items()})
    config["phases"] = result.phases = _phase_table(phases, epochs)
    result.seconds = config["duration_s"] = config["phases"]["total"]
    save_json(files["config"], config)
    save_json(files["result"], result.to_dict())
    record_run(run_dir)
    return result


def _epoch_sizes(settings: dict[str, Any]) -> list[int] | None:
    plan = settings.get("plan") or {}
    if not plan.get("sizes"):
        return None
    return [plan["freeze_size"]] * plan.get("freeze_epochs", 0) + list(plan["sizes"])


def _phase_table(phases: Any, epochs: dict[str, float]) -> dict[str, float]:
    """set-up, LR finder, each epoch (in place of the training phase), then the rest."""
    out: dict[str, float] = {}
    for name, seconds in phases.to_dict().items():
        if name == "training" and epochs:
            out.update(epochs)
            rest = seconds - sum(epochs.values())
            if rest > 0.05:
                out["training (between epochs)"] = round(rest, 2)
        else:
            out[name] = seconds
    return out


def _run_config(learn: Learner, settings: dict[str, Any]) -> dict[str, Any]:
    """``config.json``: what the data, model and training were (and what the runs index,
    the writeup, interpret and clean read back)."""
    from rung.models.registry import model_spec
    from rung.vision.callbacks import ChannelsLast

    dls, opts, model = learn.dls, learn.dls.options, learn.model
    label = settings.get("label", "folder")
    arch = model_spec(model)["kwargs"]["arch"]
    folder = str(Path(dls.info["source"]).resolve())
    metrics = learn.recorder.final_metrics()
    return {
        "task": "image classification",
        "data": {
            "folder": folder, "path": folder, "label": label if isinstance(label, str) else repr(label),
            "split": settings.get("split", "auto"), "split_used": dls.info["split"],
            "valid_pct": opts.valid_pct, "seed": opts.seed, "classes": list(dls.classes),
            "n_train": len(dls.train.dataset), "n_valid": len(dls.valid.dataset),
            "skipped": [[str(s.path), s.reason] for s in dls.skipped],
        },
        "preprocessing": {**dls.preprocessing, "interpolation": "bilinear"},
        "augment": opts.augment.to_dict() if opts.augment is not None else None,
        "model": {"arch": arch, "weights": model.weights, "pretrained": settings.get("pretrained"),
                  "data_config": model.data_config},
        "training": {
            "epochs": settings["epochs"], "freeze_epochs": settings.get("freeze_epochs", 0),
            "lr": settings["lr"], "lr_source": settings["lr_source"],
            "lr_mult": settings.get("lr_mult"), "batch_size": opts.batch_size, "item_size": opts.item_size or opts.size,
            "device": str(learn.device), "mixed_precision": learn.mixed_precision,
            "channels_last": any(isinstance(cb, ChannelsLast) for cb in learn.cbs),
            "train_seconds": settings.get("train_seconds"),
            "plan": settings.get("plan"),
        },
        "lr_find": settings.get("lr_find"),
        "metrics": metrics,
        # what the writeup and the runs index read
        "facts": _facts(dls),
        "app": "images", "arch": arch, "classes": list(dls.classes), "main_metric": "accuracy",
    }  # fmt: skip


def _facts(dls: Any) -> dict[str, Any]:
    """The writeup's facts: the split, the classes on each side, the majority-class baseline."""
    from rung.report.facts import run_facts, split_facts

    how, opts, n = dls.info["split"], dls.options, (len(dls.train.dataset), len(dls.valid.dataset))
    kind = "random" if how.startswith("random") else "folder" if "folder" in how else "column"
    pct_seed = (opts.valid_pct, opts.seed) if kind == "random" else (None, None)
    split = split_facts(kind, *n, *pct_seed)
    labels = (dls.train.dataset.labels, dls.valid.dataset.labels)
    return run_facts(*labels, "classification", split, classes=dls.classes)


def run_paths(run: str | os.PathLike) -> tuple[Path, Path, dict[str, Any]]:
    """(run folder, model file, run config) for a run folder or its model file."""
    run = Path(run)
    if run.is_file():
        run = run.parent
    model_path, config_path = run / "model.rung", run / "config.json"
    for p in (model_path, config_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"{str(run)!r} is not a finished image run: it has no {p.name}. Give a folder "
                "that `rung train images` (or rung.vision.train.train_images) wrote, e.g. runs/<run>/."
            )
    return run, model_path, json.loads(config_path.read_text())


@dataclass
class RunImages:
    """The labelled images a run was trained on, as its folder holds them now."""

    files: list[Path]
    labels: list[str]
    is_valid: list[bool]
    root: Path


def run_image_data(run: str | os.PathLike, data: str | os.PathLike | None = None) -> RunImages:
    """The images of a run's data folder (or ``data``), labelled and split as training did.

    The split is rebuilt with the run's own settings (folders, or valid_pct and seed); if files
    were added, moved or removed since, a random split changes with them.
    """
    from rung.vision.data import ImageDataLoaders

    run_dir, _, config = run_paths(run)
    d = config["data"]
    root = Path(data) if data is not None else Path(d["folder"])
    if d.get("label", "folder") != "folder":
        raise ValueError(
            f"the run {run_dir} labelled its images with {d['label']}; only runs labelled by "
            "folder names can be re-read here."
        )
    pp = config["preprocessing"]
    dls = ImageDataLoaders.from_folder(
        root, valid_pct=d["valid_pct"], seed=d["seed"], size=pp["size"], resize=pp["resize"],
        augment=None, batch_size=64, split=d.get("split", "auto"), mean=pp["mean"],
        std=pp["std"], num_workers=0,
    )  # fmt: skip
    files, labels, is_valid = [], [], []
    for loader, valid in ((dls.train, False), (dls.valid, True)):
        ds = loader.dataset
        files += [Path(f) for f in ds.files]
        labels += [dls.classes[i] for i in ds.labels]
        is_valid += [valid] * len(ds.files)
    return RunImages(files, labels, is_valid, root)


def interpret_run(
    run: str | os.PathLike,
    out: str | os.PathLike | None = None,
    k: int = 9,
    data: str | os.PathLike | None = None,
) -> dict[str, Any]:
    """Re-predict a run's validation images with its model file and write the interpretation
    (confusion matrix, most confused, top losses; into the run folder unless ``out``).

    Returns a JSON-ready summary with the written files.

    >>> summary = interpret_run("runs/20250101-120000-birds")  # doctest: +SKIP
    >>> summary["most_confused"][:1], summary["files"]["top_losses"]  # doctest: +SKIP
    ([['bird', 'forest', 2]], 'runs/20250101-120000-birds/top_losses.png')
    """
    from rung.interpret import ClassificationInterpretation
    from rung.predictor import load

    run_dir, model_path, _ = run_paths(run)
    images = run_image_data(run_dir, data)
    predictor = load(model_path)
    classes = list(predictor.classes)
    valid = [(f, lab) for f, lab, v in zip(images.files, images.labels, images.is_valid) if v]
    unknown = sorted({lab for _, lab in valid if lab not in classes})
    if unknown:
        raise ValueError(
            f"the data has classes {unknown} that the model doesn't know ({classes}); "
            "train a new model on it."
        )
    preds = predictor.predict_many([f for f, _ in valid])
    interp = ClassificationInterpretation(
        preds.probs,
        [classes.index(lab) for _, lab in valid],
        classes=classes,
        items=[f for f, _ in valid],
    )
    files = interp.save(Path(out) if out is not None else run_dir, k=k)
    summary = interp.summary(k)
    summary["files"] = {name: str(p) for name, p in files.items()}
    return summary
