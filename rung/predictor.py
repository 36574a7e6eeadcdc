"""Load a model file and predict: ``rung.load(path).predict(x)``.

``load`` reads the file's config, picks the predictor for its ``"kind"`` from ``kinds()`` and lets
that class load the file. Generic tensor models (``"kind": "tensor"``, written by the Learner)
are handled here; the apps declare their kinds as entry points in the group ``rung.kinds``
(``image = "rung.vision.predict:ImagePredictor"`` in rung's pyproject.toml), imported only when a
file needs them, so this rung never names the apps above it. No
training code is imported, and nothing in the file is unpickled or run.

>>> import tempfile, torch
>>> from rung.modelfile import save_model_file
>>> from rung.models.registry import build_model
>>> model = build_model("mlp", n_in=2, n_out=2, layers=[4])
>>> config = {"kind": "tensor", "task": "classification", "classes": ["cat", "dog"]}
>>> path = save_model_file(tempfile.mkdtemp() + "/pets.rung", model, config)
>>> result = load(path).predict([0.5, -1.0])
>>> result.label in ("cat", "dog"), sorted(result.probs)
(True, ['cat', 'dog'])
"""

from __future__ import annotations

import difflib
import functools
import os
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rung.modelfile import ModelFileError, load_model_file, read_model_config

if TYPE_CHECKING:  # torch loads only when a model file is loaded
    import torch
    from torch import nn

__all__ = [
    "load",
    "KINDS",
    "kinds",
    "Predictor",
    "TensorPredictor",
    "ClassPrediction",
    "ClassPredictions",
]

# config["kind"] -> (module, class, what to pip install when that module can't be imported),
# for this rung's own kinds; the apps' come from the ``rung.kinds`` entry points (see kinds()).
# The class needs a classmethod ``from_model_file(path, device)``; subclassing Predictor gives one.
KINDS: dict[str, tuple[str, str, str]] = {"tensor": ("rung.predictor", "TensorPredictor", "rung")}
ENTRY_POINT_GROUP = "rung.kinds"


def kinds() -> dict[str, tuple[str, str, str]]:
    """Model-file kind -> (module, predictor class, package to install): this rung's own kinds
    plus the ``rung.kinds`` entry points of the installed packages (rung's apps among them).

    >>> kinds()["tensor"]
    ('rung.predictor', 'TensorPredictor', 'rung')
    >>> kinds()["image"][:2]
    ('rung.vision.predict', 'ImagePredictor')
    """
    return {**_entry_point_kinds(), **KINDS}


@functools.cache
def _entry_point_kinds() -> dict[str, tuple[str, str, str]]:
    found = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        module, _, attr = ep.value.partition(":")
        found[ep.name] = (module, attr, ep.dist.name if ep.dist else "rung")
    return found


_TASKS = ("classification", "regression")
# what a config's input_dtype may name (looked up in this list, never with getattr on torch)
_INPUT_DTYPES = ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
                 "uint8", "bool")  # fmt: skip


def load(path: str | os.PathLike, device: str | torch.device = "cpu") -> Predictor:
    """The predictor for the model file at ``path`` (its class chosen by config ``"kind"``).

    >>> import tempfile
    >>> from rung.modelfile import save_model_file
    >>> from rung.models.registry import build_model
    >>> model = build_model("mlp", n_in=3, n_out=1, layers=[4])
    >>> config = {"kind": "tensor", "task": "regression", "y_range": [0, 1]}
    >>> path = save_model_file(tempfile.mkdtemp() + "/m.rung", model, config)
    >>> 0.0 <= load(path).predict([1.0, 2.0, 3.0]) <= 1.0
    True
    """
    path = Path(path)
    config = read_model_config(path)
    kind = config.get("kind")
    known = kinds()
    if kind is None:
        raise ModelFileError(
            path,
            "its config has no 'kind', so rung doesn't know how to predict with it.",
            f"Save it with a kind in the config: one of {list(known)}.",
        )
    if not isinstance(kind, str):
        raise ModelFileError(
            path, f"its kind {str(kind)[:80]} is not a string.", f"Use one of {list(known)}."
        )
    if kind not in known:
        close = difflib.get_close_matches(str(kind), known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ModelFileError(
            path,
            f"its kind {kind!r} is not one this rung predicts ({list(known)}).{hint}",
            "If the file comes from a newer rung, upgrade with: pip install -U rung",
        )
    module_name, class_name, requirement = known[kind]
    try:
        module = import_module(module_name)
    except ImportError as e:
        raise ModelFileError(
            path,
            f"this model file needs rung's {kind} support ({module_name}), which can't be "
            f"imported here: {e}.",
            f"Install it with: pip install -U '{requirement}'",
        ) from e
    predictor_class = getattr(module, class_name, None)
    if predictor_class is None:
        raise ModelFileError(
            path,
            f"{module_name} has no {class_name} to predict {kind!r} model files with.",
            "Upgrade with: pip install -U rung",
        )
    return predictor_class.from_model_file(path, device=device)


class Predictor:
    """A loaded model plus its config; subclasses implement ``predict`` for one kind of input.

    ``model`` is in eval mode; ``config`` is the model file's config.json.
    """

    def __init__(self, model: nn.Module, config: dict[str, Any], path: Path | None = None):
        self.model, self.config, self.path = model, config, path

    @classmethod
    def from_model_file(cls, path: str | os.PathLike, device: str | torch.device = "cpu"):
        """Load the model file at ``path`` into this predictor class."""
        model, config = load_model_file(path, device=device)
        return cls(model, config, path=Path(path))

    @property
    def task(self) -> str | None:
        """``"classification"``, ``"regression"``, or None if the config doesn't say."""
        return self.config.get("task")

    @property
    def device(self) -> torch.device:
        """Where the model's weights are (inputs are moved there)."""
        param = next(iter(self.model.parameters()), None)
        return param.device if param is not None else _cpu()

    def predict(self, x: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement predict().")

    def predict_for_cli(self, source: Path, out: Path | None = None) -> dict[str, Any]:
        """What ``rung predict MODEL INPUT [--out CSV]`` does: predict from a file or folder and
        return a JSON-friendly result with a one-line ``"summary"``. Kinds override this."""
        raise ValueError(
            f"{type(self).__name__} can't predict from files; use predict() in Python."
        )

    def __repr__(self) -> str:
        name = self.config.get("model", {}).get("name")
        where = f" from {self.path}" if self.path else ""
        return f"{type(self).__name__}(task={self.task!r}, model={name!r}{where})"


@dataclass(frozen=True)
class ClassPrediction:
    """One row's class: its ``label``, ``index`` into the classes and ``probs`` by class."""

    label: Any
    index: int
    probs: dict[Any, float]


@dataclass(frozen=True)
class ClassPredictions:
    """Many rows' classes: ``labels`` (list), ``indices`` (N,) and ``probs`` (N, C) arrays,
    columns in the order of ``classes``. ``predictions[i]`` is row i's ClassPrediction."""

    labels: list[Any]
    indices: np.ndarray
    probs: np.ndarray
    classes: list[Any]

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> ClassPrediction:
        probs = {c: float(p) for c, p in zip(self.classes, self.probs[i])}
        return ClassPrediction(self.labels[i], int(self.indices[i]), probs)


class TensorPredictor(Predictor):
    """Predicts from rows of numbers for the Learner's generic tensor models.

    Config keys used: ``task`` ("classification" or "regression"), ``classes`` (labels by output
    index; the indices themselves without it), ``y_range`` ([low, high] to clip regression
    values to), ``input_shape`` (one row's shape, e.g. [12]; else a 1-d input is one row) and
    ``input_dtype`` (e.g. "int64" for embedding indices; else rows become the model's float dtype).
    One output for two classes is read as the logit of the second class.
    """

    batch_size = 1024

    def __init__(self, model: nn.Module, config: dict[str, Any], path: Path | None = None):
        super().__init__(model, config, path)
        where = path or "this model"
        if self.task not in _TASKS:
            raise ModelFileError(
                where,
                f"its task is {self.task!r}; a tensor model predicts one of {list(_TASKS)}.",
                "Save it with config={'task': ...}.",
            )
        _check_config_values(config, where)
        shape = config.get("input_shape")
        self.input_shape = tuple(shape) if shape is not None else None
        self.input_dtype = self._input_dtype(config.get("input_dtype"), where)

    def predict(self, x: Any) -> Any:
        """Predict one row or many (tensor, ndarray or nested lists of numbers).

        Classification: a ClassPrediction for one row, ClassPredictions for many.
        Regression: a float (one output) or an array (several) for one row; an array of
        shape (N,) or (N, n_out) for many; values clipped to the config's y_range.
        """
        rows, single = self._as_rows(x)
        out = self.raw(rows)  # (N, n_out)
        if self.task == "classification":
            result = self._classes(out)
            return result[0] if single else result
        if self.config.get("y_range") is not None:
            low, high = self.config["y_range"]
            out = out.clamp(low, high)
        values = out.squeeze(-1).numpy() if out.shape[-1] == 1 else out.numpy()
        if single:
            return float(values[0]) if values.ndim == 1 else values[0]
        return values

    def predict_for_cli(self, source: Path, out: Path | None = None) -> dict[str, Any]:
        """Predict every row of a CSV of numbers (a header row is allowed); write them to
        ``out`` as CSV (a ``prediction`` column, plus one probability column per class)."""
        import csv

        with open(source, newline="") as f:
            lines = [row for row in csv.reader(f) if row]
        try:
            float(lines[0][0])
        except (ValueError, IndexError):
            lines = lines[1:]  # a header row
        try:
            rows = np.array(lines, dtype=np.float64)
        except ValueError as e:
            raise ValueError(f"{source} must hold rows of numbers for this model: {e}") from e
        result = self.predict(rows)
        if self.task == "classification":
            header = ["prediction", *[f"prob_{c}" for c in result.classes]]
            table = [
                [label, *map(float, probs)] for label, probs in zip(result.labels, result.probs)
            ]
            preds: list[Any] = list(result.labels)
        else:
            values = np.asarray(result)
            header = (
                ["prediction"]
                if values.ndim == 1
                else [f"prediction_{i}" for i in range(values.shape[1])]
            )
            table = [[float(v)] if np.ndim(v) == 0 else list(map(float, v)) for v in values]
            preds = [r[0] if len(r) == 1 else r for r in table]
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            with open(out, "w", newline="") as f:
                writer = csv.writer(f)
                writer.writerow(header)
                writer.writerows(table)
        where = f" to {out}" if out is not None else ""
        return {"rows": len(table), "out": str(out) if out else None, "predictions": preds[:1000],
                "summary": f"predicted {len(table)} rows{where}"}  # fmt: skip

    def raw(self, rows: torch.Tensor) -> torch.Tensor:
        """The model's raw outputs (N, n_out) for a batch of rows, on the CPU."""
        import torch

        # a fresh copy: BLAS kernels are chosen by memory alignment, so rows that sit oddly in
        # memory (e.g. read from a file) would otherwise give results a few ULPs apart
        rows = torch.as_tensor(rows).to(self.input_dtype, copy=True)
        with torch.inference_mode():
            chunks = [
                self.model(rows[i : i + self.batch_size].to(self.device)).float().cpu()
                for i in range(0, len(rows), self.batch_size)
            ]
        out = torch.cat(chunks)
        return out.unsqueeze(-1) if out.ndim == 1 else out

    def _as_rows(self, x: Any) -> tuple[torch.Tensor, bool]:
        """(N, *row_shape) tensor from the input, and whether it was a single row."""
        import torch

        try:
            rows = torch.as_tensor(np.asarray(x) if isinstance(x, list) else x)
        except (TypeError, ValueError) as e:
            raise ValueError(
                f"predict needs numbers (a tensor, an array or lists of rows), got "
                f"{type(x).__name__}: {e}"
            ) from e
        row_ndim = len(self.input_shape) if self.input_shape is not None else 1
        if rows.ndim == row_ndim:
            rows, single = rows.unsqueeze(0), True
        elif rows.ndim == row_ndim + 1:
            single = False
        else:
            raise ValueError(
                f"this model takes rows of {row_ndim} dimension(s) (one row) or {row_ndim + 1} "
                f"(a batch), got shape {tuple(rows.shape)}."
            )
        if self.input_shape is not None and tuple(rows.shape[1:]) != self.input_shape:
            raise ValueError(
                f"this model takes rows of shape {self.input_shape}, got rows of shape "
                f"{tuple(rows.shape[1:])}."
            )
        return rows, single

    def _input_dtype(self, name: str | None, where: Any) -> torch.dtype:
        """The dtype rows are cast to: the config's ``input_dtype`` (e.g. "int64" for
        embedding indices), else the model's floating dtype."""
        import torch

        if name is None:
            param = next(iter(self.model.parameters()), None)
            return param.dtype if param is not None and param.is_floating_point() else torch.float32
        if name not in _INPUT_DTYPES:
            raise ModelFileError(
                where,
                f"its input_dtype {str(name)[:80]!r} is not a torch dtype name.",
                f"Use one of {list(_INPUT_DTYPES)}.",
            )
        return getattr(torch, name)

    def _classes(self, logits: torch.Tensor) -> ClassPredictions:
        import torch

        classes = self.config.get("classes")
        if logits.shape[1] == 1 and classes is None:
            classes = [0, 1]  # one output of a classifier: the logit of class 1 (sigmoid)
        if logits.shape[1] == 1 and len(classes) == 2:
            p = torch.sigmoid(logits[:, 0])
            probs = torch.stack([1 - p, p], dim=1)  # (N, 2)
        else:
            probs = torch.softmax(logits, dim=1)  # (N, C)
        classes = list(classes) if classes is not None else list(range(probs.shape[1]))
        if len(classes) != probs.shape[1]:
            raise ModelFileError(
                self.path or "this model",
                f"its config names {len(classes)} classes but the model gives "
                f"{probs.shape[1]} outputs.",
            )
        indices = probs.argmax(dim=1).numpy()
        labels = [classes[i] for i in indices]
        return ClassPredictions(labels, indices, probs.numpy(), classes)


def _check_config_values(config: dict[str, Any], where: Any) -> None:
    """The types of the config values a TensorPredictor reads: a stranger's file may hold
    anything, and an error deep inside predict would not say which value was wrong."""
    y_range, shape, classes = (config.get(k) for k in ("y_range", "input_shape", "classes"))
    if y_range is not None and not (
        isinstance(y_range, list)
        and len(y_range) == 2
        and all(_is_number(v) for v in y_range)
        and y_range[0] <= y_range[1]
    ):
        raise ModelFileError(where, f"its y_range {repr(y_range)[:80]} is not [low, high].")
    if shape is not None and not (
        isinstance(shape, list)
        and len(shape) <= 8
        and all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
    ):
        raise ModelFileError(
            where, f"its input_shape {repr(shape)[:80]} is not a list of at most 8 sizes > 0."
        )
    if classes is not None and not (
        isinstance(classes, list) and all(isinstance(c, (str, int, float)) for c in classes)
    ):
        raise ModelFileError(
            where, f"its classes {repr(classes)[:80]} are not a list of names or numbers."
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _cpu() -> torch.device:
    import torch

    return torch.device("cpu")
