"""Moving image files for ``rung clean``, and moving them back: never deleting, never
overwriting, never leaving the data folder, every move logged for :func:`undo`.

relabel: the file moves to a sibling class folder (``train/cats/x.jpg`` -> ``train/dogs/x.jpg``);
aside: to ``<data>/.quarantine/<its path>``, where no training run looks (hidden folders are
skipped). Every move is appended to ``<data>/.rung-clean.jsonl`` as it happens; :func:`undo`
puts the files of the last session (or all) back.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
import warnings
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = [
    "QUARANTINE",
    "LOG_NAME",
    "Decision",
    "Move",
    "CleanReport",
    "apply_decisions",
    "undo",
    "read_log",
]

QUARANTINE = ".quarantine"  # hidden: image finders skip it, so set-aside files leave training
LOG_NAME = ".rung-clean.jsonl"


@dataclass(frozen=True)
class Decision:
    """What to do with one file: ``action`` is keep | relabel | aside; ``new_label`` for relabel."""

    path: Path
    action: str
    new_label: str | None = None


@dataclass(frozen=True)
class Move:
    """One file moved (paths relative to the data folder), as the undo log records it."""

    id: str
    session: str
    action: str
    src: str
    dst: str
    time: str


@dataclass
class CleanReport:
    """What :func:`apply_decisions` or :func:`undo` did."""

    session: str | None
    moved: list[Move] = field(default_factory=list)
    kept: int = 0
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "moved": [asdict(m) for m in self.moved],
            "kept": self.kept,
            "problems": list(self.problems),
        }


def apply_decisions(
    decisions: Iterable[Decision], data: str | os.PathLike, dry_run: bool = False
) -> CleanReport:
    """Carry out decisions on files under the data folder ``data``; never deletes anything.

    relabel: the file moves to a sibling class folder (``train/cats/x.jpg`` ->
    ``train/dogs/x.jpg``); aside: to ``<data>/.quarantine/<its path>``. A name already taken
    gets a ``-1``, ``-2``... suffix. Each move is appended to the undo log as it happens.
    ``dry_run``: report the moves without making them.

    >>> import tempfile
    >>> data = Path(tempfile.mkdtemp())
    >>> (data / "cats").mkdir(); _ = (data / "cats" / "rex.jpg").write_bytes(b"woof")
    >>> report = apply_decisions([Decision(data / "cats" / "rex.jpg", "relabel", "dogs")], data)
    >>> [(m.src, m.dst) for m in report.moved], (data / "dogs" / "rex.jpg").read_bytes()
    ([('cats/rex.jpg', 'dogs/rex.jpg')], b'woof')
    >>> [m.dst for m in undo(data).moved], (data / "cats" / "rex.jpg").exists()
    (['cats/rex.jpg'], True)
    """
    root = Path(data).resolve()
    session = datetime.now().strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    report = CleanReport(session)
    for n, d in enumerate(decisions):
        src = Path(d.path)
        src = (src if src.is_absolute() else Path.cwd() / src).resolve()
        if d.action == "keep":
            report.kept += 1
            continue
        problem = _check_source(src, root)
        if problem:
            report.problems.append(problem)
            continue
        if d.action == "relabel":
            if d.new_label is None or d.new_label == src.parent.name:
                report.kept += 1
                continue
            if not _is_folder_name(d.new_label):
                report.problems.append(
                    f"{src}: {d.new_label!r} is not a class folder name (no '/', '\\', '..' or "
                    "leading '.'); left alone."
                )
                continue
            dst = src.parent.parent / d.new_label / src.name
        elif d.action == "aside":
            dst = root / QUARANTINE / src.relative_to(root)
        else:
            report.problems.append(f"{src}: unknown action {d.action!r}.")
            continue
        if not dst.resolve().is_relative_to(root):
            report.problems.append(
                f"{src}: relabelled, it would move outside the data folder {root} (it sits in "
                "no class folder there); left alone."
            )
            continue
        dst = _free_name(dst)
        move = Move(
            id=f"{session}/{n}", session=session, action=d.action,
            src=src.relative_to(root).as_posix(), dst=dst.relative_to(root).as_posix(),
            time=datetime.now().isoformat(timespec="seconds"),
        )  # fmt: skip
        if not dry_run:
            _move(src, dst)
            _append_log(root, {"type": "move", **asdict(move)})
        report.moved.append(move)
    return report


def read_log(data: str | os.PathLike) -> list[dict[str, Any]]:
    """The undo log's records, oldest first (empty when nothing was ever moved).

    A line that isn't a whole record (a write cut short by a crash or a full disk) is skipped
    with a warning naming it: the other moves can still be undone.
    """
    path = Path(data) / LOG_NAME
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or not _is_log_record(record):
            warnings.warn(
                f"{path}: line {number} is not a whole record ({line[:60]!r}); skipped it. "
                "Any move it recorded must be put back by hand.",
                stacklevel=2,
            )
            continue
        records.append(record)
    return records


def _is_log_record(record: dict[str, Any]) -> bool:
    if record.get("type") == "move":
        return all(isinstance(record.get(k), str) for k in ("id", "session", "src", "dst"))
    return record.get("type") == "undo" and isinstance(record.get("move"), str)


def undo(
    data: str | os.PathLike, session: str | None = None, everything: bool = False
) -> CleanReport:
    """Move files back, newest move first: the last session's (or ``session``'s, or with
    ``everything`` all not yet undone). A file whose old place is taken again, or that has
    gone from its new place, is left alone and reported: nothing is overwritten or deleted.
    """
    root = Path(data).resolve()
    if not root.is_dir():
        raise FileNotFoundError(
            f"data folder {str(data)!r} does not exist; give the image folder `rung clean` moved "
            "files in (it printed 'undo with: rung clean DATA --undo')."
        )
    if not (root / LOG_NAME).is_file():
        raise FileNotFoundError(
            f"no {LOG_NAME} in {root}: rung clean never moved files there, so there is nothing "
            "to undo; give the image folder it moved files in (it printed 'undo with: rung "
            "clean DATA --undo')."
        )
    records = read_log(root)
    undone = {r["move"] for r in records if r.get("type") == "undo"}
    pending = [r for r in records if r.get("type") == "move" and r["id"] not in undone]
    if not pending:
        return CleanReport(None, problems=[f"nothing to undo in {root}."])
    if not everything:
        session = session or pending[-1]["session"]
        pending = [r for r in pending if r["session"] == session]
        if not pending:
            known = sorted({r["session"] for r in records if r.get("type") == "move"})
            raise ValueError(f"no moves to undo in session {session!r}; sessions: {known}.")
    report = CleanReport(session if not everything else "all")
    for r in reversed(pending):
        src, dst = (root / r["src"]).resolve(), (root / r["dst"]).resolve()
        if not (src.is_relative_to(root) and dst.is_relative_to(root)):
            report.problems.append(
                f"the log moves {r['dst']} to {r['src']}, outside the data folder; left alone."
            )
            continue
        if not dst.exists():
            report.problems.append(f"{r['dst']} is no longer there; can't put it back.")
            continue
        if src.exists():
            report.problems.append(f"{r['src']} exists again; left {r['dst']} where it is.")
            continue
        _move(dst, src)
        _append_log(root, {"type": "undo", "move": r["id"], "time": _now()})
        fields = {k: r[k] for k in ("id", "session", "action", "time")}
        report.moved.append(Move(**{**fields, "src": r["dst"], "dst": r["src"]}))
    return report


def _is_folder_name(name: str) -> bool:
    return bool(name) and not name.startswith(".") and not any(c in name for c in "/\\\0")


def _check_source(src: Path, root: Path) -> str | None:
    if not src.is_relative_to(root):
        return f"{src} is not inside the data folder {root}; left alone."
    if not src.is_file():
        return f"{src} does not exist (moved already?); skipped."
    if src.relative_to(root).parts[0] == QUARANTINE:
        return f"{src} is already set aside; skipped."
    return None


def _free_name(dst: Path) -> Path:
    candidate, n = dst, 0
    while candidate.exists():
        n += 1
        candidate = dst.with_name(f"{dst.stem}-{n}{dst.suffix}")
    return candidate


def _move(src: Path, dst: Path) -> None:
    if dst.exists():  # checked by the callers; a race must still never overwrite a file
        raise FileExistsError(f"{dst} exists; not overwriting it.")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), str(dst))  # a rename on one file system, copy-then-remove across


def _append_log(root: Path, record: dict[str, Any]) -> None:
    with open(root / LOG_NAME, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")
