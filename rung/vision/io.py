"""Reading images: find the files, decode them to uint8 tensors, resize to a square, normalise.

This is the deterministic half of the image pipeline, shared by training (in DataLoader
workers), validation and prediction, so the three can't drift apart:

    file -> bytes -> decode (torchvision.io, PIL for what it can't read) -> (3, H, W) uint8
         -> resize to (3, S, S) with 'squish' | 'crop' | 'pad' -> float in [0, 1] -> normalise

:func:`preprocess_image` runs all of it for one image from a plain settings dict, the form a
model file's ``config.json`` stores.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "IMAGE_EXTENSIONS",
    "RESIZE_METHODS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "UnreadableImageError",
    "get_image_files",
    "check_image_header",
    "read_bytes",
    "decode_bytes",
    "nvjpeg_can_decode",
    "pil_to_tensor",
    "resize_image",
    "load_image",
    "normalize",
    "denormalize",
    "preprocess_image",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
RESIZE_METHODS = ("squish", "crop", "pad")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PREPROCESSING_KEYS = ("size", "resize", "mean", "std")


class UnreadableImageError(ValueError):
    """An image file that neither torchvision nor PIL can decode (corrupt, truncated, not an image)."""


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


def check_image_header(path: str | Path) -> str | None:
    """``None`` when the file starts like an image PIL knows, else the reason it doesn't.

    Only the header is read (about 0.04 ms a file), so this is cheap enough to run on a whole
    dataset; a file truncated later on is caught when it is decoded.

    >>> import tempfile
    >>> bad = Path(tempfile.mkdtemp()) / "x.jpg"
    >>> _ = bad.write_text("<html>not an image</html>")
    >>> check_image_header(bad)
    'not an image file PIL can identify'
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            width, height = im.size
    except UnidentifiedImageError:
        return "not an image file PIL can identify"
    except OSError as e:
        return f"unreadable: {e}"
    if width < 1 or height < 1:
        return f"empty image ({width}x{height})"
    return None


def read_bytes(path: str | Path) -> torch.Tensor:
    """The file's bytes as a 1-D uint8 tensor (what torchvision's decoders take).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "b.bin"
    >>> _ = p.write_bytes(b"\\xff\\xd8\\xff")
    >>> read_bytes(p).tolist()
    [255, 216, 255]
    """
    data = Path(path).read_bytes()
    if not data:
        return torch.empty(0, dtype=torch.uint8)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8)


def pil_to_tensor(image: Any) -> torch.Tensor:
    """A PIL image as an RGB (3, H, W) uint8 tensor, EXIF orientation applied.

    >>> from PIL import Image
    >>> pil_to_tensor(Image.new("L", (5, 4), 7)).shape
    torch.Size([3, 4, 5])
    """
    import numpy as np
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image).convert("RGB")
    return torch.from_numpy(np.array(image)).permute(2, 0, 1).contiguous()  # (3, H, W)


def decode_bytes(data: torch.Tensor, name: str = "image") -> torch.Tensor:
    """Decode encoded bytes (1-D uint8) to an RGB (3, H, W) uint8 tensor.

    torchvision.io decodes JPEG, PNG, WEBP and GIF (fast, EXIF orientation applied); PIL reads
    the rest (BMP, CMYK oddities). Raises :class:`UnreadableImageError` naming ``name`` when
    neither can.

    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("RGB", (6, 4), "red").save(buf, "BMP")
    >>> decode_bytes(torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8)).shape
    torch.Size([3, 4, 6])
    """
    from torchvision.io import ImageReadMode, decode_image

    if data.numel() == 0:
        raise UnreadableImageError(f"{name}: the file is empty")
    try:
        with warnings.catch_warnings():  # torchvision 0.29 marks its decoders deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            return decode_image(data, mode=ImageReadMode.RGB, apply_exif_orientation=True)
    except RuntimeError:
        pass  # a format torchvision doesn't read (BMP), or a broken file: PIL decides which
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data.numpy().tobytes())) as im:
            return pil_to_tensor(im)
    except (OSError, ValueError, SyntaxError) as e:  # PIL raises all three on bad files
        raise UnreadableImageError(f"{name}: can't decode it as an image ({e})") from None


def nvjpeg_can_decode(data: bytes) -> bool:
    """Whether GPU decoding (nvjpeg, batched) can take these bytes as they are.

    Baseline RGB or grey JPEGs with no EXIF rotation: nvjpeg can't apply the rotation, and
    progressive or CMYK files go to the CPU decoder. Reads the header only (about 0.04 ms).

    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("RGB", (8, 8)).save(buf, "JPEG")
    >>> nvjpeg_can_decode(buf.getvalue()), nvjpeg_can_decode(b"\\x89PNG")
    (True, False)
    """
    from PIL import Image

    if data[:3] != b"\xff\xd8\xff":  # not a JPEG (or empty)
        return False
    try:
        with Image.open(io.BytesIO(data)) as im:
            rotated = im.getexif().get(0x0112, 1) != 1  # EXIF orientation tag
            return im.mode in ("RGB", "L") and not im.info.get("progressive") and not rotated
    except Exception:  # any trouble with the header: let the CPU decoder judge the file
        return False


def resize_image(image: torch.Tensor, size: int, method: str = "squish") -> torch.Tensor:
    """Resize a (C, H, W) image to (C, size, size), on whatever device it is.

    - ``'squish'``: stretch the whole image to the square (aspect ratio changes);
    - ``'crop'``: the centre square of the image, scaled to the size (edges are lost);
    - ``'pad'``: scale the long side to the size and pad the rest with black (nothing is lost,
      the aspect ratio is kept).

    uint8 stays uint8 (torchvision's fast antialiased path on CPU); float stays float.

    >>> img = torch.full((3, 100, 200), 255, dtype=torch.uint8)
    >>> [tuple(resize_image(img, 64, m).shape) for m in RESIZE_METHODS]
    [(3, 64, 64), (3, 64, 64), (3, 64, 64)]
    >>> padded = resize_image(img, 64, "pad")          # 200x100 -> 64x32, black above and below
    >>> padded[0, :, 0].tolist() == [0] * 16 + [255] * 32 + [0] * 16
    True
    """
    import torchvision.transforms.v2.functional as TF

    if method not in RESIZE_METHODS:
        raise ValueError(f"resize method {method!r} is not one of {list(RESIZE_METHODS)}.")
    if size < 1:
        raise ValueError(f"size must be a positive number of pixels, got {size}.")
    _, h, w = image.shape
    if method == "crop":
        side = min(h, w)  # crop first, then resize: fewer pixels to resample
        top, left = (h - side) // 2, (w - side) // 2
        image = image[:, top : top + side, left : left + side]
        h = w = side
    if method in ("squish", "crop"):
        if (h, w) == (size, size):
            return image
        return TF.resize(image, [size, size], antialias=True)
    scale = size / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    if (nh, nw) != (h, w):
        image = TF.resize(image, [nh, nw], antialias=True)
    top, left = (size - nh) // 2, (size - nw) // 2
    return F.pad(image, (left, size - nw - left, top, size - nh - top))  # zeros: black bars


def load_image(path: str | Path, size: int, method: str = "squish") -> torch.Tensor:
    """Read, decode and resize one image file: a (3, size, size) uint8 tensor.

    >>> import tempfile
    >>> from PIL import Image
    >>> p = Path(tempfile.mkdtemp()) / "a.png"
    >>> Image.new("RGB", (40, 30), "blue").save(p)
    >>> load_image(p, 16, "crop").shape
    torch.Size([3, 16, 16])
    """
    return resize_image(decode_bytes(read_bytes(path), name=str(path)), size, method)


def _channel_stats(values: Sequence[float] | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    # a tensor already on the batch's device and dtype is used as it is (no copy)
    return torch.as_tensor(values, dtype=like.dtype, device=like.device).view(-1, 1, 1)


def normalize(
    x: torch.Tensor, mean: Sequence[float] | torch.Tensor, std: Sequence[float] | torch.Tensor
) -> torch.Tensor:
    """(x - mean) / std per channel, for a float (..., 3, H, W) batch in [0, 1].

    >>> normalize(torch.full((1, 3, 2, 2), 0.5), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)).unique()
    tensor([0.])
    """
    return (x - _channel_stats(mean, x)) / _channel_stats(std, x)


def denormalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """Undo :func:`normalize`: back to [0, 1] (clamped), for plotting.

    >>> x = torch.rand(2, 3, 4, 4)
    >>> torch.allclose(denormalize(normalize(x, IMAGENET_MEAN, IMAGENET_STD), IMAGENET_MEAN, IMAGENET_STD), x, atol=1e-6)
    True
    """
    return (x * _channel_stats(std, x) + _channel_stats(mean, x)).clamp(0, 1)


def _checked_settings(preprocessing: Mapping[str, Any]) -> tuple[int, str, tuple, tuple]:
    missing = [k for k in PREPROCESSING_KEYS if k not in preprocessing]
    if missing:
        raise KeyError(
            f"preprocessing settings lack {missing}; they need {list(PREPROCESSING_KEYS)}, e.g. "
            "{'size': 224, 'resize': 'squish', 'mean': [0.485, 0.456, 0.406], "
            "'std': [0.229, 0.224, 0.225]} (a model file's config.json stores them)."
        )
    size, method = int(preprocessing["size"]), str(preprocessing["resize"])
    mean, std = tuple(preprocessing["mean"]), tuple(preprocessing["std"])
    if len(mean) != 3 or len(std) != 3:
        raise ValueError(f"mean and std need 3 values (R, G, B), got mean={mean}, std={std}.")
    return size, method, mean, std


def preprocess_image(
    source: str | Path | bytes | Any, preprocessing: Mapping[str, Any]
) -> torch.Tensor:
    """One image -> a normalised (1, 3, S, S) float tensor, exactly as validation batches are made.

    ``source`` is a file path, the file's bytes, or a PIL image. ``preprocessing`` is a plain
    dict with ``size``, ``resize`` ('squish' | 'crop' | 'pad'), ``mean`` and ``std``. No
    augmentation.

    >>> from PIL import Image
    >>> settings = {"size": 32, "resize": "pad", "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    >>> preprocess_image(Image.new("RGB", (50, 20), "white"), settings).shape
    torch.Size([1, 3, 32, 32])
    """
    size, method, mean, std = _checked_settings(preprocessing)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            where = "a folder, not an image file" if path.is_dir() else "no such file"
            raise FileNotFoundError(f"can't read image {str(path)!r}: {where}.")
        image = decode_bytes(read_bytes(path), name=str(path))
    elif isinstance(source, (bytes, bytearray)):
        image = decode_bytes(torch.frombuffer(bytearray(source), dtype=torch.uint8), "image bytes")
    elif hasattr(source, "convert") and hasattr(source, "size"):  # a PIL image
        image = pil_to_tensor(source)
    else:
        raise TypeError(
            f"can't make an image from a {type(source).__name__}; pass a file path, the file's "
            "bytes, or a PIL image."
        )
    x = resize_image(image, size, method).unsqueeze(0).float().div_(255)  # (1, 3, S, S)
    return normalize(x, mean, std)
