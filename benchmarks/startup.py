"""Start-up time of `rung --help` (goal <= 0.3 s), next to a bare `python -c pass` and
`import torch` measured in the same run.

    .venv/bin/python benchmarks/startup.py [--repeats 10]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(cmd: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    rung_bin = Path(sys.executable).with_name("rung")
    rung_cmd = (
        [str(rung_bin), "--help"]
        if rung_bin.exists()
        else [sys.executable, "-m", "rung.cli", "--help"]
    )
    timed(rung_cmd, 2)  # warm the file cache
    result = {
        "python_c_pass_s": timed([sys.executable, "-c", "pass"], args.repeats),
        "rung_help_s": timed(rung_cmd, args.repeats),
        "import_torch_s": timed([sys.executable, "-c", "import torch"], max(3, args.repeats // 3)),
    }
    result["rung_help_over_bare_python_s"] = result["rung_help_s"] - result["python_c_pass_s"]
    result["goal_s"] = 0.3
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
