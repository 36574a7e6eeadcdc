"""A finished image run read back: its images as training split them, and their interpretation.

``rung interpret RUN`` and ``rung clean RUN`` start here: the run folder holds ``model.rung`` and
``config.json`` (the data folder, how it was labelled and split, the preprocessing).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["RunImages", "run_paths", "run_image_data", "interpret_run"]


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
