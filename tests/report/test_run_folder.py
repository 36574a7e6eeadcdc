"""The run folder: unique names, the latest pointer, finding a run from what a user types,
atomic JSON, and reading a run back (rung.report.run_folder, rung.report.run_info)."""

from __future__ import annotations

import json
import os
import re
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from rung.report.run_folder import (
    INCOMPLETE_FILE,
    RunNotFoundError,
    is_run_dir,
    mark_complete,
    new_run_dir,
    resolve_run,
    run_status,
    save_json,
    split_run_name,
)
from rung.report.run_info import read_run


def test_new_run_dir_names_by_time_and_keeps_names_unique(tmp_path):
    root = tmp_path / "runs"
    runs = [new_run_dir(root, "images") for _ in range(3)]
    assert all(r.is_dir() and r.parent == root for r in runs)
    assert re.fullmatch(r"\d{8}-\d{6}-images", runs[0].name)
    assert len({r.name for r in runs}) == 3
    for later in runs[1:]:  # the same second gets -2, -3; a new second a new stamp
        assert re.fullmatch(r"\d{8}-\d{6}-images(-[23])?", later.name)
        assert [p.name for p in later.iterdir()] == [INCOMPLETE_FILE]
    stamps = [r.name[:15] for r in runs]
    if stamps[0] == stamps[1] == stamps[2]:
        assert [r.name[15:] for r in runs] == ["-images", "-images-2", "-images-3"]


def test_new_run_dir_is_unique_under_many_threads(tmp_path):
    made: list[Path] = []
    threads = [
        threading.Thread(target=lambda: made.append(new_run_dir(tmp_path, "table")))
        for _ in range(12)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({p.name for p in made}) == 12
    threads = [threading.Thread(target=mark_complete, args=(run,)) for run in made]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    newest = max(made, key=lambda p: (p.name[:15], len(p.name), p.name))
    assert resolve_run(tmp_path / "latest", tmp_path) == newest.resolve()


def test_run_names_are_cleaned_and_empty_ones_refused(tmp_path):
    assert new_run_dir(tmp_path, "my birds/v2").name.endswith("-my-birds-v2")
    with pytest.raises(ValueError, match="letters or digits"):
        new_run_dir(tmp_path, "///")


def test_latest_is_a_relative_symlink_to_the_newest_run(tmp_path):
    root = tmp_path / "runs"
    older, newest = new_run_dir(root, "a"), new_run_dir(root, "b")
    mark_complete(newest)
    mark_complete(older)  # finished last, but started first: latest stays on the newest
    link = root / "latest"
    assert link.is_symlink() and os.readlink(link) == newest.name  # relative: survives a move
    assert resolve_run(link, root) == newest.resolve()
    assert resolve_run("latest", root) == newest.resolve()
    moved = tmp_path / "moved"
    root.rename(moved)
    assert resolve_run(moved / "latest", moved).name == newest.name


def test_latest_falls_back_to_a_text_file_without_symlinks(tmp_path, monkeypatch):
    def no_symlinks(*args, **kwargs):
        raise OSError("symbolic links are not allowed here")  # as on Windows without dev mode

    monkeypatch.setattr(os, "symlink", no_symlinks)
    root = tmp_path / "runs"
    run = new_run_dir(root, "images")
    mark_complete(run)
    assert not (root / "latest").exists()
    assert (root / "LATEST").read_text().strip() == run.name
    assert resolve_run(root / "latest", root) == run.resolve()
    assert [p.name for p in root.iterdir() if p.name.endswith(".tmp")] == []


def test_resolve_run_accepts_a_folder_its_model_file_or_its_name(run_folder):
    root = run_folder.parent
    expected = run_folder.resolve()
    assert resolve_run(run_folder, root) == expected
    assert resolve_run(run_folder / "model.rung", root) == expected
    assert resolve_run(str(run_folder / "metrics.csv"), root) == expected
    assert resolve_run(run_folder.name, root) == expected


def test_resolve_run_errors_say_what_to_give(tmp_path, run_folder):
    root = run_folder.parent
    with pytest.raises(RunNotFoundError, match="no runs yet"):
        resolve_run(tmp_path / "empty" / "latest", tmp_path / "empty")
    typo = run_folder.name[:-1] + "x"
    with pytest.raises(RunNotFoundError, match=f"did you mean '{run_folder.name}'"):
        resolve_run(typo, root)
    with pytest.raises(RunNotFoundError, match="a folder of runs, not one run"):
        resolve_run(root, root)
    plain = tmp_path / "photos"
    plain.mkdir()
    (plain / "cat.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(RunNotFoundError, match="not a run folder"):
        resolve_run(plain, root)
    with pytest.raises(RunNotFoundError, match="outside any run folder"):
        resolve_run(plain / "cat.jpg", root)
    other = tmp_path / "other"
    other.mkdir()
    os.symlink("20200101-000000-gone", other / "latest")
    with pytest.raises(RunNotFoundError, match="no longer exists"):
        resolve_run(other / "latest", other)


def test_is_run_dir_and_split_run_name(tmp_path, run_folder):
    assert is_run_dir(run_folder)
    assert not is_run_dir(tmp_path)
    assert not is_run_dir(run_folder / "config.json")
    when, name = split_run_name("20240131-142501-my-birds-3")
    assert (when.year, when.hour, name) == (2024, 14, "my-birds")
    assert split_run_name("99999999-999999-x") == (None, None)


def test_save_json_converts_numpy_torch_and_paths(tmp_path):
    path = save_json(
        tmp_path / "sub" / "config.json",
        {
            "n": np.int64(3),
            "acc": np.float32(0.5),
            "loss": torch.tensor(0.25),
            "sizes": torch.tensor([1, 2]),
            "weights": np.array([[1.0, 2.0]]),
            "data": Path("data/birds"),
            "nan": float("nan"),
            "tags": {"b", "a"},
            1: "one",
        },
    )
    assert json.loads(path.read_text()) == {
        "n": 3,
        "acc": 0.5,
        "loss": 0.25,
        "sizes": [1, 2],
        "weights": [[1.0, 2.0]],
        "data": "data/birds",
        "nan": None,
        "tags": ["a", "b"],
        "1": "one",
    }


def test_save_json_is_atomic_and_names_what_json_cannot_hold(tmp_path):
    path = save_json(tmp_path / "config.json", {"lr": 0.01})
    with pytest.raises(TypeError, match=r"obj\['loss_func'\].*function"):
        save_json(path, {"lr": 0.02, "loss_func": lambda x: x})
    assert json.loads(path.read_text()) == {"lr": 0.01}  # the old file is untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json"]  # no temp files left


def test_read_run_reads_what_the_app_wrote(run_folder):
    info = read_run(run_folder)
    last = info.epochs[-1]
    assert (info.app, info.task, info.arch) == ("images", "classification", "mlp")
    assert (info.n_train, info.n_valid, info.data_path) == (160, 40, "data/cats_dogs")
    assert len(info.epochs) == 3 and last["epoch"] == 2
    assert info.metrics["accuracy"] == pytest.approx(last["accuracy"])
    assert info.main_metric == "error_rate"
    assert info.duration_s == pytest.approx(sum(row["time"] for row in info.epochs))
    assert [p.name for p in info.model_files] == ["model.rung"]
    assert info.model_config["model"]["name"] == "mlp"
    assert info.notes.startswith("A first try.")
    assert info.problems == []


def test_read_run_reports_broken_files_instead_of_failing(run_folder):
    (run_folder / "config.json").write_text("{not json")
    (run_folder / "model.rung").write_bytes(b"garbage")
    info = read_run(run_folder)
    assert info.config == {} and info.model_config == {}
    assert any(p.startswith("config.json could not be read") for p in info.problems)
    assert any(p.startswith("model.rung could not be read") for p in info.problems)
    assert info.app == "images"  # from the folder name
    assert info.metrics["accuracy"] == pytest.approx(info.epochs[-1]["accuracy"])


def test_an_interrupted_run_is_marked_and_latest_stays_on_the_last_finished_run(
    run_folder, interrupted_run
):
    """Before: Ctrl-C left runs/latest pointing at a folder holding only show_batch.png, so
    `rung predict runs/latest/model.rung` and `rung interpret` failed."""
    root = run_folder.parent
    mark_complete(run_folder)  # a run that finished (record_run does this)
    stopped = interrupted_run(root)
    assert sorted(p.name for p in stopped.iterdir()) == [INCOMPLETE_FILE, "show_batch.png"]
    assert run_status(stopped) == "incomplete" and run_status(run_folder) == "complete"
    assert (root / "latest" / "model.rung").is_file()  # what `rung predict` opens
    assert resolve_run("latest", root) == run_folder.resolve()
    assert resolve_run(stopped, root) == stopped.resolve()  # named, it is still found


def test_latest_never_lands_on_an_unfinished_run(tmp_path, run_folder, interrupted_run):
    root = run_folder.parent
    stopped = interrupted_run(root)
    os.symlink(stopped.name, root / "latest")  # as an older rung left it
    assert resolve_run("latest", root) == run_folder.resolve()
    os.unlink(root / "latest")  # no pointer at all: the newest finished run
    assert resolve_run(root / "latest", root) == run_folder.resolve()

    only = tmp_path / "only"
    interrupted_run(only)
    running = new_run_dir(only, "table")  # this process is still making it
    assert run_status(running) == "running"
    with pytest.raises(RunNotFoundError, match=f"no finished runs yet.*{running.name}, is running"):
        resolve_run("latest", only)
