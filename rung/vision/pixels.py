"""What happens to a decoded image before a model sees it: resize to a square, normalise; and
the preprocessing settings (a model file's, so from outside) checked before anything is
allocated at their size.

>>> img = torch.full((3, 100, 200), 255, dtype=torch.uint8)
>>> x = resize_image(img, 64, "pad").float().div(255)[None]          # (1, 3, 64, 64) in [0, 1]
>>> normalize(x, IMAGENET_MEAN, IMAGENET_STD).shape
torch.Size([1, 3, 64, 64])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "RESIZE_METHODS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SIZE_RANGE",
    "resize_image",
    "normalize",
    "denormalize",
    "check_size",
    "check_preprocessing",
]

RESIZE_METHODS = ("squish", "crop", "pad")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PREPROCESSING_KEYS = ("size", "resize", "mean", "std")
SIZE_RANGE = (8, 4096)  # pixels a side a model sees: (B, 3, 4096, 4096) float is 200 MB an image


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


def check_size(size: Any, name: str = "size") -> int:
    """``size`` as an int, or an error naming the allowed range (:data:`SIZE_RANGE`).

    >>> check_size(224)
    224
    >>> check_size(0)
    Traceback (most recent call last):
    ...
    ValueError: size must be a whole number of pixels from 8 to 4096, got 0; e.g. size=224.
    """
    low, high = SIZE_RANGE
    if isinstance(size, bool) or not isinstance(size, int) or not low <= size <= high:
        raise ValueError(
            f"{name} must be a whole number of pixels from {low} to {high}, got {size!r}; "
            f"e.g. {name}=224."
        )
    return size


def check_preprocessing(preprocessing: Mapping[str, Any]) -> tuple[int, str, tuple, tuple]:
    """``(size, resize, mean, std)`` from a settings dict (a model file's, so from outside),
    each checked before anything is allocated for it.

    >>> check_preprocessing({"size": 64, "resize": "pad", "mean": [0.5] * 3, "std": [0.5] * 3})
    (64, 'pad', (0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
    >>> check_preprocessing({"size": 64, "resize": "pad", "mean": [0.5] * 3, "std": [0, 1, 1]})
    Traceback (most recent call last):
    ...
    ValueError: preprocessing std must be 3 positive numbers (R, G, B), got (0, 1, 1).
    """
    missing = [k for k in PREPROCESSING_KEYS if k not in preprocessing]
    if missing:
        raise KeyError(
            f"preprocessing settings lack {missing}; they need {list(PREPROCESSING_KEYS)}, e.g. "
            "{'size': 224, 'resize': 'squish', 'mean': [0.485, 0.456, 0.406], "
            "'std': [0.229, 0.224, 0.225]} (a model file's config.json stores them)."
        )
    size = check_size(preprocessing["size"], "preprocessing size")
    method = preprocessing["resize"]
    if method not in RESIZE_METHODS:
        raise ValueError(
            f"preprocessing resize must be one of {list(RESIZE_METHODS)}, got {method!r}."
        )
    mean, std = tuple(preprocessing["mean"]), tuple(preprocessing["std"])
    for name, values, positive in (("mean", mean, False), ("std", std, True)):
        numbers = all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
        if len(values) != 3 or not numbers or (positive and min(values) <= 0):
            kind = "positive numbers" if positive else "numbers"
            raise ValueError(f"preprocessing {name} must be 3 {kind} (R, G, B), got {values}.")
    return size, str(method), mean, std
