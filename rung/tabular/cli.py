"""The table app's commands: ``rung train table``, and what ``rung interpret`` shows for a table
run.

Each handler imports the app when it runs; adding the commands imports nothing heavy.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any

from rung.commands import add_common_flags, emit

__all__ = ["add_commands", "interpret"]


def add_commands(commands: argparse._SubParsersAction, train: argparse._SubParsersAction) -> None:
    """Add ``train table`` to ``train``'s kinds (the table app has no command of its own yet)."""
    p = train.add_parser("table", help="a CSV table and the column to predict")
    p.add_argument("csv", help="the training CSV")
    p.add_argument("--target", required=True, help="the column to predict")
    p.add_argument(
        "--models",
        help="auto (default: linear,nn,rf,gbm,lgbm cross-validated, and their weighted "
        "ensemble), all, or comma-separated: linear,nn,rf,gbm,lgbm,nn_ensemble,blend",
    )
    p.add_argument(
        "--folds", type=int,
        help="cross-validation folds of the training rows (default: 5 for auto; 0 fits named "
        "models on the training rows and scores them on the validation rows)",
    )  # fmt: skip
    p.add_argument(
        "--features", choices=["titanic"],
        help="add a known feature recipe (the course's Titanic features)",
    )  # fmt: skip
    p.add_argument(
        "--export", default="best", help="which model to export: best (default) or a model name"
    )
    p.add_argument(
        "--budget", default="auto",
        help="time for the run: auto (5 minutes), e.g. 10m, 90s, or none; it cuts folds, "
        "models and the net's epochs to fit, and the writeup says what it cut",
    )  # fmt: skip
    p.add_argument("--valid-pct", type=float, default=0.2, help="validation fraction (seeded)")
    p.add_argument("--seed", type=int, default=42, help="random seed (split and training)")
    p.add_argument(
        "--task", choices=["classification", "regression"],
        help="what to predict (default: inferred from the target column)",
    )  # fmt: skip
    p.add_argument("--out", default="runs", help="runs folder (default: runs)")
    p.add_argument(
        "--encoding", help="the CSV's text encoding (default utf-8; e.g. latin-1, cp1252)"
    )
    p.add_argument("--sep", help="the CSV's separator (default ','; e.g. ';' or tab)")
    add_common_flags(p)
    p.set_defaults(func=train_table)


def train_table(args: argparse.Namespace) -> None:
    from rung.tabular.train import train_table as run

    result = run(
        args.csv, args.target, models=args.models if args.models is not None else "auto",
        folds=args.folds, valid_pct=args.valid_pct, seed=args.seed, out=args.out, features=args.features,
        export=args.export, progress=not args.json, encoding=args.encoding, sep=args.sep,
        data_options={"task": args.task} if args.task else None, budget=args.budget,
    )  # fmt: skip
    emit(args, result.to_dict(), result.summary)


def interpret(run: Path, args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """``rung interpret`` for a table run: the columns by importance, as the run measured them."""
    rows = {}
    for name in ("importance", "permutation_importance"):
        path = run / f"{name}.csv"
        if path.is_file():
            with open(path, newline="") as f:
                rows[name] = list(csv.DictReader(f))
    lines = [f"{run}: columns by importance (plots: importance.png, partial_dependence.png)"]
    for name, table in rows.items():
        lines.append(f"{name}: " + ", ".join(next(iter(r.values())) for r in table[:8]))
    return {"run": str(run), **rows}, "\n".join(lines)
