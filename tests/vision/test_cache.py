"""Decode once: the loader's cache serves later epochs from memory, never a stale item, within its cap."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image

import rung.vision.loader as loader_module
from rung.vision.augment import Augment
from rung.vision.cache import DecodedCache, file_key
from rung.vision.loader import ImageDataset, ImageLoader


@pytest.fixture
def folder(tmp_path: Path) -> list[Path]:
    files = []
    for i in range(10):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", (40, 30), (25 * i, 100, 255 - 25 * i)).save(path)
        files.append(path)
    return files


@pytest.fixture
def decodes(monkeypatch) -> list[Path]:
    """Every file the loader decodes (num_workers=0: in this process)."""
    seen: list[Path] = []
    real = loader_module.load_image

    def counting(path, *args, **kwargs):
        seen.append(Path(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(loader_module, "load_image", counting)
    return seen


def make_loader(files: list[Path], cache: DecodedCache | None) -> ImageLoader:
    dataset = ImageDataset(files, [i % 2 for i in range(len(files))], item_size=32)
    return ImageLoader(
        dataset, batch_size=4, shuffle=True, drop_last=True, size=24, augment=Augment(),
        num_workers=0, device="cpu", seed=7, cache=cache,
    )  # fmt: skip


def epochs(loader: ImageLoader, n: int) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    return [list(loader) for _ in range(n)]


def test_later_epochs_read_no_file_and_give_the_same_batches_as_no_cache(folder, decodes):
    cached = make_loader(folder, DecodedCache())
    with_cache = epochs(cached, 3)
    # the first epoch decoded 8 files (drop_last), the second the 2 left out; the third none
    assert len(decodes) == len(folder)
    decodes.clear()
    without = epochs(make_loader(folder, None), 3)
    assert len(decodes) == 3 * 8  # drop_last: 8 a batch of 4 twice
    for a, b in zip(with_cache, without):  # same order, same augmentation draws, same pixels
        assert len(a) == len(b) == 2
        for (xa, ya), (xb, yb) in zip(a, b):
            assert torch.equal(ya, yb) and torch.equal(xa, xb)
    assert [y.tolist() for _, y in with_cache[0]] != [y.tolist() for _, y in with_cache[1]]


def test_an_edited_image_is_decoded_again_and_its_new_pixels_are_served(folder, decodes):
    loader = ImageLoader(
        ImageDataset(folder, list(range(10)), item_size=16), batch_size=10, num_workers=0,
        device="cpu", cache=DecodedCache(),
    )  # fmt: skip
    (x1, _), (x2, _) = next(iter(loader)), next(iter(loader))
    assert torch.equal(x1, x2) and len(decodes) == 10
    Image.new("RGB", (40, 30), "white").save(folder[3])  # the user fixes one photo
    decodes.clear()
    x3, _ = next(iter(loader))
    assert decodes == [folder[3]]  # only the edited file is read again
    assert torch.equal(x3[[0, 1, 2, 4]], x1[[0, 1, 2, 4]])
    assert not torch.allclose(x3[3], x1[3])
    assert x3[3].flatten(1).std(dim=1).max() < 1e-5  # one colour now: white


def test_the_cache_keeps_within_its_cap_and_a_loader_too_big_for_it_decodes_each_epoch(
    folder, decodes
):
    item = 3 * 32 * 32  # bytes of one uint8 (3, 32, 32) item
    cache = DecodedCache(max_bytes=4 * item + 10)
    loader = make_loader(folder, cache)
    first, second = epochs(loader, 2)
    assert len(cache) == 4 and cache.nbytes <= cache.max_bytes
    assert len(decodes) == 2 * 8  # not all fit: every epoch decodes its 8 items, as without one
    assert len(first) == len(second) == 2


def test_a_broken_file_is_remembered_until_it_is_replaced(folder, decodes):
    folder[5].write_bytes(b"not an image")
    loader = ImageLoader(
        ImageDataset(folder, list(range(10)), item_size=16), batch_size=10, num_workers=0,
        device="cpu", cache=DecodedCache(),
    )  # fmt: skip
    with pytest.warns(UserWarning, match="can't be decoded"):
        _, y1 = next(iter(loader))
    _, y2 = next(iter(loader))
    assert 5 not in y1.tolist() and y1.tolist() == y2.tolist()
    assert decodes.count(folder[5]) == 1  # not tried again while it is unchanged
    Image.new("RGB", (40, 30), "red").save(folder[5])
    _, y3 = next(iter(loader))
    assert y3.tolist() == list(range(10))


def test_a_key_changes_when_the_file_is_written_even_with_its_times_set_back(tmp_path):
    import os

    path = tmp_path / "a.png"
    Image.new("RGB", (8, 8), "red").save(path)
    before = file_key(path, 16, "squish")
    st = os.stat(path)
    Image.new("RGB", (8, 8), "blue").save(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime as before
    after = file_key(path, 16, "squish")
    assert after.mtime_ns == before.mtime_ns and after != before


def test_the_cap_must_be_a_number_of_bytes():
    with pytest.raises(ValueError, match="max_bytes must be a whole number of bytes"):
        DecodedCache(max_bytes=-1)
    assert DecodedCache(max_bytes=0).put(None, torch.zeros(1)) is False
