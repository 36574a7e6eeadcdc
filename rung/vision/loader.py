"""Image batches: decode in DataLoader workers, move uint8 to the device, augment and normalise there.

Two ways an image reaches the model:

- **CPU decode** (the default without a GPU): each worker reads, decodes and resizes its images
  to uint8 (3, S, S); batches travel as uint8 (4x cheaper to copy than float) and become float,
  augmented and normalised on the device.
- **Device decode** (the default on CUDA): workers only read the file bytes; the main process
  decodes the whole batch's JPEGs in one ``torchvision.io.decode_jpeg(list, device='cuda')``
  call (nvjpeg, about 13x one CPU thread; ``../shared/ENV.md``) and resizes them on the GPU.
  Files nvjpeg can't take (PNG, progressive or CMYK JPEGs, EXIF-rotated photos), and JPEGs at
  least twice the item size (decoded at a reduced scale, see :func:`~rung.vision.io.decode_bytes`),
  are decoded in the worker as in the CPU path.

Files that fail to decode are dropped from their batch, listed in ``loader.skipped`` and warned
about once.

With a :class:`~rung.vision.cache.DecodedCache` (the CPU path), the first epoch's decoded items
are kept; once every item of the loader is there (and its file unchanged), epochs are served
from memory in this process, in the same order the workers would have made, and read no file.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F

from rung.vision.augment import Augment, to_device
from rung.vision.cache import DecodedCache, FileKey, file_key
from rung.vision.io import (
    UnreadableImageError,
    decode_bytes,
    load_image,
    nvjpeg_can_decode,
    read_bytes,
    read_header,
)
from rung.vision.pixels import IMAGENET_MEAN, IMAGENET_STD, normalize, resize_image

__all__ = [
    "SkippedFile",
    "ImageDataset",
    "RawBatch",
    "EpochBatches",
    "ImageLoader",
    "default_num_workers",
    "image_files_loader",
]


class SkippedFile(NamedTuple):
    """An image file left out of the data, and why."""

    path: Path
    reason: str


class RawBatch(NamedTuple):
    """What a DataLoader worker hands over: images still uint8 (or encoded), on the CPU.

    ``images``: (B, 3, S, S) uint8, or (device decode) a list of 1-D encoded tensors and
    (3, S, S) uint8 tensors. ``labels``: (B,) int64. ``indices``: (B,) the items' positions in
    the dataset. ``failed``: positions of the items that could not be decoded (dropped).
    ``reasons``: why each of those failed.
    """

    images: torch.Tensor | list[torch.Tensor]
    labels: torch.Tensor
    indices: torch.Tensor
    failed: torch.Tensor
    reasons: list[str]


def default_num_workers() -> int:
    """min(8, CPU count): enough workers to keep one GPU fed without crowding the machine."""
    return min(8, os.cpu_count() or 1)


@dataclass
class ImageDataset:
    """Image files with integer labels, loaded at ``item_size`` with a resize method.

    ``labels=None`` (files to predict) makes each item's label its own index. With
    ``encoded=True`` items are the file bytes (for device decode) when nvjpeg can take them.
    Images over ``max_pixels`` (None: :data:`rung.vision.io.MAX_PIXELS`) are refused unread,
    like files that can't be decoded.

    >>> import tempfile
    >>> from PIL import Image
    >>> d = Path(tempfile.mkdtemp())
    >>> Image.new("RGB", (30, 20), "red").save(d / "a.png")
    >>> ds = ImageDataset([d / "a.png"], [1], item_size=16, resize="pad")
    >>> image, label, index = ds[0]
    >>> tuple(image.shape), image.dtype, label, index
    ((3, 16, 16), torch.uint8, 1, 0)
    """

    files: Sequence[Path]
    labels: Sequence[int] | None
    item_size: int
    resize: str = "squish"
    encoded: bool = False
    max_pixels: int | None = None

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> tuple[torch.Tensor | str, int, int]:
        """(image, label, index); a file that can't be decoded gives its reason (a str) instead."""
        path = self.files[i]
        label = int(self.labels[i]) if self.labels is not None else i
        try:
            if not self.encoded:
                return load_image(path, self.item_size, self.resize, self.max_pixels), label, i
            data = read_bytes(path)
            header = read_header(data.numpy().tobytes(), str(path), self.max_pixels)
            small = min(header.width, header.height) < 2 * self.item_size
            if nvjpeg_can_decode(header) and small:
                return data, label, i  # 1-D: decoded with its batch, on the device
            # here, as the CPU path does (a large JPEG at a reduced scale): the same pixels
            image = decode_bytes(data, str(path), self.max_pixels, at_least=self.item_size)
            return resize_image(image, self.item_size, self.resize), label, i
        except (UnreadableImageError, OSError) as e:
            return str(e), label, i


class ImageCollate:
    """Stack a worker's items into a :class:`RawBatch`, setting aside the ones that failed."""

    def __init__(self, item_size: int, encoded: bool) -> None:
        self.item_size, self.encoded = item_size, encoded

    def __call__(self, items: list[tuple[torch.Tensor | str, int, int]]) -> RawBatch:
        good = [it for it in items if not isinstance(it[0], str)]
        bad = [it for it in items if isinstance(it[0], str)]
        if self.encoded:
            images: torch.Tensor | list[torch.Tensor] = [it[0] for it in good]
        elif good:
            images = torch.stack([it[0] for it in good])  # (B, 3, S, S) uint8
        else:
            images = torch.empty(0, 3, self.item_size, self.item_size, dtype=torch.uint8)
        return RawBatch(
            images,
            torch.tensor([it[1] for it in good], dtype=torch.int64),
            torch.tensor([it[2] for it in good], dtype=torch.int64),
            torch.tensor([it[2] for it in bad], dtype=torch.int64),
            [it[0] for it in bad],
        )


class EpochBatches:
    """The batches of dataset positions one epoch visits: shuffled with ``generator`` (a new
    order each epoch) or in order; a batch sampler for the DataLoader, and the same order for
    epochs served from a cache.

    >>> g = torch.Generator().manual_seed(0)
    >>> [len(b) for b in EpochBatches(10, 4, shuffle=True, drop_last=True, generator=g)]
    [4, 4]
    >>> list(EpochBatches(5, 2, shuffle=False, drop_last=False, generator=g))
    [[0, 1], [2, 3], [4]]
    """

    def __init__(
        self, n: int, batch_size: int, shuffle: bool, drop_last: bool, generator: torch.Generator
    ) -> None:
        self.n, self.batch_size, self.shuffle, self.drop_last = n, batch_size, shuffle, drop_last
        self.generator = generator

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.n, generator=self.generator) if self.shuffle else None
        positions = order.tolist() if order is not None else list(range(self.n))
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            yield positions[start : start + self.batch_size]

    def __len__(self) -> int:
        if self.drop_last:
            return self.n // self.batch_size
        return -(-self.n // self.batch_size)


class ImageLoader:
    """Batches ``(x, y)`` of an :class:`ImageDataset` on ``device``, ready for a model.

    ``x``: (B, 3, size, size) float32, augmented (if ``augment``) and normalised with
    ``mean``/``std``; ``y``: (B,) int64 (item indices when the dataset has no labels).
    ``device=None`` picks CUDA when there is one. ``decode_on_device=None`` decodes JPEGs on
    the device when it is CUDA. Set ``loader.device`` to move later batches elsewhere.
    ``cache``: a :class:`~rung.vision.cache.DecodedCache` to decode each file once (CPU
    decode path); ``loader.size`` may change between epochs (progressive resizing: the
    augmentation crops the items to it).

    >>> import tempfile
    >>> from PIL import Image
    >>> d = Path(tempfile.mkdtemp())
    >>> for i in range(5): Image.new("RGB", (40, 30), (50 * i, 0, 0)).save(d / f"{i}.png")
    >>> ds = ImageDataset(sorted(d.glob("*.png")), [0, 1, 0, 1, 0], item_size=32)
    >>> loader = ImageLoader(ds, batch_size=2, size=24, augment=Augment(), num_workers=0, device="cpu")
    >>> [(tuple(x.shape), y.tolist()) for x, y in loader][0]
    ((2, 3, 24, 24), [0, 1])
    """

    def __init__(
        self,
        dataset: ImageDataset,
        batch_size: int = 64,
        shuffle: bool = False,
        drop_last: bool = False,
        size: int | None = None,
        augment: Augment | None = None,
        mean: Sequence[float] = IMAGENET_MEAN,
        std: Sequence[float] = IMAGENET_STD,
        device: str | torch.device | None = None,
        num_workers: int | None = None,
        seed: int | None = None,
        decode_on_device: bool | None = None,
        skipped: list[SkippedFile] | None = None,
        cache: DecodedCache | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        self.dataset, self.batch_size = dataset, batch_size
        self.shuffle, self.drop_last = shuffle, drop_last
        self.size = size or dataset.item_size
        self.augment, self.mean, self.std = augment, tuple(mean), tuple(std)
        self.num_workers = default_num_workers() if num_workers is None else num_workers
        self.skipped = [] if skipped is None else skipped  # shared with the DataLoaders' info
        self._warned: set[Path] = set()
        self._stats_cache: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, ...]] = {}
        self._device_decode_warned = False
        self._decode_on_device = decode_on_device
        self.cache = cache
        # Two streams of randomness: the order of items and the augmentation draws.
        self.generator, self.aug_generator = torch.Generator(), torch.Generator()
        if seed is None:
            self.generator.seed()
            self.aug_generator.seed()
        else:
            self.generator.manual_seed(seed)
            self.aug_generator.manual_seed(seed + 1)
        self._dataloader: torch.utils.data.DataLoader | None = None
        self.device = device  # the setter resolves None to CUDA or CPU

    @property
    def device(self) -> torch.device:
        return self._device

    @device.setter
    def device(self, device: str | torch.device | None) -> None:
        if device is None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self._device = torch.device(device)
        self._dataloader = None  # pinning and decode mode depend on the device

    @property
    def decode_on_device(self) -> bool:
        """Whether JPEGs are decoded on the device (batched nvjpeg) rather than in workers."""
        if self._decode_on_device is None:
            return self.device.type == "cuda"
        return self._decode_on_device

    @property
    def dataloader(self) -> torch.utils.data.DataLoader:
        """The torch DataLoader of :class:`RawBatch` es (for Accelerate: prepare it with
        ``device_placement=False`` and pass its batches through :meth:`process`)."""
        if self._dataloader is None:
            dataset = replace(self.dataset, encoded=self.decode_on_device)
            self._dataloader = torch.utils.data.DataLoader(
                dataset,  # type: ignore[arg-type]  (a map-style dataset: __len__ + __getitem__)
                batch_sampler=self.batches,
                num_workers=self.num_workers,
                collate_fn=ImageCollate(dataset.item_size, dataset.encoded),
                pin_memory=self.device.type == "cuda",
                persistent_workers=self.num_workers > 0,
            )
        return self._dataloader

    @property
    def batches(self) -> EpochBatches:
        """The positions of each batch of the next epoch (drawn when iterated)."""
        n = len(self.dataset)
        return EpochBatches(n, self.batch_size, self.shuffle, self.drop_last, self.generator)

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        if self.cache is None or self.decode_on_device:
            return self.iter_batches(self.dataloader)
        keys = [
            file_key(f, self.dataset.item_size, self.dataset.resize) for f in self.dataset.files
        ]
        items = [self.cache.get(k) for k in keys]
        missing = [i for i, item in enumerate(items) if item is None]
        if len(missing) <= max(len(items) // 4, self.batch_size):
            # a few (what drop_last or one_batch left out, edited files): decode them here
            for i in missing:
                item = self.dataset[i][0]
                if self.cache.put(keys[i], item):
                    items[i] = item
        if all(item is not None for item in items):
            return self.iter_batches(self._cached_batches(items))
        return self.iter_batches(self._caching(self.dataloader, keys))

    def _caching(
        self, raw_batches: Iterable[RawBatch], keys: list[FileKey | None]
    ) -> Iterator[RawBatch]:
        # keys were taken before the files were read: a file changed since gets a new key
        for raw in raw_batches:
            for j, i in enumerate(raw.indices.tolist()):
                self.cache.put(keys[i], raw.images[j])  # type: ignore[union-attr]
            for i, reason in zip(raw.failed.tolist(), raw.reasons):
                self.cache.put(keys[i], reason)  # type: ignore[union-attr]
            yield raw

    def _cached_batches(self, items: list[torch.Tensor | str]) -> Iterator[RawBatch]:
        labels = self.dataset.labels
        for positions in self.batches:
            collated = [
                (items[i], int(labels[i]) if labels is not None else i, i) for i in positions
            ]
            yield ImageCollate(self.dataset.item_size, False)(collated)

    def iter_batches(
        self, raw_batches: Iterable[RawBatch]
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """:meth:`process` every raw batch, leaving out batches whose every file failed."""
        for raw in raw_batches:
            x, y = self.process(raw)
            if len(y):
                yield x, y

    def one_batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The first batch, leaving the shuffling and augmentation random state as it was."""
        states = self.generator.get_state(), self.aug_generator.get_state()
        try:
            return next(iter(self))
        finally:
            self.generator.set_state(states[0])
            self.aug_generator.set_state(states[1])

    def process(self, raw: RawBatch) -> tuple[torch.Tensor, torch.Tensor]:
        """A raw batch -> (x, y) on the device: decode (device path), augment, normalise."""
        self._note_failures(raw.failed.tolist(), raw.reasons)
        labels = raw.labels
        if isinstance(raw.images, list):
            x, keep = self._decode_batch(raw.images, raw.indices.tolist())
            labels = labels[keep]
        else:
            x = raw.images.to(self.device, non_blocking=True).float().div_(255)  # (B, 3, S, S)
        y = to_device(labels, self.device)  # (B,) int64
        if self.augment is not None and len(x):
            x = self.augment(x, size=self.size, generator=self.aug_generator)
        elif x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", antialias=True)
        return normalize(x, *self._stats(x)), y

    def _stats(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # mean/std as tensors on the batch's device, made once (not a copy per batch)
        key = (x.device, x.dtype)
        if key not in self._stats_cache:
            stats = torch.tensor([self.mean, self.std], dtype=x.dtype)  # (2, 3)
            self._stats_cache[key] = tuple(to_device(stats, x.device).view(2, 3, 1, 1))
        return self._stats_cache[key]

    def _decode_batch(
        self, images: list[torch.Tensor], indices: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # Encoded JPEG bytes (1-D) are decoded together on the device; images a worker already
        # decoded (3-D) are just moved. Returns float (B, 3, S, S) in [0, 1] and a keep mask.
        s = self.dataset.item_size
        out: list[torch.Tensor | None] = [None] * len(images)
        encoded = [i for i, im in enumerate(images) if im.ndim == 1]
        for i, im in enumerate(images):
            if im.ndim == 3:
                out[i] = im.to(self.device, non_blocking=True).float()
        decoded = self._decode_encoded([images[i] for i in encoded], [indices[i] for i in encoded])
        for i, image in zip(encoded, decoded):
            if image is not None:
                out[i] = resize_image(image.float(), s, self.dataset.resize)  # (3, S, S)
        keep = torch.tensor([im is not None for im in out], dtype=torch.bool)
        kept = [im for im in out if im is not None]
        if not kept:
            return torch.empty(0, 3, s, s, device=self.device), keep
        return torch.stack(kept).div_(255), keep  # (B, 3, S, S)

    def _decode_encoded(
        self, datas: list[torch.Tensor], indices: list[int]
    ) -> list[torch.Tensor | None]:
        # One batched call (nvjpeg on CUDA); a single broken file fails the whole call, so then
        # decode one by one on the CPU to find it. If every file decodes fine that way, the
        # device decoder itself is the problem: say so once, since each batch now pays for it.
        from torchvision.io import ImageReadMode, decode_jpeg

        if not datas:
            return []
        try:
            with warnings.catch_warnings():  # torchvision 0.29 marks its decoders deprecated
                warnings.simplefilter("ignore", DeprecationWarning)
                return decode_jpeg(
                    [d.cpu() for d in datas],  # nvjpeg reads the bytes from host memory
                    mode=ImageReadMode.RGB,
                    device=self.device,
                    apply_exif_orientation=True,
                )
        except (RuntimeError, ValueError) as e:
            error = e
        one_by_one = [self._decode_one(d, i) for d, i in zip(datas, indices)]
        if all(im is not None for im in one_by_one) and not self._device_decode_warned:
            self._device_decode_warned = True
            warnings.warn(
                f"decoding a batch on {self.device} failed ({str(error).splitlines()[0][:200]}), "
                "though each image decodes on the CPU; they are decoded there, in this process. "
                "Pass decode_on_device=False to decode in the DataLoader workers instead.",
                stacklevel=5,
            )
        return [None if im is None else im.to(self.device) for im in one_by_one]

    def _decode_one(self, data: torch.Tensor, index: int) -> torch.Tensor | None:
        try:
            name = str(self.dataset.files[index])
            return decode_bytes(
                data.cpu(), name, self.dataset.max_pixels, at_least=self.dataset.item_size
            )
        except UnreadableImageError as e:
            self._note_failures([index], [str(e)])
            return None

    def _note_failures(self, indices: list[int], reasons: list[str]) -> None:
        for i, reason in zip(indices, reasons):
            path = Path(self.dataset.files[i])
            if path in self._warned:
                continue
            self._warned.add(path)
            if all(s.path != path for s in self.skipped):
                self.skipped.append(SkippedFile(path, reason))
            warnings.warn(f"skipped an image that can't be decoded: {reason}", stacklevel=3)

    def __repr__(self) -> str:
        return (
            f"ImageLoader({len(self.dataset)} images, batch_size={self.batch_size}, "
            f"size={self.size}, augment={'on' if self.augment else 'off'}, device={self.device})"
        )


def image_files_loader(
    files: Sequence[str | Path],
    preprocessing: dict[str, Any],
    batch_size: int = 64,
    num_workers: int | None = None,
    device: str | torch.device | None = None,
    max_pixels: int | None = None,
) -> ImageLoader:
    """Batches ``(x, index)`` of unlabelled files for prediction, from a model's preprocessing dict.

    Files that fail to decode are dropped (see ``loader.skipped``); ``index`` says which of
    ``files`` each row of ``x`` is.

    >>> import tempfile
    >>> from PIL import Image
    >>> p = Path(tempfile.mkdtemp()) / "a.png"; Image.new("RGB", (9, 9)).save(p)
    >>> settings = {"size": 16, "resize": "squish", "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    >>> [(tuple(x.shape), i.tolist()) for x, i in image_files_loader([p], settings, num_workers=0)]
    [((1, 3, 16, 16), [0])]
    """
    files = [Path(f) for f in files]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(files)} image files don't exist: {missing[:5]}."
        )
    size = int(preprocessing["size"])
    resize = str(preprocessing["resize"])
    dataset = ImageDataset(files, None, item_size=size, resize=resize, max_pixels=max_pixels)
    return ImageLoader(
        dataset,
        batch_size=batch_size,
        mean=preprocessing["mean"],
        std=preprocessing["std"],
        device=device,
        num_workers=num_workers,
    )
