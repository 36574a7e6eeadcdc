"""ImageDataLoaders on real photos (../shared/data/cats_dogs: 400 train, 200 val JPEGs)."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from _vision_run import png_header
from PIL import Image

from rung.vision.data import ImageDataLoaders
from rung.vision.io import preprocess_image

SIZE = 64


def build(path: Path, **kwargs) -> ImageDataLoaders:
    kwargs = {"size": SIZE, "batch_size": 32, "num_workers": 0, "device": "cpu", **kwargs}
    return ImageDataLoaders.from_folder(path, **kwargs)


@pytest.fixture(scope="module")
def dls(cats_dogs_dir: Path) -> ImageDataLoaders:
    return build(cats_dogs_dir)


def copy_photos(cats_dogs_dir: Path, dest: Path, per_class: int = 6) -> Path:
    """A small folder of class folders (no split folders) with real photos."""
    for cls in ("cats", "dogs"):
        (dest / cls).mkdir(parents=True)
        for src in sorted((cats_dogs_dir / "train" / cls).glob("*.jpg"))[:per_class]:
            shutil.copy(src, dest / cls / src.name)
    return dest


def test_folder_split_classes_sizes_and_batches(dls):
    assert dls.classes == ["cats", "dogs"] and dls.n_classes == 2
    assert (len(dls.train.dataset), len(dls.valid.dataset)) == (400, 200)
    assert dls.info["split"] == "train/ and valid/ folders"
    assert all("/val/" in f.as_posix() for f in dls.valid.dataset.files)
    x, y = dls.train.one_batch()
    assert x.shape == (32, 3, SIZE, SIZE) and x.dtype == torch.float32 and x.device.type == "cpu"
    assert y.dtype == torch.int64 and set(y.tolist()) <= {0, 1}
    assert -3 < x.mean().item() < 3 and 0.5 < x.std().item() < 2  # normalised, not [0, 255]
    seen = Counter()
    for xb, yb in dls.valid:
        assert xb.shape[1:] == (3, SIZE, SIZE)
        seen.update(yb.tolist())
    assert seen == {0: 100, 1: 100}
    assert len(dls.train) == 400 // 32  # the last partial training batch is dropped
    assert dls.skipped == []


def test_validation_batches_are_exactly_what_predict_makes(dls):
    x, _ = dls.valid.one_batch()
    first = dls.valid.dataset.files[0]
    assert torch.allclose(x[0:1], preprocess_image(first, dls.preprocessing), atol=1e-6)
    assert dls.preprocessing == {
        "size": SIZE,
        "resize": "squish",
        "mean": [0.485, 0.456, 0.406],
        "std": [0.229, 0.224, 0.225],
        "flip": True,  # the default augmentation's: TTA may mirror
        "flip_vert": False,
    }
    images = dls.decode(x)  # back to pixels for plotting
    assert images.shape == (len(x), SIZE, SIZE, 3) and 0 <= images.min() and images.max() <= 1


def test_augmentation_changes_training_batches_only(cats_dogs_dir, dls):
    plain = build(cats_dogs_dir, augment=None)
    xa, ya = dls.train.one_batch()
    xp, yp = plain.train.one_batch()
    assert torch.equal(ya, yp)  # same seed, same order
    assert (xa - xp).abs().mean() > 0.1
    assert torch.equal(dls.valid.one_batch()[0], plain.valid.one_batch()[0])


def test_a_seed_makes_batches_repeatable(cats_dogs_dir):
    first, again = build(cats_dogs_dir), build(cats_dogs_dir)
    other = build(cats_dogs_dir, seed=7)
    x1, y1 = next(iter(first.train))
    x2, y2 = next(iter(again.train))
    x3, y3 = next(iter(other.train))
    assert torch.equal(x1, x2) and torch.equal(y1, y2)
    assert not torch.equal(y1, y3) or not torch.allclose(x1, x3)
    b1, b2 = first.train.one_batch(), first.train.one_batch()  # one_batch leaves the RNG alone
    assert torch.equal(b1[0], b2[0])
    x4, _ = next(iter(first.train))  # the second epoch: a new order and new augmentation
    assert not torch.allclose(x4, x1)


def test_worker_processes_give_the_same_batches(cats_dogs_dir):
    workers = build(cats_dogs_dir, num_workers=2)
    assert workers.train.num_workers == 2
    x0, y0 = build(cats_dogs_dir).train.one_batch()
    x2, y2 = workers.train.one_batch()
    assert torch.equal(y0, y2) and torch.allclose(x0, x2)
    assert sum(len(y) for _, y in workers.valid) == 200


def test_labels_from_a_file_name_regex(cats_dogs_dir):
    d = build(cats_dogs_dir, label=r"^([a-z]+)\.\d+", augment=None)
    assert d.classes == ["cat", "dog"]
    names = [d.classes[i] for _, y in d.valid for i in y.tolist()]  # valid is not shuffled
    assert names == [f.parent.name[:-1] for f in d.valid.dataset.files]  # 'cats/' -> 'cat'
    assert Counter(names) == {"cat": 100, "dog": 100}
    with pytest.raises(ValueError, match=r"doesn't match 600 of 600 .*cat\.1\.jpg"):
        build(cats_dogs_dir, label=r"^(\d+)_")
    with pytest.raises(ValueError, match="no group"):
        build(cats_dogs_dir, label=r"^[a-z]+")


def test_random_split_is_seeded(cats_dogs_dir):
    a = build(cats_dogs_dir, split="random", valid_pct=0.25)
    b = build(cats_dogs_dir, split="random", valid_pct=0.25)
    c = build(cats_dogs_dir, split="random", valid_pct=0.25, seed=1)
    assert (len(a.train.dataset), len(a.valid.dataset)) == (450, 150)
    assert a.valid.dataset.files == b.valid.dataset.files != c.valid.dataset.files
    assert a.classes == ["cats", "dogs"]
    assert "random 25%" in a.info["split"]


def test_a_train_folder_without_valid_folder_is_split_randomly(cats_dogs_dir, tmp_path):
    copy_photos(cats_dogs_dir, tmp_path / "pets" / "train")
    (tmp_path / "pets" / "test").mkdir()
    shutil.copy(cats_dogs_dir / "val" / "cats" / "cat.4001.jpg", tmp_path / "pets" / "test")
    d = build(tmp_path / "pets", valid_pct=0.25)
    assert (len(d.train.dataset), len(d.valid.dataset)) == (9, 3)  # test/ is left out
    assert d.classes == ["cats", "dogs"]
    with pytest.raises(ValueError, match=r"split='folder' needs .*\['test', 'train'\]"):
        build(tmp_path / "pets", split="folder")


@pytest.mark.parametrize("method", ["squish", "crop", "pad"])
def test_resize_methods_and_presizing_give_the_right_shapes(cats_dogs_dir, tmp_path, method):
    folder = copy_photos(cats_dogs_dir, tmp_path / "pets", per_class=4)
    d = build(folder, resize=method, item_size=80, batch_size=4)
    assert d.train.dataset.item_size == 80 and d.valid.dataset.item_size == SIZE
    assert d.train.one_batch()[0].shape == (4, 3, SIZE, SIZE)
    assert d.valid.one_batch()[0].shape[1:] == (3, SIZE, SIZE)
    assert d.preprocessing["resize"] == method
    plain = build(folder, resize=method, item_size=80, batch_size=4, augment=None)
    assert plain.train.one_batch()[0].shape == (4, 3, SIZE, SIZE)  # resized on the batch


def test_show_batch_writes_a_png_grid(dls, tmp_path):
    out = dls.show_batch(tmp_path / "plots" / "batch.png", max_n=4)
    assert out.is_file()
    image = np.asarray(Image.open(out).convert("RGB"))
    assert image.shape[0] > 300 and image.shape[1] > 300
    assert image.std() > 20  # photos were drawn, not a blank page
    valid = dls.show_batch(tmp_path / "valid.png", split="valid")
    assert valid.stat().st_size > 10_000


def test_from_csv_with_and_without_a_validation_column(cats_dogs_dir, tmp_path):
    files = sorted(cats_dogs_dir.glob("*/*/*.jpg"))[::10]  # 60 photos
    rel = [f.relative_to(cats_dogs_dir).as_posix() for f in files]
    df = pd.DataFrame(
        {
            "fname": rel,
            "kind": [f.parent.name for f in files],
            "is_valid": [f.parts[-3] == "val" for f in files],
        }
    )
    csv = tmp_path / "labels.csv"
    df.to_csv(csv, index=False)
    d = ImageDataLoaders.from_csv(
        tmp_path, csv.name, folder=str(cats_dogs_dir), size=SIZE, num_workers=0, device="cpu"
    )
    assert d.classes == ["cats", "dogs"]
    assert len(d.valid.dataset) == int(df.is_valid.sum()) == 20
    assert d.info["split"] == "column 'is_valid'"
    df.drop(columns="is_valid").to_csv(csv, index=False)
    d = ImageDataLoaders.from_csv(
        tmp_path, csv.name, folder=str(cats_dogs_dir), valid_pct=0.5, size=SIZE, num_workers=0
    )
    assert (len(d.train.dataset), len(d.valid.dataset)) == (30, 30)
    with pytest.raises(KeyError, match="Did you mean 'kind'"):
        ImageDataLoaders.from_df(df, cats_dogs_dir, label_col="kinds")


def test_csv_naming_missing_files_lists_them(cats_dogs_dir, tmp_path):
    df = pd.DataFrame(
        {
            "fname": ["train/cats/cat.1.jpg", "train/cats/cat.9999.jpg", "train/dogs/dog0.jpg"],
            "label": ["cats", "cats", "dogs"],
        }
    )
    df.to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(FileNotFoundError, match=r"2 of 3 files .*cat\.9999\.jpg.*dog0\.jpg"):
        ImageDataLoaders.from_csv(tmp_path, folder=str(cats_dogs_dir), num_workers=0)
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        ImageDataLoaders.from_csv(tmp_path, "nope.csv")


def test_missing_empty_and_single_class_folders_explain_themselves(cats_dogs_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does not exist.*Did you mean .*cats_dogs"):
        build(cats_dogs_dir.parent / "cats_dog")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "scan.tiff").touch()
    with pytest.raises(ValueError, match=r"no images found.*\.jpg, \.jpeg, \.png.*\.tiff"):
        build(tmp_path / "empty")
    one = tmp_path / "one" / "cats"
    one.mkdir(parents=True)
    for src in sorted((cats_dogs_dir / "train" / "cats").glob("*.jpg"))[:5]:
        shutil.copy(src, one)
    with pytest.raises(ValueError, match=r"only 1 class .*\{'cats': 5\}.*at least 2"):
        build(tmp_path / "one")


def test_unreadable_files_are_skipped_listed_and_warned_about(cats_dogs_dir, tmp_path):
    folder = copy_photos(cats_dogs_dir, tmp_path / "pets", per_class=5)
    good = folder / "cats" / "cat.1.jpg"
    (folder / "cats" / "truncated.jpg").write_bytes(good.read_bytes()[:3000])
    (folder / "dogs" / "error_page.jpg").write_text("<html>404</html>")
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable .*error_page\.jpg"):
        d = build(folder, valid_pct=0.5, batch_size=16)  # one batch each, none dropped
    assert [s.path.name for s in d.skipped] == ["error_page.jpg"]
    assert len(d.train.dataset) + len(d.valid.dataset) == 11  # the truncated one looks fine so far
    with pytest.warns(UserWarning, match=r"truncated\.jpg"):
        n = sum(len(y) for loader in (d.train, d.valid) for _, y in loader)
    assert n == 10
    assert [s.path.name for s in d.skipped] == ["error_page.jpg", "truncated.jpg"]
    assert "can't decode" in d.skipped[1].reason
    again = sum(len(y) for loader in (d.train, d.valid) for _, y in loader)  # warned only once
    assert again == 10 and len(d.skipped) == 2


def test_images_directly_in_train_have_no_class(cats_dogs_dir, tmp_path):
    for split in ("train", "valid"):
        (tmp_path / split).mkdir()
        shutil.copy(cats_dogs_dir / "train" / "cats" / "cat.1.jpg", tmp_path / split)
    with pytest.raises(ValueError, match="no class folder"):
        build(tmp_path)


def test_test_loader_yields_indices_and_the_device_can_change(dls, cats_dogs_dir):
    files = sorted((cats_dogs_dir / "val" / "dogs").glob("*.jpg"))[:5]
    loader = dls.test_loader(files)
    batches = list(loader)
    assert len(batches) == 1 and batches[0][0].shape == (5, 3, SIZE, SIZE)
    assert batches[0][1].tolist() == [0, 1, 2, 3, 4]
    dls.device = "cpu"
    assert dls.train.device == dls.valid.device == torch.device("cpu")
    assert "400 train / 200 valid" in repr(dls)


def nested(cats_dogs_dir: Path, root: Path, layout: dict[str, int]) -> Path:
    """Photos copied into ``root/<relative folder>`` for each entry of ``layout`` (folder -> n)."""
    sources = {
        "cats": sorted((cats_dogs_dir / "train" / "cats").glob("*.jpg")),
        "dogs": sorted((cats_dogs_dir / "train" / "dogs").glob("*.jpg")),
    }
    for i, (folder, n) in enumerate(layout.items()):
        (root / folder).mkdir(parents=True)
        animal = "dogs" if "dog" in folder else "cats"
        for src in sources[animal][i * n : (i + 1) * n]:
            shutil.copy(src, root / folder / src.name)
    return root


def test_class_folders_that_hold_subfolders_are_refused_not_mixed(cats_dogs_dir, tmp_path):
    # cats/{young,old} and dogs/{young,old} would train the classes 'old' and 'young', each
    # half cats and half dogs.
    layout = {"cats/young": 3, "cats/old": 3, "dogs/young": 3, "dogs/old": 3}
    folder = nested(cats_dogs_dir, tmp_path / "pets", layout)
    with pytest.raises(ValueError, match=r"'old' and 'young'.* under both cats/ and dogs/") as e:
        build(folder)
    assert "Flatten" in str(e.value) and "label=" in str(e.value)
    by_animal = build(folder, label=lambda p: p.parent.parent.name, valid_pct=0.25)
    assert by_animal.classes == ["cats", "dogs"]


def test_images_at_two_depths_are_refused(cats_dogs_dir, tmp_path):
    folder = nested(cats_dogs_dir, tmp_path / "pets", {"cats": 3, "cats/kittens": 3, "dogs": 3})
    with pytest.raises(ValueError, match=r"cats/kittens/.*and in cats/") as e:
        build(folder)
    assert "label=" in str(e.value)
    one_wrapper = nested(cats_dogs_dir, tmp_path / "wrapped", {"pets/cats": 3, "pets/dogs": 3})
    assert build(one_wrapper, valid_pct=0.34).classes == ["cats", "dogs"]  # one level above: fine


def test_class_groups_with_distinct_names_must_be_asked_for(cats_dogs_dir, tmp_path):
    # birds/{eagle,owl} + mammals/{cat,dog}: the labels don't repeat, but which level is the
    # class is a guess; say so, and take label= when given.
    layout = {"cats/tabby": 3, "cats/siamese": 3, "dogs/collie": 3, "dogs/pug": 3}
    folder = nested(cats_dogs_dir, tmp_path / "pets", layout)
    with pytest.raises(ValueError, match=r"cats/ and dogs/ hold no images, only subfolders"):
        build(folder)
    breeds = build(folder, label=lambda p: p.parent.name, valid_pct=0.25)
    assert breeds.classes == ["collie", "pug", "siamese", "tabby"]


def test_a_decompression_bomb_in_the_data_is_skipped_unread(cats_dogs_dir, tmp_path):
    folder = copy_photos(cats_dogs_dir, tmp_path / "pets", per_class=4)
    png_header(folder / "cats" / "bomb.png", 10_000, 10_000)
    with pytest.warns(UserWarning, match=r"bomb\.png \(10000x10000 pixels"):
        d = build(folder, valid_pct=0.25)
    assert [s.path.name for s in d.skipped] == ["bomb.png"]
    assert "over the cap of 89,478,485" in d.skipped[0].reason
    assert len(d.train.dataset) + len(d.valid.dataset) == 8


def test_files_rung_does_not_read_are_listed_with_the_same_message_as_predict(
    cats_dogs_dir, tmp_path
):
    from rung.vision.io import unsupported_file

    folder = copy_photos(cats_dogs_dir, tmp_path / "pets", per_class=4)
    Image.new("RGB", (20, 20)).save(folder / "dogs" / "anim.gif")
    with pytest.warns(UserWarning, match=r"left out 1 file.*anim\.gif: rung reads \.jpg"):
        d = build(folder, valid_pct=0.25)
    assert d.skipped == [(folder / "dogs" / "anim.gif", unsupported_file("anim.gif"))]
    assert len(d.train.dataset) + len(d.valid.dataset) == 8


def test_one_options_object_for_every_builder(cats_dogs_dir, tmp_path):
    from rung.vision.options import ImageDataOptions

    opts = ImageDataOptions(size=SIZE, batch_size=16, num_workers=0, device="cpu", augment=None)
    folder = copy_photos(cats_dogs_dir, tmp_path / "pets", per_class=4)
    d = ImageDataLoaders.from_folder(folder, options=opts, valid_pct=0.25)  # keywords win
    assert (d.size, d.train.batch_size, len(d.valid.dataset)) == (SIZE, 16, 2)
    with pytest.raises(TypeError, match=r"unknown image data setting 'batchsize'; did you mean"):
        ImageDataLoaders.from_folder(folder, batchsize=16)
    for bad, match in [
        (dict(size=0), r"size must be a whole number of pixels from 8 to 4096, got 0"),
        (dict(size=100_000), r"from 8 to 4096, got 100000"),
        (dict(valid_pct=-0.2), r"valid_pct must be a fraction between 0 and 1 .*got -0.2"),
        (dict(batch_size=0), r"batch_size must be a whole number >= 1.*got 0"),
        (dict(std=(0.5, 0, 0.5)), r"std must be 3 positive numbers"),
        (dict(item_size=32), r"item_size \(32\) can't be smaller than size \(64\)"),
    ]:
        with pytest.raises(ValueError, match=match):
            opts.replace(**bad)


def test_the_flips_training_used_go_to_the_model_file(cats_dogs_dir, tmp_path):
    from rung.vision.augment import Augment

    folder = copy_photos(cats_dogs_dir, tmp_path / "pets", per_class=3)
    for augment, flips in [
        (Augment(flip=False), (False, False)),
        (Augment(flip_vert=True), (True, True)),
        (None, (False, False)),
    ]:
        pp = build(folder, augment=augment, valid_pct=0.34).preprocessing
        assert (pp["flip"], pp["flip_vert"]) == flips, augment


def test_list_lengths_and_plot_sizes_that_cant_work_are_named(dls, tmp_path):
    files = dls.valid.dataset.files[:3]
    with pytest.raises(ValueError, match=r"3 files but 2 labels"):
        ImageDataLoaders.from_lists(files, ["cats", "dogs"], num_workers=0)
    with pytest.raises(ValueError, match=r"3 files but 4 is_valid flags"):
        ImageDataLoaders.from_lists(files, ["cats"] * 3, is_valid=[True] * 4, num_workers=0)
    with pytest.raises(ValueError, match=r"max_n must be a whole number >= 1, got 0"):
        dls.show_batch(tmp_path / "none.png", max_n=0)
