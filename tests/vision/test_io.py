"""Finding, decoding, resizing and normalising single images (the part predict shares with training)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from _vision_run import png_header
from PIL import Image

from rung.vision.io import (
    ImageTooLargeError,
    UnreadableImageError,
    check_image_header,
    decode_bytes,
    get_image_files,
    load_image,
    preprocess_image,
    read_bytes,
    unsupported_file,
)
from rung.vision.pixels import IMAGENET_MEAN, IMAGENET_STD, normalize

SETTINGS = {"size": 64, "resize": "squish", "mean": IMAGENET_MEAN, "std": IMAGENET_STD}


@pytest.fixture
def cat_jpg(cats_dogs_dir: Path) -> Path:
    return cats_dogs_dir / "train" / "cats" / "cat.1.jpg"


def test_image_files_are_found_in_any_case_and_sorted(tmp_path):
    for name in [
        "b/x.JPG",
        "a/y.jpeg",
        "a/z.WebP",
        "a/w.bmp",
        "a/v.png",
        "a/readme.txt",
        "a/u.gif",
    ]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).touch()
    found = [p.relative_to(tmp_path).as_posix() for p in get_image_files(tmp_path)]
    assert found == ["a/v.png", "a/w.bmp", "a/y.jpeg", "a/z.WebP", "b/x.JPG"]


def test_decode_reads_jpeg_png_webp_and_bmp_as_rgb(cat_jpg):
    photo = Image.open(cat_jpg)
    expected = torch.from_numpy(np.array(photo)).permute(2, 0, 1)
    for fmt, mode in [
        ("PNG", "RGB"),
        ("PNG", "L"),
        ("WEBP", "RGB"),
        ("BMP", "RGB"),
        ("PNG", "RGBA"),
    ]:
        buf = io.BytesIO()
        photo.convert(mode).save(buf, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
        out = decode_bytes(torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8))
        assert out.shape == expected.shape and out.dtype == torch.uint8, (fmt, mode)
        if mode == "RGB":
            assert torch.equal(out, expected), fmt


def test_exif_rotation_is_applied(tmp_path):
    p = tmp_path / "phone.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees": stored 40 wide x 20 high, shown 20 wide x 40 high
    Image.new("RGB", (40, 20), "red").save(p, exif=exif)
    assert decode_bytes(read_bytes(p)).shape == (3, 40, 20)


def test_broken_files_raise_a_clear_error(tmp_path, cat_jpg):
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(cat_jpg.read_bytes()[:2000])
    html = tmp_path / "page.jpg"
    html.write_text("<html>403 Forbidden</html>")
    empty = tmp_path / "empty.png"
    empty.touch()
    assert check_image_header(truncated) is None  # the header is fine: caught at decode time
    assert "identify" in check_image_header(html)
    for bad in (truncated, html, empty):
        with pytest.raises(UnreadableImageError, match=bad.name):
            load_image(bad, 32)


def test_preprocess_gives_the_same_tensor_from_a_path_bytes_or_a_pil_image(cat_jpg):
    settings = {**SETTINGS, "resize": "pad"}
    from_path = preprocess_image(cat_jpg, settings)
    assert from_path.shape == (1, 3, 64, 64) and from_path.dtype == torch.float32
    assert torch.equal(preprocess_image(str(cat_jpg), settings), from_path)
    assert torch.equal(preprocess_image(cat_jpg.read_bytes(), settings), from_path)
    assert torch.allclose(preprocess_image(Image.open(cat_jpg), settings), from_path, atol=0.05)
    expected = normalize(
        load_image(cat_jpg, 64, "pad").float().div(255)[None], IMAGENET_MEAN, IMAGENET_STD
    )
    assert torch.equal(from_path, expected)


def test_preprocess_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_photo.jpg"):
        preprocess_image(tmp_path / "no_such_photo.jpg", SETTINGS)
    with pytest.raises(FileNotFoundError, match="a folder"):
        preprocess_image(tmp_path, SETTINGS)
    with pytest.raises(KeyError, match=r"\['resize', 'std'\]"):
        preprocess_image(tmp_path / "x.jpg", {"size": 64, "mean": IMAGENET_MEAN})
    with pytest.raises(TypeError, match="file path"):
        preprocess_image(12345, SETTINGS)


# ---------------------------------------------------------------- hostile files
@pytest.mark.parametrize("side", [10_000, 20_000])  # under and over PIL's own error limit
def test_an_image_over_the_pixel_cap_is_refused_before_it_is_decoded(tmp_path, monkeypatch, side):
    import torchvision.io

    bomb = png_header(tmp_path / "bomb.png", side, side)

    def no_decoding(*args, **kwargs):
        raise AssertionError("the image was handed to a decoder")

    monkeypatch.setattr(torchvision.io, "decode_image", no_decoding)
    message = rf"bomb\.png: ({side}x{side}|{side * side:,}) pixels.* over the cap of 89,478,485 "
    with pytest.raises(ImageTooLargeError, match=message):
        load_image(bomb, 32)
    with pytest.raises(ImageTooLargeError, match=message):
        preprocess_image(bomb, SETTINGS)
    with pytest.raises(ImageTooLargeError, match="image bytes"):
        preprocess_image(bomb.read_bytes(), SETTINGS)
    assert "over the cap" in check_image_header(bomb)


def test_the_pixel_and_byte_caps_can_be_set(tmp_path, cat_jpg):
    with pytest.raises(ImageTooLargeError, match=r"cat\.1\.jpg: \d+x\d+ pixels"):
        load_image(cat_jpg, 32, max_pixels=1000)
    assert "over the cap of 1,000" in check_image_header(cat_jpg, max_pixels=1000)
    size = cat_jpg.stat().st_size
    with pytest.raises(ImageTooLargeError, match=rf"cat\.1\.jpg: the file is {size:,} bytes"):
        read_bytes(cat_jpg, max_bytes=1000)
    assert "bytes" in check_image_header(cat_jpg, max_bytes=1000)
    assert read_bytes(cat_jpg, max_bytes=size).numel() == size  # the cap itself is allowed


def test_an_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (30, 20), c) for c in ("red", "green", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    image = decode_bytes(torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8))
    assert image.shape == (3, 20, 30)  # one frame, not (3 frames, 3, 20, 30)
    assert image[0].float().mean() > 200 and image[1].float().mean() < 50  # red


def test_one_rule_for_which_files_are_images(tmp_path):
    assert unsupported_file(tmp_path / "a.JPG") is None
    reason = unsupported_file(tmp_path / "anim.gif")
    assert reason.startswith("anim.gif: rung reads .jpg, .jpeg, .png, .webp, .bmp files")
    assert "'.gif'" in reason and "convert" in reason
    assert "no extension" in unsupported_file(tmp_path / "README")


def test_a_png_whose_pixel_data_ends_early_does_not_crash_the_process(tmp_path):
    # torchvision 0.29's PNG decoder dies with SIGSEGV on this file (libpng: "Not enough image
    # data"), as on 38 of 60 randomly damaged PNGs. PIL reads it (the missing row black). In a
    # child process, so that a crash fails this test instead of ending the whole session.
    import struct
    import subprocess
    import sys
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = (b"\x00" + b"\x80" * 120) * 39  # 40x40 RGB declared, 39 rows given
    short = tmp_path / "short.png"
    short.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 40, 40, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )
    code = (
        "import sys\nfrom rung.vision.io import load_image, UnreadableImageError\n"
        f"try:\n    print('decoded', tuple(load_image({str(short)!r}, 32).shape))\n"
        "except UnreadableImageError as e:\n    print('refused:', e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"crashed with {done.returncode}: {done.stderr[-500:]}"
    assert done.stdout.startswith(("decoded (3, 32, 32)", "refused: " + str(short)))


def test_reading_a_small_file_allocates_about_its_size_not_the_cap(tmp_path):
    # read_bytes used f.read(cap + 1): every image, however small, allocated the 128 MiB cap.
    import tracemalloc

    path = tmp_path / "small.bin"
    path.write_bytes(b"\xff\xd8\xff" + bytes(1000))
    read_bytes(path)  # warm up imports and caches outside the measurement
    tracemalloc.start()
    try:
        data = read_bytes(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert data.numel() == 1003
    assert peak < 64 * 1024, f"reading a 1 KB file peaked at {peak:,} bytes"


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_close_to_the_full_decode(tmp_path):
    rng = np.random.default_rng(0)
    # smooth content (a photo, not noise): a gradient plus a few blobs, 1600x1200
    yy, xx = np.mgrid[0:1200, 0:1600]
    pixels = np.stack([xx / 1600 * 255, yy / 1200 * 255, (xx + yy) % 256], axis=-1)
    for cx, cy in rng.integers(100, 1100, size=(5, 2)):
        pixels[(xx - cx) ** 2 + (yy - cy) ** 2 < 150**2] = rng.integers(0, 255, 3)
    path = tmp_path / "big.jpg"
    Image.fromarray(pixels.astype(np.uint8)).save(path, quality=92)
    data = read_bytes(path)

    scaled = decode_bytes(data, at_least=160)  # 1/4 would give 300 high, 1/8 150 < 160: 1/4
    assert tuple(scaled.shape) == (3, 300, 400)
    assert tuple(decode_bytes(data).shape) == (3, 1200, 1600)
    assert tuple(decode_bytes(data, at_least=700).shape) == (3, 1200, 1600)  # not twice 700

    from rung.vision.pixels import resize_image

    full = resize_image(decode_bytes(data), 160, "squish").float()
    fast = load_image(path, 160, "squish").float()  # the loader's path: scaled decode
    assert fast.shape == full.shape == (3, 160, 160)
    assert (fast - full).abs().mean() < 3, "the reduced-scale decode should look the same"
