"""rung doctor on image folders: real cats_dogs photos copied to a temporary folder (22 + 22
training, 5 + 5 validation), each test planting one defect and asserting that its check fires
with the right files and advice, and that no other check does."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

from rung.report.doctor import ERROR, INFO, WARNING
from rung.vision.doctor import diagnose_images


@pytest.fixture
def pets(tmp_path: Path, cats_dogs_dir: Path) -> Path:
    """A clean subset: cat/dog 1-24 but 11 and 12 (two small dogs) for training, 4001-4005 for
    validation (cats_dogs holds one real near copy, dog.74 ~ dog.180, found in its own test)."""
    root = tmp_path / "pets"
    train = [i for i in range(1, 25) if i not in (11, 12)]
    for split, numbers in (("train", train), ("val", range(4001, 4006))):
        for animal in ("cat", "dog"):
            folder = root / split / f"{animal}s"
            folder.mkdir(parents=True)
            for i in numbers:
                name = f"{animal}.{i}.jpg"
                shutil.copy(cats_dogs_dir / split / f"{animal}s" / name, folder / name)
    return root


def fired(diagnosis, severity_at_least=WARNING) -> set[str]:
    """The checks of the findings at ``severity_at_least`` or worse."""
    worse = (ERROR,) if severity_at_least == ERROR else (ERROR, WARNING)
    return {f.check for f in diagnosis.findings if f.severity in worse}


def test_clean_folder_finds_nothing(pets):
    diagnosis = diagnose_images(pets)
    assert diagnosis.findings == [], diagnosis.format()
    assert len(diagnosis.checks) == 9 and "images.leakage" in diagnosis.checks
    assert diagnosis.facts["train"] == 44 and diagnosis.facts["valid"] == 10
    assert diagnosis.facts["split"] == "train/ and valid/ folders"


def test_15_validation_images_copied_from_training_are_named(pets, tmp_path):
    copied = []
    for animal, numbers in (("cat", range(1, 9)), ("dog", range(1, 8))):
        for i in numbers:
            target = pets / "val" / f"{animal}s" / f"copy-of-{animal}.{i}.jpg"
            shutil.copy(pets / "train" / f"{animal}s" / f"{animal}.{i}.jpg", target)
            copied.append(target.relative_to(pets).as_posix())
    out = tmp_path / "doctor"
    diagnosis = diagnose_images(pets, out=out)
    assert fired(diagnosis) == {"images.leakage"}, diagnosis.format()
    (finding,) = diagnosis.by_check("images.leakage")
    assert finding.severity == ERROR
    assert sorted(finding.evidence["files"]) == sorted(copied)
    assert finding.evidence["count"] == finding.evidence["exact"] == 15
    assert finding.message.startswith("15 validation image(s) are copies")
    text = diagnosis.format()
    assert all(name in text for name in copied)  # the terminal names every one of them
    assert "never seen" in finding.next_step
    picture = out / finding.picture
    with Image.open(picture) as im:
        assert im.format == "PNG" and im.height > im.width  # 8 pairs, one a row
    written = json.loads(diagnosis.write(out)["json"].read_text())
    assert written["worst"] == "error" and written["findings"][0]["check"] == "images.leakage"


def test_duplicated_file_in_one_class(pets):
    shutil.copy(pets / "train/cats/cat.3.jpg", pets / "train/cats/cat.3 (1).jpg")
    diagnosis = diagnose_images(pets)
    assert fired(diagnosis) == {"images.duplicates"}, diagnosis.format()
    (finding,) = diagnosis.by_check("images.duplicates")
    assert finding.evidence["exact"] is True and finding.evidence["extra_copies"] == 1
    assert {"train/cats/cat.3.jpg", "train/cats/cat.3 (1).jpg"} == set(
        finding.evidence["pairs"][0][k] for k in ("a", "b")
    )
    assert "delete the extra copies" in finding.next_step


def test_resized_reencoded_copy_is_a_near_duplicate(pets):
    with Image.open(pets / "train/dogs/dog.5.jpg") as im:
        small = im.resize((im.width * 2 // 3, im.height * 2 // 3))
    small.save(pets / "train/dogs/dog.5-small.jpg", quality=60)
    diagnosis = diagnose_images(pets)
    assert fired(diagnosis) == {"images.duplicates"}, diagnosis.format()
    (finding,) = diagnosis.by_check("images.duplicates")
    assert finding.evidence["exact"] is False
    assert "train/dogs/dog.5.jpg" in finding.message and "dog.5-small.jpg" in finding.message


def test_real_near_copy_in_cats_dogs(cats_dogs_dir, tmp_path):
    """The shared data set itself holds two different files of the same four puppies."""
    diagnosis = diagnose_images(cats_dogs_dir, out=tmp_path)
    assert fired(diagnosis) == {"images.duplicates"}, diagnosis.format()
    (finding,) = diagnosis.by_check("images.duplicates")
    assert finding.message.endswith("train/dogs/dog.180.jpg ~ train/dogs/dog.74.jpg")
    assert (tmp_path / finding.picture).stat().st_size > 1000


def test_text_renamed_jpg_and_truncated_jpeg_are_unreadable(pets):
    (pets / "train/cats/notes.jpg").write_text("<html>404 Not Found</html>")
    data = (pets / "train/dogs/dog.9.jpg").read_bytes()
    (pets / "train/dogs/dog.9.jpg").write_bytes(data[: len(data) // 2])
    diagnosis = diagnose_images(pets)
    assert fired(diagnosis) == {"images.unreadable"}, diagnosis.format()
    (finding,) = diagnosis.by_check("images.unreadable")
    assert finding.severity == ERROR
    reasons = {f["file"]: f["reason"] for f in finding.evidence["files"]}
    assert reasons["train/cats/notes.jpg"] == "not an image file PIL can identify"
    assert "truncated" in reasons["train/dogs/dog.9.jpg"]


def test_files_training_leaves_out_by_extension(pets):
    (pets / "train/cats/readme.txt").write_text("my cats")
    Image.new("RGB", (50, 50)).save(pets / "train/dogs/anim.gif")
    diagnosis = diagnose_images(pets)
    assert fired(diagnosis) == {"images.not_images"}, diagnosis.format()
    (finding,) = diagnosis.by_check("images.not_images")
    assert finding.evidence["by_extension"] == {".txt": 1, ".gif": 1}


def test_class_with_5_images_is_too_few_and_imbalanced(pets, cats_dogs_dir):
    (pets / "train/birds").mkdir()
    for i in range(4050, 4055):  # other photos, so no copies are planted with them
        shutil.copy(cats_dogs_dir / f"val/cats/cat.{i}.jpg", pets / f"train/birds/{i}.jpg")
    diagnosis = diagnose_images(pets)
    assert fired(diagnosis) == {"images.too_few", "images.imbalance"}, diagnosis.format()
    (few,) = diagnosis.by_check("images.too_few")
    assert few.severity == WARNING and few.evidence["classes"] == {
        "birds": {"train": 5, "valid": 0}
    }
    assert "'birds' 5 training" in few.message and "pretrained" in few.next_step
    (skew,) = diagnosis.by_check("images.imbalance")
    assert skew.evidence["ratio"] == 4.4 and "recall" in skew.next_step


def test_few_validation_images(pets):
    for i in range(4002, 4006):
        (pets / f"val/dogs/dog.{i}.jpg").unlink()
    diagnosis = diagnose_images(pets)
    assert fired(diagnosis) == {"images.few_valid"}, diagnosis.format()
    assert diagnosis.by_check("images.few_valid")[0].evidence["classes"] == {"dogs": 1}


def test_grayscale_image(pets):
    path = pets / "train/cats/cat.2.jpg"
    with Image.open(path) as im:
        grey = im.convert("L")
    grey.save(path)
    diagnosis = diagnose_images(pets)
    (finding,) = diagnosis.findings
    assert (finding.check, finding.severity) == ("images.modes", INFO)
    assert finding.evidence == {"by_mode": {"L": 1}, "by_class": {"cats": 1},
                                "files": ["train/cats/cat.2.jpg"]}  # fmt: skip


def test_grey_images_all_in_one_class_are_a_cue(pets):
    for i in range(1, 6):
        path = pets / f"train/dogs/dog.{i}.jpg"
        with Image.open(path) as im:
            grey = im.convert("L")
        grey.save(path)
    diagnosis = diagnose_images(pets)
    assert fired(diagnosis) == {"images.modes"}, diagnosis.format()
    (finding,) = diagnosis.findings
    assert finding.evidence["by_class"] == {"dogs": 5}
    assert "5 of 27 'dogs' images" in finding.next_step


def test_same_photo_under_two_labels_is_likely_mislabelled(pets):
    shutil.copy(pets / "train/cats/cat.4.jpg", pets / "train/dogs/dog.999.jpg")
    diagnosis = diagnose_images(pets)
    assert fired(diagnosis) == {"images.mislabelled"}, diagnosis.format()
    (finding,) = diagnosis.by_check("images.mislabelled")
    assert finding.evidence["by_class_pair"] == {"cats / dogs": 1}
    assert "train/cats/cat.4.jpg ~ train/dogs/dog.999.jpg" in finding.message


def test_tiny_and_long_images(pets):
    for name, shape in (("cat.5.jpg", (24, 20)), ("cat.6.jpg", (600, 150))):
        with Image.open(pets / "train/cats" / name) as im:
            resized = im.resize(shape)
        resized.save(pets / "train/cats" / name)
    diagnosis = diagnose_images(pets)
    assert fired(diagnosis) == {"images.sizes"}, diagnosis.format()
    tiny, long = diagnosis.by_check("images.sizes")
    assert tiny.severity == WARNING and tiny.evidence["files"] == ["train/cats/cat.5.jpg"]
    assert long.severity == INFO and "--resize pad" in long.next_step


def test_image_over_the_pixel_cap_is_not_decoded(pets):
    buffer = io.BytesIO()
    Image.new("L", (3000, 3000)).save(buffer, "PNG")  # 9 MP declared, a few KB on disk
    (pets / "train/cats/huge.png").write_bytes(buffer.getvalue())
    diagnosis = diagnose_images(pets, max_pixels=4_000_000)
    (finding,) = diagnosis.by_check("images.unreadable")
    assert "over the cap of 4,000,000 pixels" in finding.evidence["files"][0]["reason"]


def test_a_folder_training_refuses_is_one_error(pets):
    shutil.rmtree(pets / "train/dogs")
    shutil.rmtree(pets / "val/dogs")
    diagnosis = diagnose_images(pets)
    (finding,) = diagnosis.findings
    assert finding.check == "images.layout" and finding.severity == ERROR
    assert "only 1 class" in finding.message


def test_bad_settings_raise_and_are_not_findings(pets):
    with pytest.raises(ValueError, match="valid_pct must be a fraction"):
        diagnose_images(pets, valid_pct=2)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        diagnose_images(pets / "nowhere")


def test_random_split_leakage_uses_the_training_split(pets):
    """Without train/ and valid/ folders the split is training's seeded random one; a copy
    that lands on the other side of it is leakage, one on the same side a duplicate."""
    flat = pets.parent / "flat"
    shutil.copytree(pets / "train", flat)
    for i in range(1, 11):
        shutil.copy(flat / f"cats/cat.{i}.jpg", flat / f"cats/again.{i}.jpg")
    diagnosis = diagnose_images(flat, valid_pct=0.2, seed=42)
    assert diagnosis.facts["split"] == "random 20% (seed 42)"
    leaked = diagnosis.by_check("images.leakage")
    same_side = [f for f in diagnosis.by_check("images.duplicates")]
    n_leaked = leaked[0].evidence["count"] if leaked else 0
    n_same = same_side[0].evidence["count"] if same_side else 0
    assert n_leaked >= 1 and n_leaked + n_same == 10
