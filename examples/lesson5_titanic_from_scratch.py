"""Lesson 5: a linear model and neural nets from scratch on Titanic, next to torch.nn and rung.

The course's preprocessing and split, five models trained by hand-written SGD, and the same
five as torch.nn modules trained by torch.optim.SGD from the same numbers. Then the course's
framework version: rung's tabular net with the course's features (LogFare, Deck, Family,
Alone, TicketFreq, Title), its learning rate from lr_find, and an ensemble of 5 nets, on the
same validation rows.

    python examples/lesson5_titanic_from_scratch.py --data ../shared/data/titanic --out runs/lesson5
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from rung.data.splitters import random_split
from rung.scratch import (
    COURSE_NETS,
    accuracy,
    course_split,
    lesson5_tensors,
    plot_losses,
    torch_module,
    train_net,
    train_torch,
)

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=ROOT.parent / "shared" / "data" / "titanic",
        help="folder with Kaggle's Titanic train.csv",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("runs/lesson5"), help="folder for the PNGs"
    )
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    data = lesson5_tensors(args.data)
    print(f"features: {', '.join(data.columns)}")
    print(f"train {tuple(data.train_x.shape)}, valid {tuple(data.valid_x.shape)}")
    train, valid = course_split(891)
    library = random_split(891, valid_pct=0.2, seed=42)
    same = (library.valid == valid).all() and (library.train == train).all()
    print(f"course split == rung.data.splitters.random_split: {bool(same)}")

    print(
        f"\n{'model':<16} {'lr':>5} {'epochs':>6} {'loss':>7} {'scratch':>8} {'torch.nn':>9} {'course':>7}"
    )
    for name, net in COURSE_NETS.items():
        init = net.init(data.train_x.shape[1], torch.Generator().manual_seed(442))
        module = torch_module(name, init)  # the library version, from the same numbers
        trained = train_net(net, data.train_x, data.train_y, params=init)
        train_torch(module, data.train_x, data.train_y, lr=net.lr, epochs=net.epochs)
        with torch.no_grad():
            library_acc = accuracy(module(data.valid_x).reshape(-1), data.valid_y)
        scratch_acc = accuracy(trained.predict(data.valid_x), data.valid_y)
        print(
            f"{name:<16} {net.lr:>5g} {net.epochs:>6} {trained.losses[-1]:>7.4f} "
            f"{scratch_acc:>8.4f} {library_acc:>9.4f} {net.course_accuracy:>7.4f}"
        )
        plot_losses(trained.losses, title=f"{name}: training MAE", ylabel="MAE").savefig(
            args.out / f"{name}_loss.png"
        )
    print(f"\nloss plots in {args.out}/")

    # The framework version, as in the course's "linear model and neural net from scratch" end
    from rung.tabular.train import train_table

    run = train_table(
        args.data / "train.csv", "Survived", models=["nn", "nn_ensemble"], features="titanic",
        out=args.out / "runs", seed=42, explain=False,
    )  # fmt: skip
    print("\nrung (framework version, same 178 validation rows):")
    for row in run.leaderboard.itertuples():
        if row.model != "baseline":
            print(f"{row.model:<16} accuracy {row.accuracy:.4f}")
    print(run.note)  # which rows scored them, and whether the winner's margin is noise
    print(f"run folder: {run.run_dir}")


if __name__ == "__main__":
    main()
