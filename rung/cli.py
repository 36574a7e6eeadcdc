"""The ``rung`` command: one verb per job.

Conventions every command follows:

- ``--json`` prints the result as one JSON object on stdout (nothing else goes to stdout);
- an error exits non-zero with one clear line on stderr, and no traceback unless ``--debug``;
- long work shows progress on stderr.

Only argparse and the standard library load at start-up; each command imports what it needs
when it runs, so ``rung --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser"]

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130


class CommandError(Exception):
    """An error a command reports as one line (the message says what to do)."""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", action="store_true", help="print the result as one JSON object on stdout"
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")


def _emit(args: argparse.Namespace, result: dict[str, Any], text: str | None = None) -> None:
    if args.json:
        print(json.dumps(result, default=str))
    elif text is not None:
        print(text)


# ---------------------------------------------------------------------------- commands
def cmd_demo(args: argparse.Namespace) -> None:
    from rung.demo import run_demo

    result = run_demo(out=Path(args.out), quick=args.quick, progress=not args.json)
    _emit(args, result, result.get("summary"))


def cmd_predict(args: argparse.Namespace) -> None:
    import rung

    predictor = rung.load(args.model)
    target = Path(args.input)
    if not target.exists():
        raise CommandError(
            f"{target} does not exist; give an image, a folder of images or a CSV file."
        )
    out = Path(args.out) if args.out else None
    if args.tta:
        if predictor.config.get("kind") != "image":
            raise CommandError("--tta (test-time augmentation) is for image models.")
        result = predictor.predict_for_cli(target, out=out, tta=True)
    else:
        result = predictor.predict_for_cli(target, out=out)
    _emit(args, result, result.get("summary"))


def cmd_info(args: argparse.Namespace) -> None:
    from rung.export import read_model_config

    config = read_model_config(args.model)
    if args.json:
        print(json.dumps(config, default=str))
        return
    shown = {k: v for k, v in config.items() if k not in ("preprocessing",)}
    for key, value in shown.items():
        print(f"{key:>16}: {json.dumps(value, default=str)[:200]}")


def cmd_search(args: argparse.Namespace) -> None:
    from rung.data.search import DDGSSource, SearchError, URLListSource, search_images

    source = (
        URLListSource(args.urls)
        if args.urls
        else DDGSSource(timeout=args.search_timeout, backend=args.backend)
    )
    try:
        summary = search_images(
            args.labels or None,
            args.dest,
            per_query=args.per_query,
            queries=tuple(args.query) if args.query else search_images.__defaults__[1],
            source=source,
            max_side=args.max_side,
            workers=args.workers,
            timeout=args.timeout,
            retries=args.retries,
            pause=args.pause,
            progress=not (args.no_progress or args.json),
        )
    except SearchError as e:
        raise CommandError(str(e)) from e
    _emit(args, summary.to_dict(), str(summary))


def cmd_scratch(args: argparse.Namespace) -> None:
    from rung.scratch.compare import format_comparison, titanic_comparison

    data = Path(args.data)
    if not (data / "train.csv").is_file():
        raise CommandError(f"no train.csv in {data}; pass --data with the Kaggle Titanic folder.")
    table = titanic_comparison(data)
    _emit(args, {"rows": table.to_dict(orient="records")}, format_comparison(table))


# ---------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command (no heavy imports)."""
    from rung import __version__

    parser = argparse.ArgumentParser(
        prog="rung",
        description="Practical deep learning: from your own data to a trained, checked, explained model.",
    )
    parser.add_argument("--version", action="version", version=f"rung {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "demo", help="the main job end to end on bundled data (digits as image folders)"
    )
    p.add_argument("--out", default="runs", help="runs folder (default: runs)")
    p.add_argument("--quick", action="store_true", help="a smaller, faster run (for smoke tests)")
    _common(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("predict", help="predict with a model file: an image, a folder or a CSV")
    p.add_argument("model", help="a .rung model file")
    p.add_argument("input", help="an image, a folder of images, or a CSV of rows")
    p.add_argument("--out", help="write predictions to this CSV (folders and CSV inputs)")
    p.add_argument(
        "--tta", action="store_true", help="images: average over the image and its mirror"
    )
    _common(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("info", help="show what a model file holds (task, classes, metrics...)")
    p.add_argument("model", help="a .rung model file")
    _common(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser(
        "search", help="build an image dataset from a web search (one folder per label)"
    )
    p.add_argument(
        "labels", nargs="*", help='labels, e.g. bird forest (searched as "bird photo", ...)'
    )
    p.add_argument("--dest", required=True, help="dataset folder; images go to DEST/<label>/")
    p.add_argument("--per-query", type=int, default=100, help="results per query (default 100)")
    p.add_argument(
        "--query",
        action="append",
        help='query template with {label}; repeatable (default: "{label} photo", ...)',
    )
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
    _common(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("scratch", help="the course's from-scratch models next to the library's")
    p.add_argument("dataset", choices=["titanic"], help="which comparison")
    p.add_argument(
        "--data", default="../shared/data/titanic", help="the Titanic folder (train.csv)"
    )
    _common(p)
    p.set_defaults(func=cmd_scratch)

    _register_app_commands(sub)
    return parser


def _register_app_commands(sub: argparse._SubParsersAction) -> None:
    """Commands of the apps (images, tables), each in its own module's ``add_commands``."""
    from rung.cli_apps import add_app_commands

    add_app_commands(sub, _common, _emit, CommandError)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rung`` command.

    >>> main(["--version"])  # doctest: +SKIP
    rung 0.1.0
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    func: Callable[[argparse.Namespace], None] = args.func
    try:
        func(args)
    except KeyboardInterrupt:
        print("rung: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # one clear line; the traceback only with --debug
        if args.debug or os.environ.get("RUNG_DEBUG"):
            raise
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"rung {args.command}: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
