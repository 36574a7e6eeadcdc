"""Checkpoints (resume after an interrupt) and keeping the best model.

A checkpoint is one zip, written atomically, with no pickle: ``model.safetensors``,
``optimizer.safetensors`` (tensors of the optimiser state) and ``state.json`` (epoch, step,
optimiser hyper-parameters, history, random-number-generator states). Resuming with
``learn.fit_one_cycle(n, lr, resume=path)`` continues the same schedule from the next epoch.
"""

from __future__ import annotations

import json
import random
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from rung.callbacks.core import Callback, CancelFitException, output_path
from rung.utils import atomic_write

if TYPE_CHECKING:
    from rung.learner import Learner

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "CheckpointEveryEpoch",
    "SaveBest",
    "EarlyStopping",
]

CHECKPOINT_VERSION = 1


def _atomic_write_zip(path: Path, members: dict[str, bytes]) -> Path:
    def write(f) -> None:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
            for name, data in members.items():
                zf.writestr(name, data)

    return atomic_write(path, write)


def _tensor_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    from safetensors.torch import save

    return save({k: v.detach().contiguous().cpu().clone() for k, v in tensors.items()})


def save_checkpoint(learn: Learner, path: str | Path) -> Path:
    """Write everything needed to resume ``learn`` after its current epoch."""
    opt_sd = learn.opt.state_dict()
    opt_tensors, opt_scalars = {}, {}
    for pid, st in opt_sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                opt_tensors[f"{pid}.{k}"] = v
            else:
                opt_scalars[f"{pid}.{k}"] = v
    rng = {"torch": torch.get_rng_state()}
    loader_gen = getattr(learn.dls.train, "generator", None)
    if isinstance(loader_gen, torch.Generator):
        rng["loader"] = loader_gen.get_state()
    np_state = np.random.get_state()
    rec = learn.recorder
    state = {
        "version": CHECKPOINT_VERSION,
        "epoch": learn.epoch,
        "n_epoch": learn.n_epoch,
        "train_iter": learn.train_iter,
        "param_groups": opt_sd["param_groups"],
        "opt_scalars": opt_scalars,
        "recorder": {"losses": rec.losses, "lrs": rec.lrs, "moms": rec.moms, "values": rec.values},
        "python_rng": _jsonable(random.getstate()),
        "numpy_rng": [np_state[0], np_state[1].tolist(), *np_state[2:]],
    }
    members = {
        "model.safetensors": _tensor_bytes(
            learn.accelerator.unwrap_model(learn.model).state_dict()
        ),
        "optimizer.safetensors": _tensor_bytes(opt_tensors) if opt_tensors else b"",
        "rng.safetensors": _tensor_bytes(rng),
        "state.json": json.dumps(state).encode(),
    }
    return _atomic_write_zip(Path(path), members)


def _jsonable(x: Any) -> Any:
    if isinstance(x, tuple | list):
        return [_jsonable(v) for v in x]
    return x


def _tuples(x: Any) -> Any:
    if isinstance(x, list):
        return tuple(_tuples(v) for v in x)
    return x


def load_checkpoint(learn: Learner, path: str | Path) -> dict[str, Any]:
    """Restore ``learn`` from :func:`save_checkpoint` so the next epoch is the one after it."""
    from safetensors.torch import load

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}; CheckpointEveryEpoch writes one per epoch."
        )
    try:
        with zipfile.ZipFile(path) as zf:
            state = json.loads(zf.read("state.json"))
            model_sd = load(zf.read("model.safetensors"))
            opt_raw = zf.read("optimizer.safetensors")
            rng = load(zf.read("rng.safetensors"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"{path} is not a rung checkpoint (or it is damaged): {e}") from e
    if state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"{path} has checkpoint version {state.get('version')}; this rung reads {CHECKPOINT_VERSION}."
        )
    learn.accelerator.unwrap_model(learn.model).load_state_dict(model_sd)
    opt_tensors = load(opt_raw) if opt_raw else {}
    opt_state: dict[int, dict[str, Any]] = {}
    for key, v in [*opt_tensors.items(), *state["opt_scalars"].items()]:
        pid, name = key.split(".", 1)
        opt_state.setdefault(int(pid), {})[name] = v
    learn.opt.load_state_dict({"state": opt_state, "param_groups": state["param_groups"]})
    learn.start_epoch = state["epoch"] + 1
    learn.train_iter = state["train_iter"]
    rec = state["recorder"]
    learn.recorder.losses, learn.recorder.lrs = rec["losses"], rec["lrs"]
    learn.recorder.moms, learn.recorder.values = rec["moms"], rec["values"]
    torch.set_rng_state(rng["torch"])
    loader_gen = getattr(learn.dls.train, "generator", None)
    if "loader" in rng and isinstance(loader_gen, torch.Generator):
        loader_gen.set_state(rng["loader"])
    random.setstate(_tuples(state["python_rng"]))
    np_state = state["numpy_rng"]
    np.random.set_state((np_state[0], np.array(np_state[1], dtype=np.uint32), *np_state[2:]))
    return state


class CheckpointEveryEpoch(Callback):
    """Saves a resumable checkpoint after every ``every`` epochs (and the last one).

    ``path`` defaults to ``checkpoints/last.ckpt`` under ``learn.path``; a bare file name goes
    under ``learn.path`` too, and a path with a folder is used as given (see
    :func:`~rung.callbacks.core.output_path`). The latest checkpoint replaces the previous one
    atomically, so an interrupt never leaves a broken file.
    """

    order = 80

    def __init__(self, path: str | Path | None = None, every: int = 1) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a whole number of epochs >= 1, got {every!r}.")
        self.path, self.every = (Path(path) if path is not None else None), every

    def checkpoint_path(self) -> Path:
        """Where the checkpoint goes for this Learner."""
        if self.path is None:
            return Path(self.learn.path) / "checkpoints" / "last.ckpt"
        return output_path(self.learn.path, self.path)

    def after_epoch(self) -> None:
        learn = self.learn
        if (learn.epoch + 1) % self.every and learn.epoch + 1 != learn.n_epoch:
            return
        learn.accelerator.wait_for_everyone()
        if learn.accelerator.is_main_process:
            save_checkpoint(learn, self.checkpoint_path())
        learn.accelerator.wait_for_everyone()


def _better(monitor: str, mode: str) -> Any:
    if mode == "auto":
        mode = "min" if any(w in monitor for w in ("loss", "error", "mae", "rmse")) else "max"
    if mode not in ("min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}.")
    return (lambda new, best: new < best) if mode == "min" else (lambda new, best: new > best)


class _Monitor(Callback):
    order = 70

    def __init__(
        self, monitor: str = "valid_loss", mode: str = "auto", min_delta: float = 0.0
    ) -> None:
        self.monitor, self.min_delta = monitor, min_delta
        self.is_better = _better(monitor, mode)
        self._sign = 1 if self.is_better(0, 1) else -1  # +1 when lower is better

    def before_fit(self) -> None:
        self.best: float | None = None

    def _improved(self) -> bool:
        record = self.learn.recorder.values[-1]
        if self.monitor not in record:
            raise KeyError(
                f"{type(self).__name__} monitors {self.monitor!r}, but the epoch only has {sorted(record)}."
            )
        value = record[self.monitor]
        if self.best is None or self.is_better(value + self._sign * self.min_delta, self.best):
            self.best = value
            return True
        return False


class SaveBest(_Monitor):
    """Keeps the weights of the best epoch by ``monitor`` and puts them back after fit."""

    def __init__(
        self, monitor: str = "valid_loss", mode: str = "auto", load_best: bool = True
    ) -> None:
        super().__init__(monitor, mode)
        self.load_best = load_best

    def after_epoch(self) -> None:
        if self._improved():
            self.best_epoch = self.learn.epoch
            self.state = {k: v.detach().clone() for k, v in self.learn.model.state_dict().items()}

    def after_fit(self) -> None:
        if self.load_best and self.best is not None:
            self.learn.model.load_state_dict(self.state)

    def save(self, path: str | Path) -> Path:
        """Write the best weights to a safetensors file."""
        data = _tensor_bytes(self.state)
        path = Path(path)
        path.write_bytes(data)
        return path


class EarlyStopping(_Monitor):
    """Stops training when ``monitor`` hasn't improved by ``min_delta`` for ``patience`` epochs."""

    def __init__(
        self,
        monitor: str = "valid_loss",
        mode: str = "auto",
        min_delta: float = 0.0,
        patience: int = 3,
    ) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience = patience

    def before_fit(self) -> None:
        super().before_fit()
        self.wait = 0
        self.stopped_epoch: int | None = None

    def after_epoch(self) -> None:
        if self._improved():
            self.wait = 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = self.learn.epoch
            raise CancelFitException()
