"""Read a zip from a stranger: check each thing it declares before reading what it declares.

The model file is a zip anyone may hand over. Every function here caps what it reads before
reading it and raises :class:`Refused` (the problem, and what to do) otherwise; the model file
turns that into its own error. Nothing is extracted to disk.

- :func:`open_regular_file`: a regular file (not ``/dev/zero``, a pipe or a folder) of at most
  ``max_bytes``, opened without blocking and checked by its descriptor;
- :func:`zip_entries`: how many members the zip's end record declares, read before zipfile
  reads the directory (it makes one object per entry);
- :func:`capped_member` / :func:`read_member`: a member's declared size against a limit and
  against its compressed size (a deflate bomb), then a read with a hard stop;
- :func:`read_exactly`: ``n`` bytes from a stream into one buffer, in chunks;
- :func:`strict_json`: JSON without NaN or Infinity, nested at most ``max_depth`` deep.

>>> strict_json(b'{"a": [1, 2]}', max_depth=3)
{'a': [1, 2]}
>>> strict_json(b'[[[[1]]]]', max_depth=3)
Traceback (most recent call last):
...
rung.models.untrusted.Refused: it is nested more than 3 levels deep.
"""

from __future__ import annotations

import json
import os
import stat
import struct
import zipfile
from typing import IO, Any

__all__ = [
    "Refused",
    "open_regular_file",
    "zip_entries",
    "capped_member",
    "read_member",
    "read_exactly",
    "strict_json",
    "guess_format",
    "guess_zip",
    "odd_member_names",
]

_CHUNK = 16 * 2**20


class Refused(ValueError):
    """Input refused before it was read: ``problem`` says why, ``fix`` what to do."""

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem, self.fix = problem, fix
        super().__init__(problem + (f" {fix}" if fix else ""))


def open_regular_file(path: str | os.PathLike, max_bytes: int, what: str = "file") -> IO[bytes]:
    """``path`` opened for reading, if it is a non-empty regular file of at most ``max_bytes``.

    Opened with O_NONBLOCK (opening a pipe can't hang) and checked with ``fstat`` on the open
    descriptor, so the file checked is the file read.

    >>> open_regular_file("/dev/zero", 100)
    Traceback (most recent call last):
    ...
    rung.models.untrusted.Refused: not a regular file (a character device).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise Refused("no such file.") from None
    except IsADirectoryError:
        raise Refused(f"this is a folder, not a {what}.") from None
    except OSError as e:
        raise Refused(f"it can't be opened: {e.strerror or e}.") from e
    info = os.fstat(fd)
    problem = ""
    if stat.S_ISDIR(info.st_mode):
        problem = f"this is a folder, not a {what}."
    elif not stat.S_ISREG(info.st_mode):
        problem = f"not a regular file ({_file_type(info.st_mode)})."
    elif info.st_size == 0:
        problem = "the file is empty."
    elif info.st_size > max_bytes:
        problem = f"it is {info.st_size:,} bytes, over the limit of {max_bytes:,}."
    if problem:
        os.close(fd)
        raise Refused(problem)
    return os.fdopen(fd, "rb")


def zip_entries(f: IO[bytes]) -> int | None:
    """The member count the zip's end record (or zip64 end record) declares; None when the
    file has no end record (zipfile then says what is wrong). Reads at most 64 KiB.

    >>> import io
    >>> buffer = io.BytesIO()
    >>> with zipfile.ZipFile(buffer, "w") as zf:
    ...     zf.writestr("a", b"1"); zf.writestr("b", b"2")
    >>> zip_entries(buffer)
    2
    """
    size = f.seek(0, os.SEEK_END)
    f.seek(max(0, size - 22 - 65535))  # the end record (22 bytes) and its comment
    tail = f.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    (entries,) = struct.unpack("<H", tail[at + 10 : at + 12])
    locator = tail[at - 20 : at] if at >= 20 else b""
    if entries == 0xFFFF and locator[:4] == b"PK\x06\x07":  # a zip64 count
        f.seek(struct.unpack("<Q", locator[8:16])[0])
        record = f.read(56)
        if record[:4] == b"PK\x06\x06" and len(record) == 56:
            (entries,) = struct.unpack("<Q", record[32:40])
    return entries


def capped_member(
    zf: zipfile.ZipFile, name: str, limit: int, max_inflation: float | None = None
) -> zipfile.ZipInfo:
    """The entry of member ``name``, if it declares at most ``limit`` bytes, is not encrypted
    and (with ``max_inflation``) inflates at most that many times its compressed size (past
    the first MiB, so small members may compress well)."""
    info = zf.getinfo(name)
    if info.file_size > limit:
        raise Refused(
            f"its {name} is {info.file_size:,} bytes uncompressed, over the limit of {limit:,}."
        )
    inflation = info.file_size / max(info.compress_size, 1)
    if (
        max_inflation is not None
        and info.compress_type != zipfile.ZIP_STORED
        and info.file_size > 2**20
        and inflation > max_inflation
    ):
        raise Refused(
            f"its {name} inflates {inflation:,.0f} times its compressed size "
            f"({info.compress_size:,} -> {info.file_size:,} bytes); data like it compresses at "
            f"most ~{max_inflation:g} times, so this is a zip bomb."
        )
    if info.flag_bits & 0x1:
        raise Refused(f"its {name} is encrypted.")
    return info


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes: its declared size (already capped), with a hard stop after it."""
    with zf.open(info) as f:
        data = f.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise Refused(
            f"its {info.filename} holds {len(data):,} bytes, not the {info.file_size:,} declared."
        )
    return data


def read_exactly(f: IO[bytes], n: int, what: str) -> bytearray:
    """The next ``n`` bytes of ``f`` in one buffer, read in chunks; refused if the stream ends
    sooner or goes on after them.

    >>> import io
    >>> read_exactly(io.BytesIO(b"abcd"), 3, "data")
    Traceback (most recent call last):
    ...
    rung.models.untrusted.Refused: its data runs past its declared size.
    """
    data, at = bytearray(n), 0
    while at < n:
        chunk = f.read(min(_CHUNK, n - at))
        if not chunk:
            raise Refused(f"its {what} is cut off after {at:,} of {n:,} bytes.")
        data[at : at + len(chunk)] = chunk
        at += len(chunk)
    if f.read(1):
        raise Refused(f"its {what} runs past its declared size.")
    return data


def strict_json(raw: bytes, max_depth: int, what: str = "it", max_values: int | None = None) -> Any:
    """Parse UTF-8 JSON as rung writes it: no NaN or Infinity, nested at most ``max_depth``,
    and (``max_values``) holding fewer values than that, counted before parsing by the commas
    (an over-count: commas inside strings count too). Parsed, each small value costs ~60
    bytes: 60 MB of ``"ab",`` is a gigabyte.

    >>> strict_json(b'[1, 2, 3]', max_depth=2, max_values=2)
    Traceback (most recent call last):
    ...
    rung.models.untrusted.Refused: it holds more than 2 values (2 commas).
    """
    commas = raw.count(b",")
    if max_values is not None and commas >= max_values:
        raise Refused(f"{what} holds more than {max_values:,} values ({commas:,} commas).")
    too_deep = Refused(f"{what} is nested more than {max_depth} levels deep.")
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise too_deep from None
    except (UnicodeDecodeError, ValueError) as e:
        raise Refused(f"{what} is not valid JSON ({str(e)[:200]}).") from e
    stack = [(value, 1)]
    while stack:  # no recursion: the depth is what is being checked
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > max_depth:
                raise too_deep
            stack.extend(
                (child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
            )
    return value


def guess_format(head: bytes) -> str:
    """A hint at what some bytes are, for error messages. Looks at bytes only, loads nothing.

    >>> guess_format(b"\\x80\\x04\\x95...")
    ' (it looks like a Python pickle, which rung never loads: unpickling runs code)'
    """
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return " (it looks like a Python pickle, which rung never loads: unpickling runs code)"
    if head.startswith(b"PK"):
        return " (it looks like a zip, e.g. a torch.save checkpoint, which rung never loads)"
    if head[8:9] == b"{":
        return " (it looks like a bare safetensors file)"
    return ""


def guess_zip(names: set[str]) -> str:
    """A hint at what a zip holding these member names is, for error messages."""
    if any(name.endswith("data.pkl") for name in names):
        return (
            " (it looks like a PyTorch checkpoint from torch.save, such as a .pt file or "
            "fastai's learn.export() .pkl)"
        )
    return ""


def odd_member_names(names: list[str]) -> list[str]:
    r"""Member names that are paths (``../x``, ``/etc/x``, ``a\b``, ``C:x``) or hidden:
    nothing a file that holds named members side by side would use.

    >>> odd_member_names(["config.json", "../up", "a\\b", "/etc/passwd"])
    ['../up', 'a\\b', '/etc/passwd']
    """
    return [n for n in names if any(c in n for c in "/\\:\0") or n.startswith(".")]


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def _file_type(mode: int) -> str:
    kinds = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
             (stat.S_ISFIFO, "a pipe"), (stat.S_ISSOCK, "a socket"))  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "not a plain file")
