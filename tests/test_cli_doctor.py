"""`rung doctor PATH`: the dispatch to the table, text, image and run doctors, the exit status
(1 when a finding is an error), --json, --out, and one clear line on bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from rung.cli import main
from rung.report.run_folder import atomic_write_text, mark_complete, new_run_dir

ROOT = Path(__file__).resolve().parents[1]


def doctor(capsys, *args: str) -> tuple[int, str, str]:
    status = main(["doctor", *map(str, args)])
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture(scope="module")
def leaky_csv(tmp_path_factory, titanic_dir) -> Path:
    """Titanic with a column that is the answer, in a folder of its own."""
    df = pd.read_csv(titanic_dir / "train.csv")
    df["outcome"] = df["Survived"].map({0: "lost", 1: "saved"})
    path = tmp_path_factory.mktemp("data") / "leaky.csv"
    df.to_csv(path, index=False)
    return path


def test_a_clean_table_exits_0_and_prints_the_findings(capsys, titanic_dir):
    status, out, err = doctor(capsys, titanic_dir / "train.csv", "--target", "Survived")
    assert status == 0 and err == ""
    assert out.startswith("train.csv (table): 2 findings from 8 checks")
    assert "Cabin is missing in 77% of the rows" in out


def test_an_error_finding_exits_1_and_out_writes_the_report_elsewhere(capsys, leaky_csv, tmp_path):
    before = sorted(p.name for p in leaky_csv.parent.iterdir())
    status, out, _ = doctor(capsys, leaky_csv, "--target", "Survived", "--out", tmp_path / "doc")
    assert status == 1
    assert "error    outcome alone predicts Survived" in out
    saved = json.loads((tmp_path / "doc" / "doctor.json").read_text())
    assert saved["worst"] == "error" and saved["findings"][0]["check"] == "table.leakage"
    assert "outcome alone predicts Survived" in (tmp_path / "doc" / "doctor.md").read_text()
    assert sorted(p.name for p in leaky_csv.parent.iterdir()) == before  # data folder untouched


def test_json_with_a_test_file(capsys, titanic_dir):
    status, out, _ = doctor(
        capsys, titanic_dir / "train.csv", "--target", "Survived",
        "--test", titanic_dir / "test.csv", "--json",
    )  # fmt: skip
    result = json.loads(out)  # nothing but the JSON on stdout
    assert status == 0 and result["kind"] == "table" and result["facts"]["test_rows"] == 418
    assert "table.drift" in result["checks"]


def test_latest_run_is_diagnosed_by_the_run_checks(capsys, tmp_path):
    run = new_run_dir(tmp_path / "runs", "images")
    atomic_write_text(run / "metrics.csv", "epoch,train_loss,valid_loss\n0,0.7,0.6\n1,nan,nan\n")
    mark_complete(run)
    status, out, _ = doctor(capsys, "latest", "--root", tmp_path / "runs", "--json")
    result = json.loads(out)
    assert status == 1 and result["kind"] == "run" and result["subject"] == run.name
    assert [f["check"] for f in result["findings"]] == ["run.nan_loss"]
    status, out, _ = doctor(capsys, run)  # the folder itself
    assert status == 1 and "became NaN at epoch 1" in out
    status, _, err = doctor(capsys, run, "--target", "y")
    assert status == 1 and "--target, --text and --test are for a CSV" in err


def test_an_image_folder_goes_to_the_image_doctor(capsys, cats_dogs_dir):
    status, out, _ = doctor(capsys, cats_dogs_dir, "--json")
    result = json.loads(out)
    assert result["kind"] == "images" and status == (1 if result["worst"] == "error" else 0)
    assert any(c.startswith("images.") for c in result["checks"])
    status, _, err = doctor(capsys, cats_dogs_dir, "--out", cats_dogs_dir / "train" / "doc")
    assert status == 1 and "inside the image folder" in err
    assert not (cats_dogs_dir / "train" / "doc").exists()


def test_a_csv_with_text_goes_to_the_text_doctor(capsys, tmp_path):
    rows = [
        (f"review number {i} says it was {'good' if i % 2 else 'bad'}", i % 2) for i in range(40)
    ]
    path = tmp_path / "reviews.csv"
    pd.DataFrame(rows, columns=["review", "label"]).to_csv(path, index=False)
    status, out, _ = doctor(capsys, path, "--text", "review", "--target", "label", "--json")
    result = json.loads(out)
    assert result["kind"] == "texts" and result["facts"]["rows"] == 40
    assert status == (1 if result["worst"] == "error" else 0)


def test_bad_input_is_one_clear_line(capsys, titanic_dir, tmp_path):
    status, out, err = doctor(capsys, tmp_path / "nowhere.csv")
    assert status == 1 and out == "" and len(err.strip().splitlines()) == 1
    assert "no file or folder at" in err and "nowhere.csv" in err
    status, _, err = doctor(capsys, titanic_dir / "train.csv", "--target", "Survivd")
    assert status == 1 and len(err.strip().splitlines()) == 1
    assert "columns are: ['PassengerId', 'Survived'" in err and "Did you mean 'Survived'" in err


def test_help_says_what_the_exit_status_means():
    done = subprocess.run(
        [sys.executable, "-m", "rung.cli", "doctor", "--help"],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0
    assert "0 when no finding is an error, 1 when one is" in " ".join(done.stdout.split())
