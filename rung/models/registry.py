"""Build models by name, and remember how each was built so a model file can rebuild it.

A model file stores weights plus a *spec*: the registered name and the keyword arguments that
built the module (``{"name": "mlp", "kwargs": {"n_in": 3, "n_out": 2}}``). Rebuilding needs only
this registry and the module that defines the builder, never the training code, and the spec is
plain JSON, never pickled code.

Builders in other modules are found by name, and their module imported the first time the name is
asked for, so a fresh process can rebuild any model from its name alone. The generic ones are
listed in ``_BUILDER_MODULES``; the apps' (and other packages') declare theirs as entry points in
the group ``rung.models`` (name = model name, value = the module whose import registers it): this
rung never names the apps above it.

>>> model = build_model("mlp", n_in=3, n_out=2, layers=[4])
>>> model_spec(model)
{'name': 'mlp', 'kwargs': {'n_in': 3, 'n_out': 2, 'layers': [4]}}
>>> "mlp" in list_models()
True
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Callable, Mapping
from importlib import import_module
from importlib.metadata import entry_points
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # torch loads only when a model is built
    from torch import nn

__all__ = [
    "register_model",
    "build_model",
    "rebuild_model",
    "model_spec",
    "unwrap_model",
    "list_models",
    "find_builder",
    "json_ready",
    "builder_modules",
    "UnknownModelError",
]

# name -> module whose import registers that name, for this rung's own builders. The apps'
# builders come from the ``rung.models`` entry points (see builder_modules).
_BUILDER_MODULES: dict[str, str] = {"mlp": "rung.models.mlp"}
ENTRY_POINT_GROUP = "rung.models"

_BUILDERS: dict[str, Callable[..., Any]] = {}
# name -> kwargs that replace the spec's when rebuilding from a model file (weights come from it)
_ON_LOAD: dict[str, dict[str, Any]] = {}

Builder = TypeVar("Builder", bound=Callable[..., Any])


class UnknownModelError(ValueError):
    """Raised for a model name that no builder is registered under."""


def register_model(name: str, *, on_load: Mapping[str, Any] | None = None) -> Callable:
    """Decorator: register a function that returns an ``nn.Module`` under ``name``.

    ``on_load`` holds keyword arguments that replace the recorded ones when the model is rebuilt
    from a model file, e.g. ``{"pretrained": False}``: the weights come from the file, so the
    rebuild must not download any.

    >>> @register_model("doc_linear")
    ... def doc_linear(n_in: int, n_out: int):
    ...     import torch
    ...     return torch.nn.Linear(n_in, n_out)
    >>> build_model("doc_linear", n_in=2, n_out=1).out_features
    1
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"a model name must be a non-empty string, got {name!r}.")

    def decorator(builder: Builder) -> Builder:
        known = _BUILDERS.get(name)
        if known is not None and _qualname(known) != _qualname(builder):
            raise ValueError(
                f"model name {name!r} is already registered by {_qualname(known)}; "
                f"pick another name for {_qualname(builder)}."
            )
        _BUILDERS[name] = builder
        _ON_LOAD[name] = json_ready(dict(on_load or {}), f"on_load of {name!r}")
        return builder

    return decorator


def build_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the model registered as ``name`` and attach its spec as ``model.rung_spec``.

    ``kwargs`` must be JSON values (numbers, strings, bools, None, lists, dicts), because the
    spec is written into the model file's config.json. The spec holds them as JSON gives them
    back (tuples become lists), so a rebuild sees exactly what was recorded.

    >>> build_model("mlp", n_in=4, n_out=3, layers=(8,)).rung_spec["kwargs"]["layers"]
    [8]
    """
    kwargs = json_ready(kwargs, f"the keyword arguments of model {name!r}")
    model = _call_builder(name, kwargs)
    model.rung_spec = {"name": name, "kwargs": kwargs}
    return model


def rebuild_model(spec: Mapping[str, Any]) -> nn.Module:
    """Build a model from a spec read back from a model file, applying its ``on_load`` kwargs.

    The returned model carries the original spec, so saving it again records the same thing.

    >>> spec = model_spec(build_model("mlp", n_in=2, n_out=1, layers=[3]))
    >>> model_spec(rebuild_model(spec)) == spec
    True
    """
    if (
        not isinstance(spec, Mapping)
        or not isinstance(spec.get("name"), str)
        or not isinstance(spec.get("kwargs", {}), Mapping)
    ):
        raise ValueError(
            f"a model spec is {{'name': str, 'kwargs': dict}}, got {spec!r}; "
            "build models with rung.models.build_model(name, **kwargs) to get one."
        )
    name, kwargs = spec["name"], dict(spec.get("kwargs", {}))
    model = _call_builder(name, kwargs, loading=True)
    model.rung_spec = {"name": name, "kwargs": kwargs}
    return model


def model_spec(model: Any) -> dict[str, Any] | None:
    """The spec ``build_model`` attached to ``model`` (looking through DDP and torch.compile
    wrappers), or None for a model built some other way.

    >>> import torch
    >>> model_spec(torch.nn.Linear(2, 1)) is None
    True
    """
    return getattr(unwrap_model(model), "rung_spec", None)


def unwrap_model(model: Any) -> Any:
    """The module inside DDP / DataParallel / torch.compile wrappers (itself if unwrapped):
    the one that carries the spec and whose state-dict keys have no ``module.`` prefix.

    >>> import torch
    >>> linear = torch.nn.Linear(2, 1)
    >>> unwrap_model(torch.nn.DataParallel(linear)) is linear
    True
    """
    for _ in range(4):  # e.g. compile(DDP(model)): a few layers of wrapping at most
        inner = getattr(model, "_orig_mod", None)  # torch.compile
        if inner is None and type(model).__name__ in ("DistributedDataParallel", "DataParallel"):
            inner = getattr(model, "module", None)
        if inner is None:
            return model
        model = inner
    return model


def list_models() -> list[str]:
    """Names ``build_model`` accepts: those registered so far, plus those whose module is
    installed and would register them on first use.

    >>> "mlp" in list_models()
    True
    """
    available = {name for name, module in builder_modules().items() if _module_exists(module)}
    return sorted(set(_BUILDERS) | available)


def find_builder(name: str) -> Callable[..., Any]:
    """The function registered as ``name``, importing the module that registers it if need
    be (an UnknownModelError names the known ones). Loading a model file calls it before
    building on the meta device, so that module's import-time code runs on the usual device.

    >>> find_builder("mlp").__module__
    'rung.models.mlp'
    """
    return _find_builder(name)


def builder_modules() -> dict[str, str]:
    """Model name -> the module whose import registers its builder: this rung's own, plus the
    ``rung.models`` entry points of the installed packages (rung's apps among them).

    >>> builder_modules()["mlp"]
    'rung.models.mlp'
    """
    return {**_entry_point_modules(), **_BUILDER_MODULES}


@functools.cache
def _entry_point_modules() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def json_ready(value: Any, where: str = "value") -> Any:
    """``value`` as plain JSON types, or a ValueError that names the offending entry.

    numpy scalars and arrays and torch tensors become numbers and lists, tuples become lists,
    paths become strings. Non-finite floats (a NaN metric) become None: strict JSON has no NaN.

    >>> import numpy as np
    >>> json_ready({"n": np.int64(3), "sizes": (1, 2), "loss": float("nan")})
    {'n': 3, 'sizes': [1, 2], 'loss': None}
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(
                    f"{where} has the key {key!r} ({type(key).__name__}); JSON keys are strings, "
                    f"use str({key!r})."
                )
            out[key] = json_ready(item, f"{where}[{key!r}]")
        return out
    if isinstance(value, (list, tuple)):
        return [json_ready(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy array/scalar, torch tensor
        return json_ready(value.tolist(), where)
    if hasattr(value, "__fspath__"):
        return str(value)
    raise ValueError(
        f"{where} is {value!r} ({type(value).__name__}), which can't be written as JSON. "
        "Use numbers, strings, bools, None, lists and dicts (e.g. a name instead of a function)."
    )


def _call_builder(name: str, kwargs: dict[str, Any], loading: bool = False) -> nn.Module:
    from torch import nn

    builder = _find_builder(name)  # first: importing the builder's module fills _ON_LOAD
    if loading:
        kwargs = {**kwargs, **_ON_LOAD[name]}
    try:
        model = builder(**kwargs)
    except TypeError as e:
        raise TypeError(f"building model {name!r} with {kwargs}: {e}") from e
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"the builder of model {name!r} ({_qualname(builder)}) returned "
            f"{type(model).__name__}, not a torch.nn.Module."
        )
    return model


def _find_builder(name: str) -> Callable[..., Any]:
    modules = builder_modules() if name not in _BUILDERS else {}
    if name in modules:
        module = modules[name]
        try:
            import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise  # a dependency of that module is missing: its own message says which
            raise UnknownModelError(
                f"model {name!r} is built by {module}, which this install of rung lacks; "
                "upgrade with: pip install -U rung"
            ) from e
        if name not in _BUILDERS:
            raise UnknownModelError(
                f"{module} was imported but registered no model {name!r}; it registers "
                f"{sorted(n for n, f in _BUILDERS.items() if f.__module__ == module)}."
            )
    if name not in _BUILDERS:
        known = list_models()
        close = difflib.get_close_matches(str(name), known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownModelError(f"no model is registered as {name!r}; known: {known}.{hint}")
    return _BUILDERS[name]


def _module_exists(module: str) -> bool:
    try:
        return find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def _qualname(f: Callable[..., Any]) -> str:
    return f"{getattr(f, '__module__', '?')}.{getattr(f, '__qualname__', repr(f))}"
