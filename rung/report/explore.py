"""``rung explore data.csv``: a first look at a table, written up with the code of every plot.

For each column :func:`~rung.report.explore_plots.choose_plot` picks a plot from its type and
shape and says why; under each plot is the exact seaborn call that drew it, to copy and run on
``df``. Then scatter plots of the most correlated number pairs, a missing-value map, and the
``describe()`` tables. It writes ``report.html`` (one file, PNGs embedded), ``report.md`` and
the PNGs (``plots/``) into ``explore/<name>`` of the working folder, never next to the data.

The CSV is read with pandas, not rung.tabular's reader: that is an app, a rung above reports.
So the caps are here: the file's size is checked before reading (:data:`MAX_BYTES`), at most
:data:`MAX_ROWS` rows are read and :data:`MAX_COLUMNS` columns plotted (the rest are named).

>>> import tempfile, pandas as pd
>>> df = pd.DataFrame({"x": [1.5, 2.0, 4.25, 3.0], "kind": ["a", "b", "a", "a"]})
>>> ex = explore(df, out=tempfile.mkdtemp())
>>> [(p.column, p.kind) for p in ex.plots]
[('x', 'hist'), ('kind', 'count')]
"""

from __future__ import annotations

import base64
import html
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from rung.report import page
from rung.report.explore_plots import (
    SCATTER_SAMPLE,
    ColumnFacts,
    choose_plot,
    column_facts,
    draw,
    missing_code,
    plot_code,
    scatter_code,
)
from rung.report.run_folder import atomic_write_text

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Plot", "Exploration", "explore", "read_table", "MAX_BYTES", "MAX_ROWS", "MAX_COLUMNS"]

MAX_BYTES = 200_000_000  # a CSV bigger than this is refused before reading (max_bytes= to change)
MAX_ROWS = 1_000_000  # rows read at most (the rest are left out and the report says so)
MAX_COLUMNS = 40  # columns plotted at most (the rest are named as skipped)
MAX_SCATTERS = 3  # the most correlated number pairs drawn as scatter plots
MIN_CORRELATION = 0.5  # ... when their |correlation| is at least this
CODE_SETUP = (
    "import matplotlib.pyplot as plt\nimport pandas as pd\nimport seaborn as sns\n\n"
    "df = pd.read_csv({path})\nfig, ax = plt.subplots()  # a new one before each plot"
)


class Plot(NamedTuple):
    """One plot of an exploration: the column(s), the kind, why, the code and the PNG file."""

    column: str
    kind: str
    reason: str
    code: str
    png: Path


@dataclass
class Exploration:
    """What :func:`explore` found and wrote: ``plots`` (see :class:`Plot`), the columns it
    ``skipped`` (column, reason), ``facts`` per column, the ``describe()`` tables, ``notes``
    (caps and samples) and the ``files`` written (``html``, ``md``)."""

    name: str
    source: str
    n_rows: int
    n_columns: int
    target: str | None
    plots: list[Plot]
    skipped: list[tuple[str, str]]
    facts: dict[str, ColumnFacts]
    numbers: pd.DataFrame
    categories: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)

    def plot_for(self, column: str) -> Plot | None:
        """The column's own plot (not a scatter), or None when it was skipped."""
        return next((p for p in self.plots if p.column == column), None)

    def _repr_html_(self) -> str:
        return _body_html(self)


def read_table(
    source: str | os.PathLike, max_bytes: int = MAX_BYTES, max_rows: int = MAX_ROWS
) -> tuple[pd.DataFrame, list[str]]:
    """Read a CSV with the caps (size checked before reading, rows cut at ``max_rows``);
    return the frame and notes on what was cut.

    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = path.write_text("a,b\\n1,x\\n2,y\\n3,z\\n")
    >>> df, notes = read_table(path, max_rows=2)
    >>> len(df), notes
    (2, ['read the first 2 rows only (max_rows=2)'])
    """
    import pandas as pd

    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is not a file; give a CSV file.")
    n_bytes = path.stat().st_size
    if n_bytes > max_bytes:
        raise ValueError(
            f"{path} is {page.size(n_bytes)}, over the {page.size(max_bytes)} that explore "
            f"reads; explore a sample (pass a DataFrame) or raise max_bytes."
        )
    try:
        df = pd.read_csv(path, nrows=max_rows + 1, low_memory=False)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ValueError(f"{path} could not be read as a CSV: {str(e).splitlines()[0]}") from e
    notes = []
    if len(df) > max_rows:
        df = df.iloc[:max_rows]
        notes.append(f"read the first {max_rows:,} rows only (max_rows={max_rows})")
    return df, notes


def explore(
    csv_or_frame: str | os.PathLike | pd.DataFrame,
    *,
    target: str | None = None,
    out: str | os.PathLike | None = None,
    max_columns: int = MAX_COLUMNS,
    max_bytes: int = MAX_BYTES,
    max_rows: int = MAX_ROWS,
) -> Exploration:
    """Explore a table (a CSV path or a DataFrame): a plot per column chosen by its type and
    shape, scatter plots of correlated pairs, a missing-value map, ``describe()`` tables;
    written to ``out`` (default ``explore/<name>`` in the working folder). ``target``: the
    column to predict, to plot the others against.

    >>> import tempfile, pandas as pd
    >>> df = pd.DataFrame({"y": [0, 1, 0, 1], "v": [1.5, 2.0, 0.5, 3.5]})
    >>> ex = explore(df, target="y", out=tempfile.mkdtemp())
    >>> ex.plot_for("v").kind, sorted(ex.files)
    ('boxen', ['html', 'md'])
    """
    import pandas as pd

    if isinstance(csv_or_frame, pd.DataFrame):
        df, notes, name, source = csv_or_frame, [], "table", "a DataFrame"
    else:
        df, notes = read_table(csv_or_frame, max_bytes=max_bytes, max_rows=max_rows)
        name, source = Path(csv_or_frame).stem or "table", str(csv_or_frame)
    if target is not None and target not in df.columns:
        raise KeyError(
            f"target {target!r} is not a column; the columns are {', '.join(map(str, df.columns))}"
        )
    out_dir = Path(out) if out is not None else Path("explore") / _safe(name)
    _check_out(out_dir, csv_or_frame)
    _clear_old_plots(out_dir)
    (out_dir / "plots").mkdir(parents=True, exist_ok=True)

    columns = list(df.columns)
    if target is not None:  # the target first: it is what the others are plotted against
        columns = [target] + [c for c in columns if c != target]
    shown, left = columns[:max_columns], columns[max_columns:]
    if left:
        notes.append(
            f"{len(left)} of {len(columns)} columns not plotted (max_columns={max_columns}): "
            + ", ".join(map(str, left[:20]))
            + (" ..." if len(left) > 20 else "")
        )
    y = df[target] if target is not None else None
    plots: list[Plot] = []
    skipped: list[tuple[str, str]] = []
    facts = {str(c): column_facts(df[c]) for c in shown}
    for i, column in enumerate(shown):
        choice = choose_plot(df[column], y)
        if choice.kind == "skip":
            skipped.append((str(column), choice.reason))
            continue
        code = plot_code(df, column, choice, target)
        png = _save(df, code, out_dir / "plots" / f"{i:02d}_{choice.kind}_{_safe(column)}.png")
        plots.append(Plot(str(column), choice.kind, choice.reason, code, png))
    plots += _scatters(df, shown, out_dir, notes)
    missing = [c for c in shown if df[c].isna().any()]
    if missing:
        code = missing_code(None if len(shown) == len(df.columns) else shown)
        reason = f"{len(missing)} columns have missing values: " + ", ".join(
            f"{c} ({int(df[c].isna().sum()):,})" for c in missing
        )
        png = _save(df, code, out_dir / "plots" / "missing.png")
        plots.append(Plot("(missing values)", "missing", reason, code, png))
    num_cols = [c for c in shown if c in df.select_dtypes("number").columns]
    other = [c for c in shown if c not in num_cols]
    numbers = df[num_cols].describe() if num_cols else pd.DataFrame()
    categories = df[other].describe() if other else pd.DataFrame()
    ex = Exploration(
        name, source, len(df), len(df.columns), target, plots, skipped, facts, numbers,
        categories, notes,
    )  # fmt: skip
    ex.files = {
        "html": atomic_write_text(out_dir / "report.html", _page_html(ex)),
        "md": atomic_write_text(out_dir / "report.md", _markdown(ex)),
    }
    return ex


def _scatters(df: pd.DataFrame, shown: list[Any], out_dir: Path, notes: list[str]) -> list[Plot]:
    """Scatter plots of the few most correlated pairs of number columns (not every pair)."""
    import numpy as np

    nums = [c for c in shown if c in df.select_dtypes("number").columns and df[c].nunique() > 10]
    if len(nums) < 2:
        return []
    corr = df[nums].corr().abs().to_numpy()
    pairs = [
        (corr[i, j], nums[i], nums[j])
        for i in range(len(nums))
        for j in range(i + 1, len(nums))
        if np.isfinite(corr[i, j]) and corr[i, j] >= MIN_CORRELATION
    ]
    pairs.sort(key=lambda p: -p[0])
    if pairs and len(df) > SCATTER_SAMPLE:
        notes.append(
            f"scatter plots draw a random sample of {SCATTER_SAMPLE:,} of the {len(df):,} rows"
        )
    plots = []
    for k, (r, a, b) in enumerate(pairs[:MAX_SCATTERS]):
        code = scatter_code(df, a, b)
        reason = (
            f"|correlation| {r:.2f}, among the {MAX_SCATTERS} strongest of "
            f"{len(nums) * (len(nums) - 1) // 2} number pairs; alpha shows where points pile up"
        )
        png = _save(df, code, out_dir / "plots" / f"scatter{k}_{_safe(a)}_{_safe(b)}.png")
        plots.append(Plot(f"{a} vs {b}", "scatter", reason, code, png))
    return plots


def _save(df: pd.DataFrame, code: str, path: Path) -> Path:
    fig = draw(df, code)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    path.write_bytes(buf.getvalue())
    return path


def _check_out(out_dir: Path, source: Any) -> None:
    """Never write where the data is: not the CSV's own folder, never over the CSV."""
    if isinstance(source, (str, os.PathLike)):
        data = Path(source).resolve()
        if out_dir.resolve() == data.parent:
            raise ValueError(
                f"--out {out_dir} is the data's own folder; give another folder for the report."
            )
        if out_dir.resolve() == data:
            raise ValueError(f"--out {out_dir} is the data file itself; give a folder.")


def _clear_old_plots(out_dir: Path) -> None:
    """A rerun into the same folder replaces the PNGs an earlier exploration wrote there (a
    folder whose report.md rung explore wrote); it never deletes anything else."""
    report = out_dir / "report.md"
    try:
        earlier = report.is_file() and report.read_text(errors="replace")[:12] == "# Exploring "
    except OSError:
        return
    if earlier:
        for png in (out_dir / "plots").glob("*.png"):
            if png.is_file() and not png.is_symlink():
                png.unlink()


def _safe(name: Any) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(name)).strip("_")[:40] or "column"


# ------------------------------------------------------------------ the writeup
def _setup(ex: Exploration) -> str:
    path = repr(ex.source) if ex.source != "a DataFrame" else "'your.csv'"
    return CODE_SETUP.format(path=path)


def _summary(ex: Exploration) -> str:
    target = f"; target {ex.target}" if ex.target else ""
    return f"{ex.n_rows:,} rows, {ex.n_columns:,} columns from {ex.source}{target}"


def _describe_rows(table: pd.DataFrame) -> tuple[list[str], list[list[str]]]:
    header = ["column", *map(str, table.index)]
    rows = [[str(c), *(page.number(_py(v)) for v in table[c])] for c in table.columns]
    return header, rows


def _py(v: Any) -> Any:
    v = v.item() if hasattr(v, "item") else v
    return float(v) if isinstance(v, int) and not isinstance(v, bool) and abs(v) > 2**53 else v


def _figure_html(plot: Plot) -> str:
    e = html.escape
    try:
        src = "data:image/png;base64," + base64.b64encode(plot.png.read_bytes()).decode("ascii")
        img = f'<img src="{src}" alt="{e(plot.kind)} of {e(plot.column)}">'
    except OSError as err:
        img = f'<p class="hint">{e(plot.png.name)} could not be read: {e(str(err))}</p>'
    return (
        f"<figure>{img}<figcaption>{e(plot.column)}: {e(plot.kind)}"
        f"<span>{e(plot.reason)}</span></figcaption>"
        f'<pre class="notes"><code>{e(plot.code)}</code></pre></figure>'
    )


def _body_html(ex: Exploration) -> str:
    e = html.escape
    out = [f"<h1>Exploring {e(ex.name)}</h1>", f'<p class="sub">{e(_summary(ex))}</p>']
    if ex.notes:
        out.append('<div class="problems"><ul>')
        out += [f"<li>{e(n)}</li>" for n in ex.notes] + ["</ul></div>"]
    out.append('<section><h2>Plots</h2><p class="hint">Each plot was drawn by the code under it; '
               "run it after:</p>")  # fmt: skip
    out.append(f'<pre class="notes"><code>{e(_setup(ex))}</code></pre><div class="plots">')
    out += [_figure_html(p) for p in ex.plots] + ["</div></section>"]
    if ex.skipped:
        out.append("<section><h2>Not plotted</h2>")
        out.append(page.html_table(["column", "why"], [list(s) for s in ex.skipped]))
        out.append("</section>")
    for title, table in (("Numbers: df.describe()", ex.numbers),
                         ('Other columns: df.describe(include="object")', ex.categories)):  # fmt: skip
        if not table.empty:
            header, rows = _describe_rows(table)
            out.append(f"<section><h2>{e(title)}</h2>{page.html_table(header, rows)}</section>")
    return "\n".join(out)


def _page_html(ex: Exploration) -> str:
    import rung

    head = page.HTML_HEAD.format(title=html.escape(f"Exploring {ex.name}"), css=page.CSS)
    footer = f"<footer>Written by rung {html.escape(rung.__version__)} (rung explore).</footer>"
    return f"{head}\n{_body_html(ex)}\n{footer}\n</main></body></html>\n"


def _markdown(ex: Exploration) -> str:
    m = page.md_escape
    out = [f"# Exploring {m(ex.name)}", "", m(_summary(ex)), ""]
    out += [f"- {m(n)}" for n in ex.notes] + ([""] if ex.notes else [])
    out += ["## Plots", "", "Each plot was drawn by the code under it; run it after:", ""]
    out += ["```python", _setup(ex), "```", ""]
    for p in ex.plots:
        out += [f"### {m(p.column)}: {p.kind}", "", m(p.reason), ""]
        fence = "````" if "```" in p.code else "```"  # a column name can't end the block
        out += [f"![{m(p.column)}](plots/{p.png.name})", "", f"{fence}python", p.code, fence, ""]
    if ex.skipped:
        out += ["## Not plotted", "", page.md_table(["column", "why"], ex.skipped), ""]
    for title, table in (("Numbers", ex.numbers), ("Other columns", ex.categories)):
        if not table.empty:
            header, rows = _describe_rows(table)
            out += [f"## {title}", "", page.md_table(header, rows), ""]
    return "\n".join(out)
