"""What every ``rung`` command shares, so each app can add its own commands: the ``--json`` and
``--debug`` flags, printing a result, and the one-line error a command raises.

Only the standard library: building the parser must stay fast.

>>> import argparse
>>> parser = argparse.ArgumentParser()
>>> add_common_flags(parser)
>>> args = parser.parse_args(["--json"])
>>> emit(args, {"accuracy": 0.98}, "accuracy 0.98")
{"accuracy": 0.98}
"""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["CommandError", "add_common_flags", "emit"]


class CommandError(Exception):
    """An error a command reports as one line (the message says what to do)."""


def add_common_flags(parser: argparse.ArgumentParser) -> None:
    """Add ``--json`` and ``--debug``, which every command takes."""
    parser.add_argument(
        "--json", action="store_true", help="print the result as one JSON object on stdout"
    )
    parser.add_argument("--debug", action="store_true", help="show the full traceback on errors")


def emit(args: argparse.Namespace, result: dict[str, Any], text: str | None = None) -> None:
    """Print ``result`` as JSON with ``--json``, else ``text`` (nothing when it is None)."""
    if args.json:
        print(json.dumps(result, default=str))
    elif text is not None:
        print(text)
