"""``rung runs compare A B``: runs side by side, as a text table (what they were, their final
metrics with the best marked ``*``, the settings in which they differ) and, with ``--out``,
as ``compare.html``: the same table and the runs' curves overlaid, epoch by epoch (training
loss, validation loss and each shared metric), in one self-contained page.

>>> import tempfile
>>> from rung.report.run_folder import new_run_dir, save_json
>>> root = tempfile.mkdtemp()
>>> a, b = new_run_dir(root, "a"), new_run_dir(root, "b")
>>> _ = save_json(a / "config.json", {"lr": 0.01, "metrics": {"accuracy": 0.80}})
>>> _ = save_json(b / "config.json", {"lr": 0.03, "metrics": {"accuracy": 0.85}})
>>> text = compare_runs(root, [a.name, b.name])
>>> [line.split()[1:] for line in text.splitlines() if line.startswith(("accuracy", "lr"))]
[['0.8000', '0.8500', '*'], ['0.01', '0.03']]
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rung.report import page
from rung.report.index import _task, _text_table
from rung.report.plots import Plot, html_figure
from rung.report.run_folder import atomic_write_text, resolve_run
from rung.report.run_info import NOT_METRICS, RunInfo, lower_is_better, read_run

__all__ = ["compare_runs", "comparison_table", "write_comparison", "plot_overlaid", "COMPARE_HTML"]

COMPARE_HTML = "compare.html"


def compare_runs(root: str | os.PathLike, ids: Sequence[str | os.PathLike]) -> str:
    """Runs side by side as text. ``ids`` are run names, folders, or ``latest``."""
    header, rows = comparison_table(_read(root, ids))
    return _text_table(header, rows, right=set(range(1, len(header))))


def comparison_table(infos: Sequence[RunInfo]) -> tuple[list[str], list[list[str]]]:
    """``(header, rows)``: what each run was, its final metrics (best marked ``*``) and the
    settings of config.json in which the runs differ."""
    header = ["", *[info.id for info in infos]]
    rows: list[list[str]] = []

    def add(label: str, values: list[str]) -> None:
        if any(v not in ("", "-") for v in values):
            rows.append([label, *values])

    add("created", [i.created.strftime("%Y-%m-%d %H:%M") if i.created else "-" for i in infos])
    add("task", [_task({"app": i.app, "task": i.task}) for i in infos])
    add("model", [i.arch or "-" for i in infos])
    add("data", [i.data_path or "-" for i in infos])
    add("train/valid", [_sizes(i.n_train, i.n_valid) for i in infos])
    add("epochs", [str(len(i.epochs)) if i.epochs else "-" for i in infos])
    add("time", [page.duration(i.duration_s) for i in infos])
    names = [i.main_metric for i in infos if i.main_metric]  # main metrics first
    names = list(dict.fromkeys(names + [m for i in infos for m in i.metrics]))
    for name in names:
        values = [info.metrics.get(name) for info in infos]
        known = [v for v in values if v is not None]
        best = (min if lower_is_better(name) else max)(known) if len(known) > 1 else None
        add(name, [_marked(v, best) for v in values])
    flat = [_flatten(info.config) for info in infos]
    keys = [k for f in flat for k in f]
    differ = [k for k in dict.fromkeys(keys) if len({json.dumps(f.get(k)) for f in flat}) > 1]
    for key in differ:
        add(key, [page.value(f[key]) if key in f else "-" for f in flat])
    return header, rows


def plot_overlaid(infos: Sequence[RunInfo], path: str | os.PathLike) -> Path | None:
    """One panel per curve the runs' metrics.csv share (train_loss, valid_loss, metrics), one
    line per run, against the epoch counted over all fits; None when no run has epochs."""
    from matplotlib.figure import Figure

    columns = [c for c in ("train_loss", "valid_loss") if any(_curve(i, c) for i in infos)]
    columns += [
        c for c in dict.fromkeys(k for i in infos for r in i.epochs for k in r)
        if c not in NOT_METRICS and c not in columns and any(_curve(i, c) for i in infos)
    ]  # fmt: skip
    if not columns:
        return None
    fig = Figure(figsize=(4.2 * len(columns), 3.4))
    for ax, column in zip(fig.subplots(1, len(columns), squeeze=False)[0], columns):
        for info in infos:
            points = _curve(info, column)
            if points:
                ax.plot(*zip(*points), "o-", label=info.id, alpha=0.8)
        ax.set_title(column)
        ax.set_xlabel("epoch (all fits)")
    fig.axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return Path(path)


def write_comparison(
    root: str | os.PathLike, ids: Sequence[str | os.PathLike], out: str | os.PathLike
) -> Path:
    """Write ``out/compare.html`` (and the overlaid curves, ``out/compare.png``); return the
    page's path. ``out`` must not be one of the runs."""
    infos = _read(root, ids)
    out = Path(out)
    if any(out.resolve() == info.path for info in infos):
        raise ValueError(f"--out {out} is one of the runs; write the comparison elsewhere.")
    out.mkdir(parents=True, exist_ok=True)
    header, rows = comparison_table(infos)
    e = html.escape
    parts = [page.HTML_HEAD.format(title="Runs compared", css=page.CSS), "<h1>Runs compared</h1>"]
    parts.append('<section id="table"><h2>Side by side</h2>' + page.html_table(header, rows))
    parts.append('<p class="hint">* marks the best final value of each metric.</p></section>')
    png = plot_overlaid(infos, out / "compare.png")
    if png is not None:
        plot = Plot(png, "Curves overlaid", "One line per run, epoch by epoch over all fits.", "")
        parts.append(f'<section id="curves"><h2>Curves</h2>{html_figure(plot)}</section>')
    runs = ", ".join(e(str(info.path)) for info in infos)
    parts.append(f"<footer>Compared by rung: {runs}.</footer></main></body></html>\n")
    return atomic_write_text(out / COMPARE_HTML, "\n".join(parts))


def _read(root: str | os.PathLike, ids: Sequence[str | os.PathLike]) -> list[RunInfo]:
    if not ids:
        raise ValueError("give run names to compare, e.g. compare_runs('runs', ['latest', ...]).")
    return [read_run(resolve_run(i, root)) for i in ids]


def _curve(info: RunInfo, column: str) -> list[tuple[int, float]]:
    return [
        (i + 1, float(r[column]))
        for i, r in enumerate(info.epochs)
        if isinstance(r.get(column), (int, float)) and r[column] == r[column]
    ]


def _sizes(n_train: int | None, n_valid: int | None) -> str:
    if n_train is None and n_valid is None:
        return "-"
    return f"{page.count(n_train)}/{page.count(n_valid)}"


def _marked(value: float | None, best: float | None) -> str:
    if value is None:
        return "-"
    return page.number(value) + (" *" if best is not None and value == best else "  ")


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Settings as ``{"hyperparameters.lr": 0.01, ...}``, metrics, notes and facts left out."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if not prefix and key in ("metrics", "notes", "created", "duration_s", "facts"):
            continue
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
