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


# After the example: the exported model, loaded back, labels fresh rows as the rule that made
# the data does (pos when x0 > 0). Unseeded on purpose: the example must work for any seed.
CHECK = """
import numpy as np
fresh = np.random.default_rng(1).standard_normal((400, 4)).astype("float32")
labels = [rung.load("model.rung").predict(row).label for row in fresh]
print(np.mean([l == ("pos" if x > 0 else "neg") for l, x in zip(labels, fresh[:, 0])]))
"""


def test_the_readme_learner_example_runs_and_learns_the_rule(tmp_path):
    code = learner_example() + CHECK
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.strip().splitlines()[-1]) >= 0.95
    assert (tmp_path / "model.rung").is_file() and (tmp_path / "lr_find.png").is_file()
