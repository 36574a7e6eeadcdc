"""Reading a CSV that came from outside: size capped, and errors that name the file and the fix.

pandas' own messages name neither the file nor the way out (``'utf-8' codec can't decode byte
0xfc``, ``No columns to parse from file``), and a semicolon-separated file reads without any
error as one column with a long name. :func:`read_csv` checks the size before reading, and turns
each of those into one message that says what is wrong and which argument fixes it. It imports
only pandas, so predicting reads CSVs the same way training does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from rung.utils import check_encoding

__all__ = ["read_csv", "CSVReadError", "MAX_CSV_BYTES", "max_csv_bytes"]

MAX_CSV_BYTES = 2 * 1024**3  # 2 GiB: a table read whole into memory; RUNG_MAX_CSV_BYTES overrides
_ENV_LIMIT = "RUNG_MAX_CSV_BYTES"
_SEPARATORS = {";": "';'", "\t": "tab", "|": "'|'"}  # what a one-column file may really hold
_SEP_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


class CSVReadError(ValueError):
    """A CSV file can't be read as a table; the message names the file and the fix."""


def max_csv_bytes() -> int:
    """The largest CSV :func:`read_csv` reads: ``RUNG_MAX_CSV_BYTES`` if set, else 2 GiB.

    >>> max_csv_bytes() == MAX_CSV_BYTES or bool(os.environ.get("RUNG_MAX_CSV_BYTES"))
    True
    """
    raw = os.environ.get(_ENV_LIMIT)
    if not raw:
        return MAX_CSV_BYTES
    try:
        limit = int(float(raw))
    except ValueError:
        limit = 0
    if limit <= 0:
        raise ValueError(f"{_ENV_LIMIT} must be a positive number of bytes, got {raw!r}.")
    return limit


def _separator(sep: str | None) -> str | None:
    """``sep`` as the character it names (``tab`` or a typed ``\\t`` -> a tab character)."""
    if sep is None:
        return None
    sep = _SEP_NAMES.get(sep.lower(), sep) if len(sep) > 1 else sep
    if len(sep) != 1:
        raise ValueError(
            f"sep must be one character (or tab, comma, semicolon, pipe), got {sep!r}; "
            "e.g. --sep ';'."
        )
    return sep


def read_csv(
    path: str | os.PathLike,
    *,
    encoding: str | None = None,
    sep: str | None = None,
    max_bytes: int | None = None,
    options: dict[str, Any] | None = None,
) -> pd.DataFrame:
    """Read the CSV at ``path`` with pandas, after checking its size.

    Args:
        encoding: the file's text encoding (default UTF-8; e.g. ``"latin-1"``).
        sep: the separator (default ``,``, or a tab for a ``.tsv`` file; ``"tab"`` or
            ``"\\t"`` for a tab).
        max_bytes: the largest file read (default :func:`max_csv_bytes`: 2 GiB, or
            ``RUNG_MAX_CSV_BYTES``); a larger one is an error, before any of it is read.
        options: more ``pd.read_csv`` arguments.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_text("a;b\\n1;2\\n")
    >>> read_csv(path)
    Traceback (most recent call last):
    ...
    rung.tabular.csvfile.CSVReadError: t.csv reads as one column named 'a;b': it looks like ';'-separated: pass --sep ';' (sep=';').
    >>> read_csv(path, sep=";").columns.tolist()
    ['a', 'b']
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no CSV file at {str(path)!r}.")
    limit = max_csv_bytes() if max_bytes is None else int(max_bytes)
    size = path.stat().st_size
    if size > limit:
        raise CSVReadError(
            f"{path} is {size:,} bytes, more than the {limit:,} bytes rung reads into memory; "
            f"raise the limit (max_bytes=, or the {_ENV_LIMIT} environment variable) if the "
            "machine has the memory, or train on a sample of the rows."
        )
    encoding, sep_char = check_encoding(encoding), _separator(sep)
    if sep_char is None and path.suffix.lower() == ".tsv":
        sep_char = "\t"  # a .tsv file says its separator in its name
    try:
        df = pd.read_csv(path, encoding=encoding, sep=sep_char or ",", **(options or {}))
    except UnicodeDecodeError as e:
        byte = e.object[e.start : e.start + 1].hex() if isinstance(e.object, bytes) else "?"
        raise CSVReadError(
            f"{path.name} is not {encoding} text (byte 0x{byte} can't be decoded); it was probably "
            f"saved in another encoding, such as latin-1 or cp1252 (Excel on Windows): pass "
            f"--encoding latin-1 (encoding='latin-1'), or the file's own encoding."
        ) from e
    except pd.errors.EmptyDataError as e:
        raise CSVReadError(
            f"{path.name} has no columns: the file is empty or only blank lines; a CSV needs a "
            "header line naming its columns, then one line per row."
        ) from e
    except pd.errors.ParserError as e:
        raise CSVReadError(
            f"{path.name} is not a well-formed CSV ({str(e).strip()}); check its separator "
            "(--sep) and quoting."
        ) from e
    if sep_char is None and df.shape[1] == 1:
        name = str(df.columns[0])
        for char, shown in _SEPARATORS.items():
            if char in name:
                raise CSVReadError(
                    f"{path.name} reads as one column named {name!r}: it looks like "
                    f"{shown}-separated: pass --sep {shown} (sep={char!r})."
                )
    return df
