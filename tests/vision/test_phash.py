"""Perceptual hashes on real photos: copies stay close, different photos stay apart; the blocked
pair search finds exactly the pairs a brute-force search does."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image

from rung.vision.phash import NEAR_BITS, hamming, near_pairs, phash, thumbnail


def hash_of(image: Image.Image) -> int:
    return phash(thumbnail(image))


def reencoded(image: Image.Image, fmt: str, **kwargs) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return Image.open(io.BytesIO(buffer.getvalue()))


@pytest.fixture(scope="module")
def photos(cats_dogs_dir):
    files = sorted((cats_dogs_dir / "train").rglob("*.jpg"))[::10]  # 40 cats and dogs
    return [Image.open(f).convert("RGB") for f in files]


def test_copies_stay_within_near_bits(photos):
    for photo in photos[:20]:
        original = hash_of(photo)
        w, h = photo.size
        shrunk = reencoded(photo.resize((w * 2 // 3, h * 2 // 3)), "JPEG", quality=60)
        grey = reencoded(photo.convert("L"), "PNG")
        assert hamming(original, hash_of(shrunk)) <= NEAR_BITS
        assert hamming(original, hash_of(grey)) <= NEAR_BITS


def test_different_photos_are_far_apart(photos):
    hashes = [hash_of(p) for p in photos]
    closest = min(hamming(a, b) for a, b in itertools.combinations(hashes, 2))
    assert closest > NEAR_BITS
    flipped = hash_of(photos[0].transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    assert hamming(hashes[0], flipped) > NEAR_BITS  # a mirror image is another picture


def test_near_pairs_matches_brute_force_in_small_blocks():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 2**63, 30, dtype=np.uint64)
    flips = np.uint64(1) << rng.integers(0, 64, 30).astype(np.uint64)
    hashes = np.concatenate([base, base[:10] ^ flips[:10]])  # 10 pairs one bit apart
    expected = [
        (i, j, hamming(hashes[i], hashes[j]))
        for i, j in itertools.combinations(range(len(hashes)), 2)
        if hamming(hashes[i], hashes[j]) <= 12
    ]
    assert near_pairs(hashes, max_bits=12, block=7) == expected
    assert [(i, j, b) for i, j, b in expected if b == 1] == [(i, 30 + i, 1) for i in range(10)]


def test_phash_refuses_another_shape():
    with pytest.raises(ValueError, match=r"\(32, 32\) thumbnail, got shape \(16, 16\)"):
        phash(np.zeros((16, 16)))
