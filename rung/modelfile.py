"""The model file (``*.rung``): weights and everything needed to rebuild and predict, no pickle.

A model file is one zip holding exactly two members:

- ``model.safetensors``: the state dict (tensors only; safetensors can't hold code);
- ``config.json``: ``format_version``, ``rung_version``, ``model`` (the registry spec that
  rebuilds the module: ``{"name": ..., "kwargs": {...}}``) and whatever the caller adds: task,
  classes, preprocessing, target range, metrics at export...

Loading reads JSON and raw tensors, rebuilds the module through ``rung.models.registry`` and
loads the weights with ``strict=True``. It never unpickles and never runs code from the file, so
it needs no training code and a file from a stranger is as safe as its JSON.

>>> import tempfile, torch
>>> from rung.models.registry import build_model
>>> model = build_model("mlp", n_in=3, n_out=2, layers=[4])
>>> path = save_model_file(tempfile.mkdtemp() + "/tiny.rung", model, {"task": "classification"})
>>> loaded, config = load_model_file(path)
>>> config["task"], config["model"]["name"], config["format_version"]
('classification', 'mlp', 1)
>>> x = torch.randn(5, 3)
>>> torch.equal(model.eval()(x), loaded(x))
True
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import rung
from rung.models.registry import (
    UnknownModelError,
    json_ready,
    model_spec,
    rebuild_model,
    unwrap_model,
)
from rung.utils import atomic_write

if TYPE_CHECKING:  # torch loads only when a file is written or read
    import torch
    from torch import nn

__all__ = [
    "FORMAT_VERSION",
    "WEIGHTS_NAME",
    "CONFIG_NAME",
    "ModelFileError",
    "save_model_file",
    "read_model_file",
    "read_model_config",
    "load_model_file",
]

FORMAT_VERSION = 1  # bump when a reader of the old format could misread the new one
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
_RESERVED = ("format_version", "rung_version", "model")
_HOW_TO_MAKE = "rung writes model files with rung.modelfile.save_model_file (or `rung train`)"
_MAX_LISTED = 5  # how many missing/unexpected/mismatched keys an error names


class ModelFileError(ValueError):
    """A model file that can't be read or doesn't fit its model; the message says why and what
    to do. ``path`` is the file.

    >>> str(ModelFileError("m.rung", "it is empty.", "Export the model again."))
    'm.rung: it is empty. Export the model again.'
    """

    def __init__(self, path: str | os.PathLike, problem: str, fix: str = "") -> None:
        self.path = Path(path)
        super().__init__(f"{path}: {problem}" + (f" {fix}" if fix else ""))


def save_model_file(
    path: str | os.PathLike,
    model: nn.Module,
    config: Mapping[str, Any] | None = None,
    *,
    spec: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model`` and ``config`` to the model file ``path`` atomically; return its path.

    ``spec`` (how to rebuild the module) defaults to the one ``build_model`` attached to the
    model. ``config`` holds what prediction needs (task, classes, preprocessing, ...) and must be
    JSON-able (numpy/torch numbers and arrays are converted). The file appears complete or not
    at all: it is written to a temporary file beside ``path`` and renamed over it, so a failed
    save leaves an existing file untouched.

    >>> import tempfile
    >>> from rung.models.registry import build_model
    >>> path = save_model_file(tempfile.mkdtemp() + "/m.rung", build_model("mlp", n_in=2, n_out=1))
    >>> path.name
    'm.rung'
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder; give a file name such as {path}/model.rung")
    spec = spec if spec is not None else model_spec(model)
    if spec is None:
        raise ValueError(
            f"this {type(model).__name__} wasn't built by rung.models.build_model, so the model "
            "file couldn't say how to rebuild it. Build it with build_model(name, **kwargs), "
            "or pass spec={'name': <registered name>, 'kwargs': {...}}."
        )
    if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
        raise ValueError(
            f"spec must be {{'name': <registered model name>, 'kwargs': {{...}}}}, got {spec!r}."
        )
    config = dict(config or {})
    clash = [key for key in _RESERVED if key in config]
    if clash:
        raise ValueError(
            f"config keys {clash} are written by save_model_file itself; remove them "
            "(pass the model spec as spec=...)."
        )
    full_config = {
        "format_version": FORMAT_VERSION,
        "rung_version": rung.__version__,
        "model": json_ready(dict(spec), "the model spec"),
        **json_ready(config, "config"),
    }
    config_bytes = json.dumps(full_config, indent=2, allow_nan=False).encode("utf-8")
    weights_bytes = _serialize_state(unwrap_model(model).state_dict())

    def write(f: IO[bytes]) -> None:
        with zipfile.ZipFile(f, "w") as zf:
            zf.writestr(CONFIG_NAME, config_bytes, compress_type=zipfile.ZIP_DEFLATED)
            # floats barely compress; stored is faster to write and read
            zf.writestr(WEIGHTS_NAME, weights_bytes, compress_type=zipfile.ZIP_STORED)

    atomic_write(path, write)
    return path


def read_model_config(path: str | os.PathLike) -> dict[str, Any]:
    """The checked ``config.json`` of a model file, without reading the weights.

    >>> import tempfile
    >>> from rung.models.registry import build_model
    >>> path = save_model_file(tempfile.mkdtemp() + "/m.rung", build_model("mlp", n_in=2, n_out=1))
    >>> read_model_config(path)["model"]["kwargs"]
    {'n_in': 2, 'n_out': 1}
    """
    with _open_zip(Path(path)) as zf:
        return _read_config(Path(path), zf)


def read_model_file(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """``(config, state_dict)`` of a model file, checked; tensors on the CPU. Nothing is
    unpickled: config.json is JSON, model.safetensors is raw tensors.

    >>> import tempfile
    >>> from rung.models.registry import build_model
    >>> path = save_model_file(tempfile.mkdtemp() + "/m.rung", build_model("mlp", n_in=2, n_out=1, layers=[3]))
    >>> config, state = read_model_file(path)
    >>> sorted(state), tuple(state["0.weight"].shape)
    (['0.bias', '0.weight', '2.bias', '2.weight'], (3, 2))
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    path = Path(path)
    with _open_zip(path) as zf:
        config = _read_config(path, zf)
        payload = _read_member(path, zf, WEIGHTS_NAME)
    try:
        state = load_safetensors(payload)
    except SafetensorError as e:
        raise ModelFileError(
            path,
            f"its {WEIGHTS_NAME} is not valid safetensors ({e}){_guess_format(payload)}.",
            f"rung loads nothing else; export the model again with rung. {_HOW_TO_MAKE}.",
        ) from e
    return config, state


def load_model_file(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a model file through the registry and load its weights strictly.

    Returns ``(model, config)`` with the model in eval mode on ``device``.

    >>> import tempfile
    >>> from rung.models.registry import build_model
    >>> path = save_model_file(tempfile.mkdtemp() + "/m.rung", build_model("mlp", n_in=2, n_out=1))
    >>> model, config = load_model_file(path)
    >>> model.training, config["model"]["name"]
    (False, 'mlp')
    """
    path = Path(path)
    config, state = read_model_file(path)
    try:
        model = rebuild_model(config["model"])
    except UnknownModelError as e:
        raise ModelFileError(
            path,
            f"it needs a model this rung can't build: {e}",
            "If the file comes from a newer rung, upgrade with: pip install -U rung",
        ) from e
    except (TypeError, ValueError) as e:
        raise ModelFileError(
            path,
            f"its model spec {config['model']} doesn't build here: {e}",
            "The file may come from another version of rung; try the version that wrote it "
            f"(rung {config.get('rung_version', '?')}).",
        ) from e
    _check_state_fits(path, model.state_dict(), state)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), config


def _serialize_state(state: Mapping[str, Any]) -> bytes:
    """safetensors bytes of a state dict. safetensors refuses tensors that share memory (tied
    weights, views of one buffer) or aren't contiguous, so those are copied first."""
    import torch
    from safetensors.torch import save as save_safetensors

    tensors: dict[str, torch.Tensor] = {}
    seen_storages: set[int] = set()
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(
                f"state_dict entry {key!r} is a {type(value).__name__}, not a tensor; a model "
                "file holds tensors only. Keep such state in the config instead."
            )
        tensor = value.detach().cpu()
        storage = tensor.untyped_storage().data_ptr()
        if storage in seen_storages or not tensor.is_contiguous():
            tensor = tensor.clone(memory_format=torch.contiguous_format)
        elif storage != 0:  # empty tensors all report storage 0 and never conflict
            seen_storages.add(storage)
        tensors[key] = tensor
    return save_safetensors(tensors, metadata={"format": "pt"})


def _open_zip(path: Path) -> zipfile.ZipFile:
    if not path.exists():
        raise ModelFileError(
            path, "no such file.", f"Check the path; {_HOW_TO_MAKE}, e.g. runs/<run>/model.rung."
        )
    if path.is_dir():
        raise ModelFileError(path, "this is a folder, not a model file.", "Give the .rung file.")
    with open(path, "rb") as f:
        head = f.read(64)
    if not head:
        raise ModelFileError(path, "the file is empty.", "Export the model again.")
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        if head.startswith(b"PK\x03\x04"):
            raise ModelFileError(
                path,
                "the zip is truncated or damaged (its directory at the end is missing).",
                "Was a copy or download interrupted? Copy the file again, or export it again.",
            ) from e
        raise ModelFileError(
            path,
            f"not a rung model file: not a zip archive{_guess_format(head)}.",
            f"A .rung file is a zip of {WEIGHTS_NAME} + {CONFIG_NAME}; {_HOW_TO_MAKE}.",
        ) from e
    names = set(zf.namelist())
    missing = [name for name in (WEIGHTS_NAME, CONFIG_NAME) if name not in names]
    if missing:
        zf.close()
        raise ModelFileError(
            path,
            f"not a rung model file: the zip lacks {missing}{_guess_zip(names)}.",
            f"rung never unpickles files (that can run code); {_HOW_TO_MAKE}.",
        )
    return zf


def _read_member(path: Path, zf: zipfile.ZipFile, name: str) -> bytes:
    try:
        return zf.read(name)
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError) as e:
        # a CRC mismatch, a cut-off member, an unsupported compression method
        raise ModelFileError(
            path, f"its {name} can't be read: {e}.", "Copy the file again, or export it again."
        ) from e


def _read_config(path: Path, zf: zipfile.ZipFile) -> dict[str, Any]:
    raw = _read_member(path, zf, CONFIG_NAME)
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelFileError(
            path, f"its {CONFIG_NAME} is not valid JSON ({e}).", "Export the model again."
        ) from e
    if not isinstance(config, dict):
        raise ModelFileError(
            path, f"its {CONFIG_NAME} holds a {type(config).__name__}, not a JSON object."
        )
    version = config.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFileError(
            path,
            f"its {CONFIG_NAME} has format_version {version!r}, which no rung writes.",
            f"{_HOW_TO_MAKE}; this rung reads format versions 1 to {FORMAT_VERSION}.",
        )
    if version > FORMAT_VERSION:
        raise ModelFileError(
            path,
            f"made by a newer rung (format version {version}, by rung "
            f"{config.get('rung_version', '?')}); this rung {rung.__version__} reads format "
            f"versions up to {FORMAT_VERSION}.",
            "Upgrade with: pip install -U rung",
        )
    if version < 1:
        raise ModelFileError(
            path, f"unknown format_version {version}; rung's model files start at version 1."
        )
    spec = config.get("model")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ModelFileError(
            path,
            f"its {CONFIG_NAME} has no model spec ('model': {{'name': ..., 'kwargs': ...}}), "
            f"got {spec!r}.",
            "Export the model again with rung.",
        )
    return config


def _check_state_fits(
    path: Path, expected: Mapping[str, torch.Tensor], found: Mapping[str, torch.Tensor]
) -> None:
    """Raise a ModelFileError naming missing, unexpected and wrongly shaped tensors."""
    missing = [key for key in expected if key not in found]
    unexpected = sorted((key for key in found if key not in expected), key=_natural_order)
    shapes = [
        f"{key}: file {tuple(found[key].shape)} vs model {tuple(expected[key].shape)}"
        for key in expected
        if key in found and found[key].shape != expected[key].shape
    ]
    problems = [
        f"{len(items)} {what} ({', '.join(items[:_MAX_LISTED])}"
        + (", ..." if len(items) > _MAX_LISTED else "")
        + ")"
        for what, items in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches", shapes),
        )
        if items
    ]
    if problems:
        raise ModelFileError(
            path,
            "its weights don't fit the model its config describes: " + "; ".join(problems) + ".",
            "The file was edited or written by code that changed the model after building it; "
            "export it again from the trained model.",
        )


def _natural_order(key: str) -> list[tuple[int, int | str]]:
    """Sort key that puts "layers.2.weight" before "layers.10.weight"."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in key.split(".")]


def _guess_format(head: bytes) -> str:
    """A hint at what some bytes are, for error messages. Looks at bytes only, loads nothing."""
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return " (it looks like a Python pickle, which rung never loads: unpickling runs code)"
    if head.startswith(b"PK"):
        return " (it looks like a zip, e.g. a torch.save checkpoint, which rung never loads)"
    if head[8:9] == b"{":
        return " (it looks like a bare safetensors file)"
    return ""


def _guess_zip(names: set[str]) -> str:
    if any(name.endswith("data.pkl") for name in names):
        return (
            " (it looks like a PyTorch checkpoint from torch.save, such as a .pt file or "
            "fastai's learn.export() .pkl)"
        )
    return ""
