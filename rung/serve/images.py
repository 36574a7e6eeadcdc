"""Images from outside: decode a base64 string, and read an image's header before its pixels.

A decompression bomb is a small file that claims a huge image (a 50 KB PNG of 40,000 x 40,000
pixels decodes to 4.8 GB). :func:`check_image` reads only the header
(:func:`rung.vision.io.read_header`, the check training and ``rung predict`` use) and refuses
images over the server's pixel cap and formats rung doesn't read, before any decoder allocates
the pixels; :func:`rung.vision.io.preprocess_image` then decodes it (JPEG and WEBP with
torchvision as in training, the others with PIL) under the same cap.

>>> import io
>>> from PIL import Image
>>> buf = io.BytesIO(); Image.new("RGB", (40, 30), "red").save(buf, "PNG")
>>> check_image(buf.getvalue(), max_pixels=10_000)
('PNG', 40, 30)
>>> check_image(buf.getvalue(), max_pixels=1_000)
Traceback (most recent call last):
...
rung.serve.limits.ApiError: image is 40x30 = 1,200 pixels, over the server's cap of 1,000; send a smaller image (resize it), or start the server with a larger --max-pixels
"""

from __future__ import annotations

import base64
import binascii
import re
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

from rung.serve.limits import ApiError
from rung.serve.model import ServedModel

if TYPE_CHECKING:
    import torch

__all__ = ["IMAGE_FORMATS", "ImageModel", "check_image", "decode_base64"]

IMAGE_FORMATS = ("JPEG", "PNG", "WEBP", "BMP")  # the files rung.vision reads (.jpg .png .webp .bmp)


def check_image(data: bytes, max_pixels: int, name: str = "image") -> tuple[str, int, int]:
    """``(format, width, height)`` of an encoded image, read from its header only; an
    :class:`~rung.serve.limits.ApiError` (422 not an image or another format, 413 too many
    pixels) that names ``name`` otherwise.

    >>> check_image(b"%PDF-1.4 ...", max_pixels=10**6, name="report.pdf")
    Traceback (most recent call last):
    ...
    rung.serve.limits.ApiError: report.pdf is not an image rung can read (not an image file PIL can identify); send a JPEG, PNG, WEBP or BMP file
    """
    from rung.vision.io import ImageTooLargeError, UnreadableImageError, read_header

    if not data:
        raise ApiError(422, f"{name} is empty (0 bytes); send the image file's bytes")
    try:  # no cap of read_header's own: the server's is checked below, with the server's fix
        header = read_header(data, name, max_pixels=sys.maxsize)
    except ImageTooLargeError as e:  # over PIL's own hard limit, which it enforces itself
        found = re.search(r"([\d,]+) pixels", str(e))
        declared = f"declares {found.group(1)} pixels" if found else "has too many pixels"
        raise ApiError(
            413,
            f"{name} {declared}, over the server's cap of {max_pixels:,}; send a smaller "
            "image (resize it)",
        ) from None
    except UnreadableImageError as e:
        raise ApiError(
            422,
            f"{name} is not an image rung can read ({str(e).removeprefix(name + ': ')}); send "
            "a JPEG, PNG, WEBP or BMP file",
        ) from None
    fmt, width, height = header.format, header.width, header.height
    if fmt not in IMAGE_FORMATS:
        raise ApiError(422, f"{name} is a {fmt} image; send one of {', '.join(IMAGE_FORMATS)}")
    if width * height > max_pixels:
        raise ApiError(
            413,
            f"{name} is {width}x{height} = {width * height:,} pixels, over the server's cap of "
            f"{max_pixels:,}; send a smaller image (resize it), or start the server with a "
            "larger --max-pixels",
        )
    return fmt, width, height


def decode_base64(text: object, name: str = "image") -> bytes:
    """The bytes of a base64 string (a ``data:image/...;base64,`` prefix is allowed).

    >>> decode_base64("data:image/png;base64,iVBORw0KGgo=")
    b'\\x89PNG\\r\\n\\x1a\\n'
    >>> decode_base64(42)
    Traceback (most recent call last):
    ...
    rung.serve.limits.ApiError: image must be a base64 string (the file's bytes, base64-encoded), got int
    """
    if not isinstance(text, str):
        raise ApiError(
            422,
            f"{name} must be a base64 string (the file's bytes, base64-encoded), got "
            f"{type(text).__name__}",
        )
    if text.startswith("data:"):
        _, comma, text = text.partition(",")
        if not comma:
            raise ApiError(422, f"{name} is a data URL with no ',' before its base64 data")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise ApiError(422, f"{name} is not valid base64 ({e})") from None


class ImageModel(ServedModel):
    """An image classifier behind the API: base64 JSON (``image`` / ``images``) or uploaded
    files; each image is checked from its header, then preprocessed exactly as the model
    file says (as its validation images were)."""

    kind = "image"
    json_fields = ("image", "images")

    def inputs(self) -> dict[str, Any]:
        prep = self.predictor.preprocessing
        return {
            "type": "image", "formats": list(IMAGE_FORMATS), "size": prep.get("size"),
            "resize": prep.get("resize"), "max_pixels": self.limits.max_pixels,
        }  # fmt: skip

    def example(self) -> str:
        return (
            "e.g. curl -F image=@photo.jpg URL/api/predict, or JSON "
            '{"image": "<the file\'s bytes, base64>"}'
        )

    def items_from_files(self, files: list[tuple[str, bytes]]) -> list[Any]:
        return list(files)

    def prepare(self, item: tuple[str, Any]) -> torch.Tensor:
        """The (1, 3, S, S) tensor of one image, after its header passed the checks."""
        from rung.vision.io import UnreadableImageError, preprocess_image

        name, value = item
        data = value if isinstance(value, bytes) else decode_base64(value, name)
        check_image(data, self.limits.max_pixels, name)
        try:
            prep = self.predictor.preprocessing
            return preprocess_image(data, prep, max_pixels=self.limits.max_pixels)
        except (UnreadableImageError, OSError, ValueError) as e:  # a header fine, data cut off
            message = str(e).removeprefix("image bytes: ")
            raise ApiError(422, f"{name}: {message}; send the whole file") from None

    def predict_raw(self, prepared: list[Any]) -> np.ndarray:
        import torch

        return self.predictor.probs(torch.cat(prepared)).numpy()  # (N, C)
