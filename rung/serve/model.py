"""The served model: a model file loaded once, what it takes, and its answers as JSON.

:func:`load_served` loads a model file with :func:`rung.load` (eval mode, no training code) and
wraps its predictor in the :class:`ServedModel` of its kind: ``image`` (photos), ``tabular``
(rows of named columns) or ``text`` (one box per text column). The wrapper turns a request's
JSON (or uploaded files) into items, checks and prepares each item (:meth:`ServedModel.prepare`,
run in a worker thread: decoding an image is CPU work), and predicts a batch of them in one
forward pass under ``torch.inference_mode()`` (:meth:`ServedModel.predict_groups`, which the
batcher calls). It never loads a model file named by a request.

>>> import tempfile
>>> from rung.modelfile import save_model_file
>>> from rung.models.registry import build_model
>>> model = build_model("timm", arch="resnet18", n_classes=2, pretrained=False)
>>> config = {"kind": "image", "task": "classification", "classes": ["cat", "dog"],
...           "preprocessing": {"size": 32, "resize": "squish", "mean": [0.5] * 3, "std": [0.5] * 3}}
>>> served = load_served(save_model_file(tempfile.mkdtemp() + "/pets.rung", model, config))
>>> served.info()["kind"], served.info()["classes"]
('image', ['cat', 'dog'])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

import rung
from rung.predictor import Predictor
from rung.serve.limits import ApiError, Limits

__all__ = ["ServedModel", "load_served", "SERVED_KINDS"]

# model-file kind -> (module, class) of its ServedModel; imported when a file of that kind loads
SERVED_KINDS = {
    "image": ("rung.serve.images", "ImageModel"),
    "tabular": ("rung.serve.rows", "TableModel"),
    "text": ("rung.serve.rows", "TextModel"),
}


class ServedModel:
    """A predictor behind the API. Subclasses say what a request holds (:meth:`inputs`,
    :meth:`items_from_json`, :meth:`items_from_files`), check one item (:meth:`prepare`) and
    predict many (:meth:`predict_raw`)."""

    kind = ""
    json_fields: tuple[str, str] = ("item", "items")  # one item, a batch

    def __init__(
        self, predictor: Predictor, limits: Limits | None = None, title: str | None = None
    ) -> None:
        self.predictor, self.config = predictor, predictor.config
        self.limits = limits or Limits()
        self.path = predictor.path
        self._title = title

    # ----------------------------------------------------------------------- what it is
    @property
    def task(self) -> str | None:
        return self.config.get("task")

    @property
    def classes(self) -> list[Any] | None:
        classes = self.config.get("classes")
        return list(classes) if classes is not None else None

    @property
    def y_range(self) -> list[float] | None:
        y_range = self.config.get("y_range")
        return [float(v) for v in y_range] if y_range is not None else None

    @property
    def title(self) -> str:
        """A short name for pages: the one given, else the file's name (its run folder's for
        ``model.rung``)."""
        if self._title:
            return self._title
        if self.path is None:
            return f"{self.kind} model"
        path = Path(self.path)
        return path.parent.name if path.stem == "model" and path.parent.name else path.stem

    def info(self) -> dict[str, Any]:
        """What ``GET /api/health`` says about the model (and pages build their forms from)."""
        spec = self.config.get("model") or {}
        kwargs = spec.get("kwargs") if isinstance(spec.get("kwargs"), dict) else {}
        arch = (
            self.config.get("arch") or kwargs.get("arch") or self.config.get("model_name")
            or spec.get("name")
        )  # fmt: skip
        found: dict[str, Any] = {
            "model": self.title, "file": Path(self.path).name if self.path else None,
            "kind": self.kind, "task": self.task, "architecture": arch,
        }  # fmt: skip
        target = self.config.get("target")
        found["target"] = target if isinstance(target, str) else None  # a table's column
        if self.task in ("classification", "multilabel"):
            found["classes"] = self.classes
        else:
            found["y_range"] = self.y_range
        found["metrics"] = self.config.get("metrics")
        found["format_version"] = self.config.get("format_version")
        found["rung_version"] = rung.__version__
        found["trained_with_rung"] = self.config.get("rung_version")
        found["inputs"] = self.inputs()
        found["request"] = {
            "one": self.json_fields[0], "many": self.json_fields[1],
            "max_items": self.limits.max_items,
        }  # fmt: skip
        return found

    def inputs(self) -> dict[str, Any]:
        """What one item is, as JSON (the page's form is built from it)."""
        raise NotImplementedError

    # ----------------------------------------------------------------------- requests
    def items_from_json(self, payload: Any) -> tuple[list[Any], bool]:
        """``(items, single)`` from a JSON body: ``{one: item}`` or ``{many: [items]}``."""
        one, many = self.json_fields
        if not isinstance(payload, dict):
            raise ApiError(
                400, f"the JSON body must be an object like {{{one!r}: ...}}, got "
                f"{type(payload).__name__}",
            )  # fmt: skip
        unknown = [k for k in payload if k not in (one, many)]
        if unknown or not payload:
            raise ApiError(
                400, f"the JSON body needs the field {one!r} (one {self.kind} input) or {many!r} "
                f"(a list of them); got fields {list(payload)}. {self.example()}",
            )  # fmt: skip
        if one in payload and many in payload:
            raise ApiError(400, f"send {one!r} or {many!r}, not both")
        if one in payload:
            return [(one, payload[one])], True
        batch = payload[many]
        if not isinstance(batch, list):
            raise ApiError(422, f"{many!r} must be a list, got {type(batch).__name__}")
        if not batch:
            raise ApiError(400, f"{many!r} is empty; send at least one item")
        return [(f"{many}[{i}]", item) for i, item in enumerate(batch)], False

    def items_from_files(self, files: list[tuple[str, bytes]]) -> list[Any]:
        """Items from uploaded files (multipart): only image models take files."""
        raise ApiError(415, f"a {self.kind} model takes JSON, not uploaded files; {self.example()}")

    def example(self) -> str:
        """One line showing a request body this model takes."""
        return ""

    def prepare(self, item: tuple[str, Any]) -> Any:
        """Check one ``(name, value)`` item and make it ready for the model (CPU work)."""
        raise NotImplementedError

    # ----------------------------------------------------------------------- predicting
    def predict_raw(self, prepared: list[Any]) -> np.ndarray:
        """Class probabilities (N, C) or values (N,) for prepared items, in order."""
        raise NotImplementedError

    def predict_groups(self, groups: list[list[Any]]) -> list[list[dict[str, Any]]]:
        """One forward pass for the prepared items of several requests; their results, split
        back per request. The batcher calls this from its one model thread."""
        import torch

        flat = [item for group in groups for item in group]
        with torch.inference_mode():
            results = self.results(self.predict_raw(flat))
        out, start = [], 0
        for group in groups:
            out.append(results[start : start + len(group)])
            start += len(group)
        return out

    def results(self, raw: np.ndarray) -> list[dict[str, Any]]:
        """Predictions as JSON: ``{"label", "probability", "probs"}`` for classes,
        ``{"labels", "threshold", "probs"}`` for several labels per row (those over the
        threshold, most probable first), ``{"value", "range"}`` (the training targets' range) for numbers."""
        raw = np.asarray(raw, dtype=np.float64)
        if self.task == "multilabel":  # raw: each label's probability; labels over 0.5
            from rung.metrics import MULTI_LABEL_THRESHOLD

            names = [str(c) for c in self.classes]
            return [
                {"labels": [_plain(self.classes[i]) for i in np.argsort(-p, kind="stable")
                            if p[i] > MULTI_LABEL_THRESHOLD],
                 "threshold": MULTI_LABEL_THRESHOLD, "probs": dict(zip(names, map(float, p)))}
                for p in raw
            ]  # fmt: skip
        if self.task == "classification":
            classes = self.classes or list(range(raw.shape[1]))
            names = [str(c) for c in classes]
            return [
                {"label": _plain(classes[int(p.argmax())]), "probability": float(p.max()),
                 "probs": dict(zip(names, map(float, p)))}
                for p in raw
            ]  # fmt: skip
        values = raw.reshape(len(raw), -1)[:, 0]
        return [{"value": float(v), "range": self.y_range} for v in values]


def _plain(value: Any) -> Any:
    """A label as JSON: numpy numbers become Python ones."""
    return value.item() if isinstance(value, np.generic) else value


def load_served(
    path: str | os.PathLike, limits: Limits | None = None, title: str | None = None
) -> ServedModel:
    """Load the model file at ``path`` (once) and wrap it for serving by its kind; ``title``
    names it on pages (default: its file or run folder).

    >>> load_served("/nonexistent/model.rung")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rung.modelfile.ModelFileError: /nonexistent/model.rung: no such file. ...
    """
    from importlib import import_module

    from rung.modelfile import ModelFileError

    predictor = rung.load(path)
    kind = predictor.config.get("kind")
    if kind not in SERVED_KINDS:
        raise ModelFileError(
            path,
            f"rung serve serves {sorted(SERVED_KINDS)} models; this one is {kind!r}.",
            "Predict with it in Python: rung.load(path).predict(x).",
        )
    module, name = SERVED_KINDS[kind]
    served = getattr(import_module(module), name)(predictor, limits, title)
    predictor.model.eval()
    return served
