"""Decode once: a bounded in-memory store of decoded, resized images (uint8), keyed by the file.

Every epoch used to read and decode every JPEG again; on a 2-core CPU that is a good part of an
epoch, and the DataLoader workers doing it compete with the model for the cores.
:class:`DecodedCache` keeps each item as the loader's workers made it (``(3, S, S)`` uint8,
before augmentation); once every item of a loader is there, its epochs are served from memory
in the main process and read no file. Augmentation still runs per epoch, on the batch.

The key is the file's identity *before it was read*: its resolved path, byte size, inode and
modification and change times in nanoseconds (``os.stat``, as ``make`` and ``rsync`` judge a
file), plus the item size and resize method. Editing, replacing or touching a file changes
the key (the change time moves on every write and can't be set back), so a stale item is never served; the stat is
taken before the read, so a file changed while it was being read is read again next time.
A file that failed to decode is remembered the same way (its reason), until it changes.

The store is bounded by bytes: once full it keeps nothing more (no eviction: an epoch-long LRU
would evict every item before its reuse), and a loader whose items don't all fit decodes as
before.

>>> import tempfile, torch
>>> from PIL import Image
>>> p = Path(tempfile.mkdtemp()) / "a.png"; Image.new("RGB", (8, 8)).save(p)
>>> cache = DecodedCache(max_bytes=1000)
>>> key = file_key(p, 16, "squish")
>>> cache.put(key, torch.zeros(3, 16, 16, dtype=torch.uint8))
True
>>> cache.get(key).shape, cache.nbytes, len(cache)
(torch.Size([3, 16, 16]), 768, 1)
>>> cache.put(file_key(p, 20, "squish"), torch.zeros(3, 20, 20, dtype=torch.uint8))  # over the cap
False
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import NamedTuple

import torch

__all__ = ["FileKey", "file_key", "DecodedCache", "default_cache_bytes"]


class FileKey(NamedTuple):
    """What identifies a decoded item: the file as it is on disk, and how it was resized."""

    path: str
    size: int
    mtime_ns: int
    ctime_ns: int  # changes on every write, and can't be set back
    inode: int  # a file replaced by another (a rename) is a new inode
    item_size: int
    resize: str


def default_cache_bytes() -> int:
    """2 GiB (about 14,000 items at 224 px, 150 KB each), or an eighth of this machine's memory
    when that is less.

    >>> 0 < default_cache_bytes() <= 2 * 2**30
    True
    """
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: assume 8 GiB
        memory = 8 * 2**30
    return int(min(2 * 2**30, memory // 8))


def file_key(path: str | os.PathLike, item_size: int, resize: str) -> FileKey | None:
    """The cache key of ``path`` decoded at ``item_size`` with ``resize``; None when the file
    can't be stat-ed (it is then never cached).

    >>> file_key("/no/such/file.jpg", 224, "squish") is None
    True
    """
    try:
        st = os.stat(path)
    except OSError:
        return None
    return FileKey(
        str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino,
        item_size, resize,
    )  # fmt: skip


class DecodedCache:
    """Decoded items (or why a file failed) by :class:`FileKey`, at most ``max_bytes`` of
    tensor data in all (None: :func:`default_cache_bytes`; 0 stores nothing).

    Thread-safe; one is shared by a run's train and valid loaders (each keys by its own item
    size). A key that is not there, or whose file has changed since (a new key), is a miss.
    """

    def __init__(self, max_bytes: int | None = None) -> None:
        if max_bytes is None:
            max_bytes = default_cache_bytes()
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
            raise ValueError(
                "max_bytes must be a whole number of bytes >= 0 (0: cache nothing), e.g. "
                f"max_bytes=2**30; got {max_bytes!r}."
            )
        self.max_bytes, self.nbytes = max_bytes, 0
        self.hits = self.misses = 0
        self._items: dict[FileKey, torch.Tensor | str] = {}
        self._by_slot: dict[tuple[str, int, str], FileKey] = {}  # a file's current version
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: FileKey | None) -> torch.Tensor | str | None:
        """The item stored under ``key`` (a str: why that file failed to decode), or None."""
        item = None if key is None else self._items.get(key)
        if item is None:
            self.misses += 1
        else:
            self.hits += 1
        return item

    def put(self, key: FileKey | None, item: torch.Tensor | str) -> bool:
        """Store ``item`` (a decoded uint8 tensor, or the reason the file failed) under
        ``key``, dropping the same file's older version; False when it doesn't fit under
        ``max_bytes`` (or ``key`` is None)."""
        if key is None or self.max_bytes == 0:
            return False
        if isinstance(item, torch.Tensor):
            item = item.detach().cpu().clone()  # not a view of a whole batch
        with self._lock:
            slot = (key.path, key.item_size, key.resize)
            old = self._by_slot.pop(slot, None)
            if old is not None:
                self.nbytes -= _nbytes(self._items.pop(old))
            if self.nbytes + _nbytes(item) > self.max_bytes:
                return False
            self._items[key] = item
            self._by_slot[slot] = key
            self.nbytes += _nbytes(item)
            return True

    def __repr__(self) -> str:
        return (
            f"DecodedCache({len(self)} items, {self.nbytes / 2**20:.1f} of "
            f"{self.max_bytes / 2**20:.0f} MiB, {self.hits} hits / {self.misses} misses)"
        )


def _nbytes(item: torch.Tensor | str) -> int:
    if isinstance(item, str):
        return len(item)
    return item.numel() * item.element_size()
