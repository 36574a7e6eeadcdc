"""Shared fixtures: the real datasets beside the checkout and a tiny Learner problem."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RUNG_SHARED_DATA", ROOT.parent / "shared" / "data"))

# Tests share a 2-core machine: one thread per process keeps runs steady and comparable.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` (titanic/, cats_dogs/, patents/); CI has it beside the checkout."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"the shared datasets are missing: expected them at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def titanic_dir(shared_data: Path) -> Path:
    return shared_data / "titanic"


@pytest.fixture(scope="session")
def cats_dogs_dir(shared_data: Path) -> Path:
    return shared_data / "cats_dogs"
