"""From a table's text columns to one input string per row, and reading a CSV of texts.

Lesson 4 feeds the model one string per row, each column behind a marker:
``TEXT1: {context}; TEXT2: {target}; ANC1: {anchor}``. :class:`TextFields` does that for any
columns: ``"anchor,target"`` gives ``anchor: ...; target: ...``, and ``"TEXT1=context"`` sets a
column's marker. A single column with no marker given is used as it is. A missing value (NaN)
is an empty field. Prediction joins the columns of new rows the same way, from the model file.

>>> import pandas as pd
>>> fields = TextFields.parse("TEXT1=context,TEXT2=target,ANC1=anchor")
>>> df = pd.DataFrame({"anchor": ["abatement"], "target": ["abatement of pollution"],
...                    "context": ["A47"]})
>>> fields.join(df)
['TEXT1: A47; TEXT2: abatement of pollution; ANC1: abatement']
>>> TextFields.parse("review").join(pd.DataFrame({"review": ["Great film", None]}))
['Great film', '']
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from rung.utils import check_encoding, closest

__all__ = ["TextFields", "read_text_csv", "TextCSVError", "MAX_CSV_BYTES", "SEPARATOR"]

MAX_CSV_BYTES = 2 * 1024**3  # a table read whole into memory; max_bytes= raises it
SEPARATOR = "; "  # between the fields of one input


class TextCSVError(ValueError):
    """A CSV of texts that can't be read; the message names the file and the fix."""


@dataclass(frozen=True)
class TextFields:
    """Which columns make a row's input, in order, and the marker before each.

    ``markers[i]`` is the label written before ``columns[i]`` (``None``: no label; only for a
    single column).
    """

    columns: tuple[str, ...]
    markers: tuple[str | None, ...]

    @classmethod
    def parse(cls, text: str | Sequence[str]) -> TextFields:
        """Columns from ``"a,b"``, ``["a", "b"]`` or ``"MARK=a,b"`` (marker ``MARK`` for a).

        >>> TextFields.parse("anchor,target").markers
        ('anchor', 'target')
        >>> TextFields.parse(["body"]).markers
        (None,)
        """
        items = text.split(",") if isinstance(text, str) else list(text)
        columns, markers = [], []
        for raw in items:
            marker, _, column = str(raw).strip().rpartition("=")
            column = column.strip()
            if not column:
                raise ValueError(
                    f"empty text column name in {text!r}; give column names separated by "
                    "commas, e.g. --text anchor,target,context."
                )
            columns.append(column)
            markers.append(marker.strip() or None)
        if not columns:
            raise ValueError("no text columns given; e.g. --text anchor,target,context.")
        if len(set(columns)) < len(columns):
            raise ValueError(f"a text column is named twice in {text!r}; name each once.")
        if len(columns) > 1:  # several fields: each needs a label, so the model can tell them apart
            markers = [m if m is not None else c for m, c in zip(markers, columns)]
        return cls(tuple(columns), tuple(markers))

    def check(self, df: pd.DataFrame, where: str = "the data") -> None:
        """Raise a KeyError naming the columns ``df`` has when one of ours is missing."""
        missing = [c for c in self.columns if c not in df.columns]
        if missing:
            there = [str(c) for c in df.columns]
            hint = closest(missing[0], there)
            raise KeyError(
                f"text column {missing[0]!r} is not in {where}, whose columns are {there}"
                f"{hint}. Pass the text columns with --text (text=...)."
            )

    def join(self, df: pd.DataFrame) -> list[str]:
        """One input string per row of ``df`` (NaN and None read as empty text)."""
        self.check(df)
        parts = []
        for column, marker in zip(self.columns, self.markers):
            values = df[column].astype(object).where(df[column].notna(), "").astype(str)
            parts.append(values if marker is None else f"{marker}: " + values)
        joined = parts[0]
        for part in parts[1:]:
            joined = joined + SEPARATOR + part
        return joined.tolist()

    def empty_rows(self, df: pd.DataFrame) -> pd.Series:
        """True for rows whose every text column is missing or blank."""
        self.check(df)
        blank = [df[c].isna() | (df[c].astype(str).str.strip() == "") for c in self.columns]
        out = blank[0]
        for b in blank[1:]:
            out = out & b
        return out

    @property
    def template(self) -> str:
        """How one input looks, e.g. ``TEXT1: {context}; TEXT2: {target}``."""
        return SEPARATOR.join(
            f"{{{c}}}" if m is None else f"{m}: {{{c}}}" for c, m in zip(self.columns, self.markers)
        )

    def to_config(self) -> dict[str, Any]:
        """JSON-able; :meth:`from_config` rebuilds it."""
        return {"columns": list(self.columns), "markers": list(self.markers)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TextFields:
        columns, markers = config["columns"], config["markers"]
        if not isinstance(columns, list) or not isinstance(markers, list):
            raise ValueError(f"text fields must be lists of columns and markers, got {config!r}.")
        if len(columns) != len(markers) or not columns:
            raise ValueError(f"text fields need one marker per column, got {config!r}.")
        return cls(
            tuple(str(c) for c in columns), tuple(m if m is None else str(m) for m in markers)
        )


def read_text_csv(
    path: str | os.PathLike,
    *,
    encoding: str | None = None,
    sep: str = ",",
    max_bytes: int = MAX_CSV_BYTES,
) -> pd.DataFrame:
    """Read a CSV of texts after checking its size; a file in another encoding gets an error
    that names the ``encoding`` option. Only empty cells are missing values: a text that reads
    "NA", "null" or "None" stays that text (pandas would read it as missing).

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_bytes("text,label\\ncaf\\xe9,1\\n".encode("latin-1"))
    >>> read_text_csv(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rung.text.fields.TextCSVError: t.csv is not utf-8 text (byte 0xe9 ...): pass --encoding latin-1 ...
    >>> read_text_csv(path, encoding="latin-1")["text"].tolist()
    ['café']
    >>> _ = path.write_text("text,score\\nNA,0.5\\nnull,\\n")
    >>> read_text_csv(path).values.tolist()
    [['NA', 0.5], ['null', nan]]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no CSV file at {str(path)!r}.")
    size = path.stat().st_size
    if size > max_bytes:
        raise TextCSVError(
            f"{path} is {size:,} bytes, more than the {max_bytes:,} bytes rung reads into "
            "memory; pass max_bytes= if the machine has the memory, or train on a sample."
        )
    encoding = check_encoding(encoding)
    try:
        return pd.read_csv(path, encoding=encoding, sep=sep, keep_default_na=False, na_values=[""])
    except UnicodeDecodeError as e:
        byte = e.object[e.start : e.start + 1].hex() if isinstance(e.object, bytes) else "?"
        raise TextCSVError(
            f"{path.name} is not {encoding} text (byte 0x{byte} can't be decoded): pass "
            "--encoding latin-1 (encoding='latin-1'), or cp1252 for files saved by Excel on Windows, or the file's own encoding."
        ) from e
    except pd.errors.EmptyDataError as e:
        raise TextCSVError(f"{path.name} is empty: a CSV needs a header line, then rows.") from e
    except pd.errors.ParserError as e:
        raise TextCSVError(
            f"{path.name} is not a well-formed CSV ({str(e).strip()}); check its quoting and "
            "separator."
        ) from e
