"""Batches of token ids, padded per batch, with inputs of similar length batched together.

Padding every input to the longest in the data wastes most of the compute when lengths vary;
padding each batch to its own longest input wastes little when a batch holds inputs of similar
length. :class:`TextLoader` does what fastai's ``SortishSampler`` does: when shuffling, it
shuffles the rows, cuts them into chunks of ``chunk`` batches, sorts each chunk by length and
shuffles the batches (so batches differ every epoch but each is made of similar lengths);
otherwise (validation, prediction) it sorts all rows by length, longest first, and
``loader.order`` says which row each prediction belongs to.

Each batch is ``(input_ids, attention_mask)`` (both int64, (B, L)), plus the targets when the
loader has them: ``(B,)`` int64 classes or ``(B, 1)`` float32 values.

>>> import numpy as np
>>> ids = [np.array([101, 7, 102]), np.array([101, 102]), np.array([101, 5, 6, 7, 102])]
>>> loader = TextLoader(ids, batch_size=2, pad_id=0)
>>> [tuple(b[0].shape) for b in loader], loader.order.tolist()
([(2, 5), (1, 2)], [2, 0, 1])
>>> next(iter(loader))[1].tolist()
[[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

__all__ = ["TextLoader", "pad_batch"]


def pad_batch(ids: Sequence[np.ndarray], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input_ids, attention_mask)``, each (B, L), L the longest of ``ids``; padding on the
    right with ``pad_id`` and mask 0.

    >>> x, m = pad_batch([np.array([1, 2]), np.array([3])], pad_id=0)
    >>> x.tolist(), m.tolist()
    ([[1, 2], [3, 0]], [[1, 1], [1, 0]])
    """
    width = max(len(row) for row in ids)
    x = np.full((len(ids), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(ids), width), dtype=np.int64)
    for i, row in enumerate(ids):
        x[i, : len(row)] = row
        mask[i, : len(row)] = 1
    return torch.from_numpy(x), torch.from_numpy(mask)


class TextLoader:
    """Length-bucketed, dynamically padded batches of token ids (see the module docstring).

    Args:
        ids: one int array of token ids per row.
        targets: (N,) int64 classes or (N, 1) float32 values, or None (prediction).
        shuffle: a new order every epoch (training); else longest first, fixed.
        chunk: batches per sorted chunk when shuffling (fastai uses 50).
        seed: the shuffling seed; None draws one from torch's global generator, so
            ``seed_everything`` decides it.
    """

    def __init__(
        self,
        ids: Sequence[np.ndarray],
        targets: np.ndarray | torch.Tensor | None = None,
        batch_size: int = 32,
        pad_id: int = 0,
        shuffle: bool = False,
        chunk: int = 50,
        seed: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        if len(ids) == 0:
            raise ValueError("a TextLoader needs at least one row.")
        if targets is not None and len(targets) != len(ids):
            raise ValueError(f"{len(targets)} targets for {len(ids)} rows of token ids.")
        self.ids = list(ids)
        self.targets = None if targets is None else torch.as_tensor(targets)
        self.lengths = np.array([len(row) for row in self.ids])
        self.batch_size, self.pad_id, self.shuffle, self.chunk = batch_size, pad_id, shuffle, chunk
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()).item())
        self.rng = np.random.default_rng(seed)
        # longest first, ties in row order: the fixed order of validation and prediction
        self.order = np.argsort(-self.lengths, kind="stable")

    def __len__(self) -> int:
        return -(-len(self.ids) // self.batch_size)

    def batches(self) -> list[np.ndarray]:
        """The row indices of each batch, in the order they come (new ones each call when
        shuffling)."""
        bs = self.batch_size
        if not self.shuffle:
            return [self.order[i : i + bs] for i in range(0, len(self.order), bs)]
        perm = self.rng.permutation(len(self.ids))
        step = bs * self.chunk
        batches = []
        for start in range(0, len(perm), step):
            part = perm[start : start + step]
            part = part[np.argsort(-self.lengths[part], kind="stable")]
            batches += [part[i : i + bs] for i in range(0, len(part), bs)]
        return [batches[i] for i in self.rng.permutation(len(batches))]

    def collate(self, rows: Sequence[int]) -> tuple[torch.Tensor, ...]:
        """The batch of these rows: ``(input_ids, attention_mask[, targets])``."""
        rows = np.asarray(rows)
        x, mask = pad_batch([self.ids[i] for i in rows], self.pad_id)
        if self.targets is None:
            return x, mask
        return x, mask, self.targets[torch.from_numpy(rows)]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        for rows in self.batches():
            yield self.collate(rows)

    def to_dataloader(self) -> torch.utils.data.DataLoader:
        """The same batches as a torch DataLoader (Accelerate shards those across processes)."""
        return torch.utils.data.DataLoader(
            range(len(self.ids)), batch_sampler=_Batches(self), collate_fn=self.collate
        )

    def __repr__(self) -> str:
        return (
            f"TextLoader({len(self.ids)} rows, batch_size={self.batch_size}, "
            f"tokens {int(self.lengths.min())}-{int(self.lengths.max())}, shuffle={self.shuffle})"
        )


class _Batches(torch.utils.data.Sampler):
    """A batch sampler giving a TextLoader's batches (for ``to_dataloader``)."""

    def __init__(self, loader: TextLoader) -> None:
        self.loader = loader

    def __iter__(self) -> Iterator[Any]:
        return iter(b.tolist() for b in self.loader.batches())

    def __len__(self) -> int:
        return len(self.loader)
