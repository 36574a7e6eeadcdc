"""What ``rung doctor`` reads from an image folder: every image training would use, with its
label, split, size, mode, file hash and perceptual hash, and the files training would leave out.

The files, labels and split come from :meth:`rung.vision.data.ImageDataLoaders.from_folder`
itself (with the same settings ``rung train images`` uses), so the doctor sees exactly what
training sees. Each image is then read once, within the caps of :mod:`rung.vision.io` (bytes
first, then the header's pixel count, before anything is decoded), and decoded only as a small
grayscale thumbnail (:func:`rung.vision.phash.thumbnail`). Nothing of the pixels is kept, so
memory grows by about 200 bytes an image.

>>> import tempfile
>>> from PIL import Image
>>> root = Path(tempfile.mkdtemp())
>>> for name, depth in [("ants/1.png", 20), ("ants/2.png", 20), ("bees/1.jpg", 90)]:
...     (root / name).parent.mkdir(exist_ok=True)
...     Image.effect_mandelbrot((120, 90), (-2, -1.2, 1, 1.2), depth).save(root / name)
>>> scan = scan_folder(root, valid_pct=0.34)
>>> len(scan.records), scan.classes, scan.split
(3, ['ants', 'bees'], 'random 34% (seed 42)')
>>> [sorted([scan.records[i].name, scan.records[j].name]) for i, j, bits in scan.pairs]
[['ants/1.png', 'ants/2.png']]
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rung.vision.io import MAX_FILE_BYTES, UnreadableImageError, read_header, unsupported_file
from rung.vision.loader import SkippedFile
from rung.vision.options import ImageDataOptions
from rung.vision.phash import near_pairs, phash, thumbnail

__all__ = [
    "ImageRecord",
    "ImageScan",
    "scan_folder",
    "similar_pairs",
    "extra_copies",
    "read_record",
    "draw_pairs",
]

FLAT_STD = 2.0  # a thumbnail whose grey levels vary less than this is one flat colour


@dataclass(frozen=True)
class ImageRecord:
    """One image training would use: where it is, its label and split, and what it looks like
    in a few numbers (``sha1`` of the file's bytes, ``phash`` of its pixels)."""

    path: Path
    name: str  # the path relative to the folder, as the findings name it
    label: str
    valid: bool
    width: int
    height: int
    mode: str
    sha1: str
    phash: int
    flat: bool  # one colour, or nearly: its perceptual hash means nothing


@dataclass
class ImageScan:
    """An image folder as the doctor's checks see it.

    ``records``: the images that read; ``unreadable``: files training tries and fails to read
    (bad header, over a cap, damaged further in); ``not_images``: files in the class folders
    that training leaves out by their extension; ``pairs``: ``(i, j, bits)`` for every two
    records whose perceptual hashes differ in at most :data:`~rung.vision.phash.NEAR_BITS`.
    ``out``: where checks may draw pictures (None: draw none).
    """

    root: Path
    records: list[ImageRecord]
    unreadable: list[SkippedFile]
    not_images: list[SkippedFile]
    classes: list[str]
    split: str
    size: int
    pairs: list[tuple[int, int, int]] = field(default_factory=list)
    out: Path | None = None

    def relative(self, path: Path) -> str:
        """``path`` as the findings name it: relative to the folder, with forward slashes."""
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return str(path)


def scan_folder(
    folder: str | Path,
    *,
    label: Any = "folder",
    split: str = "auto",
    valid_pct: float = 0.2,
    seed: int | None = 42,
    size: int = 224,
    max_pixels: int | None = None,
    out: str | Path | None = None,
) -> ImageScan:
    """Read ``folder`` as ``rung train images`` does (``label``, ``split``, ``valid_pct``,
    ``seed`` as :meth:`~rung.vision.data.ImageDataLoaders.from_folder` takes them), then each
    image's record (:func:`read_record`). ``size`` is the model's input size, for the checks.

    Raises what ``from_folder`` raises for a folder it can't train on (one class, mixed depths).
    """
    from rung.vision.data import ImageDataLoaders

    root = Path(folder)
    options = ImageDataOptions(
        valid_pct=valid_pct, seed=seed, size=size, max_pixels=max_pixels, num_workers=0,
        device="cpu", augment=None, decode_on_device=False,
    )  # fmt: skip
    with warnings.catch_warnings():  # what it warns about (skipped files), the checks report
        warnings.simplefilter("ignore")
        dls = ImageDataLoaders.from_folder(root, label=label, split=split, options=options)
    classes = list(dls.classes)
    unreadable = [s for s in dls.skipped if unsupported_file(s.path) is None]
    not_images = [s for s in dls.skipped if unsupported_file(s.path) is not None]
    scan = ImageScan(root, [], unreadable, not_images, classes, dls.info["split"], size)
    for loader, valid in ((dls.train, False), (dls.valid, True)):
        for path, y in zip(loader.dataset.files, loader.dataset.labels):
            record = read_record(path, scan.relative(path), classes[y], valid, max_pixels)
            if isinstance(record, str):
                scan.unreadable.append(SkippedFile(Path(path), record))
            else:
                scan.records.append(record)
    scan.pairs = similar_pairs(scan.records)
    scan.out = Path(out) if out is not None else None
    return scan


def similar_pairs(records: Sequence[ImageRecord]) -> list[tuple[int, int, int]]:
    """``(i, j, bits)`` for records that are the same file (same bytes, ``bits`` 0) or whose
    perceptual hashes differ in at most :data:`~rung.vision.phash.NEAR_BITS` (flat images
    aside: every blank image hashes alike), sorted."""
    pairs: set[tuple[int, int, int]] = set()
    by_sha: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        by_sha.setdefault(r.sha1, []).append(i)
    for same in by_sha.values():
        pairs.update((a, b, 0) for k, a in enumerate(same) for b in same[k + 1 :])
    textured = [i for i, r in enumerate(records) if not r.flat]
    for a, b, bits in near_pairs([records[i].phash for i in textured]):
        pairs.add((textured[a], textured[b], bits))
    return sorted(pairs)


def extra_copies(pairs: Iterable[tuple[str, str]]) -> int:
    """How many files could go if one of each group of copies stayed (``a`` copies ``b`` and
    ``b`` copies ``c``: one group of three, two extra).

    >>> extra_copies([("a", "b"), ("b", "c"), ("x", "y")])
    3
    """
    parent: dict[str, str] = {}

    def root(x: str) -> str:  # union-find, with path halving
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        parent[root(a)] = root(b)
    return len(parent) - len({root(x) for x in list(parent)})


def read_record(
    path: str | Path, name: str, label: str, valid: bool, max_pixels: int | None = None
) -> ImageRecord | str:
    """The :class:`ImageRecord` of one file, or why it can't be read (a file over
    :data:`~rung.vision.io.MAX_FILE_BYTES`, a header over ``max_pixels``, damaged data).

    >>> import tempfile
    >>> from PIL import Image
    >>> p = Path(tempfile.mkdtemp()) / "a.jpg"
    >>> Image.effect_noise((64, 48), 40).save(p)
    >>> r = read_record(p, "a.jpg", "grey", False)
    >>> r.width, r.height, r.mode
    (64, 48, 'L')
    >>> data = p.read_bytes(); _ = p.write_bytes(data[: len(data) // 2])  # the pixels cut short
    >>> read_record(p, "a.jpg", "grey", False)  # doctest: +ELLIPSIS
    "can't decode it (image file is truncated ...)"
    """
    from PIL import Image, ImageOps

    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:  # read(n) allocates n bytes up front: ask for what's there
            data = f.read(min(size, MAX_FILE_BYTES) + 1)
        if len(data) > MAX_FILE_BYTES:
            return f"the file is over the cap of {MAX_FILE_BYTES:,} bytes"
        header = read_header(data, name, max_pixels)  # checks the pixel cap before decoding
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked above
            with Image.open(io.BytesIO(data)) as im:
                im.draft("L", (64, 64))  # decode JPEGs at 1/8 scale at most
                thumb = thumbnail(ImageOps.exif_transpose(im))  # (32, 32)
    except UnreadableImageError as e:
        return str(e).removeprefix(f"{name}: ")
    except (OSError, ValueError, SyntaxError) as e:  # PIL's ways of saying "damaged"
        return f"can't decode it ({e})"
    return ImageRecord(
        path, name, label, valid, header.width, header.height, header.mode,
        hashlib.sha1(data).hexdigest(), phash(thumb), bool(thumb.std() < FLAT_STD),
    )  # fmt: skip


def _preview(path: Path, side: int = 160) -> Any:
    """A small RGB preview of an image already read once (caps checked), for a picture."""
    from PIL import Image, ImageOps

    with Image.open(path) as im:
        im.draft("RGB", (side, side))
        im = ImageOps.exif_transpose(im).convert("RGB")
        im.thumbnail((side, side))
        return im


def draw_pairs(
    pairs: Sequence[tuple[ImageRecord, ImageRecord, str]], path: str | Path, title: str
) -> Path:
    """A PNG grid of image pairs, one pair a row, each image titled with its name and split,
    and the pair's note (``"same file"``, ``"3 bits apart"``) between them.

    >>> import tempfile
    >>> from PIL import Image
    >>> d = Path(tempfile.mkdtemp()); Image.new("RGB", (30, 20), "red").save(d / "a.png")
    >>> r = read_record(d / "a.png", "a.png", "red", False)
    >>> draw_pairs([(r, r, "same file")], d / "pairs.png", "copies").stat().st_size > 0
    True
    """
    from matplotlib.figure import Figure

    rows = max(1, len(pairs))
    fig = Figure(figsize=(6.4, 2.9 * rows + 0.5))
    axes = fig.subplots(rows, 2, squeeze=False)
    for (a, b, note), (left, right) in zip(pairs, axes):
        for ax, record in ((left, a), (right, b)):
            ax.imshow(_preview(record.path))
            split = "valid" if record.valid else "train"
            ax.set_title(f"{_short(record.name)}\n{record.label}, {split}", fontsize=8)
            ax.axis("off")
        left.annotate(note, (1.1, 0.5), xycoords="axes fraction", ha="center", fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    return path


def _short(name: str, width: int = 36) -> str:
    return name if len(name) <= width else "..." + name[-(width - 3) :]
