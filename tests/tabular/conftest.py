"""Fixtures of the tables app's tests: the real California housing table."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest


@pytest.fixture(scope="session")
def california_csv(shared_data: Path) -> Path:
    """20,640 districts; target ``median_house_value`` (skewed, positive, capped at 500,001)."""
    return shared_data / "california_housing" / "housing.csv"


@pytest.fixture(scope="session")
def california(california_csv: Path) -> pd.DataFrame:
    """A fixed 2,000-row sample: enough to learn from, small enough for seconds-long tests."""
    return pd.read_csv(california_csv).sample(2000, random_state=0).reset_index(drop=True)
