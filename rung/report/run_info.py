"""Reading a run folder back: :func:`read_run` gives a :class:`RunInfo`, whatever app wrote it.

The writeup and the runs index both read runs through here, so they agree on what a run's
task, model, data size, final metrics and duration are. Apps write the folder as
:mod:`rung.report.run_folder` describes; every file and key is optional, and a file that
can't be read becomes a line in ``RunInfo.problems``, not an exception.

>>> import tempfile
>>> from rung.report.run_folder import new_run_dir, save_json
>>> run = new_run_dir(tempfile.mkdtemp(), "images")
>>> _ = save_json(run / "config.json", {"task": "classification", "arch": "resnet18",
...                                     "metrics": {"error_rate": 0.02, "valid_loss": 0.08}})
>>> info = read_run(run)
>>> info.app, info.task, info.arch, info.main_metric
('images', 'classification', 'resnet18', 'error_rate')
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rung.report.run_folder import (
    CONFIG_FILE,
    METRICS_FILE,
    MODEL_SUFFIX,
    NOTES_FILE,
    split_run_name,
)

__all__ = [
    "RunInfo",
    "read_run",
    "read_csv_rows",
    "lower_is_better",
    "finite_number",
    "run_lr",
    "run_setting",
    "MAIN_METRICS",
    "SETTINGS_HOLDERS",
]

# the columns of metrics.csv that are not validation metrics
NOT_METRICS = ("fit", "epoch", "train_loss", "time")
# which metric a one-line summary shows, in order of preference
MAIN_METRICS = ("error_rate", "accuracy", "f1", "pearson", "spearman", "r2", "rmse", "mae")
# where the apps' config.json keep the training settings (``lr``, ``lr_source``, ...), besides
# the top level: text under hyperparameters, tables under net, images under training
SETTINGS_HOLDERS = ("hyperparameters", "net", "training", "settings")
_LOWER_IS_BETTER = re.compile(r"(loss|error|mae|mse|rmse|mape|perplexity)", re.IGNORECASE)


@dataclass
class RunInfo:
    """What a run folder holds, read by :func:`read_run`. Every field may be empty.

    ``epochs`` are the rows of metrics.csv (numbers parsed); ``metrics`` the final validation
    metrics (the last epoch's, updated by config.json's ``metrics``); ``model_config`` the
    config.json inside the first model file; ``problems`` lists files that could not be read, so
    a writeup can say so instead of failing.
    """

    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, float | None] = field(default_factory=dict)
    main_metric: str | None = None
    created: dt.datetime | None = None
    app: str | None = None
    task: str | None = None
    arch: str | None = None
    data_path: str | None = None
    n_train: int | None = None
    n_valid: int | None = None
    classes: list[Any] | None = None
    duration_s: float | None = None
    notes: str = ""
    model_files: list[Path] = field(default_factory=list)
    model_config: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        """The run's name: its folder's name, e.g. ``20240131-142501-images``."""
        return self.path.name


def read_run(path: str | os.PathLike) -> RunInfo:
    """Read a run folder (see :mod:`rung.report.run_folder`) into a :class:`RunInfo`.

    >>> import tempfile
    >>> from rung.report.run_folder import atomic_write_text, new_run_dir
    >>> run = new_run_dir(tempfile.mkdtemp(), "table")
    >>> _ = atomic_write_text(run / "metrics.csv", "epoch,train_loss,valid_loss,accuracy,time\\n"
    ...                       "0,0.7,0.6,0.75,1.5\\n1,0.5,0.45,0.8,1.5\\n")
    >>> info = read_run(run)
    >>> info.app, info.main_metric, info.metrics["accuracy"], info.duration_s
    ('table', 'accuracy', 0.8, 3.0)
    """
    run = Path(path).resolve()  # runs/latest -> the run's own folder, whose name is its id
    info = RunInfo(path=run)
    info.config = _read_config(run / CONFIG_FILE, info.problems)
    info.epochs = read_csv_rows(run / METRICS_FILE, info.problems)
    info.model_files = sorted(f for f in run.glob(f"*{MODEL_SUFFIX}") if f.is_file())
    if info.model_files:
        info.model_config = _read_model_config(info.model_files[0], info.problems)
    cfg = info.config

    def look(*keys: str, want: type | tuple[type, ...] = object) -> Any:
        """The first of ``keys`` holding a ``want``: config.json's, else the model file's."""
        found = _lookup(cfg, keys, want)
        return found if found is not None else _lookup(info.model_config, keys, want)

    if info.epochs:
        last = info.epochs[-1]
        info.metrics = {k: v for k, v in last.items() if k not in NOT_METRICS and _is_number(v)}
    declared = look("metrics", want=dict)
    if declared:
        info.metrics.update({str(k): v for k, v in declared.items() if _is_number(v)})
    info.metrics = {k: (float(v) if math.isfinite(v) else None) for k, v in info.metrics.items()}
    main = look("main_metric", "metric", want=str)
    candidates = [main, *MAIN_METRICS, "valid_loss", *info.metrics]
    info.main_metric = next((m for m in candidates if m in info.metrics), None)

    started, name = split_run_name(run.name)
    info.created = started or _created(cfg, run)
    info.app = look("app", want=str) or name
    info.task = look("task", want=str)
    info.arch = look(
        "arch", "model.arch", "model.kwargs.arch", "model_name", "model", "model.name", want=str
    )
    info.data_path = look("data.path", "data_path", "data", "path", want=str)
    info.n_train = _count(look("data.n_train", "n_train", "data.train_size", want=(int, float)))
    info.n_valid = _count(look("data.n_valid", "n_valid", "data.valid_size", want=(int, float)))
    info.classes = look("classes", "data.classes", "vocab", want=list)
    duration = look("duration_s", "duration", "elapsed_s", "seconds", want=(int, float))
    if _is_number(duration):
        info.duration_s = float(duration)
    elif info.epochs and all(_is_number(row.get("time")) for row in info.epochs):
        info.duration_s = float(sum(row["time"] for row in info.epochs))

    notes = [str(cfg["notes"])] if isinstance(cfg.get("notes"), str) and cfg["notes"] else []
    if (run / NOTES_FILE).is_file():
        try:
            notes.insert(0, (run / NOTES_FILE).read_text(encoding="utf-8", errors="replace"))
        except OSError as e:
            info.problems.append(f"{NOTES_FILE} could not be read: {e}")
    info.notes = "\n\n".join(n.strip() for n in notes if n.strip())
    return info


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is better (losses and errors) or a larger one.

    >>> lower_is_better("valid_loss"), lower_is_better("error_rate"), lower_is_better("accuracy")
    (True, True, False)
    """
    return bool(_LOWER_IS_BETTER.search(metric))


def finite_number(value: Any) -> bool:
    """Whether ``value`` is an int or float (not a bool) and finite.

    >>> finite_number(0.5), finite_number(float("nan")), finite_number(True), finite_number("1")
    (True, False, False, False)
    """
    return _is_number(value) and math.isfinite(value)


def run_lr(config: dict[str, Any]) -> float | None:
    """The learning rate a run's ``config.json`` records: its ``lr`` at the top level or in
    one of :data:`SETTINGS_HOLDERS`, a finite number above 0; None when it records none.

    >>> run_lr({"hyperparameters": {"lr": 1e-4}}), run_lr({"lr": "find"})
    (0.0001, None)
    """
    for holder in _holders(config):
        if finite_number(holder.get("lr")) and holder["lr"] > 0:
            return float(holder["lr"])
    return None


def run_setting(config: dict[str, Any], key: str) -> Any:
    """A training setting of a run's ``config.json``: ``key`` at the top level, else in the
    first of :data:`SETTINGS_HOLDERS` that has it; None when none has it.

    >>> run_setting({"training": {"lr_source": "given"}}, "lr_source")
    'given'
    """
    return next((h[key] for h in _holders(config) if h.get(key) is not None), None)


def _holders(config: dict[str, Any]) -> list[dict[str, Any]]:
    """config.json and those of its dicts that hold training settings, in the order read."""
    found = [config, *(config.get(k) for k in SETTINGS_HOLDERS)]
    return [h for h in found if isinstance(h, dict)]


def read_csv_rows(
    path: str | os.PathLike, problems: list[str] | None = None
) -> list[dict[str, Any]]:
    """The rows of a CSV file as dicts, numbers parsed ('' -> None); [] if there is no file.
    A file that can't be read adds a line to ``problems`` (when given) and reads as [].

    >>> import tempfile
    >>> from rung.report.run_folder import atomic_write_text
    >>> path = atomic_write_text(tempfile.mkdtemp() + "/m.csv", "model,accuracy\\nrf,0.83\\nnn,\\n")
    >>> read_csv_rows(path)
    [{'model': 'rf', 'accuracy': 0.83}, {'model': 'nn', 'accuracy': None}]
    """
    path = Path(path)
    if not path.is_file():
        return []
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as f:
            return [{k: _parse_cell(v) for k, v in row.items() if k} for row in csv.DictReader(f)]
    except (OSError, csv.Error) as e:
        if problems is not None:
            problems.append(f"{path.name} could not be read: {e}")
        return []


def _read_config(path: Path, problems: list[str]) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        problems.append(f"{path.name} could not be read: {e}")
        return {}
    if not isinstance(config, dict):
        problems.append(f"{path.name} holds a {type(config).__name__}, not a JSON object")
        return {}
    return config


def _read_model_config(path: Path, problems: list[str]) -> dict[str, Any]:
    from rung.modelfile import ModelFileError, read_model_config  # reads JSON only, no torch

    try:
        return read_model_config(path)
    except (ModelFileError, OSError) as e:
        problems.append(f"{path.name} could not be read: {e}")
        return {}


def _lookup(config: dict[str, Any], keys: tuple[str, ...], want: type | tuple[type, ...]) -> Any:
    """The first of the dotted ``keys`` of ``config`` whose value is a ``want`` (not empty)."""
    for key in keys:
        value: Any = config
        for part in key.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if isinstance(value, want) and value is not None and value != "":
            return value
    return None


def _created(config: dict[str, Any], run: Path) -> dt.datetime | None:
    """When a run not named by new_run_dir started: config.json's ``created``, else the
    folder's modification time."""
    created = config.get("created")
    if isinstance(created, str):
        try:
            return dt.datetime.fromisoformat(created)
        except ValueError:
            pass
    try:
        return dt.datetime.fromtimestamp(run.stat().st_mtime).replace(microsecond=0)
    except OSError:
        return None


def _parse_cell(text: str | None) -> Any:
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(value: Any) -> int | None:
    return int(value) if _is_number(value) and value >= 0 else None
