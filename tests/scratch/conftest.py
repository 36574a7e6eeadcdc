"""Fixtures for the from-scratch tests: the course's Titanic data, prepared once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from rung.scratch.titanic_prep import (
    TitanicTensors,
    TreeData,
    lesson5_tensors,
    lesson6_split,
    lesson6_table,
    read_titanic,
)


@pytest.fixture(scope="session")
def lesson5(titanic_dir: Path) -> TitanicTensors:
    """Lesson 5's normalised tensors on the course's 20% split."""
    return lesson5_tensors(titanic_dir)


@pytest.fixture(scope="session")
def lesson6(titanic_dir: Path) -> TreeData:
    """Lesson 6's tables on the course's 25% split."""
    return lesson6_split(lesson6_table(read_titanic(titanic_dir)))
