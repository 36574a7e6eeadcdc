"""Reading images: find the files, decode them to uint8 tensors, resize to a square, normalise.

This is the deterministic half of the image pipeline, shared by training (in DataLoader
workers), validation and prediction, so the three can't drift apart:

    file -> bytes (at most MAX_FILE_BYTES) -> header (at most MAX_PIXELS) -> decode
         (torchvision.io for JPEG and WEBP, PIL for the rest; a JPEG twice the size wanted
         at a reduced scale, inside the decoder) -> (3, H, W) uint8
         -> resize to (3, S, S) with 'squish' | 'crop' | 'pad' -> float in [0, 1] -> normalise
            (the last two steps: :mod:`rung.vision.pixels`)

Files come from outside, so both caps apply before anything is allocated for the pixels: a
1.2 MB PNG can declare 20000x20000 pixels and inflate to 1.2 GB.

:func:`preprocess_image` runs all of it for one image from a plain settings dict, the form a
model file's ``config.json`` stores.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image, UnidentifiedImageError

from rung.vision.pixels import check_preprocessing, normalize, resize_image

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "MAX_FILE_BYTES",
    "UnreadableImageError",
    "ImageTooLargeError",
    "ImageHeader",
    "get_image_files",
    "unsupported_file",
    "check_image_header",
    "read_header",
    "read_bytes",
    "decode_bytes",
    "nvjpeg_can_decode",
    "pil_to_tensor",
    "load_image",
    "preprocess_image",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
MAX_PIXELS = 89_478_485  # PIL's own warning limit (Image.MAX_IMAGE_PIXELS): ~9459 x 9459
MAX_FILE_BYTES = 128 * 2**20  # far above any photo worth training on
# Decoded by torchvision (fast, batched on a GPU). PNG and GIF go to PIL: torchvision 0.29's
# PNG decoder crashes the process (SIGSEGV) on a PNG whose pixel data ends early, and it
# decodes every frame of an animated GIF.
TORCHVISION_FORMATS = ("JPEG", "WEBP")


class UnreadableImageError(ValueError):
    """An image file that neither torchvision nor PIL can decode (corrupt, truncated, not an image)."""


class ImageTooLargeError(UnreadableImageError):
    """An image over the pixel cap (``max_pixels``) or a file over the byte cap (``max_bytes``),
    refused before it is decoded."""


def get_image_files(path: str | Path, extensions: Sequence[str] = IMAGE_EXTENSIONS) -> list[Path]:
    """Every image file under ``path`` (all subfolders), sorted; extensions match in any case.

    Hidden folders (``.ipynb_checkpoints``, ``.git``) are skipped.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> for name in ["b/2.PNG", "a/1.jpg", "a/notes.txt", ".hidden/3.jpg"]:
    ...     (d / name).parent.mkdir(exist_ok=True); (d / name).touch()
    >>> [p.relative_to(d).as_posix() for p in get_image_files(d)]
    ['a/1.jpg', 'b/2.PNG']
    """
    path = Path(path)
    exts = {e.lower() for e in extensions}
    files = [
        p
        for p in path.rglob("*")
        if p.suffix.lower() in exts
        and not any(part.startswith(".") for part in p.relative_to(path).parts)
        and p.is_file()
    ]
    return sorted(files)


def unsupported_file(path: str | Path) -> str | None:
    """``None`` for a file name rung reads as an image, else why not: the one rule (and message)
    for training folders, predicted folders and single files.

    >>> unsupported_file("cat.JPG") is None
    True
    >>> unsupported_file("anim.gif")
    "anim.gif: rung reads .jpg, .jpeg, .png, .webp, .bmp files, not '.gif' ones; convert it, e.g. PIL.Image.open(path).convert('RGB').save('anim.png')."
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return None
    what = f"{suffix!r} ones" if suffix else "files with no extension"
    return (
        f"{path.name}: rung reads {', '.join(IMAGE_EXTENSIONS)} files, not {what}; convert it, "
        f"e.g. PIL.Image.open(path).convert('RGB').save('{path.stem}.png')."
    )


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says, read without decoding the pixels."""

    format: str  # PIL's name: 'JPEG', 'PNG', 'WEBP', 'GIF', 'BMP', ...
    width: int
    height: int
    mode: str  # 'RGB', 'L', 'CMYK', ...
    progressive: bool
    rotated: bool  # an EXIF orientation other than "as stored"


def _too_many_pixels(name: str, width: int, height: int, cap: int) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"{name}: {width}x{height} pixels ({width * height:,}) is over the cap of {cap:,} "
        "pixels, so it is not decoded (a small file can inflate to gigabytes); shrink the "
        "image, or raise the cap with max_pixels=... (rung.vision.io.MAX_PIXELS)."
    )


def read_header(
    source: bytes | str | Path, name: str = "image", max_pixels: int | None = None
) -> ImageHeader:
    """Read an image's header (bytes or a file; about 0.04 ms) and check its size.

    Raises :class:`ImageTooLargeError` when width x height is over ``max_pixels`` (default
    :data:`MAX_PIXELS`) and :class:`UnreadableImageError` when it isn't an image PIL knows;
    both messages start with ``name``.

    >>> buf = io.BytesIO(); Image.new("RGB", (60, 40)).save(buf, "PNG")
    >>> read_header(buf.getvalue()).format, read_header(buf.getvalue()).width
    ('PNG', 60)
    >>> read_header(buf.getvalue(), "a.png", max_pixels=100)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rung.vision.io.ImageTooLargeError: a.png: 60x40 pixels (2,400) is over the cap of 100 pixels, ...
    """
    cap = MAX_PIXELS if max_pixels is None else max_pixels
    opened = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
    try:
        with warnings.catch_warnings():  # PIL warns over its own limit; ours is checked below
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(opened) as im:
                width, height = im.size
                rotated = im.format == "JPEG" and im.getexif().get(0x0112, 1) not in (1, None)
                header = ImageHeader(
                    str(im.format), width, height, im.mode, bool(im.info.get("progressive")),
                    rotated,
                )  # fmt: skip
    except Image.DecompressionBombError as e:  # PIL refuses over 2x its limit, size in the text
        pixels = re.search(r"\((\d+) pixels\)", str(e))
        raise ImageTooLargeError(
            f"{name}: {int(pixels.group(1)) if pixels else 'too many':,} pixels is over the cap "
            f"of {min(cap, 2 * Image.MAX_IMAGE_PIXELS):,} pixels, so it is not decoded; shrink "
            "the image."
        ) from None
    except UnidentifiedImageError:
        raise UnreadableImageError(f"{name}: not an image file PIL can identify") from None
    except (OSError, ValueError, SyntaxError, struct.error) as e:  # a damaged header
        raise UnreadableImageError(f"{name}: can't read its header ({e})") from None
    if width < 1 or height < 1:
        raise UnreadableImageError(f"{name}: empty image ({width}x{height})")
    if width * height > cap:
        raise _too_many_pixels(name, width, height, cap)
    return header


def check_image_header(
    path: str | Path, max_pixels: int | None = None, max_bytes: int | None = None
) -> str | None:
    """``None`` when the file starts like an image PIL knows, within the pixel and byte caps
    (:data:`MAX_PIXELS`, :data:`MAX_FILE_BYTES`), else the reason it doesn't.

    Only the header is read (about 0.04 ms a file), so this is cheap enough to run on a whole
    dataset; a file truncated later on is caught when it is decoded.

    >>> import tempfile
    >>> bad = Path(tempfile.mkdtemp()) / "x.jpg"
    >>> _ = bad.write_text("<html>not an image</html>")
    >>> check_image_header(bad)
    'not an image file PIL can identify'
    """
    try:
        _check_file_size(Path(path), max_bytes)
        read_header(path, str(path), max_pixels)
    except UnreadableImageError as e:
        return str(e).removeprefix(f"{path}: ")
    except OSError as e:
        return f"unreadable: {e}"
    return None


def _check_file_size(path: Path, max_bytes: int | None) -> int:
    cap = MAX_FILE_BYTES if max_bytes is None else max_bytes
    size = path.stat().st_size
    if size > cap:
        raise _too_many_bytes(path, size, cap)
    return cap


def _too_many_bytes(path: Path, size: int | str, cap: int) -> ImageTooLargeError:
    size = f"{size:,}" if isinstance(size, int) else size
    return ImageTooLargeError(
        f"{path}: the file is {size} bytes, over the cap of {cap:,} bytes, so it is not read; "
        "shrink the image, or raise the cap with max_bytes=... (rung.vision.io.MAX_FILE_BYTES)."
    )


def read_bytes(path: str | Path, max_bytes: int | None = None) -> torch.Tensor:
    """The file's bytes as a 1-D uint8 tensor (what torchvision's decoders take).

    A file over ``max_bytes`` (default :data:`MAX_FILE_BYTES`) raises
    :class:`ImageTooLargeError` before it is read.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "b.bin"
    >>> _ = p.write_bytes(b"\\xff\\xd8\\xff")
    >>> read_bytes(p).tolist()
    [255, 216, 255]
    """
    path = Path(path)
    cap = _check_file_size(path, max_bytes)
    with open(path, "rb") as f:
        # Read what stat() said is there (not the cap: that would allocate 128 MiB per image),
        # then a byte more: the file may have grown since, but never past the cap.
        expected = min(path.stat().st_size, cap)
        data = f.read(expected + 1)
        while expected < len(data) <= cap and (more := f.read(min(2**20, cap + 1 - len(data)))):
            data += more
    if len(data) > cap:
        raise _too_many_bytes(path, f"more than {cap:,}", cap)
    if not data:
        return torch.empty(0, dtype=torch.uint8)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def pil_to_tensor(image: Any) -> torch.Tensor:
    """A PIL image as an RGB (3, H, W) uint8 tensor, EXIF orientation applied.

    >>> pil_to_tensor(Image.new("L", (5, 4), 7)).shape
    torch.Size([3, 4, 5])
    """
    import numpy as np
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image).convert("RGB")
    return torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous()  # (3, H, W)


def decode_bytes(
    data: torch.Tensor,
    name: str = "image",
    max_pixels: int | None = None,
    at_least: int | None = None,
) -> torch.Tensor:
    """Decode encoded bytes (1-D uint8) to an RGB (3, H, W) uint8 tensor.

    The header is read first: over ``max_pixels`` (default :data:`MAX_PIXELS`) raises
    :class:`ImageTooLargeError` with nothing decoded. torchvision.io decodes JPEG and WEBP
    (fast, EXIF orientation applied); PIL the rest (PNG, BMP, the first frame of a GIF, CMYK
    oddities). Raises :class:`UnreadableImageError` naming ``name`` when neither can.

    ``at_least``: the image is wanted no larger than this many pixels a side, so a JPEG at
    least twice that on both sides is decoded at 1/2, 1/4 or 1/8 scale inside the decoder
    (PIL's ``draft``: the DCT is scaled, so a 2592x1944 photo wanted at 224 px decodes as
    324x243) while both sides stay >= ``at_least``. Decoding and resizing such a photo to a
    224 px item takes 0.43x the time of a full decode (``benchmarks/jpeg_decode.py``).

    >>> buf = io.BytesIO(); Image.new("RGB", (6, 4), "red").save(buf, "BMP")
    >>> decode_bytes(torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)).shape
    torch.Size([3, 4, 6])
    >>> buf = io.BytesIO(); Image.new("RGB", (800, 600), "red").save(buf, "JPEG")
    >>> decode_bytes(torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8), at_least=100).shape
    torch.Size([3, 150, 200])
    """
    from torchvision.io import ImageReadMode, decode_image

    if data.numel() == 0:
        raise UnreadableImageError(f"{name}: the file is empty")
    encoded = data.numpy().tobytes()
    header = read_header(encoded, name, max_pixels)
    if at_least is not None and header.format == "JPEG":
        if min(header.width, header.height) >= 2 * at_least:
            return _decode_jpeg_scaled(encoded, name, at_least)
    if header.format in TORCHVISION_FORMATS:
        try:
            with warnings.catch_warnings():  # torchvision 0.29 marks its decoders deprecated
                warnings.simplefilter("ignore", DeprecationWarning)
                return decode_image(data, mode=ImageReadMode.RGB, apply_exif_orientation=True)
        except RuntimeError:
            pass  # a broken file, or a variant torchvision doesn't read: PIL decides which
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked above
            with Image.open(io.BytesIO(encoded)) as im:
                return pil_to_tensor(im)
    except (OSError, ValueError, SyntaxError) as e:  # PIL raises all three on bad files
        raise UnreadableImageError(f"{name}: can't decode it as an image ({e})") from None


def _decode_jpeg_scaled(encoded: bytes, name: str, at_least: int) -> torch.Tensor:
    try:
        with Image.open(io.BytesIO(encoded)) as im:
            im.draft("RGB", (at_least, at_least))  # the largest 1/2^k scale keeping both sides
            return pil_to_tensor(im)
    except (OSError, ValueError, SyntaxError) as e:
        raise UnreadableImageError(f"{name}: can't decode it as an image ({e})") from None


def _reduced_as_decoded(image: Any, at_least: int) -> Any:
    """A PIL image of a JPEG as :func:`decode_bytes` would have decoded its file: reduced by
    the same 1/2, 1/4 or 1/8 (by averaging, close to the decoder's scaling: within 2/255)."""
    width, height = image.size
    if getattr(image, "format", None) != "JPEG" or min(width, height) < 2 * at_least:
        return image
    factor = max(f for f in (1, 2, 4, 8) if f <= min(width // at_least, height // at_least))
    return image.reduce(factor) if factor > 1 else image


def nvjpeg_can_decode(data: bytes | ImageHeader) -> bool:
    """Whether GPU decoding (nvjpeg, batched) can take these bytes as they are.

    Baseline RGB or grey JPEGs with no EXIF rotation: nvjpeg can't apply the rotation, and
    progressive or CMYK files go to the CPU decoder. Reads the header only (about 0.04 ms), or
    takes one already read (:func:`read_header`).

    >>> buf = io.BytesIO(); Image.new("RGB", (8, 8)).save(buf, "JPEG")
    >>> nvjpeg_can_decode(buf.getvalue()), nvjpeg_can_decode(b"\\x89PNG")
    (True, False)
    """
    if isinstance(data, ImageHeader):
        header = data
    elif data[:3] != b"\xff\xd8\xff":  # not a JPEG (or empty)
        return False
    else:
        try:
            header = read_header(data)
        except UnreadableImageError:  # any trouble with the header: the CPU decoder judges
            return False
    return (
        header.format == "JPEG"
        and header.mode in ("RGB", "L")
        and not header.progressive
        and not header.rotated
    )


def load_image(
    path: str | Path, size: int, method: str = "squish", max_pixels: int | None = None
) -> torch.Tensor:
    """Read, decode and resize one image file: a (3, size, size) uint8 tensor.

    Files over :data:`MAX_FILE_BYTES` and images over ``max_pixels`` (:data:`MAX_PIXELS`) raise
    :class:`ImageTooLargeError` before they are decoded.

    >>> import tempfile
    >>> from PIL import Image
    >>> p = Path(tempfile.mkdtemp()) / "a.png"
    >>> Image.new("RGB", (40, 30), "blue").save(p)
    >>> load_image(p, 16, "crop").shape
    torch.Size([3, 16, 16])
    """
    data = read_bytes(path)
    image = decode_bytes(data, name=str(path), max_pixels=max_pixels, at_least=size)
    return resize_image(image, size, method)


def preprocess_image(
    source: str | Path | bytes | Any,
    preprocessing: Mapping[str, Any],
    max_pixels: int | None = None,
) -> torch.Tensor:
    """One image -> a normalised (1, 3, S, S) float tensor, exactly as validation batches are made.

    ``source`` is a file path, the file's bytes, or a PIL image. ``preprocessing`` is a plain
    dict with ``size``, ``resize`` ('squish' | 'crop' | 'pad'), ``mean`` and ``std``. No
    augmentation. Files and bytes are checked against the caps before decoding (see
    :func:`load_image`).

    >>> from PIL import Image
    >>> settings = {"size": 32, "resize": "pad", "mean": [0.5] * 3, "std": [0.5] * 3}
    >>> preprocess_image(Image.new("RGB", (50, 20), "white"), settings).shape
    torch.Size([1, 3, 32, 32])
    """
    size, method, mean, std = check_preprocessing(preprocessing)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            where = "a folder, not an image file" if path.is_dir() else "no such file"
            raise FileNotFoundError(f"can't read image {str(path)!r}: {where}.")
        image = decode_bytes(read_bytes(path), str(path), max_pixels, at_least=size)
    elif isinstance(source, (bytes, bytearray)):
        data = torch.frombuffer(bytearray(source), dtype=torch.uint8)
        image = decode_bytes(data, "image bytes", max_pixels=max_pixels, at_least=size)
    elif hasattr(source, "convert") and hasattr(source, "size"):  # a PIL image
        image = pil_to_tensor(_reduced_as_decoded(source, size))
    else:
        raise TypeError(
            f"can't make an image from a {type(source).__name__}; pass a file path, the file's "
            "bytes, or a PIL image."
        )
    x = resize_image(image, size, method).unsqueeze(0).float().div_(255)  # (1, 3, S, S)
    return normalize(x, mean, std)
