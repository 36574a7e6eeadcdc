"""What the doctor reads from an image folder: the very files, labels and split training uses."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from rung.vision.data import ImageDataLoaders
from rung.vision.scan import scan_folder


def test_scan_sees_what_training_sees(tmp_path: Path, cats_dogs_dir: Path):
    root = tmp_path / "pets"
    for animal in ("cats", "dogs"):
        (root / animal).mkdir(parents=True)
        for f in sorted((cats_dogs_dir / "train" / animal).glob("*.jpg"))[:15]:
            shutil.copy(f, root / animal / f.name)
    (root / "cats/broken.jpg").write_bytes(b"GIF89a not really")
    scan = scan_folder(root, valid_pct=0.3, seed=7)
    with pytest.warns(UserWarning, match="broken.jpg"):
        dls = ImageDataLoaders.from_folder(root, valid_pct=0.3, seed=7, num_workers=0)
    seen = {(r.path, r.label, r.valid) for r in scan.records}
    trained = {
        (Path(f), dls.classes[y], loader is dls.valid)
        for loader in (dls.train, dls.valid)
        for f, y in zip(loader.dataset.files, loader.dataset.labels)
    }
    assert seen == trained and len(seen) == 30
    assert [s.path.name for s in scan.unreadable] == ["broken.jpg"]
    assert scan.pairs == []


def test_flat_images_are_not_near_copies_of_each_other(tmp_path: Path):
    root = tmp_path / "flat"
    for name, colour in (("a/red.png", "red"), ("a/blue.png", "blue"), ("b/green.png", "green")):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (40, 40), colour).save(root / name)
    shutil.copy(root / "a/red.png", root / "b/red-again.png")
    scan = scan_folder(root, valid_pct=0.25)
    assert all(r.flat for r in scan.records)
    names = [sorted((scan.records[i].name, scan.records[j].name)) for i, j, _ in scan.pairs]
    assert names == [["a/red.png", "b/red-again.png"]]  # same bytes: still found
