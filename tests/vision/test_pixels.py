"""Resizing to a square and normalising: the pixel steps training, validation and prediction
share (rung.vision.pixels)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rung.vision.io import decode_bytes, read_bytes
from rung.vision.pixels import IMAGENET_MEAN, IMAGENET_STD, denormalize, normalize, resize_image


@pytest.fixture
def cat_jpg(cats_dogs_dir: Path) -> Path:
    return cats_dogs_dir / "train" / "cats" / "cat.1.jpg"


def stripes(width: int = 300, height: int = 100) -> torch.Tensor:
    """Left third red, middle green, right third blue: (3, H, W) uint8."""
    img = torch.zeros(3, height, width, dtype=torch.uint8)
    third = width // 3
    img[0, :, :third], img[1, :, third : 2 * third], img[2, :, 2 * third :] = 255, 255, 255
    return img


def test_squish_keeps_the_whole_image_crop_keeps_the_centre(tmp_path):
    squished = resize_image(stripes(), 60, "squish")
    assert squished.shape == (3, 60, 60)
    assert squished[0, 30, 5] == 255 and squished[2, 30, 55] == 255  # red left, blue right
    cropped = resize_image(stripes(), 60, "crop")  # the centre 100x100 is all green
    assert cropped.shape == (3, 60, 60)
    assert (cropped[1] == 255).all() and (cropped[0] == 0).all() and (cropped[2] == 0).all()


def test_pad_keeps_the_aspect_ratio_with_black_bars():
    white = torch.full((3, 200, 300), 200, dtype=torch.uint8)  # 300 wide, 200 high
    padded = resize_image(white, 64, "pad")
    assert padded.shape == (3, 64, 64)
    content_rows = (padded.sum(dim=(0, 2)) > 0).nonzero().flatten()
    assert (content_rows.min().item(), content_rows.max().item()) == (10, 52)  # 43 rows, centred
    assert 64 / 43 == pytest.approx(300 / 200, rel=0.02)
    assert (padded[:, :10] == 0).all() and (padded[:, 53:] == 0).all()
    tall = resize_image(white.transpose(1, 2), 64, "pad")  # 200 wide, 300 high: bars left/right
    assert (tall[:, :, :10] == 0).all() and (tall[:, :, 10:53] == 200).all()


def test_resize_methods_on_a_real_photo_and_on_floats(cat_jpg):
    image = decode_bytes(read_bytes(cat_jpg))
    h, w = image.shape[1:]
    assert h != w  # a non-square photo, so the methods differ
    results = {m: resize_image(image, 96, m) for m in ("squish", "crop", "pad")}
    assert all(r.shape == (3, 96, 96) and r.dtype == torch.uint8 for r in results.values())
    assert not torch.equal(results["squish"], results["crop"])
    as_float = resize_image(image.float(), 96, "squish")  # the device-decode path resizes floats
    assert as_float.dtype == torch.float32
    assert (as_float - results["squish"].float()).abs().mean() < 1.0
    with pytest.raises(ValueError, match="squish"):
        resize_image(image, 96, "stretch")


def test_normalize_then_denormalize_gives_the_image_back():
    x = torch.rand(2, 3, 5, 5)
    z = normalize(x, IMAGENET_MEAN, IMAGENET_STD)
    assert z[:, 0].mean() == pytest.approx(((x[:, 0] - 0.485) / 0.229).mean().item(), abs=1e-6)
    assert torch.allclose(denormalize(z, IMAGENET_MEAN, IMAGENET_STD), x, atol=1e-6)


def test_preprocessing_settings_from_a_file_are_checked_before_use():
    from rung.vision.pixels import check_preprocessing

    good = {"size": 64, "resize": "crop", "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    assert check_preprocessing(good) == (64, "crop", IMAGENET_MEAN, IMAGENET_STD)
    for bad, match in [
        ({"size": 5000}, "from 8 to 4096, got 5000"),
        ({"size": True}, "got True"),
        ({"mean": [0.5, 0.5]}, "mean must be 3 numbers"),
        ({"std": [0.5, float("nan"), 0.5]}, "std must be 3 positive numbers"),
    ]:
        with pytest.raises(ValueError, match=match):
            check_preprocessing({**good, **bad})
