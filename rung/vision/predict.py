"""Predicting with an image model file: one image, many, or a folder to a CSV; TTA.

:class:`ImagePredictor` is what ``rung.load`` returns for a model file of kind ``"image"``. It
imports no training code: the model is rebuilt from the file's spec, and each image is
preprocessed by :func:`rung.vision.io.preprocess_image` with the file's settings, exactly as
the validation set was during training.

>>> import tempfile, torch
>>> from PIL import Image
>>> from rung.modelfile import save_model_file
>>> from rung.models.registry import build_model
>>> model = build_model("timm", arch="resnet18", n_classes=2, pretrained=False)
>>> settings = {"size": 32, "resize": "squish", "mean": [0.5] * 3, "std": [0.5] * 3}
>>> config = {"kind": "image", "task": "classification", "classes": ["a", "b"], "preprocessing": settings}
>>> path = save_model_file(tempfile.mkdtemp() + "/m.rung", model, config)
>>> prediction = ImagePredictor.from_model_file(path).predict(Image.new("RGB", (50, 40), "red"))
>>> prediction.label in ("a", "b"), round(sum(prediction.probs.values()), 4)
(True, 1.0)
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rung.predictor import ClassPrediction, ClassPredictions, Predictor
from rung.vision.io import IMAGE_EXTENSIONS
from rung.vision.pixels import check_preprocessing

if TYPE_CHECKING:
    import torch

__all__ = ["ImagePredictor", "FolderPredictions"]


@dataclass
class FolderPredictions:
    """Predictions for the image files of a folder: ``files`` (those predicted), their
    ``predictions``, ``errors`` (file -> why it couldn't be read) and the CSV path if written."""

    files: list[Path]
    predictions: ClassPredictions
    errors: dict[Path, str]
    csv: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        classes = [str(c) for c in self.predictions.classes]
        return {
            "predictions": [
                {"path": str(f), "label": str(lab), "probs": dict(zip(classes, map(float, p)))}
                for f, lab, p in zip(self.files, self.predictions.labels, self.predictions.probs)
            ],
            "errors": {str(k): v for k, v in self.errors.items()},
            "csv": None if self.csv is None else str(self.csv),
        }


class ImagePredictor(Predictor):
    """Predicts the class of images with a model file of kind ``"image"``.

    The file's ``preprocessing`` (size, resize method, mean, std) is applied exactly as the
    validation set was during training. ``tta=True`` (test-time augmentation) averages the
    probabilities of the image and its flips, only those the model was trained with
    (``preprocessing["flip"]`` / ``["flip_vert"]``; a file without them: none, so TTA gives
    the plain prediction). Images over ``max_pixels`` (None:
    :data:`rung.vision.io.MAX_PIXELS`) are refused before they are decoded.
    """

    batch_size = 64
    max_pixels: int | None = None

    def __init__(self, model: Any, config: dict[str, Any], path: Path | None = None) -> None:
        from rung.modelfile import ModelFileError

        super().__init__(model, config, path)
        where = path or "this model"
        self.classes = list(config.get("classes") or [])
        if not self.classes:
            raise ModelFileError(where, "its config names no classes.", "Export it again.")
        self.preprocessing = dict(config.get("preprocessing") or {})
        missing = [k for k in ("size", "resize", "mean", "std") if k not in self.preprocessing]
        if missing:
            raise ModelFileError(where, f"its preprocessing lacks {missing}.", "Export it again.")
        try:  # the file comes from outside: check its settings before any image is allocated
            check_preprocessing(self.preprocessing)
        except ValueError as e:
            raise ModelFileError(where, str(e), "Export it again.") from None
        outputs = getattr(getattr(model, "model", model), "num_classes", None)
        if outputs is not None and outputs != len(self.classes):
            raise ModelFileError(
                where,
                f"its config names {len(self.classes)} classes {self.classes[:5]} but the model "
                f"has {outputs} outputs; each probability would go to the wrong class.",
                "Export it again.",
            )

    @property
    def tta_flips(self) -> list[tuple[int, ...]]:
        """The views TTA averages, as dims to flip a (B, 3, H, W) batch along: ``()`` (the
        image itself), ``(-1,)`` (mirrored) when the model was trained with ``flip``, ``(-2,)``
        and ``(-2, -1)`` with ``flip_vert``."""
        flips = [()]
        if self.preprocessing.get("flip") is True:
            flips.append((-1,))
        if self.preprocessing.get("flip_vert") is True:
            flips += [(-2,), (-2, -1)] if len(flips) == 2 else [(-2,)]
        return flips

    def predict(self, source: Any, tta: bool = False) -> ClassPrediction | ClassPredictions:
        """One image (a path, a PIL image or the file's bytes) -> ClassPrediction (label,
        index, probs by class). A list of them -> ClassPredictions."""
        if isinstance(source, (list, tuple)):
            return self.predict_many(source, tta=tta)
        return self.predict_many([source], tta=tta)[0]

    def predict_many(
        self, sources: Sequence[Any], tta: bool = False, batch_size: int | None = None
    ) -> ClassPredictions:
        """Predict many images; any unreadable one is an error naming it (see
        :meth:`predict_folder` to skip them instead)."""
        import torch

        batch_size = batch_size or self.batch_size
        chunks = []
        for start in range(0, len(sources), batch_size):
            x = torch.cat([self._load(s) for s in sources[start : start + batch_size]])
            chunks.append(self.probs(x, tta=tta))
        probs = torch.cat(chunks) if chunks else torch.zeros(0, len(self.classes))
        return self._decode(probs)

    def probs(self, x: torch.Tensor, tta: bool = False) -> torch.Tensor:
        """Class probabilities (B, C) for a preprocessed batch x (B, 3, S, S), on the CPU."""
        import torch

        flips = self.tta_flips if tta else [()]
        with torch.inference_mode():
            x = x.to(self.device)
            p = sum(torch.softmax(self.model(x.flip(d) if d else x).float(), dim=1) for d in flips)
        return (p / len(flips)).cpu()

    def predict_files(
        self, files: Sequence[str | os.PathLike], tta: bool = False
    ) -> tuple[list[Path], ClassPredictions, dict[Path, str]]:
        """Predict image files, setting aside the ones that can't be read:
        ``(files predicted, their predictions, {unreadable file: why})``."""
        import torch

        done, batch, chunks, errors = [], [], [], {}
        for f in map(Path, files):
            try:
                batch.append(self._load(f))  # (1, 3, S, S); unsupported files raise ValueError
                done.append(f)
            except (ValueError, OSError) as e:  # unreadable, vanished, a folder
                errors[f] = str(e)
            if len(batch) == self.batch_size:  # a batch at a time: memory stays flat
                chunks.append(self.probs(torch.cat(batch), tta=tta))
                batch = []
        if batch:
            chunks.append(self.probs(torch.cat(batch), tta=tta))
        probs = torch.cat(chunks) if chunks else torch.zeros(0, len(self.classes))
        return done, self._decode(probs), errors

    def predict_for_cli(
        self, source: Path, out: Path | None = None, tta: bool = False
    ) -> dict[str, Any]:
        """``rung predict MODEL IMAGE|FOLDER [--out CSV] [--tta]``: one image gives its label
        and probabilities; a folder gives a row per image (a CSV with ``out``)."""
        if Path(source).is_dir():
            result = self.predict_folder(source, out=out, tta=tta)
            found = result.to_dict()
            where = f"; wrote {out}" if out is not None else ""
            errors = f", {len(result.errors)} unreadable" if result.errors else ""
            found["summary"] = f"predicted {len(result.files)} images{errors}{where}"
            if out is None:
                found["summary"] += "\n" + "\n".join(
                    f"{p['path']}: {p['label']} ({p['probs'][p['label']]:.4f})"
                    for p in found["predictions"]
                )
            return found
        one = self.predict(source, tta=tta)
        probs = {str(k): float(v) for k, v in one.probs.items()}
        lines = [f"{source}: {one.label} (probability {probs[str(one.label)]:.4f})"]
        lines += [f"  {k}: {v:.4f}" for k, v in sorted(probs.items(), key=lambda kv: -kv[1])]
        return {"path": str(source), "label": str(one.label), "index": one.index, "probs": probs,
                "summary": "\n".join(lines)}  # fmt: skip

    def predict_folder(
        self,
        folder: str | os.PathLike,
        out: str | os.PathLike | None = None,
        tta: bool = False,
    ) -> FolderPredictions:
        """Predict every image file under ``folder`` (all subfolders); files that can't be
        read are listed in ``errors``, not fatal. ``out``: write a CSV with columns
        ``path, label, probability, prob_<class>..., error``."""
        from rung.vision.io import get_image_files, unsupported_file

        folder = Path(folder)
        if not folder.is_dir():
            raise NotADirectoryError(
                f"{str(folder)!r} is not a folder"
                + (" (it is a file: use predict(path))" if folder.is_file() else "")
                + "."
            )
        files = get_image_files(folder)
        others = {
            p: reason
            for p in sorted(folder.rglob("*"))
            if not any(part.startswith(".") for part in p.relative_to(folder).parts)
            and p.is_file()
            and (reason := unsupported_file(p)) is not None
        }
        if not files:
            seen = f"; it holds {len(others)} other files, e.g. {next(iter(others.values()))}"
            raise ValueError(
                f"no image files ({', '.join(IMAGE_EXTENSIONS)}) found in {folder}"
                + (seen if others else ".")
            )
        result = FolderPredictions(*self.predict_files(files, tta=tta))
        result.errors.update(others)  # the same message as for one such file
        if out is not None:
            result.csv = self._write_csv(Path(out), result)
        return result

    def _write_csv(self, path: Path, result: FolderPredictions) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        preds = result.predictions
        with open(path, "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(
                ["path", "label", "probability", *[f"prob_{c}" for c in self.classes], "error"]
            )
            for file, label, index, p in zip(
                result.files, preds.labels, preds.indices, preds.probs
            ):
                writer.writerow([str(file), label, f"{p[index]:.6f}", *[f"{v:.6f}" for v in p], ""])
            for file, error in result.errors.items():
                writer.writerow([str(file), "", "", *[""] * len(self.classes), error])
        return path

    def _load(self, source: Any) -> torch.Tensor:
        from rung.vision.io import preprocess_image, unsupported_file

        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if path.is_dir():
                raise IsADirectoryError(
                    f"{str(path)!r} is a folder; predict its images with "
                    f"predict_folder({str(path)!r}, out='predictions.csv')."
                )
            if not path.exists():
                raise FileNotFoundError(
                    f"image {str(path)!r} does not exist"
                    + _near_files(path)
                    + f"; give the path of an image file ({', '.join(IMAGE_EXTENSIONS)})."
                )
            if (reason := unsupported_file(path)) is not None:
                raise ValueError(reason)
        return preprocess_image(source, self.preprocessing, self.max_pixels)  # (1, 3, S, S)

    def _decode(self, probs: torch.Tensor) -> ClassPredictions:
        indices = probs.argmax(dim=1).numpy() if len(probs) else np.zeros(0, dtype=np.int64)
        return ClassPredictions(
            [self.classes[i] for i in indices], indices, probs.numpy(), list(self.classes)
        )


def _near_files(path: Path) -> str:
    import difflib

    parent = path.parent
    if not parent.is_dir():
        return f" (nor does its folder {str(parent)!r})"
    near = difflib.get_close_matches(path.name, [p.name for p in parent.iterdir()], n=1)
    return f"; did you mean {str(parent / near[0])!r}?" if near else ""
