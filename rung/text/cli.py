"""The text app's commands: ``rung train text``, and what ``rung interpret`` shows for a text run
(the validation inputs with the largest losses, as text; predicted against actual).

Each handler imports the app when it runs; adding the commands imports nothing heavy.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rung.commands import add_common_flags, emit

__all__ = ["add_commands", "interpret"]


def add_commands(commands: argparse._SubParsersAction, train: argparse._SubParsersAction) -> None:
    """Add ``train text`` to ``train``'s kinds (the text app has no command of its own)."""
    p = train.add_parser("text", help="a CSV of texts and the label or score to predict")
    p.add_argument("csv", help="the training CSV")
    p.add_argument(
        "--text", required=True,
        help="text columns joined into one input, e.g. anchor,target,context "
        "(MARK=col sets a marker: TEXT1=context,TEXT2=target,ANC1=anchor)",
    )  # fmt: skip
    p.add_argument("--target", required=True, help="the label or score column")
    p.add_argument(
        "--task",
        choices=["classification", "multilabel", "regression"],
        help="default: from the target (multilabel when --label-delim is given)",
    )
    p.add_argument(
        "--label-delim",
        help="several labels per row: the character between them in --target (e.g. ';' for "
        "'A;related'); multilabel's default is ';'",
    )
    p.add_argument(
        "--split", default="random",
        help="random (default), group:COL (no COL value in both sets, e.g. group:anchor) "
        "or column:COL (rows marked true are validation)",
    )  # fmt: skip
    p.add_argument("--valid-pct", type=float, default=0.25, help="validation fraction (0.25)")
    p.add_argument("--seed", type=int, default=42, help="random seed (split and training)")
    p.add_argument(
        "--model",
        help="a model folder or Hugging Face hub name (default: offline all-MiniLM-L6-v2)",
    )
    p.add_argument("--epochs", type=int, default=4, help="epochs (default 4, as lesson 4)")
    p.add_argument("--lr", default="1e-4", help="learning rate, or 'find' (default 1e-4)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    p.add_argument(
        "--freeze-epochs", type=int, default=0,
        help="epochs on the new head alone first, then discriminative LRs (default 0)",
    )  # fmt: skip
    p.add_argument("--accumulate", type=int, default=1, help="step every N batches (default 1)")
    p.add_argument("--max-len", type=int, help="tokens per input (default: from the data)")
    p.add_argument("--encoding", help="the CSV's text encoding (default utf-8), e.g. latin-1")
    p.add_argument("--out", default="runs", help="runs folder (default: runs)")
    add_common_flags(p)
    p.set_defaults(func=train_text)


def _lr(value: str) -> float | str:
    if value == "find":
        return value
    try:
        return float(value)
    except ValueError:
        raise ValueError(
            f"--lr must be a number or 'find', got {value!r}; e.g. --lr 1e-4."
        ) from None


def train_text(args: argparse.Namespace) -> None:
    from rung.text.train import train_text as run

    result = run(
        args.csv, args.text, args.target, task=args.task, label_delim=args.label_delim,
        split=args.split,
        valid_pct=args.valid_pct, seed=args.seed, model=args.model, epochs=args.epochs,
        lr=_lr(args.lr), batch_size=args.batch_size, freeze_epochs=args.freeze_epochs,
        accumulate=args.accumulate,
        max_len=args.max_len, encoding=args.encoding, out=args.out, progress=not args.json,
        say=None if args.json else print,
    )  # fmt: skip
    emit(args, result.to_dict(), result.summary())


def interpret(run: Path, args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """``rung interpret`` for a text run: the top losses with their texts, and the plots
    (predicted vs actual, or the confusion matrix) written again into ``--out`` or the run."""
    from rung.text.interpret import TextInterpretation

    interp = TextInterpretation.from_run(run)
    files = interp.save(Path(args.out) if args.out else run, k=args.k)
    summary = interp.summary(args.k)
    summary["files"] = {name: str(p) for name, p in files.items()}
    main, shown = {"regression": ("pearson", "Pearson"),
                   "multilabel": ("accuracy_multi", "accuracy_multi")}.get(
        interp.task, ("accuracy", "accuracy"))  # fmt: skip
    figure = f"{shown} {summary[main]:.4f}"
    lines = [f"{figure} on {summary['n_items']} validation rows; the largest losses:"]
    for row in summary["top_losses"]:
        text = row["input"] if len(row["input"]) <= 100 else row["input"][:97] + "..."
        lines.append(f"  actual {row['actual']}, predicted {_short(row['predicted'])}: {text}")
    lines += [f"  {k}: {v}" for k, v in summary["files"].items()]
    return summary, "\n".join(lines)


def _short(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)
