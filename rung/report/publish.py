"""``rung publish RUNS... --out site/``: a static site of writeups, ready for GitHub Pages.

The site is plain files: ``index.html`` lists every run (task, model, main metric, data size)
and links one page per run, ``<run id>.html``, the run's writeup with a link back; a folder
that is not a run but holds a ``report.html`` (an exploration) is published as it is. Every
page embeds its pictures and its style: no server, no JavaScript, no request to anywhere.
``.nojekyll`` tells GitHub Pages to serve the files untouched.

The site folder is rung's own: publishing into a folder that holds anything else, or into a
run folder, is refused, so a user's files are never overwritten.

>>> import tempfile
>>> from rung.report.run_folder import new_run_dir, save_json
>>> root = tempfile.mkdtemp()
>>> run = new_run_dir(root + "/runs", "table")
>>> _ = save_json(run / "config.json", {"task": "classification", "metrics": {"accuracy": 0.8}})
>>> site = publish([run], root + "/site")
>>> sorted(p.name for p in site.iterdir()) == [".nojekyll", ".rung-site", f"{run.name}.html", "index.html"]
True
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Sequence
from pathlib import Path

from rung.report import page
from rung.report.run_folder import atomic_write_text, is_run_dir
from rung.report.run_info import read_run
from rung.report.writeup import REPORT_HTML, render_writeup

__all__ = ["publish", "SITE_MARKER", "INDEX_PAGE"]

INDEX_PAGE = "index.html"
SITE_MARKER = ".rung-site"  # in a folder rung publish wrote: it may write there again
_MAX_PAGE_BYTES = 100_000_000  # an exploration's report.html larger than this is refused
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def publish(runs: Sequence[str | os.PathLike], out: str | os.PathLike = "site") -> Path:
    """Write the site of ``runs`` (run folders, or folders holding a ``report.html``) into
    ``out``; return ``out``. Pages of an earlier publish in ``out`` are replaced.

    >>> publish([], "site")
    Traceback (most recent call last):
    ...
    ValueError: give at least one run folder to publish, e.g. rung publish runs/latest --out site/.
    """
    if not runs:
        raise ValueError(
            "give at least one run folder to publish, e.g. rung publish runs/latest --out site/."
        )
    folders = [_checked_folder(r) for r in runs]
    site = Path(out)
    _check_site(site, folders)
    site.mkdir(parents=True, exist_ok=True)
    (site / SITE_MARKER).write_text("written by rung publish; it may write here again\n")
    (site / ".nojekyll").write_text("")
    entries = []
    for folder in dict.fromkeys(folders):
        name = _SAFE.sub("-", folder.name) + ".html"
        if is_run_dir(folder):
            page_html, _ = render_writeup(folder, home=INDEX_PAGE)
            info = read_run(folder)
            entries.append((name, folder.name, info))
        else:
            page_html = (folder / REPORT_HTML).read_text(encoding="utf-8", errors="replace")
            entries.append((name, folder.name, None))
        atomic_write_text(site / name, page_html)
    atomic_write_text(site / INDEX_PAGE, _index_html(entries))
    return site


def _checked_folder(run: str | os.PathLike) -> Path:
    folder = Path(run).resolve()
    if not folder.is_dir():
        raise FileNotFoundError(f"{run} is not a folder; give run folders (runs/latest).")
    if not is_run_dir(folder):
        report = folder / REPORT_HTML
        if not report.is_file():
            raise ValueError(
                f"{run} is neither a run folder nor a folder with a {REPORT_HTML} (an "
                "exploration); give what `rung train` or `rung explore` wrote."
            )
        if report.stat().st_size > _MAX_PAGE_BYTES:
            raise ValueError(
                f"{report} is {report.stat().st_size:,} bytes, over the {_MAX_PAGE_BYTES:,} a "
                "published page may be."
            )
    return folder


def _check_site(site: Path, folders: list[Path]) -> None:
    """Refuse a site folder that is, or is inside, a run, or that holds files rung didn't
    publish."""
    where = site.resolve()
    for folder in folders:
        if where == folder or folder in where.parents:
            raise ValueError(
                f"--out {site} is inside the run {folder}; publish somewhere else, e.g. site/."
            )
    if where.exists() and not where.is_dir():
        raise FileExistsError(f"--out {site} is a file; give a folder for the site.")
    if where.is_dir() and any(where.iterdir()) and not (where / SITE_MARKER).is_file():
        raise FileExistsError(
            f"--out {site} already holds files that rung publish did not write; give an empty "
            "or new folder (e.g. site/) so nothing of yours is overwritten."
        )


def _index_html(entries: list[tuple[str, str, object]]) -> str:
    e = html.escape
    rows = []
    for link, name, info in entries:
        if info is None:
            rows.append(
                f'<tr><td><a href="{e(link)}">{e(name)}</a></td><td>exploration</td>'
                "<td></td><td></td><td></td></tr>"
            )
            continue
        task = "/".join(w for w in (info.app, info.task) if w) or "-"
        main = info.main_metric
        score = f"{main} {page.number(info.metrics.get(main))}" if main else "-"
        sizes = f"{page.count(info.n_train)} / {page.count(info.n_valid)}"
        rows.append(
            f'<tr><td><a href="{e(link)}">{e(name)}</a></td><td>{e(task)}</td>'
            f"<td>{e(info.arch or '-')}</td><td>{e(score)}</td><td>{e(sizes)}</td></tr>"
        )
    head = "<tr><th>run</th><th>task</th><th>model</th><th>result</th><th>train / valid</th></tr>"
    return "\n".join([
        page.HTML_HEAD.format(title="Runs", css=page.CSS),
        "<header><h1>Runs</h1>",
        f'<p class="sub">{len(entries)} pages; each opens the run\'s writeup.</p></header>',
        f'<section id="runs"><div class="scroll"><table><thead>{head}</thead><tbody>',
        *rows,
        "</tbody></table></div></section>",
        "<footer>Published by rung publish: static files, no server needed.</footer>",
        "</main></body></html>\n",
    ])  # fmt: skip
