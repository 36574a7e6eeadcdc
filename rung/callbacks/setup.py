"""What the Learner makes of its arguments: checks at the API's edge, precision, devices.

Every check fails with one message naming the bad value and the fix, before anything trains:
fastai's argument order, a single metric or callback where a list is expected, negative
learning rates, zero epochs.

>>> check_rate("lr", 3e-3)
0.003
>>> check_epochs(0)
Traceback (most recent call last):
ValueError: n_epoch must be a whole number >= 1, got 0; e.g. learn.fit_one_cycle(3, 1e-3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn

from rung.data.core import DataLoaders, NoValidationError
from rung.utils import seed_everything

__all__ = [
    "check_model_and_dls",
    "check_valid",
    "seed_fit",
    "as_list",
    "metric_list",
    "callback_list",
    "check_rate",
    "check_epochs",
    "default_loss",
    "resolve_precision",
    "cpu_has_bf16",
    "make_accelerator",
]


def check_model_and_dls(model: Any, dls: Any) -> DataLoaders:
    """The Learner's DataLoaders from ``dls`` (a DataLoaders or a ``(train, valid)`` pair),
    once ``model`` is a module; fastai's order ``Learner(dls, model)`` is caught by name."""
    if isinstance(model, DataLoaders) or (
        isinstance(dls, nn.Module) and not isinstance(model, nn.Module)
    ):
        raise TypeError(
            "the Learner takes the model first and the data second: Learner(model, dls, ...) "
            "(fastai's Learner(dls, model) is the other way round); swap the two arguments."
        )
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch nn.Module, got {type(model).__name__}.")
    if isinstance(dls, DataLoaders):
        return dls
    if isinstance(dls, (tuple, list)) and len(dls) == 2:
        return DataLoaders(*dls)
    raise TypeError(
        f"dls must be a DataLoaders or a (train, valid) pair of loaders, got "
        f"{type(dls).__name__}; e.g. DataLoaders(train_loader, valid_loader)."
    )


def check_valid(dls: Any) -> None:
    """No validation data, no training: :class:`~rung.data.core.NoValidationError` says how
    to get some."""
    valid = getattr(dls, "valid", None)
    if valid is None or (hasattr(valid, "__len__") and len(valid) == 0):
        raise NoValidationError("the Learner's DataLoaders")


def seed_fit(seed: int, train_loader: Any) -> None:
    """Seed Python, NumPy and torch with ``seed``, and the training loader's own generator (a
    TensorLoader's shuffling) from them, so batch order, dropout and augmentation repeat."""
    seed_everything(seed)
    generator = getattr(train_loader, "generator", None)
    if isinstance(generator, torch.Generator):
        generator.manual_seed(int(torch.randint(0, 2**62, ()).item()))


def as_list(value: Any, name: str, ok: Callable[[Any], bool], example: str) -> list:
    """``value`` as a list: one item alone (``metrics=accuracy``) or an iterable of them, each
    passing ``ok``; else a TypeError naming the item and ``example`` of a good one.

    >>> as_list(len, "metrics", callable, "a function")
    [<built-in function len>]
    """
    if ok(value) or isinstance(value, str) or not isinstance(value, Iterable):
        items = [value]
    else:
        items = list(value)
    for i, item in enumerate(items):
        if not ok(item):
            raise TypeError(f"{name}[{i}] must be {example}, got {item!r}.")
    return items


def metric_list(metrics: Any) -> list[Callable]:
    """The Learner's ``metrics=``: one function or several."""
    example = "a function f(preds, targets) -> float, e.g. accuracy from rung.metrics"
    return as_list(metrics, "metrics", callable, example)


def callback_list(cbs: Any) -> list:
    """The Learner's ``cbs=``: one Callback instance or several."""
    from rung.callbacks.core import Callback

    ok = lambda cb: isinstance(cb, Callback)  # noqa: E731
    return as_list(cbs, "cbs", ok, "a Callback instance, e.g. SaveBest()")


def check_rate(name: str, value: Any, values: Any = None) -> Any:
    """``value`` back when it (or ``values``, the per-group rates made from it) is a finite
    number >= 0; a ValueError that names it otherwise."""
    arr = np.asarray(value if values is None else values, dtype=float)
    if arr.size == 0 or not np.all(np.isfinite(arr)) or np.any(arr < 0):
        hint = " (learn.lr_find() suggests one)" if name.endswith("lr") else ""
        example = "1e-3" if name.endswith("lr") else "0.01"
        raise ValueError(
            f"{name} must be a finite number >= 0, got {value!r}; pass a positive rate, "
            f"e.g. {example}{hint}."
        )
    return value


def check_epochs(n: Any, name: str = "n_epoch", allow_zero: bool = False) -> int:
    """``n`` back when it is a whole number >= 1 (>= 0 with ``allow_zero``)."""
    low = 0 if allow_zero else 1
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < low:
        raise ValueError(
            f"{name} must be a whole number >= {low}, got {n!r}; e.g. learn.fit_one_cycle(3, 1e-3)."
        )
    return int(n)


def default_loss(dls: Any) -> nn.Module:
    """Cross-entropy or MSE from ``dls.info["task"]``."""
    task = (getattr(dls, "info", {}) or {}).get("task")
    if task == "classification":
        return nn.CrossEntropyLoss()
    if task == "regression":
        return nn.MSELoss()
    raise ValueError(
        "no loss_func given and the DataLoaders don't say their task; pass e.g. "
        "loss_func=nn.CrossEntropyLoss() for classification or nn.MSELoss() for regression."
    )


def resolve_precision(mixed_precision: str, device: torch.device) -> str:
    """``"auto"`` -> bf16 on a GPU that has it, else ``"no"``; the others checked as given."""
    if mixed_precision == "auto":  # bf16 where the GPU has it, full precision on CPU
        cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
        return "bf16" if cuda_bf16 else "no"
    if mixed_precision not in ("no", "bf16", "fp16"):
        raise ValueError(
            f"mixed_precision must be 'auto', 'no', 'bf16' or 'fp16', got {mixed_precision!r}."
        )
    return mixed_precision


def cpu_has_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX) that oneDNN's matrix
    multiplies use: there, bf16 autocast runs a transformer's training step about 1.5x
    faster than float32 (MiniLM, 2 cores); without them bf16 is emulated, and slower.

    >>> isinstance(cpu_has_bf16(), bool)
    True
    """
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(torch.cpu, name, lambda: False)()) for name in checks)


def make_accelerator(cpu: bool | None) -> Any:
    """The process's Accelerator: devices, processes, gathering.

    Accelerate's state is one per process and can't change once made, so precision is not set
    here: each Learner runs its own autocast (and fp16 loss scaling), and several Learners with
    different precisions can live in one notebook.
    """
    from accelerate import Accelerator

    return Accelerator(cpu=True) if cpu else Accelerator()
