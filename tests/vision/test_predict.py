"""ImagePredictor: TTA only with the flips the model was trained with, hostile files and model
files, and one rule for which files are images (single files and folders alike)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from _vision_run import png_header
from PIL import Image

import rung
from rung.modelfile import save_model_file
from rung.models.registry import build_model
from rung.predictor import ClassPrediction, ClassPredictions
from rung.vision.io import ImageTooLargeError, unsupported_file
from rung.vision.pixels import IMAGENET_MEAN, IMAGENET_STD
from rung.vision.predict import ImagePredictor

PREPROCESSING = {"size": 32, "resize": "squish", "mean": IMAGENET_MEAN, "std": IMAGENET_STD}


def model_file(tmp_path: Path, **preprocessing) -> Path:
    """An untrained resnet18 image model file (32 px) with these preprocessing settings."""
    torch.manual_seed(0)
    model = build_model("timm", arch="resnet18", n_classes=2, pretrained=False)
    config = {
        "kind": "image",
        "task": "classification",
        "classes": ["cats", "dogs"],
        "preprocessing": {**PREPROCESSING, **preprocessing},
    }
    name = "-".join(f"{k}{v}" for k, v in preprocessing.items()) or "plain"
    return save_model_file(tmp_path / f"{name}.rung", model, config)


def inputs_seen(predictor: ImagePredictor) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    predictor.model.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    return seen


@pytest.fixture
def photo(cats_dogs_dir: Path) -> Path:
    return cats_dogs_dir / "val" / "dogs" / "dog.4003.jpg"


def test_tta_never_mirrors_for_a_model_trained_without_flips(tmp_path, photo):
    # A mirrored 2 is not a 2: digits train with flip=False, so TTA must not flip them. A file
    # from before the flips were recorded counts as flip-free.
    for path in (model_file(tmp_path, flip=False, flip_vert=False), model_file(tmp_path)):
        predictor = rung.load(path)
        seen = inputs_seen(predictor)
        plain = predictor.predict(photo)
        with_tta = predictor.predict(photo, tta=True)
        assert with_tta.probs == plain.probs
        x = seen[0]
        assert all(torch.equal(s, x) for s in seen)  # never x.flip(-1)
        assert predictor.tta_flips == [()]


def test_tta_averages_exactly_the_flips_the_model_was_trained_with(tmp_path, photo):
    predictor = rung.load(model_file(tmp_path, flip=True, flip_vert=True))
    assert predictor.tta_flips == [(), (-1,), (-2,), (-2, -1)]
    seen = inputs_seen(predictor)
    got = predictor.predict(photo, tta=True)
    x = seen[0]
    assert [torch.equal(s, x.flip(d)) for s, d in zip(seen, predictor.tta_flips)] == [True] * 4
    with torch.no_grad():
        expected = sum(predictor.model(x.flip(d)).softmax(1) for d in predictor.tta_flips) / 4
    assert [got.probs[c] for c in ("cats", "dogs")] == pytest.approx(expected[0].tolist(), abs=1e-6)


def test_an_image_over_the_pixel_cap_is_refused_naming_it(tmp_path, photo):
    predictor = rung.load(model_file(tmp_path))
    bomb = png_header(tmp_path / "bomb.png", 20_000, 20_000)
    with pytest.raises(ImageTooLargeError, match=r"bomb\.png: .*over the cap"):
        predictor.predict(bomb)
    predictor.max_pixels = 100  # configurable per predictor
    with pytest.raises(ImageTooLargeError, match=r"dog\.4003\.jpg: \d+x\d+ pixels"):
        predictor.predict(photo)


def test_single_files_and_folders_accept_the_same_files_with_the_same_message(tmp_path, photo):
    predictor = rung.load(model_file(tmp_path))
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "dog.jpg").write_bytes(photo.read_bytes())
    Image.open(photo).save(folder / "dog.gif")
    with pytest.raises(ValueError) as single:
        predictor.predict(folder / "dog.gif")
    assert str(single.value) == unsupported_file(folder / "dog.gif")
    result = predictor.predict_folder(folder)
    assert [f.name for f in result.files] == ["dog.jpg"]
    assert result.errors == {folder / "dog.gif": unsupported_file(folder / "dog.gif")}


@pytest.mark.parametrize(
    "bad, match",
    [
        ({"size": 10**6}, r"size must be a whole number of pixels from 8 to 4096, got 1000000"),
        ({"resize": "stretch"}, r"resize must be one of \['squish', 'crop', 'pad'\]"),
        ({"std": [0, 0, 0]}, r"std must be 3 positive numbers"),
    ],
)
def test_a_model_file_with_impossible_preprocessing_is_refused_on_load(tmp_path, bad, match):
    from rung.modelfile import ModelFileError

    with pytest.raises(ModelFileError, match=match):
        rung.load(model_file(tmp_path, **bad))


@pytest.fixture
def tiny_model_file(tmp_path: Path) -> Path:
    """An untrained resnet18 image model file (64 px): enough to test the predictor quickly."""
    torch.manual_seed(0)
    model = build_model("timm", arch="resnet18", n_classes=2, pretrained=False)
    config = {
        "kind": "image",
        "task": "classification",
        "classes": ["cats", "dogs"],
        "preprocessing": {
            "size": 64,
            "resize": "squish",
            "mean": IMAGENET_MEAN,
            "std": IMAGENET_STD,
        },
    }
    return save_model_file(tmp_path / "tiny.rung", model, config)


def val_files(cats_dogs_dir: Path, n: int | None = None) -> list[Path]:
    files = sorted((cats_dogs_dir / "val").rglob("*.jpg"))
    return files if n is None else files[:n] + files[-n:]


# ---------------------------------------------------------------- the predictor (fast)
def test_load_gives_an_image_predictor_that_takes_paths_pil_images_and_bytes(
    tiny_model_file, cats_dogs_dir
):
    predictor = rung.load(tiny_model_file)
    assert isinstance(predictor, ImagePredictor)
    photo = val_files(cats_dogs_dir)[0]
    by_path = predictor.predict(photo)
    assert isinstance(by_path, ClassPrediction)
    assert by_path.label in ("cats", "dogs") and by_path.label == ["cats", "dogs"][by_path.index]
    assert sum(by_path.probs.values()) == pytest.approx(1.0, abs=1e-6)
    by_pil = predictor.predict(Image.open(photo))
    by_bytes = predictor.predict(photo.read_bytes())
    assert by_bytes.label == by_path.label
    assert by_bytes.probs == pytest.approx(by_path.probs, abs=1e-6)  # the same decode
    # an opened 500 px JPEG is reduced by averaging, as the file's decoder scales (1/2 for 64
    # px): pixels within 2/255, so probabilities within a thousandth
    assert by_pil.label == by_path.label
    assert by_pil.probs == pytest.approx(by_path.probs, abs=1e-3)
    assert by_pil.probs != pytest.approx(by_path.probs, abs=1e-7)  # reduced, not decoded
    many = predictor.predict([photo, str(photo)])
    assert isinstance(many, ClassPredictions) and many.probs.shape == (2, 2)


def test_a_missing_image_is_a_clear_error_that_suggests_the_near_name(
    tiny_model_file, cats_dogs_dir
):
    predictor = rung.load(tiny_model_file)
    wrong = cats_dogs_dir / "val" / "cats" / "cat.4001.jpeg"
    with pytest.raises(
        FileNotFoundError, match=r"cat\.4001\.jpeg' does not exist; did you mean .*cat\.4001\.jpg"
    ):
        predictor.predict(wrong)
    with pytest.raises(FileNotFoundError, match="nor does its folder"):
        predictor.predict("/no/such/folder/photo.jpg")
    with pytest.raises(IsADirectoryError, match="predict_folder"):
        predictor.predict(cats_dogs_dir / "val")


def test_predict_folder_writes_a_csv_and_lists_unreadable_files(
    tiny_model_file, cats_dogs_dir, tmp_path
):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for i, src in enumerate(val_files(cats_dogs_dir, 1)):
        (folder / "sub" / f"{i}.jpg").write_bytes(src.read_bytes())
    (folder / "broken.jpg").write_text("<html>not a photo</html>")
    result = rung.load(tiny_model_file).predict_folder(folder, out=tmp_path / "preds.csv")
    assert [f.name for f in result.files] == ["0.jpg", "1.jpg"]
    assert list(result.errors) == [folder / "broken.jpg"]
    rows = list(csv.DictReader(open(tmp_path / "preds.csv")))
    assert [r["path"] for r in rows] == [str(f) for f in result.files] + [
        str(folder / "broken.jpg")
    ]
    assert list(rows[0]) == ["path", "label", "probability", "prob_cats", "prob_dogs", "error"]
    for row, label in zip(rows, result.predictions.labels):
        assert row["label"] == label and row["error"] == ""
        assert float(row["prob_cats"]) + float(row["prob_dogs"]) == pytest.approx(1.0, abs=1e-5)
        assert float(row["probability"]) == max(float(row["prob_cats"]), float(row["prob_dogs"]))
    assert rows[2]["label"] == "" and "broken.jpg: not an image file" in rows[2]["error"]
    assert json.dumps(result.to_dict())  # JSON-ready for the CLI
    with pytest.raises(NotADirectoryError, match="use predict"):
        rung.load(tiny_model_file).predict_folder(folder / "sub" / "0.jpg")


def test_a_model_file_whose_classes_dont_match_its_outputs_is_refused(tmp_path):
    from rung.modelfile import ModelFileError

    model = build_model("timm", arch="resnet18", n_classes=2, pretrained=False)
    config = {"kind": "image", "task": "classification", "classes": ["a", "b", "c"],
              "preprocessing": PREPROCESSING}  # fmt: skip
    path = save_model_file(tmp_path / "m.rung", model, config)
    with pytest.raises(ModelFileError, match=r"names 3 classes .* but the model has 2 outputs"):
        rung.load(path)
