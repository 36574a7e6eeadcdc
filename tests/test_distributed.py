"""The same training script as 2 processes on CPU (gloo): identical weights at the end, and
metrics over the full validation set, each row counted exactly once."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from rung.metrics import accuracy

SCRIPT = Path(__file__).with_name("_ddp_train.py")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.multiprocess
def test_two_processes_end_identical_and_count_validation_once(tmp_path):
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), str(SCRIPT), str(tmp_path)]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert all(r["num_processes"] == 2 for r in reports)
    assert all(r["backend"] == "gloo" for r in reports)
    # each process saw half the training batches: 400 rows / 16 = 25 batches -> 13 each
    assert [r["train_batches"] for r in reports] == [13, 13]
    w0, w1 = (load_file(str(tmp_path / f"weights{r}.safetensors")) for r in (0, 1))
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    # metrics are over the whole validation set exactly once, the same on both processes
    assert [r["n_valid_seen"] for r in reports] == [101, 101]
    assert reports[0]["metrics"] == reports[1]["metrics"]
    # ... and equal to the metric of the final model on the full validation set here
    g = torch.Generator().manual_seed(0)
    x = torch.randn(501, 6, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    from rung.data.splitters import random_split

    valid = torch.as_tensor(random_split(501, valid_pct=101 / 501, seed=0).valid)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    model.load_state_dict(w0)
    with torch.no_grad():
        preds = model(x[valid])
    assert reports[0]["metrics"]["accuracy"] == pytest.approx(accuracy(preds, y[valid]), abs=1e-9)
    loss = nn.functional.cross_entropy(preds, y[valid]).item()
    assert reports[0]["metrics"]["valid_loss"] == pytest.approx(loss, rel=1e-5)
    assert reports[0]["metrics"]["accuracy"] > 0.85
