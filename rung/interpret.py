"""Where a classifier is wrong: confusion matrix, most-confused pairs, top losses (with pictures).

Build it from a Learner (its validation predictions) or from predictions you already have:

>>> import numpy as np
>>> probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
>>> interp = ClassificationInterpretation(probs, targets=[0, 1, 1, 1], classes=["cat", "dog"])
>>> interp.confusion_matrix().tolist()          # rows: actual, columns: predicted
[[1, 0], [1, 2]]
>>> interp.most_confused()
[('dog', 'cat', 1)]
>>> top = interp.top_losses(1)[0]
>>> top.index, top.actual, top.predicted, round(top.loss, 3), round(top.probability, 2)
(2, 'dog', 'cat', 1.204, 0.7)
"""

from __future__ import annotations

import csv
import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from rung.learner import Learner

__all__ = ["ClassificationInterpretation", "TopLoss", "load_image_for_display"]


@dataclass(frozen=True)
class TopLoss:
    """One validation item the model got most wrong (or least sure about).

    ``probability`` is the model's probability for its ``predicted`` class; ``prob_actual``
    for the ``actual`` one. ``item`` is the item itself when known (an image's path).
    """

    index: int
    loss: float
    predicted: Any
    actual: Any
    probability: float
    prob_actual: float
    item: Any = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["item"] = None if self.item is None else str(self.item)
        return d


class ClassificationInterpretation:
    """A classifier's validation results, and the views of them that show its mistakes.

    Args:
        probs: (N, C) class probabilities (rows sum to 1).
        targets: (N,) the actual class indices.
        losses: (N,) per-item losses; by default cross-entropy, ``-log(probs[i, targets[i]])``.
        classes: C class names (indices when not given).
        items: N items (e.g. image paths) in the same order, for pictures and reports.
    """

    def __init__(
        self,
        probs: Any,
        targets: Any,
        losses: Any = None,
        classes: Sequence[Any] | None = None,
        items: Sequence[Any] | None = None,
    ) -> None:
        self.probs = _numpy(probs).astype(np.float64)
        self.targets = _numpy(targets).astype(np.int64).reshape(-1)
        if self.probs.ndim != 2 or len(self.probs) != len(self.targets):
            raise ValueError(
                f"probs must be (N, C) with one row per target; got probs {self.probs.shape} "
                f"and {len(self.targets)} targets."
            )
        n, c = self.probs.shape
        self.classes = list(classes) if classes is not None else list(range(c))
        if len(self.classes) != c:
            raise ValueError(f"{len(self.classes)} class names for {c} columns of probs.")
        if n and (self.targets.min() < 0 or self.targets.max() >= c):
            raise ValueError(f"targets must be class indices in [0, {c}), got {self.targets}.")
        if losses is None:
            picked = self.probs[np.arange(n), self.targets]
            losses = -np.log(np.clip(picked, 1e-12, 1.0))
        self.losses = _numpy(losses).astype(np.float64).reshape(-1)
        if len(self.losses) != n:
            raise ValueError(f"{len(self.losses)} losses for {n} predictions.")
        if items is not None and len(items) != n:
            raise ValueError(f"{len(items)} items for {n} predictions.")
        self.items = list(items) if items is not None else None
        self.decoded = self.probs.argmax(1) if n else np.zeros(0, dtype=np.int64)

    @classmethod
    def from_learner(
        cls,
        learn: Learner,
        dl: Any = None,
        classes: Sequence[Any] | None = None,
        items: Sequence[Any] | None = None,
    ) -> ClassificationInterpretation:
        """Predict ``dl`` (the validation set by default) with ``learn`` and interpret it.

        ``classes`` default to ``learn.dls.info["classes"]``; ``items`` to the loader's
        ``dataset.files`` (image paths), leaving out files the loader skipped as unreadable.
        A binary classifier with one output (``BCEWithLogitsLoss``: its predictions are the
        sigmoid, P(class 1)) becomes two columns, ``[1 - p, p]``.
        """
        dl = learn.dls.valid if dl is None else dl
        out = learn.get_preds(dl, with_loss=True, with_decoded=True)
        return cls._from_outputs(learn, dl, out, classes, items)

    @classmethod
    def from_last_validation(
        cls,
        learn: Learner,
        classes: Sequence[Any] | None = None,
        items: Sequence[Any] | None = None,
    ) -> ClassificationInterpretation:
        """Interpret the validation pass that ended ``learn``'s last fit, without predicting
        the validation set again (call it right after the fit: the pass is of the final
        weights). Falls back to :meth:`from_learner` when no pass was recorded.

        >>> interp = ClassificationInterpretation.from_last_validation(learn)  # doctest: +SKIP
        """
        from rung.callbacks.metrics import MetricsCallback
        from rung.callbacks.predictions import predictions_from

        kept = [cb.last_outputs for cb in learn.cbs if isinstance(cb, MetricsCallback)]
        if not kept or kept[0] is None:
            return cls.from_learner(learn, classes=classes, items=items)
        raw, targets = kept[0]
        out = predictions_from(raw.float(), targets, learn.loss_func, True, True)
        return cls._from_outputs(learn, learn.dls.valid, out, classes, items)

    @classmethod
    def _from_outputs(
        cls, learn: Learner, dl: Any, out: Any, classes: Any, items: Any
    ) -> ClassificationInterpretation:
        info = getattr(learn.dls, "info", {}) or {}
        classes = classes if classes is not None else info.get("classes")
        if items is None:
            items = _loader_items(dl, len(out["targets"]))
        probs = _numpy(out["preds"]).astype(np.float64)
        if probs.ndim == 1 or probs.shape[1] == 1:  # one output: P(class 1)
            p = probs.reshape(-1)
            probs = np.stack([1 - p, p], axis=1)
        return cls(probs, out["targets"], out["losses"], classes=classes, items=items)

    # ---------------------------------------------------------------- numbers
    @property
    def accuracy(self) -> float:
        """Fraction of items whose most probable class is the actual one."""
        return float((self.decoded == self.targets).mean()) if len(self.targets) else math.nan

    def confusion_matrix(self) -> np.ndarray:
        """(C, C) counts: row = actual class, column = predicted class."""
        c = len(self.classes)
        cm = np.zeros((c, c), dtype=np.int64)
        np.add.at(cm, (self.targets, self.decoded), 1)
        return cm

    def most_confused(self, min_val: int = 1) -> list[tuple[Any, Any, int]]:
        """``(actual, predicted, count)`` for off-diagonal cells with at least ``min_val``
        items, most frequent first."""
        cm = self.confusion_matrix()
        pairs = [
            (self.classes[a], self.classes[p], int(cm[a, p]))
            for a in range(len(cm))
            for p in range(len(cm))
            if a != p and cm[a, p] >= min_val
        ]
        return sorted(pairs, key=lambda t: -t[2])  # stable: ties stay in class order

    def top_losses(self, k: int | None = None, largest: bool = True) -> list[TopLoss]:
        """The ``k`` items with the largest losses (all, when None), highest first
        (``largest=False``: the smallest, i.e. the most confidently right)."""
        order = np.argsort(-self.losses if largest else self.losses, kind="stable")
        if k is not None:
            order = order[:k]
        return [self._top_loss(int(i)) for i in order]

    def _top_loss(self, i: int) -> TopLoss:
        p, t = int(self.decoded[i]), int(self.targets[i])
        return TopLoss(
            index=i,
            loss=float(self.losses[i]),
            predicted=self.classes[p],
            actual=self.classes[t],
            probability=float(self.probs[i, p]),
            prob_actual=float(self.probs[i, t]),
            item=self.items[i] if self.items is not None else None,
        )

    def summary(self, k: int = 9) -> dict[str, Any]:
        """JSON-ready: accuracy, classes, confusion matrix, most-confused pairs, top ``k`` losses."""
        return {
            "n_items": int(len(self.targets)),
            "accuracy": self.accuracy,
            "classes": [str(c) for c in self.classes],
            "confusion_matrix": self.confusion_matrix().tolist(),
            "most_confused": [[str(a), str(p), n] for a, p, n in self.most_confused()],
            "top_losses": [t.to_dict() for t in self.top_losses(k)],
        }

    # ---------------------------------------------------------------- pictures and files
    def plot_confusion_matrix(
        self, path: str | Path, normalize: bool = False, title: str = "Confusion matrix"
    ) -> Path:
        """The confusion matrix as a PNG, counts (or row fractions with ``normalize``) in cells."""
        from matplotlib.figure import Figure

        cm = self.confusion_matrix().astype(np.float64)
        if normalize:
            cm = cm / np.clip(cm.sum(1, keepdims=True), 1, None)
        c = len(self.classes)
        side = min(12.0, 2.5 + 0.6 * c)
        fig = Figure(figsize=(side, side))
        ax = fig.add_subplot()
        ax.imshow(cm, cmap="Blues", vmin=0)
        ax.set_xticks(range(c), [str(x) for x in self.classes], rotation=90 if c > 6 else 0)
        ax.set_yticks(range(c), [str(x) for x in self.classes])
        ax.set_xlabel("Predicted")
        ax.set_ylabel("Actual")
        ax.set_title(title + (" (fraction of each actual class)" if normalize else ""))
        if c <= 30:  # past that, the numbers wouldn't be readable
            top = cm.max() if cm.size else 0
            for a in range(c):
                for p in range(c):
                    text = f"{cm[a, p]:.2f}" if normalize else f"{int(cm[a, p])}"
                    color = "white" if top and cm[a, p] > top / 2 else "black"
                    ax.text(p, a, text, ha="center", va="center", color=color)
        fig.tight_layout()
        return _save(fig, path)

    def plot_top_losses(
        self,
        path: str | Path,
        k: int = 9,
        get_image: Callable[[int], Any] | None = None,
        largest: bool = True,
    ) -> Path:
        """A grid of the ``k`` top-loss items as a PNG, each titled
        ``predicted / actual / loss / probability``.

        ``get_image(i)`` returns item ``i``'s picture (an (H, W, 3) array, a PIL image or a
        (3, H, W) tensor); by default the item is opened as an image file.
        """
        from matplotlib.figure import Figure

        if get_image is None:
            if self.items is None:
                raise ValueError(
                    "plot_top_losses needs pictures: pass get_image=lambda i: <image of item i>, "
                    "or build the interpretation with items= (image paths)."
                )
            items = self.items

            def get_image(i: int) -> Any:
                return load_image_for_display(items[i])

        tops = self.top_losses(k, largest=largest)
        n = max(1, len(tops))
        ncols = math.ceil(math.sqrt(n))
        nrows = math.ceil(n / ncols)
        fig = Figure(figsize=(3.2 * ncols, 3.4 * nrows))
        fig.suptitle("predicted / actual / loss / probability", fontsize=12)
        axes = list(fig.subplots(nrows, ncols, squeeze=False).flat)
        for ax in axes:
            ax.axis("off")
        for ax, top in zip(axes, tops):
            ax.imshow(_as_hwc(get_image(top.index)))
            ax.set_title(
                f"{top.predicted} / {top.actual} / {top.loss:.2f} / {top.probability:.2f}",
                fontsize=9,
            )
        fig.tight_layout()
        return _save(fig, path)

    def save(
        self, folder: str | Path, k: int = 9, with_images: bool | None = None
    ) -> dict[str, Path]:
        """Write ``confusion_matrix.png``, ``most_confused.csv``, ``top_losses.csv`` and (when
        items are images) ``top_losses.png`` into ``folder``; returns their paths by name."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = {"confusion_matrix": self.plot_confusion_matrix(folder / "confusion_matrix.png")}
        paths["most_confused"] = _write_csv(
            folder / "most_confused.csv",
            ["actual", "predicted", "count"],
            [list(t) for t in self.most_confused()],
        )
        tops = [t.to_dict() for t in self.top_losses(k)]
        fields = ["index", "item", "actual", "predicted", "loss", "probability", "prob_actual"]
        paths["top_losses_csv"] = _write_csv(
            folder / "top_losses.csv", fields, [[t[f] for f in fields] for t in tops]
        )
        if with_images is None:
            with_images = self.items is not None
        if with_images:
            paths["top_losses"] = self.plot_top_losses(folder / "top_losses.png", k=k)
        return paths


def load_image_for_display(item: Any, max_side: int = 256) -> np.ndarray:
    """An image file (or PIL image) as an (H, W, 3) uint8 array no bigger than ``max_side``,
    turned the way its EXIF data says (what a person would see).

    >>> from PIL import Image
    >>> load_image_for_display(Image.new("RGB", (600, 300), "red")).shape
    (128, 256, 3)
    """
    from PIL import Image, ImageOps

    image = item if hasattr(item, "convert") else Image.open(item)
    image = ImageOps.exif_transpose(image).convert("RGB")
    image.thumbnail((max_side, max_side))
    return np.asarray(image)


def _loader_items(dl: Any, n: int) -> list[Any] | None:
    files = getattr(getattr(dl, "dataset", None), "files", None)
    if files is None:
        return None
    skipped = {Path(s.path) for s in getattr(dl, "skipped", []) if hasattr(s, "path")}
    items = [f for f in files if Path(f) not in skipped] if skipped else list(files)
    if len(items) != n:
        warnings.warn(
            f"the loader lists {len(items)} files but gave {n} predictions; the top losses "
            "won't name their files.",
            stacklevel=3,
        )
        return None
    return items


def _numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor, possibly on a GPU or in bf16
        return x.detach().float().cpu().numpy()
    return np.asarray(x)


def _as_hwc(image: Any) -> np.ndarray:
    if hasattr(image, "convert"):  # PIL
        return np.asarray(image.convert("RGB"))
    arr = _numpy(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = arr.transpose(1, 2, 0)  # (3, H, W) -> (H, W, 3)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 1) if arr.max() <= 1.0 else np.clip(arr, 0, 255).astype(np.uint8)
    return arr


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return path


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path
