"""Small helpers every rung may use: seeding, closest-name suggestions, atomic writes, plain
values, encodings and time budgets."""

from __future__ import annotations

import codecs
import difflib
import math
import os
import random
import re
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

__all__ = [
    "seed_everything",
    "closest",
    "atomic_write",
    "plain_value",
    "check_encoding",
    "parse_budget",
]


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and PyTorch (CPU and every GPU) for a reproducible run.

    Seed before building the model, so its initial weights repeat too. Python's string hashing
    (the order of a set of strings) is not seeded here: its seed is read once, when Python
    starts, from the ``PYTHONHASHSEED`` environment variable, so setting that variable in a
    running process changes nothing for it (only for the processes it starts later). Start
    Python with ``PYTHONHASHSEED=0`` where that order matters. ``os.environ`` is left alone.

    >>> import os, torch
    >>> environ = dict(os.environ)
    >>> seed_everything(42); a = torch.rand(1); seed_everything(42); bool(torch.rand(1) == a)
    True
    >>> dict(os.environ) == environ
    True
    """
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds every CUDA device


def closest(name: str, choices: Iterable[str]) -> str:
    """A ``"; did you mean 'x'?"`` hint for an unknown ``name``, or ``""`` when nothing is close.

    >>> closest("Survivd", ["PassengerId", "Survived", "Sex"])
    "; did you mean 'Survived'?"
    >>> closest("zzz", ["a", "b"])
    ''
    """
    match = difflib.get_close_matches(name, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {match[0]!r}?" if match else ""


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call ``write`` on a temporary file beside ``path``, then rename it over ``path``.

    The rename is atomic on one file system: readers see the old file or the new one, never
    half of one. On any error (Ctrl-C included) the temporary file is removed and ``path`` is
    left as it was. The file gets the permissions a plain ``open(path, "w")`` would give.

    >>> import tempfile
    >>> path = atomic_write(tempfile.mkdtemp() + "/a/b.txt", lambda f: f.write(b"hi"))
    >>> path.read_bytes()
    b'hi'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp_name, _file_mode(path))  # mkstemp makes it private (0600)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def _file_mode(path: Path) -> int:
    """The permissions a plain ``open(path, "w")`` would give: the old file's, else 0666 - umask."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def plain_value(value: Any) -> Any:
    """A label as plain JSON data: numpy scalars to Python, whole floats to ints (1.0 -> 1, as
    the CSV had it), anything else to its text.

    >>> import numpy as np
    >>> plain_value(np.float64(1.0)), plain_value(np.int64(3)), plain_value(0.5), plain_value("a")
    (1, 3, 0.5, 'a')
    """
    import numpy as np

    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else float(value)
    return str(value)


def check_encoding(encoding: str | None) -> str:
    """``encoding`` (utf-8 when None) if Python knows it, else a ValueError naming common ones.

    >>> check_encoding(None), check_encoding("latin-1")
    ('utf-8', 'latin-1')
    """
    encoding = encoding or "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ValueError(
            f"unknown encoding {encoding!r}; common ones are 'utf-8', 'latin-1', 'cp1252' "
            "(e.g. --encoding latin-1)."
        ) from None
    return encoding


def parse_budget(text: str | float | int | None) -> float | None:
    """A time budget in seconds: ``"90s"``, ``"3m"``, ``"1h"``, ``"2m30s"``, a number of
    seconds, or ``"none"``/None for no budget.

    >>> parse_budget("3m"), parse_budget("2m30s"), parse_budget(45), parse_budget("none")
    (180.0, 150.0, 45.0, None)
    >>> parse_budget("soon")
    Traceback (most recent call last):
    ...
    ValueError: budget 'soon' is not a duration; give e.g. --budget 3m, 90s, 1h or none.
    """
    if text is None or (isinstance(text, str) and text.strip().lower() in ("none", "off", "")):
        return None
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        seconds = float(text)
    else:
        parts = re.fullmatch(
            r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*",
            str(text),
        )
        if parts is None or not any(parts.groups()):
            raise ValueError(
                f"budget {text!r} is not a duration; give e.g. --budget 3m, 90s, 1h or none."
            )
        h, m, s = (float(g) if g else 0.0 for g in parts.groups())
        seconds = 3600 * h + 60 * m + s
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"budget must be more than 0 seconds, e.g. --budget 3m; got {text!r}.")
    return seconds
