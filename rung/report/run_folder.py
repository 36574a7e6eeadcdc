"""The run folder: where every training run leaves what it did.

Each run gets ``runs/<YYYYmmdd-HHMMSS>-<name>/``, holding an ``INCOMPLETE`` marker until the
run ends: :func:`new_run_dir` writes it, :func:`mark_complete` (which ``record_run`` calls when an
app finishes a run) removes it and points ``runs/latest`` at the newest complete run (a symlink
where the file system allows one, else a ``runs/LATEST`` text file naming it). A run stopped
halfway (Ctrl-C, a crash) keeps its marker, so ``runs/latest`` stays on the last run that
finished and ``rung runs`` lists it as ``incomplete``. A run folder holds, every file optional:

- ``config.json``: what the run was. Keys the reports know (anything else is shown as is):
  ``app`` (images, table, text), ``task`` (classification, regression), ``data`` (``{"path",
  "n_train", "n_valid", ...}``), ``arch`` or ``model`` (a name, or the model file's
  ``{"name", "kwargs": {"arch": ...}}`` spec), ``hyperparameters``, ``classes``, ``metrics``
  (final validation metrics by name), ``main_metric``, ``duration_s``, ``notes``, ``created``
  (ISO time; only needed for a folder not named by :func:`new_run_dir`);
- ``metrics.csv``: one row per epoch (``Recorder.to_csv``): epoch, train_loss, valid_loss,
  metrics, time;
- ``leaderboard.csv``: one row per model compared on the same validation set;
- ``*.png``: plots (loss, lr_find, confusion_matrix, top_losses, show_batch, importance, ...);
- ``notes.txt``: free text; ``*.rung``: the model file;
- ``report.html`` and ``report.md``: the writeup (:func:`rung.report.write_writeup`).

:func:`rung.report.read_run` reads all that back, whatever app wrote it.

>>> import tempfile
>>> root = tempfile.mkdtemp()
>>> run = new_run_dir(root, name="images")
>>> _ = save_json(run / "config.json", {"app": "images", "task": "classification"})
>>> run_status(run)  # this process is still making it
'running'
>>> mark_complete(run)
>>> resolve_run(f"{root}/latest") == run.resolve(), run_status(run)
(True, 'complete')
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rung.utils import atomic_write, closest

__all__ = [
    "CONFIG_FILE",
    "METRICS_FILE",
    "LEADERBOARD_FILE",
    "NOTES_FILE",
    "MODEL_SUFFIX",
    "RunNotFoundError",
    "INCOMPLETE_FILE",
    "new_run_dir",
    "mark_complete",
    "run_status",
    "resolve_run",
    "is_run_dir",
    "split_run_name",
    "save_json",
    "atomic_write_text",
]

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.csv"
LEADERBOARD_FILE = "leaderboard.csv"
NOTES_FILE = "notes.txt"
MODEL_SUFFIX = ".rung"
INCOMPLETE_FILE = "INCOMPLETE"  # in a run folder until the run ends
_LATEST_LINK = "latest"
_LATEST_FILE = "LATEST"
_LATEST_LOCK = ".latest.lock"  # held while latest moves
_TIME_FORMAT = "%Y%m%d-%H%M%S"
_RUN_NAME = re.compile(r"^(\d{8}-\d{6})-(.+?)(?:-\d+)?$")  # 20240131-142501-images-2


class RunNotFoundError(FileNotFoundError):
    """A path that names no run folder; the message says what would."""


def new_run_dir(root: str | os.PathLike = "runs", name: str = "images") -> Path:
    """Create ``root/<YYYYmmdd-HHMMSS>-<name>/`` (``-2``, ``-3``... if taken) holding an
    ``INCOMPLETE`` marker (which process made it, when), removed by :func:`mark_complete` when
    the run ends. ``root/latest`` moves only then. Safe when several runs start in the same
    second.

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> first, second = new_run_dir(root, "table"), new_run_dir(root, "table")
    >>> second.name == first.name + "-2" or second.name[:15] != first.name[:15]
    True
    """
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-.")
    if not safe:
        raise ValueError(f"a run name needs letters or digits, got {name!r}; e.g. 'images'.")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    base = f"{dt.datetime.now().strftime(_TIME_FORMAT)}-{safe}"
    for n in range(1, 10_000):
        run = root / (base if n == 1 else f"{base}-{n}")
        try:
            run.mkdir()  # fails if another process took this name first: try the next one
        except FileExistsError:
            continue
        marker = {"pid": os.getpid(), "host": socket.gethostname(), "started": dt.datetime.now()}
        save_json(run / INCOMPLETE_FILE, marker)
        return run
    raise FileExistsError(f"{root} already holds 10,000 runs named {base}-N; use another name.")


def mark_complete(run_dir: str | os.PathLike) -> None:
    """Mark a run finished: remove its ``INCOMPLETE`` marker and point ``root/latest`` at the
    newest complete run (this one, unless a run that started later finished first).

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> first, second = new_run_dir(root, "a"), new_run_dir(root, "b")
    >>> mark_complete(first)  # second is still running: latest is first
    >>> resolve_run("latest", root) == first.resolve()
    True
    """
    run = Path(run_dir).resolve()
    (run / INCOMPLETE_FILE).unlink(missing_ok=True)
    with _latest_lock(run.parent):  # runs finishing together: each compares with the last one
        current = _latest_target(run.parent)
        if current is None or run_status(current) != "complete" or _order(current) <= _order(run):
            _point_latest(run.parent, run)


@contextlib.contextmanager
def _latest_lock(root: Path) -> Iterator[None]:
    """Hold ``root/.latest.lock`` (an advisory lock, between threads and processes alike)
    while ``latest`` is read and moved; where there is no ``fcntl`` (Windows), no lock."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with open(root / _LATEST_LOCK, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_status(run_dir: str | os.PathLike) -> str:
    """``"complete"``, ``"running"`` (its ``INCOMPLETE`` marker names a live process of this
    machine) or ``"incomplete"`` (stopped halfway: interrupted, or crashed). Folders from
    before the marker existed are complete.

    >>> import tempfile
    >>> run_status(tempfile.mkdtemp())
    'complete'
    """
    marker = Path(run_dir) / INCOMPLETE_FILE
    if not marker.exists():
        return "complete"
    try:
        made_by = json.loads(marker.read_text(encoding="utf-8")[:1000])
        pid, host = int(made_by["pid"]), made_by["host"]
    except (OSError, ValueError, TypeError, KeyError):
        return "incomplete"
    return "running" if host == socket.gethostname() and _alive(pid) else "incomplete"


def resolve_run(path: str | os.PathLike = "runs/latest", root: str | os.PathLike = "runs") -> Path:
    """The run folder that ``path`` names: ``runs/latest`` (or just ``latest``), a run folder,
    a run's name inside ``root``, or a file inside a run folder (e.g. its model file).

    >>> import tempfile
    >>> root = tempfile.mkdtemp()
    >>> run = new_run_dir(root, "images")
    >>> _ = atomic_write_text(run / "notes.txt", "first try")
    >>> resolve_run(run / "notes.txt", root) == resolve_run(run.name, root) == run.resolve()
    True
    >>> resolve_run(root + "/nowhere", root)
    Traceback (most recent call last):
    ...
    rung.report.run_folder.RunNotFoundError: ...nowhere does not exist...
    """
    root = Path(root)
    p = Path(path)
    if str(path) == _LATEST_LINK:
        p = root / _LATEST_LINK
    latest = p.name.lower() == _LATEST_LINK.lower()
    if latest and not p.is_dir():
        p = _follow_latest_file(p)
    if latest and p.is_dir() and run_status(p) != "complete":  # a pointer left by an old rung
        p = _newest_complete(p.resolve().parent, unfinished=p.resolve())
    if not p.exists():
        if not p.is_absolute() and (root / p).exists():
            return resolve_run(root / p, root)
        known = _run_names(root)
        hint = closest(p.name, known) if known else ""
        raise RunNotFoundError(
            f"{p} does not exist{hint}. Give a run folder, its model file, or runs/latest"
            + (f"; runs in {root}: {', '.join(known[-5:])}." if known else ".")
        )
    p = p.resolve()  # runs/latest -> runs/<time>-<name>: judge the folder by its real name
    if p.is_file():
        if is_run_dir(p.parent):
            return p.parent
        raise RunNotFoundError(
            f"{p} is a file outside any run folder (its folder {p.parent} has no "
            f"{CONFIG_FILE}, {METRICS_FILE} or model file). Give a run folder such as runs/latest."
        )
    if is_run_dir(p):
        return p
    runs = _run_names(p)
    if runs:
        raise RunNotFoundError(
            f"{p} is a folder of runs, not one run; pick one: {p / _LATEST_LINK} or "
            f"{', '.join(str(p / r) for r in runs[-3:])}."
        )
    raise RunNotFoundError(
        f"{p} is not a run folder: it has no {CONFIG_FILE}, {METRICS_FILE} or model file. "
        "Run folders are made by training, e.g. `rung train images DIR` -> runs/<time>-images/."
    )


def is_run_dir(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a run folder: named like one by :func:`new_run_dir` (a run still
    starting may hold nothing yet), or holding a run's config, metrics or model file.

    >>> import tempfile
    >>> is_run_dir(tempfile.mkdtemp()), is_run_dir(new_run_dir(tempfile.mkdtemp()))
    (False, True)
    """
    p = Path(path)
    if not p.is_dir():
        return False
    if split_run_name(p.name)[0] is not None:
        return True
    if (p / CONFIG_FILE).is_file() or (p / METRICS_FILE).is_file():
        return True
    return any(f.suffix == MODEL_SUFFIX for f in p.iterdir() if f.is_file())


def split_run_name(name: str) -> tuple[dt.datetime | None, str | None]:
    """``(start time, name)`` of a folder named by :func:`new_run_dir`, else ``(None, None)``.

    >>> split_run_name("20240131-142501-images-2")
    (datetime.datetime(2024, 1, 31, 14, 25, 1), 'images')
    >>> split_run_name("my-experiment")
    (None, None)
    """
    match = _RUN_NAME.match(name)
    if not match:
        return None, None
    try:
        return dt.datetime.strptime(match.group(1), _TIME_FORMAT), match.group(2)
    except ValueError:  # 8 and 6 digits that are no date, e.g. 99999999-999999
        return None, None


def save_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically (a reader sees the old file or the new one).

    numpy and torch numbers and arrays become numbers and lists, paths and dates become
    strings, sets become sorted lists, NaN and infinity become null (strict JSON has none).

    >>> import tempfile, pathlib
    >>> path = save_json(tempfile.mkdtemp() + "/c.json", {"lr": float("nan"), "p": pathlib.Path("a")})
    >>> path.read_text()
    '{\\n  "lr": null,\\n  "p": "a"\\n}\\n'
    """
    text = json.dumps(_jsonable(obj, "obj"), indent=2, ensure_ascii=False, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to a temporary file beside ``path``, then rename it over ``path``.

    >>> import tempfile
    >>> atomic_write_text(tempfile.mkdtemp() + "/notes.txt", "hello").read_text()
    'hello'
    """
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _point_latest(root: Path, run: Path) -> None:
    """Point ``root/latest`` at ``run``: a relative symlink swapped in atomically, or, where
    symlinks aren't allowed (Windows without developer mode), a ``LATEST`` file naming it."""
    link = root / _LATEST_LINK
    tmp = root / f".{_LATEST_LINK}.{os.getpid()}.{run.name}.tmp"
    try:
        os.symlink(run.name, tmp, target_is_directory=True)
        os.replace(tmp, link)
    except OSError:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        atomic_write_text(root / _LATEST_FILE, run.name + "\n")
        return
    stale = root / _LATEST_FILE
    # on a case-insensitive file system LATEST *is* the new link: only remove a plain file
    if stale.is_file() and not stale.is_symlink():
        stale.unlink(missing_ok=True)


def _follow_latest_file(p: Path) -> Path:
    """``runs/latest`` that is no folder: a dangling link, the LATEST file's run, or (no
    pointer yet) the newest complete run."""
    if p.is_symlink():
        raise RunNotFoundError(
            f"{p} points to {os.readlink(p)}, which no longer exists; give a run folder instead."
        )
    latest_file = p.parent / _LATEST_FILE
    if latest_file.is_file():
        name = latest_file.read_text(encoding="utf-8").strip()
        return p.parent / name
    return _newest_complete(p.parent)


def _newest_complete(root: Path, unfinished: Path | None = None) -> Path:
    """The newest run in ``root`` that finished, or an error saying there is none."""
    runs = [root / name for name in _run_names(root)]
    complete = [run for run in runs if run_status(run) == "complete"]
    if complete:
        return max(complete, key=_order)
    if runs or unfinished is not None:
        newest = unfinished or max(runs, key=_order)
        raise RunNotFoundError(
            f"no finished runs yet in {root}: the newest, {newest.name}, is "
            f"{run_status(newest)} (stopped before it ended, or still training). Give its "
            "folder to look at what it left, or train again."
        )
    raise RunNotFoundError(
        f"no runs yet in {root} ({root / _LATEST_LINK} does not exist); train one first, e.g. "
        "`rung train images DIR`, then use runs/latest."
    )


def _latest_target(root: Path) -> Path | None:
    """The run ``root/latest`` (or ``root/LATEST``) names, if any."""
    link, latest_file = root / _LATEST_LINK, root / _LATEST_FILE
    if link.is_symlink():
        return root / os.readlink(link)
    if latest_file.is_file() and not latest_file.is_symlink():
        return root / latest_file.read_text(encoding="utf-8").strip()
    return None


def _order(run: Path) -> tuple[dt.datetime, list[Any]]:
    """Sort key of runs by start: the time in the name, then run-2 before run-10."""
    started = split_run_name(run.name)[0] or dt.datetime.min
    return started, [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", run.name)]


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (POSIX; elsewhere no process is assumed alive)."""
    if os.name != "posix":
        return False  # os.kill(pid, 0) would terminate it on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _run_names(root: Path) -> list[str]:
    """Names of the run folders directly inside ``root``, oldest first."""
    if not root.is_dir():
        return []
    return sorted(d.name for d in root.iterdir() if not d.is_symlink() and is_run_dir(d))


def _jsonable(value: Any, where: str) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_key(k, where): _jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v, where) for v in value), key=str)
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy array/scalar, torch tensor
        return _jsonable(value.tolist(), where)
    if isinstance(value, (os.PathLike, dt.date, dt.time)):
        return value.isoformat() if isinstance(value, (dt.date, dt.time)) else os.fspath(value)
    raise TypeError(
        f"{where} is {value!r} ({type(value).__name__}), which JSON can't hold; store numbers, "
        "strings, bools, None, lists and dicts (e.g. a name instead of a function)."
    )


def _key(key: Any, where: str) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, (int, float, bool)) or hasattr(key, "dtype") or key is None:
        return str(key.item() if hasattr(key, "item") else key)
    raise TypeError(f"{where} has the key {key!r} ({type(key).__name__}); use str({key!r}).")
