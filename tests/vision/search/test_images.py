"""search_images against a real HTTP server on 127.0.0.1 serving real photos and bad answers."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from PIL import Image

from rung.vision.search.download import (
    FetchError,
    NotAnImageError,
    decode_image,
    fetch,
    known_hashes,
    remove_temp_files,
    save_jpeg_atomic,
)
from rung.vision.search.images import (
    DownloadResult,
    SearchError,
    URLListSource,
    search_images,
)

Route = Callable[["_Handler", int], None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
        with self.server.lock:
            self.server.counts[self.path] += 1
            n = self.server.counts[self.path]
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
        else:
            route(self, n)

    def send_body(self, body: bytes, ctype: str = "image/jpeg", status: int = 200) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:  # keep test output clean
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, routes: dict[str, Route]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes, self.counts, self.lock = routes, Counter(), threading.Lock()
        self.stop = threading.Event()  # releases slow handlers when the test ends

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that gave up (timeouts, interrupts) break pipes on purpose

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class LocalSource:
    """A real source: answers each query with URLs on the local server and counts searches."""

    def __init__(self, server: _Server, queries: dict[str, list[str]]) -> None:
        self.queries = {q: [server.url(p) for p in paths] for q, paths in queries.items()}
        self.calls: list[tuple[str, float]] = []

    def image_urls(self, query: str, max_results: int) -> list[str]:
        self.calls.append((query, time.monotonic()))
        return self.queries[query][:max_results]


@pytest.fixture(scope="module")
def photos(cats_dogs_dir: Path) -> dict[str, bytes]:
    def read(name: str) -> bytes:
        kind = "cats" if name.startswith("cat") else "dogs"
        return (cats_dogs_dir / "train" / kind / name).read_bytes()

    # A PNG with transparency, made from a real photo: it must come out RGB, on white.
    rgba = Image.open(io.BytesIO(read("dog.3.jpg"))).convert("RGBA")
    rgba.putalpha(200)
    png = io.BytesIO()
    rgba.save(png, "PNG")
    names = ["cat.1.jpg", "cat.2.jpg", "cat.3.jpg", "cat.5.jpg", "dog.1.jpg", "dog.5.jpg"]
    return {**{n: read(n) for n in names}, "dog.3.png": png.getvalue()}


@pytest.fixture
def server(photos: dict[str, bytes]):
    def photo(name: str, ctype: str = "image/jpeg") -> Route:
        return lambda h, n: h.send_body(photos[name], ctype)

    def flaky(h: _Handler, n: int) -> None:  # 500 the first time, then the photo
        h.send_body(b"busy", "text/plain", 500) if n == 1 else h.send_body(photos["cat.3.jpg"])

    def slow(h: _Handler, n: int) -> None:  # answers only after the client gave up
        if not srv.stop.wait(3):
            h.send_body(photos["cat.1.jpg"])

    def cut(h: _Handler, n: int) -> None:  # promises the whole photo, sends half, hangs up
        body = photos["dog.5.jpg"]
        h.send_response(200)
        h.send_header("Content-Type", "image/jpeg")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body[: len(body) // 2])
        h.close_connection = True

    def trickle(h: _Handler, n: int) -> None:  # a whole photo, 300 bytes every 50 ms (~8 s)
        body = photos["cat.2.jpg"]
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        for i in range(0, len(body), 300):
            h.wfile.write(body[i : i + 300])
            h.wfile.flush()
            if srv.stop.wait(0.05):
                return

    routes: dict[str, Route] = {
        "/cat1.jpg": photo("cat.1.jpg"),
        "/cat2.jpg": photo("cat.2.jpg"),
        "/small.jpg": photo("cat.5.jpg"),  # 175 x 144: smaller than max_side, kept as is
        "/dog3.png": photo("dog.3.png", "image/png"),
        "/dog1.jpg": photo("dog.1.jpg"),
        "/dog5.jpg": photo("dog.5.jpg"),
        "/dup-a.jpg": photo("dog.1.jpg"),  # same bytes as /dup-b.jpg (and as /dog1.jpg)
        "/dup-b.jpg": photo("dog.1.jpg"),
        "/broken.jpg": lambda h, n: h.send_body(photos["cat.3.jpg"][:20000]),  # truncated JPEG
        "/page.jpg": lambda h, n: h.send_body(b"<!DOCTYPE html><html>Not found</html>"),
        "/flaky.jpg": flaky,
        "/slow.jpg": slow,
        "/cut.jpg": cut,
        "/trickle-1.jpg": trickle,
        "/trickle-2.jpg": trickle,
    }
    srv = _Server(routes)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.stop.set()
    srv.shutdown()
    srv.server_close()


FAST = dict(max_side=200, workers=4, timeout=0.5, retries=2, backoff=0.01, pause=0)
CAT_QUERIES = {
    "cat photo": [
        "/cat1.jpg",
        "/cat2.jpg",
        "/small.jpg",
        "/broken.jpg",
        "/page.jpg",
        "/missing.jpg",
    ],
    # /cat1.jpg again: the same URL from two queries is fetched once
    "cat sun photo": ["/cat1.jpg", "/flaky.jpg", "/slow.jpg", "/cut.jpg"],
}
DOG_QUERIES = {"dog photo": ["/dog1.jpg", "/dog3.png", "/dup-a.jpg", "/dup-b.jpg", "/dog5.jpg"]}


def _images(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file in ``folder`` decoded in full (fails on a partial file): name -> size."""
    sizes = {}
    for path in sorted(folder.iterdir()):
        with Image.open(path) as im:
            im.load()
            assert im.format == "JPEG" and im.mode == "RGB", path
            sizes[path.name] = im.size
    return sizes


def test_search_images_keeps_good_photos_and_reports_the_rest(server: _Server, tmp_path: Path):
    source = LocalSource(server, {**CAT_QUERIES, "cat shade photo": [], **DOG_QUERIES})
    seen: list[DownloadResult] = []
    start = time.monotonic()
    summary = search_images(
        {"cat": list(CAT_QUERIES) + ["cat shade photo"], "dog": list(DOG_QUERIES)},
        tmp_path / "pets",
        source=source,
        progress=seen.append,
        **FAST,
    )
    elapsed = time.monotonic() - start

    cat, dog = summary.labels["cat"], summary.labels["dog"]
    assert (cat.found, cat.kept, cat.existing) == (9, 4, 0)  # cat1, cat2, small, flaky
    assert {u.rsplit("/", 1)[1] for u, _ in cat.not_images} == {"broken.jpg", "page.jpg"}
    reasons = dict((u.rsplit("/", 1)[1], r) for u, r in cat.not_images + cat.failed)
    assert "HTML" in reasons["page.jpg"] and "truncated" in reasons["broken.jpg"]
    assert reasons["missing.jpg"] == "HTTP 404 Not Found"
    assert "no answer within 0.5 s (after 3 tries)" == reasons["slow.jpg"]
    assert reasons["cut.jpg"].startswith("connection closed after")
    # dog1, dup-a and dup-b hold the same bytes: exactly one of them is kept
    assert (dog.found, dog.kept, len(dog.duplicates), dog.failed) == (5, 3, 2, [])
    assert len(seen) == 14 and {r.status for r in seen} == {
        "kept",
        "duplicate",
        "not_image",
        "failed",
    }

    # Files on disk: real RGB JPEGs, longer side shrunk to 200 with the aspect kept
    cats, dogs = _images(tmp_path / "pets" / "cat"), _images(tmp_path / "pets" / "dog")
    assert len(cats) == 4 and len(dogs) == 3
    assert sorted(cats.values()) == [(158, 200), (175, 144), (200, 166), (200, 187)]
    assert all(max(size) == 200 for size in dogs.values())
    png_name = hashlib.sha1(server.url("/dog3.png").encode()).hexdigest()[:20] + ".jpg"
    with Image.open(tmp_path / "pets" / "dog" / png_name) as im:  # transparency went onto white
        r, g, b = im.getpixel((100, 70))
        assert min(r, g, b) > 40  # 200/255 opaque over white: no dark (black-composited) pixels

    # Retries: 500 then OK is retried once; 404 is not retried; timeouts 1 + 2 retries
    assert server.counts["/flaky.jpg"] == 2 and server.counts["/missing.jpg"] == 1
    assert server.counts["/slow.jpg"] == 3 and server.counts["/cut.jpg"] == 3
    assert server.counts["/cat1.jpg"] == 1
    assert elapsed < 10

    text = str(summary)
    assert "cat " in text and "HTTP 404 Not Found" in text and "total" in text
    as_json = json.loads(json.dumps(summary.to_dict()))
    assert as_json["labels"]["dog"]["kept"] == 3 and len(as_json["labels"]["cat"]["failed"]) == 3


def test_rerun_skips_what_is_there_without_asking_the_server(server: _Server, tmp_path: Path):
    source = LocalSource(server, {"dog photo": DOG_QUERIES["dog photo"] + ["/flaky.jpg"]})
    first = search_images(
        ["dog"], tmp_path, queries=["{label} photo"], source=source, progress=False, **FAST
    )
    assert first.labels["dog"].kept == 4
    before = Counter(server.counts)

    again = search_images(
        ["dog"], tmp_path, queries=["{label} photo"], source=source, progress=False, **FAST
    )
    dog = again.labels["dog"]
    assert (dog.kept, dog.existing, len(dog.duplicates)) == (0, 4, 2)
    new_requests = server.counts - before
    # Only the two duplicate URLs (never saved under their own name) were asked again, and their
    # bytes were recognised from the hash kept in the saved files.
    assert sum(new_requests.values()) == 2
    assert set(new_requests) <= {"/dog1.jpg", "/dup-a.jpg", "/dup-b.jpg"}
    assert all(reason.startswith("same bytes as ") for _, reason in dog.duplicates)
    assert len(list((tmp_path / "dog").iterdir())) == 4


def test_interruption_leaves_no_partial_files(server: _Server, tmp_path: Path):
    folder = tmp_path / "cat"
    folder.mkdir()
    stale = folder / ".rung-0123-abcd.part"  # what a killed run (kill -9) leaves behind
    stale.write_bytes(b"\xff\xd8half a jpeg")
    source = LocalSource(server, {"cat": ["/trickle-1.jpg", "/trickle-2.jpg", "/cat1.jpg"]})

    def interrupt(result: DownloadResult) -> None:  # Ctrl-C as soon as the first photo is kept
        if result.status == "kept":
            raise KeyboardInterrupt

    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        search_images(
            {"cat": ["cat"]}, tmp_path, source=source, progress=interrupt, **{**FAST, "timeout": 20}
        )
    # The trickling downloads (about 8 s each) stopped at once instead of running on
    assert time.monotonic() - start < 3
    assert server.counts["/trickle-1.jpg"] == server.counts["/trickle-2.jpg"] == 1
    names = sorted(p.name for p in folder.iterdir())  # hidden files included
    assert names == [hashlib.sha1(server.url("/cat1.jpg").encode()).hexdigest()[:20] + ".jpg"]
    assert len(_images(folder)) == 1


def test_pause_between_queries_and_search_failures_after_the_first(server: _Server, tmp_path: Path):
    class HalfBrokenSource(LocalSource):
        def image_urls(self, query: str, max_results: int) -> list[str]:
            if query == "cat sun photo":
                self.calls.append((query, time.monotonic()))
                raise SearchError(query, "RatelimitException: 403 Ratelimit")
            return super().image_urls(query, max_results)

    source = HalfBrokenSource(
        server, {"cat photo": ["/cat1.jpg"], "cat shade photo": ["/cat2.jpg"]}
    )
    summary = search_images(
        ["cat"], tmp_path, source=source, progress=False, **{**FAST, "pause": 0.2}
    )
    times = [t for _, t in source.calls]
    assert [q for q, _ in source.calls] == ["cat photo", "cat sun photo", "cat shade photo"]
    assert all(b - a >= 0.2 for a, b in zip(times, times[1:]))
    cat = summary.labels["cat"]
    assert cat.kept == 2 and cat.search_errors == [
        ("cat sun photo", "RatelimitException: 403 Ratelimit")
    ]


def test_a_failing_first_search_writes_nothing(tmp_path: Path):
    class Offline:
        def image_urls(self, query: str, max_results: int) -> list[str]:
            raise ConnectionRefusedError(111, "Connection refused")

    dest = tmp_path / "new" / "birds"
    with pytest.raises(SearchError, match="Are you online") as info:
        search_images(["bird", "forest"], dest, source=Offline(), progress=False)
    assert "'bird photo' failed" in str(info.value) and "URLListSource" in str(info.value)
    assert not (tmp_path / "new").exists()


def test_labels_from_a_labelled_url_list(server: _Server, tmp_path: Path):
    urls = tmp_path / "urls.tsv"
    urls.write_text(
        f"# photos we picked\ncat\t{server.url('/cat1.jpg')}\n"
        f"cat\t{server.url('/small.jpg')}\ndog\t{server.url('/dog1.jpg')}\n"
    )
    summary = search_images(
        None, tmp_path / "data", source=URLListSource(urls), progress=False, **FAST
    )
    assert {k: s.kept for k, s in summary.labels.items()} == {"cat": 2, "dog": 1}
    assert len(_images(tmp_path / "data" / "cat")) == 2
    with pytest.raises(ValueError, match="no URLs labelled 'cat photo'"):
        search_images(["cat"], tmp_path / "data", source=URLListSource(urls), progress=False)


@pytest.mark.parametrize(
    ("labels", "queries", "message"),
    [
        (["../up"], ("{label} photo",), "can't be a folder name"),
        (["bird"], ("photo",), "'{label}' placeholder"),
        ([], ("{label} photo",), "no labels given"),
    ],
)
def test_bad_labels_and_queries_are_explained(tmp_path: Path, labels, queries, message):
    with pytest.raises(ValueError, match=message):
        search_images(labels, tmp_path, queries=queries, source=URLListSource([]), progress=False)


def test_fetch_retries_transient_errors_only(server: _Server):
    assert fetch(server.url("/flaky.jpg"), timeout=2, retries=1, backoff=0.01)[:2] == b"\xff\xd8"
    with pytest.raises(FetchError, match="HTTP 404") as info:
        fetch(server.url("/missing.jpg"), timeout=2, retries=3, backoff=0.01)
    assert not info.value.transient and server.counts["/missing.jpg"] == 1


def test_decode_and_atomic_save(photos: dict[str, bytes], tmp_path: Path):
    image = decode_image(photos["cat.3.jpg"], max_side=100)  # 500 x 414
    assert image.size == (100, 83) and image.mode == "RGB"
    assert decode_image(photos["cat.5.jpg"], max_side=400).size == (175, 144)  # not enlarged
    # A save that fails half-way (JPEG can't hold alpha) leaves neither the file nor its temp
    with pytest.raises(OSError):
        save_jpeg_atomic(Image.new("RGBA", (50, 50)), tmp_path / "x.jpg")
    assert list(tmp_path.iterdir()) == []
    save_jpeg_atomic(image, tmp_path / "cat.jpg", b"rung-search sha256=" + b"e" * 64)
    assert known_hashes(tmp_path)["e" * 64] == "cat.jpg"
    (tmp_path / ".rung-cat-1.part").write_bytes(b"partial")
    assert remove_temp_files(tmp_path) == 1 and [p.name for p in tmp_path.iterdir()] == ["cat.jpg"]


def test_a_downloaded_image_over_the_pixel_cap_is_refused_unread(tmp_path: Path, monkeypatch):
    from _vision_run import png_header

    bomb = png_header(tmp_path / "bomb.png", 10_000, 10_000).read_bytes()  # 300 MB as pixels

    def no_decoding(self, *args, **kwargs):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    with pytest.raises(NotAnImageError, match=r"10000x10000 pixels .*over the cap"):
        decode_image(bomb, max_side=400)
