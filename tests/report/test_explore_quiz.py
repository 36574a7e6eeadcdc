"""rung explore --quiz: piped answers are scored; with stdin closed it only reveals."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rung.report.explore import explore
from rung.report.explore_quiz import quiz


@pytest.fixture()
def small_csv(tmp_path) -> Path:
    csv = tmp_path / "data" / "small.csv"
    csv.parent.mkdir()
    df = pd.DataFrame({
        "size": [1.0, 2.0, 1.5, 40.0, 1.2, 2.2, 1.1, 90.0, 1.3, 2.5, 1.0, 3.0],  # skewed: log
        "colour": ["red", "blue"] * 6,
        "grade": [1, 2, 3] * 4,
    })  # fmt: skip
    df.to_csv(csv, index=False)
    return csv


def test_quiz_scores_the_answers(small_csv, tmp_path):
    ex = explore(small_csv, out=tmp_path / "ex")
    out = io.StringIO()
    score = quiz(ex, io.StringIO("2\nhist\ncount\n"), out)
    assert tuple(score) == (2, 3, 3)
    text = out.getvalue()
    assert "size: float64, 11 distinct values (e.g. 1.0, 2.0, 1.5), skew" in text
    assert "-> you said hist" in text and "You picked rung's plot for 2 of 3 columns." in text
    assert 'sns.histplot(data=df, x="size", log_scale=True, ax=ax)' in text


def _rung(args: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "rung.cli", *args], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=120, **kwargs,
    )  # fmt: skip


@pytest.mark.slow
def test_cli_quiz_with_piped_answers_and_with_stdin_closed(small_csv, tmp_path):
    done = _rung(["explore", str(small_csv), "--quiz"], tmp_path, input="log_hist\n3\n4\n")
    assert done.returncode == 0, done.stderr
    assert "You picked rung's plot for 2 of 3 columns." in done.stdout
    assert "wrote explore/small/report.html" in done.stdout
    closed = _rung(["explore", str(small_csv), "--quiz"], tmp_path, stdin=subprocess.DEVNULL)
    assert closed.returncode == 0, closed.stderr
    assert "revealing the rest" in closed.stdout and "You picked" not in closed.stdout
    assert closed.stdout.count("rung: ") == 3  # every column revealed
    bad = _rung(["explore", str(small_csv), "--quiz", "--json"], tmp_path)
    assert bad.returncode == 1 and "drop --json" in bad.stderr
