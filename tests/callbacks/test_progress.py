"""Progress bars come from tqdm.auto (notebook widgets in Jupyter, terminal bars elsewhere)
and go where the callback's file says; the epoch table reads the same with or without them."""

from __future__ import annotations

import io

from tqdm.auto import tqdm as auto_tqdm

from rung.callbacks.core import Callback
from rung.callbacks.progress import ProgressCallback


class _SeeBars(Callback):
    order = ProgressCallback.order + 1  # after the progress callback opened its bar

    def __init__(self) -> None:
        self.bars: list[object] = []

    def before_batch(self) -> None:
        self.bars.append(self.learn.progress_callback.bar)


def test_bars_are_tqdm_auto_and_write_to_the_given_file(regression_learner):
    out = io.StringIO()
    seen = _SeeBars()
    learn = regression_learner(progress=True, cbs=[seen])
    learn.progress_callback.file = out
    learn.fit(2, 0.05)
    assert seen.bars and all(isinstance(b, auto_tqdm) for b in seen.bars)
    text = out.getvalue()
    assert "epoch 1/2 train" in text and "epoch 2/2 valid" in text
    table = [line.split() for line in text.splitlines() if line.strip().startswith(("0 ", "1 "))]
    assert [row[0] for row in table] == ["0", "1"]  # one table row per epoch, with the bars
    assert learn.progress_callback.bar is None  # closed after the fit
