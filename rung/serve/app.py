"""The web page: a gradio app built from the model file alone.

- images: drop, paste or take (webcam) a photo; example photos when given; the answer is the
  label with the class probabilities;
- tables: a form from the training schema: a number box per number column (the training median
  as a hint, and the range when the file records it), a dropdown of the training categories per
  categorical column, a box per column a feature set reads; only the columns the model needs;
- texts: one box per text column.

A regression model answers its value with the training targets' range. Every answer goes
through the same checks and batcher as ``/api/predict`` (a photo is checked from its header
before it is decoded), so the page and the API can't disagree.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rung.serve.batching import Batcher
from rung.serve.limits import ApiError, megabytes
from rung.serve.model import ServedModel

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home from a server
import gradio as gr  # noqa: E402  (after the setting above)

__all__ = ["build_ui", "example_images", "MAX_CHOICES", "MAX_EXAMPLES"]

MAX_CHOICES = 500  # a category with more training values gets a text box, not a dropdown
MAX_EXAMPLES = 24


def build_ui(served: ServedModel, batcher: Batcher, examples: Sequence[Path] = ()) -> gr.Blocks:
    """The gradio app for a served model; ``examples`` are image files shown under the input."""
    build = {"image": _image_ui, "tabular": _table_ui, "text": _text_ui}[served.kind]
    return build(served, batcher, list(examples))


def example_images(folder: str | os.PathLike | None) -> list[Path]:
    """Up to :data:`MAX_EXAMPLES` image files under ``folder`` (none for None).

    >>> example_images(None)
    []
    """
    if folder is None:
        return []
    from rung.vision.io import get_image_files

    folder = Path(folder)
    if not folder.is_dir():
        raise NotADirectoryError(f"--examples {folder} is not a folder of images.")
    return get_image_files(folder)[:MAX_EXAMPLES]


async def _answer(served: ServedModel, batcher: Batcher, item: tuple[str, Any]) -> Any:
    """One item through the API's checks and the batcher; the result as gradio shows it."""
    try:
        async with batcher.admit():
            prepared = await asyncio.to_thread(served.prepare, item)
            [result] = await batcher.predict([prepared])
    except ApiError as e:
        raise gr.Error(e.message) from None
    if "label" in result or "labels" in result:  # multi-label: each label's own probability
        return {str(k): v for k, v in result["probs"].items()}
    low_high = result.get("range")
    where = f" (training targets ranged from {low_high[0]:.4g} to {low_high[1]:.4g})"
    return f"### {result['value']:.4g}" + (where if low_high else "")


def _output(served: ServedModel) -> gr.Component:
    if served.task in ("classification", "multilabel"):
        return gr.Label(num_top_classes=min(10, len(served.classes or [])), label="prediction")
    return gr.Markdown(label="prediction")


def _describe(served: ServedModel) -> str:
    info = served.info()
    what = f"classes: {', '.join(map(str, info['classes']))}" if info.get("classes") else ""
    if info.get("y_range"):
        what = f"predicts {info.get('target') or 'a number'} (trained on {info['y_range'][0]:.4g} to {info['y_range'][1]:.4g})"
    metrics = info.get("metrics") or {}
    shown = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, (int, float)))
    api = "JSON API: `POST /api/predict`, `GET /api/health`"
    return " · ".join(p for p in (what, f"validation: {shown}" if shown else "", api) if p)


def _interface(served: ServedModel, fn: Any, inputs: Any, examples: Any = None) -> gr.Blocks:
    return gr.Interface(
        fn=fn, inputs=inputs, outputs=_output(served), title=served.title,
        description=_describe(served), examples=examples, flagging_mode="never",
        concurrency_limit=served.limits.max_in_flight, api_name="predict",
        cache_examples=False, delete_cache=(3600, 3600),  # uploads older than an hour go
    )  # fmt: skip


def _image_ui(served: ServedModel, batcher: Batcher, examples: list[Path]) -> gr.Blocks:
    cap = served.limits.max_body_bytes

    async def classify(path: str | None) -> Any:
        if not path:
            raise gr.Error("Drop a photo first (or paste one, or take one with the webcam).")
        size = os.path.getsize(path)
        if size > cap:
            raise gr.Error(f"the photo is {megabytes(size)}, over the cap of {megabytes(cap)}")
        data = Path(path).read_bytes()
        return await _answer(served, batcher, (Path(path).name, data))

    # filepath + image_mode=None: gradio hands over the upload without decoding it, so the
    # header is checked (pixel cap) before anything decodes the pixels
    image = gr.Image(type="filepath", image_mode=None, label="photo",
                     sources=["upload", "clipboard", "webcam"])  # fmt: skip
    return _interface(served, classify, image, [[str(p)] for p in examples] or None)


def _table_ui(served: ServedModel, batcher: Batcher, examples: list[Path]) -> gr.Blocks:
    columns = served.columns
    boxes = [_box(column) for column in columns]

    async def predict_row(*values: Any) -> Any:
        row = {c.name: v for c, v in zip(columns, values) if v is not None and v != ""}
        return await _answer(served, batcher, ("the form", row))

    return _interface(served, predict_row, boxes)


def _box(column: Any) -> gr.Component:
    """The input of one table column, with what training saw as its hint."""
    empty = "empty = missing, filled as in training"
    where = {"elem_id": "column-" + re.sub(r"[^A-Za-z0-9_-]", "_", column.name)}
    if column.type == "number":
        hint = f"training median {column.median:.4g}" if column.median is not None else ""
        if column.range:
            hint = f"training range {column.range[0]:.4g} to {column.range[1]:.4g}; " + hint
        info = f"{hint}; {empty}".strip("; ")
        return gr.Number(label=column.name, value=None, info=info, **where)
    if column.type == "category" and column.choices and len(column.choices) <= MAX_CHOICES:
        info = f"{len(column.choices)} training values (most common {column.default!r}); {empty}"
        return gr.Dropdown(choices=column.choices, value=None, label=column.name, info=info,
                           allow_custom_value=True, **where)  # fmt: skip
    what = {"date": "a date, e.g. 2024-05-31", "category": "a category"}.get(column.type, "")
    return gr.Textbox(label=column.name, info=f"{what}; {empty}".strip("; "), **where)


def _text_ui(served: ServedModel, batcher: Batcher, examples: list[Path]) -> gr.Blocks:
    columns = served.text_columns
    boxes = [gr.Textbox(label=c, lines=3) for c in columns]

    async def predict_text(*values: str) -> Any:
        return await _answer(served, batcher, ("the form", dict(zip(columns, values))))

    return _interface(served, predict_text, boxes)
