"""Tabular net training time: rung (Learner + fit_one_cycle) vs a hand-written PyTorch loop.

Both train the same ``"tabular"`` net (same initial weights) on the same preprocessed tensors
from :class:`~rung.tabular.data.TabularData`, with the same batches (one TensorLoader order),
AdamW, the same one-cycle schedule of LR and momentum, and a validation pass with accuracy
every epoch. What differs is the loop: rung's events, callbacks, recorder and metrics.

- ``--table titanic`` (default): the real Titanic train.csv (713 training rows, 11 batches of
  64), the course's net [10, 10], 16 epochs: per-batch overhead dominates;
- ``--table synthetic``: ``--rows`` random rows (6 categorical, 6 continuous columns), the
  [200, 100] net, batch 512: closer to a table where the model's work dominates.

    .venv/bin/python benchmarks/tabular_training.py [--table synthetic --rows 200000 --epochs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from rung.callbacks.schedule import combined_cos
from rung.data.core import TensorLoader
from rung.learner import Learner, default_opt
from rung.metrics import accuracy
from rung.models.registry import build_model
from rung.tabular.data import TabularData

TITANIC = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "titanic" / "train.csv"


def load_table(table: str, rows: int) -> TabularData:
    if table == "titanic":
        return TabularData.from_csv(os.environ.get("RUNG_TITANIC", TITANIC), "Survived")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({f"c{i}": rng.integers(0, 10 * (i + 1), rows) for i in range(6)})
    for i in range(6):
        df[f"x{i}"] = rng.normal(size=rows)
    logit = df["x0"] + 0.5 * df["x1"] - (df["c0"] % 3 == 0) + 0.3 * rng.normal(size=rows)
    df["y"] = (logit > 0).astype(int)
    return TabularData.from_df(df, "y", cat_names=[f"c{i}" for i in range(6)])


def make_model(data: TabularData, layers: list[int]) -> nn.Module:
    torch.manual_seed(0)
    return build_model(
        "tabular",
        emb_szs=[list(e) for e in data.embedding_sizes],
        n_cont=len(data.cont_names),
        n_out=data.target.n_out,
        layers=layers,
    )


def loaders(data: TabularData, batch_size: int) -> tuple[TensorLoader, TensorLoader]:
    dls = data.dataloaders(batch_size=batch_size)
    return dls.train, dls.valid


def hand_written(data: TabularData, layers: list[int], epochs: int, bs: int, lr: float) -> dict:
    """The loop a PyTorch user writes: AdamW, one-cycle by hand, validation with accuracy."""
    model = make_model(data, layers)
    train_dl, valid_dl = loaders(data, bs)
    opt = default_opt(model.parameters(), lr=lr, weight_decay=0.01)
    loss_func = nn.CrossEntropyLoss()
    lr_sched = combined_cos(0.25, lr / 25, lr, lr / 1e5)
    mom_sched = combined_cos(0.25, 0.95, 0.85, 0.95)
    total, step = epochs * len(train_dl), 0
    start = time.perf_counter()
    for _ in range(epochs):
        model.train()
        for cats, conts, y in train_dl:
            for group in opt.param_groups:
                group["lr"] = float(lr_sched(step / total))
                group["betas"] = (float(mom_sched(step / total)), group["betas"][1])
            loss = loss_func(model(cats, conts), y)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            step += 1
        model.eval()
        preds, targs = [], []
        with torch.no_grad():
            for cats, conts, y in valid_dl:
                preds.append(model(cats, conts))
                targs.append(y)
        preds, targs = torch.cat(preds), torch.cat(targs)
        valid_loss, acc = loss_func(preds, targs).item(), accuracy(preds, targs)
    return {"seconds": time.perf_counter() - start, "valid_loss": valid_loss, "accuracy": acc}


def with_rung(data: TabularData, layers: list[int], epochs: int, bs: int, lr: float) -> dict:
    """The same training through the Learner (as rung.tabular.fit.fit_nn runs it)."""
    train_dl, valid_dl = loaders(data, bs)
    learn = Learner(
        make_model(data, layers), (train_dl, valid_dl), nn.CrossEntropyLoss(),
        metrics=[accuracy], mixed_precision="no", progress=False,
    )  # fmt: skip
    start = time.perf_counter()
    learn.fit_one_cycle(epochs, lr)
    seconds = time.perf_counter() - start
    last = learn.recorder.values[-1]
    return {"seconds": seconds, "valid_loss": last["valid_loss"], "accuracy": last["accuracy"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", choices=["titanic", "synthetic"], default="titanic")
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the synthetic table")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--lr", type=float, default=0.03)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    data = load_table(args.table, args.rows)
    if args.table == "titanic":
        layers, bs, epochs = [10, 10], 64, args.epochs or 16
    else:
        layers, bs, epochs = [200, 100], 512, args.epochs or 3
    hand_written(data, layers, 1, bs, args.lr)  # warm up both paths
    with_rung(data, layers, 1, bs, args.lr)
    base, ours = [], []
    for _ in range(args.repeats):  # interleaved, so drift on a shared machine hits both alike
        base.append(hand_written(data, layers, epochs, bs, args.lr))
        ours.append(with_rung(data, layers, epochs, bs, args.lr))
    best_base = min(r["seconds"] for r in base)
    best_ours = min(r["seconds"] for r in ours)
    result = {
        "table": args.table,
        "train_rows": len(data.split.train),
        "batches_per_epoch": len(loaders(data, bs)[0]),
        "epochs": epochs,
        "layers": layers,
        "hand_written_s": round(best_base, 4),
        "rung_s": round(best_ours, 4),
        "ratio": round(best_ours / best_base, 3),
        "hand_written_accuracy": round(base[-1]["accuracy"], 4),
        "rung_accuracy": round(ours[-1]["accuracy"], 4),
        "same_result": abs(base[-1]["valid_loss"] - ours[-1]["valid_loss"]) < 1e-4,
        "torch_threads": args.threads,
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
