"""A cheap LR finder for fine-tuning: the sweep on the new head alone, over features the frozen
body computed once.

``learn.lr_find()`` on an image model runs up to 100 training steps at full size; on a 2-core
CPU that was 2 minutes of a 4.5-minute cats_dogs run, longer than the four epochs' training
took. While the body is frozen (and its BatchNorm statistics are, see
:class:`~rung.vision.models.TimmClassifier`) the body is a fixed function, and all the frozen
epoch trains is the classifier on its features. So: run the body once over a few hundred
augmented training images at a small size (a forward pass each, no gradients), then sweep the
classifier on those features with the Learner's own loss, optimiser and weight decay,
through the same :func:`~rung.callbacks.lr_finder.lr_find` (same smoothing, suggestions and
plot). The sweep itself costs milliseconds; the forward passes are the cost, and they also
measure how fast this machine runs the model (what :mod:`rung.vision.plan` budgets with).

>>> sweep = head_lr_find(learn, n_items=256, size=128)  # doctest: +SKIP
>>> sweep.found.recommended, sweep.seconds_per_image  # doctest: +SKIP
(0.0021, 0.0052)
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from rung.callbacks.lr_finder import LRFindResult
    from rung.learner import Learner

__all__ = ["HeadSweep", "head_lr_find", "DEFAULT_SWEEP_ITEMS", "DEFAULT_SWEEP_SIZE"]

DEFAULT_SWEEP_ITEMS = 256  # a few batches' worth of features: enough for a smooth curve
DEFAULT_SWEEP_SIZE = 128  # the body's forward pass at 128 px costs a third of 224 px's


@dataclass
class HeadSweep:
    """What :func:`head_lr_find` did: the LR finder's result, how many images at what size,
    its cost in seconds, and the body's forward time per image at that size (eval mode, no
    gradients; the budget planner's measurement of this machine)."""

    found: LRFindResult
    n_items: int
    size: int
    seconds: float
    seconds_per_image: float

    def describe(self) -> str:
        """One line for the writeup and the progress messages.

        >>> from rung.callbacks.lr_finder import LRFindResult
        >>> HeadSweep(LRFindResult([], [], {"valley": 1e-3, "slide": 2e-3}), 256, 128, 1.5, 0.005).describe()
        'LR finder: 100-step sweep of the new head on features of 256 training images at 128 px, computed once by the frozen body (1.5 s)'
        """
        return (
            f"LR finder: 100-step sweep of the new head on features of {self.n_items} training "
            f"images at {self.size} px, computed once by the frozen body ({self.seconds:.1f} s)"
        )


def head_lr_find(
    learn: Learner,
    n_items: int = DEFAULT_SWEEP_ITEMS,
    size: int | None = DEFAULT_SWEEP_SIZE,
    num_it: int = 100,
    plot_path: str | Path | None = None,
) -> HeadSweep:
    """The LR finder of a frozen image Learner, run on the head over features computed once.

    ``learn``'s model is a :class:`~rung.vision.models.TimmClassifier` (a timm model with
    ``forward_features``, ``forward_head(pre_logits=True)`` and ``get_classifier()``).
    ``n_items`` training images (the first batches of the training loader: shuffled and
    augmented as training draws them), at ``size`` pixels (None: the loader's own, never
    larger than it). Nothing of ``learn`` changes: the sweep trains a copy of the head, and
    the loader's random state is put back.
    """
    from rung.data.core import DataLoaders, TensorLoader
    from rung.learner import Learner

    started = time.perf_counter()
    loader = learn.dls.train
    size = min(size or loader.size, loader.size)
    features, targets, seconds_per_image = _features(learn, n_items, size)
    batch_size = min(loader.batch_size, len(targets))
    head = copy.deepcopy(learn.model.head).float().to("cpu")
    seed = 0 if learn.seed is None else learn.seed
    train = TensorLoader(features, targets, batch_size=batch_size, shuffle=True, seed=seed)
    valid = TensorLoader(features[:batch_size], targets[:batch_size], batch_size=batch_size)
    sweep = Learner(
        head, DataLoaders(train, valid), loss_func=learn.loss_func, lr=learn.lr, wd=learn.wd,
        opt_func=learn.opt_func, progress=False, cpu=True, path=learn.path,
    )  # fmt: skip
    found = sweep.lr_find(num_it=num_it, plot_path=plot_path)
    return HeadSweep(found, len(targets), size, time.perf_counter() - started, seconds_per_image)


@torch.no_grad()
def _features(learn: Learner, n_items: int, size: int) -> tuple[torch.Tensor, torch.Tensor, float]:
    """Pre-logit features (N, F) and targets (N,) of the first ``n_items`` training images at
    ``size``, and the body's forward seconds per image (the median batch's)."""
    if isinstance(n_items, bool) or not isinstance(n_items, int) or n_items < 2:
        raise ValueError(f"n_items must be a whole number >= 2, e.g. 256; got {n_items!r}.")
    loader, timm_model = learn.dls.train, learn.model.model
    device = learn.device
    states = loader.generator.get_state(), loader.aug_generator.get_state()
    old_size, was_training = loader.size, learn.model.training
    loader.size = size
    learn.model.to(device).eval()
    feats, targets, per_image = [], [], []
    try:
        n_batches = math.ceil(n_items / loader.batch_size)
        for i, (x, y) in enumerate(loader):
            if i >= n_batches:
                break
            x = x.to(device).contiguous(memory_format=torch.channels_last)
            start = time.perf_counter()
            with learn._autocast():
                f = timm_model.forward_head(timm_model.forward_features(x), pre_logits=True)
            feats.append(f.float().cpu())  # a sync: the time below is the forward's
            per_image.append((time.perf_counter() - start) / len(x))
            targets.append(y.cpu())
    finally:
        loader.size = old_size
        loader.generator.set_state(states[0])
        loader.aug_generator.set_state(states[1])
        learn.model.train(was_training)
    if not feats:
        raise ValueError("the training loader gave no batches to find a learning rate on.")
    # the median batch: the first pays one-time costs (kernels picked for this size), and
    # another process may take the cores for a moment
    return torch.cat(feats)[:n_items], torch.cat(targets)[:n_items], statistics.median(per_image)
