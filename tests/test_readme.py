"""The README's Learner example runs as written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def learner_example() -> str:
    text = (ROOT / "README.md").read_text()
    after = text.split("The middle rung is the `Learner`:", 1)[1]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_learner_example_runs(tmp_path):
    code = (
        learner_example()
        + "\nprint(rung.load('model.rung').predict([0.3, 1.0, -2.0, 0.5]).label)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "pos"
    assert (tmp_path / "model.rung").is_file() and (tmp_path / "lr_find.png").is_file()
