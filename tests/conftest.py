"""Shared fixtures: the real datasets beside the checkout and a tiny Learner problem."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("RUNG_SHARED_DATA", ROOT.parent / "shared" / "data"))

# Every test starts from generators seeded by RUNG_TEST_SEED and its own id (tests/_seeding.py).
pytest_plugins = ["_seeding"]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

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


def make_regression_dls(n: int = 256, n_features: int = 3, batch_size: int = 32, seed: int = 0):
    """y = x @ w + 1 + small noise, split 80/20: a problem a linear model solves."""
    import torch

    from rung.data.core import DataLoaders

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, n_features, generator=g)
    w = torch.arange(1.0, n_features + 1).unsqueeze(1)
    y = x @ w + 1 + 0.01 * torch.randn(n, 1, generator=g)
    return DataLoaders.from_tensors(x, y, valid_pct=0.2, seed=seed, batch_size=batch_size)


@pytest.fixture
def regression_learner():
    """A linear-regression Learner that trains in well under a second (no progress output)."""
    import torch

    from rung.learner import Learner

    def make(**kwargs):
        torch.manual_seed(0)
        kwargs.setdefault("progress", False)
        kwargs.setdefault("loss_func", torch.nn.MSELoss())
        return Learner(torch.nn.Linear(3, 1), make_regression_dls(), **kwargs)

    return make


@pytest.fixture(scope="session")
def titanic_tensors(titanic_dir: Path):
    """Titanic as numbers, on the course's split: ``(x_train, y_train, x_valid, y_valid)``.

    Six columns (Pclass, Sex, Age, SibSp, Parch, log Fare), missing Age set to the median,
    each column scaled to [0, 1]; y is Survived (0/1, int64). Validation: the first 178 of
    ``torch.manual_seed(42); torch.randperm(891)``, as DATA.md gives it.
    """
    import numpy as np
    import pandas as pd
    import torch

    df = pd.read_csv(titanic_dir / "train.csv")
    df["Sex"] = (df["Sex"] == "female").astype(float)
    df["Age"] = df["Age"].fillna(df["Age"].median())
    df["Fare"] = np.log1p(df["Fare"])
    cols = ["Pclass", "Sex", "Age", "SibSp", "Parch", "Fare"]
    x = torch.tensor(df[cols].to_numpy(dtype="float32"))
    x = x / x.max(0).values
    y = torch.tensor(df["Survived"].to_numpy(), dtype=torch.int64)
    idx = torch.randperm(len(df), generator=torch.Generator().manual_seed(42))  # = manual_seed(42)
    va, tr = idx[:178], idx[178:]
    return x[tr], y[tr], x[va], y[va]


def run_python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that imports rung from this checkout."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture
def browser():
    """A headless Debian chromium driven by playwright; skips (with why) without one."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (make browser, or apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
