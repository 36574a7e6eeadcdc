"""Batched inference: concurrent requests share one forward pass.

A model predicts 16 images in one pass much faster than in 16 passes, so the server doesn't
run each request alone. :class:`Batcher` keeps a short queue: the first request waits at most
``max_wait`` seconds for others to join it (none when ``max_batch`` is 1), then up to
``max_batch`` items go through the model in one call, on one thread that only runs the model
(so the event loop keeps accepting requests meanwhile), and each request gets its own results.
A request larger than ``max_batch`` goes alone. Requests that arrive while the model is busy
queue up and form the next batch. At most ``max_in_flight`` requests are admitted at once
(:meth:`Batcher.admit`); the next gets a 503 at once instead of waiting without end.

>>> import asyncio
>>> batcher = Batcher(lambda groups: [[x * 2 for x in g] for g in groups], max_batch=8)
>>> async def main():
...     return await asyncio.gather(*(batcher.predict([i, i]) for i in range(4)))
>>> asyncio.run(main())
[[0, 0], [2, 2], [4, 4], [6, 6]]
>>> batcher.stats.requests, batcher.stats.passes
(4, 1)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from rung.serve.limits import ApiError

__all__ = ["Batcher", "BatchStats"]


@dataclass
class BatchStats:
    """Counts since start: ``requests`` predicted, ``items`` in them, forward ``passes``,
    the ``largest`` batch, ``refused`` (503, busy) and ``failed`` requests."""

    requests: int = 0
    items: int = 0
    passes: int = 0
    largest: int = 0
    refused: int = 0
    failed: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class Batcher:
    """Groups the items of concurrent requests into calls of ``run(groups)``, which takes a
    list of requests' items and returns a list of their results (one list per request).

    Args:
        run: the model call; it runs on the batcher's one model thread.
        max_batch: items in one call (a larger request is one call of its own).
        max_wait: seconds the first request of a batch waits for more.
        max_in_flight: requests admitted at once; :meth:`admit` refuses the next (503).
    """

    def __init__(
        self,
        run: Callable[[list[list[Any]]], list[list[Any]]],
        max_batch: int = 32,
        max_wait: float = 0.005,
        max_in_flight: int = 64,
    ) -> None:
        if max_batch < 1 or max_in_flight < 1 or max_wait < 0:
            raise ValueError(
                f"max_batch and max_in_flight must be >= 1 and max_wait >= 0, got "
                f"{max_batch}, {max_in_flight}, {max_wait}."
            )
        self.run, self.max_batch, self.max_wait = run, max_batch, max_wait
        self.max_in_flight = max_in_flight
        self.stats = BatchStats()
        self.in_flight = 0
        self._pending: deque[tuple[list[Any], asyncio.Future]] = deque()
        self._model_thread = ThreadPoolExecutor(1, thread_name_prefix="rung-model")
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task | None = None

    @contextlib.asynccontextmanager
    async def admit(self) -> AsyncIterator[None]:
        """Hold one of the ``max_in_flight`` places while a request is read, checked and
        predicted; a 503 (with Retry-After) when none is free."""
        if self.in_flight >= self.max_in_flight:
            self.stats.refused += 1
            raise ApiError(
                503,
                f"the server is busy: {self.max_in_flight} requests are being served (its "
                "--max-in-flight); retry in a moment",
                headers={"Retry-After": "1"},
            )
        self.in_flight += 1
        try:
            yield
        finally:
            self.in_flight -= 1

    async def predict(self, items: list[Any]) -> list[Any]:
        """The results for one request's items, predicted together with whatever other
        requests are waiting."""
        loop = asyncio.get_running_loop()
        self._start(loop)
        done = loop.create_future()
        self._pending.append((items, done))
        self._wake.set()
        return await done

    def close(self) -> None:
        """Stop the model thread (after the call in progress)."""
        if self._worker is not None:
            self._worker.cancel()
        self._model_thread.shutdown(wait=False, cancel_futures=True)

    # ----------------------------------------------------------------------- the worker
    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._loop is not loop or self._worker is None or self._worker.done():
            self._loop, self._wake = loop, asyncio.Event()
            self._worker = loop.create_task(self._work())

    def _queued(self) -> int:
        return sum(len(items) for items, _ in self._pending)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            deadline = loop.time() + self.max_wait
            while self._queued() < self.max_batch and (left := deadline - loop.time()) > 0:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), left)
            batch = self._take()
            if batch:
                await self._run(batch)

    def _take(self) -> list[tuple[list[Any], asyncio.Future]]:
        """The next batch: waiting requests in order while their items fit in ``max_batch``
        (at least one request); requests whose client went away are dropped."""
        batch, size = [], 0
        while self._pending:
            items, done = self._pending[0]
            if done.done():  # cancelled: the client disconnected
                self._pending.popleft()
                continue
            if batch and size + len(items) > self.max_batch:
                break
            batch.append(self._pending.popleft())
            size += len(items)
        return batch

    async def _run(self, batch: list[tuple[list[Any], asyncio.Future]]) -> None:
        loop = asyncio.get_running_loop()
        groups = [items for items, _ in batch]
        try:
            results = await loop.run_in_executor(self._model_thread, self.run, groups)
        except Exception as e:
            if len(batch) > 1:  # find the request that broke the batch: each alone
                for one in batch:
                    await self._run([one])
                return
            self.stats.failed += 1
            _settle(batch[0][1], error=e)
            return
        n = sum(len(g) for g in groups)
        self.stats.passes += 1
        self.stats.requests += len(batch)
        self.stats.items += n
        self.stats.largest = max(self.stats.largest, n)
        for (_, done), result in zip(batch, results):
            _settle(done, result=result)


def _settle(done: asyncio.Future, result: Any = None, error: BaseException | None = None) -> None:
    if done.done():  # the client went away meanwhile
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)
