"""Perceptual hashes: 64 bits that stay (nearly) the same when an image is resized, re-encoded
or turned grey, so near-duplicate photos can be found by counting differing bits.

The hash is pHash (Zauner, 2010, as in the ``imagehash`` package): shrink the image to a 32x32
grayscale thumbnail, take its 2-D discrete cosine transform, keep the 8x8 lowest frequencies
(the coarse layout of light and dark, which resizing and JPEG noise barely touch), and set one
bit per frequency: above the median of the 63 non-constant ones, or not. Two images are near
duplicates when their hashes differ in few bits (:data:`NEAR_BITS`).

On ../shared/data/cats_dogs (600 photos) distinct photos differ in 14 bits or more, while a copy
shrunk to 2/3 and saved again as a JPEG of quality 60, or saved as a grey PNG, differs from its
original in at most 6 bits (100 photos tried); :data:`NEAR_BITS` sits between the two.

>>> from PIL import Image
>>> picture = Image.effect_mandelbrot((240, 180), (-2.0, -1.2, 1.0, 1.2), 20)
>>> a, b = phash(thumbnail(picture)), phash(thumbnail(picture.resize((80, 60))))
>>> hamming(a, b) <= NEAR_BITS, hamming(a, phash(thumbnail(picture.rotate(180)))) > NEAR_BITS
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["THUMB", "NEAR_BITS", "thumbnail", "phash", "hamming", "near_pairs"]

THUMB = 32  # the thumbnail's side in pixels: the DCT's size
NEAR_BITS = 10  # hashes at most this many bits apart are near duplicates (of 64)
_LOW = 8  # the 8x8 lowest frequencies make the 64 bits


def _dct_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix: ``D @ x`` transforms a column, ``D @ X @ D.T`` an image."""
    k = np.arange(n)
    d = np.sqrt(2 / n) * np.cos(np.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n))
    d[0] /= np.sqrt(2)
    return d


_DCT = _dct_matrix(THUMB)


def thumbnail(image: Any) -> np.ndarray:
    """An open PIL image as a (32, 32) float32 grayscale thumbnail, decoded cheaply.

    JPEGs are decoded at 1/2, 1/4 or 1/8 scale (PIL's ``draft``, which scales inside the JPEG
    decoder), so a 4000x3000 photo costs about what a 500x375 one does. Call it on a freshly
    opened image whose header has been checked against the pixel cap
    (:func:`rung.vision.io.read_header`): this decodes it.

    >>> from PIL import Image
    >>> thumbnail(Image.new("RGB", (300, 200), "white")).shape
    (32, 32)
    """
    from PIL import Image

    image.draft("L", (2 * THUMB, 2 * THUMB))  # a no-op for formats other than JPEG
    gray = image.convert("L").resize((THUMB, THUMB), Image.Resampling.BOX)
    return np.asarray(gray, dtype=np.float32)


def phash(thumb: np.ndarray) -> int:
    """The 64-bit perceptual hash of a (32, 32) grayscale thumbnail (see the module docstring).

    >>> import numpy as np
    >>> x = np.random.default_rng(0).random((32, 32), dtype=np.float32) * 255
    >>> phash(x) == phash(x * 0.5 + 10)  # brightness and contrast don't change it
    True
    """
    if thumb.shape != (THUMB, THUMB):
        raise ValueError(f"phash takes a ({THUMB}, {THUMB}) thumbnail, got shape {thumb.shape}.")
    low = (_DCT @ thumb.astype(np.float64) @ _DCT.T)[:_LOW, :_LOW].ravel()  # (64,)
    bits = low > np.median(low[1:])  # low[0] is the mean brightness: left out of the median
    return int(np.packbits(bits).view(">u8")[0])


def hamming(a: int | np.uint64, b: int | np.uint64) -> int:
    """How many bits two hashes differ in.

    >>> hamming(0b1011, 0b0001)
    2
    """
    return int(np.bitwise_count(np.uint64(a) ^ np.uint64(b)))


def near_pairs(
    hashes: Sequence[int] | np.ndarray, max_bits: int = NEAR_BITS, block: int | None = None
) -> list[tuple[int, int, int]]:
    """Every pair ``(i, j, bits)`` with ``i < j`` whose hashes differ in at most ``max_bits``.

    All pairs are compared (exact, no index), a block of rows at a time so memory stays near
    16 MiB whatever the count: 600 images take a few milliseconds, 50,000 a few seconds.

    >>> near_pairs([0b0000, 0b1111, 0b0001, 0b1110], max_bits=1)
    [(0, 2, 1), (1, 3, 1)]
    """
    h = np.asarray(hashes, dtype=np.uint64)
    n = len(h)
    block = block or max(1, 2**21 // max(n, 1))  # (block, n) uint64 comparisons at a time
    pairs: list[tuple[int, int, int]] = []
    for start in range(0, n, block):
        rows = h[start : start + block]
        bits = np.bitwise_count(rows[:, None] ^ h[None, :])  # (block, n)
        i, j = np.nonzero(bits <= max_bits)
        i = i + start
        keep = j > i
        pairs += [(int(a), int(b), int(bits[a - start, b])) for a, b in zip(i[keep], j[keep])]
    return pairs
