"""Callbacks the image app adds to its Learners.

>>> ChannelsLast.order
5
"""

from __future__ import annotations

import torch

from rung.callbacks.core import Callback

__all__ = ["ChannelsLast", "TrainSizes"]


class ChannelsLast(Callback):
    """Keep the model's weights and each image batch in channels-last memory order (NHWC):
    convolutions run faster in it on a GPU (and on many CPUs). Results are the same."""

    order = 5

    def before_fit(self) -> None:
        self.learn.model.to(memory_format=torch.channels_last)

    def before_batch(self) -> None:
        self.learn.xb = tuple(
            x.contiguous(memory_format=torch.channels_last) if x.ndim == 4 else x
            for x in self.learn.xb
        )


class TrainSizes(Callback):
    """Progressive resizing: the ``i``-th epoch this callback sees (counted across fits, so
    one list serves both fits of ``fine_tune``) trains on images of ``sizes[i]`` pixels a side
    (the augmentation crops the loaded items to it; past the list, its last size); validation
    keeps the loader's size, the one prediction uses. The training loader's size is put back
    after each fit.

    Small images early cost a fraction of the compute (a 128 px step is about a third of a
    224 px one) while the model learns the coarse features; the last epochs at full size
    adapt it to the size it will see (fastai's progressive resizing).

    >>> TrainSizes([128, 160, 224]).sizes
    [128, 160, 224]
    """

    order = 1  # before the batches are drawn

    def __init__(self, sizes: list[int]) -> None:
        if not sizes:
            raise ValueError("TrainSizes needs at least one size, e.g. TrainSizes([128, 224]).")
        self.sizes = [int(s) for s in sizes]
        self.epochs_seen = 0

    def before_fit(self) -> None:
        self._size = self.learn.dls.train.size

    def before_epoch(self) -> None:
        self.learn.dls.train.size = self.sizes[min(self.epochs_seen, len(self.sizes) - 1)]

    def after_epoch(self) -> None:
        self.epochs_seen += 1

    def after_fit(self) -> None:
        self.learn.dls.train.size = self._size
