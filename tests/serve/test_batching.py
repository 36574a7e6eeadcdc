"""The batcher alone: requests waiting together share one call, a big request goes alone, a
request that breaks a batch fails alone, and admission stops at the in-flight cap."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from rung.serve.batching import Batcher
from rung.serve.limits import ApiError


class Model:
    """Doubles numbers; records each call's items; refuses negative numbers."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[list[int]] = []
        self.delay = delay
        self.threads: set[str] = set()

    def __call__(self, groups: list[list[int]]) -> list[list[int]]:
        self.threads.add(threading.current_thread().name)
        flat = [x for g in groups for x in g]
        if any(x < 0 for x in flat):
            raise ValueError(f"negative: {[x for x in flat if x < 0]}")
        self.calls.append(flat)
        time.sleep(self.delay)
        return [[2 * x for x in g] for g in groups]


async def _gather(batcher: Batcher, requests: list[list[int]]) -> list:
    return await asyncio.gather(*(batcher.predict(r) for r in requests), return_exceptions=True)


def test_waiting_requests_share_one_call_and_get_their_own_results():
    model = Model()
    batcher = Batcher(model, max_batch=32, max_wait=0.05)
    results = asyncio.run(_gather(batcher, [[1], [2, 3], [4]]))
    assert results == [[2], [4, 6], [8]]
    assert model.calls == [[1, 2, 3, 4]]
    assert model.threads == {"rung-model_0"}  # the model runs off the event loop
    stats = batcher.stats
    assert (stats.requests, stats.items, stats.passes, stats.largest) == (3, 4, 1, 4)


def test_a_batch_never_exceeds_max_batch_unless_one_request_does():
    model = Model()
    batcher = Batcher(model, max_batch=3, max_wait=0.05)
    results = asyncio.run(_gather(batcher, [[1, 2], [3, 4], [5, 6, 7, 8], [9]]))
    assert results == [[2, 4], [6, 8], [10, 12, 14, 16], [18]]
    assert model.calls == [[1, 2], [3, 4], [5, 6, 7, 8], [9]]


def test_max_batch_1_is_one_call_per_request_without_waiting():
    model = Model()
    batcher = Batcher(model, max_batch=1, max_wait=10.0)  # no wait: a batch of 1 is full
    started = time.perf_counter()
    assert asyncio.run(_gather(batcher, [[1], [2], [3]])) == [[2], [4], [6]]
    assert model.calls == [[1], [2], [3]]
    assert time.perf_counter() - started < 5


def test_requests_arriving_while_the_model_runs_form_the_next_batch():
    model = Model(delay=0.2)
    batcher = Batcher(model, max_batch=32, max_wait=0.0)

    async def main():
        first = asyncio.ensure_future(batcher.predict([1]))
        await asyncio.sleep(0.05)  # the model is busy with [1]
        rest = [asyncio.ensure_future(batcher.predict([x])) for x in (2, 3, 4)]
        return await asyncio.gather(first, *rest)

    assert asyncio.run(main()) == [[2], [4], [6], [8]]
    assert model.calls == [[1], [2, 3, 4]]


def test_a_request_that_breaks_its_batch_fails_alone():
    model = Model()
    batcher = Batcher(model, max_batch=32, max_wait=0.05)
    results = asyncio.run(_gather(batcher, [[1], [-2], [3]]))
    assert results[0] == [2] and results[2] == [6]
    assert isinstance(results[1], ValueError) and "negative: [-2]" in str(results[1])
    assert batcher.stats.failed == 1 and batcher.stats.requests == 2


def test_admit_refuses_past_max_in_flight_with_503():
    batcher = Batcher(Model(), max_in_flight=2)

    async def main():
        async with batcher.admit(), batcher.admit():
            with pytest.raises(ApiError) as refused:
                async with batcher.admit():
                    pass
            assert batcher.in_flight == 2
        assert batcher.in_flight == 0
        async with batcher.admit():  # places are given back
            return refused.value

    refused = asyncio.run(main())
    assert refused.status == 503 and refused.headers == {"Retry-After": "1"}
    assert "--max-in-flight" in refused.message
    assert batcher.stats.refused == 1


def test_the_batcher_survives_a_new_event_loop():
    model = Model()
    batcher = Batcher(model)
    assert asyncio.run(_gather(batcher, [[1]])) == [[2]]
    assert asyncio.run(_gather(batcher, [[5]])) == [[10]]


@pytest.mark.parametrize("kwargs", [{"max_batch": 0}, {"max_in_flight": 0}, {"max_wait": -1}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError, match="must be >= 1"):
        Batcher(Model(), **kwargs)
