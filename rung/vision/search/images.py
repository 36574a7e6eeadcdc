"""Build an image dataset from a web search: one folder of photos per label (course lesson 1).

For every label, a few queries ("bird photo", "bird sun photo", ...) go to a source (the ddgs
web search by default, or a list of URLs); the images found download in parallel, each one is
verified by decoding, shrunk to ``max_side`` and saved as ``DEST/<label>/<hash of URL>.jpg``.
Running it again skips what is already there, so an interrupted run just picks up again.

>>> import tempfile
>>> summary = search_images(["bird"], tempfile.mkdtemp(), source=URLListSource([]),
...                         progress=False)
>>> summary.labels["bird"].kept
0
>>> search_images(["bird", "forest"], "data/birds", per_query=100)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from rung.vision.search.download import (
    Cancelled,
    FetchError,
    NotAnImageError,
    decode_image,
    fetch,
    known_hashes,
    provenance,
    remove_temp_files,
    save_jpeg_atomic,
)
from rung.vision.search.sources import DDGSSource, ImageSource, SearchError, URLListSource
from rung.vision.search.summary import DownloadResult, LabelSummary, SearchSummary

__all__ = [
    "search_images",
    "SearchSummary",
    "LabelSummary",
    "DownloadResult",
    "DEFAULT_QUERIES",
    "SearchError",
    "DDGSSource",
    "URLListSource",
    "ImageSource",
]

DEFAULT_QUERIES = ("{label} photo", "{label} sun photo", "{label} shade photo")


def search_images(
    labels: Iterable[str] | Mapping[str, Iterable[str]] | None,
    dest: str | Path,
    per_query: int = 100,
    queries: Iterable[str] = DEFAULT_QUERIES,
    source: ImageSource | None = None,
    max_side: int | None = 400,
    workers: int = 8,
    timeout: float = 10,
    retries: int = 3,
    backoff: float = 0.5,
    pause: float | None = None,
    progress: bool | Callable[[DownloadResult], None] = True,
) -> SearchSummary:
    """Search images for each label and download them into ``dest/<label>/``.

    ``labels`` is a list of labels, each searched with every template in ``queries``
    ("{label} photo", ...), or a dict ``{label: [query, ...]}``, or None to take the labels of
    a labelled `URLListSource`. ``per_query`` results are asked for per query (``source``
    defaults to ``DDGSSource()``). Downloads run on ``workers`` threads, each request limited
    to ``timeout`` seconds and retried ``retries`` times after ``backoff``, 2x``backoff``, ...
    s. ``pause`` seconds pass between two queries (None: the source's own, 10 s for the web
    search). ``progress`` is True for a progress bar, False for none, or a callable given each
    `DownloadResult`.

    Raises `SearchError` if the first search fails (no network, blocked): nothing is written
    then. A later failed query is listed in the summary and the run goes on.

    >>> import tempfile
    >>> dest = Path(tempfile.mkdtemp())
    >>> summary = search_images({"cat": ["cat"]}, dest, source=URLListSource([]), progress=False)
    >>> summary.labels["cat"].found, list(dest.iterdir())  # no images kept, no empty folder
    (0, [])
    """
    source = DDGSSource() if source is None else source
    plan = _plan(labels, tuple(queries), source)
    _check_arguments(plan, source, per_query, workers, max_side, timeout, retries, backoff, pause)
    pause = getattr(source, "pause", 0.0) if pause is None else pause
    dest = Path(dest)
    summary = SearchSummary(dest, {k: LabelSummary(k, dest / k, qs) for k, qs in plan.items()})
    started = time.monotonic()
    reporter = _Reporter(summary, progress)
    downloader = _Downloader(dest, list(plan), max_side, timeout, retries, backoff, workers)
    try:
        _run_queries(plan, source, per_query, pause, downloader, reporter)
        downloader.wait(None, reporter)
    except BaseException:
        downloader.cancel.set()  # workers stop at their next step and write nothing more
        raise
    finally:
        downloader.close()
        reporter.close()
    summary.seconds = time.monotonic() - started
    return summary


def _check_arguments(
    plan: dict[str, list[str]],
    source: ImageSource,
    per_query: int,
    workers: int,
    max_side: int | None,
    timeout: float,
    retries: int,
    backoff: float,
    pause: float | None,
) -> None:
    for name, value in [("per_query", per_query), ("workers", workers)]:
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number >= 1, got {value!r}.")
    if max_side is not None and max_side < 8:
        raise ValueError(
            f"max_side must be at least 8 pixels (or None to keep the size), got {max_side}."
        )
    if timeout <= 0 or retries < 0 or backoff < 0 or (pause is not None and pause < 0):
        raise ValueError(
            f"timeout must be > 0 and retries, backoff, pause >= 0; got timeout={timeout}, "
            f"retries={retries}, backoff={backoff}, pause={pause}."
        )
    if isinstance(source, URLListSource) and not source.labelled and len(plan) > 1:
        raise ValueError(
            f"{source.origin} has no labels, so every one of {list(plan)} would get the same "
            "photos. Label the URLs ('label<TAB>url' lines, or a CSV with label,url columns) and "
            "pass labels=None, or use one list per label."
        )


def _run_queries(
    plan: dict[str, list[str]],
    source: ImageSource,
    per_query: int,
    pause: float,
    downloader: _Downloader,
    reporter: _Reporter,
) -> None:
    """Ask ``source`` each query in turn, handing new URLs to the downloader. The first
    failing search raises (nothing is written then); later ones are listed in the summary."""
    summary, searched = reporter.summary, False
    for i, (label, query) in enumerate((k, q) for k, qs in plan.items() for q in qs):
        if i:
            downloader.wait(pause, reporter)  # polite to the search engine; downloads go on
        reporter.describe(query)
        try:
            urls = source.image_urls(query, per_query)
        except (SearchError, OSError) as e:  # OSError: a custom source's network failure
            error = e if isinstance(e, SearchError) else SearchError.wrap(query, e)
            if not searched and error is e:
                raise
            if not searched:
                raise error from e
            summary.labels[label].search_errors.append((query, error.why))
            continue
        searched = True
        new = [u for u in dict.fromkeys(urls) if u not in downloader.urls[label]]
        summary.labels[label].found += len(new)
        reporter.grow(len(new))
        for url in new:
            downloader.submit(label, url, reporter)


def _plan(
    labels: Iterable[str] | Mapping[str, Iterable[str]] | None,
    templates: tuple[str, ...],
    source: ImageSource,
) -> dict[str, list[str]]:
    """``{label: [query, ...]}`` from the many ways to ask."""
    if labels is None:
        if not hasattr(source, "label_queries"):
            raise ValueError(
                f"labels=None needs a labelled source (a URL list); {source!r} is not."
            )
        labels = source.label_queries()
    if isinstance(labels, str):
        labels = [labels]  # one label given bare: don't iterate its letters
    if isinstance(labels, Mapping):
        plan = {str(k).strip(): [str(q) for q in qs] for k, qs in labels.items()}
    else:
        if not templates or any("{label}" not in t for t in templates):
            raise ValueError(
                f"each query template needs a '{{label}}' placeholder, got {list(templates)}; e.g. "
                "queries=('{label} photo',). To give exact queries, pass {label: [query, ...]}."
            )
        plan = {
            label.strip(): [t.format(label=label.strip()) for t in templates] for label in labels
        }
    if not plan:
        raise ValueError(
            "no labels given: pass at least one, e.g. search_images(['bird'], 'data')."
        )
    for label, qs in plan.items():
        if (
            not label
            or label in (".", "..")
            or label.startswith(".")
            or any(c in label for c in "/\\\0")
        ):
            raise ValueError(
                f"label {label!r} can't be a folder name: use a plain name without '/', '\\' "
                "or a leading '.'."
            )
        if not qs:
            raise ValueError(f"label {label!r} has no queries; give at least one.")
    return plan


class _Downloader:
    """A pool of threads, each taking one URL from bytes to a saved JPEG."""

    def __init__(self, dest, labels, max_side, timeout, retries, backoff, workers) -> None:
        self.dest, self.max_side = dest, max_side
        self.timeout, self.retries, self.backoff = timeout, retries, backoff
        self.cancel, self.lock = threading.Event(), threading.Lock()
        self.urls: dict[str, set[str]] = {label: set() for label in labels}
        self.hashes: dict[str, dict[str, str]] = {}
        self.made: list[Path] = []  # folders this run created (removed again if left empty)
        for label in labels:
            remove_temp_files(dest / label)  # left by an earlier run that was killed
            self.hashes[label] = known_hashes(dest / label)
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="rung-search")
        self.pending: set[Future] = set()

    def submit(self, label: str, url: str, report: Callable[[DownloadResult], None]) -> None:
        self.urls[label].add(url)
        # The file name comes from the URL, so a re-run knows what it has without asking again.
        path = self.dest / label / (hashlib.sha1(url.encode()).hexdigest()[:20] + ".jpg")
        if path.exists():
            report(DownloadResult(label, url, "existing", path))
        else:
            self.pending.add(self.pool.submit(self._work, label, url, path))

    def wait(self, seconds: float | None, report: Callable[[DownloadResult], None]) -> None:
        """Hand finished results to ``report`` for ``seconds`` (None: until all are done)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return
            if not self.pending:
                if left is not None:
                    time.sleep(left)
                return
            done, self.pending = wait(self.pending, timeout=left, return_when=FIRST_COMPLETED)
            for future in done:
                result = future.result()
                if result.status != "cancelled":
                    report(result)

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        for label in self.urls:
            remove_temp_files(self.dest / label)
        for folder in reversed(self.made):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()

    def _work(self, label: str, url: str, path: Path) -> DownloadResult:
        try:
            return self._download(label, url, path)
        except Cancelled:
            return DownloadResult(label, url, "cancelled")
        except Exception as e:  # one odd URL must not end the whole run; say what happened
            return DownloadResult(label, url, "failed", reason=f"{type(e).__name__}: {e}")

    def _download(self, label: str, url: str, path: Path) -> DownloadResult:
        if self.cancel.is_set():
            raise Cancelled(url)
        try:
            data = fetch(url, self.timeout, self.retries, self.backoff, self.cancel)
        except FetchError as e:
            return DownloadResult(label, url, "failed", reason=e.reason)
        digest = hashlib.sha256(data).hexdigest()
        if same := self.hashes[label].get(digest):
            return DownloadResult(label, url, "duplicate", reason=f"same bytes as {same}")
        try:
            image = decode_image(data, self.max_side)
        except NotAnImageError as e:
            return DownloadResult(label, url, "not_image", reason=str(e))
        with self.lock:  # check and claim the hash in one step: two threads may hold equal bytes
            if same := self.hashes[label].get(digest):
                return DownloadResult(label, url, "duplicate", reason=f"same bytes as {same}")
            if self.cancel.is_set():
                raise Cancelled(url)
            self.hashes[label][digest] = path.name
            self._make_folder(path.parent)
        try:
            save_jpeg_atomic(image, path, provenance(digest, url))
        except OSError as e:
            with self.lock:
                del self.hashes[label][digest]
            return DownloadResult(label, url, "failed", reason=f"could not save: {e}")
        return DownloadResult(label, url, "kept", path)

    def _make_folder(self, folder: Path) -> None:
        # Folders appear only when their first image is about to be saved: no empty label folders.
        missing = [p for p in [folder, *folder.parents] if not p.exists()]
        folder.mkdir(parents=True, exist_ok=True)
        self.made.extend(reversed(missing))


class _Reporter:
    """Feeds each result to the summary, then to a progress bar or the user's callable."""

    def __init__(self, summary: SearchSummary, progress: bool | Callable) -> None:
        self.summary, self.callback, self.bar = summary, None, None
        if callable(progress):
            self.callback = progress
        elif progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=0, unit="url", desc="searching", dynamic_ncols=True)

    def __call__(self, result: DownloadResult) -> None:
        self.summary.labels[result.label].add(result)
        if self.bar is not None:
            self.bar.update(1)
            there = sum(s.existing for s in self.summary.labels.values())
            self.bar.set_postfix(kept=self.summary.kept, already_there=there, refresh=False)
        if self.callback is not None:
            self.callback(result)

    def describe(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_description(text)

    def grow(self, n: int) -> None:
        if self.bar is not None:
            self.bar.total += n
            self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
