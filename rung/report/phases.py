"""Where a run's time went: seconds per phase (set-up, LR finder, each epoch, interpretation,
export, report), recorded by the apps and shown in the writeup.

>>> phases = Phases()
>>> with phases("setup"):
...     pass
>>> phases.add("epoch 1", 2.5)
>>> list(phases.to_dict())
['setup', 'epoch 1', 'total']
>>> time_table({"setup": 1.0, "epoch 1": 3.0, "total": 4.0})[1][1]
['epoch 1', '3.0', '75%']
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

__all__ = ["Phases", "epoch_phases", "time_table", "PHASES_KEY"]

PHASES_KEY = "phases"  # in config.json and result.json: {phase: seconds, ..., "total": seconds}


class Phases:
    """Seconds per named phase, in the order they first ran, and the total since ``started``
    (a ``time.perf_counter()``; default: now)."""

    def __init__(self, started: float | None = None) -> None:
        self.started = time.perf_counter() if started is None else started
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        """Time the ``with`` block as ``name`` (added to what ``name`` already took)."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        """Count ``seconds`` more for ``name``."""
        self.seconds[name] = self.seconds.get(name, 0.0) + float(seconds)

    def to_dict(self) -> dict[str, float]:
        """``{phase: seconds, ..., "total": seconds since started}``, rounded to 0.01 s."""
        total = time.perf_counter() - self.started
        return {**{k: round(v, 2) for k, v in self.seconds.items()}, "total": round(total, 2)}


def epoch_phases(
    history: list[dict[str, Any]], frozen_fits: int = 0, sizes: list[int] | None = None
) -> dict[str, float]:
    """``{"epoch 1 (frozen)": s, "epoch 2": s, ...}`` from a Recorder's history (one row per
    epoch with ``fit`` and ``time``); the first ``frozen_fits`` fits are marked frozen, and
    ``sizes`` (one per epoch) are named.

    >>> epoch_phases([{"fit": 1, "time": 9.0}, {"fit": 2, "time": 20.0}], 1, [128, 224])
    {'epoch 1 (frozen, 128 px)': 9.0, 'epoch 2 (224 px)': 20.0}
    """
    fits = list(dict.fromkeys(row.get("fit", 1) for row in history))
    out = {}
    for i, row in enumerate(history, start=1):
        tags = ["frozen"] if fits.index(row.get("fit", 1)) < frozen_fits else []
        if sizes and i <= len(sizes):
            tags.append(f"{sizes[i - 1]} px")
        label = f"epoch {i}" + (f" ({', '.join(tags)})" if tags else "")
        out[label] = round(float(row.get("time", 0.0)), 2)
    return out


def time_table(phases: dict[str, float]) -> tuple[list[str], list[list[str]]]:
    """The writeup's table of ``phases``: phase, seconds, share of the total.

    >>> time_table({"lr_find": 5.0, "total": 20.0})
    (['phase', 'seconds', 'share'], [['lr_find', '5.0', '25%'], ['total', '20.0', '100%']])
    """
    total = phases.get("total") or sum(v for k, v in phases.items() if k != "total") or 1.0
    rows = [[name, f"{s:.1f}", f"{s / total:.0%}"] for name, s in phases.items()]
    return ["phase", "seconds", "share"], rows


def time_section(config: dict[str, Any]) -> Any:
    """The writeup's "Where the time went" section from a run's config.json: the plan's
    reasons (sizes, epochs, the budget), how the LR was found and at what cost, and the phase
    table; None when the run recorded no phases.

    >>> config = {"phases": {"setup": 2.0, "epoch 1": 6.0, "total": 8.0},
    ...           "training": {"plan": {"reasons": ["1 frozen + 3 epochs"]}}}
    >>> section = time_section(config)
    >>> section.title, section.paragraphs[0], section.tables[0][2][-1]
    ('Where the time went', 'Plan: 1 frozen + 3 epochs.', ['total', '8.0', '100%'])
    """
    from rung.report.reasoning import Section

    phases = config.get(PHASES_KEY)
    if not isinstance(phases, dict) or not phases:
        return None
    training = config.get("training") if isinstance(config.get("training"), dict) else {}
    plan = training.get("plan") if isinstance(training.get("plan"), dict) else {}
    found = config.get("lr_find") if isinstance(config.get("lr_find"), dict) else {}
    lines = [f"Plan: {reason}." for reason in plan.get("reasons", []) if isinstance(reason, str)]
    if isinstance(found.get("how"), str):
        total = phases.get("total") or 0
        share = (
            f", {found['seconds'] / total:.0%} of the run" if total and found.get("seconds") else ""
        )
        lines.append(f"{found['how']}{share}.")
    numbers = {k: float(v) for k, v in phases.items() if isinstance(v, (int, float))}
    header, rows = time_table(numbers)
    return Section(
        "time", "Where the time went", lines, tables=[("Seconds per phase:", header, rows)]
    )
