"""Where image URLs come from: a web image search (ddgs) or a plain list of URLs.

A source is anything with ``image_urls(query, max_results) -> list[str]`` (the `ImageSource`
protocol). A source may also set ``pause``, the seconds to wait between two of its queries (a
web search rate-limits callers who ask too fast), and ``label_queries()``, the labels it knows
with the queries that fetch them (a labelled URL list does).

>>> source = URLListSource(["https://example.com/a.jpg", "https://example.com/b.jpg"])
>>> source.image_urls("anything", max_results=1)
['https://example.com/a.jpg']
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

__all__ = ["ImageSource", "DDGSSource", "URLListSource", "SearchError"]

# What to do when a search fails; every SearchError ends with it.
_WAYS_OUT = (
    "Without a network, build the dataset from a list of image URLs "
    "(URLListSource('urls.txt'), or `rung search --urls urls.txt`), or put your own photos in "
    "one folder per label (DEST/<label>/*.jpg) and train on that folder."
)


class SearchError(RuntimeError):
    """The image search itself failed (no network, blocked, rate-limited, package missing).

    The message says which query failed, why, and the ways out.

    >>> str(SearchError("bird photo", "DNS lookup failed")).startswith("the image search for")
    True
    """

    def __init__(self, query: str, why: str, hint: str = "") -> None:
        self.query, self.why = query, why
        message = f"the image search for {query!r} failed: {why}."
        if hint:
            message += f" {hint}"
        super().__init__(f"{message} {_WAYS_OUT}")

    @classmethod
    def wrap(cls, query: str, error: BaseException) -> SearchError:
        """The SearchError for ``error`` raised while searching ``query``, with a hint.

        >>> SearchError.wrap("cat", ConnectionRefusedError("refused")).why
        'ConnectionRefusedError: refused'
        """
        return cls(query, _describe(error), _hint(error))


@runtime_checkable
class ImageSource(Protocol):
    """Anything that turns a search query into a list of image URLs.

    >>> isinstance(URLListSource([]), ImageSource)
    True
    """

    def image_urls(self, query: str, max_results: int) -> list[str]:
        """Up to ``max_results`` image URLs for ``query``; raise `SearchError` if it can't."""
        ...


class DDGSSource:
    """Image search through the ``ddgs`` package (Bing and DuckDuckGo behind one call).

    ``timeout`` is per search request (a search that gets no answer gives up after about twice
    that); ``backend`` is ``"auto"`` or a comma-separated list of ddgs backends (``"bing"``,
    ``"duckduckgo"``); ``proxy`` is passed to ddgs (e.g. ``"socks5h://127.0.0.1:9150"``).
    ``pause`` is the wait between two queries: the course waits 10 s so the search engine does
    not block us. Any failure of the search raises `SearchError`.

    >>> source = DDGSSource(timeout=5)
    >>> source.pause
    10.0
    >>> source.image_urls("bird photo", max_results=10)  # doctest: +SKIP
    ['https://upload.wikimedia.org/...jpg', ...]
    """

    def __init__(
        self,
        timeout: float = 5,
        backend: str = "auto",
        proxy: str | None = None,
        pause: float = 10.0,
    ) -> None:
        self.timeout, self.backend, self.proxy, self.pause = timeout, backend, proxy, pause

    def __repr__(self) -> str:
        return f"DDGSSource(timeout={self.timeout}, backend={self.backend!r})"

    def image_urls(self, query: str, max_results: int) -> list[str]:
        try:
            import ddgs
        except ImportError as e:
            raise SearchError(
                query,
                "the package 'ddgs' is not installed",
                "Install it: pip install 'rung[search]'.",
            ) from e
        try:
            results = ddgs.DDGS(timeout=self.timeout, proxy=self.proxy).images(
                query, max_results=max_results, backend=self.backend
            )
        except Exception as e:  # ddgs raises DDGSException; be safe against anything under it
            if str(e) == "No results found.":  # ddgs' way of saying "an empty result"
                return []
            raise SearchError.wrap(query, e) from e
        urls = [r["image"] for r in results if isinstance(r.get("image"), str)]
        return [u for u in urls if u.startswith(("http://", "https://"))][:max_results]


def _describe(error: BaseException) -> str:
    text = " ".join(str(error).split())
    if len(text) > 300:
        text = text[:297] + "..."
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _hint(error: BaseException) -> str:
    text = f"{type(error).__name__} {error}".lower()
    if any(w in text for w in ("dns", "resolv", "connect", "refused", "unreachable", "network")):
        return "Are you online? The search engine could not be reached."
    if "timed out" in text or "timeout" in text:
        return "The search engine did not answer in time; try again, or raise the timeout."
    if "ratelimit" in text or "403" in text or "429" in text:
        return "The search engine is limiting requests; wait a few minutes, or raise `pause`."
    return ""


class URLListSource:
    """Image URLs you already have: a list, or a file of them.

    The file is text with one URL per line (blank lines and ``#`` comments skipped), or
    ``label<TAB>url`` lines, or a CSV with a ``url`` column and optionally a ``label`` column.
    A plain list answers every query with the same URLs; a labelled one answers a query that is
    one of its labels, and ``label_queries()`` gives those labels, so
    ``search_images(None, dest, source=URLListSource("urls.tsv"))`` builds one folder per label.

    >>> src = URLListSource({"cat": ["https://e.com/1.jpg"], "dog": ["https://e.com/2.jpg"]})
    >>> src.label_queries()
    {'cat': ['cat'], 'dog': ['dog']}
    >>> src.image_urls("dog", max_results=5)
    ['https://e.com/2.jpg']
    """

    pause = 0.0  # a list asks no server, so there is no one to be polite to

    def __init__(self, urls: Iterable[str] | Mapping[str, Iterable[str]] | str | Path) -> None:
        self.origin = "the URL list"
        if isinstance(urls, str | Path):
            self.origin = str(urls)
            self.by_label = _read_url_file(Path(urls))
        elif isinstance(urls, Mapping):
            self.by_label = {
                str(k): [_check_url(u, self.origin) for u in v] for k, v in urls.items()
            }
        else:
            self.by_label = {None: [_check_url(u, self.origin) for u in urls]}

    def __repr__(self) -> str:
        n = sum(len(v) for v in self.by_label.values())
        return f"URLListSource({self.origin!r}, {n} urls)"

    @property
    def labelled(self) -> bool:
        return None not in self.by_label

    def label_queries(self) -> dict[str, list[str]]:
        """``{label: [label]}`` for a labelled list (each label's query is its own name)."""
        if not self.labelled:
            raise ValueError(
                f"{self.origin} has no labels, so name them: search_images(['bird'], dest, "
                "source=...), or give 'label<TAB>url' lines."
            )
        return {label: [label] for label in self.by_label}

    def image_urls(self, query: str, max_results: int) -> list[str]:
        if not self.labelled:
            return self.by_label[None][:max_results]
        if query not in self.by_label:
            raise ValueError(
                f"{self.origin} has no URLs labelled {query!r}; its labels are "
                f"{sorted(self.by_label)}. Let the list name the labels: "
                "search_images(None, dest, source=source), or `rung search --urls FILE`."
            )
        return self.by_label[query][:max_results]


def _check_url(url: str, origin: str, where: str = "") -> str:
    url = url.strip()
    if not url.lower().startswith(("http://", "https://")):
        raise ValueError(
            f"{origin}{where}: {url!r} is not an http(s) URL. Each entry must be a URL like "
            "'https://example.com/photo.jpg' (optionally 'label<TAB>url')."
        )
    return url


def _read_url_file(path: Path) -> dict[str | None, list[str]]:
    if not path.is_file():
        raise FileNotFoundError(f"URL list {str(path)!r} not found: give a text file of URLs.")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        return _read_url_csv(text, str(path))
    by_label: dict[str | None, list[str]] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        label, _, url = line.rpartition("\t")
        label = label.strip() or None
        by_label.setdefault(label, []).append(_check_url(url, str(path), f", line {n}"))
    if None in by_label and len(by_label) > 1:
        raise ValueError(
            f"{path}: some lines are 'label<TAB>url' and some are a bare URL; label every line "
            "or none of them."
        )
    return by_label or {None: []}


def _read_url_csv(text: str, origin: str) -> dict[str | None, list[str]]:
    rows = csv.DictReader(io.StringIO(text))
    columns = {c.strip().lower(): c for c in rows.fieldnames or []}
    if "url" not in columns:
        raise ValueError(
            f"{origin}: a CSV of URLs needs a 'url' column (and optionally 'label'); its columns "
            f"are {rows.fieldnames}."
        )
    by_label: dict[str | None, list[str]] = {}
    for n, row in enumerate(rows, start=2):
        url = (row[columns["url"]] or "").strip()
        if not url:
            continue
        label = None
        if "label" in columns:
            label = (row[columns["label"]] or "").strip() or None
        by_label.setdefault(label, []).append(_check_url(url, origin, f", row {n}"))
    if None in by_label and len(by_label) > 1:
        raise ValueError(f"{origin}: some rows have a label and some don't; fill every label.")
    return by_label or {None: []}
