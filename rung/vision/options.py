"""The settings every image DataLoaders builder shares, in one checked object.

Where the images come from (a folder, a CSV, lists) is the builder's business; how they become
batches (split fraction, size, resize, augmentation, normalisation, batch size, workers,
device, caps) is :class:`ImageDataOptions`'s:

>>> opts = ImageDataOptions(size=160, batch_size=32)
>>> opts.size, opts.resize, opts.replace(resize="crop").resize
(160, 'squish', 'crop')
>>> ImageDataOptions(valid_pct=1.5)
Traceback (most recent call last):
...
ValueError: valid_pct must be a fraction between 0 and 1 (exclusive), e.g. valid_pct=0.2; got 1.5.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import torch

from rung.vision.augment import Augment
from rung.vision.cache import DecodedCache
from rung.vision.loader import ImageDataset, ImageLoader, SkippedFile
from rung.vision.pixels import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    RESIZE_METHODS,
    check_preprocessing,
    check_size,
)

__all__ = ["ImageDataOptions", "DEFAULT_AUGMENT"]

DEFAULT_AUGMENT = Augment()


@dataclass(frozen=True)
class ImageDataOptions:
    """How images become batches: the settings every :class:`ImageDataLoaders` builder shares.

    Pass one as ``options=``, or its fields as keywords (``size=160, batch_size=32``), or both
    (the keywords win). Everything is checked here, before any file is read.

    Attributes:
        valid_pct: the validation fraction of a random split (0 < valid_pct < 1).
        seed: the split, the shuffling and the augmentation draws (None: random each time).
        size: pixels a side of the images the model sees (:data:`~rung.vision.pixels.SIZE_RANGE`).
        resize: 'squish' | 'crop' | 'pad' to ``size`` (see :func:`~rung.vision.pixels.resize_image`).
        item_size: training items are loaded this large (>= size) for the augmentation to crop
            from ("presizing"); None: ``size``.
        augment: an :class:`~rung.vision.augment.Augment` for training batches, None for none.
        mean, std: per-channel normalisation (the pretrained weights' own).
        batch_size: training batch size (validation batches are twice as large).
        num_workers: DataLoader worker processes (None: up to 8, one per core).
        device: where batches go (None: CUDA when there is one).
        decode_on_device: decode JPEGs on the device (None: when it is CUDA).
        verify: read every file's header first, leaving out (and listing) unreadable ones.
        max_pixels: images larger than this are left out unread (None:
            :data:`~rung.vision.io.MAX_PIXELS`).
        cache_bytes: decoded items kept in memory so each file is decoded once (None:
            :func:`~rung.vision.cache.default_cache_bytes`, 2 GiB at most; 0: decode every
            epoch).

    >>> ImageDataOptions(size=160).replace(batch_size=32).batch_size
    32
    >>> ImageDataOptions.merge(None, {"sise": 160})
    Traceback (most recent call last):
    ...
    TypeError: unknown image data setting 'sise'; did you mean 'size'? The settings are ...
    """

    valid_pct: float = 0.2
    seed: int | None = 42
    size: int = 224
    resize: str = "squish"
    item_size: int | None = None
    augment: Augment | None = DEFAULT_AUGMENT
    mean: Sequence[float] = IMAGENET_MEAN
    std: Sequence[float] = IMAGENET_STD
    batch_size: int = 64
    num_workers: int | None = None
    device: str | torch.device | None = None
    decode_on_device: bool | None = None
    verify: bool = True
    max_pixels: int | None = None
    cache_bytes: int | None = None

    def __post_init__(self) -> None:
        check_size(self.size)
        if self.item_size is not None and check_size(self.item_size, "item_size") < self.size:
            raise ValueError(
                f"item_size ({self.item_size}) can't be smaller than size ({self.size})."
            )
        if self.resize not in RESIZE_METHODS:
            raise ValueError(f"resize {self.resize!r} is not one of {list(RESIZE_METHODS)}.")
        check_preprocessing(
            {"size": self.size, "resize": self.resize, "mean": self.mean, "std": self.std}
        )
        checks = [
            (is_number(self.valid_pct) and 0 < self.valid_pct < 1, "valid_pct",
             "a fraction between 0 and 1 (exclusive), e.g. valid_pct=0.2"),
            (is_whole(self.batch_size) and self.batch_size >= 1, "batch_size",
             "a whole number >= 1, e.g. batch_size=32"),
            (self.num_workers is None or (is_whole(self.num_workers) and self.num_workers >= 0),
             "num_workers", "None or a whole number >= 0 (0: load in this process)"),
            (self.max_pixels is None or (is_whole(self.max_pixels) and self.max_pixels >= 1),
             "max_pixels", "None or a whole number of pixels >= 1"),
            (self.cache_bytes is None or (is_whole(self.cache_bytes) and self.cache_bytes >= 0),
             "cache_bytes", "None or a whole number of bytes >= 0 (0: no cache)"),
            (self.augment is None or isinstance(self.augment, Augment), "augment",
             "an Augment(...) or None"),
        ]  # fmt: skip
        for ok, name, should in checks:
            if not ok:
                raise ValueError(f"{name} must be {should}; got {getattr(self, name)!r}.")

    def replace(self, **changes: Any) -> ImageDataOptions:
        """A copy with some settings changed (checked again)."""
        return ImageDataOptions.merge(self, changes)

    @classmethod
    def merge(cls, options: ImageDataOptions | None, settings: dict[str, Any]) -> ImageDataOptions:
        """``options`` (or the defaults) with ``settings`` on top; an unknown name is an error
        that names the close one."""
        from rung.utils import closest

        known = [f.name for f in fields(cls)]
        for name in settings:
            if name not in known:
                raise TypeError(
                    f"unknown image data setting {name!r}{closest(name, known)} The settings "
                    f"are {known}."
                )
        base = options if options is not None else cls()
        return dataclasses.replace(base, **settings) if settings else base

    def loader(
        self,
        files: list[Path],
        labels: list[int],
        train: bool,
        skipped: list[SkippedFile],
        cache: DecodedCache | None = None,
    ) -> ImageLoader:
        """The :class:`ImageLoader` of one split: training items presized and augmented,
        validation items exactly as prediction makes them (``size``, no augmentation).
        ``cache``: shared by the splits (see :meth:`new_cache`)."""
        item = (self.item_size or self.size) if train else self.size
        dataset = ImageDataset(files, labels, item, self.resize, max_pixels=self.max_pixels)
        return ImageLoader(
            dataset, batch_size=self.batch_size if train else self.batch_size * 2,
            shuffle=train, drop_last=train and len(files) > self.batch_size, size=self.size,
            augment=self.augment if train else None, mean=self.mean, std=self.std,
            device=self.device, num_workers=self.num_workers, seed=self.seed,
            decode_on_device=self.decode_on_device, skipped=skipped, cache=cache,
        )  # fmt: skip

    def new_cache(self) -> DecodedCache | None:
        """The decoded-items cache ``cache_bytes`` asks for (None when it is 0)."""
        return None if self.cache_bytes == 0 else DecodedCache(self.cache_bytes)


def is_number(value: Any) -> bool:
    """A real number (not a bool)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_whole(value: Any) -> bool:
    """A whole number (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)
