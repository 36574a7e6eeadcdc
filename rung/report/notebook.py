"""Rich display in Jupyter: the HTML a result shows as (its ``_repr_html_``).

A run result in a notebook cell shows its metrics as a table, its summary, a table (a
leaderboard) and its plots, embedded as PNGs so the notebook keeps them. The result classes
of the apps call :func:`result_html` from a one-line ``_repr_html_``. All text is escaped.

>>> html = result_html("Image run", {"accuracy": 0.93}, "Fine-tuned resnet18 <on cats>")
>>> "<td class=\\"num\\">0.9300</td>" in html, "&lt;on cats&gt;" in html
(True, True)
"""

from __future__ import annotations

import base64
import html
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rung.report import page

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["result_html", "MAX_IMAGES", "MAX_IMAGE_BYTES"]

MAX_IMAGES = 6  # plots shown at most (the rest are in the run folder)
MAX_IMAGE_BYTES = 5_000_000  # a bigger PNG is named, not embedded
_PNG = b"\x89PNG\r\n\x1a\n"


def result_html(
    title: str,
    metrics: Mapping[str, Any],
    summary: str = "",
    images: Iterable[str | os.PathLike] = (),
    table: pd.DataFrame | None = None,
) -> str:
    """An HTML fragment for a notebook: ``title``, the ``metrics`` table, the ``summary``
    text, a ``table`` (e.g. a leaderboard) and up to :data:`MAX_IMAGES` PNG ``images``
    (other files are left out).

    >>> import pandas as pd
    >>> board = pd.DataFrame({"model": ["<rf>"], "accuracy": [0.8]})
    >>> "&lt;rf&gt;" in result_html("Table run", {}, table=board)
    True
    """
    e = html.escape
    out = [f'<div class="rung-result"><h3>{e(title)}</h3>']
    if metrics:
        rows = [[str(k), page.number(v)] for k, v in metrics.items()]
        out.append(page.html_table(["metric", "validation"], rows))
    if summary:
        out.append(f'<pre style="white-space: pre-wrap">{e(summary)}</pre>')
    if table is not None and not table.empty:
        header = [str(c) for c in table.columns]
        rows = [[page.number(_plain(v)) for v in row] for row in table.itertuples(index=False)]
        out.append(page.html_table(header, rows))
    pngs = [Path(p) for p in images if str(p).lower().endswith(".png")]
    figures = [_img(p) for p in pngs[:MAX_IMAGES]]
    if figures:
        out.append('<div style="display: flex; flex-wrap: wrap; gap: 8px">')
        out += [f for f in figures if f] + ["</div>"]
    if len(pngs) > MAX_IMAGES:
        out.append(f"<p>{len(pngs) - MAX_IMAGES} more plots in the run folder.</p>")
    out.append("</div>")
    return "\n".join(out)


def _img(path: Path) -> str:
    e = html.escape
    try:
        if path.stat().st_size > MAX_IMAGE_BYTES:
            return f"<p>{e(path.name)}: {page.size(path.stat().st_size)}, not embedded</p>"
        data = path.read_bytes()
    except OSError:
        return ""
    if not data.startswith(_PNG):
        return ""
    src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return (
        f'<figure style="margin: 0"><img src="{src}" alt="{e(path.stem)}" '
        f'style="max-width: 420px"><figcaption>{e(path.stem)}</figcaption></figure>'
    )


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v
