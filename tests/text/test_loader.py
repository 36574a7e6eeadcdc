"""Length-bucketed batches with per-batch padding."""

from __future__ import annotations

import numpy as np
import torch

from rung.text.loader import TextLoader


def _ids(lengths):
    return [np.arange(1, n + 1) for n in lengths]


def test_shuffled_batches_cover_every_row_once_and_group_similar_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 200, size=1000)
    y = torch.arange(1000)
    loader = TextLoader(_ids(lengths), y, batch_size=16, shuffle=True, chunk=10, seed=0)
    seen, waste_bucketed = [], 0
    for x, mask, yb in loader:
        rows = yb.numpy()
        seen += rows.tolist()
        assert x.shape[1] == lengths[rows].max()  # padded to the batch's longest, no more
        assert mask.sum(1).tolist() == lengths[rows].tolist()
        waste_bucketed += (x.shape[1] - lengths[rows]).sum()
    assert sorted(seen) == list(range(1000))
    # against random batches of the same rows, bucketing pads far less
    perm = np.random.default_rng(1).permutation(1000)
    waste_random = sum(
        (lengths[b].max() - lengths[b]).sum() for b in np.array_split(perm, len(loader))
    )
    assert waste_bucketed < waste_random / 5


def test_each_epoch_gets_a_new_order_and_a_seed_repeats_it():
    ids = _ids(np.arange(1, 101))
    first = [b.tolist() for b in TextLoader(ids, batch_size=8, shuffle=True, seed=3).batches()]
    again = [b.tolist() for b in TextLoader(ids, batch_size=8, shuffle=True, seed=3).batches()]
    loader = TextLoader(ids, batch_size=8, shuffle=True, seed=3)
    loader.batches()
    second_epoch = [b.tolist() for b in loader.batches()]
    assert first == again and first != second_epoch


def test_unshuffled_batches_go_longest_first_and_order_maps_rows_back():
    lengths = [5, 9, 2, 9, 7]
    loader = TextLoader(_ids(lengths), torch.arange(5), batch_size=2, pad_id=-1)
    assert loader.order.tolist() == [1, 3, 4, 0, 2]
    batches = list(loader)
    assert [tuple(b[0].shape) for b in batches] == [(2, 9), (2, 7), (1, 2)]
    assert batches[1][0][1].tolist() == [1, 2, 3, 4, 5, -1, -1]  # row 0, padded with pad_id
    assert torch.cat([b[2] for b in batches]).tolist() == loader.order.tolist()


def test_the_torch_dataloader_gives_the_same_batches():
    lengths = [5, 9, 2, 9, 7]
    loader = TextLoader(_ids(lengths), torch.arange(5), batch_size=2)
    for a, b in zip(loader, loader.to_dataloader()):
        assert all(torch.equal(u, v) for u, v in zip(a, b))
