"""Interpretation on known cases: confusion matrix, most-confused pairs, top losses, pictures."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from rung.interpret import ClassificationInterpretation, load_image_for_display

CLASSES = ["bird", "cat", "dog"]
# 8 items; the model's probabilities and the truth, chosen so every number below is known.
PROBS = np.array(
    [
        [0.8, 0.1, 0.1],  # bird, right
        [0.1, 0.7, 0.2],  # cat, right
        [0.1, 0.2, 0.7],  # dog, right
        [0.05, 0.9, 0.05],  # a dog called cat, very sure: the worst
        [0.2, 0.6, 0.2],  # another dog called cat
        [0.3, 0.3, 0.4],  # a cat called dog, unsure
        [0.75, 0.15, 0.1],  # a cat called bird
        [0.1, 0.1, 0.8],  # dog, right
    ]
)
TARGETS = [0, 1, 2, 2, 2, 1, 1, 2]


@pytest.fixture
def interp() -> ClassificationInterpretation:
    return ClassificationInterpretation(PROBS, TARGETS, classes=CLASSES)


def test_confusion_matrix_counts_actual_rows_against_predicted_columns(interp):
    assert interp.confusion_matrix().tolist() == [
        [1, 0, 0],  # bird
        [1, 1, 1],  # cat: one called bird, one right, one called dog
        [0, 2, 2],  # dog: two called cat
    ]
    assert interp.accuracy == pytest.approx(4 / 8)


def test_most_confused_lists_off_diagonal_pairs_most_frequent_first(interp):
    assert interp.most_confused() == [("dog", "cat", 2), ("cat", "bird", 1), ("cat", "dog", 1)]
    assert interp.most_confused(min_val=2) == [("dog", "cat", 2)]


def test_top_losses_are_cross_entropy_with_the_predicted_and_actual_classes(interp):
    tops = interp.top_losses(3)
    assert [t.index for t in tops] == [3, 6, 4]
    worst = tops[0]
    assert worst.loss == pytest.approx(-math.log(0.05))
    assert (worst.predicted, worst.actual) == ("cat", "dog")
    assert worst.probability == pytest.approx(0.9) and worst.prob_actual == pytest.approx(0.05)
    assert [t.index for t in interp.top_losses(2, largest=False)] == [0, 7]
    assert len(interp.top_losses()) == 8


def test_given_losses_are_used_as_they_are():
    losses = torch.tensor([0.1, 5.0, 0.2])
    interp = ClassificationInterpretation(
        torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7]]), torch.tensor([0, 1, 1]), losses
    )
    assert interp.classes == [0, 1]
    assert [t.index for t in interp.top_losses(1)] == [1]
    assert interp.top_losses(1)[0].loss == pytest.approx(5.0)


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match=r"2 class names for 3 columns"):
        ClassificationInterpretation(PROBS, TARGETS, classes=["a", "b"])
    with pytest.raises(ValueError, match=r"one row per target"):
        ClassificationInterpretation(PROBS, TARGETS[:3])
    with pytest.raises(ValueError, match=r"class indices in \[0, 3\)"):
        ClassificationInterpretation(PROBS, [0, 1, 2, 3, 0, 0, 0, 0])


def _png_size(path: Path) -> tuple[int, int]:
    assert path.read_bytes().startswith(b"\x89PNG"), path
    with Image.open(path) as im:
        return im.size


def test_pictures_and_csvs_are_written(interp, tmp_path):
    w, h = _png_size(interp.plot_confusion_matrix(tmp_path / "cm.png", normalize=True))
    assert w > 100 and h > 100
    arrays = [np.full((20, 30, 3), 25 * i, dtype=np.uint8) for i in range(8)]
    seen: list[int] = []

    def get_image(i: int) -> np.ndarray:
        seen.append(i)
        return arrays[i]

    _png_size(interp.plot_top_losses(tmp_path / "top.png", k=4, get_image=get_image))
    assert seen == [3, 6, 4, 5]
    with pytest.raises(ValueError, match="needs pictures"):
        interp.plot_top_losses(tmp_path / "nope.png")

    paths = interp.save(tmp_path / "out", k=3)
    assert set(paths) == {
        "confusion_matrix",
        "most_confused",
        "top_losses_csv",
    }  # no items: no grid
    rows = list(csv.DictReader(open(paths["most_confused"])))
    assert [(r["actual"], r["predicted"], r["count"]) for r in rows][0] == ("dog", "cat", "2")
    top = list(csv.DictReader(open(paths["top_losses_csv"])))
    assert [int(r["index"]) for r in top] == [3, 6, 4]


def test_items_that_are_image_files_give_the_top_losses_grid(tmp_path):
    files = []
    for i, colour in enumerate(["red", "green", "blue"]):
        files.append(tmp_path / f"{i}.png")
        Image.new("RGB", (64, 48), colour).save(files[-1])
    interp = ClassificationInterpretation(
        [[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]], [0, 0, 1], classes=["a", "b"], items=files
    )
    paths = interp.save(tmp_path / "out", k=2)
    _png_size(paths["top_losses"])
    assert interp.top_losses(1)[0].item == files[1]
    assert interp.summary(2)["top_losses"][0]["item"] == str(files[1])
    assert load_image_for_display(files[0]).shape == (48, 64, 3)


def test_from_learner_uses_validation_predictions_and_losses():
    from rung.data.core import DataLoaders
    from rung.learner import Learner

    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 2, generator=g)
    y = (x[:, 0] > 0).long()
    torch.manual_seed(0)
    dls = DataLoaders.from_tensors(x, y, valid_pct=0.3, seed=0, batch_size=16)
    learn = Learner(torch.nn.Linear(2, 2), dls, torch.nn.CrossEntropyLoss(), progress=False)
    learn.fit_one_cycle(3, 0.1)
    interp = ClassificationInterpretation.from_learner(learn, classes=["neg", "pos"])
    out = learn.get_preds(with_loss=True)
    np.testing.assert_allclose(interp.probs, out["preds"].numpy(), atol=1e-6)
    np.testing.assert_allclose(interp.losses, out["losses"].numpy(), atol=1e-6)
    assert interp.confusion_matrix().sum() == len(out["targets"]) == 30
    right = float((out["preds"].argmax(1) == out["targets"]).float().mean())
    assert interp.accuracy == pytest.approx(right) and right > 0.8
    assert interp.items is None  # tensors have no files to show


def test_the_last_validation_pass_gives_what_predicting_again_gives(monkeypatch):
    from rung.data.core import DataLoaders
    from rung.learner import Learner

    g = torch.Generator().manual_seed(0)
    x = torch.randn(100, 2, generator=g)
    y = (x[:, 0] > 0).long()
    torch.manual_seed(0)
    dls = DataLoaders.from_tensors(x, y, valid_pct=0.3, seed=0, batch_size=8)
    learn = Learner(torch.nn.Linear(2, 2), dls, torch.nn.CrossEntropyLoss(), progress=False)
    learn.fit_one_cycle(2, 0.1)
    again = ClassificationInterpretation.from_learner(learn, classes=["neg", "pos"])
    predicted_again = []
    monkeypatch.setattr(learn, "get_preds", lambda *a, **k: predicted_again.append(1))
    reused = ClassificationInterpretation.from_last_validation(learn, classes=["neg", "pos"])
    assert predicted_again == []  # no second pass over the validation set
    np.testing.assert_allclose(reused.probs, again.probs, atol=1e-6)
    np.testing.assert_allclose(reused.losses, again.losses, atol=1e-6)
    assert reused.targets.tolist() == again.targets.tolist() and len(reused.targets) == 30


def test_from_learner_reads_a_single_logit_as_the_second_class(titanic_tensors):
    """A binary classifier with one output (BCEWithLogitsLoss) is interpreted as two classes:
    its sigmoid is P(class 1), so the accuracy, the confusion matrix and the losses are those
    of the model, not of a one-column 'always class 0'."""
    from rung.data.core import DataLoaders, TensorLoader
    from rung.learner import Learner

    x_train, y_train, x_valid, y_valid = titanic_tensors
    as_target = lambda y: y.float().unsqueeze(1)  # noqa: E731  (BCE wants float (N, 1) targets)
    dls = DataLoaders(
        TensorLoader(x_train, as_target(y_train), batch_size=64, shuffle=True),
        TensorLoader(x_valid, as_target(y_valid), batch_size=64),
    )
    torch.manual_seed(0)
    learn = Learner(torch.nn.Linear(6, 1), dls, torch.nn.BCEWithLogitsLoss(), progress=False)
    learn.fit_one_cycle(4, 0.1)
    interp = ClassificationInterpretation.from_learner(learn, classes=["died", "survived"])
    with torch.no_grad():
        p = torch.sigmoid(learn.model(x_valid)).squeeze(1).double()
    right = float(((p > 0.5).long() == y_valid).double().mean())
    assert interp.probs.shape == (178, 2)
    np.testing.assert_allclose(interp.probs[:, 1], p.numpy(), atol=1e-6)
    assert interp.accuracy == pytest.approx(right) and right > 0.7
    assert interp.confusion_matrix()[:, 1].sum() > 0  # it does predict survivors
    bce = -(y_valid * p.log() + (1 - y_valid) * (1 - p).log())
    np.testing.assert_allclose(interp.losses, bce.numpy(), atol=1e-5)
