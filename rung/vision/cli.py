"""The image app's commands: ``rung train images``, ``rung search``, ``rung clean``, and what
``rung interpret`` shows for an image run.

Each handler imports the app when it runs; adding the commands imports nothing heavy.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rung.commands import CommandError, add_common_flags, emit

__all__ = ["add_commands", "interpret"]


def add_commands(commands: argparse._SubParsersAction, train: argparse._SubParsersAction) -> None:
    """Add ``train images`` (to ``train``'s kinds), ``search`` and ``clean`` (to ``commands``)."""
    p = train.add_parser("images", help="a folder of class folders (or train/ and valid/ folders)")
    p.add_argument("folder", help="the image folder: one subfolder per class")
    p.add_argument("--arch", help="any timm architecture (default: the offline efficientnet-lite0)")
    p.add_argument("--size", type=int, help="image size in pixels (default: from the weights)")
    p.add_argument("--epochs", type=int, help="epochs after the frozen one (default 3)")
    p.add_argument("--lr", type=float, help="learning rate (default: lr_find's suggestion)")
    p.add_argument(
        "--valid-pct", type=float, default=0.2, help="validation fraction without a valid/ folder"
    )
    p.add_argument("--seed", type=int, default=42, help="random seed (split and training)")
    p.add_argument(
        "--resize", choices=["squish", "crop", "pad"], default="squish",
        help="how images become square",
    )  # fmt: skip
    p.add_argument("--batch-size", type=int, help="batch size (default: fits the machine)")
    p.add_argument(
        "--budget", default="auto",
        help="time for the whole run, e.g. 3m, 90s, 1h or none: sizes and epochs are cut to fit "
        "(default: 3m on a CPU, 10m on a GPU)",
    )  # fmt: skip
    p.add_argument(
        "--no-progressive", action="store_true",
        help="train every epoch at the final size (default: small images first, full size last)",
    )  # fmt: skip
    p.add_argument("--out", default="runs", help="runs folder (default: runs)")
    add_common_flags(p)
    p.set_defaults(func=train_images)

    p = commands.add_parser(
        "search", help="build an image dataset from a web search (one folder per label)"
    )
    p.add_argument(
        "labels", nargs="*", help='labels, e.g. bird forest (searched as "bird photo", ...)'
    )
    p.add_argument("--dest", required=True, help="dataset folder; images go to DEST/<label>/")
    p.add_argument("--per-query", type=int, default=100, help="results per query (default 100)")
    p.add_argument(
        "--query", action="append",
        help='query template with {label}; repeatable (default: "{label} photo", ...)',
    )  # fmt: skip
    p.add_argument(
        "--urls", help="a URL list (.txt, label<TAB>url lines, or a CSV) instead of a web search"
    )
    p.add_argument("--backend", default="auto", help="ddgs backend: auto, bing, duckduckgo")
    p.add_argument(
        "--search-timeout", type=float, default=5, help="seconds for each search request"
    )
    p.add_argument(
        "--max-side", type=int, default=400, help="resize so the longest side is at most this"
    )
    p.add_argument("--workers", type=int, default=8, help="parallel downloads")
    p.add_argument("--timeout", type=float, default=10, help="seconds for each download")
    p.add_argument("--retries", type=int, default=3, help="retries on transient errors")
    p.add_argument(
        "--pause", type=float, default=None, help="seconds between searches (default: the source's)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress output")
    add_common_flags(p)
    p.set_defaults(func=search)

    p = commands.add_parser(
        "clean", help="review suspect images: relabel or move aside (never delete), with undo"
    )
    p.add_argument(
        "run", nargs="?", default="latest",
        help="a run folder or 'latest'; with --undo, the data folder",
    )  # fmt: skip
    p.add_argument("--root", default="runs", help="runs folder (default: runs)")
    p.add_argument(
        "--apply", help="a suspects CSV with an action per row: keep, relabel:<class> or aside"
    )
    p.add_argument("--interactive", action="store_true", help="ask about each suspect")
    p.add_argument("--data", help="the image folder, if it moved since training")
    p.add_argument("--undo", action="store_true", help="move files back (the last session's moves)")
    p.add_argument("--all", action="store_true", help="with --undo: every move not yet undone")
    add_common_flags(p)
    p.set_defaults(func=clean)


def train_images(args: argparse.Namespace) -> None:
    from rung.vision.train import train_images as run

    result = run(
        args.folder, arch=args.arch, size=args.size, epochs=args.epochs, lr=args.lr,
        valid_pct=args.valid_pct, seed=args.seed, resize=args.resize,
        batch_size=args.batch_size, out=args.out, progress=not args.json,
        budget=args.budget, progressive=not args.no_progressive,
    )  # fmt: skip
    emit(args, result.to_dict(), result.summary())


def search(args: argparse.Namespace) -> None:
    from rung.vision.search.images import DDGSSource, SearchError, URLListSource, search_images

    source = (
        URLListSource(args.urls)
        if args.urls
        else DDGSSource(timeout=args.search_timeout, backend=args.backend)
    )
    try:
        summary = search_images(
            args.labels or None, args.dest, per_query=args.per_query,
            queries=tuple(args.query) if args.query else search_images.__defaults__[1],
            source=source, max_side=args.max_side, workers=args.workers, timeout=args.timeout,
            retries=args.retries, pause=args.pause, progress=not (args.no_progress or args.json),
        )  # fmt: skip
    except SearchError as e:
        raise CommandError(str(e)) from e
    emit(args, summary.to_dict(), str(summary))


def clean(args: argparse.Namespace) -> None:
    from rung.vision.clean import clean_run
    from rung.vision.moves import undo

    if args.undo:
        if args.run == "latest":  # the default: a run, but undo works on a data folder
            raise CommandError(
                "--undo needs the data folder: rung clean DATA --undo (as the clean that moved "
                "the files printed)."
            )
        report = undo(args.run, everything=args.all)
        lines = [f"moved back {len(report.moved)} file(s)", *report.problems]
        emit(args, report.to_dict(), "\n".join(lines))
        return
    from rung.report import resolve_run

    result = clean_run(
        resolve_run(args.run, root=args.root), apply=args.apply, interactive=args.interactive,
        data=args.data, say=(lambda m: None) if args.json else print,
    )  # fmt: skip
    emit(args, result, None)


def interpret(run: Path, args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    """``rung interpret`` for an image run: confusion matrix, most confused, top losses."""
    from rung.vision.runs import interpret_run

    summary = interpret_run(run, out=args.out, k=args.k, data=args.data)
    accuracy = summary.get("accuracy", float("nan"))
    text = [f"accuracy {accuracy:.4f} on {summary.get('n_items', '?')} validation images"]
    text += [f"  {a} taken for {p}: {n}" for a, p, n in summary.get("most_confused", [])[:10]]
    text += [f"  {k}: {v}" for k, v in summary.get("files", {}).items()]
    return summary, "\n".join(text)
