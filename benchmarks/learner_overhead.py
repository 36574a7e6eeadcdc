"""Learner overhead: a hand-written PyTorch loop vs the rung Learner, same run, same data.

A tiny MLP over 50,000 in-memory rows, batch 64, AdamW: the step is so cheap that any
per-batch cost of the Learner (events, callbacks, recorder, metrics, progress bars) shows.
Both loops iterate the same TensorLoader and validate over the same 10,000 rows, computing
accuracy. Goal: ratio (rung / hand-written) <= 1.05.

    .venv/bin/python benchmarks/learner_overhead.py [--epochs 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import time

import torch
from torch import nn

from rung.data.core import DataLoaders, TensorLoader
from rung.learner import Learner, default_opt
from rung.metrics import accuracy


def make_data(n_train: int = 50_000, n_valid: int = 10_000, n_features: int = 20):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n_train + n_valid, n_features, generator=g)
    y = (x[:, :5].sum(1) > 0).long()
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])


def make_model(n_features: int = 20) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(n_features, 32), nn.ReLU(), nn.Linear(32, 2))


def hand_written(train, valid, epochs: int) -> float:
    model = make_model()
    opt = default_opt(model.parameters(), lr=1e-3, weight_decay=0.01)
    loss_func = nn.CrossEntropyLoss()
    train_dl = TensorLoader(*train, batch_size=64, shuffle=True, seed=0)
    valid_dl = TensorLoader(*valid, batch_size=128)
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for xb, yb in train_dl:
            loss = loss_func(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
        model.eval()
        preds, targs = [], []
        with torch.no_grad():
            for xb, yb in valid_dl:
                preds.append(model(xb))
                targs.append(yb)
        preds, targs = torch.cat(preds), torch.cat(targs)
        _ = loss_func(preds, targs).item(), accuracy(preds, targs)
    return time.perf_counter() - start


def with_rung(train, valid, epochs: int) -> float:
    dls = DataLoaders(
        TensorLoader(*train, batch_size=64, shuffle=True, seed=0),
        TensorLoader(*valid, batch_size=128),
    )
    learn = Learner(
        make_model(), dls, nn.CrossEntropyLoss(), metrics=[accuracy], mixed_precision="no"
    )
    learn.progress_callback.file = io.StringIO()  # bars and table on, drawn into a buffer
    start = time.perf_counter()
    learn.fit(epochs, lr=1e-3)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, valid = make_data()
    hand_written(train, valid, 1)  # warm up both paths
    with_rung(train, valid, 1)
    base, ours = [], []
    for _ in range(args.repeats):  # interleaved, so drift hits both alike
        base.append(hand_written(train, valid, args.epochs))
        ours.append(with_rung(train, valid, args.epochs))
    result = {
        "hand_written_s": min(base),
        "rung_s": min(ours),
        "ratio": min(ours) / min(base),
        "batches_per_epoch": -(-len(train[0]) // 64),
        "epochs": args.epochs,
        "torch_threads": args.threads,
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
