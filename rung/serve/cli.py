"""The serve face's commands: ``rung serve MODEL`` and ``rung deploy space MODEL --out DIR``.

Adding the commands imports nothing heavy; each handler imports what it runs.
"""

from __future__ import annotations

import argparse
import sys

from rung.commands import CommandError, add_common_flags, emit

__all__ = ["add_commands"]


def add_commands(commands: argparse._SubParsersAction, train: argparse._SubParsersAction) -> None:
    """Add ``serve`` and ``deploy`` (``train`` kinds: none)."""
    p = commands.add_parser(
        "serve", help="a web page and a JSON API for a model file (this machine by default)"
    )
    p.add_argument("model", help="a .rung model file")
    p.add_argument(
        "--host", default="127.0.0.1",
        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: everyone)",
    )  # fmt: skip
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--examples", help="a folder of example photos to show (image models)")
    p.add_argument("--page", help="an HTML file to serve at /index.html (deploy space --static)")
    p.add_argument(
        "--allow-origin", action="append", default=[], metavar="URL",
        help="a site whose pages may call the API from a browser (CORS); repeat for more",
    )  # fmt: skip
    _add_limits(p)
    add_common_flags(p)
    p.set_defaults(func=cmd_serve)

    deploy = commands.add_parser("deploy", help="package a model file to run elsewhere")
    targets = deploy.add_subparsers(dest="target", metavar="TARGET", required=True)
    p = targets.add_parser("space", help="a folder to push to a Hugging Face Space (gradio)")
    p.add_argument("model", help="a .rung model file")
    p.add_argument("--out", required=True, help="the folder to write (new or empty)")
    p.add_argument("--static", action="store_true", help="add index.html: a plain JS page")
    p.add_argument("--force", action="store_true", help="write into a folder that has files")
    p.add_argument("--title", help="the Space's title (default: the model's name)")
    p.add_argument("--examples", help="a folder of example photos to copy in (image models)")
    p.add_argument(
        "--requirement", help="how the Space installs rung (default rung[serve]==VERSION; "
        "a git URL or a wheel path work too)",
    )  # fmt: skip
    add_common_flags(p)
    p.set_defaults(func=cmd_deploy_space)


def _add_limits(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-batch", type=int, default=32, help="items in one forward pass (32)")
    p.add_argument(
        "--max-wait-ms", type=float, default=5.0,
        help="how long a request waits for others to share its forward pass (5 ms)",
    )  # fmt: skip
    p.add_argument(
        "--max-in-flight", type=int, default=64,
        help="requests served at once; the next ones get 503 (64)",
    )  # fmt: skip
    p.add_argument("--max-items", type=int, default=64, help="images or rows per request (64)")
    p.add_argument("--max-body-mb", type=float, default=20.0, help="request body cap in MB (20)")
    p.add_argument(
        "--max-pixels", type=float, default=36e6,
        help="an image's width x height cap, checked before decoding (36e6)",
    )  # fmt: skip


def limits_from_args(args: argparse.Namespace) -> object:
    """The :class:`~rung.serve.limits.Limits` of the flags; a bad one is a one-line error."""
    from rung.serve.limits import Limits

    if not 0 < args.max_body_mb <= 2048:
        raise CommandError(f"--max-body-mb must be in (0, 2048], got {args.max_body_mb}.")
    try:
        return Limits(
            max_body_bytes=int(args.max_body_mb * 2**20), max_pixels=int(args.max_pixels),
            max_items=args.max_items, max_in_flight=args.max_in_flight,
            max_batch=args.max_batch, max_wait_ms=args.max_wait_ms,
        )  # fmt: skip
    except ValueError as e:  # name the flag, not the field
        flag = "--" + str(e).split()[0].removeprefix("Limits.").replace("_", "-")
        raise CommandError(f"{flag}: {e}") from None


def cmd_serve(args: argparse.Namespace) -> None:
    from rung.serve.server import serve

    if not 0 < args.port < 65536:
        raise CommandError(f"--port must be 1-65535, got {args.port}; e.g. --port 7860.")
    limits = limits_from_args(args)
    where = f"http://{args.host}:{args.port}"
    print(f"rung serve: {args.model} at {where}/ (API: {where}/api/predict, "
          f"{where}/api/health); Ctrl-C stops", file=sys.stderr)  # fmt: skip
    serve(
        args.model, host=args.host, port=args.port, limits=limits, examples=args.examples,
        page=args.page, allow_origins=args.allow_origin,
    )  # fmt: skip


def cmd_deploy_space(args: argparse.Namespace) -> None:
    from rung.serve.deploy import write_space

    result = write_space(
        args.model, args.out, static=args.static, force=args.force, title=args.title,
        examples=args.examples, requirement=args.requirement,
    )  # fmt: skip
    emit(args, result, result["summary"])
