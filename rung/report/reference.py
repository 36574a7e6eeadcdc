"""The reference part at the end of a writeup: the model file (name, size, how it is built),
config.json as key / value rows (known keys first, one level of nesting spread out), and the
other files of the run folder."""

from __future__ import annotations

import json
from typing import Any

from rung.report import page
from rung.report.run_info import RunInfo

__all__ = ["reference_sections"]

# config.json keys shown first in the configuration table, in this order
_KNOWN_KEYS = ("app", "task", "data", "arch", "model", "hyperparameters", "classes", "metrics",
               "main_metric", "duration_s", "created")  # fmt: skip
_NOT_SHOWN = ("notes", "facts")  # shown in their own sections


def reference_sections(
    info: RunInfo, written: tuple[str, ...] = ()
) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """The reference sections at the end of a writeup, ``(id, heading, key/value rows)``,
    the empty ones left out: the model file, the configuration, and the other files of the
    folder (``written``: the writeup's own files, not listed).

    >>> import pathlib
    >>> reference_sections(RunInfo(path=pathlib.Path("r"), config={"task": "regression"}))
    [('configuration', 'Configuration', [('task', 'regression')])]
    """
    parts = [
        ("model", "Model", _model_rows(info)),
        ("configuration", "Configuration", _config_rows(info.config)),
        (
            "files",
            "Files in this folder",
            _other_files(info, written) if info.path.is_dir() else [],
        ),
    ]
    return [part for part in parts if part[2]]


def _config_rows(config: dict[str, Any]) -> list[tuple[str, str]]:
    """``(key, value)`` rows: known keys first, one level of nesting spread out."""
    keys = [k for k in _KNOWN_KEYS if k in config]
    keys += [k for k in config if k not in keys and k not in _NOT_SHOWN]
    rows = []
    for key in keys:
        value = config[key]
        if isinstance(value, dict) and value:
            rows += [(f"{key} / {sub}", page.value(v)) for sub, v in value.items()]
        else:
            rows.append((key, page.value(value)))
    return rows


def _model_rows(info: RunInfo) -> list[tuple[str, str]]:
    rows = []
    for path in info.model_files:
        rows.append((path.name, page.size(path.stat().st_size)))
    spec = info.model_config.get("model")
    if isinstance(spec, dict) and isinstance(spec.get("name"), str):
        kwargs = spec.get("kwargs") if isinstance(spec.get("kwargs"), dict) else {}
        args = ", ".join(f"{k}={json.dumps(v)}" for k, v in kwargs.items())
        rows.append(("built as", f"{spec['name']}({args})"))
    for key in ("format_version", "rung_version"):
        if key in info.model_config:
            rows.append((key.replace("_", " "), page.value(info.model_config[key])))
    return rows


def _other_files(info: RunInfo, written: tuple[str, ...]) -> list[tuple[str, str]]:
    shown = {*written, *(p.name for p in info.model_files)}
    rows = []
    for path in sorted(info.path.iterdir()):
        if path.name.startswith(".") or path.name in shown or not path.is_file():
            continue
        rows.append((path.name, page.size(path.stat().st_size)))
    return rows
