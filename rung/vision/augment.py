"""Data augmentation for image batches, on the device where the batch is (the GPU when there is one).

The whole batch is augmented at once, fastai's ``aug_transforms`` style: every geometric change
(random resized crop, flip, rotation, zoom, perspective warp) of every image is folded into one
3x3 matrix per image, turned into one sampling grid, and applied with a single
``F.grid_sample`` call; lighting (brightness and contrast) is one elementwise pass. The random
draws come from a CPU ``torch.Generator``, so a seed gives the same augmentation on any device.

>>> x = torch.rand(4, 3, 32, 32)
>>> Augment()(x, size=24, generator=torch.Generator().manual_seed(0)).shape
torch.Size([4, 3, 24, 24])
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F

__all__ = ["Augment", "random_matrices", "sample_grid", "random_lighting", "to_device"]

PAD_MODES = ("reflection", "zeros", "border")


@dataclass(frozen=True)
class Augment:
    """How training batches are augmented (validation batches never are).

    Attributes:
        min_scale: random resized crop keeps between ``min_scale`` and all of the image's area
            (aspect ratio between 3/4 and 4/3); 1.0 turns it off.
        flip: flip left-right half of the time. flip_vert: also flip top-bottom half of the
            time (for photos with no "up": satellite, microscope).
        max_rotate: rotate by up to this many degrees either way.
        max_zoom: zoom in by up to this factor (1.0 = no zoom), centred anywhere.
        max_warp: perspective warp strength (0 = none, at most 0.5).
        max_lighting: change brightness and contrast by up to this fraction (0 = none).
        p_affine: chance that each of rotate / zoom / warp happens to an image.
        p_lighting: chance that lighting changes for an image.
        pad_mode: how pixels from outside the image are filled: 'reflection', 'zeros', 'border'.

    >>> Augment(max_rotate=0, max_lighting=0.3)
    Augment(min_scale=0.75, flip=True, flip_vert=False, max_rotate=0, max_zoom=1.1, max_warp=0.2, max_lighting=0.3, p_affine=0.75, p_lighting=0.75, pad_mode='reflection')
    >>> Augment.from_dict(Augment(flip=False).to_dict()) == Augment(flip=False)
    True
    """

    min_scale: float = 0.75
    flip: bool = True
    flip_vert: bool = False
    max_rotate: float = 10.0
    max_zoom: float = 1.1
    max_warp: float = 0.2
    max_lighting: float = 0.2
    p_affine: float = 0.75
    p_lighting: float = 0.75
    pad_mode: str = "reflection"

    def __post_init__(self) -> None:
        checks = [
            (0 < self.min_scale <= 1, "min_scale", "between 0 (exclusive) and 1; 1 = no crop"),
            (self.max_rotate >= 0, "max_rotate", "0 or more degrees"),
            (self.max_zoom >= 1, "max_zoom", "1.0 (no zoom) or more"),
            (0 <= self.max_warp <= 0.5, "max_warp", "between 0 and 0.5"),
            (0 <= self.max_lighting < 1, "max_lighting", "at least 0 and below 1"),
            (0 <= self.p_affine <= 1, "p_affine", "a probability, between 0 and 1"),
            (0 <= self.p_lighting <= 1, "p_lighting", "a probability, between 0 and 1"),
            (self.pad_mode in PAD_MODES, "pad_mode", f"one of {list(PAD_MODES)}"),
        ]
        for ok, name, should in checks:
            if not ok:
                raise ValueError(
                    f"Augment({name}={getattr(self, name)!r}): {name} must be {should}."
                )

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (for a run's config.json)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, settings: dict[str, Any]) -> Augment:
        """Rebuild from :meth:`to_dict`; unknown keys are an error naming the known ones."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ValueError(f"unknown Augment settings {unknown}; known: {sorted(known)}.")
        return cls(**settings)

    def __call__(
        self, x: torch.Tensor, size: int | None = None, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """Augment a float batch (B, 3, H, W) in [0, 1]; returns (B, 3, size, size) in [0, 1].

        ``size`` defaults to the input's; a larger input ("presizing") gives the crop and the
        rotation real pixels to work with.
        """
        if x.ndim != 4 or not x.is_floating_point():
            raise ValueError(
                f"Augment needs a float batch (B, C, H, W) in [0, 1], got {x.dtype} {tuple(x.shape)}."
            )
        size = size or x.shape[-1]
        matrices = random_matrices(len(x), self, generator)
        x = sample_grid(x, to_device(matrices.float(), x.device), size, self.pad_mode)
        if self.max_lighting > 0 and self.p_lighting > 0:
            x = random_lighting(x, self.max_lighting, self.p_lighting, generator)
        return x


def to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Copy a small CPU tensor to ``device`` without making the host wait for the GPU.

    A plain ``.to('cuda')`` from pageable memory synchronises the stream, so the next batch
    couldn't be prepared while the model still runs; pinned memory + ``non_blocking`` can.

    >>> to_device(torch.ones(2), torch.device("cpu")).tolist()
    [1.0, 1.0]
    """
    if t.device == device:
        return t
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def _uniform(n: int, low: float, high: float, gen: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=gen, dtype=torch.float64) * (high - low) + low


def _chance(n: int, p: float, gen: torch.Generator | None) -> torch.Tensor:
    return torch.rand(n, generator=gen, dtype=torch.float64) < p


def _eye(n: int) -> torch.Tensor:
    return torch.eye(3, dtype=torch.float64).repeat(n, 1, 1)


def _crop_matrices(n: int, min_scale: float, gen: torch.Generator | None) -> torch.Tensor:
    # Random resized crop: a window of area fraction in [min_scale, 1] and aspect ratio in
    # [3/4, 4/3] (log-uniform), placed uniformly inside the image. In grid coordinates ([-1, 1]
    # both ways) the output square maps onto [cx - w, cx + w] x [cy - h, cy + h].
    area = _uniform(n, min_scale, 1.0, gen)
    ratio = torch.exp(_uniform(n, math.log(3 / 4), math.log(4 / 3), gen))
    w = torch.sqrt(area * ratio).clamp(max=1.0)
    h = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = _uniform(n, -1, 1, gen) * (1 - w)
    cy = _uniform(n, -1, 1, gen) * (1 - h)
    m = _eye(n)
    m[:, 0, 0], m[:, 1, 1], m[:, 0, 2], m[:, 1, 2] = w, h, cx, cy
    return m


def _flip_matrices(n: int, axis: int, gen: torch.Generator | None) -> torch.Tensor:
    m = _eye(n)
    m[:, axis, axis] = torch.where(_chance(n, 0.5, gen), -1.0, 1.0)
    return m


def _rotate_matrices(n: int, max_deg: float, p: float, gen: torch.Generator | None) -> torch.Tensor:
    angle = torch.deg2rad(_uniform(n, -max_deg, max_deg, gen)) * _chance(n, p, gen)
    cos, sin = torch.cos(angle), torch.sin(angle)
    m = _eye(n)
    m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1] = cos, -sin, sin, cos
    return m


def _zoom_matrices(n: int, max_zoom: float, p: float, gen: torch.Generator | None) -> torch.Tensor:
    # Zoom in by s: look at a window 1/s as wide, centred anywhere it fits (fastai's col/row pct).
    s = torch.where(_chance(n, p, gen), _uniform(n, 1.0, max_zoom, gen), 1.0)
    shrink = 1 / s
    m = _eye(n)
    m[:, 0, 0] = m[:, 1, 1] = shrink
    m[:, 0, 2] = (1 - shrink) * _uniform(n, -1, 1, gen)
    m[:, 1, 2] = (1 - shrink) * _uniform(n, -1, 1, gen)
    return m


def _warp_matrices(n: int, max_warp: float, p: float, gen: torch.Generator | None) -> torch.Tensor:
    # Perspective warp (fastai's Warp): the square's corners move by up to max_warp, as when the
    # camera tilts left-right (dx) and up-down (dy); solve for the homography those corners
    # define (8 unknowns, 8 equations per image).
    on = _chance(n, p, gen)
    dx = _uniform(n, -max_warp, max_warp, gen) * on
    dy = _uniform(n, -max_warp, max_warp, gen) * on
    src = torch.tensor([[-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    # x * y is +1 at the top-left and bottom-right corners, -1 at the other two: with dx > 0
    # the top edge narrows and the bottom widens; with dy > 0 the left edge narrows.
    sign = src[:, 0] * src[:, 1]
    dst = src.repeat(n, 1, 1)  # (n, 4, 2)
    dst[:, :, 0] += dx[:, None] * sign
    dst[:, :, 1] += dy[:, None] * sign
    a = torch.zeros(n, 8, 8, dtype=torch.float64)
    b = torch.zeros(n, 8, dtype=torch.float64)
    for i in range(4):  # u = (h0 x + h1 y + h2) / (h6 x + h7 y + 1), same for v with h3..h5
        x, y = src[i]
        u, v = dst[:, i, 0], dst[:, i, 1]
        a[:, 2 * i, 0:3] = torch.tensor([x, y, 1.0], dtype=torch.float64)
        a[:, 2 * i, 6], a[:, 2 * i, 7] = -u * x, -u * y
        a[:, 2 * i + 1, 3:6] = torch.tensor([x, y, 1.0], dtype=torch.float64)
        a[:, 2 * i + 1, 6], a[:, 2 * i + 1, 7] = -v * x, -v * y
        b[:, 2 * i], b[:, 2 * i + 1] = u, v
    h = torch.linalg.solve(a, b)  # (n, 8)
    return torch.cat([h, torch.ones(n, 1, dtype=torch.float64)], dim=1).view(n, 3, 3)


def random_matrices(n: int, aug: Augment, generator: torch.Generator | None = None) -> torch.Tensor:
    """One random 3x3 matrix per image: output grid coordinates -> input coordinates.

    Composed as crop @ flip @ rotate @ zoom @ warp, in float64 on the CPU (a few hundred numbers);
    the draws come from ``generator``, in a fixed order, so a seed fixes them.

    >>> m = random_matrices(2, Augment(min_scale=1, flip=False, max_rotate=0, max_zoom=1, max_warp=0))
    >>> torch.equal(m, torch.eye(3, dtype=torch.float64).repeat(2, 1, 1))
    True
    """
    m = _eye(n)
    if aug.min_scale < 1:
        m = m @ _crop_matrices(n, aug.min_scale, generator)
    if aug.flip:
        m = m @ _flip_matrices(n, 0, generator)
    if aug.flip_vert:
        m = m @ _flip_matrices(n, 1, generator)
    if aug.max_rotate > 0 and aug.p_affine > 0:
        m = m @ _rotate_matrices(n, aug.max_rotate, aug.p_affine, generator)
    if aug.max_zoom > 1 and aug.p_affine > 0:
        m = m @ _zoom_matrices(n, aug.max_zoom, aug.p_affine, generator)
    if aug.max_warp > 0 and aug.p_affine > 0:
        m = m @ _warp_matrices(n, aug.max_warp, aug.p_affine, generator)
    return m


def sample_grid(
    x: torch.Tensor, matrices: torch.Tensor, size: int, pad_mode: str = "reflection"
) -> torch.Tensor:
    """Resample each image of (B, C, H, W) through its 3x3 matrix into (B, C, size, size).

    The grid is ``F.affine_grid``'s (pixel centres, ``align_corners=False``) carried through a
    full 3x3 matrix, so perspective works too; one ``F.grid_sample`` call does the batch.

    >>> x = torch.rand(2, 3, 8, 8)
    >>> torch.allclose(sample_grid(x, torch.eye(3).repeat(2, 1, 1), 8), x, atol=1e-5)
    True
    """
    b = len(x)
    coords = (torch.arange(size, device=x.device, dtype=torch.float32) * 2 + 1) / size - 1
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")
    base = torch.stack([gx, gy, torch.ones_like(gx)], dim=-1).view(1, size * size, 3)  # (1, S*S, 3)
    m = matrices.to(device=x.device, dtype=torch.float32)
    points = base @ m.transpose(1, 2)  # (B, S*S, 3)
    grid = points[..., :2] / points[..., 2:].clamp(min=1e-6)
    grid = grid.view(b, size, size, 2).to(x.dtype)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=pad_mode, align_corners=False)


def random_lighting(
    x: torch.Tensor, max_lighting: float, p: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Random brightness and contrast per image, in logit space as fastai does (stays in [0, 1]).

    brightness: ``logit(x) + logit(b)`` with b in 0.5 * [1 - max, 1 + max];
    contrast: ``logit(x) * c`` with log c in [log(1 - max), -log(1 - max)]. Images left alone
    (probability 1 - p) come back unchanged.

    >>> x = torch.rand(3, 3, 4, 4)
    >>> torch.equal(random_lighting(x, 0.2, p=0.0), x)
    True
    """
    n = len(x)
    on = _chance(n, p, generator)
    bright = _uniform(n, 0.5 * (1 - max_lighting), 0.5 * (1 + max_lighting), generator)
    log_c = _uniform(n, math.log(1 - max_lighting), -math.log(1 - max_lighting), generator)
    params = torch.stack([on.double(), torch.logit(bright), torch.exp(log_c)]).float()  # (3, n)
    on_, shift, scale = to_device(params, x.device).view(3, n, 1, 1, 1)  # one copy, not three
    lit = torch.sigmoid(torch.logit(x.clamp(1e-4, 1 - 1e-4)) * scale + shift).to(x.dtype)
    return torch.where(on_ > 0.5, lit, x)
