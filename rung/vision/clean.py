"""Fix a dataset's labels with its own model's help: list suspects, relabel or set aside, undo.

A trained model is good at finding the images that don't belong: the ones it finds most
surprising (top losses: confidently "dog" in the cats folder) and the ones it can't decide on
(low confidence). ``rung clean RUN`` lists them; you decide, per file, to ``keep`` it,
``relabel:<class>`` it (the file moves to that class's folder) or put it ``aside`` (it moves to
``<data>/.quarantine/``, keeping its path, where no training run looks: hidden folders are
skipped). Nothing is ever deleted. Every move is logged in ``<data>/.rung-clean.jsonl``;
:func:`rung.vision.moves.undo` puts the files of the last session (or all) back.

>>> parse_action("relabel:dogs", ["cats", "dogs"])
('relabel', 'dogs')
>>> parse_action("a", ["cats", "dogs"])
('aside', None)
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rung.vision.moves import LOG_NAME, Decision, apply_decisions

__all__ = [
    "ACTIONS",
    "Suspect",
    "find_suspects",
    "write_suspects_csv",
    "read_decisions",
    "parse_action",
    "review",
    "clean_run",
]

ACTIONS = ("keep", "relabel:<class>", "aside")


@dataclass(frozen=True)
class Suspect:
    """An image the model disagrees with or is unsure about.

    ``probability``: the model's probability for its ``predicted`` class; ``prob_label``: for
    the folder's ``label``; ``loss``: ``-log(prob_label)``; ``reason``: why it is listed.
    """

    path: Path
    label: str
    predicted: str
    probability: float
    prob_label: float
    loss: float
    split: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}


# ------------------------------------------------------------------------------------------
# Finding suspects
# ------------------------------------------------------------------------------------------
def find_suspects(
    run: str | os.PathLike,
    data: str | os.PathLike | None = None,
    n_top: int = 20,
    min_confidence: float = 0.6,
    tta: bool = False,
) -> list[Suspect]:
    """Predict every image of a run's data folder (or ``data``) with the run's model and list
    the suspects, highest loss first: the ``n_top`` largest losses, plus every image whose
    top probability is below ``min_confidence``. Unreadable images are listed last.

    >>> for s in find_suspects("runs/20250101-120000-pets")[:3]:  # doctest: +SKIP
    ...     print(s.path, s.label, "->", s.predicted, f"{s.probability:.2f}", s.reason)
    data/pets/cats/cat.71.jpg cats -> dogs 0.99 top loss
    """
    from rung.predictor import load
    from rung.vision.runs import run_image_data, run_paths

    _, model_path, _ = run_paths(run)
    images = run_image_data(run, data)
    predictor = load(model_path)
    classes = list(predictor.classes)
    files, preds, errors = predictor.predict_files(images.files, tta=tta)
    info = {f: (lab, v) for f, lab, v in zip(images.files, images.labels, images.is_valid)}
    rows = []
    for f, p in zip(files, preds.probs):
        label, valid = info[f]
        top = int(np.argmax(p))
        p_label = float(p[classes.index(label)]) if label in classes else 0.0
        loss = float(-np.log(max(p_label, 1e-12)))
        rows.append((f, label, classes[top], float(p[top]), p_label, loss, valid))
    order = sorted(range(len(rows)), key=lambda i: -rows[i][5])
    top_ids = set(order[:n_top])
    suspects = []
    for i in order:
        f, label, pred, prob, p_label, loss, valid = rows[i]
        reasons = []
        if label not in classes:
            reasons.append("class unknown to the model")
        if i in top_ids:
            reasons.append("top loss")
        if prob < min_confidence:
            reasons.append("low confidence")
        if reasons:
            split = "valid" if valid else "train"
            suspects.append(
                Suspect(Path(f), label, pred, prob, p_label, loss, split, ", ".join(reasons))
            )
    for f, error in errors.items():
        label, valid = info[f]
        suspects.append(
            Suspect(Path(f), label, "", 0.0, 0.0, float("inf"), "valid" if valid else "train",
                    f"unreadable: {error}")
        )  # fmt: skip
    return suspects


def write_suspects_csv(suspects: Iterable[Suspect], path: str | os.PathLike) -> Path:
    """Write suspects with an ``action`` column (``keep`` everywhere) for a person to edit.

    Each ``action`` becomes ``keep``, ``relabel:<class>`` or ``aside``; then
    :func:`read_decisions` and :func:`apply_decisions` (or ``rung clean RUN --apply FILE``).
    A list at ``path`` that a person already edited (any action but keep) is never replaced:
    the new one goes to ``<stem>-2.csv`` (``-3``...). Returns where it was written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n, stem = 1, path.stem
    while _edited(path):
        n += 1
        path = path.with_name(f"{stem}-{n}{path.suffix}")
    fields = ["path", "label", "predicted", "probability", "prob_label", "loss", "split", "reason"]
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*fields, "action"])
        for s in suspects:
            d = s.to_dict()
            writer.writerow(
                [f"{d[k]:.4f}" if isinstance(d[k], float) else d[k] for k in fields] + ["keep"]
            )
    return path


def _edited(path: Path) -> bool:
    """Whether ``path`` exists and holds a decision other than keep (so someone worked on it)."""
    if not path.exists():
        return False
    try:
        with open(path, newline="") as f:
            return any((row.get("action") or "keep").strip().lower() not in ("keep", "k", "")
                       for row in csv.DictReader(f))  # fmt: skip
    except (OSError, UnicodeDecodeError, csv.Error):
        return True  # unreadable as a suspects list: not ours to replace


# ------------------------------------------------------------------------------------------
# Decisions
# ------------------------------------------------------------------------------------------
def parse_action(text: str, classes: Sequence[str] | None = None) -> tuple[str, str | None]:
    """``(action, new_label)`` from ``keep``/``k``/empty, ``aside``/``a``, or
    ``relabel:<class>``/``r <class>``; an error names the bad text and the choices.

    >>> parse_action("r cats", ["cats", "dogs"])
    ('relabel', 'cats')
    >>> parse_action("relabel:cts", ["cats", "dogs"])
    Traceback (most recent call last):
    ...
    ValueError: unknown class 'cts' in 'relabel:cts'; classes are ['cats', 'dogs']; did you mean 'cats'?
    """
    from rung.utils import closest

    raw = text.strip()
    word = raw.lower()
    if word in ("", "k", "keep"):
        return "keep", None
    if word in ("a", "aside", "quarantine"):
        return "aside", None
    for prefix in ("relabel:", "relabel ", "r:", "r "):
        if word.startswith(prefix):
            new = raw[len(prefix) :].strip()
            if not new:
                break
            if classes is not None and new not in classes:
                raise ValueError(
                    f"unknown class {new!r} in {raw!r}; classes are {list(classes)}"
                    f"{closest(new, classes)}"
                )
            return "relabel", new
    raise ValueError(f"unknown action {raw!r}; use one of {list(ACTIONS)}.")


def read_decisions(path: str | os.PathLike, classes: Sequence[str] | None = None) -> list[Decision]:
    """Decisions from a CSV with columns ``path`` and ``action`` (e.g. an edited suspects.csv).

    Every row is checked before anything moves: a bad action or a missing file is an error
    naming its row.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"decisions file {str(path)!r} does not exist.")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        missing = [c for c in ("path", "action") if c not in columns]
        if missing:
            raise ValueError(
                f"{path} lacks the column(s) {missing}; it has {columns}. It needs 'path' and "
                f"'action' ({' | '.join(ACTIONS)})."
            )
        decisions, problems = [], []
        for row_number, row in enumerate(reader, start=2):
            try:
                action, new = parse_action(row["action"] or "", classes)
            except ValueError as e:
                problems.append(f"row {row_number}: {e}")
                continue
            decisions.append(Decision(Path(row["path"]), action, new))
    if problems:
        raise ValueError(f"{path} has {len(problems)} bad row(s): " + "; ".join(problems[:5]))
    return decisions


def review(
    suspects: Sequence[Suspect],
    classes: Sequence[str],
    ask: Callable[[str], str] = input,
    say: Callable[[str], Any] = print,
) -> list[Decision]:
    """Ask about each suspect in turn: Enter/k keeps, ``r <class>`` relabels, ``a`` sets aside,
    ``q`` (or end of input) stops. Returns the decisions made so far."""
    say(
        f"{len(suspects)} suspect(s). For each: [Enter]/k keep, r <class> relabel "
        f"(classes: {', '.join(classes)}), a aside, q stop."
    )
    decisions = []
    for i, s in enumerate(suspects, start=1):
        prompt = (
            f"[{i}/{len(suspects)}] {s.path} is labelled {s.label!r}; the model says "
            f"{s.predicted!r} ({s.probability:.0%}). > "
        )
        while True:
            try:
                answer = ask(prompt)
            except EOFError:
                return decisions
            if answer.strip().lower() in ("q", "quit"):
                return decisions
            try:
                action, new = parse_action(answer, classes)
                break
            except ValueError as e:
                say(str(e))
        decisions.append(Decision(s.path, action, new))
    return decisions


def clean_run(
    run: str | os.PathLike,
    apply: str | os.PathLike | None = None,
    interactive: bool = False,
    data: str | os.PathLike | None = None,
    n_top: int = 20,
    min_confidence: float = 0.6,
    ask: Callable[[str], str] = input,
    say: Callable[[str], Any] = print,
) -> dict[str, Any]:
    """``rung clean RUN``: list the suspects into ``RUN/suspects.csv``; with ``apply`` (an
    edited CSV) or ``interactive`` (ask about each), carry out the decisions.

    Returns a JSON-ready dict: the suspects, the CSV path and (when applied) what moved.
    """
    from rung.vision.runs import run_image_data, run_paths

    run_dir, _, config = run_paths(run)
    root = Path(data) if data is not None else Path(config["data"]["folder"])
    classes = list(config["data"]["classes"])
    result: dict[str, Any] = {"run": str(run_dir), "data": str(root)}
    if apply is not None:
        decisions = read_decisions(apply, classes)
    else:
        run_image_data(run_dir, root)  # fails early, naming the problem, if the data is gone
        suspects = find_suspects(run_dir, root, n_top=n_top, min_confidence=min_confidence)
        csv_path = write_suspects_csv(suspects, run_dir / "suspects.csv")
        result.update(suspects=[s.to_dict() for s in suspects], suspects_csv=str(csv_path))
        if not interactive:
            say(
                f"{len(suspects)} suspect(s) written to {csv_path}. Set each 'action' to keep, "
                f"relabel:<class> or aside, then apply it: rung clean {run_dir} --apply {csv_path}"
            )
            return result
        decisions = review(suspects, classes, ask=ask, say=say)
    report = apply_decisions(decisions, root)
    for m in report.moved:
        say(f"{m.action}: {m.src} -> {m.dst}")
    for p in report.problems:
        say(f"problem: {p}")
    if report.moved:
        say(f"undo with: rung clean {root} --undo  (log: {root / LOG_NAME})")
    result["applied"] = report.to_dict()
    return result
