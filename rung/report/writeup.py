"""The writeup of a run: ``report.html`` (one self-contained file) and ``report.md``.

Whatever app made the run folder, the writeup shows what it holds (see
:mod:`rung.report.run_folder`): a headline with the task, the final validation metrics in big
numbers, the data size and the time it took; then the plots, the leaderboard, the metrics per
epoch, the notes, the model file and the configuration. The HTML page embeds its images and
its CSS, makes no requests and needs no JavaScript, so it can be mailed or opened offline.

>>> import tempfile
>>> from rung.report.run_folder import new_run_dir, save_json
>>> run = new_run_dir(tempfile.mkdtemp(), "table")
>>> _ = save_json(run / "config.json", {"task": "classification", "metrics": {"accuracy": 0.83}})
>>> paths = write_writeup(run)
>>> sorted(p.name for p in paths.values()), "0.8300" in paths["html"].read_text()
(['report.html', 'report.md'], True)
"""

from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import rung
from rung.report import page
from rung.report.plots import Plot, find_plots, html_figure, plot_caption
from rung.report.reasoning import Section, reasoned_sections
from rung.report.reference import reference_sections
from rung.report.run_folder import LEADERBOARD_FILE, atomic_write_text
from rung.report.run_info import NOT_METRICS, RunInfo, lower_is_better, read_csv_rows, read_run

__all__ = ["REPORT_HTML", "REPORT_MD", "write_writeup", "plot_caption"]

REPORT_HTML = "report.html"
REPORT_MD = "report.md"
_TIME_COLUMN = re.compile(r"(time|seconds|duration|_s$)", re.IGNORECASE)
_METRIC_WORDS = re.compile(
    r"(loss|accuracy|error|f1|mae|mse|rmse|pearson|spearman|r2|auc|score)", re.IGNORECASE
)


def write_writeup(run_dir: str | os.PathLike, title: str | None = None) -> dict[str, Path]:
    """Write ``report.html`` and ``report.md`` into ``run_dir`` from what it holds; return
    ``{"html": path, "md": path}``. Files that can't be read are named in the writeup.

    >>> import tempfile
    >>> from rung.report.run_folder import new_run_dir
    >>> write_writeup(new_run_dir(tempfile.mkdtemp(), "images"), title="Empty")["md"].name
    'report.md'
    """
    html_text, md_text = render_writeup(run_dir, title)
    run = Path(run_dir).resolve()
    return {
        "html": atomic_write_text(run / REPORT_HTML, html_text),
        "md": atomic_write_text(run / REPORT_MD, md_text),
    }


def render_writeup(
    run_dir: str | os.PathLike, title: str | None = None, home: str | None = None
) -> tuple[str, str]:
    """``(html, markdown)`` of a run's writeup, written nowhere; ``home``: a link back (the
    published site's index page) shown above the title.

    >>> import tempfile
    >>> from rung.report.run_folder import new_run_dir
    >>> page_html, _ = render_writeup(new_run_dir(tempfile.mkdtemp(), "x"), home="../index.html")
    >>> '<a href="../index.html">' in page_html
    True
    """
    if not Path(run_dir).is_dir():
        raise FileNotFoundError(f"{run_dir} is not a folder; give a run folder (runs/latest).")
    from rung.report.run_checks import diagnose_run, next_steps

    info = read_run(run_dir)
    title = title or _default_title(info)
    plots = find_plots(info.path)
    sections = reasoned_sections(info, plots, next_steps(diagnose_run(info.path)))
    placed = {p.path for s in sections for p in s.plots}
    plots = [p for p in plots if p.path not in placed]
    leaderboard = read_csv_rows(info.path / LEADERBOARD_FILE, info.problems)
    return (
        _html(info, title, sections, plots, leaderboard, home),
        _markdown(info, title, sections, plots, leaderboard),
    )


def _default_title(info: RunInfo) -> str:
    what = ": ".join(w for w in (info.app, info.task) if w)
    return (what[:1].upper() + what[1:]) if what else f"Run {info.id}"


def _headline(info: RunInfo) -> list[dict[str, str]]:
    """The big numbers: ``{"value", "label", "note", "main"}`` per card."""
    cards = []
    names = sorted(info.metrics, key=lambda m: (m != info.main_metric, "loss" in m, m))
    for name in names:
        note = ""
        best = _best(info.epochs, name)
        final = info.metrics[name]
        if best is not None and final is not None and best[0] != final:
            note = f"best {page.number(best[0])} at {_epoch_label(info.epochs, best[1])}"
        main = "main" if name == info.main_metric else ""
        cards.append({"value": page.number(final), "label": name, "note": note, "main": main})
    data = _data_card(info)
    if data:
        cards.append(data)
    if info.duration_s is not None:
        note = f"{len(info.epochs)} epochs" if info.epochs else ""
        value = page.duration(info.duration_s)
        cards.append({"value": value, "label": "training time", "note": note, "main": ""})
    return cards


def _data_card(info: RunInfo) -> dict[str, str] | None:
    """How much data: items in all, split into train and valid, and the classes."""
    sides = [(info.n_train, "train"), (info.n_valid, "valid")]
    parts = [f"{page.count(n)} {side}" for n, side in sides if n is not None]
    classes = _classes_note(info.classes)
    if parts:
        total = page.count(sum(n for n, _ in sides if n is not None))
        note = " · ".join(parts + ([classes] if classes else []))
        return {"value": total, "label": "items", "note": note, "main": ""}
    if info.classes:
        return {"value": str(len(info.classes)), "label": "classes", "note": classes, "main": ""}
    return None


def _classes_note(classes: list[Any] | None) -> str:
    if not classes:
        return ""
    shown = ", ".join(str(c) for c in classes[:6])
    return f"{len(classes)} classes: {shown}" + (", ..." if len(classes) > 6 else "")


def _subtitle(info: RunInfo) -> list[tuple[str, str]]:
    parts = [("run", info.id)]
    if info.created is not None:
        parts.append(("", info.created.strftime("%d %b %Y, %H:%M")))
    if info.arch:
        parts.append(("model", info.arch))
    if info.data_path:
        parts.append(("data", info.data_path))
    return parts


def _metric_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Columns of metrics.csv that are validation metrics (best values get marked)."""
    keys = list(rows[0]) if rows else []
    return [k for k in keys if k not in NOT_METRICS and _numeric(rows, k)]


def _numeric(rows: list[dict[str, Any]], key: str) -> bool:
    values = [r.get(key) for r in rows if r.get(key) is not None]
    return bool(values) and all(isinstance(v, (int, float)) for v in values)


def _best(rows: list[dict[str, Any]], name: str) -> tuple[float, int] | None:
    """``(best value, row index)`` of column ``name`` over the epochs, or None."""
    found = [(r[name], i) for i, r in enumerate(rows) if isinstance(r.get(name), (int, float))]
    found = [(v, i) for v, i in found if v == v]  # NaN is never best
    if len(found) < 2:
        return None
    if lower_is_better(name):
        return min(found, key=lambda t: (t[0], t[1]))
    return max(found, key=lambda t: (t[0], -t[1]))


def _epoch_label(rows: list[dict[str, Any]], i: int) -> str:
    row = rows[i]
    fits = {r.get("fit") for r in rows}
    if len(fits) > 1 and row.get("epoch") is not None:
        return f"fit {row.get('fit')}, epoch {row['epoch']}"
    return f"epoch {row['epoch']}" if row.get("epoch") is not None else f"row {i + 1}"


def _summary_rows(info: RunInfo) -> list[list[str]]:
    """One row per validation metric: name, final, best, where it was best."""
    out = []
    for name in _metric_columns(info.epochs):
        best = _best(info.epochs, name)
        if best is None:
            continue
        final = page.number(info.epochs[-1].get(name))
        out.append([name, final, page.number(best[0]), _epoch_label(info.epochs, best[1])])
    return out


def _epoch_table(info: RunInfo) -> tuple[list[str], list[list[str]], set[tuple[int, int]]]:
    """Header, formatted rows and the (row, column) cells holding each metric's best value."""
    header = list(info.epochs[0]) if info.epochs else []
    rows = [
        [page.duration(r.get(k)) if k == "time" else page.number(r.get(k)) for k in header]
        for r in info.epochs
    ]
    best_cells = set()
    for name in _metric_columns(info.epochs):
        best = _best(info.epochs, name)
        if best is not None:
            best_cells.add((best[1], header.index(name)))
    return header, rows, best_cells


def _leaderboard_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[str]], set]:
    """Header, cells and the best cells: a best is marked only among rows ``scored_on`` the
    same rows (out-of-fold scores and a held-out score are not compared)."""
    header = list(rows[0]) if rows else []
    cells = [[_cell(k, r.get(k)) for k in header] for r in rows]
    best_cells = set()
    for same in _scored_on_groups(rows).values():
        group = [rows[i] for i in same]
        for j, name in enumerate(header):
            if _METRIC_WORDS.search(name) and _numeric(group, name):
                best = _best(group, name)
                if best is not None:
                    best_cells.add((same[best[1]], j))
    return header, cells, best_cells


def _scored_on_groups(rows: list[dict[str, Any]]) -> dict[Any, list[int]]:
    """Row indices by their ``scored_on`` value (one group when the column is absent)."""
    groups: dict[Any, list[int]] = {}
    for i, r in enumerate(rows):
        groups.setdefault(r.get("scored_on"), []).append(i)
    return groups


def _leaderboard_hint(rows: list[dict[str, Any]]) -> str:
    if len(_scored_on_groups(rows)) > 1:
        return (
            "Each score was computed on the rows its scored_on names; best in bold among "
            "rows scored on the same rows."
        )
    return "Each model on the same validation set; best in bold."


def _cell(column: str, v: Any) -> str:
    """A leaderboard cell: seconds as a duration, other numbers as numbers."""
    if _TIME_COLUMN.search(column) and isinstance(v, (int, float)):
        return page.duration(v)
    return page.number(v)


def _html(
    info: RunInfo,
    title: str,
    sections: list[Section],
    plots: list[Plot],
    leaderboard: list[dict[str, Any]],
    home: str | None = None,
) -> str:
    e = html.escape
    out = [page.HTML_HEAD.format(title=e(title), css=page.CSS), "<header>"]
    if home:
        out.append(f'<p class="sub"><a href="{e(home)}">&larr; All runs</a></p>')
    out.append(f"<h1>{e(title)}</h1>")
    sub = " &middot; ".join((f"{e(k)} <b>{e(v)}</b>" if k else e(v)) for k, v in _subtitle(info))
    out.append(f'<p class="sub">{sub}</p></header>')
    cards = _headline(info)
    if cards:
        out.append('<div class="cards">')
        for c in cards:
            out.append(
                f'<div class="card {c["main"]}"><div class="value">{e(c["value"])}</div>'
                f'<div class="label">{e(c["label"])}</div>'
                + (f'<div class="note">{e(c["note"])}</div>' if c["note"] else "")
                + "</div>"
            )
        out.append("</div>")
    if info.problems:
        items = "".join(f"<li>{e(p)}</li>" for p in info.problems)
        out.append(f'<div class="problems"><b>Some files could not be read</b><ul>{items}</ul>')
        out.append("</div>")
    last = [s for s in sections if s.key == "next-steps"]
    out += [_html_section(s) for s in sections if s.key != "next-steps"]
    if plots:
        out.append('<section id="plots"><h2>Plots</h2><div class="plots">')
        out += [html_figure(p) for p in plots]
        out.append("</div></section>")
    if leaderboard:
        header, rows, best = _leaderboard_table(leaderboard)
        out.append('<section id="leaderboard"><h2>Leaderboard</h2>')
        out.append(f'<p class="hint">{e(_leaderboard_hint(leaderboard))}</p>')
        out.append(page.html_table(header, rows, best) + "</section>")
    if info.epochs:
        out.append('<section id="epochs"><h2>Metrics per epoch</h2>')
        summary = _summary_rows(info)
        if summary:
            out.append(page.html_table(["metric", "final", "best", "best at"], summary))
        header, rows, best = _epoch_table(info)
        out.append("<h3>Per epoch</h3>" + page.html_table(header, rows, best) + "</section>")
    if info.notes:
        out.append(
            f'<section id="notes"><h2>Notes</h2><div class="notes">{e(info.notes)}</div></section>'
        )
    out += [_html_section(s) for s in last]
    for key, heading, pairs in reference_sections(info, (REPORT_HTML, REPORT_MD)):
        out.append(f'<section id="{key}"><h2>{heading}</h2>{page.html_pairs(pairs)}</section>')
    out.append(
        f"<footer>Written by rung {e(rung.__version__)} from {e(str(info.path))}. "
        f"The same writeup as Markdown: {REPORT_MD}.</footer>"
    )
    out.append("</main></body></html>\n")
    return "\n".join(out)


def _html_section(section: Section) -> str:
    e = html.escape
    out = [f'<section id="{e(section.key)}"><h2>{e(section.title)}</h2>']
    out += [f"<p>{e(text)}</p>" for text in section.paragraphs]
    for above, header, rows in section.tables:
        out += ([f"<p>{e(above)}</p>"] if above else []) + [page.html_table(header, rows)]
    if section.plots:
        out.append('<div class="plots">' + "".join(html_figure(p) for p in section.plots))
        out.append("</div>")
    if section.bullets:
        out.append("<ul>" + "".join(f"<li>{e(b)}</li>" for b in section.bullets) + "</ul>")
    return "".join(out) + "</section>"


def _markdown(
    info: RunInfo,
    title: str,
    sections: list[Section],
    plots: list[Plot],
    leaderboard: list[dict[str, Any]],
) -> str:
    m = page.md_escape
    out = [f"# {m(title)}", ""]
    out.append(" · ".join(f"{k} `{page.md_code(v)}`" if k else m(v) for k, v in _subtitle(info)))
    out.append("")
    cards = _headline(info)
    if cards:
        notes = [c["note"] for c in cards]
        rows = [[c["value"] for c in cards]] + ([notes] if any(notes) else [])
        main = {(0, j) for j, c in enumerate(cards) if c["main"]}
        out += [page.md_table([c["label"] for c in cards], rows, main), ""]
    if info.problems:
        out += ["**Some files could not be read:**", ""]
        out += [f"- {m(p)}" for p in info.problems] + [""]
    last = [s for s in sections if s.key == "next-steps"]
    for section in sections:
        if section.key != "next-steps":
            out += _md_section(info, section)
    if plots:
        out += ["## Plots", ""]
        for plot in plots:
            out += _md_plot(info, plot)
    if leaderboard:
        header, rows, best = _leaderboard_table(leaderboard)
        out += ["## Leaderboard", "", _leaderboard_hint(leaderboard), "",
                page.md_table(header, rows, best), ""]  # fmt: skip
    if info.epochs:
        out += ["## Metrics per epoch", ""]
        summary = _summary_rows(info)
        if summary:
            out += [page.md_table(["metric", "final", "best", "best at"], summary), ""]
        header, rows, best = _epoch_table(info)
        out += ["### Per epoch", "", page.md_table(header, rows, best), ""]
    if info.notes:
        lines = [m(line) for line in info.notes.splitlines()]
        # a trailing backslash is Markdown's line break: the notes keep their lines
        out += ["## Notes", "", "\\\n".join(lines), ""]
    for section in last:
        out += _md_section(info, section)
    for _, heading, pairs in reference_sections(info, (REPORT_HTML, REPORT_MD)):
        table = page.md_table(["name", "value"], [list(p) for p in pairs])
        out += [f"## {heading}", "", table, ""]
    out.append(
        f"*Written by rung {rung.__version__}; {REPORT_HTML} holds the same, pictures inline.*"
    )
    return "\n".join(out) + "\n"


def _md_section(info: RunInfo, section: Section) -> list[str]:
    m = page.md_escape
    out = [f"## {m(section.title)}", ""]
    for text in section.paragraphs:
        out += [m(text), ""]
    for above, header, rows in section.tables:
        out += ([m(above), ""] if above else []) + [page.md_table(header, rows), ""]
    for plot in section.plots:
        out += _md_plot(info, plot)
    if section.bullets:
        out += [f"- {m(b)}" for b in section.bullets] + [""]
    return out


def _md_plot(info: RunInfo, plot: Plot) -> list[str]:
    m = page.md_escape
    link = quote(plot.path.relative_to(info.path).as_posix())
    words = f"*{m(plot.caption)}*" + (f": {m(plot.hint)}" if plot.hint else "")
    return [f"![{m(plot.caption)}]({link})", "", words, ""]
