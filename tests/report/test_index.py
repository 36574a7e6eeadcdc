"""The runs index: recorded and unrecorded runs listed newest first, deleted ones dropped,
changed ones re-read, tables for `rung runs`, and several writers at once (rung.report.index)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from rung.report import page
from rung.report.compare import compare_runs
from rung.report.index import (
    INDEX_FILE,
    SCHEMA_VERSION,
    format_runs,
    list_runs,
    record_run,
)
from rung.report.run_folder import mark_complete, new_run_dir, save_json

ROOT = Path(__file__).resolve().parents[2]


def make_run(root: Path, name: str, **config) -> Path:
    """A run folder with a config.json, named like new_run_dir's (the time is in ``name``)."""
    run = root / name
    run.mkdir(parents=True)
    save_json(run / "config.json", config)
    return run


def test_record_run_stores_what_the_run_holds(run_folder):
    row = record_run(run_folder)
    last = json.loads(json.dumps(row))  # the row is plain JSON values
    assert last["id"] == run_folder.name
    assert (row["app"], row["task"], row["arch"]) == ("images", "classification", "mlp")
    assert (row["n_train"], row["n_valid"], row["data"]) == (160, 40, "data/cats_dogs")
    assert Path(row["model_path"]) == (run_folder / "model.rung").resolve()
    assert row["main_metric"] == "error_rate" and row["n_epochs"] == 3
    assert set(row["metrics"]) == {"valid_loss", "accuracy", "error_rate"}
    assert row["duration_s"] > 0
    assert (run_folder.parent / INDEX_FILE).is_file()
    with sqlite3.connect(run_folder.parent / INDEX_FILE) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert db.execute("SELECT id FROM runs").fetchall() == [(run_folder.name,)]


def test_list_runs_is_newest_first_and_indexes_unrecorded_folders(tmp_path, run_folder):
    root = run_folder.parent
    old = make_run(root, "20200101-090000-table", task="regression", metrics={"rmse": 1.5})
    record_run(old)
    record_run(run_folder)
    unrecorded = make_run(root, "20200601-120000-text", metrics={"pearson": 0.8})
    same_second = [new_run_dir(root, "images") for _ in range(2)]  # newest of all, just made
    rows = list_runs(root)
    ids = [r["id"] for r in rows]
    assert ids[:2] == [p.name for p in reversed(same_second)]
    assert ids[2:] == [run_folder.name, unrecorded.name, old.name]
    assert rows[3]["metrics"] == {"pearson": 0.8} and rows[3]["app"] == "text"
    with sqlite3.connect(root / INDEX_FILE) as db:  # the unrecorded run is in the index now
        assert {r[0] for r in db.execute("SELECT id FROM runs")} == set(ids)


def test_list_runs_drops_deleted_folders_and_rereads_changed_ones(tmp_path, run_folder):
    root = run_folder.parent
    other = make_run(root, "20210101-000000-table", metrics={"accuracy": 0.8})
    record_run(other)
    record_run(run_folder)
    shutil.rmtree(run_folder)
    save_json(other / "config.json", {"metrics": {"accuracy": 0.85}})
    rows = list_runs(root)
    assert [r["id"] for r in rows] == [other.name]
    assert rows[0]["metrics"] == {"accuracy": 0.85}
    with sqlite3.connect(root / INDEX_FILE) as db:
        assert db.execute("SELECT id FROM runs").fetchall() == [(other.name,)]


def test_list_runs_skips_the_latest_link_and_other_files(tmp_path):
    root = tmp_path / "runs"
    run = new_run_dir(root, "images")
    (root / "stray.txt").write_text("hi")
    (root / "not-a-run").mkdir()
    assert [r["id"] for r in list_runs(root)] == [run.name]
    assert list_runs(tmp_path / "nowhere") == []
    assert not (tmp_path / "nowhere").exists()  # listing creates nothing


def test_an_index_from_an_older_schema_is_rebuilt_and_a_newer_one_refused(tmp_path):
    root = tmp_path / "runs"
    run = make_run(root, "20220101-000000-table", metrics={"accuracy": 0.7})
    with sqlite3.connect(root / INDEX_FILE) as db:
        db.execute("CREATE TABLE runs (id TEXT)")  # version 0: an old layout
    assert [r["id"] for r in list_runs(root)] == [run.name]
    with sqlite3.connect(root / INDEX_FILE) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.warns(RuntimeWarning, match=r"run is complete, but .*index.sqlite could not "
                      r"record it \(.*newer rung.*\).*delete .*index.sqlite"):  # fmt: skip
        row = record_run(run)  # left for the newer rung: not rebuilt, not moved
    assert row["status"] == "complete" and (root / INDEX_FILE).is_file()


def test_a_damaged_index_fails_neither_the_listing_nor_the_run(tmp_path):
    """Before: record_run raised, so a training that had written everything exited 1."""
    root = tmp_path / "runs"
    old = make_run(root, "20220101-000000-table", metrics={"accuracy": 0.7})
    garbage = b"this is not sqlite" * 100
    (root / INDEX_FILE).write_bytes(garbage)
    assert [r["id"] for r in list_runs(root)] == [old.name]
    run = new_run_dir(root, "images")
    with pytest.warns(RuntimeWarning, match=r"index.sqlite was damaged \(file is not a database\); "
                      r"moved it to index.sqlite.damaged and started a new index"):  # fmt: skip
        row = record_run(run)
    assert row["status"] == "complete" and (root / "latest").resolve() == run.resolve()
    assert (root / "index.sqlite.damaged").read_bytes() == garbage
    assert [r["id"] for r in list_runs(root)] == [run.name, old.name]  # the new index
    with sqlite3.connect(root / INDEX_FILE) as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 2


def test_concurrent_writers_all_land(tmp_path):
    root = tmp_path / "runs"
    runs = [make_run(root, f"20230101-0000{i:02d}-table", metrics={"accuracy": i / 10}) for i in range(8)]  # fmt: skip
    code = (
        "import sys\nfrom rung.report.index import record_run, list_runs\n"
        "for run in sys.argv[2:]:\n    record_run(run)\n    list_runs(sys.argv[1])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(root), *map(str, runs[i::4])], env=env)
        for i in range(4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    with sqlite3.connect(root / INDEX_FILE) as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 8
    assert [r["metrics"]["accuracy"] for r in list_runs(root)] == [i / 10 for i in range(7, -1, -1)]


def test_format_runs_prints_a_table(tmp_path, run_folder):
    root = run_folder.parent
    make_run(root, "20200101-090000-table", app="table", task="classification", arch="rf",
             metrics={"accuracy": 0.8315}, duration_s=12.5)  # fmt: skip
    rows = list_runs(root)
    text = format_runs(rows)
    lines = text.splitlines()
    assert lines[0].split() == ["run", "task", "model", "metric", "valid_loss", "epochs", "time"]
    assert lines[1].startswith(run_folder.name) and "images/classification" in lines[1]
    err = rows[0]["metrics"]["error_rate"]
    assert f"error_rate {page.number(err)}" in lines[1]
    assert lines[2].split() == ["20200101-090000-table", "table/classification", "rf",
                                "accuracy", "0.8315", "-", "-", "12.5", "s"]  # fmt: skip
    by_accuracy = format_runs(rows, metric="accuracy").splitlines()
    assert by_accuracy[0].split()[3] == "accuracy"
    assert by_accuracy[2].split()[3] == "0.8315"
    assert "No runs yet" in format_runs([])


def test_compare_runs_lines_runs_up(tmp_path):
    root = tmp_path / "runs"
    a = make_run(root, "20240101-000000-table", task="classification", arch="rf",
                 hyperparameters={"n_estimators": 100, "min_samples_leaf": 5},
                 metrics={"accuracy": 0.81, "valid_loss": 0.45})  # fmt: skip
    b = make_run(root, "20240102-000000-table", task="classification", arch="rf",
                 hyperparameters={"n_estimators": 300, "min_samples_leaf": 5},
                 metrics={"accuracy": 0.83, "valid_loss": 0.47})  # fmt: skip
    text = compare_runs(root, [a.name, b])
    lines = {line.split()[0]: line.split()[1:] for line in text.splitlines()[1:]}
    assert text.splitlines()[0].split() == [a.name, b.name]
    assert lines["accuracy"] == ["0.8100", "0.8300", "*"]
    assert lines["valid_loss"] == ["0.4500", "*", "0.4700"]
    assert lines["hyperparameters.n_estimators"] == ["100", "300"]
    assert "hyperparameters.min_samples_leaf" not in lines  # the same in both
    with pytest.raises(FileNotFoundError, match="did you mean"):
        compare_runs(root, [a.name, "20240102-000000-tabel"])


def test_record_run_through_the_latest_link_records_the_run_itself(tmp_path):
    root = tmp_path / "runs"
    run = new_run_dir(root, "images")
    assert record_run(run)["id"] == run.name
    assert record_run(root / "latest")["id"] == run.name
    assert [r["id"] for r in list_runs(root)] == [run.name]


def test_rung_runs_shows_which_runs_did_not_finish(run_folder, interrupted_run):
    root = run_folder.parent
    mark_complete(run_folder)
    stopped = interrupted_run(root)
    running = new_run_dir(root, "table")
    rows = list_runs(root)
    assert [(r["id"], r["status"]) for r in rows] == [
        (running.name, "running"), (stopped.name, "incomplete"), (run_folder.name, "complete")
    ]  # fmt: skip
    lines = format_runs(rows).splitlines()
    assert lines[0].split()[-1] == "status"
    assert [line.split()[-1] for line in lines[1:]] == ["running", "incomplete", "complete"]
    assert "status" not in format_runs(rows[2:])  # shown only when a run did not finish


def test_a_training_run_succeeds_whatever_state_its_index_is_in(tmp_path, titanic_dir):
    """Before: `rung train` wrote the whole run, then exited 1 on a damaged index.sqlite."""
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / INDEX_FILE).write_bytes(b"\0garbage" * 500)
    done = subprocess.run(
        [sys.executable, "-m", "rung.cli", "train", "table", str(titanic_dir / "train.csv"),
         "--target", "Survived", "--models", "linear", "--folds", "0", "--out", str(runs)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "index.sqlite was damaged" in done.stderr and "started a new index" in done.stderr
    assert (runs / "latest" / "model.rung").is_file()
    assert [r["status"] for r in list_runs(runs)] == ["complete"]
