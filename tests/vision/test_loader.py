"""ImageLoader: the CPU-worker path and the decode-on-device path (exercised here on the CPU;
on a CUDA machine the same code hands the JPEGs to nvjpeg, and the GPU tests below run)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from rung.vision.augment import Augment
from rung.vision.io import preprocess_image
from rung.vision.loader import ImageCollate, ImageDataset, ImageLoader, image_files_loader

SIZE = 256  # under half of every photo's short side: no JPEG is decoded at a reduced scale
SETTINGS = {"size": SIZE, "resize": "crop", "mean": [0.5] * 3, "std": [0.25] * 3}


@pytest.fixture
def mixed_files(cats_dogs_dir: Path, tmp_path: Path) -> list[Path]:
    """Real JPEGs plus what nvjpeg can't take: a PNG, a progressive JPEG, an EXIF-rotated one."""
    jpgs = sorted((cats_dogs_dir / "val" / "cats").glob("*.jpg"))[:6]
    files = [shutil.copy(src, tmp_path / src.name) for src in jpgs]
    photo = Image.open(jpgs[0])
    photo.save(tmp_path / "as.png")
    photo.save(tmp_path / "progressive.jpg", progressive=True, quality=90)
    exif = Image.Exif()
    exif[0x0112] = 6
    photo.save(tmp_path / "rotated.jpg", exif=exif, quality=90)
    return [Path(f) for f in files] + [
        tmp_path / n for n in ("as.png", "progressive.jpg", "rotated.jpg")
    ]


def loader_for(files, decode_on_device: bool, **kwargs) -> ImageLoader:
    dataset = ImageDataset(files, list(range(len(files))), item_size=SIZE, resize="crop")
    kwargs = {"batch_size": 16, "num_workers": 0, "device": "cpu", **kwargs}
    return ImageLoader(
        dataset,
        mean=SETTINGS["mean"],
        std=SETTINGS["std"],
        decode_on_device=decode_on_device,
        **kwargs,
    )


def test_device_decode_matches_worker_decode(mixed_files):
    on_cpu = loader_for(mixed_files, decode_on_device=False)
    on_device = loader_for(mixed_files, decode_on_device=True)
    assert on_device.decode_on_device and not on_cpu.decode_on_device
    raw = next(iter(on_device.dataloader))
    kinds = [im.ndim for im in raw.images]
    assert kinds == [1] * 6 + [3] * 3  # JPEG bytes travel encoded; the rest decoded in the worker
    [(xc, yc)], [(xd, yd)] = list(on_cpu), list(on_device)
    assert torch.equal(yc, yd) and xd.shape == xc.shape == (9, 3, SIZE, SIZE)
    # Same pixels up to resampling floats instead of uint8 (a rounding step), in normalised units:
    assert (xd - xc).abs().mean() < 0.02
    assert torch.allclose(xc[-1:], preprocess_image(mixed_files[-1], SETTINGS), atol=1e-6)
    assert xc[-1].shape == (3, SIZE, SIZE)  # the EXIF rotation was applied (a crop hides the shape)


def test_a_corrupt_jpeg_in_an_encoded_batch_is_dropped_alone(mixed_files, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(mixed_files[0].read_bytes()[:1500])
    files = [*mixed_files[:4], broken]
    loader = loader_for(files, decode_on_device=True, augment=Augment())
    with pytest.warns(UserWarning, match=r"broken\.jpg"):
        ((x, y),) = list(loader)
    assert y.tolist() == [0, 1, 2, 3] and x.shape == (4, 3, SIZE, SIZE)
    assert [s.path.name for s in loader.skipped] == ["broken.jpg"]


def test_a_batch_of_only_broken_files_is_left_out(tmp_path, mixed_files):
    bad = []
    for i in range(3):
        p = tmp_path / f"bad{i}.jpg"
        p.write_bytes(b"\xff\xd8\xff" + b"\x00" * 50)
        bad.append(p)
    loader = loader_for([*bad, mixed_files[0]], decode_on_device=False, batch_size=3)
    with pytest.warns(UserWarning):
        batches = list(loader)
    assert [y.tolist() for _, y in batches] == [[3]]
    assert len(loader.skipped) == 3
    empty = ImageCollate(48, encoded=False)([("broken", 0, 0)])
    assert empty.images.shape == (0, 3, 48, 48) and empty.failed.tolist() == [0]


def test_files_loader_from_a_settings_dict(mixed_files, tmp_path):
    loader = image_files_loader(mixed_files, SETTINGS, batch_size=4, num_workers=0, device="cpu")
    indices = torch.cat([i for _, i in loader]).tolist()
    assert indices == list(range(len(mixed_files)))
    with pytest.raises(FileNotFoundError, match="gone.jpg"):
        image_files_loader([tmp_path / "gone.jpg"], SETTINGS)


def test_defaults_pick_the_device_and_workers():
    dataset = ImageDataset([], None, item_size=8)
    loader = ImageLoader(dataset)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert loader.device.type == expected
    assert loader.decode_on_device == (expected == "cuda")
    assert 1 <= loader.num_workers <= 8
    with pytest.raises(ValueError, match="batch_size"):
        ImageLoader(dataset, batch_size=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_nvjpeg_batches_match_the_cpu_path(mixed_files):
    on_cpu = loader_for(mixed_files, decode_on_device=False)
    on_gpu = loader_for(mixed_files, decode_on_device=True, device="cuda", augment=None)
    [(xc, yc)], [(xg, yg)] = list(on_cpu), list(on_gpu)
    assert xg.device.type == "cuda" and torch.equal(yg.cpu(), yc)
    assert (xg.cpu() - xc).abs().mean() < 0.05  # nvjpeg's IDCT differs a little from libjpeg's
