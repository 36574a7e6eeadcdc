"""rung clean: suspects from a real model, relabel / set aside / undo moving real files, never
deleting any (rung.vision.moves); decisions from a CSV or typed at a prompt."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
from pathlib import Path

import pytest
from _vision_run import trained_run

from rung.vision.clean import clean_run, find_suspects, read_decisions, review, write_suspects_csv
from rung.vision.io import get_image_files
from rung.vision.moves import LOG_NAME, QUARANTINE, Decision, apply_decisions, read_log, undo


def snapshot(root: Path) -> dict[str, str]:
    """Every file under root (hidden ones too, the log aside) -> md5 of its bytes."""
    return {
        p.relative_to(root).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != LOG_NAME
    }


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "pets"
    for rel in ["train/cats/a.jpg", "train/cats/b.jpg", "train/dogs/c.jpg", "valid/cats/d.jpg"]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(f"photo {rel}".encode())
    (root / "train/dogs/a.jpg").write_bytes(b"a different dog called a.jpg")
    return root


def test_relabel_and_aside_move_files_and_delete_nothing(data):
    before = snapshot(data)
    report = apply_decisions(
        [
            Decision(data / "train/cats/a.jpg", "relabel", "dogs"),
            Decision(data / "valid/cats/d.jpg", "aside"),
            Decision(data / "train/cats/b.jpg", "keep"),
            Decision(data / "train/dogs/c.jpg", "relabel", "dogs"),  # already a dog: no move
        ],
        data,
    )
    assert report.kept == 2 and not report.problems
    assert [(m.action, m.src, m.dst) for m in report.moved] == [
        ("relabel", "train/cats/a.jpg", "train/dogs/a-1.jpg"),  # a.jpg is taken there
        ("aside", "valid/cats/d.jpg", f"{QUARANTINE}/valid/cats/d.jpg"),
    ]
    after = snapshot(data)
    assert sorted(after.values()) == sorted(before.values())  # the same bytes, all still here
    assert after["train/dogs/a-1.jpg"] == before["train/cats/a.jpg"]
    assert after["train/dogs/a.jpg"] == before["train/dogs/a.jpg"]  # never overwritten
    # Set-aside files leave the data: image finders skip the hidden quarantine folder.
    (data / "x.png").write_bytes(b"")
    found = {p.relative_to(data).as_posix() for p in get_image_files(data)}
    assert not any(f.startswith(QUARANTINE) for f in found)
    log = read_log(data)
    assert [r["type"] for r in log] == ["move", "move"] and log[0]["session"] == report.session


def test_undo_puts_the_last_session_back_newest_first(data):
    original = snapshot(data)
    first = apply_decisions([Decision(data / "train/cats/b.jpg", "relabel", "dogs")], data)
    second = apply_decisions(
        [
            Decision(data / "train/cats/a.jpg", "aside"),
            Decision(data / "train/dogs/c.jpg", "aside"),
        ],
        data,
    )
    undone = undo(data)
    assert undone.session == second.session
    assert [m.dst for m in undone.moved] == ["train/dogs/c.jpg", "train/cats/a.jpg"]
    assert "train/dogs/b.jpg" in snapshot(data)  # the first session is still applied
    assert undo(data).session == first.session
    assert snapshot(data) == original
    assert undo(data).problems == [f"nothing to undo in {data.resolve()}."]
    assert [r["type"] for r in read_log(data)].count("undo") == 3


def test_undo_never_overwrites_a_file_that_took_the_old_place(data):
    apply_decisions([Decision(data / "train/cats/a.jpg", "aside")], data)
    (data / "train/cats/a.jpg").write_bytes(b"a new photo with the old name")
    report = undo(data)
    assert report.moved == [] and "exists again" in report.problems[0]
    assert (data / "train/cats/a.jpg").read_bytes() == b"a new photo with the old name"
    assert (data / QUARANTINE / "train/cats/a.jpg").read_bytes() == b"photo train/cats/a.jpg"


def test_problems_are_reported_not_fatal(data, tmp_path):
    outside = tmp_path / "elsewhere.jpg"
    outside.write_bytes(b"x")
    report = apply_decisions(
        [Decision(outside, "aside"), Decision(data / "train/cats/zzz.jpg", "aside")], data
    )
    assert report.moved == [] and len(report.problems) == 2
    assert "not inside the data folder" in report.problems[0]
    assert "does not exist" in report.problems[1]
    assert outside.exists()


def test_decisions_from_a_csv_are_checked_before_anything_moves(data, tmp_path):
    good = tmp_path / "good.csv"
    good.write_text(
        "path,action\n"
        f"{data / 'train/cats/a.jpg'},relabel:dogs\n"
        f"{data / 'train/cats/b.jpg'},keep\n"
        f"{data / 'valid/cats/d.jpg'},aside\n"
    )
    decisions = read_decisions(good, ["cats", "dogs"])
    assert [(d.action, d.new_label) for d in decisions] == [
        ("relabel", "dogs"),
        ("keep", None),
        ("aside", None),
    ]
    bad = tmp_path / "bad.csv"
    bad.write_text(f"path,action\n{data / 'train/cats/a.jpg'},relabel:dgos\nx.jpg,delete\n")
    with pytest.raises(
        ValueError,
        match=r"2 bad row\(s\): row 2: unknown class 'dgos'.*row 3: unknown action 'delete'",
    ):
        read_decisions(bad, ["cats", "dogs"])
    (tmp_path / "cols.csv").write_text("file,what\n")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['path', 'action'\]"):
        read_decisions(tmp_path / "cols.csv")
    assert snapshot(data)["train/cats/a.jpg"]  # nothing moved


def test_review_reads_answers_from_stdin(monkeypatch, capsys, tmp_path):
    from rung.vision.clean import Suspect

    suspects = [
        Suspect(tmp_path / f"{i}.jpg", "cats", "dogs", 0.9, 0.1, 2.3, "train", "top loss")
        for i in range(4)
    ]
    monkeypatch.setattr("sys.stdin", io.StringIO("r dogs\ndelete\na\n\nq\n"))
    decisions = review(suspects, ["cats", "dogs"])
    assert [(d.path.name, d.action, d.new_label) for d in decisions] == [
        ("0.jpg", "relabel", "dogs"),
        ("1.jpg", "aside", None),  # after 'delete' was refused and asked again
        ("2.jpg", "keep", None),
    ]
    out = capsys.readouterr().out
    assert (
        "unknown action 'delete'" in out and "[1/4]" in out and "the model says 'dogs' (90%)" in out
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("k\n"))  # input runs out: stop, keep what we have
    assert len(review(suspects, ["cats", "dogs"])) == 1


@pytest.fixture
def pets_with_a_planted_dog(cats_dogs_dir: Path, tmp_path: Path) -> Path:
    """8 cats and 8 dogs (validation photos), plus one more dog photo put in the cats folder."""
    root = tmp_path / "pets"
    for name in ("cats", "dogs"):
        (root / name).mkdir(parents=True)
        for src in sorted((cats_dogs_dir / "val" / name).glob("*.jpg"))[10:18]:
            shutil.copy(src, root / name / src.name)
    shutil.copy(cats_dogs_dir / "val" / "dogs" / "dog.4050.jpg", root / "cats" / "planted.jpg")
    return root


@pytest.mark.slow
def test_the_model_finds_the_planted_dog_and_clean_fixes_it(
    cats_dogs_dir, tmp_path_factory, pets_with_a_planted_dog, tmp_path
):
    data = pets_with_a_planted_dog
    result, _ = trained_run(cats_dogs_dir, tmp_path_factory.mktemp("runs"))
    suspects = find_suspects(result.run_dir, data=data, n_top=3, min_confidence=0.0)
    assert len(suspects) == 3
    top = suspects[0]
    assert top.path == data / "cats" / "planted.jpg"
    assert (top.label, top.predicted) == ("cats", "dogs") and top.probability > 0.9
    assert top.loss == max(s.loss for s in suspects) and "top loss" in top.reason

    # The CSV way: list, edit the action column, apply.
    listed = clean_run(result.run_dir, data=data, n_top=3, min_confidence=0.0, say=lambda m: None)
    csv_path = Path(listed["suspects_csv"])
    assert listed["suspects"][0]["path"] == str(top.path)
    rows = list(csv.DictReader(open(csv_path)))
    assert [r["action"] for r in rows] == ["keep"] * 3
    rows[0]["action"] = "relabel:dogs"
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    before = snapshot(data)
    applied = clean_run(result.run_dir, apply=csv_path, data=data, say=lambda m: None)
    assert [m["dst"] for m in applied["applied"]["moved"]] == ["dogs/planted.jpg"]
    assert snapshot(data)["dogs/planted.jpg"] == before["cats/planted.jpg"]
    json.dumps(applied)

    # The interactive way, then undo everything.
    answers = iter(["a", "q"])
    asked = clean_run(result.run_dir, data=data, n_top=2, min_confidence=0.0, interactive=True,
                      ask=lambda prompt: next(answers), say=lambda m: None)  # fmt: skip
    assert [m["action"] for m in asked["applied"]["moved"]] == ["aside"]
    assert sorted(snapshot(data).values()) == sorted(before.values())
    undo(data, everything=True)
    assert snapshot(data) == before


def test_write_suspects_csv_round_trips_through_read_decisions(tmp_path):
    from rung.vision.clean import Suspect

    suspects = [Suspect(tmp_path / "x.jpg", "cats", "dogs", 0.8, 0.2, 1.6, "valid", "top loss")]
    path = write_suspects_csv(suspects, tmp_path / "s.csv")
    row = next(csv.DictReader(open(path)))
    assert row["loss"] == "1.6000" and row["action"] == "keep"
    assert read_decisions(path) == [Decision(tmp_path / "x.jpg", "keep", None)]


def test_a_torn_line_in_the_undo_log_is_skipped_with_a_warning_naming_it(data):
    apply_decisions([Decision(data / "train/cats/a.jpg", "aside")], data)
    log = data / LOG_NAME
    with open(log, "a") as f:
        f.write('{"type": "move", "id": "2024')  # a write cut short (power loss, full disk)
    with pytest.warns(UserWarning, match=rf"{LOG_NAME}: line 2 is not a whole record"):
        report = undo(data)
    assert [m.dst for m in report.moved] == ["train/cats/a.jpg"]
    assert (data / "train/cats/a.jpg").is_file()


def test_undo_in_a_wrong_or_missing_folder_is_an_error_not_nothing_to_do(data, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"'.*/no_such_folder' does not exist"):
        undo(tmp_path / "no_such_folder")
    (tmp_path / "other").mkdir()
    with pytest.raises(FileNotFoundError, match=rf"no {LOG_NAME} in .*other: rung clean never"):
        undo(tmp_path / "other")
    apply_decisions([Decision(data / "train/cats/a.jpg", "aside")], data)
    undo(data)
    assert undo(data).problems == [f"nothing to undo in {data.resolve()}."]  # that one is fine


def test_rung_clean_undo_fails_with_a_message_and_a_non_zero_exit(data, tmp_path, capsys):
    from rung.cli import main

    assert main(["clean", str(tmp_path / "no_such_folder"), "--undo"]) != 0
    assert "no_such_folder' does not exist" in capsys.readouterr().err
    assert main(["clean", "--undo"]) != 0  # no folder given: 'latest' is a run, not data
    assert "--undo needs the data folder" in capsys.readouterr().err
    apply_decisions([Decision(data / "train/cats/a.jpg", "aside")], data)
    assert main(["clean", str(data), "--undo", "--json"]) == 0
    assert '"src": ".quarantine/train/cats/a.jpg"' in capsys.readouterr().out


def test_moves_never_leave_the_data_folder(data, tmp_path):
    report = apply_decisions(
        [
            Decision(data / "train/cats/a.jpg", "relabel", "../../escaped"),
            Decision(data / "train/cats/b.jpg", "relabel", ".hidden"),
        ],
        data,
    )
    assert report.moved == [] and len(report.problems) == 2
    assert "not a class folder name" in report.problems[0]
    assert not (tmp_path / "escaped").exists() and (data / "train/cats/a.jpg").is_file()
    (data / "loose.jpg").write_bytes(b"no class folder")  # relabel would go to data/../dogs/
    report = apply_decisions([Decision(data / "loose.jpg", "relabel", "dogs")], data)
    assert report.moved == [] and "outside the data folder" in report.problems[0]
    # A log line that points outside (edited, or from another folder) moves nothing.
    outside = tmp_path / "outside.jpg"
    outside.write_bytes(b"not yours")
    (data / LOG_NAME).write_text(
        json.dumps({"type": "move", "id": "s/0", "session": "s", "action": "aside",
                    "src": "../back_here.jpg", "dst": "../outside.jpg", "time": "t"}) + "\n"
    )  # fmt: skip
    report = undo(data)
    assert report.moved == [] and "outside the data folder" in report.problems[0]
    assert outside.read_bytes() == b"not yours" and not (tmp_path / "back_here.jpg").exists()


def test_listing_suspects_again_never_overwrites_an_edited_list(tmp_path):
    from rung.vision.clean import Suspect

    suspects = [Suspect(tmp_path / "x.jpg", "cats", "dogs", 0.8, 0.2, 1.6, "valid", "top loss")]
    first = write_suspects_csv(suspects, tmp_path / "suspects.csv")
    assert write_suspects_csv(suspects, first) == first  # untouched: replaced by the new list
    first.write_text(first.read_text().replace(",keep", ",relabel:dogs"))  # a person's work
    edited = first.read_text()
    second = write_suspects_csv(suspects, first)
    assert second == tmp_path / "suspects-2.csv" and first.read_text() == edited
    assert read_decisions(second)[0].action == "keep"
