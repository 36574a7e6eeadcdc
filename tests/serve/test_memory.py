"""The memory of `rung serve` stays flat: benchmarks/serve_memory.py, made small (300 requests of
real cats_dogs photos, the first 100 as warm-up), in its own process, as the benchmark runs.

The bound, 12 MB over the 200 requests after warm-up (60 KB a request), is above what was
measured here (2.7-3.7 MB after warm-up over 150-900 requests: glibc's pools settling, no slope)
and below what any per-request leak would add: keeping each decoded photo (~560 KB), its 64 px
float tensor (48 KB) with the upload (45 KB on average) or the request's output would cross it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOUND_MB = 12.0


@pytest.mark.slow
def test_rss_stays_flat_over_300_requests(image_model, cats_dogs_dir):
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "serve_memory.py"), "--requests", "300",
         "--warmup", "100", "--clients", "4", "--model", str(image_model),
         "--photos", str(cats_dogs_dir / "val"), "--json"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["errors"] == 0 and report["items_predicted"] == 300
    assert report["rss_start_mb"] <= report["rss_after_warmup_mb"] <= report["rss_max_mb"]
    assert report["rss_end_mb"] <= report["rss_max_mb"]
    assert report["growth_after_warmup_mb"] < BOUND_MB, report
