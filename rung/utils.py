"""Small helpers every rung may use: seeding and closest-name suggestions."""

from __future__ import annotations

import difflib
import os
import random
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

__all__ = ["seed_everything", "closest", "atomic_write"]


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
