"""What the server accepts, and the error a request gets when it asks for more.

Every request from outside is treated as hostile: its body is read in chunks and dropped at a
cap (413) before anything parses it, an image's header is read before its pixels (see
:mod:`rung.serve.images`), and each refusal is an :class:`ApiError` whose JSON names the
problem and the way out. The server keeps serving after any of them.

>>> limits = Limits(max_body_bytes=1000)
>>> limits.max_body_bytes, limits.max_batch
(1000, 32)
>>> ApiError(413, "too big").to_json()
{'error': 'too big', 'status': 413}
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, fields
from typing import Any

__all__ = ["Limits", "ApiError", "read_capped", "megabytes"]


@dataclass(frozen=True)
class Limits:
    """The server's caps. ``max_body_bytes``: a request body (413 above it); ``max_pixels``:
    an image's width x height, checked from its header before decoding (413); ``max_items``:
    images or rows in one request (413); ``max_in_flight``: requests served at once (503 for
    the next); ``max_batch``: items in one forward pass; ``max_wait_ms``: how long the first
    request of a batch waits for others to join it."""

    max_body_bytes: int = 20 * 2**20
    max_pixels: int = 36_000_000
    max_items: int = 64
    max_in_flight: int = 64
    max_batch: int = 32
    max_wait_ms: float = 5.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"Limits.{field.name} must be a number, got {value!r}.")
            least = 0 if field.name == "max_wait_ms" else 1
            if value < least:
                raise ValueError(
                    f"Limits.{field.name} must be >= {least}, got {value}; e.g. "
                    f"{field.name}={field.default}."
                )

    def to_dict(self) -> dict[str, Any]:
        """The caps as JSON (what ``/api/health`` shows).

        >>> Limits().to_dict()["max_items"]
        64
        """
        return asdict(self)


class ApiError(Exception):
    """A request the server refuses: an HTTP ``status`` (4xx, or 503 when busy) and a message
    that names the problem and the fix. ``headers`` go with the response (e.g. Retry-After).

    >>> e = ApiError(422, "column 'Age' must be a number, got 'old'")
    >>> e.status, str(e)
    (422, "column 'Age' must be a number, got 'old'")
    """

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}

    def to_json(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


def megabytes(n: int) -> str:
    """``n`` bytes as a short size for messages.

    >>> megabytes(20 * 2**20), megabytes(1500), megabytes(25)
    ('20 MB', '1.46 KB', '25 bytes')
    """
    if n >= 2**20:
        return f"{n / 2**20:.3g} MB"
    return f"{n / 2**10:.3g} KB" if n >= 2**10 else f"{n} bytes"


async def read_capped(
    chunks: AsyncIterator[bytes], max_bytes: int, declared: str | None = None
) -> bytes:
    """The whole body from an async stream of chunks, refusing it (413) as soon as it passes
    ``max_bytes``, or before reading when its declared Content-Length already does.

    >>> import asyncio
    >>> async def stream():
    ...     for _ in range(3):
    ...         yield b"x" * 10
    >>> len(asyncio.run(read_capped(stream(), 30)))
    30
    >>> asyncio.run(read_capped(stream(), 25))
    Traceback (most recent call last):
    ...
    rung.serve.limits.ApiError: the request body is over the server's limit of 25 bytes; send a smaller request (fewer or smaller images), or start the server with a larger --max-body-mb
    """
    too_big = ApiError(
        413,
        f"the request body is over the server's limit of {megabytes(max_bytes)}; send a "
        "smaller request (fewer or smaller images), or start the server with a larger "
        "--max-body-mb",
    )
    if declared is not None:
        try:
            length = int(declared)
        except ValueError:
            raise ApiError(400, f"Content-Length {declared!r} is not a number.") from None
        if length > max_bytes:
            raise too_big
    parts, size = [], 0
    async for chunk in chunks:
        size += len(chunk)
        if size > max_bytes:
            raise too_big
        parts.append(chunk)
    return b"".join(parts)
