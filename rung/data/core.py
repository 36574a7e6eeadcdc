"""DataLoaders (a train/valid pair, valid required) and a fast in-memory batch loader."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import torch

from rung.data.splitters import HOW_TO_SPLIT

__all__ = ["DataLoaders", "TensorLoader", "NoValidationError"]


class NoValidationError(ValueError):
    """Raised when training is asked for without validation data."""

    def __init__(self, what: str = "these DataLoaders") -> None:
        super().__init__(
            f"{what} have no validation data, and rung does not train without it: a model can't "
            f"be judged on the rows it learned from. To get one, {HOW_TO_SPLIT} "
            "(see rung.data.splitters)."
        )


class TensorLoader:
    """Batches straight from in-memory tensors: no per-row Python, no collate.

    Each batch is a tuple with one slice of every tensor. With ``shuffle`` the order is a new
    seeded permutation every epoch.

    >>> x, y = torch.arange(10.0).unsqueeze(1), torch.arange(10)
    >>> loader = TensorLoader(x, y, batch_size=4)
    >>> len(loader), [tuple(b[0].shape) for b in loader]
    (3, [(4, 1), (4, 1), (2, 1)])
    """

    def __init__(
        self,
        *tensors: torch.Tensor,
        batch_size: int = 64,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
    ) -> None:
        if not tensors:
            raise ValueError("TensorLoader needs at least one tensor, e.g. TensorLoader(x, y).")
        n = len(tensors[0])
        bad = [tuple(t.shape) for t in tensors if len(t) != n]
        if bad:
            raise ValueError(f"all tensors need {n} rows (the first one's), got shapes {bad}.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
        self.tensors, self.batch_size = tensors, batch_size
        self.shuffle, self.drop_last = shuffle, drop_last
        # Without a seed, draw one from torch's global RNG, so seed_everything() makes the
        # batch order reproducible too.
        self.generator = torch.Generator()
        if seed is None:
            seed = int(torch.randint(0, 2**62, ()).item())
        self.generator.manual_seed(seed)

    @property
    def dataset(self) -> torch.utils.data.TensorDataset:
        return torch.utils.data.TensorDataset(*self.tensors)

    def __len__(self) -> int:
        n = len(self.tensors[0])
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, ...]]:
        n = len(self.tensors[0])
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator)
            tensors = tuple(t[order] for t in self.tensors)  # one gather per epoch, then slices
        else:
            tensors = self.tensors
        stop = len(self) * self.batch_size
        for i in range(0, min(stop, n), self.batch_size):
            yield tuple(t[i : i + self.batch_size] for t in tensors)

    def to_dataloader(self) -> torch.utils.data.DataLoader:
        """The same batches as a plain torch DataLoader (Accelerate shards those across processes)."""
        return torch.utils.data.DataLoader(
            self.dataset, batch_size=self.batch_size, shuffle=self.shuffle, drop_last=self.drop_last
        )


class DataLoaders:
    """A training loader and a validation loader, plus what the data knows about itself.

    ``valid`` is required: :class:`NoValidationError` says how to make one.

    >>> x, y = torch.randn(20, 3), torch.randn(20, 1)
    >>> dls = DataLoaders.from_tensors(x, y, valid_pct=0.25, batch_size=5)
    >>> len(dls.train.tensors[0]), len(dls.valid.tensors[0])
    (15, 5)
    """

    def __init__(self, train: Iterable, valid: Iterable | None, **info: Any) -> None:
        if valid is None or (hasattr(valid, "__len__") and len(valid) == 0):
            raise NoValidationError()
        self.train, self.valid, self.info = train, valid, info

    def __getitem__(self, i: int) -> Iterable:
        return (self.train, self.valid)[i]

    @classmethod
    def from_tensors(
        cls,
        x: torch.Tensor | Sequence[torch.Tensor],
        y: torch.Tensor,
        valid_pct: float = 0.2,
        seed: int = 42,
        batch_size: int = 64,
        **info: Any,
    ) -> DataLoaders:
        """Split tensors with :func:`~rung.data.splitters.random_split` and wrap them in loaders."""
        from rung.data.splitters import random_split

        xs = tuple(x) if isinstance(x, (list, tuple)) else (x,)
        split = random_split(len(y), valid_pct=valid_pct, seed=seed)
        tr, va = torch.as_tensor(split.train), torch.as_tensor(split.valid)
        train = TensorLoader(
            *(t[tr] for t in xs), y[tr], batch_size=batch_size, shuffle=True, seed=seed
        )
        valid = TensorLoader(*(t[va] for t in xs), y[va], batch_size=batch_size * 2)
        return cls(train, valid, **info)
