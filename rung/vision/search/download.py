"""One image from a URL to a file: fetch with retries, verify by decoding, resize, save atomically.

These are the steps `rung.vision.search.images.search_images` runs for every URL, each usable alone:

>>> data = fetch("https://example.com/cat.jpg", timeout=10)  # doctest: +SKIP
>>> image = decode_image(data, max_side=400)                  # doctest: +SKIP
>>> save_jpeg_atomic(image, Path("cats/cat.jpg"))             # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import re
import socket
import ssl
import tempfile
import threading
import time
import urllib.error
import urllib.request
from contextlib import suppress
from pathlib import Path

from PIL import Image, ImageOps

from rung.vision.io import ImageTooLargeError, UnreadableImageError, read_header

__all__ = [
    "FetchError",
    "NotAnImageError",
    "Cancelled",
    "fetch",
    "decode_image",
    "save_jpeg_atomic",
    "remove_temp_files",
    "known_hashes",
    "provenance",
]

MAX_BYTES = 30 * 2**20  # a photo bigger than this is not worth a training example
# Many image hosts refuse Python's default User-Agent; this is what a browser sends.
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)
# Temp files are hidden (leading dot) so folder readers skip them, and named so a later run
# recognises and removes the ones an interrupted run left behind.
TEMP_PREFIX, TEMP_SUFFIX = ".rung-", ".part"
_RETRY_HTTP = {408, 425, 429, 500, 502, 503, 504}
_COMMENT = re.compile(rb"sha256=([0-9a-f]{64})")


class FetchError(Exception):
    """A URL that gave no image bytes; ``transient`` says whether trying again could help.

    >>> FetchError("HTTP 404 Not Found", transient=False).transient
    False
    """

    def __init__(self, reason: str, transient: bool) -> None:
        super().__init__(reason)
        self.reason, self.transient = reason, transient


class NotAnImageError(ValueError):
    """Bytes that did not decode as an image (an HTML page, a truncated JPEG, ...).

    >>> decode_image(b"<html>hi</html>", max_side=400)
    Traceback (most recent call last):
    ...
    rung.vision.search.download.NotAnImageError: an HTML page, not an image (15 bytes)
    """


class Cancelled(Exception):
    """The run was interrupted: stop this download and write nothing."""


def fetch(
    url: str,
    timeout: float = 10,
    retries: int = 3,
    backoff: float = 0.5,
    cancel: threading.Event | None = None,
) -> bytes:
    """The bytes at ``url``, retrying transient failures with exponential backoff.

    ``timeout`` bounds each attempt as a whole (connecting, waiting and reading). Timeouts,
    dropped connections and HTTP 408/429/5xx are retried up to ``retries`` times, waiting
    ``backoff``, then twice that, and so on; other failures (404, no such host, a bad
    certificate) fail at once. Raises `FetchError` with the reason, or `Cancelled` as soon as
    ``cancel`` is set.

    >>> fetch("ftp://example.com/cat.jpg")
    Traceback (most recent call last):
    ...
    rung.vision.search.download.FetchError: unsupported URL scheme 'ftp' (only http and https)
    """
    cancel = cancel or threading.Event()
    for attempt in range(retries + 1):
        try:
            return _fetch_once(url, timeout, cancel)
        except FetchError as e:
            if not e.transient or attempt == retries:
                if attempt:
                    e.reason = f"{e.reason} (after {attempt + 1} tries)"
                    e.args = (e.reason,)
                raise
        if cancel.wait(backoff * 2**attempt):
            raise Cancelled(url)
    raise AssertionError("unreachable")  # the loop returns or raises


def _fetch_once(url: str, timeout: float, cancel: threading.Event) -> bytes:
    scheme = url.split(":", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise FetchError(f"unsupported URL scheme {scheme!r} (only http and https)", False)
    if cancel.is_set():
        raise Cancelled(url)
    request = urllib.request.Request(
        url, headers={"User-Agent": USER_AGENT, "Accept": "image/*,*/*;q=0.8"}
    )
    deadline = time.monotonic() + timeout
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            declared = int(response.headers.get("Content-Length") or 0)
            if declared > MAX_BYTES:
                raise FetchError(f"too large ({declared / 2**20:.0f} MB)", False)
            chunks, total = [], 0
            while chunk := response.read1(64 * 1024):  # one recv at a time: checks stay prompt
                if cancel.is_set():
                    raise Cancelled(url)
                if time.monotonic() > deadline:
                    raise FetchError(f"took longer than {timeout:g} s", True)
                chunks.append(chunk)
                total += len(chunk)
                if total > MAX_BYTES:
                    raise FetchError(f"too large (over {MAX_BYTES // 2**20} MB)", False)
            if declared and total < declared:
                raise FetchError(f"connection closed after {total} of {declared} bytes", True)
            return b"".join(chunks)
    except urllib.error.HTTPError as e:
        raise FetchError(f"HTTP {e.code} {e.reason}", e.code in _RETRY_HTTP) from None
    except urllib.error.URLError as e:
        raise _network_error(e.reason, timeout) from None
    except http.client.IncompleteRead as e:
        got, wanted = len(e.partial), (e.expected or 0) + len(e.partial)
        raise FetchError(f"connection closed after {got} of {wanted} bytes", True) from None
    except (OSError, http.client.HTTPException) as e:
        raise _network_error(e, timeout) from None


def _network_error(reason: object, timeout: float) -> FetchError:
    if isinstance(reason, TimeoutError | socket.timeout):
        return FetchError(f"no answer within {timeout:g} s", True)
    if isinstance(reason, socket.gaierror):
        return FetchError(f"host not found ({reason})", False)
    if isinstance(reason, ssl.SSLError | ssl.CertificateError):
        return FetchError(f"TLS error ({reason})", False)
    if isinstance(reason, ConnectionError | http.client.RemoteDisconnected):
        return FetchError(f"connection failed ({type(reason).__name__}: {reason})", True)
    return FetchError(f"{type(reason).__name__}: {reason}", False)


def decode_image(
    data: bytes, max_side: int | None = 400, max_pixels: int | None = None
) -> Image.Image:
    """Decode ``data`` fully, upright and in RGB, shrunk so its longer side is <= ``max_side``.

    Decoding every pixel is the check: a truncated or corrupt file raises `NotAnImageError`,
    and so does one whose header declares more than ``max_pixels`` (None:
    :data:`rung.vision.io.MAX_PIXELS`), before any pixel is decoded. The aspect ratio is
    kept; smaller images are not enlarged; transparency goes onto white.

    >>> buffer = io.BytesIO()
    >>> Image.new("RGB", (800, 200), "red").save(buffer, "PNG")
    >>> decode_image(buffer.getvalue(), max_side=400).size
    (400, 100)
    """
    try:
        read_header(data, "the image", max_pixels)
    except ImageTooLargeError as e:
        raise NotAnImageError(str(e).removeprefix("the image: ")) from None
    except UnreadableImageError:
        pass  # not an image: the full decode below says what it is instead
    try:
        with Image.open(io.BytesIO(data)) as image:
            if max_side and image.format == "JPEG":
                image.draft("RGB", (max_side, max_side))  # decode at 1/2..1/8 scale: much faster
            image.load()
            image = ImageOps.exif_transpose(image)
            rgb = _to_rgb(image)
    except Exception as e:  # PIL raises OSError, SyntaxError, ValueError, DecompressionBombError...
        head = data[:1024].lstrip().lower()
        if b"<svg" in head:
            raise NotAnImageError(f"an SVG drawing, not a photo ({len(data)} bytes)") from None
        if head.startswith(b"<"):
            raise NotAnImageError(f"an HTML page, not an image ({len(data)} bytes)") from None
        raise NotAnImageError(f"not a readable image ({type(e).__name__}: {e})") from None
    if max_side and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return rgb


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image.copy()
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def provenance(digest: str, url: str) -> bytes:
    """The JPEG comment that records where a file came from and the hash of the bytes fetched.

    It lets a later run drop a new download whose bytes equal those of a file already kept.

    >>> provenance("ab" * 32, "https://e.com/x.jpg")[:20]
    b'rung-search sha256=a'
    """
    return f"rung-search sha256={digest} url={url}".encode()[:60000]


def save_jpeg_atomic(image: Image.Image, path: Path, comment: bytes = b"") -> None:
    """Write ``image`` as a JPEG at ``path``: all of it or, if interrupted, nothing.

    The bytes go to a hidden temp file in the same folder, then `os.replace` gives it its real
    name in one step, so a crash or Ctrl-C never leaves a half-written image under a real name.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> save_jpeg_atomic(Image.new("RGB", (8, 8)), folder / "a.jpg")
    >>> sorted(p.name for p in folder.iterdir())
    ['a.jpg']
    """
    path = Path(path)
    fd, temp = tempfile.mkstemp(
        prefix=f"{TEMP_PREFIX}{path.stem}-", suffix=TEMP_SUFFIX, dir=path.parent
    )
    try:
        with os.fdopen(fd, "wb") as f:
            image.save(f, "JPEG", quality=90, comment=comment)
        os.replace(temp, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def remove_temp_files(folder: Path) -> int:
    """Delete the temp files an interrupted save left in ``folder``; return how many.

    >>> remove_temp_files(Path("no/such/folder"))
    0
    """
    removed = 0
    with suppress(FileNotFoundError, NotADirectoryError):
        for path in Path(folder).glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
            with suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed


def known_hashes(folder: Path) -> dict[str, str]:
    """``{sha256: file name}`` for the images already in ``folder``, to drop new duplicates.

    Each file counts with the hash of its own bytes and, for files this module saved, with the
    hash of the bytes originally downloaded (kept in the JPEG comment).

    >>> known_hashes(Path("no/such/folder"))
    {}
    """
    hashes: dict[str, str] = {}
    folder = Path(folder)
    if not folder.is_dir():
        return hashes
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        data = path.read_bytes()
        hashes.setdefault(hashlib.sha256(data).hexdigest(), path.name)
        if match := _COMMENT.search(data[:65536]):  # the comment sits in the JPEG header
            hashes.setdefault(match.group(1).decode(), path.name)
    return hashes
