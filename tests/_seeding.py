"""The suite's seed: before every test, Python's, NumPy's and torch's global generators are
seeded from ``RUNG_TEST_SEED`` (default 0) and the test's id.

A test must pass whatever this seed is: run the suite under other seeds to find the ones that
depend on luck (``RUNG_TEST_SEED=1 make test``; `make test-seeds` runs three). A test that needs
particular random numbers seeds them itself.
"""

from __future__ import annotations

import os
import random
import zlib

import pytest

SEED = int(os.environ.get("RUNG_TEST_SEED", "0"))


def seed_for(test_id: str, base: int = SEED) -> int:
    """The seed one test starts from: ``base`` mixed with the test's id, so tests draw different
    numbers from one another, and reruns of one test draw the same ones.

    >>> seed_for("tests/test_a.py::test_x") == seed_for("tests/test_a.py::test_x")
    True
    >>> seed_for("tests/test_a.py::test_x", 0) != seed_for("tests/test_a.py::test_x", 1)
    True
    """
    return zlib.crc32(f"{base}:{test_id}".encode()) & 0x7FFFFFFF


def pytest_report_header() -> str:
    return f"RUNG_TEST_SEED={SEED} (rerun with another seed: RUNG_TEST_SEED=N)"


@pytest.fixture(autouse=True)
def _seed_every_generator(request: pytest.FixtureRequest) -> None:
    import numpy as np
    import torch

    seed = seed_for(request.node.nodeid)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
