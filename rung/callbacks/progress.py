"""Progress: bars with an ETA for each phase, and a table row per epoch.

Bars come from ``tqdm.auto`` (a terminal bar, or a widget in Jupyter); the table is plain text
that reads the same in both. Only the main process shows anything. Silence it with
``Learner(progress=False)``, or keep the table alone with ``ProgressCallback(bars=False)``.
"""

from __future__ import annotations

import sys
from typing import Any

from rung.callbacks.core import Callback

__all__ = ["ProgressCallback", "format_time"]


def format_time(seconds: float) -> str:
    """``mm:ss`` (or ``h:mm:ss``) as fastai prints epoch times.

    >>> format_time(75.2), format_time(3725)
    ('01:15', '1:02:05')
    """
    s = int(round(seconds))
    h, m, s = s // 3600, (s // 60) % 60, s % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class ProgressCallback(Callback):
    order = 60

    def __init__(self, bars: bool = True, table: bool = True, file: Any = None) -> None:
        self.bars, self.table, self.file = bars, table, file
        self.bar = None
        self.every, self.pending = 1, 0

    @property
    def _show(self) -> bool:
        return self.learn.accelerator.is_main_process

    def _write(self, line: str) -> None:
        out = self.file or sys.stdout
        if self.bar is not None:
            from tqdm.auto import tqdm

            tqdm.write(line, file=out)
        else:
            print(line, file=out, flush=True)

    def before_fit(self) -> None:
        self.header_done = False

    def _open_bar(self, phase: str) -> None:
        if not (self.bars and self._show):
            return
        from tqdm.auto import tqdm

        desc = f"epoch {self.learn.epoch + 1}/{self.learn.n_epoch} {phase}"
        self.bar = tqdm(
            total=self.learn.n_iter, desc=desc, leave=False, file=self.file, dynamic_ncols=True
        )

    def _close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def before_train(self) -> None:
        self._open_bar("train")

    def before_validate(self) -> None:
        self._open_bar("valid")

    def after_batch(self) -> None:
        if self.bar is None:
            return
        self.pending += 1
        if self.pending >= self.every:
            self.bar.update(self.pending)
            self.pending = 0
            if self.learn.training and self.learn.iter % 20 < self.every:
                self.bar.set_postfix(loss=f"{self.learn.loss.item():.4f}", refresh=False)

    def after_train(self) -> None:
        self._close_bar()

    def after_validate(self) -> None:
        self._close_bar()

    def after_epoch(self) -> None:
        if not (self.table and self._show) or not self.learn.recorder.values:
            return
        record = self.learn.recorder.values[-1]
        names = [k for k in record if k != "time"] + ["time"]
        if not self.header_done:
            self._write("  ".join(f"{n:>10}" for n in names))
            self.header_done = True
        cells = []
        for n in names:
            v = record.get(n, "")
            if n == "time":
                cells.append(f"{format_time(v):>10}")
            elif n == "epoch":
                cells.append(f"{v:>10}")
            else:
                cells.append(f"{v:>10.6f}" if isinstance(v, float) else f"{v!s:>10}")
        self._write("  ".join(cells))

    def cleanup_fit(self) -> None:
        self._close_bar()
