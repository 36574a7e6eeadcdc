"""The apps' commands: ``rung train images|table``, ``interpret``, ``clean``, ``runs``, ``report``.

Each handler imports its app when it runs; building the parser imports nothing heavy.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

__all__ = ["add_app_commands"]


def add_app_commands(
    sub: argparse._SubParsersAction,
    common: Callable[[argparse.ArgumentParser], None],
    emit: Callable[..., None],
    command_error: type[Exception],
) -> None:
    """Add the apps' commands to the ``rung`` parser."""

    def train_images(args: argparse.Namespace) -> None:
        from rung.vision import train_images as run

        result = run(
            args.folder,
            arch=args.arch,
            size=args.size,
            epochs=args.epochs,
            lr=args.lr,
            valid_pct=args.valid_pct,
            seed=args.seed,
            resize=args.resize,
            batch_size=args.batch_size,
            out=args.out,
            progress=not args.json,
        )
        emit(args, result.to_dict(), result.summary())

    def train_table(args: argparse.Namespace) -> None:
        from rung.tabular_train import train_table as run

        result = run(
            args.csv,
            args.target,
            models=args.models.split(",") if args.models else "all",
            valid_pct=args.valid_pct,
            seed=args.seed,
            out=args.out,
            features=args.features,
            export=args.export,
            progress=not args.json,
        )
        emit(args, result.to_dict(), result.summary)

    p = sub.add_parser(
        "train",
        help="train a model: `rung train images DIR` or `rung train table CSV --target COL`",
    )
    kinds = p.add_subparsers(dest="kind", metavar="KIND", required=True)

    pi = kinds.add_parser("images", help="a folder of class folders (or train/ and valid/ folders)")
    pi.add_argument("folder", help="the image folder: one subfolder per class")
    pi.add_argument(
        "--arch", help="any timm architecture (default: the offline efficientnet-lite0)"
    )
    pi.add_argument("--size", type=int, help="image size in pixels (default: from the weights)")
    pi.add_argument("--epochs", type=int, help="epochs after the frozen one (default 3)")
    pi.add_argument("--lr", type=float, help="learning rate (default: lr_find's suggestion)")
    pi.add_argument(
        "--valid-pct", type=float, default=0.2, help="validation fraction without a valid/ folder"
    )
    pi.add_argument("--seed", type=int, default=42, help="random seed (split and training)")
    pi.add_argument(
        "--resize",
        choices=["squish", "crop", "pad"],
        default="squish",
        help="how images become square",
    )
    pi.add_argument("--batch-size", type=int, help="batch size (default: fits the machine)")
    pi.add_argument("--out", default="runs", help="runs folder (default: runs)")
    common(pi)
    pi.set_defaults(func=train_images)

    pt = kinds.add_parser("table", help="a CSV table and the column to predict")
    pt.add_argument("csv", help="the training CSV")
    pt.add_argument("--target", required=True, help="the column to predict")
    pt.add_argument(
        "--models", help="comma-separated: linear,nn,rf,gbm,nn_ensemble,blend (default: all)"
    )
    pt.add_argument(
        "--features",
        choices=["titanic"],
        help="add a known feature recipe (the course's Titanic features)",
    )
    pt.add_argument(
        "--export", default="best", help="which model to export: best (default) or a model name"
    )
    pt.add_argument("--valid-pct", type=float, default=0.2, help="validation fraction (seeded)")
    pt.add_argument("--seed", type=int, default=42, help="random seed (split and training)")
    pt.add_argument("--out", default="runs", help="runs folder (default: runs)")
    common(pt)
    pt.set_defaults(func=train_table)

    def interpret(args: argparse.Namespace) -> None:
        import json

        from rung.report import resolve_run

        run = resolve_run(args.run, root=args.root)
        app = json.loads((run / "config.json").read_text()).get("app")
        if app == "tabular":
            import csv

            rows = {}
            for name in ("importance", "permutation_importance"):
                path = run / f"{name}.csv"
                if path.is_file():
                    with open(path, newline="") as f:
                        rows[name] = list(csv.DictReader(f))
            lines = [
                f"{run}: columns by importance (plots: importance.png, partial_dependence.png)"
            ]
            for name, table in rows.items():
                lines.append(f"{name}: " + ", ".join(next(iter(r.values())) for r in table[:8]))
            emit(args, {"run": str(run), **rows}, "\n".join(lines))
            return
        from rung.vision import interpret_run

        summary = interpret_run(run, out=args.out, k=args.k, data=args.data)
        text = [
            f"accuracy {summary.get('accuracy', float('nan')):.4f} on {summary.get('n_items', '?')} validation images"
        ]
        text += [f"  {a} taken for {p}: {n}" for a, p, n in summary.get("most_confused", [])[:10]]
        text += [f"  {k}: {v}" for k, v in summary.get("files", {}).items()]
        emit(args, summary, "\n".join(text))

    def clean(args: argparse.Namespace) -> None:
        from rung.clean import clean_run, undo

        if args.undo:
            report = undo(args.run, everything=args.all)
            lines = [f"moved back {len(report.moved)} file(s)", *report.problems]
            emit(args, report.to_dict(), "\n".join(lines))
            return
        from rung.report import resolve_run

        result = clean_run(
            resolve_run(args.run, root=args.root), apply=args.apply, interactive=args.interactive, data=args.data,
            say=(lambda m: None) if args.json else print,
        )  # fmt: skip
        emit(args, result, None)

    p = sub.add_parser(
        "interpret", help="where a model is wrong: confusion matrix, top losses, importance"
    )
    p.add_argument("run", nargs="?", default="latest", help="a run folder or 'latest' (default)")
    p.add_argument("--root", default="runs", help="runs folder (default: runs)")
    p.add_argument("--out", help="write the plots here instead of the run folder")
    p.add_argument("--k", type=int, default=9, help="how many top losses to show")
    p.add_argument("--data", help="the image folder, if it moved since training")
    common(p)
    p.set_defaults(func=interpret)

    p = sub.add_parser(
        "clean", help="review suspect images: relabel or move aside (never delete), with undo"
    )
    p.add_argument(
        "run",
        nargs="?",
        default="latest",
        help="a run folder or 'latest'; with --undo, the data folder",
    )
    p.add_argument("--root", default="runs", help="runs folder (default: runs)")
    p.add_argument(
        "--apply", help="a suspects CSV with an action per row: keep, relabel:<class> or aside"
    )
    p.add_argument("--interactive", action="store_true", help="ask about each suspect")
    p.add_argument("--data", help="the image folder, if it moved since training")
    p.add_argument("--undo", action="store_true", help="move files back (the last session's moves)")
    p.add_argument("--all", action="store_true", help="with --undo: every move not yet undone")
    common(p)
    p.set_defaults(func=clean)

    def runs(args: argparse.Namespace) -> None:
        from rung.report import compare_runs, format_runs, list_runs

        if args.compare:
            text = compare_runs(args.root, args.compare)
            emit(args, {"compare": args.compare, "table": text}, text)
            return
        rows = list_runs(args.root)
        text = (
            format_runs(rows) if rows else f"no runs in {args.root} yet: `rung train ...` makes one"
        )
        emit(args, {"runs": rows}, text)

    def report(args: argparse.Namespace) -> None:
        from rung.report import resolve_run, write_writeup

        run = resolve_run(args.run, root=args.root)
        paths = write_writeup(run)
        emit(
            args, {k: str(v) for k, v in paths.items()}, f"wrote {paths['html']} and {paths['md']}"
        )

    p = sub.add_parser("runs", help="list (or compare) the training runs in the runs folder")
    p.add_argument("--root", default="runs", help="runs folder (default: runs)")
    p.add_argument("--compare", nargs="+", metavar="RUN", help="compare these runs side by side")
    common(p)
    p.set_defaults(func=runs)

    p = sub.add_parser("report", help="(re)write a run's writeup: report.html and report.md")
    p.add_argument("run", nargs="?", default="latest", help="a run folder or 'latest' (default)")
    p.add_argument("--root", default="runs", help="runs folder (default: runs)")
    common(p)
    p.set_defaults(func=report)
