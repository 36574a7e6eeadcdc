"""The plots of a run folder as a writeup shows them: found, ordered (the ones a person wants
first come first), captioned, and embedded in HTML as data URIs so the page needs no other file.

>>> import tempfile
>>> from pathlib import Path
>>> run = Path(tempfile.mkdtemp())
>>> _ = (run / "lr_find.png").write_bytes(PNG_SIGNATURE + bytes(16))
>>> [(p.path.name, p.caption, p.key) for p in find_plots(run)]
[('lr_find.png', 'Learning-rate finder', 'lr_find')]
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Plot", "PNG_SIGNATURE", "KNOWN_PLOTS", "find_plots", "plot_caption", "html_figure"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_PNG_BYTES = 20_000_000  # a plot larger than this is not embedded
# Plots a person wants first, in this order: (file stem, caption, what to look for).
KNOWN_PLOTS = (
    ("loss", "Loss", "Training loss per batch and validation loss per epoch, over every fit: "
     "both should fall. A validation loss that rises while the training loss falls means "
     "over-fitting."),
    ("lr_find", "Learning-rate finder", "Loss against learning rate (log scale): a good rate "
     "is where the loss still falls steeply, well before its minimum."),
    ("confusion_matrix", "Confusion matrix", "Actual against predicted class; every count off "
     "the diagonal is a mistake."),
    ("top_losses", "Top losses", "The validation items the model got most wrong, or right with "
     "least confidence: often mislabelled or unusual data worth a look."),
    ("show_batch", "Show batch", "A batch of training data as the model sees it, with labels."),
    ("importance", "Feature importance", "How much each column matters to the predictions."),
    ("partial_dependence", "Partial dependence", "How the prediction moves with one column, "
     "the other columns kept as they are."),
)  # fmt: skip


@dataclass(frozen=True)
class Plot:
    """A PNG of the run folder: its path, caption, hint (what to look for) and ``key``, the
    known plot it is (``"loss"``, ``"lr_find"``, ...) or ``""``."""

    path: Path
    caption: str
    hint: str
    key: str


def find_plots(run: Path) -> list[Plot]:
    """The PNGs in the run folder (and its plots/), the known ones first, in their order."""
    files = sorted(run.glob("*.png")) + sorted(run.glob("plots/*.png"))

    def rank(path: Path) -> tuple[int, str]:
        for i, (key, _, _) in enumerate(KNOWN_PLOTS):
            if re.search(rf"(^|[_-]){key}($|[_-])", path.stem):
                return i, path.name
        return len(KNOWN_PLOTS), path.name

    out = []
    for path in sorted((f for f in files if f.is_file()), key=rank):
        i = rank(path)[0]
        key, _, hint = KNOWN_PLOTS[i] if i < len(KNOWN_PLOTS) else ("", "", "")
        key = key if path.stem == key else ""  # "loss" only for loss.png itself
        out.append(Plot(path, plot_caption(path.name), hint, key))
    return out


def plot_caption(filename: str) -> str:
    """The caption of a plot file, from its name; known plots get their usual name.

    >>> plot_caption("confusion_matrix.png"), plot_caption("partial_dependence_Age.png")
    ('Confusion matrix', 'Partial dependence: Age')
    >>> plot_caption("oob-score_by_trees.png")
    'Oob score by trees'
    """
    stem = Path(filename).stem
    for key, caption, _ in KNOWN_PLOTS:
        if stem == key:
            return caption
        if stem.startswith(key + "_") and len(stem) > len(key) + 1:
            return f"{caption}: {_words(stem[len(key) + 1 :])}"
    words = _words(stem)
    return words[:1].upper() + words[1:]


def html_figure(plot: Plot) -> str:
    """A figure with the PNG embedded as a data URI (its declared size as width and height),
    or a line saying why it can't be shown.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "notes.png"
    >>> _ = path.write_text("<b>not a picture</b>")
    >>> html_figure(Plot(path, "Notes", "", ""))
    '<figure><p class="hint">notes.png is not a PNG image.</p></figure>'
    """
    e = html.escape
    try:
        size_bytes = plot.path.stat().st_size
        if size_bytes > _MAX_PNG_BYTES:
            return (
                f'<figure><p class="hint">{e(plot.path.name)} is {size_bytes:,} bytes, over the '
                f"{_MAX_PNG_BYTES:,} a writeup embeds.</p></figure>"
            )
        data = plot.path.read_bytes()
    except OSError as err:
        return f'<figure><p class="hint">{e(plot.path.name)} could not be read: {e(str(err))}</p></figure>'
    if not data.startswith(PNG_SIGNATURE):
        return f'<figure><p class="hint">{e(plot.path.name)} is not a PNG image.</p></figure>'
    size = ""
    if len(data) >= 24:  # the IHDR chunk: width and height, big-endian, at bytes 16-24
        w, h = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
        size = f' width="{w}" height="{h}"'
    src = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    hint = f"<span>{e(plot.hint)}</span>" if plot.hint else ""
    return (
        f'<figure><img src="{src}" alt="{e(plot.caption)}"{size}>'
        f"<figcaption>{e(plot.caption)}{hint}</figcaption></figure>"
    )


def _words(stem: str) -> str:
    return re.sub(r"[\s_-]+", " ", stem).strip()
