"""The model file (``*.rung``): weights and everything needed to rebuild and predict, no pickle.

A model file is one zip holding exactly two members:

- ``model.safetensors``: the state dict (tensors only; safetensors can't hold code);
- ``config.json``: ``format_version``, ``rung_version``, ``model`` (the registry spec that
  rebuilds the module: ``{"name": ..., "kwargs": {...}}``) and whatever the caller adds: task,
  classes, preprocessing, target range, metrics at export...

Loading reads JSON and raw tensors, rebuilds the module through ``rung.models.registry`` and
loads the weights with ``strict=True``. It never unpickles and never runs code from the file, so
it needs no training code. Nor does it trust what the file declares: it reads only regular files
of at most ``MAX_FILE_BYTES``, zips of exactly the two members, a ``config.json`` of at most
``MAX_CONFIG_BYTES`` nested at most ``MAX_JSON_DEPTH`` deep with fewer than ``MAX_JSON_VALUES``
values, weights that inflate at most
``MAX_INFLATION`` times; it builds the declared model on the meta device and compares it with the
tensors the weights' header declares before allocating anything (:mod:`rung.models.meta`), and
refuses weights holding NaN or infinity. Each refusal is one :class:`ModelFileError`.

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

import contextlib
import functools
import json
import os
import zipfile
import zlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import rung
from rung.models.registry import (
    UnknownModelError,
    find_builder,
    json_ready,
    model_spec,
    rebuild_model,
    unwrap_model,
)
from rung.models.untrusted import (
    Refused,
    capped_member,
    guess_format,
    guess_zip,
    odd_member_names,
    open_regular_file,
    read_exactly,
    read_member,
    strict_json,
    zip_entries,
)
from rung.utils import atomic_write

if TYPE_CHECKING:  # torch loads only when a file is written or read
    import torch
    from torch import nn

    from rung.models.weights import Header

__all__ = [
    "FORMAT_VERSION",
    "WEIGHTS_NAME",
    "CONFIG_NAME",
    "MAX_FILE_BYTES",
    "MAX_CONFIG_BYTES",
    "MAX_JSON_DEPTH",
    "MAX_JSON_VALUES",
    "MAX_INFLATION",
    "ModelFileError",
    "save_model_file",
    "read_model_file",
    "read_model_config",
    "load_model_file",
]

FORMAT_VERSION = 1  # bump when a reader of the old format could misread the new one
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
# Limits on what a file may make this process read or build (generous, but finite)
MAX_FILE_BYTES = 64 * 2**30
MAX_CONFIG_BYTES = 64 * 2**20  # a million category names, or a big tokenizer.json, fit
MAX_JSON_DEPTH = 64  # a config is a few levels deep; nested ensembles a few more
MAX_JSON_VALUES = 2_000_000  # parsed, ~60 bytes each; a 250k-token tokenizer has ~0.5M
MAX_INFLATION = 32  # rung stores weights uncompressed; floats deflate about 1.1x
_MAX_MEMBERS = 1000  # beyond this the zip's directory is not even read
_RESERVED = ("format_version", "rung_version", "model")
_HOW_TO_MAKE = "rung writes model files with rung.modelfile.save_model_file (or `rung train`)"
_DAMAGED_FIX = "The file is damaged or was not written by rung; export the model again."
_EXPORT_AGAIN = (
    "Export it again from the trained model with rung (`rung train`, or Learner.export)."
)


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
    from rung.models.weights import serialize

    config_bytes = json.dumps(full_config, indent=2, allow_nan=False).encode("utf-8")
    weights_bytes = serialize(unwrap_model(model).state_dict())

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
    path = Path(path)
    with _open_zip(path) as zf:
        return _read_config(path, zf)


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
    path = Path(path)
    with _open_zip(path) as zf:
        config = _read_config(path, zf)
        with _open_weights(path, zf) as (header, read_data):
            data = read_data()
    from rung.models.weights import finite_tensors

    with _refusals(path):
        return config, finite_tensors(data, header)


def load_model_file(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of a model file through the registry and load its weights strictly.

    Returns ``(model, config)`` with the model in eval mode on ``device``. What the file
    declares is checked before it is allocated: the model is first built on the meta device
    (shapes, no memory) and compared with the tensors in the weights' header; only a model
    that fits the weights the file really holds is read and built for real.

    >>> import tempfile
    >>> from rung.models.registry import build_model
    >>> path = save_model_file(tempfile.mkdtemp() + "/m.rung", build_model("mlp", n_in=2, n_out=1))
    >>> model, config = load_model_file(path)
    >>> model.training, config["model"]["name"]
    (False, 'mlp')
    """
    from rung.models.meta import build_declared, build_for_real
    from rung.models.weights import finite_tensors

    path = Path(path)
    with _open_zip(path) as zf:
        config = _read_config(path, zf)
        build = functools.partial(rebuild_model, config["model"])
        with _open_weights(path, zf) as (header, read_data):
            with _refusals(path, _EXPORT_AGAIN), _spec_errors(path, config["model"]):
                find_builder(config["model"]["name"])  # its module imported off the meta device
                checked = build_declared(build, header)  # before reading the data
            data = read_data()
    with _refusals(path):
        state = finite_tensors(data, header)  # views of data: no second copy
    with _spec_errors(path, config["model"]):
        model = build_for_real(build, checked)
    model.load_state_dict(state, strict=True)
    return model.to(device).eval(), config


@contextlib.contextmanager
def _refusals(path: Path, fix: str = "", member: str = "") -> Iterator[None]:
    """Report what the untrusted-input checks refuse as this file's ModelFileError; what a
    damaged member raises (a CRC mismatch, a cut-off stream, bad deflate data, an unknown
    compression method) too."""
    try:
        yield
    except Refused as e:
        raise ModelFileError(path, e.problem, e.fix or fix or _DAMAGED_FIX) from None
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, zlib.error) as e:
        what = f"its {member}" if member else "it"
        raise ModelFileError(
            path, f"{what} can't be read: {e}.", "Copy the file again, or export it again."
        ) from e


@contextlib.contextmanager
def _open_zip(path: Path) -> Iterator[zipfile.ZipFile]:
    """The model file as a zip, once it is known to be a regular file of a sane size whose
    directory lists the two members and nothing path-like."""
    where = f"Give a model file, e.g. runs/<run>/model.rung; {_HOW_TO_MAKE}."
    with _refusals(path, where):
        f = open_regular_file(path, MAX_FILE_BYTES, what="model file")
    with f:
        head = f.read(64)
        with _refusals(path):
            entries = zip_entries(f)
        if entries is not None and entries > _MAX_MEMBERS:
            raise ModelFileError(
                path,
                f"not a rung model file: the zip holds {entries:,} members; a model file holds 2 "
                f"({WEIGHTS_NAME} and {CONFIG_NAME}).",
                f"{_HOW_TO_MAKE}.",
            )
        try:
            zf = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            if head.startswith(b"PK\x03\x04"):
                raise ModelFileError(
                    path,
                    "the zip is truncated or damaged (its directory at the end is missing).",
                    "Was a copy or download interrupted? Copy the file again, or export it again.",
                ) from e
            raise ModelFileError(
                path,
                f"not a rung model file: not a zip archive{guess_format(head)}.",
                f"A .rung file is a zip of {WEIGHTS_NAME} + {CONFIG_NAME}; {_HOW_TO_MAKE}.",
            ) from e
        with zf:
            _check_names(path, zf.namelist())
            yield zf


def _check_names(path: Path, names: list[str]) -> None:
    missing = [name for name in (WEIGHTS_NAME, CONFIG_NAME) if name not in names]
    if missing:
        raise ModelFileError(
            path,
            f"not a rung model file: the zip lacks {missing}{guess_zip(set(names))}.",
            f"rung never unpickles files (that can run code); {_HOW_TO_MAKE}.",
        )
    odd = odd_member_names(names)
    if odd:
        raise ModelFileError(
            path,
            f"its zip has path-like member names {[n[:80] for n in odd[:3]]}; a model file "
            f"holds only {WEIGHTS_NAME} and {CONFIG_NAME}.",
            "rung extracts nothing, but rung never wrote this file; don't use it.",
        )
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ModelFileError(path, f"its zip holds {twice} twice: which one counts?", _DAMAGED_FIX)


def _read_config(path: Path, zf: zipfile.ZipFile) -> dict[str, Any]:
    with _refusals(path, member=CONFIG_NAME):
        raw = read_member(zf, capped_member(zf, CONFIG_NAME, MAX_CONFIG_BYTES))
    with _refusals(path, "Export the model again."):
        config = strict_json(raw, MAX_JSON_DEPTH, f"its {CONFIG_NAME}", MAX_JSON_VALUES)
    if not isinstance(config, dict):
        raise ModelFileError(
            path, f"its {CONFIG_NAME} holds a {type(config).__name__}, not a JSON object."
        )
    version = config.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int):
        raise ModelFileError(
            path,
            f"its {CONFIG_NAME} has format_version {str(version)[:50]}, which no rung writes.",
            f"{_HOW_TO_MAKE}; this rung reads format versions 1 to {FORMAT_VERSION}.",
        )
    if version > FORMAT_VERSION:
        raise ModelFileError(
            path,
            f"made by a newer rung (format version {version}, by rung "
            f"{str(config.get('rung_version', '?'))[:50]}); this rung {rung.__version__} reads "
            f"format versions up to {FORMAT_VERSION}.",
            "Upgrade with: pip install -U rung",
        )
    if version < 1:
        raise ModelFileError(
            path, f"unknown format_version {version}; rung's model files start at version 1."
        )
    others = [n for n in zf.namelist() if n not in (WEIGHTS_NAME, CONFIG_NAME)]
    if others:  # checked after the version: a newer format may add members
        raise ModelFileError(
            path,
            f"its zip holds unexpected members {others[:5]}; a model file of format version "
            f"{version} holds only {WEIGHTS_NAME} and {CONFIG_NAME}.",
            _DAMAGED_FIX,
        )
    spec = config.get("model")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise ModelFileError(
            path,
            f"its {CONFIG_NAME} has no model spec ('model': {{'name': ..., 'kwargs': ...}}), "
            f"got {str(spec)[:200]}.",
            "Export the model again with rung.",
        )
    return config


@contextlib.contextmanager
def _open_weights(
    path: Path, zf: zipfile.ZipFile
) -> Iterator[tuple[Header, Callable[[], bytearray]]]:
    """``(header, read_data)``: the weights' header, read alone and checked, and a function
    that reads the data after it into one buffer, stopping at the declared size."""
    from rung.models.weights import WeightsError, read_header

    with _refusals(path, member=WEIGHTS_NAME):
        info = capped_member(zf, WEIGHTS_NAME, MAX_FILE_BYTES, MAX_INFLATION)
        f = zf.open(info)
    with f:
        try:
            with _refusals(path, member=WEIGHTS_NAME):
                header = read_header(f.read, info.file_size)
        except WeightsError as e:
            f.seek(0)
            raise ModelFileError(
                path,
                f"its {WEIGHTS_NAME} is not valid safetensors ({e}){guess_format(f.read(64))}.",
                f"rung loads nothing else; export the model again with rung. {_HOW_TO_MAKE}.",
            ) from e

        def read_data() -> bytearray:
            with _refusals(path, member=WEIGHTS_NAME):
                return read_exactly(f, header.data_bytes, WEIGHTS_NAME)

        yield header, read_data


@contextlib.contextmanager
def _spec_errors(path: Path, spec: dict[str, Any]) -> Iterator[None]:
    """The spec's own faults as ModelFileErrors; the builder's other errors pass."""
    try:
        yield
    except Refused:
        raise
    except UnknownModelError as e:
        raise ModelFileError(
            path,
            f"it needs a model this rung can't build: {e}",
            "If the file comes from a newer rung, upgrade with: pip install -U rung",
        ) from e
    except (TypeError, ValueError) as e:
        raise ModelFileError(
            path,
            f"its model spec {str(spec)[:300]} doesn't build here: {e}",
            "The file may come from another version of rung; try the version that wrote it.",
        ) from e
