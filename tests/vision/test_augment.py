"""Batch augmentation: checked against torch's own affine sampling and exact image operations."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from rung.vision.augment import Augment, random_lighting, random_matrices, sample_grid

OFF = dict(min_scale=1.0, flip=False, max_rotate=0, max_zoom=1.0, max_warp=0, max_lighting=0)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_affine_matrices_sample_exactly_like_torch_affine_grid():
    # The oracle: for affine matrices our grid is F.affine_grid's (align_corners=False).
    x = torch.rand(3, 3, 20, 20)
    theta = torch.randn(3, 2, 3, generator=gen(1)) * 0.3 + torch.tensor([[1.0, 0, 0], [0, 1, 0]])
    expected = F.grid_sample(
        x, F.affine_grid(theta, [3, 3, 20, 20], align_corners=False), align_corners=False
    )
    m = torch.cat([theta, torch.tensor([[[0.0, 0.0, 1.0]]]).repeat(3, 1, 1)], dim=1)
    got = sample_grid(x, m, 20, pad_mode="zeros")
    assert torch.allclose(got, expected, atol=1e-5)


def test_quarter_turn_and_flip_matrices_move_whole_pixels():
    x = torch.rand(2, 3, 7, 7)
    quarter = torch.tensor([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]]).repeat(2, 1, 1)
    assert torch.allclose(sample_grid(x, quarter, 7), torch.rot90(x, 1, (2, 3)), atol=1e-6)
    flip = torch.diag(torch.tensor([-1.0, 1, 1])).repeat(2, 1, 1)
    assert torch.allclose(sample_grid(x, flip, 7), x.flip(-1), atol=1e-6)


def test_everything_off_is_the_identity():
    x = torch.rand(4, 3, 16, 16)
    out = Augment(**OFF)(x, generator=gen())
    assert torch.allclose(out, x, atol=1e-5)


def test_flip_mirrors_about_half_the_images_and_leaves_the_rest():
    x = torch.rand(64, 3, 8, 8)
    out = Augment(**{**OFF, "flip": True})(x, generator=gen(3))
    flipped = [torch.allclose(o, xi.flip(-1), atol=1e-5) for o, xi in zip(out, x)]
    same = [torch.allclose(o, xi, atol=1e-5) for o, xi in zip(out, x)]
    assert all(f != s for f, s in zip(flipped, same))  # each image is one or the other
    assert 20 < sum(flipped) < 44


def test_random_resized_crop_windows_stay_inside_the_image_with_the_right_area():
    m = random_matrices(500, Augment(**{**OFF, "min_scale": 0.35}), gen(4))
    w, h, cx, cy = m[:, 0, 0], m[:, 1, 1], m[:, 0, 2], m[:, 1, 2]
    area = w * h
    assert area.min() >= 0.35 - 1e-9 and area.max() <= 1 + 1e-9
    assert (cx.abs() + w <= 1 + 1e-9).all() and (cy.abs() + h <= 1 + 1e-9).all()
    assert area.std() > 0.1  # really random


def test_zoom_only_zooms_in_and_rotation_stays_within_its_limit():
    m = random_matrices(400, Augment(**{**OFF, "max_zoom": 1.5, "p_affine": 1.0}), gen(5))
    scale = m[:, 0, 0]
    assert scale.min() >= 1 / 1.5 - 1e-9 and scale.max() <= 1 + 1e-9
    assert ((m[:, :2, 2].abs() + scale[:, None]) <= 1 + 1e-9).all()  # window inside the image
    r = random_matrices(400, Augment(**{**OFF, "max_rotate": 20.0, "p_affine": 0.5}), gen(6))
    angles = torch.rad2deg(torch.atan2(r[:, 1, 0], r[:, 0, 0]))
    assert angles.abs().max() <= 20 + 1e-6
    assert 120 < (angles == 0).sum() < 280  # p_affine=0.5: about half untouched


def test_warp_moves_the_corners_by_at_most_max_warp():
    m = random_matrices(200, Augment(**{**OFF, "max_warp": 0.3, "p_affine": 1.0}), gen(7))
    corners = torch.tensor([[-1.0, -1, 1], [1, -1, 1], [-1, 1, 1], [1, 1, 1]], dtype=m.dtype)
    moved = corners @ m.transpose(1, 2)  # (200, 4, 3)
    moved = moved[..., :2] / moved[..., 2:]
    shift = (moved - corners[:, :2]).abs()
    assert shift.max() <= 0.3 + 1e-6
    assert shift.amax(dim=(1, 2)).mean() > 0.1  # and they do move
    # keystone: opposite corners move the opposite way, so the four moves cancel out
    assert torch.allclose(moved.sum(dim=1), torch.zeros(200, 2, dtype=m.dtype), atol=1e-9)


def test_lighting_stays_in_range_and_changes_brightness_and_contrast():
    x = torch.rand(32, 3, 8, 8)
    out = random_lighting(x, 0.4, p=1.0, generator=gen(8))
    assert out.min() >= 0 and out.max() <= 1
    assert (out.mean(dim=(1, 2, 3)) - x.mean(dim=(1, 2, 3))).abs().max() > 0.05
    assert torch.equal(random_lighting(x, 0.4, p=0.0, generator=gen(8)), x)


def test_same_seed_same_augmentation_other_seed_other_augmentation():
    x = torch.rand(8, 3, 32, 32)
    aug = Augment(p_affine=1.0, p_lighting=1.0)
    a, b, c = aug(x, 24, gen(9)), aug(x, 24, gen(9)), aug(x, 24, gen(10))
    assert a.shape == (8, 3, 24, 24)
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert a.min() >= 0 and a.max() <= 1


@pytest.mark.parametrize(
    "kwargs, words",
    [
        ({"min_scale": 0}, "min_scale"),
        ({"max_zoom": 0.9}, "max_zoom"),
        ({"max_warp": 0.8}, "max_warp"),
        ({"p_lighting": 1.5}, "probability"),
        ({"pad_mode": "wrap"}, "reflection"),
    ],
)
def test_bad_settings_are_refused_by_name(kwargs, words):
    with pytest.raises(ValueError, match=words):
        Augment(**kwargs)


def test_settings_round_trip_through_a_dict_and_unknown_keys_are_named():
    aug = Augment(min_scale=0.5, flip_vert=True)
    assert Augment.from_dict(aug.to_dict()) == aug
    with pytest.raises(ValueError, match="max_rotation"):
        Augment.from_dict({"max_rotation": 5})
    with pytest.raises(ValueError, match="float batch"):
        Augment()(torch.zeros(2, 3, 8, 8, dtype=torch.uint8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_the_gpu_the_batch_stays_there_and_matches_the_cpu():
    x = torch.rand(8, 3, 32, 32)
    aug = Augment(p_affine=1.0, p_lighting=1.0)
    cpu = aug(x, 24, gen(11))
    gpu = aug(x.cuda(), 24, gen(11))
    assert gpu.device.type == "cuda"
    assert torch.allclose(gpu.cpu(), cpu, atol=1e-4)
