"""Building blocks of a writeup page: numbers as people read them, HTML and Markdown tables,
and the page's inline style. Every piece of text goes through ``html.escape`` (HTML) or
:func:`md_escape` (Markdown) here, so a class name like ``<script>`` shows as text.

>>> number(0.875), duration(83), size(1_234_567)
('0.8750', '1 min 23 s', '1.2 MB')
>>> html_table(["model", "accuracy"], [["<rf>", "0.83"]], best={(0, 1)})
'<div class="scroll"><table><thead><tr><th>model</th><th class="num">accuracy</th></tr></thead><tbody><tr><td>&lt;rf&gt;</td><td class="num best">0.83</td></tr></tbody></table></div>'
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Collection, Sequence
from typing import Any

__all__ = [
    "number",
    "count",
    "duration",
    "size",
    "value",
    "html_table",
    "html_pairs",
    "md_table",
    "md_escape",
    "md_code",
    "HTML_HEAD",
    "CSS",
]

_MAX_LISTED = 30  # list items shown before "... (N in all)"
_MAX_CHARS = 400  # longest value shown in a configuration table
# "0.8750", "1,234", "3.00e-06", "4.2 s", "18.8 MB", "1 min 23 s", "n/a": right-aligned
_NUMBER = re.compile(r"^-?[\d,.]+(e[+-]?\d+)?( ?[a-zA-Z%]+)?$|^\d+ (min|h) \d+ (s|min)$|^n/a$")


def number(v: Any) -> str:
    """A value as a table shows it: floats with 4 decimals (whole numbers from 1,000, powers of
    ten below 0.0001), ints as they are, None and NaN as ``n/a``.

    >>> number(0.02666), number(1.0), number(1234.5), number(3e-06), number(None), number(7)
    ('0.0267', '1.0000', '1,234', '3.00e-06', 'n/a', '7')
    """
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    if isinstance(v, int):
        return str(v)
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 1e-4 or a == 0:
        return f"{v:.4f}"
    return f"{v:.2e}"


def count(n: int | None) -> str:
    """A count with thousands separators; ``?`` when unknown.

    >>> count(36473), count(None)
    ('36,473', '?')
    """
    return "?" if n is None else f"{n:,}"


def duration(seconds: Any) -> str:
    """Seconds as a person says them.

    >>> duration(4.25), duration(83), duration(7322), duration(None)
    ('4.2 s', '1 min 23 s', '2 h 02 min', 'n/a')
    """
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds != seconds:
        return "n/a"
    if seconds < 60:
        return f"{seconds:.1f} s"
    total = round(seconds)
    if total < 3600:
        return f"{total // 60} min {total % 60:02d} s"
    return f"{total // 3600} h {total % 3600 // 60:02d} min"


def size(n_bytes: int) -> str:
    """A file size in B, KB, MB or GB (powers of 1000, as file browsers show them).

    >>> size(512), size(18_800_000)
    ('512 B', '18.8 MB')
    """
    if n_bytes < 1000:
        return f"{n_bytes} B"
    for unit in ("KB", "MB", "GB"):
        n_bytes /= 1000
        if n_bytes < 1000 or unit == "GB":
            break
    return f"{n_bytes:.1f} {unit}"


def value(v: Any) -> str:
    """A configuration value as text: lists joined (long ones cut), nested things as JSON.

    >>> value(["cat", "dog"]), value(0.003), value({"a": [1, 2]}), value(None)
    ('cat, dog', '0.003', '{"a": [1, 2]}', 'none')
    """
    if v is None:
        return "none"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, (list, tuple)) and all(not isinstance(x, (list, dict)) for x in v):
        shown = ", ".join(value(x) for x in v[:_MAX_LISTED])
        return shown + (f", ... ({len(v)} in all)" if len(v) > _MAX_LISTED else "")
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 3] + "..."


def html_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    best: Collection[tuple[int, int]] = (),
) -> str:
    """An HTML table of already formatted cells; numeric columns right-aligned, ``best``
    cells ``(row, column)`` in bold. All text is escaped."""
    numeric = [bool(rows) and all(_looks_numeric(r[j]) for r in rows) for j in range(len(header))]
    e = html.escape

    def cls(j: int, extra: str = "") -> str:
        names = " ".join(n for n in ("num" if numeric[j] else "", extra) if n)
        return f' class="{names}"' if names else ""

    head = "".join(f"<th{cls(j)}>{e(str(h))}</th>" for j, h in enumerate(header))
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{cls(j, 'best' if (i, j) in best else '')}>{e(str(c))}</td>"
            for j, c in enumerate(row)
        )
        + "</tr>"
        for i, row in enumerate(rows)
    )
    return (
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def html_pairs(pairs: Sequence[tuple[str, str]]) -> str:
    """A two-column key / value table (no header).

    >>> html_pairs([("lr", "0.01")])
    '<div class="scroll"><table class="pairs"><tr><th>lr</th><td>0.01</td></tr></table></div>'
    """
    e = html.escape
    rows = "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in pairs)
    return f'<div class="scroll"><table class="pairs">{rows}</table></div>'


def md_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    best: Collection[tuple[int, int]] = (),
) -> str:
    """A Markdown (GFM) table; ``best`` cells in bold; numeric columns right-aligned.

    >>> print(md_table(["model", "accuracy"], [["a|b", "0.83"]], best={(0, 1)}))
    | model | accuracy |
    | --- | ---: |
    | a\\|b | **0.83** |
    """
    numeric = [bool(rows) and all(_looks_numeric(r[j]) for r in rows) for j in range(len(header))]

    def cell(text: Any, bold: bool = False) -> str:
        text = md_escape(str(text))
        return f"**{text}**" if bold and text else text

    lines = ["| " + " | ".join(cell(h) for h in header) + " |"]
    lines.append("| " + " | ".join("---:" if n else "---" for n in numeric) + " |")
    for i, row in enumerate(rows):
        cells = [cell(c, (i, j) in best) for j, c in enumerate(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def md_escape(text: str) -> str:
    """Text safe inside Markdown: markup characters backslash-escaped, line breaks joined.

    >>> md_escape("<script>*x*</script> | [a](b)")
    '\\\\<script\\\\>\\\\*x\\\\*\\\\</script\\\\> \\\\| \\\\[a\\\\](b)'
    """
    text = re.sub(r"\s*\n\s*", " ", text)
    return re.sub(r"([\\`*\[\]<>|#!_~&])", r"\\\1", text)


def md_code(text: str) -> str:
    """Text for inside a Markdown code span (backticks can't end it early).

    >>> md_code("a`b")
    "a'b"
    """
    return re.sub(r"\s*\n\s*", " ", text).replace("`", "'")


def _looks_numeric(text: Any) -> bool:
    t = str(text).strip()
    return t == "" or bool(_NUMBER.match(t))


HTML_HEAD = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{css}</style>
</head>
<body><main>"""

CSS = """
:root { color-scheme: light; --ink: #1f2328; --muted: #59636e; --line: #d8dee4;
  --paper: #ffffff; --bg: #f6f8fa; --accent: #0b5cad; --good: #1a7f37; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  "Noto Sans", "Liberation Sans", sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 36px 24px 64px; }
h1 { font-size: 2rem; line-height: 1.2; margin: 0 0 6px; }
h2 { font-size: 1.3rem; margin: 0 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 1.05rem; margin: 20px 0 8px; }
section { margin-top: 40px; }
.sub { color: var(--muted); margin: 0; overflow-wrap: anywhere; }
.sub b { color: var(--ink); font-weight: 600; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr));
  gap: 14px; margin: 28px 0 8px; align-items: start; }
.card { background: var(--paper); border: 1px solid var(--line); border-radius: 12px;
  padding: 16px 18px; }
.card .value { font-size: 2.3rem; font-weight: 700; line-height: 1.15;
  font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.card .label { color: var(--muted); font-size: .95rem; margin-top: 2px; }
.card .note { color: var(--muted); font-size: .8rem; margin-top: 6px; }
.card.main { border: 2px solid var(--accent); }
.card.main .value { color: var(--accent); }
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(460px, 100%), 1fr));
  gap: 18px; }
figure { margin: 0; background: var(--paper); border: 1px solid var(--line);
  border-radius: 12px; padding: 14px; }
figure img { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { font-weight: 600; margin-top: 10px; }
figcaption span { display: block; font-weight: 400; color: var(--muted); font-size: .9rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; background: var(--paper); font-size: .92rem;
  font-variant-numeric: tabular-nums; border: 1px solid var(--line); border-radius: 8px; }
th, td { padding: 6px 14px; text-align: left; vertical-align: top;
  border-bottom: 1px solid var(--line); }
thead th { background: var(--bg); font-weight: 600; }
.num { text-align: right; }
td.best { font-weight: 700; color: var(--good); }
table.pairs th { font-weight: 500; color: var(--muted); white-space: nowrap; }
table.pairs td { overflow-wrap: anywhere; max-width: 760px; }
.hint { color: var(--muted); font-size: .9rem; margin: 0 0 10px; }
.notes { white-space: pre-wrap; background: var(--paper); border: 1px solid var(--line);
  border-radius: 8px; padding: 12px 16px; }
.problems { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 8px;
  padding: 10px 16px; margin-top: 16px; }
footer { margin-top: 48px; color: var(--muted); font-size: .85rem; }
"""
