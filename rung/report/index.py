"""The runs index: ``runs/index.sqlite``, so ``rung runs`` can list and compare runs quickly.

The index is a cache of what the run folders hold: :func:`record_run` marks a run complete and
adds it when an app finishes one, and :func:`list_runs` brings the index up to date with the
folders (it indexes folders it has not seen or that changed since, and forgets folders that are
gone), so deleting ``index.sqlite`` loses nothing. Nor can the index fail a run: one that can't
be written (damaged, locked, read-only, from a newer rung) is a warning, and a damaged one is
moved aside and started afresh. Several processes may train and record at once: each write is
one transaction, and a writer waits for another's lock instead of failing.

>>> import tempfile
>>> from rung.report.run_folder import new_run_dir, save_json
>>> root = tempfile.mkdtemp()
>>> run = new_run_dir(root, "table")
>>> _ = save_json(run / "config.json", {"task": "classification", "metrics": {"accuracy": 0.83}})
>>> record_run(run)["metrics"]
{'accuracy': 0.83}
>>> [row["id"] for row in list_runs(root)] == [run.name]
True
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import sqlite3
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from rung.report import page
from rung.report.run_folder import (
    CONFIG_FILE,
    METRICS_FILE,
    MODEL_SUFFIX,
    is_run_dir,
    mark_complete,
    run_status,
)
from rung.report.run_info import read_run

__all__ = ["INDEX_FILE", "SCHEMA_VERSION", "record_run", "list_runs", "format_runs"]

INDEX_FILE = "index.sqlite"
SCHEMA_VERSION = 1  # bump when the table changes: an older index is then rebuilt from the folders
_TIMEOUT_S = 30.0  # how long a writer waits for another process's lock
_COLUMNS = (
    "id", "created", "app", "task", "arch", "data", "n_train", "n_valid", "metrics",
    "main_metric", "model_file", "duration_s", "n_epochs", "signature", "recorded",
)  # fmt: skip
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,      -- the run folder's name
    created TEXT NOT NULL,    -- ISO time the run started
    app TEXT, task TEXT, arch TEXT, data TEXT,
    n_train INTEGER, n_valid INTEGER,
    metrics TEXT NOT NULL,    -- final validation metrics, a JSON object
    main_metric TEXT,
    model_file TEXT,          -- the model file's name inside the run folder
    duration_s REAL,
    n_epochs INTEGER,
    signature TEXT NOT NULL,  -- sizes and times of the files read: a change means re-index
    recorded TEXT NOT NULL
)
"""


def record_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Mark the run complete (:func:`~rung.report.run_folder.mark_complete`: ``runs/latest``
    moves to it) and add it to its runs folder's index; return its row (see
    :func:`list_runs`). Apps call it when a run ends. An index that can't be written is a
    warning, never an error: the run folder is what counts.

    >>> import tempfile
    >>> from rung.report.run_folder import new_run_dir
    >>> row = record_run(new_run_dir(tempfile.mkdtemp(), "images"))
    >>> row["app"], row["status"]
    ('images', 'complete')
    """
    run = Path(run_dir).resolve()  # runs/latest -> runs/<time>-<name>
    if not run.is_dir():
        raise FileNotFoundError(f"{run} is not a folder; record_run takes a run folder.")
    mark_complete(run)
    record = _record_of(run)
    _index(run.parent, record)
    return _row(record, run.parent)


def list_runs(root: str | os.PathLike = "runs") -> list[dict[str, Any]]:
    """The runs in ``root``, newest first, as dicts of JSON values: id, path, status
    (complete, running, or incomplete: stopped halfway), created (ISO time), app, task, arch,
    data, n_train, n_valid, metrics (a dict), main_metric, model_path, duration_s, n_epochs.

    Run folders the index lacks, or that changed since they were indexed, are read and
    indexed; rows whose folder is gone are dropped. Without a writable index (a read-only
    folder) the runs are read from the folders directly.

    >>> import tempfile
    >>> list_runs(tempfile.mkdtemp() + "/no-runs-yet")
    []
    """
    root = Path(root)
    if not root.is_dir():
        return []
    folders = {
        d.name: _signature(d)
        for d in root.iterdir()
        if not d.is_symlink() and not d.name.startswith(".") and is_run_dir(d)
    }
    try:
        with _open_index(root) as db:
            known = dict(db.execute("SELECT id, signature FROM runs").fetchall())
            changed = [name for name, sig in folders.items() if known.get(name) != sig]
            records = [_record_of(root / name) for name in changed]  # read outside the lock
            # a folder made (and recorded) after the scan above is not gone: look again
            gone = [n for n in known if n not in folders and not (root / n).is_dir()]
            if records or gone:
                with _write(db):
                    for record in records:
                        _upsert(db, record)
                    db.executemany("DELETE FROM runs WHERE id = ?", [(name,) for name in gone])
            rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM runs").fetchall()
        records = [dict(zip(_COLUMNS, row)) for row in rows]
    except sqlite3.DatabaseError:  # a read-only folder, a damaged index: same answer, slower
        records = [_record_of(root / name) for name in folders]
    runs = [_row(record, root) for record in records]
    return sorted(runs, key=lambda r: (r["created"], _natural(r["id"])), reverse=True)


def format_runs(rows: Sequence[dict[str, Any]], metric: str | None = None) -> str:
    """A text table of runs for ``rung runs``: run, task, model, the main metric (or
    ``metric``) and valid_loss, epochs, time.

    >>> print(format_runs([{"id": "20240131-142501-table", "app": "table",
    ...     "task": "classification", "arch": "rf", "metrics": {"accuracy": 0.8315},
    ...     "main_metric": "accuracy", "n_epochs": None, "duration_s": 4.2}]))
    run                    task                  model  accuracy  epochs   time
    20240131-142501-table  table/classification  rf       0.8315       -  4.2 s
    """
    if not rows:
        return "No runs yet. Train one, e.g.: rung train images DIR  (or rung train table CSV)"
    mains = {r.get("main_metric") for r in rows if r.get("main_metric")}
    shared = metric or (mains.pop() if len(mains) == 1 else None)
    metric_header = shared or "metric"
    show_loss = metric is None and any("valid_loss" in (r.get("metrics") or {}) for r in rows)
    show_loss = show_loss and shared != "valid_loss"
    header = ["run", "task", "model", metric_header] + (["valid_loss"] if show_loss else [])
    header += ["epochs", "time"]
    show_status = any(r.get("status", "complete") != "complete" for r in rows)
    header += ["status"] if show_status else []
    table = []
    for r in rows:
        metrics = r.get("metrics") or {}
        if shared:
            main = page.number(metrics[shared]) if shared in metrics else "-"
        elif r.get("main_metric") in metrics:
            main = f"{r['main_metric']} {page.number(metrics[r['main_metric']])}"
        else:
            main = "-"
        line = [r.get("id", "?"), _task(r), r.get("arch") or "-", main]
        if show_loss:
            line.append(page.number(metrics["valid_loss"]) if "valid_loss" in metrics else "-")
        epochs = r.get("n_epochs")
        line += [str(epochs) if epochs else "-", page.duration(r.get("duration_s"))]
        line += [r.get("status", "complete")] if show_status else []
        table.append([s if s != "n/a" else "-" for s in line])
    return _text_table(header, table, right=set(range(3, len(header) - show_status)))


def _record_of(run: Path) -> dict[str, Any]:
    """The index row of a run folder, read from the folder."""
    info = read_run(run)
    return {
        "id": run.name,
        "created": info.created.isoformat(sep=" ") if info.created else "",
        "app": info.app,
        "task": info.task,
        "arch": info.arch,
        "data": info.data_path,
        "n_train": info.n_train,
        "n_valid": info.n_valid,
        "metrics": json.dumps(info.metrics, allow_nan=False),
        "main_metric": info.main_metric,
        "model_file": info.model_files[0].name if info.model_files else None,
        "duration_s": info.duration_s,
        "n_epochs": len(info.epochs) or None,
        "signature": _signature(run),
        "recorded": dt.datetime.now().isoformat(sep=" ", timespec="seconds"),
    }


def _index(root: Path, record: dict[str, Any]) -> None:
    """Upsert ``record`` into ``root``'s index, or warn (one line: the file, why, and how to
    rebuild it). A damaged index is moved aside to ``index.sqlite.damaged`` and started
    afresh: :func:`list_runs` re-reads every run folder into it."""
    path = root / INDEX_FILE
    try:
        with _open_index(root) as db, _write(db):
            _upsert(db, record)
        return
    except sqlite3.OperationalError as e:  # locked, read-only, no permission: leave it be
        problem = str(e)
    except sqlite3.DatabaseError as e:  # not a database, or a malformed one
        damaged = path.with_name(INDEX_FILE + ".damaged")
        try:
            os.replace(path, damaged)
            with _open_index(root) as db, _write(db):
                _upsert(db, record)
        except (OSError, sqlite3.Error) as again:
            problem = f"damaged, and could not be replaced: {again}"
        else:
            warnings.warn(
                f"{path} was damaged ({e.__cause__ or e}); moved it to {damaged.name} and "
                "started a new index (`rung runs` re-reads the run folders into it).",
                RuntimeWarning,
                stacklevel=3,
            )
            return
    except (RuntimeError, OSError) as e:  # written by a newer rung, or no such folder
        problem = str(e)
    warnings.warn(
        f"the run is complete, but {path} could not record it ({problem}); `rung runs` still "
        f"lists it. To rebuild the index, delete {path}.",
        RuntimeWarning,
        stacklevel=3,
    )


def _row(record: dict[str, Any], root: Path) -> dict[str, Any]:
    """An index record as list_runs gives it: paths joined to the runs folder, and the
    run's status (complete, running, incomplete) read from the folder now."""
    row = {k: v for k, v in record.items() if k not in ("signature", "recorded", "model_file")}
    row["metrics"] = json.loads(record["metrics"] or "{}")
    run = root / record["id"]
    row["status"] = run_status(run)
    row["path"] = str(run)
    row["model_path"] = str(run / record["model_file"]) if record["model_file"] else None
    return row


def _signature(run: Path) -> str:
    """Sizes and modification times of the files a record is read from."""
    parts = []
    for path in sorted(run.iterdir()):
        if path.name in (CONFIG_FILE, METRICS_FILE) or path.suffix == MODEL_SUFFIX:
            with contextlib.suppress(OSError):
                stat = path.stat()
                parts.append(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns}")
    return "|".join(parts)


@contextlib.contextmanager
def _open_index(root: Path) -> Iterator[sqlite3.Connection]:
    """A connection to ``root/index.sqlite`` with the table made and the schema checked."""
    path = root / INDEX_FILE
    db = sqlite3.connect(path, timeout=_TIMEOUT_S, isolation_level=None)  # we BEGIN ourselves
    try:
        try:
            version = db.execute("PRAGMA user_version").fetchone()[0]
        except sqlite3.DatabaseError as e:
            if isinstance(e, sqlite3.OperationalError):
                raise  # locked, or no permission: not the file's fault
            raise sqlite3.DatabaseError(
                f"{path} is not a usable index ({e}); delete it: rung rebuilds it from the run "
                "folders."
            ) from e
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{path} was written by a newer rung (index schema {version}, this rung reads "
                f"{SCHEMA_VERSION}). Upgrade rung, or delete {path}: it is rebuilt from the run "
                "folders."
            )
        if version < SCHEMA_VERSION:
            with _write(db):  # an older (or new) index: rebuild it, the folders hold everything
                if db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
                    db.execute("DROP TABLE IF EXISTS runs")
                    db.execute(_SCHEMA)
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        yield db
    finally:
        db.close()


@contextlib.contextmanager
def _write(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction. BEGIN IMMEDIATE takes the write lock up front, so two writers
    queue (up to the timeout) instead of failing halfway with 'database is locked'."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _upsert(db: sqlite3.Connection, record: dict[str, Any]) -> None:
    marks = ", ".join("?" for _ in _COLUMNS)
    db.execute(
        f"INSERT OR REPLACE INTO runs ({', '.join(_COLUMNS)}) VALUES ({marks})",
        [record[c] for c in _COLUMNS],
    )


def _task(row: dict[str, Any]) -> str:
    parts = [row.get("app"), row.get("task")]
    return "/".join(p for p in parts if p) or "-"


def _natural(text: str) -> list[Any]:
    """Sort key that puts run-10 after run-9."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]


def _text_table(header: list[str], rows: list[list[str]], right: set[int]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]

    def line(cells: list[str]) -> str:
        out = [
            str(c).rjust(w) if j in right else str(c).ljust(w)
            for j, (c, w) in enumerate(zip(cells, widths))
        ]
        return "  ".join(out).rstrip()

    return "\n".join([line(header), *(line(r) for r in rows)])
