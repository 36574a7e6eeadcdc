"""The cheap LR finder (a sweep of the head over features computed once), progressive resizing,
and the frozen epoch that trains the head alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rung.callbacks.core import Callback
from rung.vision.callbacks import TrainSizes
from rung.vision.data import ImageDataLoaders
from rung.vision.head_lr import head_lr_find
from rung.vision.train import image_learner


def colour_folder(root: Path, n: int = 16) -> Path:
    """Two classes of noisy 48x48 pictures: reddish 'warm' and bluish 'cool'."""
    rng = np.random.default_rng(0)
    for name, channel in (("warm", 0), ("cool", 2)):
        (root / name).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 120, (48, 48, 3), dtype=np.uint8)
            pixels[..., channel] = rng.integers(150, 256, (48, 48), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


@pytest.fixture
def learn(tmp_path):
    dls = ImageDataLoaders.from_folder(
        colour_folder(tmp_path / "colours"), size=48, batch_size=8, num_workers=0, seed=0,
        mean=(0.5,) * 3, std=(0.5,) * 3,
    )  # fmt: skip
    return image_learner(dls, "resnet18", pretrained=False, seed=0, progress=False, path=tmp_path)


def test_the_head_sweep_changes_nothing_and_suggests_a_rate_on_the_falling_curve(learn):
    weights = {k: v.clone() for k, v in learn.model.state_dict().items()}
    states = learn.dls.train.generator.get_state(), learn.dls.train.aug_generator.get_state()
    sweep = head_lr_find(learn, n_items=24, size=32, plot_path=learn.path / "lr.png")
    after = learn.model.state_dict()
    assert all(torch.equal(weights[k], after[k]) for k in weights)
    assert torch.equal(states[0], learn.dls.train.generator.get_state())
    assert torch.equal(states[1], learn.dls.train.aug_generator.get_state())
    assert learn.dls.train.size == 48 and (learn.path / "lr.png").is_file()
    assert (sweep.n_items, sweep.size) == (24, 32) and sweep.seconds_per_image > 0
    found = sweep.found
    assert len(found.lrs) > 50  # the full sweep ran: cheap on features
    assert found.lrs[0] < found.valley < found.lrs[-1]
    i = int(np.argmin(np.abs(np.log(found.lrs) - np.log(found.valley))))
    assert found.losses[i] < found.losses[0]  # the valley sits below where the sweep began


def test_the_sweep_never_looks_at_more_pixels_than_training_and_refuses_too_few_items(learn):
    assert head_lr_find(learn, n_items=8, size=512, num_it=5).size == 48
    with pytest.raises(ValueError, match="n_items must be a whole number >= 2"):
        head_lr_find(learn, n_items=1)


class SeenSizes(Callback):
    def before_fit(self):
        self.train, self.valid = [], []

    def before_batch(self):
        (self.train if self.learn.training else self.valid).append(self.learn.xb[0].shape[-1])


def test_progressive_resizing_trains_each_epoch_at_its_size_and_validates_at_the_final(learn):
    seen = SeenSizes()
    learn.unfreeze()
    learn.fit_one_cycle(3, 1e-3, cbs=[TrainSizes([32, 40, 48]), seen])
    per_epoch = len(learn.dls.train)
    assert seen.train == [32] * per_epoch + [40] * per_epoch + [48] * per_epoch
    assert set(seen.valid) == {48} and learn.dls.train.size == 48


def test_sizes_run_on_across_the_fits_of_fine_tune(learn):
    seen = SeenSizes()
    learn.add_cb(seen)
    learn.fine_tune(2, base_lr=1e-3, freeze_epochs=1, cbs=[TrainSizes([32, 40, 48])])
    per_epoch = len(learn.dls.train)
    assert seen.train == [40] * per_epoch + [48] * per_epoch  # the second fit: epochs 2 and 3


def test_a_pretrained_frozen_epoch_trains_the_head_alone(tmp_path):
    dls = ImageDataLoaders.from_folder(
        colour_folder(tmp_path / "colours", n=8), size=32, batch_size=8, num_workers=0, seed=0,
        mean=(0.5,) * 3, std=(0.5,) * 3,
    )  # fmt: skip
    learn = image_learner(
        dls, "tf_efficientnet_lite0", pretrained="offline", seed=0, progress=False, path=tmp_path
    )
    assert learn.model.freeze_bn_stats and not learn.train_bn
    body, head = learn.model.param_groups()
    before = [p.clone() for p in body]
    assert not any(p.requires_grad for p in body) and all(p.requires_grad for p in head)
    head_before = [p.clone() for p in head]
    learn.fit_one_cycle(1, 1e-2)
    assert all(torch.equal(a, b) for a, b in zip(before, body))  # BatchNorm's scale too
    assert not all(torch.equal(a, b) for a, b in zip(head_before, head))
