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
import warnings
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path
from typing import Any

from rung.commands import CommandError, add_common_flags, emit

__all__ = ["main", "build_parser"]

EXIT_ERROR, EXIT_USAGE, EXIT_INTERRUPTED = 1, 2, 130

# Each app adds its commands from its own cli module; `rung interpret` asks the app that
# wrote a run (its config's "app") to show it.
APP_COMMANDS = ("rung.vision.cli", "rung.tabular.cli", "rung.text.cli", "rung.serve.cli")
INTERPRETERS = {"images": "rung.vision.cli", "tabular": "rung.tabular.cli", "text": "rung.text.cli"}


# ---------------------------------------------------------------------------- commands
def cmd_demo(args: argparse.Namespace) -> None:
    from rung.demo import run_demo

    result = run_demo(out=Path(args.out), quick=args.quick, progress=not args.json)
    emit(args, result, result.get("summary"))


def cmd_predict(args: argparse.Namespace) -> None:
    import rung

    target = Path(args.input)
    if not target.exists():
        raise CommandError(
            f"{target} does not exist; give an image, a folder of images or a CSV file."
        )
    out = predictions_path(target, args.out, force=args.force)
    predictor = rung.load(args.model)
    kind = predictor.config.get("kind")
    if args.tta:
        if kind != "image":
            raise CommandError("--tta (test-time augmentation) is for image models.")
        result = predictor.predict_for_cli(target, out=out, tta=True)
    elif args.encoding is not None:
        if kind not in ("text", "tabular"):
            raise CommandError("--encoding is for a CSV given to a text or table model.")
        if kind == "text":
            result = predictor.predict_for_cli(target, out=out, encoding=args.encoding)
        else:
            predictor.csv_encoding = args.encoding  # the reader the model uses for a CSV path
            result = predictor.predict_for_cli(target, out=out)
    else:
        result = predictor.predict_for_cli(target, out=out)
    if out is not None and args.out is None and out.name != f"{target.stem}_predictions.csv":
        result["summary"] += f" ({target.stem}_predictions.csv exists, so a new name was used)"
    emit(args, result, result.get("summary"))


def predictions_path(
    source: Path, out: str | None, force: bool = False, folder: Path | None = None
) -> Path | None:
    """Where ``rung predict`` writes its CSV: ``out`` when given, else ``<stem>_predictions.csv``
    in ``folder`` (the current one) for a CSV input; None otherwise (the result is printed).

    Nothing a user made is overwritten: ``out`` may never be the input itself, an existing
    ``out`` needs ``force``, and an existing default name gives way to ``<stem>_predictions-2.csv``.

    >>> import tempfile
    >>> here = Path(tempfile.mkdtemp()); test = here / "test.csv"; _ = test.write_text("x")
    >>> predictions_path(test, None, folder=here).name
    'test_predictions.csv'
    >>> _ = (here / "test_predictions.csv").write_text("my earlier predictions")
    >>> predictions_path(test, None, folder=here).name
    'test_predictions-2.csv'
    >>> predictions_path(test, str(test))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rung.commands.CommandError: --out ... is the input file; write the predictions to another file, e.g. --out test_predictions.csv
    """
    if out is not None:
        path = Path(out)
        if path.exists() and source.exists() and path.resolve() == source.resolve():
            raise CommandError(
                f"--out {out} is the input file; write the predictions to another file, "
                f"e.g. --out {source.stem}_predictions.csv"
            )
        if path.is_dir():
            raise CommandError(f"--out {out} is a folder; give a CSV file name.")
        if path.exists() and not force:
            raise CommandError(
                f"--out {out} exists; pass --force to replace it, or choose another file."
            )
        return path
    if not (source.is_file() and source.suffix.lower() in (".csv", ".tsv", ".txt")):
        return None
    folder = Path.cwd() if folder is None else folder
    path, n = folder / f"{source.stem}_predictions.csv", 1
    while path.exists():
        n += 1
        path = folder / f"{source.stem}_predictions-{n}.csv"
    return path


def cmd_info(args: argparse.Namespace) -> None:
    from rung.modelfile import read_model_config

    config = read_model_config(args.model)
    if args.json:
        print(json.dumps(config, default=str))
        return
    shown = {k: v for k, v in config.items() if k not in ("preprocessing",)}
    for key, value in shown.items():
        print(f"{key:>16}: {json.dumps(value, default=str)[:200]}")


def cmd_scratch(args: argparse.Namespace) -> None:
    from rung.scratch.compare import format_comparison, titanic_comparison

    data = Path(args.data)
    if not (data / "train.csv").is_file():
        raise CommandError(f"no train.csv in {data}; pass --data with the Kaggle Titanic folder.")
    table = titanic_comparison(data)
    emit(args, {"rows": table.to_dict(orient="records")}, format_comparison(table))


def cmd_interpret(args: argparse.Namespace) -> None:
    from rung.report import resolve_run

    run = resolve_run(args.run, root=args.root)
    app = json.loads((run / "config.json").read_text()).get("app")
    if app not in INTERPRETERS:
        raise CommandError(
            f"{run} was written by the app {app!r}; rung interprets runs of {sorted(INTERPRETERS)}."
        )
    result, text = import_module(INTERPRETERS[app]).interpret(run, args)
    emit(args, result, text)


def cmd_runs(args: argparse.Namespace) -> None:
    from rung.report import compare_runs, format_runs, list_runs

    if args.action == "compare" and not args.names:
        raise ValueError("name the runs to compare: rung runs compare RUN RUN (or latest).")
    compare = args.compare or (args.names if args.action == "compare" else None)
    if compare:
        text = compare_runs(args.root, compare)
        if args.out:
            from rung.report.compare import write_comparison

            text += f"\nwritten: {write_comparison(args.root, compare, args.out)}"
        emit(args, {"compare": compare, "table": text}, text)
        return
    rows = list_runs(args.root)
    text = format_runs(rows) if rows else f"no runs in {args.root} yet: `rung train ...` makes one"
    emit(args, {"runs": rows}, text)


def cmd_publish(args: argparse.Namespace) -> None:
    from rung.report.publish import INDEX_PAGE, publish

    site = publish(args.runs, args.out)
    emit(args, {"site": str(site), "pages": len(args.runs)}, f"site written: {site / INDEX_PAGE}")


def cmd_explore(args: argparse.Namespace) -> None:
    from rung.report.explore import explore

    if args.quiz and args.json:
        raise CommandError("--quiz asks and answers on the terminal; drop --json to take it.")
    ex = explore(args.csv, target=args.target, out=args.out)
    if args.quiz:
        from rung.report.explore_quiz import quiz

        quiz(ex, None if sys.stdin is None or sys.stdin.closed else sys.stdin, sys.stdout)
    result = {
        "plots": [{"column": p.column, "kind": p.kind, "reason": p.reason, "code": p.code,
                   "png": str(p.png)} for p in ex.plots],
        "skipped": [{"column": c, "reason": r} for c, r in ex.skipped],
        "notes": ex.notes,
        **{k: str(v) for k, v in ex.files.items()},
    }  # fmt: skip
    lines = [] if args.quiz else [f"{p.column}: {p.kind} ({p.reason})" for p in ex.plots]
    lines += [] if args.quiz else [f"{c}: not plotted ({r})" for c, r in ex.skipped]
    lines += ex.notes
    emit(args, result, "\n".join([*lines, f"wrote {ex.files['html']} and {ex.files['md']}"]))


def cmd_doctor(args: argparse.Namespace) -> int:
    from rung.report.doctor import ERROR

    diagnosis = _diagnose(args)
    files = diagnosis.write(args.out) if args.out else {}
    result = {**diagnosis.to_dict(), **{k: str(v) for k, v in files.items()}}
    wrote = [f"wrote {files['md']} and {files['json']}"] if files else []
    emit(args, result, "\n".join([diagnosis.format(), *wrote]))
    return EXIT_ERROR if diagnosis.worst == ERROR else 0


def _diagnose(args: argparse.Namespace):
    """The diagnosis of what ``rung doctor PATH`` names: a run, a CSV (of texts) or images."""
    from rung.report.run_folder import is_run_dir, resolve_run

    path = Path(args.path)
    if Path(args.path).name == "latest" or is_run_dir(path):
        if args.target or args.text or args.test:
            raise CommandError("--target, --text and --test are for a CSV; a run needs none.")
        from rung.report.run_checks import diagnose_run

        return diagnose_run(resolve_run(args.path, args.root))
    if not path.exists():
        raise CommandError(
            f"no file or folder at {args.path!r}; give a CSV, a folder of images, a run folder "
            "or 'latest'."
        )
    if path.is_dir():
        if args.target or args.text or args.test:
            raise CommandError("--target, --text and --test are for a CSV, not a folder.")
        out = Path(args.out).resolve() if args.out else None
        if out is not None and out.is_relative_to(path.resolve()):
            raise CommandError(f"--out {args.out} is inside the image folder; write it elsewhere.")
        from rung.vision.doctor import diagnose_images

        return diagnose_images(path, out=out)
    if args.text:
        from rung.text.doctor import diagnose_texts

        return diagnose_texts(path, args.text, args.target)
    from rung.tabular.doctor import diagnose_table

    return diagnose_table(path, args.target, test=args.test)


def cmd_report(args: argparse.Namespace) -> None:
    from rung.report import resolve_run, write_writeup

    paths = write_writeup(resolve_run(args.run, root=args.root))
    emit(args, {k: str(v) for k, v in paths.items()}, f"wrote {paths['html']} and {paths['md']}")


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
    add_common_flags(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("predict", help="predict with a model file: an image, a folder or a CSV")
    p.add_argument("model", help="a .rung model file")
    p.add_argument("input", help="an image, a folder of images, or a CSV of rows")
    p.add_argument(
        "--out",
        help="write predictions to this CSV (default for a CSV input: <name>_predictions.csv "
        "here; never the input, never an existing file without --force)",
    )
    p.add_argument("--force", action="store_true", help="replace an existing --out file")
    p.add_argument(
        "--tta", action="store_true", help="images: average over the image and its mirror"
    )
    p.add_argument(
        "--encoding",
        help="a CSV's text encoding for a text or table model, e.g. latin-1 (default: UTF-8 "
        "for text, the training CSV's for tables)",
    )
    add_common_flags(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("info", help="show what a model file holds (task, classes, metrics...)")
    p.add_argument("model", help="a .rung model file")
    add_common_flags(p)
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("scratch", help="the course's from-scratch models next to the library's")
    p.add_argument("dataset", choices=["titanic"], help="which comparison")
    p.add_argument(
        "--data", default="../shared/data/titanic", help="the Titanic folder (train.csv)"
    )
    add_common_flags(p)
    p.set_defaults(func=cmd_scratch)

    p = sub.add_parser(
        "explore", help="a first look at a CSV: a plot per column, with the code that drew it"
    )
    p.add_argument("csv", help="a CSV file (read, never written)")
    p.add_argument("--target", help="the column to predict: the others are plotted against it")
    p.add_argument("--out", help="the report's folder (default: explore/<name> here)")
    p.add_argument(
        "--quiz", action="store_true", help="for each column, ask which plot fits, then reveal"
    )
    add_common_flags(p)
    p.set_defaults(func=cmd_explore)

    train = sub.add_parser(
        "train",
        help="train a model: `rung train images DIR` or `rung train table CSV --target COL`",
    )
    train_kinds = train.add_subparsers(dest="kind", metavar="KIND", required=True)
    for module in APP_COMMANDS:
        import_module(module).add_commands(sub, train_kinds)
    _add_run_commands(sub)
    return parser


def _add_run_commands(sub: argparse._SubParsersAction) -> None:
    """The commands about run folders, whichever app wrote them."""
    p = sub.add_parser(
        "interpret", help="where a model is wrong: confusion matrix, top losses, importance"
    )
    p.add_argument("run", nargs="?", default="latest", help="a run folder or 'latest' (default)")
    p.add_argument("--root", default="runs", help="runs folder (default: runs)")
    p.add_argument("--out", help="write the plots here instead of the run folder")
    p.add_argument("--k", type=int, default=9, help="how many top losses to show")
    p.add_argument("--data", help="the image folder, if it moved since training")
    add_common_flags(p)
    p.set_defaults(func=cmd_interpret)

    p = sub.add_parser("runs", help="list (or compare) the training runs in the runs folder")
    p.add_argument("--root", default="runs", help="runs folder (default: runs)")
    p.add_argument("--compare", nargs="+", metavar="RUN", help="compare these runs side by side")
    p.add_argument("action", nargs="?", choices=["compare"], help="compare RUN RUN ...")
    p.add_argument("names", nargs="*", metavar="RUN", help="the runs to compare")
    p.add_argument("--out", help="compare: also write compare.html (curves overlaid) here")
    add_common_flags(p)
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("publish", help="a static site of run writeups (for GitHub Pages)")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run folders (or explorations)")
    p.add_argument("--out", default="site", help="the site's folder (default: site)")
    add_common_flags(p)
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser(
        "doctor",
        help="check data or a run before trusting it: leakage, imbalance, over-fitting, ...",
        description="Check a CSV (--target; --text COLS for texts), a folder of images, or a "
        "run folder ('latest') for what would make a model look better or worse than it is. "
        "Exit status: 0 when no finding is an error, 1 when one is (or on bad input).",
    )
    p.add_argument("path", help="a CSV, a folder of images, a run folder, or 'latest'")
    p.add_argument("--target", help="a CSV's column to predict (its checks need it)")
    p.add_argument("--text", help="a CSV's text columns, as `rung train text --text` takes them")
    p.add_argument("--test", help="the test CSV predictions will be made on (drift check)")
    p.add_argument("--root", default="runs", help="runs folder, for 'latest' (default: runs)")
    p.add_argument("--out", help="write doctor.md and doctor.json here (default: print only)")
    add_common_flags(p)
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser("report", help="(re)write a run's writeup: report.html and report.md")
    p.add_argument("run", nargs="?", default="latest", help="a run folder or 'latest' (default)")
    p.add_argument("--root", default="runs", help="runs folder (default: runs)")
    add_common_flags(p)
    p.set_defaults(func=cmd_report)


def _one_line_warning(message: Warning | str, category: type, *args: Any, **kwargs: Any) -> None:
    print(f"rung: warning: {str(message).strip().splitlines()[0]}", file=sys.stderr)


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
    func: Callable[[argparse.Namespace], int | None] = args.func
    debug = args.debug or bool(os.environ.get("RUNG_DEBUG"))
    try:
        with warnings.catch_warnings():
            if not debug:  # a warning is one line too, like an error
                warnings.showwarning = _one_line_warning
            status = func(args)  # None, or an exit status (rung doctor: 1 on an error)
    except KeyboardInterrupt:
        print("rung: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # one clear line; the traceback only with --debug
        if debug:
            raise
        message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"rung {args.command}: error: {message}", file=sys.stderr)
        return EXIT_ERROR
    return status or 0


if __name__ == "__main__":
    sys.exit(main())
