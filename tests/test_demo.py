"""`rung demo`: the README's main job, end to end (quick mode, offline)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rung.demo import write_digits_folder

ROOT = Path(__file__).resolve().parents[1]


def test_digits_folder_is_a_real_image_folder(tmp_path):
    from PIL import Image

    folder = write_digits_folder(tmp_path / "digits", per_class=3)
    files = sorted(folder.rglob("*.png"))
    assert len(files) == 30 and {f.parent.name for f in files} == {str(d) for d in range(10)}
    with Image.open(files[0]) as img:
        assert img.size == (32, 32) and img.mode == "RGB"
    before = files[0].stat().st_mtime_ns
    write_digits_folder(tmp_path / "digits", per_class=3)  # a second run keeps what is there
    assert files[0].stat().st_mtime_ns == before


@pytest.mark.slow
def test_demo_quick_runs_the_whole_job_and_the_model_predicts_in_a_fresh_process(tmp_path):
    env_cmd = [sys.executable, "-m", "rung.cli"]
    out = subprocess.run(
        [*env_cmd, "demo", "--quick", "--json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)  # nothing but the JSON object on stdout
    run = tmp_path / result["run_dir"]
    for name in (
        "model.rung",
        "metrics.csv",
        "config.json",
        "report.html",
        "report.md",
        "confusion_matrix.png",
    ):
        assert (run / name).is_file(), name
    # Quick mode reaches 0.79-0.84 over seeds 0-3 and 42 (80 validation images; chance is 0.1).
    assert result["metrics"]["accuracy"] >= 0.75
    # predict a folder from the command line, in a fresh process
    csv_path = tmp_path / "preds.csv"
    pred = subprocess.run(
        [*env_cmd, "predict", str(run / "model.rung"), result["data"], "--out", str(csv_path), "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert pred.returncode == 0, pred.stderr[-2000:]
    rows = csv_path.read_text().splitlines()
    assert rows[0].startswith("path,label,probability") and len(rows) == 1 + 400
    one = subprocess.run(
        [*env_cmd, "predict", str(run / "model.rung"), result["sample"]["path"], "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    plain = json.loads(one.stdout)
    assert plain["label"] == result["sample"]["label"]
    tta = subprocess.run(
        [*env_cmd, "predict", str(run / "model.rung"), result["sample"]["path"], "--tta", "--json"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    # Digits train without flips (a mirrored 2 is not a 2), so TTA must not mirror them: its
    # probabilities are the plain prediction's.
    probs = json.loads(tta.stdout)["probs"]
    assert len(probs) == 10 and probs == pytest.approx(plain["probs"], abs=1e-6)
    listed = subprocess.run(
        [*env_cmd, "runs", "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert [r["id"] for r in json.loads(listed.stdout)["runs"]] == [run.name]
    interp = subprocess.run(
        [*env_cmd, "interpret", "--json"], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert interp.returncode == 0, interp.stderr[-2000:]
    assert len(json.loads(interp.stdout)["confusion_matrix"]) == 10
